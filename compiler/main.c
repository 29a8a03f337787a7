/* main.c - the advcc command line. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "diag.h"
#include "driver.h"
#include "layer.h"
#include "vocab.h"


static void print_help(FILE *out)
{
    fputs(
"Usage: advcc [OPTION]... FILE.net... [-o DIR]\n"
"Compile model specs into C: for every model defined in a FILE named here\n"
"(not in files they only include), write DIR/<model>.c and DIR/<model>.h,\n"
"DIR/<model>.json (the model's description, also printed by `MODEL info\n"
"--json`) and DIR/models.mk with the line 'MODELS := <every model written>'.\n"
"A spec with any error writes nothing; errors are printed as\n"
"file:line:col: error: message, with the line and a caret.\n"
"\n"
"Options:\n"
"  -o, --output DIR   write into DIR (created if missing; default generated/)\n"
"      --shapes       print each model's layers: name, kind, output shape,\n"
"                     parameters, spec location, and the model's total;\n"
"                     with --shapes and no -o, nothing is written\n"
"      --torch        also write DIR/<model>.py: the model as a PyTorch module\n"
"                     (same layers and tensor names: it loads advcc checkpoints,\n"
"                     and the binaries load its state dict)\n"
"      --emit torch   the same\n"
"  -q, --quiet        no summary line on success\n"
"  -h, --help         print this help and exit\n"
"  -V, --version      print the version and exit\n"
"\n"
"Exit status: 0 on success, 1 when a spec has errors, when no FILE defines\n"
"a model (nothing to compile) or when output cannot be written, 2 on a\n"
"usage error.\n"
"\n"
"Spec language (one statement a line; '#' starts a comment):\n"
"  include \"file.net\"                 relative to the including file\n"
"  macro NAME(p, ...) { layers }      called as a layer: NAME(a, ...)\n"
"  model NAME { statements }\n"
"  model NAME = BASE + PATCH + ...    the base model with patches applied\n"
"  patch NAME { statements }\n"
"Model statements:\n"
"  input CxHxW classes N\n"
"  LAYER -> LAYER -> ...              every layer takes name=NAME\n"
"  train sgd [lr=0.001] [momentum=0.9] [nesterov=0|1] [weight_decay=0] [batch=100]\n"
"            [epochs=10] [schedule keys]\n"
"  train adam|adamw [lr=] [beta1=0.9] [beta2=0.999] [eps=1e-8] [weight_decay=0] ...\n"
"  train adversarial [eps= alpha= steps= init= restarts= ...]\n"
"    schedule keys: [schedule=constant|multistep|cosine|onecycle|piecewise] [warmup=0]\n"
"      multistep milestones=(E, ...) [gamma=0.1]; cosine [min_lr=0];\n"
"      onecycle [pct=0.3] [div=25] [final_div=1e4];\n"
"      piecewise knots=(E, ...) factors=(F, ...)\n"
"  augment [crop=0] [flip=0|1]         random crop from a zero padding, mirror\n"
"  attack pgd [eps=8/255] [alpha=2/255] [steps=4] [init=gaussian|uniform|none]\n"
"             [restarts=1] [eot=1] [clip=pixel|normalized] [norm=linf|l2] [strict=0|1]\n"
"  attack apgd [eps=] [norm=] [iters=100] [restarts=1] [eot=1] [loss=ce|dlr|targeted]\n"
"              [targets=9]       what `MODEL attack` runs by default\n"
"  attack square [eps=] [norm=] [queries=5000]\n"
"  attack fab [eps=] [norm=] [iters=100] [restarts=1] [targets=9]   FAB-T\n"
"  attack autoattack [eps=] [norm=] [version=auto|standard|rand] [quick=0|1]\n"
"  ensemble N [average=logits|probs]\n"
"Patch statements (also allowed at the end of a model), TARGETS being layer\n"
"kinds or layer names separated by commas:\n"
"  train ..., augment ..., attack ..., ensemble ...  merged over the settings\n"
"  replace TARGETS with LAYER\n"
"  quantize TARGETS [bits=8] [range=minmax|fixed|channel] [lo= hi=]\n"
"  regularize TARGETS orthogonal weight=W [form=1..4]\n"
"  regularize TARGETS spectral weight=W [iters=1] [persistent=0|1]\n"
"  insert LAYER before|after TARGETS  (noise also takes first=SIGMA)\n"
"Layers:\n", out);
    for (int i = 0; i < layer_kind_count(); i++)
        fprintf(out, "  %s\n", layer_kind_at(i)->usage);
    fputs("Numbers may be expressions such as 8/255 or 2*c (c a macro parameter).\n"
"\n"
"Examples:\n"
"  advcc --shapes my.net                 check a spec and print its shapes\n"
"  With advcc installed (make install), one command compiles the spec of\n"
"  model `my` and builds its binary (pkg-config's variable `main` is the\n"
"  runtime's main.c, which takes the model from -DADVCC_MODEL):\n"
"    advcc my.net -o gen/ && cc -O2 gen/my.c \"$(pkg-config --variable=main advcc)\" \\\n"
"        -DADVCC_MODEL=advcc_model_my $(pkg-config --cflags --libs advcc) -o my\n"
"  The binary then trains, attacks and evaluates the model (CIFAR-10 from\n"
"  $CIFAR10_DIR; a model with 1x28x28 inputs reads Fashion-MNIST); every\n"
"  command has --help, with the defaults it uses:\n"
"    ./my train --epochs 1 --lr 0.02 --out run/\n"
"    ./my attack --checkpoint run/checkpoint.safetensors --eps 8/255 --json run/pgd8.json\n"
"    ./my --help\n", out);
}

static int usage_error(const char *msg, const char *arg)
{
    if (msg)
        fprintf(stderr, "advcc: %s%s%s\n", msg, arg ? " " : "", arg ? arg : "");
    fputs("Try 'advcc --help' for more information.\n", stderr);
    return 2;
}

int main(int argc, char **argv)
{
    enum { OPT_SHAPES = 256, OPT_TORCH, OPT_EMIT };
    static const struct option longopts[] = {
        { "output", required_argument, NULL, 'o' },
        { "shapes", no_argument, NULL, OPT_SHAPES },
        { "torch", no_argument, NULL, OPT_TORCH },
        { "emit", required_argument, NULL, OPT_EMIT },
        { "quiet", no_argument, NULL, 'q' },
        { "help", no_argument, NULL, 'h' },
        { "version", no_argument, NULL, 'V' },
        { NULL, 0, NULL, 0 },
    };
    advcc_options o = { 0 };
    const char *out_dir = NULL;
    int c;
    opterr = 0;
    while ((c = getopt_long(argc, argv, ":o:qhV", longopts, NULL)) != -1) {
        switch (c) {
        case 'o': out_dir = optarg; break;
        case OPT_SHAPES: o.shapes = 1; break;
        case OPT_TORCH: o.torch = 1; break;
        case OPT_EMIT:
            if (strcmp(optarg, "torch") == 0)
                o.torch = 1;
            else if (strcmp(optarg, "c") != 0)
                return usage_error("--emit takes c or torch, not", optarg);
            break;
        case 'q': o.quiet = 1; break;
        case 'h': print_help(stdout); return 0;
        case 'V': puts(ADVCC_VERSION); return 0;
        case ':': return usage_error("option needs an argument:", argv[optind - 1]);
        default: return usage_error("unknown option:", argv[optind - 1]);
        }
    }
    if (optind >= argc)
        return usage_error("no spec files given", NULL);
    if (out_dir && out_dir[0] == '\0')
        return usage_error("empty output directory", NULL);
    o.files = argv + optind;
    o.n_files = argc - optind;
    o.out_dir = out_dir ? out_dir : o.shapes ? NULL : "generated/";
    diag_reset(stderr);
    return advcc_run(&o);
}
