/* plots.c - data files, gnuplot scripts, and gnuplot. */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#include "child.h"
#include "fsutil.h"
#include "npy.h"
#include "plots.h"
#include "proc.h"

#define LOSS_POINTS 300     /* a curve is averaged down to at most this */
#define FEATURE_MAPS 16     /* channels shown per model */

static const char *const colours[] = {
    "#4477aa", "#ee6677", "#228833", "#ccbb44", "#66ccee", "#aa3377",
    "#bbbbbb", "#000000", "#ee8866", "#997700", "#994455", "#6699cc"
};
#define NCOLOURS (int)(sizeof colours / sizeof colours[0])

/* Both terminals around one plot: the script's body is drawn to PNG, then
 * replotted to SVG. */
static void script_begin(FILE *f, const char *name, int w, int h)
{
    fprintf(f, "# %s.gp - written by advcc-study report; run: gnuplot %s.gp\n",
            name, name);
    fprintf(f, "set terminal pngcairo size %d,%d noenhanced font ',10'\n", w, h);
    fprintf(f, "set output '%s.png'\n", name);
}

static void script_end(FILE *f, const char *name, int w, int h)
{
    fprintf(f, "set terminal svg size %d,%d dynamic noenhanced font ',10'\n", w, h);
    fprintf(f, "set output '%s.svg'\nreplot\n", name);
}

/* Runs gnuplot on dir/name.gp inside dir; its messages go to
 * dir/gnuplot.log. */
static int gnuplot_run(const char *dir, const char *name, char *why, size_t whylen)
{
    char *script = xasprintf("%s.gp", name);
    char *log = path_join(dir, "gnuplot.log");
    int log_fd = open(log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0666);
    char *argv[] = { "gnuplot", script, NULL };
    child_opts co = { NULL, dir, log_fd, log_fd, 0, NULL };
    int status = child_run(argv, &co);
    if (log_fd >= 0)
        close(log_fd);
    int rc = 0;
    if (status < 0 || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        rc = -1;
        if (status >= 0 && WIFEXITED(status) && WEXITSTATUS(status) == 127)
            snprintf(why, whylen, "gnuplot is not installed");
        else
            snprintf(why, whylen, "gnuplot failed on %s/%s (see %s)", dir,
                     script, log);
    }
    free(script);
    free(log);
    return rc;
}

static FILE *open_in(const char *dir, const char *name, char *why, size_t whylen)
{
    char *path = path_join(dir, name);
    FILE *f = fopen(path, "w");
    if (!f)
        snprintf(why, whylen, "%s: %s", path, strerror(errno));
    free(path);
    return f;
}

double curve_mean(const double *v, int n)
{
    double s = 0;
    for (int i = 0; i < n; i++)
        s += v[i];
    return n ? s / n : NAN;
}

/* The runs whose cells' curves stand for a model: every seed, and for an
 * adversarially trained model only the cells trained at loss_eps.  One
 * row per cell. */
static int model_cells(const runs *rs, int m, double loss_eps,
                       const run_row **out)
{
    int n = 0;
    for (int i = 0; i < rs->n; i++) {
        const run_row *r = &rs->r[i];
        if (!r->ok || r->model != m)
            continue;
        if (!isnan(r->train_eps) && r->train_eps != loss_eps)
            continue;
        int seen = 0;
        for (int k = 0; k < n && !seen; k++)
            seen = !strcmp(out[k]->cell, r->cell);
        if (!seen)
            out[n++] = r;
    }
    return n;
}

int plot_loss(const runs *rs, double loss_eps, const char *dir,
              char *why, size_t whylen)
{
    const run_row **cells = xmalloc((size_t)(rs->n ? rs->n : 1) * sizeof *cells);
    strvec drawn = { 0 };
    for (int m = 0; m < rs->models.n; m++) {
        int nc = model_cells(rs, m, loss_eps, cells);
        double **curve = xcalloc((size_t)(nc ? nc : 1), sizeof *curve);
        int len = -1, have = 0;
        for (int k = 0; k < nc; k++) {
            int n;
            double *v = runs_loss_curve(rs, cells[k], &n);
            if (!v)
                continue;
            curve[have++] = v;
            len = len < 0 || n < len ? n : len;   /* the common steps */
        }
        if (have > 0 && len > 0) {
            char *name = xasprintf("loss-%s.dat", rs->models.v[m]);
            FILE *f = open_in(dir, name, why, whylen);
            free(name);
            if (f) {
                fprintf(f, "# step mean_loss mean-sd mean+sd (%d seeds)\n", have);
                int block = (len + LOSS_POINTS - 1) / LOSS_POINTS;
                for (int s0 = 0; s0 < len; s0 += block) {
                    int s1 = s0 + block < len ? s0 + block : len;
                    double mean = 0, sd = 0;
                    for (int s = s0; s < s1; s++) {
                        double mu = 0, var = 0;
                        for (int k = 0; k < have; k++)
                            mu += curve[k][s];
                        mu /= have;
                        for (int k = 0; k < have; k++)
                            var += (curve[k][s] - mu) * (curve[k][s] - mu);
                        mean += mu;
                        sd += have > 1 ? sqrt(var / (have - 1)) : 0;
                    }
                    mean /= s1 - s0;
                    sd /= s1 - s0;
                    fprintf(f, "%g %.6g %.6g %.6g\n", 0.5 * (s0 + s1 - 1) + 1,
                            mean, mean - sd, mean + sd);
                }
                fclose(f);
                strvec_push(&drawn, rs->models.v[m]);
            }
        }
        for (int k = 0; k < have; k++)
            free(curve[k]);
        free(curve);
    }
    free(cells);
    if (drawn.n == 0) {
        snprintf(why, whylen, "no cell has a train_loss.csv");
        strvec_free(&drawn);
        return -1;
    }
    FILE *f = open_in(dir, "loss.gp", why, whylen);
    if (!f) {
        strvec_free(&drawn);
        return -1;
    }
    script_begin(f, "loss", 1000, 600);
    fprintf(f, "set title 'Training loss, mean over seeds (band: one standard "
            "deviation; adversarial training at eps %g/255)'\n", loss_eps);
    fprintf(f, "set xlabel 'step'\nset ylabel 'loss'\nset key outside right\n"
            "set grid\nset style fill transparent solid 0.15 noborder\nplot ");
    for (int i = 0; i < drawn.n; i++) {
        const char *c = colours[i % NCOLOURS];
        fprintf(f, "%s'loss-%s.dat' using 1:3:4 with filledcurves lc rgb '%s' "
                "notitle, \\\n     'loss-%s.dat' using 1:2 with lines lw 1.5 "
                "lc rgb '%s' title '%s'", i ? ", \\\n     " : "",
                drawn.v[i], c, drawn.v[i], c, drawn.v[i]);
    }
    fputc('\n', f);
    script_end(f, "loss", 1000, 600);
    fclose(f);
    strvec_free(&drawn);
    return gnuplot_run(dir, "loss", why, whylen);
}

/* mean and sd of a metric over the ok runs of (model, eps) */
static int metric_stats(const runs *rs, int m, double eps, int k,
                        double *mean, double *sd)
{
    double *v = xmalloc((size_t)(rs->n ? rs->n : 1) * sizeof *v);
    int n = 0;
    for (int i = 0; i < rs->n; i++)
        if (run_has(&rs->r[i], EVAL_PGD) && rs->r[i].model == m &&
            rs->r[i].eps == eps)
            v[n++] = rs->r[i].metric[EVAL_PGD][k];
    mean_sd(v, n, mean, sd);
    free(v);
    return n;
}

int plot_accuracy(const runs *rs, const comparisons *cs, double eps,
                  const char *dir, char *why, size_t whylen)
{
    char *name = xasprintf("accuracy-eps%g", eps);
    char *dat = xasprintf("%s.dat", name);
    char *gp = xasprintf("%s.gp", name);
    int rc = -1, rows = 0;
    FILE *f = open_in(dir, dat, why, whylen);
    if (!f)
        goto out;
    fprintf(f, "# x model clean sd robust sd success sd marks(clean robust "
            "success, one-sided paired t-test against the baseline)\n");
    for (int m = 0; m < rs->models.n; m++) {
        double mean[METRIC_COUNT], sd[METRIC_COUNT];
        int n = 0;
        for (int k = 0; k < METRIC_COUNT; k++)
            n = metric_stats(rs, m, eps, k, &mean[k], &sd[k]);
        if (n == 0)
            continue;
        fprintf(f, "%d \"%s\"", rows++, rs->models.v[m]);
        for (int k = 0; k < METRIC_COUNT; k++)
            fprintf(f, " %.6g %.6g", mean[k], isnan(sd[k]) ? 0 : sd[k]);
        for (int k = 0; k < METRIC_COUNT; k++) {
            const comparison *c = compare_find(cs, m, eps, k);
            fprintf(f, " \"%s\"", c ? p_marks(c->t.p) : "");
        }
        fputc('\n', f);
    }
    fclose(f);
    if (rows == 0) {
        snprintf(why, whylen, "no results at eps %g/255", eps);
        goto out;
    }
    f = open_in(dir, gp, why, whylen);
    if (!f)
        goto out;
    script_begin(f, name, 1000, 560);
    fprintf(f, "set title \"eps %g/255: mean and standard deviation over "
            "seeds\\nmarks: one-sided paired t-test against the baseline "
            "(*** p<0.01, ** p<0.05, * p<0.1)\"\n", eps);
    fprintf(f, "set style fill solid 0.85 border -1\nset boxwidth 0.25\n"
            "set yrange [0:1.15]\nset xrange [-0.6:%d.6]\nset ytics 0.1\n"
            "set grid ytics\nset key top center horizontal\n"
            "set xtics rotate by -25 nomirror\n", rows - 1);
    fprintf(f, "plot '%s' using ($1-0.27):3:4:xtic(2) with boxerrorbars "
            "lc rgb '#4477aa' title 'clean acc', \\\n"
            "     '' using 1:5:6 with boxerrorbars lc rgb '#ee6677' title "
            "'robust acc', \\\n"
            "     '' using ($1+0.27):7:8 with boxerrorbars lc rgb '#ccbb44' "
            "title 'attack success', \\\n"
            "     '' using ($1-0.27):($3+$4+0.03):9 with labels notitle, \\\n"
            "     '' using 1:($5+$6+0.03):10 with labels notitle, \\\n"
            "     '' using ($1+0.27):($7+$8+0.03):11 with labels notitle\n", dat);
    script_end(f, name, 1000, 560);
    fclose(f);
    rc = gnuplot_run(dir, name, why, whylen);
out:
    free(name);
    free(dat);
    free(gp);
    return rc;
}

int plot_success(const runs *rs, const double *eps, int neps,
                 const char *dir, char *why, size_t whylen)
{
    FILE *f = open_in(dir, "success.dat", why, whylen);
    if (!f)
        return -1;
    strvec drawn = { 0 };
    fprintf(f, "# one block per model: eps mean_success sd (sample standard "
            "deviation over seeds) seeds\n");
    for (int m = 0; m < rs->models.n; m++) {
        int any = 0;
        for (int e = 0; e < neps; e++) {
            double mean, sd;
            int n = metric_stats(rs, m, eps[e], METRIC_SUCCESS, &mean, &sd);
            if (n == 0)
                continue;
            if (!any)
                fprintf(f, "%s# %s\n", drawn.n ? "\n\n" : "", rs->models.v[m]);
            any = 1;
            fprintf(f, "%g %.6g %.6g %d\n", eps[e], mean, isnan(sd) ? 0 : sd, n);
        }
        if (any)
            strvec_push(&drawn, rs->models.v[m]);
    }
    fclose(f);
    if (drawn.n == 0) {
        snprintf(why, whylen, "no results");
        strvec_free(&drawn);
        return -1;
    }
    f = open_in(dir, "success.gp", why, whylen);
    if (!f) {
        strvec_free(&drawn);
        return -1;
    }
    script_begin(f, "success", 900, 600);
    fprintf(f, "set title 'Attack success against eps: mean and standard "
            "deviation over seeds'\nset xlabel 'eps (1/255)'\n"
            "set ylabel 'attack success'\nset yrange [0:1.05]\n"
            "set key outside right\nset grid\nset xtics (");
    for (int e = 0; e < neps; e++)
        fprintf(f, "%s%g", e ? ", " : "", eps[e]);
    fprintf(f, ")\nset xrange [%g:%g]\nplot ", eps[0] - 1, eps[neps - 1] + 1);
    for (int i = 0; i < drawn.n; i++)
        /* a small sideways shift keeps the error bars apart */
        fprintf(f, "%s'success.dat' index %d using ($1+%.3f):2:3 with "
                "yerrorlines lw 1.5 pt 7 ps 0.6 lc rgb '%s' title '%s'",
                i ? ", \\\n     " : "", i, 0.08 * (i - 0.5 * (drawn.n - 1)),
                colours[i % NCOLOURS], drawn.v[i]);
    fputc('\n', f);
    script_end(f, "success", 900, 600);
    fclose(f);
    strvec_free(&drawn);
    return gnuplot_run(dir, "success", why, whylen);
}

int plot_strong(const runs *rs, const double *eps, int neps, const char *pgd,
                const char *dir, char *why, size_t whylen)
{
    FILE *f = open_in(dir, "strong.dat", why, whylen);
    if (!f)
        return -1;
    fprintf(f, "# x label pgd_robust sd strong_robust sd gap (mean over the "
            "seeds with both; sd: sample standard deviation) seeds\n");
    int rows = 0;
    for (int e = 0; e < neps; e++)
        for (int m = 0; m < rs->models.n; m++) {
            robust_gap rg;
            if (runs_robust_gap(rs, m, eps[e], &rg) == 0)
                continue;
            fprintf(f, "%d \"%s eps %g\" %.6g %.6g %.6g %.6g \"%+.3f\" %d\n",
                    rows++, rs->models.v[m], eps[e], rg.pgd,
                    isnan(rg.pgd_sd) ? 0 : rg.pgd_sd, rg.strong,
                    isnan(rg.strong_sd) ? 0 : rg.strong_sd, rg.gap, rg.n);
        }
    fclose(f);
    if (rows == 0) {
        snprintf(why, whylen, "no run has both evaluations");
        return -1;
    }
    f = open_in(dir, "strong.gp", why, whylen);
    if (!f)
        return -1;
    int w = 240 + 110 * rows;
    w = w < 800 ? 800 : w;
    script_begin(f, "strong", w, 560);
    fprintf(f, "set title \"Robust accuracy, %s beside the strong evaluation "
            "(AutoAttack)\\nmean and standard deviation over seeds; above "
            "each pair: %s minus strong\"\n", pgd, pgd);
    fprintf(f, "set style fill solid 0.85 border -1\nset boxwidth 0.36\n"
            "set yrange [0:*]\nset offsets 0, 0, 0.08, 0\n"
            "set xrange [-0.6:%d.6]\nset grid ytics\n"
            "set ylabel 'robust accuracy'\nset key top right\n"
            "set xtics rotate by -25 nomirror\n", rows - 1);
    fprintf(f, "plot 'strong.dat' using ($1-0.19):3:4:xtic(2) with "
            "boxerrorbars lc rgb '#4477aa' title '%s', \\\n"
            "     '' using ($1+0.19):5:6 with boxerrorbars lc rgb '#ee6677' "
            "title 'strong (AutoAttack)', \\\n"
            "     '' using 1:(($3+$4 > $5+$6 ? $3+$4 : $5+$6)+0.02):7 with "
            "labels notitle\n", pgd);
    script_end(f, "strong", w, 560);
    fclose(f);
    return gnuplot_run(dir, "strong", why, whylen);
}

/* A montage of the first channels, each scaled to [0,1], as a gnuplot
 * matrix file. */
static int write_montage(const char *path, const float *x, int c, int h, int w)
{
    int maps = c < FEATURE_MAPS ? c : FEATURE_MAPS;
    int cols = (int)ceil(sqrt((double)maps)), rows = (maps + cols - 1) / cols;
    int W = cols * (w + 1) - 1, H = rows * (h + 1) - 1;
    double *img = xmalloc((size_t)W * H * sizeof *img);
    for (size_t i = 0; i < (size_t)W * H; i++)
        img[i] = 1.0;   /* white between and after the maps */
    for (int k = 0; k < maps; k++) {
        const float *ch = x + (size_t)k * h * w;
        float lo = ch[0], hi = ch[0];
        for (int i = 0; i < h * w; i++) {
            lo = ch[i] < lo ? ch[i] : lo;
            hi = ch[i] > hi ? ch[i] : hi;
        }
        int r0 = k / cols * (h + 1), c0 = k % cols * (w + 1);
        for (int i = 0; i < h; i++)
            for (int j = 0; j < w; j++)
                img[(size_t)(r0 + i) * W + c0 + j] =
                    hi > lo ? (ch[i * w + j] - lo) / (hi - lo) : 0.5;
    }
    FILE *f = fopen(path, "w");
    if (!f) {
        free(img);
        return -1;
    }
    /* gnuplot draws row 0 at the bottom: write the image upside down */
    for (int i = H - 1; i >= 0; i--)
        for (int j = 0; j < W; j++)
            fprintf(f, "%.4f%c", img[(size_t)i * W + j], j + 1 < W ? ' ' : '\n');
    free(img);
    return fclose(f);
}

static int features_of(const runs *rs, const grid *g, int m, const char *dir,
                       char *why, size_t whylen)
{
    const run_row *best = NULL;
    for (int i = 0; i < rs->n; i++) {
        const run_row *r = &rs->r[i];
        if (!r->ok || r->model != m || !r->cell[0])
            continue;
        if (!isnan(r->train_eps) && r->train_eps != g->loss_eps)
            continue;
        if (!best || r->seed < best->seed)
            best = r;
    }
    if (!best) {
        snprintf(why, whylen, "no finished run");
        return -1;
    }
    const char *model = rs->models.v[m];
    char *celldir = path_join(rs->dir, best->cell);
    char *checkpoint = path_join(celldir, "checkpoint.safetensors");
    char *binary = path_join(g->bin, model);
    char *npy = xasprintf("%s/features-%s.npy", dir, model);
    char *log = path_join(dir, "features.log");
    int rc = -1;
    strvec argv = { 0 };
    strvec_push(&argv, binary);
    strvec_push(&argv, "features");
    strvec_push(&argv, "--checkpoint");
    strvec_push(&argv, checkpoint);
    strvec_push(&argv, "--index");
    strvec_pushf(&argv, "%d", g->feature_index);
    if (g->dataset) {       /* else the spec's, the binary's default */
        strvec_push(&argv, "--dataset");
        strvec_push(&argv, g->dataset);
    }
    strvec_push(&argv, "--out");
    strvec_push(&argv, npy);
    int log_fd = open(log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0666);
    int status = access(binary, X_OK) == 0 ? proc_run(argv.v, log_fd) : -2;
    if (log_fd >= 0)
        close(log_fd);
    if (status == -2)
        snprintf(why, whylen, "no binary %s", binary);
    else if (status < 0 || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        char *d = proc_describe(status);
        snprintf(why, whylen, "`%s features` failed (%s; see %s)", model, d, log);
        free(d);
    } else {
        real_t *data;
        int ndim, shape[8];
        char err[512];
        if (npy_read(npy, &data, &ndim, shape, err, sizeof err) != 0)
            snprintf(why, whylen, "%s", err);
        else if (ndim != 3)
            snprintf(why, whylen, "%s: %d dimensions, expected [C][H][W]", npy, ndim);
        else {
            size_t count = (size_t)shape[0] * shape[1] * shape[2];
            float *x = xmalloc(count * sizeof *x);
            for (size_t i = 0; i < count; i++)
                x[i] = (float)data[i];
            char *mat = xasprintf("%s/features-%s.dat", dir, model);
            rc = write_montage(mat, x, shape[0], shape[1], shape[2]);
            if (rc != 0)
                snprintf(why, whylen, "%s: %s", mat, strerror(errno));
            free(mat);
            free(x);
            free(data);
        }
    }
    strvec_free(&argv);
    free(celldir);
    free(checkpoint);
    free(binary);
    free(npy);
    free(log);
    return rc;
}

int plot_features(const runs *rs, const grid *g, const char *dir,
                  char **missing, char *why, size_t whylen)
{
    strvec drawn = { 0 };
    char *miss = NULL;
    for (int m = 0; m < rs->models.n; m++) {
        char reason[600];
        if (features_of(rs, g, m, dir, reason, sizeof reason) == 0) {
            strvec_push(&drawn, rs->models.v[m]);
            continue;
        }
        char *next = xasprintf("%s%s%s (%s)", miss ? miss : "", miss ? "; " : "",
                               rs->models.v[m], reason);
        free(miss);
        miss = next;
    }
    *missing = miss;
    if (drawn.n == 0) {
        snprintf(why, whylen, "no model wrote its feature maps");
        strvec_free(&drawn);
        return -1;
    }
    int cols = (int)ceil(sqrt((double)drawn.n));
    int rows = (drawn.n + cols - 1) / cols;
    FILE *f = open_in(dir, "features.gp", why, whylen);
    if (!f) {
        strvec_free(&drawn);
        return -1;
    }
    int W = 300 * cols, H = 300 * rows + 40;
    fprintf(f, "# features.gp - written by advcc-study report\n");
    for (int pass = 0; pass < 2; pass++) {
        if (pass == 0)
            fprintf(f, "set terminal pngcairo size %d,%d noenhanced font ',10'\n"
                    "set output 'features.png'\n", W, H);
        else
            fprintf(f, "set terminal svg size %d,%d dynamic noenhanced font ',10'\n"
                    "set output 'features.svg'\n", W, H);
        fprintf(f, "set palette gray\nunset colorbox\nunset xtics\nunset ytics\n"
                "unset border\nset size ratio -1\n"
                "set multiplot layout %d,%d title 'First conv block, test image "
                "%d (first %d channels, each scaled to its range)'\n",
                rows, cols, g->feature_index, FEATURE_MAPS);
        for (int i = 0; i < drawn.n; i++)
            fprintf(f, "set title '%s'\nplot 'features-%s.dat' matrix with "
                    "image notitle\n", drawn.v[i], drawn.v[i]);
        fprintf(f, "unset multiplot\n");
    }
    fclose(f);
    strvec_free(&drawn);
    return gnuplot_run(dir, "features", why, whylen);
}
