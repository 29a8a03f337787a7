/* fuzz_advcc.c - advcc's front end (lexer, parser, macros, semantics,
 * shapes) on arbitrary spec text. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "diag.h"
#include "frontend.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static FILE *sink;
    if (!sink)
        sink = fopen("/dev/null", "w");
    char *text = malloc(size + 1);
    if (!text)
        return 0;
    memcpy(text, data, size);
    text[size] = 0;
    diag_reset(sink);
    frontend fe;
    frontend_init(&fe);
    frontend_compile_text(&fe, "fuzz.net", text);
    frontend_free(&fe);
    free(text);
    return 0;
}
