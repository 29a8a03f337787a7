/* specgen_gradcheck.c - finite differences (tests/model_gradcheck.h) on the
 * double-precision build of generated models, for the spec fuzzer
 * (tests/specgen/specgen.py).  `specgen_gradcheck MODEL[:SKIP]...` checks each
 * model's parameter and input gradients in training (frozen) and in
 * evaluation mode, one CMocka test each, named MODEL/train and MODEL/eval;
 * SKIP is a mask of tensor kinds (1 << kind) left out, e.g. 1 for
 * quantised weights, whose loss is piecewise constant in them.  The
 * models come from the table specgen_models[] that fuzz.py writes. */
#include <math.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include "context.h"
#include "kernels.h"
#include "model.h"
#include "rng.h"
#include "model_gradcheck.h"

extern const advcc_model *const specgen_models[];

typedef struct gc_case {
    const advcc_model *m;
    int mode;
    unsigned skip;
} gc_case;

static void run_case(void **state)
{
    const gc_case *c = *state;
    gradcheck(c->m, c->mode, 3, 6, c->skip);
}

int main(int argc, char **argv)
{
    int n = 0;
    struct CMUnitTest *tests = calloc((size_t)(2 * argc), sizeof *tests);
    gc_case *cases = calloc((size_t)(2 * argc), sizeof *cases);
    char **names = calloc((size_t)(2 * argc), sizeof *names);
    if (!tests || !cases || !names)
        return 1;
    for (int a = 1; a < argc; a++) {
        char *colon = strchr(argv[a], ':');
        unsigned skip = 0;
        if (colon) {
            *colon = '\0';
            skip = (unsigned)strtoul(colon + 1, NULL, 0);
        }
        const advcc_model *m = NULL;
        for (int i = 0; specgen_models[i]; i++)
            if (strcmp(specgen_models[i]->name, argv[a]) == 0)
                m = specgen_models[i];
        if (!m) {
            fprintf(stderr, "%s: no model '%s' linked in\n", argv[0], argv[a]);
            return 2;
        }
        for (int k = 0; k < 2; k++, n++) {
            size_t len = strlen(argv[a]) + 8;
            names[n] = malloc(len);
            if (!names[n])
                return 1;
            snprintf(names[n], len, "%s/%s", argv[a], k ? "eval" : "train");
            cases[n] = (gc_case){m, k ? ADVCC_EVAL : ADVCC_TRAIN_FROZEN, skip};
            tests[n] = (struct CMUnitTest){names[n], run_case, NULL, NULL, &cases[n]};
        }
    }
    int rc = _cmocka_run_group_tests("specgen_gradcheck", tests, (size_t)n, NULL, NULL);
    for (int i = 0; i < n; i++)
        free(names[i]);
    free(names);
    free(tests);
    free(cases);
    return rc;
}
