/* main.c - the entry point of a model binary.  The Makefile compiles this
 * file once per model with -DADVCC_MODEL=advcc_model_<name>. */
#include "cli.h"

#ifndef ADVCC_MODEL
#error "compile with -DADVCC_MODEL=advcc_model_<name>"
#endif

extern const advcc_model ADVCC_MODEL;

int main(int argc, char **argv)
{
    return cli_main(&ADVCC_MODEL, argc, argv);
}
