/* cli_certify.c - `MODEL certify`: per test image the certified L2 radius
 * from the network's Lipschitz bound (certify.h, docs/METHODS.md 10), and
 * certified accuracy at 36/255, 72/255 and 108/255; optionally a per-image
 * CSV, a JSON summary, a gnuplot figure of certified accuracy against the
 * radius, and an L2 attack (PGD, APGD-CE or both) of every certified image
 * inside its radius (--attack-check). */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#include "child.h"
#include "apgd.h"
#include "atomic_file.h"
#include "certify.h"
#include "checkpoint.h"
#include "cli.h"
#include "context.h"
#include "infer.h"
#include "lipschitz.h"
#include "pgd.h"
#include "progress.h"

#define N_RADII 3
static const double radii[N_RADII] = {36.0 / 255, 72.0 / 255, 108.0 / 255};

static void certify_usage(const advcc_model *m, FILE *fp)
{
    fprintf(fp,
            "usage: %s certify --checkpoint FILE [options]\n"
            "\n"
            "Certified L2 robustness on the test split: each image's radius\n"
            "m / (sqrt(2) L) (m the logit margin of the true class over the runner-up,\n"
            "0 when misclassified; L a sound upper bound of the network's Lipschitz\n"
            "constant: the product of each layer's operator-norm bound; with a linear\n"
            "last layer the pairwise bound ||w_y - w_j|| x L_before is used), and\n"
            "certified accuracy at radii 36/255, 72/255 and 108/255 (docs/METHODS.md 10).\n"
            "Quantised and noisy models are refused.\n"
            "\n"
            "options:\n"
            "  --checkpoint FILE  parameters written by `%s train` (required)\n"
            "  --limit N          the first N test images only [all]\n"
            "  --dataset NAME     cifar10 or fashion-mnist [%s]\n"
            "  --threads N        threads [all cores]\n"
            "  --batch N          images per pass [100]\n"
            "  --json FILE        the summary as one JSON object (atomically)\n"
            "  --csv FILE         per image: index,label,predicted,margin,radius,\n"
            "                     radius_global,broken (atomically)\n"
            "  --plot FILE.png    certified accuracy against radius, through gnuplot\n"
            "                     (FILE.dat and FILE.gp kept beside it)\n"
            "  --flattened        bound each conv by its reshaped kernel [co][ci*k*k]:\n"
            "                     NOT an operator norm, for comparison only\n"
            "  --attack-check     attack every certified image in L2 at eps = its radius\n"
            "                     and count those broken\n"
            "  --check-attack A   pgd, apgd (APGD-CE) or both (broken when either\n"
            "                     breaks it) [both]\n"
            "  --check-steps N    PGD steps of the check [50]\n"
            "  --check-iters N    APGD iterations of the check [100]\n"
            "  --check-restarts N restarts of each attack of the check [2]\n"
            "  --check-scale X    attack at eps = X times each radius instead [1]: above 1\n"
            "                     it measures how far past its radius an image breaks\n"
            "  --seed N           seed of the check's random starts [0]\n"
            "  --gram-iters N     Gram iterations of each bound [%d]\n"
            "  --power-iters N    power iterations of each estimate [%d]\n"
            "  --quiet            no progress line\n"
            "  --help             this text\n",
            m->name, m->name, cli_default_dataset(m), LIP_GRAM_ITERS, LIP_POWER_ITERS);
}

/* The attack check: which attacks, their settings, the radius's multiple. */
enum { CHECK_PGD = 1, CHECK_APGD = 2 };
typedef struct check_opts {
    int attacks;                /* CHECK_* bits */
    pgd_cfg pgd;
    apgd_cfg apgd;
    double scale;
} check_opts;

static const char *check_name(int attacks)
{
    return attacks == (CHECK_PGD | CHECK_APGD) ? "both" : attacks == CHECK_PGD ? "pgd" : "apgd";
}

typedef struct image_row {
    int label, pred, broken;    /* broken: -1 not attacked */
    double margin, radius, global;
} image_row;

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Share of images with radius > r (strictly: the ball of radius r fits). */
static double cert_acc(const image_row *rows, int n, double r)
{
    int k = 0;
    for (int i = 0; i < n; i++)
        k += rows[i].radius > r;
    return n ? (double)k / n : 0;
}

static int write_csv(const char *path, const image_row *rows, int n)
{
    atomic_file af;
    if (atomic_open(&af, path) != 0)
        return -1;
    fprintf(af.fp, "index,label,predicted,margin,radius,radius_global,broken\n");
    for (int i = 0; i < n; i++)
        fprintf(af.fp, "%d,%d,%d,%.9g,%.9g,%.9g,%d\n", i, rows[i].label, rows[i].pred,
                rows[i].margin, rows[i].radius, rows[i].global, rows[i].broken);
    return atomic_commit(&af);
}

static int write_json(const char *path, const advcc_model *m, const char *ckpt,
                      const certify_net *net, const image_row *rows, int n,
                      double clean, double median, int checked, int broken,
                      const check_opts *chk, double wall)
{
    /* an item that cannot be added fails the whole object: o = NULL */
    json_t *o = cli_json_head(m, 0);
    json_t *layers = json_array(), *radius = json_array(), *acc = json_array();
    for (int i = 0; i < net->n; i++) {
        const certify_layer *l = &net->layers[i];
        if (json_array_append_new(layers, json_pack("{s:o, s:o, s:o, s:o, s:o}",
                                                    "name", jw_str(l->name),
                                                    "method", jw_str(l->method),
                                                    "estimate", jw_sig(l->estimate, 9),
                                                    "bound", jw_sig(l->bound, 9),
                                                    "flattened", jw_sig(l->flat, 9))))
            o = jw_merge(o, NULL);
    }
    for (int i = 0; i < N_RADII; i++)
        if (json_array_append_new(radius, jw_sig(radii[i], 9)) ||
            json_array_append_new(acc, jw_fixed(cert_acc(rows, n, radii[i]), 6)))
            o = jw_merge(o, NULL);
    o = jw_merge(o, json_pack("{s:i, s:o, s:b, s:o, s:o, s:b, s:o, s:o, s:o}", "n", n,
                              "clean_acc", jw_fixed(clean, 6), "flattened", net->flattened,
                              "lipschitz", jw_sig(net->lipschitz, 9),
                              "lipschitz_estimate", jw_sig(net->estimate, 9),
                              "pairwise", net->pairwise, "layers", layers,
                              "radii", radius, "certified_acc", acc));
    for (int i = 0; i < N_RADII; i++) {
        char key[32];
        snprintf(key, sizeof key, "certified_acc_%d", (int)lround(radii[i] * 255));
        o = jw_merge(o, json_pack("{s:o}", key, jw_fixed(cert_acc(rows, n, radii[i]), 6)));
    }
    o = jw_merge(o, json_pack("{s:o}", "median_radius", jw_sig(median, 9)));
    if (chk)
        o = jw_merge(o, json_pack("{s:{s:i, s:i, s:s, s:i, s:i, s:i, s:o}}", "attack_check",
                                  "checked", checked, "broken", broken,
                                  "attack", check_name(chk->attacks), "steps", chk->pgd.steps,
                                  "iters", chk->apgd.iters, "restarts", chk->pgd.restarts,
                                  "scale", jw_sig(chk->scale, 9)));
    else
        o = jw_merge(o, json_pack("{s:n}", "attack_check"));
    return cli_json_write(o, path, m, wall, ckpt);
}

/* FILE.dat, FILE.gp beside the PNG, then gnuplot. */
static int write_plot(const char *png, const advcc_model *m, const image_row *rows,
                      int n, int flattened, char *why, size_t whylen)
{
    size_t len = strlen(png);
    size_t base = len > 4 && !strcmp(png + len - 4, ".png") ? len - 4 : len;
    char *dat = malloc(base + 5), *gp = malloc(base + 4);
    int rc = -1;
    if (!dat || !gp) {
        snprintf(why, whylen, "out of memory");
        goto done;
    }
    snprintf(dat, base + 5, "%.*s.dat", (int)base, png);
    snprintf(gp, base + 4, "%.*s.gp", (int)base, png);
    double rmax = 0;
    for (int i = 0; i < n; i++)
        rmax = fmax(rmax, rows[i].radius);
    rmax = fmax(rmax * 1.05, 108.0 / 255 * 1.2);
    atomic_file af;
    if (atomic_open(&af, dat) != 0)
        goto io;
    fprintf(af.fp, "# radius (L2, pixel units)  certified accuracy\n");
    for (int i = 0; i <= 400; i++) {
        double r = rmax * i / 400;
        fprintf(af.fp, "%.9g %.6f\n", r, cert_acc(rows, n, r));
    }
    if (atomic_commit(&af) != 0)
        goto io;
    if (atomic_open(&af, gp) != 0)
        goto io;
    fprintf(af.fp,
            "# written by %s certify; run: gnuplot %s\n"
            "set terminal pngcairo size 800,500\n"
            "set output '%s'\n"
            "set xlabel 'L2 radius (pixels in [0,1])'\n"
            "set ylabel 'certified accuracy'\n"
            "set yrange [0:1]\n"
            "set grid\n"
            "set title '%s: certified accuracy (%s)'\n"
            "set arrow from 36./255, graph 0 to 36./255, graph 1 nohead dt 2\n"
            "set arrow from 72./255, graph 0 to 72./255, graph 1 nohead dt 2\n"
            "set arrow from 108./255, graph 0 to 108./255, graph 1 nohead dt 2\n"
            "plot '%s' using 1:2 with lines lw 2 notitle\n",
            m->name, gp, png, m->name,
            flattened ? "flattened kernels: NOT a bound" : "sound Lipschitz bound", dat);
    if (atomic_commit(&af) != 0)
        goto io;
    int nul = open("/dev/null", O_WRONLY | O_CLOEXEC);
    child_opts co = { NULL, NULL, nul, -1, 0, NULL };
    int st = child_run((char *[]){ "gnuplot", gp, NULL }, &co);
    if (nul >= 0)
        close(nul);
    if (st < 0)
        goto io;
    if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
        snprintf(why, whylen, WIFEXITED(st) && WEXITSTATUS(st) == 127
                                  ? "gnuplot is not installed (data in %s)"
                                  : "gnuplot failed on %s",
                 WIFEXITED(st) && WEXITSTATUS(st) == 127 ? dat : gp);
        goto done;
    }
    rc = 0;
    goto done;
io:
    snprintf(why, whylen, "%s", strerror(errno));
done:
    free(dat);
    free(gp);
    return rc;
}

/* Attacks image x (label y) inside the L2 ball of radius eps with each of
 * the check's attacks, the stronger counting: 1 when one of them finds a
 * misclassified point, 0 when none does, -1 when a setting is invalid. */
static int check_image(const check_opts *chk, pgd_ws *pgd, apgd_ws *apgd, infer_ws *inf,
                       double eps, const real_t *x, int y, advcc_rng *rng, real_t *xadv,
                       real_t *logits)
{
    int classes = inf->classes;
    if (chk->attacks & CHECK_PGD) {
        pgd_cfg c = chk->pgd;
        c.eps = eps;
        c.alpha = 2.5 * eps / c.steps;
        if (pgd_attack(pgd, &c, x, &y, 1, rng, xadv, NULL) != 0)
            return -1;
        int p;
        infer_logits(inf, xadv, 1, ADVCC_EVAL, logits);
        infer_row_loss(logits, y, classes, &p);
        if (p != y)
            return 1;
    }
    if (chk->attacks & CHECK_APGD) {
        apgd_cfg c = chk->apgd;
        c.eps = eps;
        int hit = -1, p;
        if (apgd_attack(apgd, &c, x, &y, NULL, 1, rng, xadv, &hit, NULL) != 0)
            return -1;
        infer_logits(inf, xadv, 1, ADVCC_EVAL, logits);
        infer_row_loss(logits, y, classes, &p);
        if (p != y)
            return 1;
    }
    return 0;
}

int cli_certify(const advcc_model *m, int argc, char **argv)
{
    static const struct option opts[] = {
        {"checkpoint", required_argument, 0, 'c'},
        {"limit", required_argument, 0, 'n'},
        {"dataset", required_argument, 0, 'd'},
        {"threads", required_argument, 0, 't'},
        {"batch", required_argument, 0, 'b'},
        {"json", required_argument, 0, 'j'},
        {"csv", required_argument, 0, 'C'},
        {"plot", required_argument, 0, 'P'},
        {"flattened", no_argument, 0, 'f'},
        {"attack-check", no_argument, 0, 'A'},
        {"check-attack", required_argument, 0, 'a'},
        {"check-steps", required_argument, 0, 'S'},
        {"check-iters", required_argument, 0, 'I'},
        {"check-restarts", required_argument, 0, 'R'},
        {"check-scale", required_argument, 0, 'X'},
        {"seed", required_argument, 0, 's'},
        {"gram-iters", required_argument, 0, 'g'},
        {"power-iters", required_argument, 0, 'p'},
        {"quiet", no_argument, 0, 'q'},
        {"help", no_argument, 0, 'h'},
        {0, 0, 0, 0},
    };
    const char *ckpt = NULL, *dataset = cli_default_dataset(m), *json = NULL;
    const char *csv = NULL, *plot = NULL;
    long limit = 0, threads = 0, batch = 100, steps = 50, iters = 100, restarts = 2, seed = 0;
    long gram = 0, power = 0;
    double scale = 1;
    int flattened = 0, check = 0, quiet = 0, attacks = CHECK_PGD | CHECK_APGD, c, li = -1;
    optind = 1;
    while ((c = getopt_long(argc, argv, "", opts, &li)) != -1) {
        int bad = 0;
        switch (c) {
        case 'c': ckpt = optarg; break;
        case 'n': bad = cli_int(optarg, 1, 0x7fffffffL, &limit); break;
        case 'd': dataset = optarg; break;
        case 't': bad = cli_int(optarg, 1, 1024, &threads); break;
        case 'b': bad = cli_int(optarg, 1, 100000, &batch); break;
        case 'j': json = optarg; break;
        case 'C': csv = optarg; break;
        case 'P': plot = optarg; break;
        case 'f': flattened = 1; break;
        case 'A': check = 1; break;
        case 'a':
            attacks = !strcmp(optarg, "pgd")    ? CHECK_PGD
                      : !strcmp(optarg, "apgd") ? CHECK_APGD
                      : !strcmp(optarg, "both") ? CHECK_PGD | CHECK_APGD
                                                : 0;
            bad = !attacks;
            break;
        case 'S': bad = cli_int(optarg, 1, 100000, &steps); break;
        case 'I': bad = cli_int(optarg, 1, 100000, &iters); break;
        case 'R': bad = cli_int(optarg, 1, 1000, &restarts); break;
        case 'X': bad = cli_number(optarg, 0, 1e6, NUM_LO_OPEN, &scale); break;
        case 's': bad = cli_int(optarg, 0, 0x7fffffffL, &seed); break;
        case 'g': bad = cli_int(optarg, 1, 60, &gram); break;
        case 'p': bad = cli_int(optarg, 1, 1000000, &power); break;
        case 'q': quiet = 1; break;
        case 'h': certify_usage(m, stdout); return 0;
        default: certify_usage(m, stderr); return 2;
        }
        if (bad) {
            cli_bad_value(m->name, "certify", li >= 0 ? opts[li].name : "?", optarg);
            return 2;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "%s: unexpected argument '%s'\n", m->name, argv[optind]);
        return 2;
    }
    if (!ckpt) {
        fprintf(stderr, "%s: --checkpoint FILE is required (see --help)\n", m->name);
        return 2;
    }
    char err[4608];
    if (certify_supported(m, err, sizeof err) != 0) {
        fprintf(stderr, "%s certify: refused: %s\n", m->name, err);
        return 2;
    }
    ctx_set_threads((int)threads);
    advcc_dataset test = {0};
    if (cli_load_data(m, dataset, 0, (int)limit, &test) != 0)
        return 1;
    int rc = 1, have_inf = 0, have_pgd = 0, have_apgd = 0;
    infer_ws inf;
    pgd_ws pgd;
    apgd_ws apgd;
    certify_net net = {0};
    image_row *rows = calloc((size_t)test.n, sizeof *rows);
    const int in_size = m->in_c * m->in_h * m->in_w;
    real_t *x = malloc(sizeof *x * (size_t)batch * in_size);
    real_t *xadv = malloc(sizeof *xadv * (size_t)in_size);
    real_t *logits = malloc(sizeof *logits * (size_t)batch * m->classes);
    int *y = malloc(sizeof *y * (size_t)batch), *idx = malloc(sizeof *idx * (size_t)batch);
    double *sorted = malloc(sizeof *sorted * (size_t)test.n);
    advcc_ctx *ctx = ctx_create(m, (int)batch, (uint64_t)seed);
    if (!ctx || !rows || !x || !xadv || !logits || !y || !idx || !sorted) {
        fprintf(stderr, "%s: out of memory\n", m->name);
        goto done;
    }
    if (checkpoint_load(ckpt, m, ctx->params, err, sizeof err) != 0) {
        fprintf(stderr, "%s: %s\n", m->name, err);
        goto done;
    }
    double t0 = progress_now();
    certify_opts co = {.gram_iters = (int)gram, .power_iters = (int)power,
                       .flattened = flattened};
    if (certify_bounds(m, ctx->params, &co, &net, err, sizeof err) != 0) {
        fprintf(stderr, "%s certify: %s\n", m->name, err);
        goto done;
    }
    printf("%s: layer bounds (L2 operator norm, evaluation mode)\n", m->name);
    printf("  %-28s %-26s %12s %12s %8s %12s\n", "layer", "method", "power-iter",
           "bound", "gap", "flattened");
    for (int i = 0; i < net.n; i++) {
        const certify_layer *l = &net.layers[i];
        printf("  %-28s %-26s %12.6g %12.6g %7.3f%% %12.6g\n", l->name, l->method,
               l->estimate, l->bound, 100 * (l->bound / l->estimate - 1), l->flat);
    }
    printf("%s: Lipschitz bound L = %.6g%s (power-iteration product %.6g)%s\n", m->name,
           net.lipschitz, flattened ? " from FLATTENED kernels, not a bound" : "",
           net.estimate, net.pairwise ? "; last layer pairwise" : "");
    if ((have_inf = infer_init(&inf, ctx) == 0) == 0 ||
        (check && (have_pgd = pgd_init(&pgd, &inf) == 0) == 0) ||
        (check && (have_apgd = apgd_init(&apgd, &inf) == 0) == 0)) {
        fprintf(stderr, "%s: out of memory\n", m->name);
        goto done;
    }
    progress bar;
    progress_start(&bar, "certify", "img", test.n, quiet);
    int correct = 0;
    for (int s = 0; s < test.n; s += (int)batch) {
        int b = test.n - s < batch ? test.n - s : (int)batch;
        for (int i = 0; i < b; i++)
            idx[i] = s + i;
        dataset_batch(&test, idx, b, x, y);
        infer_logits(&inf, x, b, ADVCC_EVAL, logits);
        for (int i = 0; i < b; i++) {
            image_row *r = &rows[s + i];
            r->label = y[i];
            r->broken = -1;
            r->radius = certify_radius(&net, logits + (size_t)i * m->classes, y[i], &r->pred,
                                       &r->margin, &r->global);
            correct += r->pred == y[i];
        }
        progress_update(&bar, s + b, NULL);
    }
    progress_end(&bar);
    check_opts chk = {
        .attacks = attacks, .scale = scale,
        .pgd = {.norm = ADVCC_L2, .steps = (int)steps, .restarts = (int)restarts, .eot = 1,
                .init = ADVCC_INIT_UNIFORM, .clip = ADVCC_CLIP_PIXEL, .mean = m->norm_mean,
                .std = m->norm_std, .targeted = 0, .labels = PGD_LABELS_TRUE,
                .mode = ADVCC_EVAL},
    };
    apgd_defaults(&chk.apgd, ADVCC_L2, 0);
    chk.apgd.iters = (int)iters;
    chk.apgd.restarts = (int)restarts;
    int checked = 0, broken = 0;
    if (check) {
        advcc_rng root, arng;
        rng_seed(&root, (uint64_t)seed);
        rng_split(&root, RNG_STREAM_ATTACK, &arng);
        int todo = 0;
        for (int i = 0; i < test.n; i++)
            todo += rows[i].radius > 0;
        progress_start(&bar, "attack-check", "img", todo, quiet);
        for (int i = 0; i < test.n; i++) {
            if (!(rows[i].radius > 0))
                continue;
            /* the ball of the radius itself, capped where it would cover
             * the whole pixel box anyway */
            double eps = fmin(scale * rows[i].radius, sqrt((double)in_size));
            dataset_batch(&test, &i, 1, x, y);
            int hit = check_image(&chk, &pgd, &apgd, &inf, eps, x, y[0], &arng, xadv, logits);
            if (hit < 0) {
                progress_end(&bar);
                fprintf(stderr, "%s: the check's attack is invalid\n", m->name);
                goto done;
            }
            rows[i].broken = hit;
            broken += rows[i].broken;
            progress_update(&bar, ++checked, NULL);
        }
        progress_end(&bar);
    }
    double wall = progress_now() - t0;
    for (int i = 0; i < test.n; i++)
        sorted[i] = rows[i].radius;
    qsort(sorted, (size_t)test.n, sizeof *sorted, cmp_double);
    double median = test.n ? sorted[test.n / 2] : 0;
    double clean = test.n ? (double)correct / test.n : 0;
    printf("%s: clean accuracy %.2f%% (%d images), median radius %.4g (%.3g/255)\n",
           m->name, 100 * clean, test.n, median, median * 255);
    printf("%s: certified accuracy%s:", m->name, flattened ? " (FLATTENED, not sound)" : "");
    for (int i = 0; i < N_RADII; i++)
        printf(" %.2f%% at %d/255%s", 100 * cert_acc(rows, test.n, radii[i]),
               (int)lround(radii[i] * 255), i + 1 < N_RADII ? "," : "\n");
    if (check)
        printf("%s: attack check (L2 %s: PGD %ld steps, APGD-CE %ld iterations, %ld restarts "
               "each; eps = %g x each radius): %d of %d certified images broken\n",
               m->name, check_name(attacks), steps, iters, restarts, scale, broken, checked);
    if (csv && write_csv(csv, rows, test.n) != 0) {
        fprintf(stderr, "%s: %s: %s\n", m->name, csv, strerror(errno));
        goto done;
    }
    if (json && write_json(json, m, ckpt, &net, rows, test.n, clean, median, checked,
                           broken, check ? &chk : NULL, wall) != 0) {
        fprintf(stderr, "%s: %s: %s\n", m->name, json, strerror(errno));
        goto done;
    }
    if (plot && write_plot(plot, m, rows, test.n, flattened, err, sizeof err) != 0) {
        fprintf(stderr, "%s: figure %s not drawn: %s\n", m->name, plot, err);
        goto done;
    }
    rc = 0;
done:
    if (have_apgd)
        apgd_free(&apgd);
    if (have_pgd)
        pgd_free(&pgd);
    if (have_inf)
        infer_free(&inf);
    certify_net_free(&net);
    ctx_free(ctx);
    dataset_free(&test);
    free(rows);
    free(x);
    free(xadv);
    free(logits);
    free(y);
    free(idx);
    free(sorted);
    return rc;
}
