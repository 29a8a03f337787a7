/* specgen_dump.c - tests/oracle/dump_model.c for many generated models in one
 * binary, for the spec fuzzer (tests/specgen/specgen.py): `specgen_dump MODEL
 * [dump_model's options]` dumps the model of that name.  The table of
 * models, specgen_models[] (NULL-terminated), is written by fuzz.py next to
 * the models it links, so that fifty specs take one link, not fifty. */
#include "model.h"

extern const advcc_model *const specgen_models[];
static const advcc_model *fuzz_model;

#define ADVCC_MODEL (*fuzz_model)
#define main dump_main
int dump_main(int argc, char **argv);
#include "../oracle/dump_model.c"
#undef main

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: %s MODEL [dump_model options]\nmodels:", argv[0]);
        for (int i = 0; specgen_models[i]; i++)
            fprintf(stderr, " %s", specgen_models[i]->name);
        fputc('\n', stderr);
        return 2;
    }
    for (int i = 0; specgen_models[i]; i++)
        if (strcmp(specgen_models[i]->name, argv[1]) == 0) {
            fuzz_model = specgen_models[i];
            argv[1] = argv[0];
            return dump_main(argc - 1, argv + 1);
        }
    fprintf(stderr, "%s: no model '%s' linked in\n", argv[0], argv[1]);
    return 2;
}
