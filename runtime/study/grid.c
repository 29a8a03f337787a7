/* grid.c - the grid file reader.  A line is split into words; the first
 * names the setting.  Settings that name models are checked once the whole
 * file is read, so their order in the file does not matter, but their
 * errors still point at their own lines. */
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <float.h>
#include <sys/stat.h>
#include "fsutil.h"
#include "grid.h"
#include "numparse.h"

typedef struct parser {
    grid *g;
    const char *file;
    int line;
    char *err;
    size_t errlen;
    int seen[32];           /* line of each single-valued key, 0 if unseen */
    int *args_line;         /* line of each train_args/eval_args */
} parser;

static int error_at(parser *ps, int line, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    snprintf(ps->err, ps->errlen, "%s:%d: error: %s", ps->file, line, msg);
    return -1;
}

#define error(ps, ...) error_at((ps), (ps)->line, __VA_ARGS__)

/* Letters, digits, '_', '-' and '.', not starting with '.' (".." would
 * climb out of the cell directory). */
static int valid_name(const char *s)
{
    if (!*s || *s == '.')
        return 0;
    for (; *s; s++)
        if (!isalnum((unsigned char)*s) && *s != '_' && *s != '-' && *s != '.')
            return 0;
    return 1;
}

static int parse_int(parser *ps, const char *key, const char *word, int min,
                     int *out)
{
    char why[96];
    long v;
    if (num_parse_long(word, INT_MIN, INT_MAX, &v, why, sizeof why) != 0)
        return error(ps, "'%s': '%s' is not a whole number (it %s)", key, word,
                     why);
    if (v < min)
        return error(ps, "'%s': %ld is below %d", key, v, min);
    *out = (int)v;
    return 0;
}

/* A budget in 1/255: "8", "8/255" or "0.5". */
static int parse_budget(parser *ps, const char *key, const char *word,
                        double *out)
{
    char num[64], why[96];
    size_t len = strlen(word);
    if (len > 4 && !strcmp(word + len - 4, "/255"))
        len -= 4;
    if (len >= sizeof num)
        return error(ps, "'%s': '%.40s...' is not a number", key, word);
    memcpy(num, word, len);
    num[len] = 0;
    double v;
    if (num_parse(num, 0, -DBL_MAX, DBL_MAX, &v, why, sizeof why) != 0)
        return error(ps, "'%s': '%s' is not a number of 1/255 steps (%s %s)", key,
                     word, num, why);
    if (!(v > 0 && v <= 255))
        return error(ps, "'%s': %s is outside (0, 255]", key, word);
    *out = v;
    return 0;
}

static int compare_ints(const void *a, const void *b)
{
    int x = *(const int *)a, y = *(const int *)b;
    return (x > y) - (x < y);
}

/* The seed (>= 0) whose second listing comes first in list, or -1: in
 * n log n, a sorted copy answering "seen before?". */
static int first_repeat(const int *list, int n)
{
    if (n < 2)
        return -1;
    int *sorted = xmalloc((size_t)n * sizeof *sorted);
    char *seen = xcalloc((size_t)n, 1);
    memcpy(sorted, list, (size_t)n * sizeof *sorted);
    qsort(sorted, (size_t)n, sizeof *sorted, compare_ints);
    int found = -1;
    for (int i = 0; i < n; i++) {
        const int *at = bsearch(&list[i], sorted, (size_t)n, sizeof *sorted, compare_ints);
        size_t k = (size_t)(at - sorted);
        while (k > 0 && sorted[k - 1] == list[i])
            k--;
        if (seen[k]) {
            found = list[i];
            break;
        }
        seen[k] = 1;
    }
    free(seen);
    free(sorted);
    return found;
}

static int parse_seeds(parser *ps, char **w, int n)
{
    grid *g = ps->g;
    int cap = 0;
    for (int i = 0; i < n; i++) {
        int lo, hi;
        char *dash = strchr(w[i] + 1, '-');
        if (dash) {
            *dash = '\0';
            int rc = parse_int(ps, "seeds", w[i], 0, &lo);
            *dash = '-';
            if (rc || parse_int(ps, "seeds", dash + 1, 0, &hi))
                return -1;
            if (hi < lo)
                return error(ps, "'seeds': empty range '%s'", w[i]);
        } else {
            if (parse_int(ps, "seeds", w[i], 0, &lo))
                return -1;
            hi = lo;
        }
        if (hi - lo > 100000 || g->nseeds > 1000000)
            return error(ps, "'seeds': range '%s' is too long", w[i]);
        for (int s = lo; s <= hi; s++) {
            if (g->nseeds == cap) {
                cap = cap ? 2 * cap : 16;
                g->seeds = xrealloc(g->seeds, (size_t)cap * sizeof *g->seeds);
            }
            g->seeds[g->nseeds++] = s;
        }
    }
    int twice = first_repeat(g->seeds, g->nseeds);
    if (twice >= 0)
        return error(ps, "'seeds': seed %d listed twice", twice);
    return 0;
}

/* A list of distinct budgets (eps, strong_eps). */
static int parse_budgets(parser *ps, const char *key, char **w, int n,
                         double **out, int *nout)
{
    double *list = xmalloc((size_t)n * sizeof *list);
    *out = list;
    *nout = 0;
    for (int i = 0; i < n; i++) {
        double e;
        if (parse_budget(ps, key, w[i], &e))
            return -1;
        for (int k = 0; k < *nout; k++)
            if (list[k] == e)
                return error(ps, "'%s': %s listed twice", key, w[i]);
        list[(*nout)++] = e;
    }
    return 0;
}

static int parse_flag(parser *ps, const char *key, const char *word, int *out)
{
    if (parse_int(ps, key, word, 0, out))
        return -1;
    if (*out > 1)
        return error(ps, "'%s': '%s' is not 0 or 1", key, word);
    return 0;
}

static int parse_models(parser *ps, char **w, int n)
{
    grid *g = ps->g;
    for (int i = 0; i < n; i++) {
        if (!valid_name(w[i]))
            return error(ps, "'models': '%s' is not a model name", w[i]);
        if (grid_model_index(g, w[i]) >= 0)
            return error(ps, "'models': '%s' listed twice", w[i]);
        strvec_push(&g->models, w[i]);
    }
    return 0;
}

static int one_of(parser *ps, const char *key, const char *word,
                  const char *const *choices)
{
    for (int i = 0; choices[i]; i++)
        if (!strcmp(word, choices[i]))
            return 0;
    char list[128] = "";
    for (int i = 0; choices[i]; i++)
        snprintf(list + strlen(list), sizeof list - strlen(list), "%s%s",
                 i ? ", " : "", choices[i]);
    return error(ps, "'%s': '%s' is not one of %s", key, word, list);
}

enum key {
    K_NAME, K_MODELS, K_ADVERSARIAL, K_SEEDS, K_EPS, K_EPOCHS, K_TRAIN_LIMIT,
    K_TEST_LIMIT, K_DATASET, K_THREADS, K_JOBS, K_BATCH, K_LR, K_ALPHA,
    K_STEPS, K_RESTARTS, K_INIT, K_EOT, K_BIN, K_OUT, K_THROTTLE, K_LOSS_EPS,
    K_FEATURE_INDEX, K_CERTIFY, K_STRONG, K_STRONG_LIMIT, K_STRONG_EPS,
    K_STRONG_QUICK, K_BASELINE,
    K_SINGLE_VALUED_END,
    K_TRAIN_ARGS = K_SINGLE_VALUED_END, K_EVAL_ARGS, K_SBATCH
};

static const char *const key_names[] = {
    "name", "models", "adversarial", "seeds", "eps", "epochs", "train_limit",
    "test_limit", "dataset", "threads", "jobs", "batch", "lr", "alpha",
    "steps", "restarts", "init", "eot", "bin", "out", "throttle", "loss_eps",
    "feature_index", "certify", "strong", "strong_limit", "strong_eps",
    "strong_quick", "baseline", "train_args", "eval_args", "sbatch", NULL
};

const char *const grid_strong_names[] = {
    "off", "auto", "standard", "rand", NULL
};

static int parse_line(parser *ps, char **w, int n)
{
    grid *g = ps->g;
    static const char *const datasets[] = { "cifar10", "fashion-mnist", NULL };
    static const char *const inits[] = { "gaussian", "uniform", "none", NULL };
    int key = -1;
    for (int i = 0; key_names[i]; i++)
        if (!strcmp(w[0], key_names[i]))
            key = i;
    if (key < 0)
        return error(ps, "unknown setting '%s'", w[0]);
    if (key == K_ADVERSARIAL)
        return error(ps, "'adversarial' is no longer a grid setting: the "
                     "spec's `train adversarial` decides which models train "
                     "adversarially (the study reads it from MODEL info "
                     "--json); remove this line");
    if (key < K_SINGLE_VALUED_END) {
        if (ps->seen[key])
            return error(ps, "'%s' set twice (first at line %d)", w[0],
                         ps->seen[key]);
        ps->seen[key] = ps->line;
    }
    int lists = key == K_MODELS || key == K_SEEDS ||
                key == K_EPS || key == K_STRONG_EPS;
    if (n < 2)
        return error(ps, "'%s' needs a value", w[0]);
    if (!lists && key < K_SINGLE_VALUED_END && n > 2)
        return error(ps, "'%s' takes one value, not %d", w[0], n - 1);
    const char *v = w[1];
    switch (key) {
    case K_NAME:
        if (!valid_name(v))
            return error(ps, "'name': '%s' has characters other than letters, "
                         "digits, '_', '-' and '.', or starts with '.'", v);
        free(g->name);
        g->name = xstrdup(v);
        return 0;
    case K_MODELS:       return parse_models(ps, w + 1, n - 1);
    case K_SEEDS:        return parse_seeds(ps, w + 1, n - 1);
    case K_EPS:
        return parse_budgets(ps, w[0], w + 1, n - 1, &g->eps, &g->neps);
    case K_STRONG_EPS:
        return parse_budgets(ps, w[0], w + 1, n - 1, &g->strong_eps,
                             &g->nstrong_eps);
    case K_EPOCHS:       return parse_int(ps, w[0], v, 1, &g->epochs);
    case K_TRAIN_LIMIT:  return parse_int(ps, w[0], v, 0, &g->train_limit);
    case K_TEST_LIMIT:   return parse_int(ps, w[0], v, 0, &g->test_limit);
    case K_THREADS:      return parse_int(ps, w[0], v, 1, &g->threads);
    case K_JOBS:         return parse_int(ps, w[0], v, 1, &g->jobs);
    case K_BATCH:        return parse_int(ps, w[0], v, 1, &g->batch);
    case K_STEPS:        return parse_int(ps, w[0], v, 0, &g->steps);
    case K_RESTARTS:     return parse_int(ps, w[0], v, 1, &g->restarts);
    case K_EOT:          return parse_int(ps, w[0], v, 1, &g->eot);
    case K_THROTTLE:     return parse_int(ps, w[0], v, 1, &g->throttle);
    case K_FEATURE_INDEX: return parse_int(ps, w[0], v, 0, &g->feature_index);
    case K_CERTIFY:      return parse_flag(ps, w[0], v, &g->certify);
    case K_STRONG_QUICK: return parse_flag(ps, w[0], v, &g->strong_quick);
    case K_STRONG_LIMIT: return parse_int(ps, w[0], v, 0, &g->strong_limit);
    case K_STRONG:
        if (one_of(ps, w[0], v, grid_strong_names))
            return -1;
        for (int i = 0; grid_strong_names[i]; i++)
            if (!strcmp(v, grid_strong_names[i]))
                g->strong = i;
        return 0;
    case K_ALPHA:        return parse_budget(ps, w[0], v, &g->alpha);
    case K_LOSS_EPS:     return parse_budget(ps, w[0], v, &g->loss_eps);
    case K_LR: {
        char why[96];
        double lr;
        if (num_parse(v, NUM_LO_OPEN, 0, 1e6, &lr, why, sizeof why) != 0)
            return error(ps, "'lr': '%s' is not a positive number up to 1e6 (it %s)", v,
                         why);
        g->lr = xstrdup(v);
        return 0;
    }
    case K_DATASET:
        if (one_of(ps, w[0], v, datasets))
            return -1;
        free(g->dataset);
        g->dataset = xstrdup(v);
        return 0;
    case K_INIT:
        if (one_of(ps, w[0], v, inits))
            return -1;
        free(g->init);
        g->init = xstrdup(v);
        return 0;
    case K_BIN:
        g->bin = xstrdup(v);
        return 0;
    case K_OUT:
        g->out = xstrdup(v);
        return 0;
    case K_BASELINE:
        free(g->baseline);
        g->baseline = xstrdup(v);
        return 0;
    case K_TRAIN_ARGS:
    case K_EVAL_ARGS: {
        if (n < 3)
            return error(ps, "'%s' needs a model (or *) and arguments", w[0]);
        g->args = xrealloc(g->args, (size_t)(g->nargs + 1) * sizeof *g->args);
        ps->args_line = xrealloc(ps->args_line,
                                 (size_t)(g->nargs + 1) * sizeof *ps->args_line);
        grid_args *a = &g->args[g->nargs];
        ps->args_line[g->nargs++] = ps->line;
        memset(a, 0, sizeof *a);
        a->model = xstrdup(v);
        a->eval = key == K_EVAL_ARGS;
        for (int i = 2; i < n; i++)
            strvec_push(&a->argv, w[i]);
        return 0;
    }
    case K_SBATCH:
        for (int i = 1; i < n; i++)
            strvec_push(&g->sbatch, w[i]);
        return 0;
    }
    return error(ps, "unhandled setting '%s'", w[0]);
}

/* Checks that need the whole file. */
static int check_grid(parser *ps, int last_line)
{
    grid *g = ps->g;
    static const struct { int key; const char *what; } required[] = {
        { K_MODELS, "models" }, { K_SEEDS, "seeds" }, { K_EPS, "eps" },
    };
    for (size_t i = 0; i < sizeof required / sizeof required[0]; i++)
        if (!ps->seen[required[i].key])
            return error_at(ps, last_line, "no '%s' line (a grid needs "
                            "models, seeds and eps)", required[i].what);
    g->adversarial = xcalloc((size_t)g->models.n, 1);
    for (int i = 0; i < g->nargs; i++)
        if (strcmp(g->args[i].model, "*") &&
            grid_model_index(g, g->args[i].model) < 0)
            return error_at(ps, ps->args_line[i], "'%s': '%s' is not in "
                            "'models'", g->args[i].eval ? "eval_args" :
                            "train_args", g->args[i].model);
    if (g->baseline && grid_model_index(g, g->baseline) < 0)
        return error_at(ps, ps->seen[K_BASELINE], "'baseline': '%s' is not in "
                        "'models'", g->baseline);
    if (ps->seen[K_STRONG_EPS]) {
        for (int k = 0; k < g->nstrong_eps; k++) {
            int found = 0;
            for (int e = 0; e < g->neps; e++)
                found |= g->eps[e] == g->strong_eps[k];
            if (!found)
                return error_at(ps, ps->seen[K_STRONG_EPS], "'strong_eps': "
                                "%g is not in 'eps' (the strong evaluation "
                                "attacks the cells' checkpoints at their eps)",
                                g->strong_eps[k]);
        }
    } else {
        g->strong_eps = xmalloc((size_t)g->neps * sizeof *g->strong_eps);
        memcpy(g->strong_eps, g->eps, (size_t)g->neps * sizeof *g->eps);
        g->nstrong_eps = g->neps;
    }
    if (!ps->seen[K_LOSS_EPS]) {
        /* the seed's default budget when the grid has it, else the
         * middle one */
        g->loss_eps = g->eps[g->neps / 2];
        for (int k = 0; k < g->neps; k++)
            if (g->eps[k] == 8)
                g->loss_eps = 8;
    }
    if (!g->out)
        g->out = xasprintf("out/%s", g->name);
    return 0;
}

static void grid_defaults(grid *g, const char *name)
{
    memset(g, 0, sizeof *g);
    g->path = xstrdup(name);
    const char *base = strrchr(name, '/');
    base = base ? base + 1 : name;
    size_t len = strlen(base);
    if (len > 5 && !strcmp(base + len - 5, ".grid"))
        len -= 5;
    g->name = xstrndup(base, len);
    g->threads = 1;
    g->steps = -1;              /* the other overrides are unset at 0 */
    g->bin = NULL;
    g->strong = GRID_STRONG_OFF;
    g->strong_limit = 1000;
}

int grid_parse(grid *g, const char *text, const char *name,
               char *err, size_t errlen)
{
    grid_defaults(g, name);
    parser ps = { .g = g, .file = name, .err = err, .errlen = errlen };
    const char *p = text;
    int rc = 0;
    while (*p && rc == 0) {
        ps.line++;
        const char *eol = strchr(p, '\n');
        size_t len = eol ? (size_t)(eol - p) : strlen(p);
        char *line = xstrndup(p, len);
        p += len + (eol != NULL);
        char *hash = strchr(line, '#');
        if (hash)
            *hash = '\0';
        strvec words = { 0 };
        for (char *save = NULL, *w = strtok_r(line, " \t\r", &save); w;
             w = strtok_r(NULL, " \t\r", &save))
            strvec_push(&words, w);
        if (words.n > 0)
            rc = parse_line(&ps, words.v, words.n);
        strvec_free(&words);
        free(line);
    }
    if (rc == 0)
        rc = check_grid(&ps, ps.line > 0 ? ps.line : 1);
    if (rc == 0 && !g->bin)
        g->bin = xstrdup("build/bin");
    free(ps.args_line);
    if (rc != 0)
        grid_free(g);
    return rc;
}

int grid_load(grid *g, const char *path, char *err, size_t errlen)
{
    struct stat st;
    if (stat(path, &st) == 0 && S_ISDIR(st.st_mode)) {
        memset(g, 0, sizeof *g);
        snprintf(err, errlen, "%s: error: is a directory, not a grid file", path);
        return -1;
    }
    size_t len;
    char *text = file_read(path, &len);
    if (!text) {
        memset(g, 0, sizeof *g);
        snprintf(err, errlen, "%s: error: %s", path, strerror(errno));
        return -1;
    }
    const char *nul = memchr(text, 0, len);
    if (nul) {
        int line = 1;
        for (const char *q = text; q < nul; q++)
            line += *q == '\n';
        memset(g, 0, sizeof *g);
        snprintf(err, errlen, "%s:%d: error: a NUL byte at offset %zu (not a text file)",
                 path, line, (size_t)(nul - text));
        free(text);
        return -1;
    }
    int rc = grid_parse(g, text, path, err, errlen);
    free(text);
    return rc;
}

void grid_free(grid *g)
{
    free(g->path);
    free(g->name);
    for (int m = 0; g->desc && m < g->models.n; m++)
        model_desc_free(&g->desc[m]);
    free(g->desc);
    strvec_free(&g->models);
    free(g->adversarial);
    free(g->seeds);
    free(g->eps);
    free(g->strong_eps);
    free(g->lr);
    free(g->dataset);
    free(g->init);
    free(g->bin);
    free(g->out);
    free(g->baseline);
    for (int i = 0; i < g->nargs; i++) {
        free(g->args[i].model);
        strvec_free(&g->args[i].argv);
    }
    free(g->args);
    strvec_free(&g->sbatch);
    memset(g, 0, sizeof *g);
}

int grid_model_index(const grid *g, const char *model)
{
    for (int i = 0; i < g->models.n; i++)
        if (!strcmp(g->models.v[i], model))
            return i;
    return -1;
}

void grid_append_args(const grid *g, const char *model, int eval, strvec *argv)
{
    for (int i = 0; i < g->nargs; i++) {
        const grid_args *a = &g->args[i];
        if (a->eval != eval || (strcmp(a->model, "*") && strcmp(a->model, model)))
            continue;
        for (int k = 0; k < a->argv.n; k++)
            strvec_push(argv, a->argv.v[k]);
    }
}

void grid_model_settings(const grid *g, int model, model_settings *s)
{
    const model_desc *d = g->desc && model >= 0 ? &g->desc[model] : NULL;
    s->epochs = g->epochs ? g->epochs : d ? d->epochs : 10;
    s->dataset = g->dataset ? g->dataset : d ? d->dataset : "cifar10";
    s->alpha = g->alpha > 0 ? g->alpha : d ? d->alpha_255 : 2;
    s->steps = g->steps >= 0 ? g->steps : d ? d->steps : 4;
    s->restarts = g->restarts ? g->restarts : d ? d->restarts : 1;
    s->eot = g->eot ? g->eot : d ? d->eot : 1;
    s->init = g->init ? g->init : d ? d->init : "gaussian";
}

int grid_train_images(const grid *g, int model)
{
    model_settings s;
    grid_model_settings(g, model, &s);
    int all = !strcmp(s.dataset, "fashion-mnist") ? 60000 : 50000;
    return g->train_limit > 0 && g->train_limit < all ? g->train_limit : all;
}

int grid_test_images(const grid *g)
{
    return g->test_limit > 0 && g->test_limit < 10000 ? g->test_limit : 10000;
}

int grid_strong_at(const grid *g, double eps)
{
    if (g->strong == GRID_STRONG_OFF)
        return 0;
    for (int k = 0; k < g->nstrong_eps; k++)
        if (g->strong_eps[k] == eps)
            return 1;
    return 0;
}

int grid_strong_limit(const grid *g)
{
    return g->strong_limit > 0 ? g->strong_limit : g->test_limit;
}
