/* cli_logits.c - `eval --save-logits FILE`: the model's outputs on the test
 * images in evaluation mode, written as .npy [n][classes] float32, so that
 * another implementation of the model (the PyTorch module of `advcc
 * --torch`) can be compared with this one output for output.  A randomised
 * model gives its ensemble's combined output (runtime/infer.h), drawing
 * its noise from the rng it is handed. */
#include <stdlib.h>
#include "cli.h"
#include "infer.h"
#include "npy.h"

int cli_save_logits(advcc_ctx *ctx, const advcc_dataset *d, const char *path,
                    char *err, size_t errlen)
{
    const advcc_model *m = ctx->model;
    const int in = m->in_c * m->in_h * m->in_w, cap = ctx->batch_cap;
    infer_ws w;
    if (infer_init(&w, ctx) != 0) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    real_t *x = malloc(sizeof(real_t) * (size_t)cap * in);
    real_t *logits = malloc(sizeof(real_t) * ((size_t)d->n * m->classes + 1));
    int rc = -1;
    if (!x || !logits) {
        snprintf(err, errlen, "out of memory");
        goto done;
    }
    for (int at = 0; at < d->n; at += cap) {
        int n = d->n - at < cap ? d->n - at : cap;
        const uint8_t *px = d->pixels + (size_t)at * in;
        for (size_t i = 0; i < (size_t)n * in; i++)
            x[i] = (real_t)px[i] / (real_t)255;   /* as dataset_batch */
        infer_logits(&w, x, n, ADVCC_EVAL, logits + (size_t)at * m->classes);
    }
    int shape[2] = {d->n, m->classes};
    rc = npy_write(path, logits, 2, shape, err, errlen);
done:
    free(x);
    free(logits);
    infer_free(&w);
    return rc;
}
