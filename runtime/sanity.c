/* sanity.c - the attack's self-checks: monotone in eps, strong at large eps,
 * no weaker with more steps or restarts. */
#include <string.h>
#include "robust.h"
#include "sanity.h"

static const int sanity_eps[SANITY_N_EPS] = {0, 2, 4, 8, 16, 32, 64};

/* Robust accuracy under cfg, from the same attack seed and noise stream as
 * every other run. */
static int run_one(advcc_ctx *ctx, const advcc_dataset *d, const pgd_cfg *cfg,
                   int limit, uint64_t seed, const advcc_rng *noise,
                   robust_result *res, char *err, size_t errlen)
{
    advcc_rng rng;
    rng_seed(&rng, seed);
    if (ctx->rng)
        *ctx->rng = *noise;
    robust_cfg rc = {0};
    rc.attack = cfg;
    rc.limit = limit;
    rc.judge = 1;
    return robust_evaluate(ctx, d, &rc, &rng, res, err, errlen);
}

static void note(sanity_report *rep, const char *fmt, double a, double b)
{
    size_t len = strlen(rep->why);
    snprintf(rep->why + len, sizeof rep->why - len, "%s", len ? "; " : "");
    len = strlen(rep->why);
    snprintf(rep->why + len, sizeof rep->why - len, fmt, a, b);
}

int sanity_run(advcc_ctx *ctx, const advcc_dataset *d, const pgd_cfg *base,
               int limit, uint64_t seed, FILE *out, sanity_report *rep,
               char *err, size_t errlen)
{
    memset(rep, 0, sizeof *rep);
    advcc_rng noise = {0};
    if (ctx->rng)
        noise = *ctx->rng;
    robust_result res;
    pgd_cfg cfg = *base;
    int steps = base->steps > 0 ? base->steps : 1;
    int rc = 0;

    if (out)
        fprintf(out, "%8s %9s %5s %8s %8s\n", "eps/255", "alpha/255", "steps",
                "restarts", "robust");
    cfg.steps = steps;
    cfg.restarts = 1;
    for (int i = 0; i < SANITY_N_EPS && rc == 0; i++) {
        cfg.eps = sanity_eps[i] / 255.0;
        cfg.alpha = 2.5 * cfg.eps / steps;
        if (cfg.alpha < base->alpha)
            cfg.alpha = base->alpha;
        rc = run_one(ctx, d, &cfg, limit, seed, &noise, &res, err, errlen);
        rep->eps_255[i] = sanity_eps[i];
        rep->eps_acc[i] = res.robust_acc;
        rep->n = res.n;
        rep->clean_acc = res.clean_acc;
        if (out && rc == 0)
            fprintf(out, "%8d %9.2f %5d %8d %8.4f\n", sanity_eps[i],
                    cfg.alpha * 255, cfg.steps, cfg.restarts, res.robust_acc);
    }

    const int steps_cmp[2] = {4, 16}, restarts_cmp[2] = {1, 3};
    cfg = *base;
    cfg.restarts = 1;
    for (int i = 0; i < 2 && rc == 0; i++) {
        cfg.steps = steps_cmp[i];
        rc = run_one(ctx, d, &cfg, limit, seed, &noise, &res, err, errlen);
        rep->steps_acc[i] = res.robust_acc;
        if (out && rc == 0)
            fprintf(out, "%8.2f %9.2f %5d %8d %8.4f\n", cfg.eps * 255,
                    cfg.alpha * 255, cfg.steps, cfg.restarts, res.robust_acc);
    }
    cfg = *base;
    for (int i = 0; i < 2 && rc == 0; i++) {
        cfg.restarts = restarts_cmp[i];
        rc = run_one(ctx, d, &cfg, limit, seed, &noise, &res, err, errlen);
        rep->restarts_acc[i] = res.robust_acc;
        if (out && rc == 0)
            fprintf(out, "%8.2f %9.2f %5d %8d %8.4f\n", cfg.eps * 255,
                    cfg.alpha * 255, cfg.steps, cfg.restarts, res.robust_acc);
    }
    if (ctx->rng)
        *ctx->rng = noise;
    if (rc != 0)
        return -1;

    for (int i = 1; i < SANITY_N_EPS; i++)
        if (rep->eps_acc[i] > rep->eps_acc[i - 1] + SANITY_TOL) {
            rep->failed |= SANITY_EPS_MONOTONE;
            note(rep, "robust accuracy rises from %.4f to %.4f as eps grows",
                 rep->eps_acc[i - 1], rep->eps_acc[i]);
        }
    if (rep->eps_acc[SANITY_N_EPS - 1] > SANITY_LARGE_MAX) {
        rep->failed |= SANITY_EPS_LARGE;
        note(rep, "robust accuracy %.4f at eps 64/255 is above %.2f",
             rep->eps_acc[SANITY_N_EPS - 1], SANITY_LARGE_MAX);
    }
    if (rep->steps_acc[1] > rep->steps_acc[0] + SANITY_TOL) {
        rep->failed |= SANITY_STEPS;
        note(rep, "16 steps leave robust accuracy %.4f, above 4 steps "
                  "(%.4f)",
             rep->steps_acc[1], rep->steps_acc[0]);
    }
    if (rep->restarts_acc[1] > rep->restarts_acc[0] + SANITY_TOL) {
        rep->failed |= SANITY_RESTARTS;
        note(rep, "3 restarts leave robust accuracy %.4f, above 1 restart "
                  "(%.4f)",
             rep->restarts_acc[1], rep->restarts_acc[0]);
    }
    if (out) {
        fprintf(out, "clean accuracy %.4f on %d images\n", rep->clean_acc,
                rep->n);
        fprintf(out, "%-44s %s\n", "robust accuracy non-increasing in eps",
                rep->failed & SANITY_EPS_MONOTONE ? "FAILED" : "ok");
        fprintf(out, "%-44s %s\n", "robust accuracy <= 0.05 at eps 64/255",
                rep->failed & SANITY_EPS_LARGE ? "FAILED" : "ok");
        fprintf(out, "%-44s %s\n", "16 steps no weaker than 4",
                rep->failed & SANITY_STEPS ? "FAILED" : "ok");
        fprintf(out, "%-44s %s\n", "3 restarts no weaker than 1",
                rep->failed & SANITY_RESTARTS ? "FAILED" : "ok");
        if (rep->failed)
            fprintf(out, "sanity: %s\n", rep->why);
    }
    return rep->failed ? 1 : 0;
}
