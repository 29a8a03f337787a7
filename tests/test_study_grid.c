/* test_study_grid.c - the grid file (settings, defaults, every error with
 * its file:line), the cells a grid makes (adversarially trained models
 * once per seed and eps, the others once per seed), and the small readers
 * the study relies on (JSON members, CSV fields, Slurm array ranges). */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>
#include "cells.h"
#include "csv.h"
#include "grid.h"
#include "json.h"
#include "slurm.h"

static void test_seed_grid(void **state)
{
    (void)state;
    grid g;
    char err[512];
    if (grid_load(&g, "examples/study/seed.grid", err, sizeof err) != 0)
        fail_msg("%s", err);
    assert_int_equal(g.models.n, 9);
    assert_string_equal(g.models.v[0], "baseline");
    assert_int_equal(g.nseeds, 10);
    for (int s = 0; s < 10; s++)
        assert_int_equal(g.seeds[s], s);
    assert_int_equal(g.neps, 4);
    const double eps[4] = { 4, 8, 12, 16 };
    for (int e = 0; e < 4; e++)
        assert_true(g.eps[e] == eps[e]);
    /* the epochs, data set and attack are the specs' */
    assert_int_equal(g.epochs, 0);
    assert_null(g.dataset);
    assert_int_equal(g.steps, -1);
    assert_int_equal(g.train_limit, 0);
    assert_int_equal(g.test_limit, 0);
    /* which models train adversarially is the descriptions' to say */
    for (int m = 0; m < g.models.n; m++)
        assert_false(g.adversarial[m]);
    const char *adv[] = { "adv", "quant_adv", "adv_reg", "quant_adv_reg" };
    for (int i = 0; i < 4; i++)
        g.adversarial[grid_model_index(&g, adv[i])] = 1;
    int n;
    cell *cells = cells_build(&g, &n);
    assert_int_equal(n, 5 * 10 + 4 * 10 * 4);
    free(cells);
    grid_free(&g);
}

static void test_quick_grid(void **state)
{
    (void)state;
    grid g;
    char err[512];
    if (grid_load(&g, "examples/study/quick.grid", err, sizeof err) != 0)
        fail_msg("%s", err);
    assert_int_equal(g.models.n, 9);
    assert_int_equal(g.neps, 4);
    assert_true(g.nseeds >= 3);
    assert_true(g.train_limit > 0);
    grid_free(&g);
}

static void test_settings_and_defaults(void **state)
{
    (void)state;
    grid g;
    char err[512];
    const char *text =
        "# a comment line\n"
        "\n"
        "models baseline adv\n"
        "seeds 3 0-1 7\n"
        "eps 8/255 0.5\n"
        "alpha 1\n"
        "train_args adv --lr 0.01\n"
        "eval_args * --restarts 2\n"
        "sbatch --time=01:00:00\n"
        "sbatch --partition=short\n";
    if (grid_parse(&g, text, "dir/my.grid", err, sizeof err) != 0)
        fail_msg("%s", err);
    assert_string_equal(g.name, "my");
    assert_string_equal(g.out, "out/my");
    assert_string_equal(g.bin, "build/bin");
    assert_int_equal(g.nseeds, 4);
    assert_int_equal(g.seeds[0], 3);
    assert_int_equal(g.seeds[2], 1);
    assert_int_equal(g.seeds[3], 7);
    assert_true(g.eps[0] == 8 && g.eps[1] == 0.5);
    assert_true(g.loss_eps == 8);
    assert_true(g.alpha == 1);
    /* what the grid does not write is the spec's */
    assert_int_equal(g.epochs, 0);
    assert_int_equal(g.steps, -1);
    assert_null(g.init);
    model_settings ms;
    grid_model_settings(&g, 0, &ms);
    assert_true(ms.alpha == 1);
    assert_int_equal(ms.epochs, 10);
    assert_int_equal(ms.steps, 4);
    assert_string_equal(ms.init, "gaussian");
    assert_int_equal(g.sbatch.n, 2);
    strvec a = { 0 };
    grid_append_args(&g, "adv", 0, &a);
    grid_append_args(&g, "baseline", 0, &a);
    assert_int_equal(a.n, 2);
    assert_string_equal(a.v[1], "0.01");
    grid_append_args(&g, "baseline", 1, &a);
    assert_int_equal(a.n, 4);
    assert_string_equal(a.v[2], "--restarts");
    strvec_free(&a);
    assert_int_equal(grid_train_images(&g, 0), 50000);
    assert_int_equal(grid_test_images(&g), 10000);
    assert_int_equal(g.certify, 0);
    /* the strong evaluation is off unless asked for; its defaults */
    assert_int_equal(g.strong, GRID_STRONG_OFF);
    assert_int_equal(g.strong_limit, 1000);
    assert_int_equal(g.strong_quick, 0);
    assert_int_equal(g.nstrong_eps, 2);
    assert_false(grid_strong_at(&g, 8));
    grid_free(&g);
}

static void test_strong_settings(void **state)
{
    (void)state;
    grid g;
    char err[512];
    /* strong_eps before eps: checked once the file is read */
    const char *text = "models a rse\nstrong_eps 8/255 16\nseeds 0\n"
                       "eps 4 8 16\nstrong rand\nstrong_limit 200\n"
                       "strong_quick 1\ntest_limit 500\n";
    if (grid_parse(&g, text, "s.grid", err, sizeof err) != 0)
        fail_msg("%s", err);
    assert_int_equal(g.strong, GRID_STRONG_RAND);
    assert_string_equal(grid_strong_names[g.strong], "rand");
    assert_int_equal(g.strong_limit, 200);
    assert_int_equal(g.strong_quick, 1);
    assert_int_equal(g.nstrong_eps, 2);
    assert_false(grid_strong_at(&g, 4));
    assert_true(grid_strong_at(&g, 8));
    assert_true(grid_strong_at(&g, 16));
    assert_int_equal(grid_strong_limit(&g), 200);
    grid_free(&g);
    /* default eps: the grid's; strong_limit 0: test_limit's */
    if (grid_parse(&g, "models a\nseeds 0\neps 4 8\nstrong auto\nstrong_limit 0\n"
                   "test_limit 300\n", "s.grid", err, sizeof err) != 0)
        fail_msg("%s", err);
    assert_int_equal(g.strong, GRID_STRONG_AUTO);
    assert_true(grid_strong_at(&g, 4) && grid_strong_at(&g, 8));
    assert_int_equal(grid_strong_limit(&g), 300);
    /* the strong evaluation counts in a cell's cost, more when not quick */
    int n;
    cell *cells = cells_build(&g, &n);
    double full = cell_cost(&g, &cells[0]);
    g.strong_quick = 1;
    double quick = cell_cost(&g, &cells[0]);
    g.strong = GRID_STRONG_OFF;
    double none = cell_cost(&g, &cells[0]);
    assert_true(full > quick && quick > none);
    free(cells);
    grid_free(&g);
    if (grid_parse(&g, "models a\nseeds 0\neps 8\nstrong standard\n", "s.grid",
                   err, sizeof err) != 0)
        fail_msg("%s", err);
    assert_int_equal(g.strong, GRID_STRONG_STANDARD);
    assert_int_equal(grid_strong_limit(&g), 1000);
    grid_free(&g);
}

static void test_strong_grid(void **state)
{
    (void)state;
    grid g;
    char err[512];
    if (grid_load(&g, "examples/study/strong.grid", err, sizeof err) != 0)
        fail_msg("%s", err);
    assert_int_equal(g.strong, GRID_STRONG_AUTO);
    assert_int_equal(g.strong_quick, 1);
    assert_true(g.strong_limit > 0 && g.strong_limit <= g.test_limit);
    assert_true(grid_strong_at(&g, 8));
    grid_free(&g);
}

static void test_certify_grid(void **state)
{
    (void)state;
    grid g;
    char err[512];
    if (grid_load(&g, "examples/study/certify.grid", err, sizeof err) != 0)
        fail_msg("%s", err);
    assert_int_equal(g.certify, 1);
    assert_int_equal(g.models.n, 4);
    assert_string_equal(g.bin, "build/variants");
    grid_free(&g);
}

static const struct {
    const char *text, *want;
} bad[] = {
    { "models a\nseeds 0\neps 8\nfoo 1\n", "t.grid:4: error: unknown setting 'foo'" },
    { "models a\nmodels b\n", "t.grid:2: error: 'models' set twice (first at line 1)" },
    { "models a\nseeds 0-x\n", "t.grid:2: error: 'seeds': 'x' is not a whole number" },
    { "seeds 5-2\n", "t.grid:1: error: 'seeds': empty range '5-2'" },
    { "seeds 1 0-3\n", "t.grid:1: error: 'seeds': seed 1 listed twice" },
    { "\n\neps 0\n", "t.grid:3: error: 'eps': 0 is outside (0, 255]" },
    { "eps 8 abc\n", "t.grid:1: error: 'eps': 'abc' is not a number" },
    { "eps 8 8/255\n", "t.grid:1: error: 'eps': 8/255 listed twice" },
    { "eps 8/256\n", "t.grid:1: error: 'eps': '8/256' is not a number of 1/255 steps" },
    { "epochs 0\n", "t.grid:1: error: 'epochs': 0 is below 1" },
    { "epochs 1 2\n", "t.grid:1: error: 'epochs' takes one value, not 2" },
    { "threads\n", "t.grid:1: error: 'threads' needs a value" },
    { "models a/b\n", "t.grid:1: error: 'models': 'a/b' is not a model name" },
    { "models a a\n", "t.grid:1: error: 'models': 'a' listed twice" },
    { "dataset mnist\n", "t.grid:1: error: 'dataset': 'mnist' is not one of cifar10, fashion-mnist" },
    { "init zero\n", "t.grid:1: error: 'init': 'zero' is not one of gaussian, uniform, none" },
    { "lr -1\n", "t.grid:1: error: 'lr': '-1' is not a positive number" },
    { "lr 1e999\n", "t.grid:1: error: 'lr': '1e999' is not a positive number up to 1e6 (it is out of range)" },
    { "lr inf\n", "t.grid:1: error: 'lr': 'inf' is not a positive number up to 1e6 (it is not a decimal number)" },
    { "lr 0x10\n", "t.grid:1: error: 'lr': '0x10' is not a positive number up to 1e6 (it is not a decimal number)" },
    { "eps 0x8\n", "t.grid:1: error: 'eps': '0x8' is not a number of 1/255 steps" },
    { "eps inf\n", "t.grid:1: error: 'eps': 'inf' is not a number of 1/255 steps" },
    { "epochs 0x10\n", "t.grid:1: error: 'epochs': '0x10' is not a whole number" },
    { "epochs 99999999999\n", "t.grid:1: error: 'epochs': '99999999999' is not a whole number" },
    { "models ..\n", "t.grid:1: error: 'models': '..' is not a model name" },
    { "models .hidden\n", "t.grid:1: error: 'models': '.hidden' is not a model name" },
    { "name ..\n", "t.grid:1: error: 'name': '..' has characters other than" },
    { "models a\nseeds 0-100000 5\n", "t.grid:2: error: 'seeds': seed 5 listed twice" },
    { "models a\nseeds 3 1 2 1 3\n", "t.grid:2: error: 'seeds': seed 1 listed twice" },
    { "certify 2\n", "t.grid:1: error: 'certify': '2' is not 0 or 1" },
    { "strong on\n", "t.grid:1: error: 'strong': 'on' is not one of off, auto, standard, rand" },
    { "strong\n", "t.grid:1: error: 'strong' needs a value" },
    { "strong auto rand\n", "t.grid:1: error: 'strong' takes one value, not 2" },
    { "strong auto\nstrong off\n", "t.grid:2: error: 'strong' set twice (first at line 1)" },
    { "strong_limit -1\n", "t.grid:1: error: 'strong_limit': -1 is below 0" },
    { "strong_limit 1e3\n", "t.grid:1: error: 'strong_limit': '1e3' is not a whole number" },
    { "strong_quick 2\n", "t.grid:1: error: 'strong_quick': '2' is not 0 or 1" },
    { "strong_quick yes\n", "t.grid:1: error: 'strong_quick': 'yes' is not a whole number" },
    { "\nstrong_eps 8 8/255\n", "t.grid:2: error: 'strong_eps': 8/255 listed twice" },
    { "strong_eps 0\n", "t.grid:1: error: 'strong_eps': 0 is outside (0, 255]" },
    { "strong_eps\n", "t.grid:1: error: 'strong_eps' needs a value" },
    { "models a\nstrong_eps 4 12\nseeds 0\neps 4 8\n",
      "t.grid:2: error: 'strong_eps': 12 is not in 'eps'" },
    { "models a\nseeds 0\neps 8\nbaseline b\n",
      "t.grid:4: error: 'baseline': 'b' is not in 'models'" },
    { "baseline a b\n", "t.grid:1: error: 'baseline' takes one value, not 2" },
    /* the spec says which models train adversarially */
    { "models a\nseeds 0\neps 8\nadversarial a\n",
      "t.grid:4: error: 'adversarial' is no longer a grid setting: the spec's "
      "`train adversarial` decides" },
    { "models a\nseeds 0\neps 8\ntrain_args z --x 1\n",
      "t.grid:4: error: 'train_args': 'z' is not in 'models'" },
    { "eval_args a\n", "t.grid:1: error: 'eval_args' needs a model (or *) and arguments" },
    { "models a\nseeds 0\n# no eps\n", "t.grid:3: error: no 'eps' line" },
    { "", "t.grid:1: error: no 'models' line" },
};

static void test_errors(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        grid g;
        char err[512] = "";
        int rc = grid_parse(&g, bad[i].text, "t.grid", err, sizeof err);
        if (rc == 0)
            fail_msg("accepted: %s", bad[i].text);
        if (strncmp(err, bad[i].want, strlen(bad[i].want)))
            fail_msg("for %s\ngot:  %s\nwant: %s", bad[i].text, err, bad[i].want);
    }
    grid g;
    char err[512];
    assert_int_equal(grid_load(&g, "/nonexistent/x.grid", err, sizeof err), -1);
    assert_non_null(strstr(err, "/nonexistent/x.grid: error: "));
}

static void test_cells(void **state)
{
    (void)state;
    grid g;
    char err[512];
    const char *text = "models base adv reg\nseeds 0-2\n"
                       "eps 4 8\nout o\n";
    if (grid_parse(&g, text, "c.grid", err, sizeof err) != 0)
        fail_msg("%s", err);
    g.adversarial[1] = 1;   /* as adv's description would say */
    int n;
    cell *cells = cells_build(&g, &n);
    /* base and reg once per seed, adv once per seed and eps */
    assert_int_equal(n, 2 * 3 + 3 * 2);
    int covered[3][3][2] = { { { 0 } } };
    int trained[3][3] = { { 0 } };
    for (int i = 0; i < n; i++) {
        const cell *c = &cells[i];
        assert_int_equal(c->index, i);
        if (i > 0)  /* seed by seed */
            assert_true(cells[i - 1].seed <= c->seed);
        if (g.adversarial[c->model]) {
            assert_int_equal(c->neps, 1);
            assert_true(c->train_eps == g.eps[c->eps_first]);
        } else {
            assert_int_equal(c->neps, 2);
            assert_int_equal(c->adversarial, 0);
        }
        trained[c->model][c->seed]++;
        for (int e = c->eps_first; e < c->eps_first + c->neps; e++)
            covered[c->model][c->seed][e]++;
        for (int j = 0; j < i; j++) {
            char *a = cell_dir(&g, c), *b = cell_dir(&g, &cells[j]);
            assert_string_not_equal(a, b);
            free(a);
            free(b);
        }
    }
    for (int m = 0; m < 3; m++)
        for (int s = 0; s < 3; s++) {
            assert_int_equal(trained[m][s], g.adversarial[m] ? 2 : 1);
            for (int e = 0; e < 2; e++)
                assert_int_equal(covered[m][s][e], 1);
        }
    char *d = cell_dir(&g, &cells[1]);
    assert_string_equal(d, "o/cells/adv/seed0-eps4");
    free(d);
    d = cell_dir(&g, &cells[0]);
    assert_string_equal(d, "o/cells/base/seed0");
    free(d);
    /* adversarial training costs more than plain training */
    assert_true(cell_cost(&g, &cells[1]) > cell_cost(&g, &cells[0]) / 2);
    free(cells);
    grid_free(&g);
}

static void test_array_spec(void **state)
{
    (void)state;
    const int a[] = { 0, 1, 2, 5, 7, 8, 10 };
    char *s = slurm_array_spec(a, 7);
    assert_string_equal(s, "0-2,5,7-8,10");
    free(s);
    s = slurm_array_spec(a, 1);
    assert_string_equal(s, "0");
    free(s);
    s = slurm_array_spec(a, 0);
    assert_string_equal(s, "");
    free(s);
}

static void expect_text(const json_t *o, const char *key, const char *want)
{
    char *v = jobj_text(o, key);
    if (!want)
        assert_null(v);
    else
        assert_string_equal(v, want);
    free(v);
}

static void test_json(void **state)
{
    (void)state;
    char err[256];
    const char *text = "{\"model\":\"adv\", \"acc\": 0.7213, \"n\":10000,"
                       " \"e\": -1.5e-3, \"ok\": true, \"step\": null,"
                       " \"pad\": 0.612300, \"third\": 0.1,"
                       " \"s\": \"a\\\"b\\u00e9\", \"nest\": {\"x\":[1,2]}}";
    json_t *o = jobj_parse(text, "t.json", err, sizeof err);
    if (!o)
        fail_msg("%s", err);
    expect_text(o, "model", "adv");
    expect_text(o, "acc", "0.7213");       /* the shortest exact form */
    expect_text(o, "e", "-0.0015");
    expect_text(o, "pad", "0.6123");
    expect_text(o, "third", "0.1");
    expect_text(o, "n", "10000");
    expect_text(o, "ok", "true");
    expect_text(o, "step", NULL);
    expect_text(o, "missing", NULL);
    expect_text(o, "s", "a\"b\xc3\xa9");
    expect_text(o, "nest", NULL);
    assert_true(jobj_is(o, "model", "adv"));
    assert_false(jobj_is(o, "n", "10000"));
    json_decref(o);
    assert_null(jobj_parse("{\"a\": 1,\n \"b\" 2}", "t.json", err, sizeof err));
    assert_non_null(strstr(err, "t.json:2:"));
    assert_null(jobj_parse("{\"a\": 01x}", "t.json", err, sizeof err));
    assert_null(jobj_parse("{\"a\": \"open", "t.json", err, sizeof err));
    assert_null(jobj_parse("[1]", "t.json", err, sizeof err));
    assert_string_equal(err, "t.json: not a JSON object");
    assert_null(jobj_parse("{\"a\": 1, \"a\": 2}", "t.json", err, sizeof err));
    assert_null(jobj_read("/nonexistent/t.json", err, sizeof err));
    assert_non_null(strstr(err, "/nonexistent/t.json"));
}

/* A description as advcc writes it (compiler/describe_json.h), in part. */
static const char *desc_text(const char *name, const char *base, const char *patches,
                             int adversarial, int regularize)
{
    static char buf[4][1024];
    static int k;
    k = (k + 1) % 4;
    snprintf(buf[k], sizeof buf[k],
             "{\"format\": \"advcc-model-description\", \"format_version\": 1,"
             " \"name\": \"%s\", \"base\": \"%s\", \"patches\": [%s],"
             " \"adversarial\": %s, \"dataset\": \"cifar10\","
             " \"train\": {\"epochs\": 3}, \"attack\": {\"alpha_255\": 2.0,"
             " \"steps\": 10, \"restarts\": 1, \"eot\": 1, \"init\": \"uniform\"},"
             " \"ensemble\": {\"passes\": 1}, \"quantize\": [], \"noise\": [],"
             " \"regularize\": [%s]}", name, base, patches,
             adversarial ? "true" : "false", regularize ? "{}" : "");
    return buf[k];
}

static void test_model_desc(void **state)
{
    (void)state;
    char err[512];
    model_desc plain, robust, both, other, twice;
    assert_int_equal(model_desc_parse(&plain, desc_text("plain", "plain", "", 0, 0),
                                      "p", err, sizeof err), 0);
    assert_int_equal(model_desc_parse(&robust, desc_text("robust", "plain", "\"adv\"", 1, 0),
                                      "r", err, sizeof err), 0);
    assert_int_equal(model_desc_parse(&both, desc_text("both", "plain",
                                      "\"reg\", \"adv\"", 1, 1), "b", err, sizeof err), 0);
    assert_int_equal(model_desc_parse(&other, desc_text("other", "other", "\"adv\"", 1, 0),
                                      "o", err, sizeof err), 0);
    assert_int_equal(model_desc_parse(&twice, desc_text("twice", "robust", "\"reg\"", 1, 1),
                                      "t", err, sizeof err), 0);
    assert_true(robust.adversarial && !plain.adversarial);
    assert_int_equal(robust.epochs, 3);
    assert_int_equal(robust.steps, 10);
    assert_string_equal(robust.init, "uniform");
    assert_int_equal(both.regularize, 1);
    /* one patch more, in any order, on the same base, or on the model itself */
    assert_string_equal(model_desc_adds(&robust, &plain), "adv");
    assert_string_equal(model_desc_adds(&both, &robust), "reg");
    assert_string_equal(model_desc_adds(&twice, &robust), "reg");
    assert_null(model_desc_adds(&both, &plain));
    assert_null(model_desc_adds(&plain, &robust));
    assert_null(model_desc_adds(&other, &plain));
    model_desc bad;
    assert_int_equal(model_desc_parse(&bad, "{\"format\": \"x\"}", "bad.json", err,
                                      sizeof err), -1);
    assert_non_null(strstr(err, "bad.json: the model description has no"));
    /* the grid's overrides win, the rest is the spec's */
    grid g;
    if (grid_parse(&g, "models plain robust\nseeds 0\neps 8\nsteps 7\n", "d.grid",
                   err, sizeof err) != 0)
        fail_msg("%s", err);
    g.desc = xcalloc(2, sizeof *g.desc);
    g.desc[0] = plain;
    g.desc[1] = robust;
    model_settings ms;
    grid_model_settings(&g, 1, &ms);
    assert_int_equal(ms.epochs, 3);
    assert_int_equal(ms.steps, 7);
    assert_string_equal(ms.init, "uniform");
    grid_free(&g);     /* frees plain and robust */
    model_desc_free(&both);
    model_desc_free(&other);
    model_desc_free(&twice);
}

static void test_csv(void **state)
{
    (void)state;
    csv_table t;
    char err[256];
    const char *text = "a,b,c\r\n1,\"x,y\",\"say \"\"hi\"\"\"\n\n2,,\"two\nlines\"\n";
    if (csv_parse(text, "t.csv", &t, err, sizeof err) != 0)
        fail_msg("%s", err);
    assert_int_equal(t.ncol, 3);
    assert_int_equal(t.nrow, 2);
    assert_string_equal(t.rows[0][1], "x,y");
    assert_string_equal(t.rows[0][2], "say \"hi\"");
    assert_string_equal(t.rows[1][1], "");
    assert_string_equal(t.rows[1][2], "two\nlines");
    assert_int_equal(csv_column(&t, "c"), 2);
    assert_int_equal(csv_column(&t, "d"), -1);
    csv_free(&t);
    assert_int_equal(csv_parse("a,b\n1,2\n3\n", "t.csv", &t, err, sizeof err), -1);
    assert_string_equal(err, "t.csv:3: 1 fields, the header has 2");
    /* what csv_put writes, csv_parse reads back */
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    fputs("h\n", f);
    csv_put(f, "q\"uo,te");
    fputc('\n', f);
    fclose(f);
    assert_int_equal(csv_parse(buf, "m.csv", &t, err, sizeof err), 0);
    assert_string_equal(t.rows[0][0], "q\"uo,te");
    csv_free(&t);
    free(buf);
}

/* A NUL byte, a directory, and 100,001 seeds parsed in well under a
 * second (the duplicate check is n log n). */
static void test_hostile_files(void **state)
{
    (void)state;
    char dir[] = "/tmp/advcc-grid-XXXXXX";
    assert_non_null(mkdtemp(dir));
    char path[4096], err[512];
    snprintf(path, sizeof path, "%s/nul.grid", dir);
    FILE *fp = fopen(path, "wb");
    assert_non_null(fp);
    fwrite("models a\nseeds 0\n\0eps 8\n", 1, 24, fp);
    fclose(fp);
    grid g;
    assert_int_equal(grid_load(&g, path, err, sizeof err), -1);
    assert_non_null(strstr(err, "nul.grid:3: error: a NUL byte at offset 17"));
    unlink(path);
    assert_int_equal(grid_load(&g, dir, err, sizeof err), -1);
    assert_non_null(strstr(err, "is a directory, not a grid file"));
    rmdir(dir);

    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    assert_int_equal(grid_parse(&g, "models a\nseeds 0-100000\neps 8\n", "t.grid", err,
                                sizeof err), 0);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    assert_int_equal(g.nseeds, 100001);
    grid_free(&g);
    double s = (double)(t1.tv_sec - t0.tv_sec) + 1e-9 * (double)(t1.tv_nsec - t0.tv_nsec);
    if (s > 0.5)
        fail_msg("100,001 seeds took %.2f s", s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_seed_grid),
        cmocka_unit_test(test_quick_grid),
        cmocka_unit_test(test_settings_and_defaults),
        cmocka_unit_test(test_certify_grid),
        cmocka_unit_test(test_strong_settings),
        cmocka_unit_test(test_strong_grid),
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_hostile_files),
        cmocka_unit_test(test_cells),
        cmocka_unit_test(test_array_spec),
        cmocka_unit_test(test_json),
        cmocka_unit_test(test_model_desc),
        cmocka_unit_test(test_csv),
    };
    return cmocka_run_group_tests_name("study_grid", tests, NULL, NULL);
}
