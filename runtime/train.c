/* train.c - the training loop. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "atomic_file.h"
#include "augment.h"
#include "kernels.h"
#include "progress.h"
#include "rng.h"
#include "schedule.h"
#include "sgd.h"
#include "train.h"
#include "train_state.h"

/* The per-step log: the data loss (cross-entropy) and each regulariser
 * term, each in its own column. */
typedef struct loss_log {
    double *rows;
    long n, cap;
    int width;
} loss_log;

static int log_push(loss_log *l, long step_epoch, double loss, const double *terms)
{
    if (l->n == l->cap) {
        long cap = l->cap ? 2 * l->cap : 1024;
        double *r = realloc(l->rows, sizeof(double) * (size_t)cap * (size_t)l->width);
        if (!r)
            return -1;
        l->rows = r;
        l->cap = cap;
    }
    double *row = l->rows + (size_t)l->n * (size_t)l->width;
    row[0] = (double)step_epoch;
    row[1] = loss;
    for (int i = 2; i < l->width; i++)
        row[i] = terms[i - 2];
    l->n++;
    return 0;
}

static int log_write(const loss_log *l, const advcc_model *m, const char *path,
                     char *err, size_t errlen)
{
    atomic_file af;
    if (atomic_open(&af, path) != 0) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        return -1;
    }
    fprintf(af.fp, "step,epoch,loss");
    for (int i = 0; i < m->n_reg_terms; i++)
        fprintf(af.fp, ",%s", m->reg_term_names[i]);
    fputc('\n', af.fp);
    for (long s = 0; s < l->n; s++) {
        const double *row = l->rows + (size_t)s * (size_t)l->width;
        fprintf(af.fp, "%ld,%d,%.9g", s + 1, (int)row[0], row[1]);
        for (int i = 2; i < l->width; i++)
            fprintf(af.fp, ",%.9g", row[i]);
        fputc('\n', af.fp);
    }
    if (atomic_commit(&af) != 0) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        return -1;
    }
    return 0;
}

/* Reads back the first `steps` rows of a loss log written by log_write. */
static int log_read(loss_log *l, const char *path, long steps, char *err,
                    size_t errlen)
{
    FILE *fp = fopen(path, "r");
    if (!fp) {
        snprintf(err, errlen, "%s: %s (needed to resume)", path, strerror(errno));
        return -1;
    }
    char line[4096];
    double terms[64] = {0};
    long row = 0;
    if (!fgets(line, sizeof line, fp))
        row = -1;
    while (row >= 0 && row < steps && fgets(line, sizeof line, fp)) {
        long step;
        int epoch, used;
        double loss;
        if (sscanf(line, "%ld,%d,%lf%n", &step, &epoch, &loss, &used) != 3 || step != row + 1)
            break;
        char *p = line + used;
        for (int i = 0; i < l->width - 2 && i < 64 && *p == ','; i++)
            terms[i] = strtod(p + 1, &p);
        if (log_push(l, epoch, loss, terms) != 0)
            break;
        row++;
    }
    fclose(fp);
    if (row != steps) {
        snprintf(err, errlen, "%s: has %ld of the %ld steps the saved state needs",
                 path, row < 0 ? 0 : row, steps);
        return -1;
    }
    return 0;
}

/* Is every parameter finite?  Checked after each epoch's last update, which
 * no later loss would see. */
static int params_finite(const advcc_model *m, const real_t *params)
{
    int ok = 1;
    for (size_t i = 0; i < m->n_params; i++)
        ok &= isfinite(params[i]) != 0;
    return ok;
}

/* A loss that is finite but past any a model at chance could reach is an
 * overflow under way: reported like NaN. */
static int loss_diverged(double loss, double reg)
{
    return !isfinite(loss) || !isfinite(reg) || loss > TRAIN_LOSS_LIMIT ||
           reg > TRAIN_LOSS_LIMIT;
}

int train_model(advcc_ctx *c, const advcc_dataset *d, const train_opts *o,
                train_result *r, char *err, size_t errlen)
{
    const advcc_model *m = c->model;
    const int B = o->batch;
    const size_t img = (size_t)m->in_c * m->in_h * m->in_w;
    int rc = -1;
    memset(r, 0, sizeof *r);
    if (B > c->batch_cap || B <= 0) {
        snprintf(err, errlen, "batch %d outside 1..%d", B, c->batch_cap);
        return -1;
    }
    int *order = malloc(sizeof(int) * (size_t)d->n);
    int *y = malloc(sizeof(int) * (size_t)B);
    real_t *x = malloc(sizeof(real_t) * img * (size_t)B);
    real_t *xadv = malloc(sizeof(real_t) * img * (size_t)B);
    real_t *logits = malloc(sizeof(real_t) * (size_t)m->classes * (size_t)B);
    real_t *dlogits = malloc(sizeof(real_t) * (size_t)m->classes * (size_t)B);
    double *terms = calloc((size_t)m->n_reg_terms + 1, sizeof(double));
    loss_log log = {.width = 2 + m->n_reg_terms};
    sgd_state opt = {0};
    const advcc_train_cfg plain = {0}, *recipe = o->recipe ? o->recipe : &plain;
    if (!order || !y || !x || !xadv || !logits || !dlogits || !terms ||
        sgd_init_recipe(&opt, m, recipe, o->lr, o->momentum, o->weight_decay) != 0) {
        snprintf(err, errlen, "out of memory");
        goto out;
    }

    advcc_rng root;
    rng_seed(&root, o->seed);
    const long per_epoch = (d->n + B - 1) / B;
    const long total = per_epoch * o->epochs;
    progress bar;
    progress_start(&bar, "train", "img", (long)d->n * o->epochs, o->quiet);
    const double t0 = progress_now();
    double epoch_loss = 0;
    long done_images = 0;
    int first = 0;
    if (o->state_dir && o->resume) {
        int k = 0, got = train_state_load(o->state_dir, m, c->params, opt.velocity,
                                          opt.second, &k, err, errlen);
        if (got < 0)
            goto out;
        if (got == 0) {
            snprintf(err, errlen, "%s: no saved state to resume from (drop --resume to start over)",
                     o->state_dir);
            goto out;
        }
        if (got > 0) {
            if (k > o->epochs) {
                snprintf(err, errlen, "%s: the saved state has %d epochs, more than the %d asked for",
                         o->state_dir, k, o->epochs);
                goto out;
            }
            if (o->loss_csv && log_read(&log, o->loss_csv, k * per_epoch, err, errlen) != 0)
                goto out;
            first = k;
            opt.started = k > 0;
            opt.steps = k * per_epoch;
            r->steps = k * per_epoch;
            r->resumed_epochs = k;
            done_images = (long)d->n * k;
            if (!o->quiet)
                fprintf(stderr, "%s: resuming after epoch %d of %d\n", m->name, k, o->epochs);
        }
    }
    for (int e = first; e < o->epochs && !r->diverged; e++) {
        advcc_rng shuffle, attack, augment;
        rng_split(&root, rng_epoch_label(RNG_EPOCH_SHUFFLE, e), &shuffle);
        rng_split(&root, rng_epoch_label(RNG_EPOCH_ATTACK, e), &attack);
        rng_split(&root, rng_epoch_label(RNG_EPOCH_NOISE, e), c->rng);
        rng_split(&root, rng_epoch_label(RNG_EPOCH_AUGMENT, e), &augment);
        for (int i = 0; i < d->n; i++)
            order[i] = i;
        rng_shuffle(&shuffle, order, d->n);
        epoch_loss = 0;
        double epoch_reg = 0;
        for (long b = 0; b < per_epoch; b++) {
            const int n = (int)((b + 1) * B <= d->n ? B : d->n - b * B);
            dataset_batch(d, order + b * B, n, x, y);
            if ((recipe->crop > 0 || recipe->flip) &&
                augment_batch(x, n, m->in_c, m->in_h, m->in_w, order + b * B, recipe->crop,
                              recipe->flip, &augment) != 0) {
                snprintf(err, errlen, "out of memory");
                goto out;
            }
            const real_t *input = x;
            if (o->perturb) {
                if (o->perturb(o->perturb_arg, c, x, y, n, &attack, xadv) != 0) {
                    snprintf(err, errlen, "attack failed at step %ld", r->steps + 1);
                    goto out;
                }
                input = xadv;
            }
            m->forward(c, input, n, ADVCC_TRAIN, logits);
            double loss = softmax_xent(logits, y, n, m->classes, dlogits, NULL);
            m->backward(c, dlogits, 1, NULL);
            double reg = 0;
            if (m->regularize)
                reg = m->regularize(c, 1, terms);
            r->steps++;
            if (loss_diverged(loss, reg)) {
                r->diverged = 1;
                r->diverged_why = isfinite(loss) && isfinite(reg)
                    ? "loss above " TRAIN_LOSS_LIMIT_TEXT : "loss not finite";
                r->diverged_step = r->steps;
                log_push(&log, e + 1, loss, terms);
                break;
            }
            opt.lr = schedule_lr(&recipe->schedule, o->lr, o->epochs, r->steps - 1, per_epoch);
            sgd_step(&opt, m, c->params, c->grads);
            if (log_push(&log, e + 1, loss, terms) != 0) {
                snprintf(err, errlen, "out of memory");
                goto out;
            }
            epoch_loss += loss;
            epoch_reg += reg;
            done_images += n;
            char note[96];
            if (m->regularize)
                snprintf(note, sizeof note, "epoch %d/%d  loss %.4f  reg %.4g", e + 1,
                         o->epochs, epoch_loss / (double)(b + 1), epoch_reg / (double)(b + 1));
            else
                snprintf(note, sizeof note, "epoch %d/%d  loss %.4f", e + 1, o->epochs,
                         epoch_loss / (double)(b + 1));
            progress_update(&bar, done_images, note);
        }
        if (!r->diverged && !params_finite(m, c->params)) {
            r->diverged = 1;
            r->diverged_step = r->steps;
            r->diverged_why = "weights not finite after the update";
        }
        if (!r->diverged) {
            r->final_loss = epoch_loss / (double)per_epoch;
            if (o->state_dir) {
                if (o->loss_csv && log_write(&log, m, o->loss_csv, err, errlen) != 0)
                    goto out;
                if (train_state_save(o->state_dir, e + 1, m, c->params, opt.velocity,
                                     opt.second, err, errlen) != 0)
                    goto out;
            }
            if (!o->quiet) {
                progress_end(&bar);
                fprintf(stderr, "epoch %d/%d  loss %.4f", e + 1, o->epochs, r->final_loss);
                if (recipe->schedule.kind != ADVCC_SCHED_CONSTANT || recipe->schedule.warmup)
                    fprintf(stderr, "  lr %.4g", opt.lr);
                if (m->regularize) {
                    fprintf(stderr, "  reg %.4g (", epoch_reg / (double)per_epoch);
                    for (int i = 0; i < m->n_reg_terms; i++)
                        fprintf(stderr, "%s%s %.3g", i ? ", " : "", m->reg_term_names[i], terms[i]);
                    fprintf(stderr, ")");
                }
                fprintf(stderr, "  %.1f s\n", progress_now() - t0);
            }
        }
    }
    progress_end(&bar);
    (void)total;
    r->seconds = progress_now() - t0;
    if (o->loss_csv && log_write(&log, m, o->loss_csv, err, errlen) != 0)
        goto out;
    rc = 0;
out:
    free(order);
    free(y);
    free(x);
    free(xadv);
    free(logits);
    free(dlogits);
    free(terms);
    free(log.rows);
    sgd_free(&opt);
    return rc;
}
