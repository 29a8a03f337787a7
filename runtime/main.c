/* main.c - the entry point of a model binary.  The Makefile compiles this
 * file once per model with -DADVCC_MODEL=advcc_model_<name>. */
#include "cli.h"

#ifndef ADVCC_MODEL
#error "compile with -DADVCC_MODEL=advcc_model_<name>"
#endif

extern const advcc_model ADVCC_MODEL;

/* advcc_model_<name>_json, the description advcc embeds beside the
 * descriptor (compiler/describe_json.h); weak, so that a model generated
 * without one still links (`info --json` then says so). */
#define MAIN_PASTE2(a, b) a##b
#define MAIN_PASTE(a, b) MAIN_PASTE2(a, b)
extern const char MAIN_PASTE(ADVCC_MODEL, _json)[] __attribute__((weak));

int main(int argc, char **argv)
{
    cli_model_json = MAIN_PASTE(ADVCC_MODEL, _json);
    return cli_main(&ADVCC_MODEL, argc, argv);
}
