/* build.h - a model while the front end assembles it: its layers (with
 * their default or given names and stable identities), regularisers and
 * settings.  A composed model starts as a copy of its base; patches edit
 * it; the result is lowered into an ir_model. */
#ifndef ADVCC_BUILD_H
#define ADVCC_BUILD_H

#include "ir.h"
#include "layer.h"
#include "settings.h"

enum { BUILD_MAX_LAYERS = 4096, BUILD_MAX_REGS = 4096 };

typedef struct build_reg {
    ir_reg reg;
    int uid;                    /* of the regularised layer */
} build_reg;

typedef struct build {
    char name[64];
    const char *source;
    ir_loc loc;
    int has_input;
    ir_shape input;
    int classes;
    layer *layers;
    int n_layers, cap_layers;
    build_reg *regs;
    int n_regs, cap_regs;
    settings set;
    int next_uid;
    int check_only;             /* a patch checked on its own: no layers, and
                                   targets are not looked up */
} build;

void build_init(build *b, const char *name, const char *source, ir_loc loc);
void build_free(build *b);
/* dst becomes a copy of src's layers, regularisers, input and settings. */
void build_copy_body(build *dst, const build *src);
/* Inserts a copy of `l` (with a fresh uid) at index `at`; -1 past the
 * model's size limit (reported at `l`). */
int build_insert(build *b, int at, const layer *l);
int build_add_reg(build *b, const ir_reg *r, int uid);
/* The index of the layer with this uid, or -1. */
int build_find(const build *b, int uid);
/* Every layer but `except` (an index) that reads the layer `from` (a uid)
 * reads `to` instead. */
void build_redirect(build *b, int from, int to, int except);
/* Gives every layer without name= its default name: conv1, bn2, fc3. */
void build_name_layers(build *b);
/* Reports layers that share a name; 0 or -1. */
int build_check_names(const build *b);
/* The IR of the model (nodes and regs malloc'ed), shapes not yet set, each
 * node's src and src2 the indices of the layers it reads; 0, or -1 after
 * reporting. */
int build_lower(const build *b, ir_model *m);

#endif
