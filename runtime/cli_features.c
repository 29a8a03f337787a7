/* cli_features.c - `MODEL features`: the first convolution block's output
 * for one test image, as .npy [C][H][W] float32, for the report's
 * feature-map figures. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "checkpoint.h"
#include "cli.h"
#include "context.h"
#include "npy.h"

static void features_usage(const advcc_model *m, FILE *fp)
{
    fprintf(fp,
            "usage: %s features --checkpoint FILE --out FILE.npy [options]\n"
            "\n"
            "Writes the output of the model's first convolution block (after its\n"
            "BatchNorm, activation and pool) for one test image, in evaluation mode,\n"
            "as a .npy array [channels][height][width] of float32.\n"
            "\n"
            "options:\n"
            "  --checkpoint FILE  parameters written by `%s train` (required)\n"
            "  --out FILE         the .npy file to write (required)\n"
            "  --index N          which test image [0]\n"
            "  --seed N           seed of the noise of randomised models [0]\n"
            "  --dataset NAME     cifar10 or fashion-mnist [%s]\n"
            "  --help             this text\n",
            m->name, m->name, cli_default_dataset(m));
}

int cli_features(const advcc_model *m, int argc, char **argv)
{
    static const struct option opts[] = {
        {"checkpoint", required_argument, 0, 'c'},
        {"out", required_argument, 0, 'o'},
        {"index", required_argument, 0, 'i'},
        {"seed", required_argument, 0, 's'},
        {"dataset", required_argument, 0, 'd'},
        {"help", no_argument, 0, 'h'},
        {0, 0, 0, 0},
    };
    const char *ckpt = NULL, *out = NULL, *dataset = cli_default_dataset(m);
    long index = 0, seed = 0;
    int c, li = -1;
    optind = 1;
    while ((c = getopt_long(argc, argv, "", opts, &li)) != -1) {
        int bad = 0;
        switch (c) {
        case 'c': ckpt = optarg; break;
        case 'o': out = optarg; break;
        case 'i': bad = cli_int(optarg, 0, 0x7fffffffL, &index); break;
        case 's': bad = cli_int(optarg, 0, 0x7fffffffL, &seed); break;
        case 'd': dataset = optarg; break;
        case 'h': features_usage(m, stdout); return 0;
        default: features_usage(m, stderr); return 2;
        }
        if (bad) {
            cli_bad_value(m->name, "features", li >= 0 ? opts[li].name : "?", optarg);
            return 2;
        }
    }
    if (!ckpt || !out || optind < argc) {
        fprintf(stderr, "%s features: --checkpoint FILE and --out FILE are required\n", m->name);
        return 2;
    }
    if (m->feature_c == 0) {
        fprintf(stderr, "%s features: the model has no convolution\n", m->name);
        return 1;
    }
    advcc_dataset test = {0};
    if (cli_load_data(m, dataset, 0, 0, &test) != 0)
        return 1;
    int rc = 1;
    char err[4608];
    advcc_ctx *ctx = NULL;
    if (index >= test.n) {
        fprintf(stderr, "%s features: --index %ld is past the %d test images\n", m->name, index, test.n);
        goto done;
    }
    ctx = ctx_create(m, 1, (uint64_t)seed);
    if (!ctx || checkpoint_load(ckpt, m, ctx->params, err, sizeof err) != 0) {
        fprintf(stderr, "%s: %s\n", m->name, ctx ? err : "out of memory");
        goto done;
    }
    {
        const size_t img = (size_t)m->in_c * m->in_h * m->in_w;
        real_t *xi = malloc(sizeof(real_t) * img), *logits = malloc(sizeof(real_t) * (size_t)m->classes);
        int label, idx = (int)index;
        if (!xi || !logits) {
            free(xi);
            free(logits);
            fprintf(stderr, "%s: out of memory\n", m->name);
            goto done;
        }
        dataset_batch(&test, &idx, 1, xi, &label);
        m->forward(ctx, xi, 1, ADVCC_EVAL, logits);
        int shape[3] = {m->feature_c, m->feature_h, m->feature_w};
        int w = npy_write(out, ctx->arena + m->feature_slot, 3, shape, err, sizeof err);
        free(xi);
        free(logits);
        if (w != 0) {
            fprintf(stderr, "%s: %s\n", m->name, err);
            goto done;
        }
    }
    printf("%s: wrote %s (%dx%dx%d, test image %ld)\n", m->name, out, m->feature_c,
           m->feature_h, m->feature_w, index);
    rc = 0;
done:
    ctx_free(ctx);
    dataset_free(&test);
    return rc;
}
