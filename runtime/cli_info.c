/* cli_info.c - `MODEL info`: what the binary holds. */
#include <stdio.h>
#include <string.h>
#include "checkpoint.h"
#include "cli.h"

static const char *kind_name(int kind)
{
    static const char *names[] = {"weight", "bias", "bn scale", "bn shift",
                                  "threshold", "state"};
    return kind >= 0 && kind <= ADVCC_STATE ? names[kind] : "?";
}

int cli_info(const advcc_model *m, int argc, char **argv)
{
    if (argc > 1 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"))) {
        printf("usage: %s info [--checkpoint FILE]\n\nPrints the model's tensors, parameter count, "
               "what it is made of\n(quantisers, noise, regularisers) and the spec's defaults; with\n"
               "--checkpoint, what a checkpoint says it holds (its metadata).\n", m->name);
        return 0;
    }
    if (argc > 1 && !strcmp(argv[1], "--checkpoint")) {
        char err[4608];
        if (argc != 3) {
            fprintf(stderr, "%s info: --checkpoint takes one FILE and nothing follows it\n", m->name);
            return 2;
        }
        if (checkpoint_print_info(argv[2], stdout, err, sizeof err) != 0) {
            fprintf(stderr, "%s: %s\n", m->name, err);
            return 1;
        }
        return 0;
    }
    if (argc > 1) {
        fprintf(stderr, "%s info: unexpected argument '%s'\n", m->name, argv[1]);
        return 2;
    }
    size_t trained = 0;
    printf("model %s (from %s, spec %s), %s\n", m->name, m->source,
           m->spec_hash ? m->spec_hash : "unknown", ADVCC_VERSION);
    printf("input %dx%dx%d, %d classes, %.1f MFLOP a forward pass\n", m->in_c,
           m->in_h, m->in_w, m->classes, m->flops_forward / 1e6);
    printf("tensors:\n");
    for (int i = 0; i < m->n_tensors; i++) {
        const advcc_tensor *t = &m->tensors[i];
        char shape[64] = "";
        int k = 0;
        for (int d = 0; d < t->ndim; d++)
            k += snprintf(shape + k, sizeof shape - (size_t)k, "%s%d", d ? "x" : "", t->shape[d]);
        printf("  %-24s %-14s %9zu  %s%s\n", t->name, shape, t->size, kind_name(t->kind),
               checkpoint_train_only(m, t) ? " (training only: not in checkpoints)" : "");
        if (t->kind != ADVCC_STATE)
            trained += t->size;
    }
    printf("parameters: %zu trained, %zu in the buffer\n", trained, m->n_params);
    printf("train: %s lr=%g momentum=%g weight_decay=%g batch=%d epochs=%d%s\n",
           advcc_optimizer_name(m->train.optimizer), m->train.lr, m->train.momentum, m->train.weight_decay, m->train.batch,
           m->train.epochs, m->train.adversarial ? " adversarial" : "");
    if (m->attack.method == ADVCC_ATTACK_APGD)
        printf("attack: apgd eps=%.6g (%.3g/255) norm=%s loss=%s iters=%d restarts=%d "
               "eot=%d targets=%d\n", m->attack.eps, m->attack.eps * 255,
               advcc_norm_name(m->attack.norm),
               advcc_loss_name(m->attack.loss),
               m->attack.iters, m->attack.restarts, m->attack.eot, m->attack.targets);
    else if (m->attack.method == ADVCC_ATTACK_SQUARE)
        printf("attack: square eps=%.6g (%.3g/255) norm=%s queries=%d\n", m->attack.eps,
               m->attack.eps * 255, advcc_norm_name(m->attack.norm), m->attack.queries);
    else if (m->attack.method == ADVCC_ATTACK_FAB)
        printf("attack: fab eps=%.6g (%.3g/255) norm=%s iters=%d restarts=%d targets=%d\n",
               m->attack.eps, m->attack.eps * 255, advcc_norm_name(m->attack.norm),
               m->attack.iters, m->attack.restarts, m->attack.targets);
    else if (m->attack.method == ADVCC_ATTACK_AUTOATTACK)
        printf("attack: autoattack eps=%.6g (%.3g/255) norm=%s version=%s quick=%d\n",
               m->attack.eps, m->attack.eps * 255, advcc_norm_name(m->attack.norm),
               advcc_aa_version_name(m->attack.version),
               m->attack.quick);
    printf("%s pgd eps=%.6g (%.3g/255) alpha=%.6g steps=%d restarts=%d init=%s%s\n",
           m->attack.method ? "attack --attack pgd:" : "attack:",
           m->attack.eps, m->attack.eps * 255, m->attack.alpha, m->attack.steps,
           m->attack.restarts, advcc_init_name(m->attack.init),
           m->attack.present ? "" : " (defaults)");
    if (m->ensemble > 1)
        printf("ensemble: %d passes averaging %s\n", m->ensemble,
               m->ensemble_probs ? "probabilities" : "logits");
    static const char *const shown[] = {"spec", "spec_fnv1a64", "made_of", "quantize",
                                        "activations", "noise", "regularize"};
    for (const char *const *d = m->description; d && d[0] && d[1]; d += 2)
        for (size_t k = 0; k < sizeof shown / sizeof shown[0]; k++)
            if (!strcmp(d[0], shown[k]))
                printf("%s: %s\n", d[0], d[1]);
    return 0;
}
