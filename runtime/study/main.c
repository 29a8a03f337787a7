/* main.c - advcc-study, the command line of the study tool. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "numparse.h"
#include "cellrun.h"
#include "cells.h"
#include "grid.h"
#include "report.h"
#include "results.h"
#include "runner.h"
#include "slurm.h"
#include "vocab.h"

#define STUDY_VERSION "advcc-study " ADVCC_VERSION_NUMBER

static const char usage_text[] =
"usage: advcc-study COMMAND [options] GRID\n"
"\n"
"Runs a grid of experiments (models x seeds x eps) with the model binaries,\n"
"resumably, locally or as a Slurm job array, and reports on it.\n"
"\n"
"commands:\n"
"  run GRID             run every unfinished cell, -j at a time\n"
"  run-cell GRID INDEX  run one cell (what a Slurm array task does)\n"
"  status GRID          what is done, running, failed and pending\n"
"  report GRID          statistics, figures and the report page\n"
"  submit GRID          the unfinished cells as a Slurm job array, and a\n"
"                       report job that waits for it\n"
"  cells GRID           list the cells with their index\n"
"\n"
"options:\n"
"  -j, --jobs N         cells at a time (run; default: the grid's `jobs`,\n"
"                       else cores / threads)\n"
"      --bin DIR        the model binaries (overrides the grid's `bin`)\n"
"      --out DIR        the output directory (overrides the grid's `out`)\n"
"  -v, --verbose        say what runs (run, run-cell); every cell (status)\n"
"      --progress       progress line even when stderr is no terminal\n"
"      --no-progress    no progress line\n"
"      --results FILE   report on this results file (default OUT/results.csv)\n"
"      --report-dir DIR where the report goes (default OUT/report)\n"
"      --baseline NAME  the model the others are tested against (the grid's\n"
"                       `baseline`, else baseline)\n"
"      --no-features    report without the feature-map figure\n"
"      --no-figures     report without figures\n"
"      --dry-run        submit: write the sbatch scripts only\n"
"      --wait           submit: return when the report job has finished\n"
"      --sbatch CMD     submit: the sbatch command (default sbatch)\n"
"  -h, --help           this text\n"
"      --version        the version\n"
"\n"
"A cell is one training run and its attacks; it is finished when its\n"
"result.csv exists and is never run twice.  Interrupted cells rerun from\n"
"the start, keeping a training that finished and the strong evaluation's\n"
"per-image records.  The grid file format (keys such as certify, strong,\n"
"strong_limit, strong_eps, strong_quick) is described in\n"
"examples/study/README.md.\n"
"Exit status: 0 success; 1 failed cells or errors; 2 usage errors.\n";

enum {
    OPT_BIN = 256, OPT_OUT, OPT_PROGRESS, OPT_NO_PROGRESS, OPT_RESULTS,
    OPT_REPORT_DIR, OPT_BASELINE, OPT_NO_FEATURES, OPT_NO_FIGURES,
    OPT_DRY_RUN, OPT_WAIT, OPT_SBATCH, OPT_VERSION
};

static const struct option options[] = {
    { "jobs", required_argument, NULL, 'j' },
    { "bin", required_argument, NULL, OPT_BIN },
    { "out", required_argument, NULL, OPT_OUT },
    { "verbose", no_argument, NULL, 'v' },
    { "progress", no_argument, NULL, OPT_PROGRESS },
    { "no-progress", no_argument, NULL, OPT_NO_PROGRESS },
    { "results", required_argument, NULL, OPT_RESULTS },
    { "report-dir", required_argument, NULL, OPT_REPORT_DIR },
    { "baseline", required_argument, NULL, OPT_BASELINE },
    { "no-features", no_argument, NULL, OPT_NO_FEATURES },
    { "no-figures", no_argument, NULL, OPT_NO_FIGURES },
    { "dry-run", no_argument, NULL, OPT_DRY_RUN },
    { "wait", no_argument, NULL, OPT_WAIT },
    { "sbatch", required_argument, NULL, OPT_SBATCH },
    { "help", no_argument, NULL, 'h' },
    { "version", no_argument, NULL, OPT_VERSION },
    { NULL, 0, NULL, 0 }
};

static int usage_error(const char *fmt, const char *arg)
{
    fputs("advcc-study: ", stderr);
    fprintf(stderr, fmt, arg);
    fputs("\nTry 'advcc-study --help'.\n", stderr);
    return 2;
}

static int parse_count(const char *s, int *out)
{
    long v;
    if (num_parse_long(s, 1, 100000, &v, NULL, 0) != 0)
        return -1;
    *out = (int)v;
    return 0;
}

static int list_cells(const grid *g)
{
    int n;
    cell *cells = cells_build(g, &n);
    for (int i = 0; i < n; i++) {
        char *name = cell_name(g, &cells[i]);
        printf("%d %s\n", cells[i].index, name);
        free(name);
    }
    free(cells);
    return 0;
}

static int run_one_cell(const grid *g, const char *index, int verbose)
{
    int n, i;
    cell *cells = cells_build(g, &n);
    long v;
    if (num_parse_long(index, 0, (long)n - 1, &v, NULL, 0) != 0) {
        fprintf(stderr, "advcc-study: %s: no cell %s (the grid has %d, "
                "numbered from 0)\n", g->path, index, n);
        free(cells);
        return 2;
    }
    i = (int)v;
    int rc = cell_run(g, &cells[i], verbose);
    char *name = cell_name(g, &cells[i]);
    char *detail = NULL;
    int state = cell_state(g, &cells[i], &detail);
    if (rc == CELL_RUN_BUSY)
        fprintf(stderr, "advcc-study: cell %d (%s) is being run by another "
                "process\n", i, name);
    else
        fprintf(stderr, "advcc-study: cell %d (%s): %s%s%s\n", i, name,
                cell_state_names[state], detail ? ": " : "", detail ? detail : "");
    free(detail);
    free(name);
    char err[512];
    if (rc != CELL_RUN_BUSY && results_rebuild(g, cells, n, err, sizeof err) < 0)
        fprintf(stderr, "advcc-study: %s\n", err);
    free(cells);
    return rc;
}

int main(int argc, char **argv)
{
    if (argc < 2)
        return usage_error("%s", "no command");
    const char *command = argv[1];
    if (!strcmp(command, "-h") || !strcmp(command, "--help")) {
        fputs(usage_text, stdout);
        return 0;
    }
    if (!strcmp(command, "--version")) {
        puts(STUDY_VERSION);
        return 0;
    }
    runner_opts ro = { .jobs = 0, .verbose = 0, .progress = -1 };
    report_opts po = { .features = 1, .figures = 1 };
    slurm_opts so = { 0 };
    const char *bin = NULL, *out = NULL;
    int verbose = 0, c;
    optind = 1;
    while ((c = getopt_long(argc - 1, argv + 1, "j:vh", options, NULL)) != -1) {
        switch (c) {
        case 'j':
            if (parse_count(optarg, &ro.jobs) != 0)
                return usage_error("--jobs: '%s' is not a count from 1", optarg);
            break;
        case 'v': verbose = 1; break;
        case OPT_BIN: bin = optarg; break;
        case OPT_OUT: out = optarg; break;
        case OPT_PROGRESS: ro.progress = 1; break;
        case OPT_NO_PROGRESS: ro.progress = 0; break;
        case OPT_RESULTS: po.results = optarg; break;
        case OPT_REPORT_DIR: po.dir = optarg; break;
        case OPT_BASELINE: po.baseline = optarg; break;
        case OPT_NO_FEATURES: po.features = 0; break;
        case OPT_NO_FIGURES: po.figures = 0; break;
        case OPT_DRY_RUN: so.dry_run = 1; break;
        case OPT_WAIT: so.wait = 1; break;
        case OPT_SBATCH: so.sbatch = optarg; break;
        case 'h': fputs(usage_text, stdout); return 0;
        case OPT_VERSION: puts(STUDY_VERSION); return 0;
        default: return usage_error("%s", "bad option");
        }
    }
    int nargs = argc - 1 - optind;
    char **args = argv + 1 + optind;
    int want = !strcmp(command, "run-cell") ? 2 : 1;
    static const char *const commands[] = {
        "run", "run-cell", "status", "report", "submit", "cells", NULL
    };
    int known = 0;
    for (int i = 0; commands[i]; i++)
        known |= !strcmp(command, commands[i]);
    if (!known)
        return usage_error("unknown command '%s'", command);
    if (nargs != want)
        return usage_error(want == 2 ? "%s needs GRID and INDEX"
                                     : "%s needs one GRID", command);
    grid g;
    char err[1024];
    if (grid_load(&g, args[0], err, sizeof err) != 0) {
        fprintf(stderr, "%s\n", err);
        return 1;
    }
    if (bin) {
        free(g.bin);
        g.bin = xstrdup(bin);
    }
    if (out) {
        free(g.out);
        g.out = xstrdup(out);
    }
    if (grid_describe(&g, strcmp(command, "report") != 0, err, sizeof err) != 0) {
        fprintf(stderr, "%s\n", err);
        grid_free(&g);
        return 1;
    }
    ro.verbose = verbose;
    int rc;
    if (!strcmp(command, "run"))
        rc = runner_run(&g, &ro);
    else if (!strcmp(command, "run-cell"))
        rc = run_one_cell(&g, args[1], verbose);
    else if (!strcmp(command, "status"))
        rc = runner_status(&g, verbose);
    else if (!strcmp(command, "report")) {
        char *cmd = xstrdup("advcc-study");
        for (int i = 1; i < argc; i++) {
            char *next = xasprintf("%s %s", cmd, argv[i]);
            free(cmd);
            cmd = next;
        }
        po.command = cmd;
        po.version = STUDY_VERSION;
        rc = report_build(&g, &po);
        free(cmd);
    }
    else if (!strcmp(command, "submit"))
        rc = slurm_submit(&g, &so);
    else
        rc = list_cells(&g);
    grid_free(&g);
    return rc;
}
