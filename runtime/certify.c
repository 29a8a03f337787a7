/* certify.c - the network's Lipschitz bound and certified radii; see
 * certify.h. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "certify.h"
#include "lipschitz.h"

#define BN_EPS 1e-5             /* runtime/batchnorm.c */

int certify_supported(const advcc_model *m, char *err, size_t errlen)
{
    if (!m->layers || m->n_layers <= 0) {
        snprintf(err, errlen, "the model carries no layer list (rebuild it with this advcc)");
        return -1;
    }
    for (int i = 0; i < m->n_layers; i++) {
        const advcc_layer *l = &m->layers[i];
        switch (l->kind) {
        case ADVCC_LAYER_NOISE:
            snprintf(err, errlen,
                     "layer %s adds random noise, so the prediction is random and has no "
                     "Lipschitz certificate; randomized smoothing (Cohen et al. 2019) is the "
                     "certificate for a random self-ensemble", l->name);
            return -1;
        case ADVCC_LAYER_LEAKYRELU:
            /* its Lipschitz constant, max(1, |slope|), needs the slope,
             * which the layer list does not carry */
            snprintf(err, errlen,
                     "layer %s is a leaky ReLU, whose slope the layer list does not record; "
                     "certify takes relu", l->name);
            return -1;
        case ADVCC_LAYER_ADD:
            snprintf(err, errlen,
                     "layer %s ends a residual block; certify bounds a chain of layers, "
                     "and the layer list does not say which layers the block's paths hold",
                     l->name);
            return -1;
        case ADVCC_LAYER_DTRELU:
        case ADVCC_LAYER_PWLINEAR:
        case ADVCC_LAYER_NAIVEDT:
        case ADVCC_LAYER_DDTRELU:
            snprintf(err, errlen,
                     "layer %s quantises activations to a staircase: the network is "
                     "discontinuous, so no Lipschitz constant bounds it", l->name);
            return -1;
        default:
            break;
        }
        if (l->wbits > 0) {
            snprintf(err, errlen,
                     "layer %s has fake-quantised weights (%d bits); certify bounds the float "
                     "weights of a continuous network and would not describe the quantised "
                     "model that runs", l->name, l->wbits);
            return -1;
        }
    }
    if (m->ensemble > 1) {
        snprintf(err, errlen,
                 "the model averages %d random passes; randomized smoothing (Cohen et al. "
                 "2019) is the certificate for it", m->ensemble);
        return -1;
    }
    return 0;
}

static int push(certify_net *net, const char *name, const char *method,
                double bound, double estimate, double flat)
{
    certify_layer *l = realloc(net->layers, sizeof *l * (size_t)(net->n + 1));
    if (!l)
        return -1;
    net->layers = l;
    l += net->n++;
    snprintf(l->name, sizeof l->name, "%s", name);
    l->method = method;
    l->bound = bound;
    l->estimate = estimate;
    l->flat = flat;
    return 0;
}

/* Per-channel BatchNorm scale gamma / sqrt(var + eps) into s[c]. */
static void bn_scale(const advcc_model *m, const advcc_layer *l,
                     const real_t *params, double *s)
{
    const advcc_tensor *g = &m->tensors[l->weight], *v = &m->tensors[l->running_var];
    for (int c = 0; c < l->in_c; c++)
        s[c] = params[g->offset + c] / sqrt((double)params[v->offset + c] + BN_EPS);
}

int certify_bounds(const advcc_model *m, const real_t *params,
                   const certify_opts *o, certify_net *net, char *err,
                   size_t errlen)
{
    memset(net, 0, sizeof *net);
    net->classes = m->classes;
    net->flattened = o->flattened;
    if (certify_supported(m, err, errlen) != 0)
        return -1;
    int gi = o->gram_iters > 0 ? o->gram_iters : LIP_GRAM_ITERS;
    int pi = o->power_iters > 0 ? o->power_iters : LIP_POWER_ITERS;
    long dense_max = o->dense_max > 0 ? o->dense_max : 1L << 18;
    double *instd = NULL;       /* pending input scale 1/std (folded normalize) */
    double *w = NULL, *os = NULL;
    int rc = -1;
    double lip = 1, lip_flat = 1, est = 1;
    for (int i = 0; i < m->n_layers; i++) {
        const advcc_layer *l = &m->layers[i];
        char name[96];
        snprintf(name, sizeof name, "%s", l->name);
        double b = 1, e = 1, f = 1;
        const char *method = "1";
        int last_linear = 0;
        switch (l->kind) {
        case ADVCC_LAYER_NORMALIZE: {
            int j = i + 1;
            if (j < m->n_layers && m->layers[j].kind == ADVCC_LAYER_FLATTEN)
                j++;
            if (j < m->n_layers && (m->layers[j].kind == ADVCC_LAYER_CONV ||
                                    m->layers[j].kind == ADVCC_LAYER_LINEAR)) {
                instd = malloc(sizeof *instd * (size_t)l->in_c);
                if (!instd)
                    goto oom;
                for (int c = 0; c < l->in_c; c++)
                    instd[c] = 1 / m->norm_std[c];
                continue;       /* folded into that layer */
            }
            double mx = 0;
            for (int c = 0; c < l->in_c; c++)
                mx = fmax(mx, 1 / m->norm_std[c]);
            b = e = f = mx;
            method = "1/min std";
            break;
        }
        case ADVCC_LAYER_FLATTEN:
        case ADVCC_LAYER_DROPOUT:   /* certify evaluates: the identity */
        case ADVCC_LAYER_RELU:
        case ADVCC_LAYER_TANH:
            continue;           /* 1: not listed */
        case ADVCC_LAYER_SIGMOID:
            b = e = f = 0.25;
            method = "max sigmoid' (exact)";
            break;
        case ADVCC_LAYER_AVGPOOL:   /* pools: square windows, kh == kw */
            b = e = f = l->stride_h >= l->kh ? 1.0 / l->kh
                                             : ceil((double)l->kh / l->stride_h) / l->kh;
            method = l->stride_h >= l->kh ? "1/k (exact)" : "ceil(k/s)/k";
            break;
        case ADVCC_LAYER_GAP:
            b = e = f = 1 / sqrt((double)l->in_h * l->in_w);
            method = "1/sqrt(hw) (exact)";
            break;
        case ADVCC_LAYER_MAXPOOL:
            b = e = f = l->stride_h >= l->kh ? 1 : ceil((double)l->kh / l->stride_h);
            method = l->stride_h >= l->kh ? "1 (disjoint windows)" : "ceil(k/s)";
            break;
        case ADVCC_LAYER_BATCHNORM: {
            os = malloc(sizeof *os * (size_t)l->in_c);
            if (!os)
                goto oom;
            bn_scale(m, l, params, os);
            double mx = 0;
            for (int c = 0; c < l->in_c; c++)
                mx = fmax(mx, fabs(os[c]));
            free(os);
            os = NULL;
            b = e = f = mx;
            method = "max |gamma|/sqrt(var+eps)";
            break;
        }
        case ADVCC_LAYER_CONV:
        case ADVCC_LAYER_LINEAR: {
            const advcc_tensor *wt = &m->tensors[l->weight];
            int rows = wt->shape[0];
            long cols = (long)(wt->size / (size_t)rows);
            w = malloc(sizeof *w * wt->size);
            if (!w)
                goto oom;
            for (size_t t = 0; t < wt->size; t++)
                w[t] = params[wt->offset + t];
            if (instd) {        /* normalize before: scale input channels */
                long per = cols / m->in_c;   /* conv: kh*kw; linear: h*w */
                for (int r = 0; r < rows; r++)
                    for (long t = 0; t < cols; t++)
                        w[r * cols + t] *= instd[t / per];
                free(instd);
                instd = NULL;
                snprintf(name, sizeof name, "normalize+%.60s", l->name);
            }
            if (i + 1 < m->n_layers && m->layers[i + 1].kind == ADVCC_LAYER_BATCHNORM) {
                const advcc_layer *bn = &m->layers[++i];
                os = malloc(sizeof *os * (size_t)bn->in_c);
                if (!os)
                    goto oom;
                bn_scale(m, bn, params, os);
                for (int r = 0; r < rows; r++)
                    for (long t = 0; t < cols; t++)
                        w[r * cols + t] *= os[r];
                free(os);
                os = NULL;
                size_t len = strlen(name);
                snprintf(name + len, sizeof name - len, "+%s", bn->name);
            }
            if (l->kind == ADVCC_LAYER_LINEAR) {
                b = lip_gram(w, rows, (int)cols, gi);
                e = lip_power(w, rows, (int)cols, pi);
                f = b;
                method = "gram";
                last_linear = i == m->n_layers - 1;
                if (last_linear) {
                    net->pair = malloc(sizeof *net->pair * (size_t)rows * rows);
                    if (!net->pair)
                        goto oom;
                    for (int a = 0; a < rows; a++)
                        for (int c = 0; c < rows; c++) {
                            double s = 0;
                            for (long t = 0; t < cols; t++) {
                                double d = w[a * cols + t] - w[c * cols + t];
                                s += d * d;
                            }
                            net->pair[a * rows + c] = sqrt(s) * (1 + LIP_SAFETY);
                        }
                    net->pairwise = 1;
                    net->before_last = o->flattened ? lip_flat : lip;
                }
            } else {
                const conv_shape cs = {l->in_c, l->in_h, l->in_w, rows, l->kh, l->kw,
                                       l->stride_h, l->stride_w, l->pad_h, l->pad_w,
                                       l->out_h, l->out_w};
                double bf = lip_conv_fourier(w, &cs, gi);
                double bd = lip_conv_dense(w, &cs, gi, dense_max);
                if (bf == -1 || bd == -1)
                    goto oom;
                b = bf;
                method = "fourier";
                if (bd >= 0 && bd < bf) {
                    b = bd;
                    method = "gram (dense)";
                }
                e = lip_power_conv(w, &cs, pi);
                f = lip_gram(w, rows, (int)cols, gi);
            }
            free(w);
            w = NULL;
            if (b < 0 || e < 0 || f < 0)
                goto oom;
            break;
        }
        default:
            snprintf(err, errlen, "layer %s: no bound for this kind", l->name);
            goto fail;
        }
        if (push(net, name, method, b, e, f) != 0)
            goto oom;
        lip *= b;
        lip_flat *= f;
        est *= e;
    }
    net->lipschitz = o->flattened ? lip_flat : lip;
    net->estimate = est;
    rc = 0;
    goto fail;
oom:
    snprintf(err, errlen, "out of memory");
fail:
    free(instd);
    free(w);
    free(os);
    if (rc != 0)
        certify_net_free(net);
    return rc;
}

void certify_net_free(certify_net *net)
{
    free(net->layers);
    free(net->pair);
    memset(net, 0, sizeof *net);
}

double certify_radius(const certify_net *net, const real_t *logits,
                      int label, int *pred, double *margin, double *global)
{
    int k = net->classes, p = 0;
    for (int j = 1; j < k; j++)
        if (logits[j] > logits[p])
            p = j;
    *pred = p;
    *margin = 0;
    if (global)
        *global = 0;
    if (p != label)
        return 0;
    double second = -INFINITY;
    for (int j = 0; j < k; j++)
        if (j != label && logits[j] > second)
            second = logits[j];
    double m = (double)logits[label] - second;
    if (!(m > 0))
        return 0;               /* a tie certifies nothing */
    *margin = m;
    double g = net->lipschitz > 0 ? m / (sqrt(2.0) * net->lipschitz) : INFINITY;
    if (global)
        *global = g;
    if (!net->pairwise)
        return g;
    double r = INFINITY;
    for (int j = 0; j < k; j++) {
        if (j == label)
            continue;
        double lj = net->before_last * net->pair[label * k + j];
        if (lj > 0)
            r = fmin(r, ((double)logits[label] - logits[j]) / lj);
        /* lj == 0: z_label - z_j is constant and positive here */
    }
    return fmax(r, g);
}
