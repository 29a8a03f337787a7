/* frontend.c - the compiler's front end, stage by stage: from file names
 * to checked, fused IR. */
#include "frontend.h"

#include <stdlib.h>
#include <string.h>

#include "diag.h"
#include "fuse.h"
#include "sema.h"
#include "shape.h"

void frontend_init(frontend *fe)
{
    memset(fe, 0, sizeof *fe);
    arena_init(&fe->arena);
    source_set_init(&fe->sources, &fe->arena);
}

void frontend_free(frontend *fe)
{
    ir_program_free(&fe->program);
    source_set_free(&fe->sources);
    arena_free(&fe->arena);
}

/* Shape inference and its checks, a composition after its base; one whose
 * base failed fails without a word (its base's errors are its own). */
static void infer_shapes(ir_program *all, char *seen, int i)
{
    ir_model *m = &all->models[i];
    if (seen[i] || m->failed)
        return;
    seen[i] = 1;
    if (m->base >= 0) {
        infer_shapes(all, seen, m->base);
        if (all->models[m->base].failed) {
            m->failed = 1;
            return;
        }
    }
    m->failed = shape_model(m) != 0;
}

static void stage_shapes(ir_program *all)
{
    char *seen = calloc((size_t)all->n_models + 1, 1);
    if (!seen)
        abort();
    for (int i = 0; i < all->n_models; i++)
        infer_shapes(all, seen, i);
    free(seen);
}

/* Without errors, the models of the files named, in order; the models of
 * files only included are checked but not compiled. */
static void stage_select(ir_program *all, ir_program *out)
{
    memset(out, 0, sizeof *out);
    int n_out = 0;
    for (int i = 0; i < all->n_models; i++)
        n_out += all->models[i].emitted;
    if (diag_count() == 0 && n_out > 0) {
        out->models = calloc((size_t)n_out, sizeof *out->models);
        if (!out->models)
            abort();
        for (int i = 0; i < all->n_models; i++)
            if (all->models[i].emitted) {
                out->models[out->n_models++] = all->models[i];
                memset(&all->models[i], 0, sizeof all->models[i]);
            }
    }
    ir_program_free(all);
}

static void stage_fuse(ir_program *p)
{
    for (int i = 0; i < p->n_models; i++)
        fuse_model(&p->models[i]);
}

/* The files loaded are parsed, checked, lowered to IR and fused.  Meaning
 * is checked only on files that parsed: a syntax error leaves a tree whose
 * other errors would mislead. */
static int frontend_run(frontend *fe)
{
    source_parse_all(&fe->sources);         /* parse; read and parse includes */
    if (diag_count() > 0)
        return -1;
    sema *S = sema_new(&fe->sources);
    ir_program all;
    sema_resolve(S);                        /* scopes, definitions, duplicates */
    sema_expand_models(S);                  /* macros, compositions, patches */
    sema_lower(S, &all);                    /* to IR */
    sema_free(S);
    stage_shapes(&all);                     /* shape inference and checks */
    stage_select(&all, &fe->program);       /* the models to compile */
    stage_fuse(&fe->program);               /* groups and their roles */
    return diag_count() == 0 ? 0 : -1;
}

int frontend_compile(frontend *fe, char *const *paths, int n_paths)
{
    for (int i = 0; i < n_paths; i++)
        source_load(&fe->sources, paths[i]);
    return frontend_run(fe);
}

int frontend_compile_text(frontend *fe, const char *name, const char *text)
{
    source_load_text(&fe->sources, name, text);
    return frontend_run(fe);
}
