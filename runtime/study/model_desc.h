/* model_desc.h - what the study knows of a model: the facts of its spec,
 * read from its description (compiler/describe_json.h) as the model
 * binary prints it (`MODEL info --json`), so that the grid restates
 * none of them: which models train adversarially, the data set, the
 * training epochs and the evaluation's PGD settings when the grid does
 * not override them, and how models relate (the same base, one patch
 * more), which the report's findings need.
 *
 * The description comes from the binary the study runs.  Where the
 * binary is gone (a report made again elsewhere) it comes from the copy
 * each cell keeps (OUT/cells/<model>/.../model.json). */
#ifndef ADVCC_STUDY_MODEL_DESC_H
#define ADVCC_STUDY_MODEL_DESC_H

#include <stddef.h>
#include "text.h"

struct grid;

typedef struct model_desc {
    char *text;             /* the JSON as read */
    char *name, *base;
    strvec patches;         /* ["adv", "reg"] */
    int adversarial;        /* train adversarial */
    char *dataset;
    int epochs;
    double alpha_255;       /* the evaluation's PGD */
    int steps, restarts, eot;
    char *init;
    int quantize, noise, regularize;    /* how many of each */
    int ensemble;           /* inference passes */
} model_desc;

#define MODEL_DESC_FILE "model.json"   /* a cell's copy */

/* 0, or -1 with err filled (name: where the text came from). */
int model_desc_parse(model_desc *d, const char *text, const char *name,
                     char *err, size_t errlen);
/* Runs `BINARY info --json`: 0, or -1 with err filled. */
int model_desc_run(model_desc *d, const char *binary, char *err, size_t errlen);
void model_desc_free(model_desc *d);

/* The patch m adds to u when m is u plus one patch (the same base and u's
 * patches with one more, in any order; or u itself as m's base), else
 * NULL. */
const char *model_desc_adds(const model_desc *m, const model_desc *u);

/* Reads the description of every model of g into g->desc (from bin/M,
 * else from a cell's copy) and sets g->adversarial from them: 0, or -1
 * with err filled.  With strict 0 (a report on results made elsewhere) a
 * model without a description is left blank (text NULL) instead. */
int grid_describe(struct grid *g, int strict, char *err, size_t errlen);

#endif
