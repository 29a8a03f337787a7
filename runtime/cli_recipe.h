/* cli_recipe.h - the training recipe's options of `MODEL train`: the
 * optimiser and schedule (--optimizer, --schedule, named as in the spec,
 * runtime/vocab.h) and every key of theirs the spec has (--nesterov,
 * --beta1, --warmup, --milestones, ...), and the augmentation (--crop,
 * --flip); each overrides the spec's value (docs/METHODS.md 1). */
#ifndef ADVCC_CLI_RECIPE_H
#define ADVCC_CLI_RECIPE_H

#include <getopt.h>
#include <stdio.h>
#include <jansson.h>
#include "model.h"

/* The recipe being overridden: the spec's, then the options in order. */
typedef struct cli_recipe {
    advcc_train_cfg cfg;
    unsigned given;         /* 1 << (option code - first code) of each option seen */
    int n_factors;          /* values --factors gave */
} cli_recipe;

/* Appends the recipe options (codes from 320, no closing entry) to opts,
 * which holds n; the new count. */
int cli_recipe_options(struct option *opts, int n);
/* Starts r from the spec's recipe. */
void cli_recipe_init(cli_recipe *r, const advcc_train_cfg *spec);
/* Applies option code with its argument to r: 0; 1 for a bad value
 * (cli_why() says why); -1 when code is not a recipe option. */
int cli_recipe_option(int code, const char *arg, cli_recipe *r);
/* What the options together leave inconsistent, as the spec's checks
 * (compiler/settings.c) would say it, with momentum the run's; 0, or -1
 * with the reason in err. */
int cli_recipe_check(const cli_recipe *r, double momentum, char *err, size_t errlen);
/* Adds to rec (cli.h's record) the recipe's settings, with momentum the
 * run's: the optimiser and schedule with the keys they use, and the
 * augmentation.  0, or -1 when out of memory. */
int cli_recipe_record(const cli_recipe *r, double momentum, json_t *rec);
/* The options' help, with the spec's recipe as the defaults shown. */
void cli_recipe_usage(FILE *fp, const advcc_train_cfg *spec);

#endif
