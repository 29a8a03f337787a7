/* settings.h - a model's settings beside its layers: its input, training
 * (`train sgd|adam|adamw ...`, `train adversarial ...`, `augment ...`),
 * evaluation attack
 * (`attack pgd ...`) and ensemble.  Statements merge their keys over what
 * earlier statements (and the base model, for a patch) set. */
#ifndef ADVCC_SETTINGS_H
#define ADVCC_SETTINGS_H

#include "ast.h"
#include "ir.h"

typedef struct settings {
    ir_train train;
    ir_attack attack;
    ir_attack adv;          /* `train adversarial` keys of its own attack */
    unsigned adv_set;       /* which of them were given */
    int strict;             /* alpha > eps is an error */
    int ensemble, ensemble_probs;
} settings;

/* Defaults (docs/METHODS.md 1-2): SGD lr 0.001 momentum 0.9 batch 100 for 10
 * epochs; PGD eps 8/255 alpha 2/255, 4 steps from a Gaussian start. */
void settings_init(settings *s, ir_loc loc);
/* Each returns 0, or -1 after reporting. */
int settings_input(const ast_stmt *st, ir_shape *input, int *classes);
int settings_train(const ast_stmt *st, settings *s);
int settings_attack(const ast_stmt *st, settings *s);
int settings_ensemble(const ast_stmt *st, settings *s);
int settings_augment(const ast_stmt *st, settings *s);
/* Fills m->train, attack, train_attack and ensemble. */
void settings_apply(const settings *s, ir_model *m);

#endif
