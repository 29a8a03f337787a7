/* diag.c - gcc-style messages with the source line and a caret. */
#include "diag.h"

#include <stdarg.h>
#include <string.h>

enum { DIAG_KEEP = 64, DIAG_PRINT_MAX = 50 };

static FILE *diag_stream;
static int diag_errors;
static int diag_n_kept;
static diag_record diag_records[DIAG_KEEP];
static int diag_last_printed;   /* was the last error printed (for notes) */

void diag_reset(FILE *stream)
{
    diag_stream = stream;
    diag_errors = 0;
    diag_n_kept = 0;
    diag_last_printed = 0;
}

static FILE *diag_out(void)
{
    return diag_stream ? diag_stream : stderr;
}

/* The source line, then spaces (tabs where the line has tabs, so the caret
 * lines up in any terminal) and a caret under column `col`.  Of a very long
 * line only a window around the column is shown. */
static void diag_show_line(FILE *out, const char *text, int col)
{
    enum { WINDOW = 160 };
    if (!text)
        return;
    size_t len = strlen(text), at = col > 0 ? (size_t)col - 1 : 0;
    size_t start = 0, end = len;
    if (len > WINDOW) {
        start = at > WINDOW / 2 ? at - WINDOW / 2 : 0;
        end = start + WINDOW < len ? start + WINDOW : len;
    }
    const char *before = start > 0 ? "..." : "";
    fprintf(out, "  %s%.*s%s\n  %s", before, (int)(end - start), text + start,
            end < len ? "..." : "", start > 0 ? "   " : "");
    for (size_t i = start; i < at; i++)
        fputc(i < len && text[i] == '\t' ? '\t' : ' ', out);
    fputs("^\n", out);
}

static int diag_seen(const ir_loc *loc, const char *msg)
{
    for (int i = 0; i < diag_n_kept; i++) {
        const diag_record *r = &diag_records[i];
        if (r->line == loc->line && r->col == loc->col &&
            strcmp(r->file, loc->file ? loc->file : "") == 0 &&
            strcmp(r->message, msg) == 0)
            return 1;
    }
    return 0;
}

static void diag_vreport(ir_loc loc, const char *kind, const char *fmt, va_list ap)
{
    char msg[512];
    vsnprintf(msg, sizeof msg, fmt, ap);
    int is_error = strcmp(kind, "error") == 0;
    if (is_error) {
        if (diag_seen(&loc, msg)) {
            diag_last_printed = 0;
            return;
        }
        diag_errors++;
        if (diag_n_kept < DIAG_KEEP) {
            diag_record *r = &diag_records[diag_n_kept++];
            snprintf(r->file, sizeof r->file, "%s", loc.file ? loc.file : "");
            r->line = loc.line;
            r->col = loc.col;
            snprintf(r->message, sizeof r->message, "%s", msg);
        }
        diag_last_printed = diag_errors <= DIAG_PRINT_MAX;
        if (diag_errors == DIAG_PRINT_MAX + 1)
            fputs("advcc: too many errors; the rest are not shown\n", diag_out());
    }
    if (!diag_last_printed)
        return;
    FILE *out = diag_out();
    if (loc.file && loc.line > 0)
        fprintf(out, "%s:%d:%d: %s: %s\n", loc.file, loc.line, loc.col, kind, msg);
    else if (loc.file)
        fprintf(out, "%s: %s: %s\n", loc.file, kind, msg);
    else
        fprintf(out, "advcc: %s: %s\n", kind, msg);
    if (loc.line > 0)
        diag_show_line(out, loc.text, loc.col);
}

void diag_error(ir_loc loc, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    diag_vreport(loc, "error", fmt, ap);
    va_end(ap);
}

void diag_note(ir_loc loc, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    diag_vreport(loc, "note", fmt, ap);
    va_end(ap);
}

void diag_fatal(const char *fmt, ...)
{
    ir_loc none = {0};
    va_list ap;
    va_start(ap, fmt);
    diag_vreport(none, "error", fmt, ap);
    va_end(ap);
}

int diag_count(void)
{
    return diag_errors;
}

int diag_kept(void)
{
    return diag_n_kept;
}

const diag_record *diag_get(int i)
{
    return i >= 0 && i < diag_n_kept ? &diag_records[i] : NULL;
}
