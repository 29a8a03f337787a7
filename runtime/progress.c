/* progress.c - the status line. */
#include <stdio.h>
#include <time.h>
#include <unistd.h>
#include "duration.h"
#include "progress.h"

double progress_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

void progress_start(progress *p, const char *label, const char *unit,
                    long total, int quiet)
{
    p->label = label;
    p->unit = unit;
    p->total = total;
    p->start = progress_now();
    p->last = 0;
    p->enabled = !quiet && isatty(STDERR_FILENO);
}

void progress_update(progress *p, long done, const char *note)
{
    if (!p->enabled)
        return;
    double now = progress_now();
    if (now - p->last < 0.1 && done < p->total)
        return;
    p->last = now;
    double el = now - p->start;
    double rate = el > 0 ? done / el : 0;
    char left[32] = "?";
    if (rate > 0)
        format_duration(left, sizeof left, (p->total - done) / rate);
    fprintf(stderr, "\r\033[K%s %ld/%ld  %.0f %s/s  %s left%s%s", p->label, done,
            p->total, rate, p->unit, left, note ? "  " : "", note ? note : "");
    fflush(stderr);
}

void progress_end(progress *p)
{
    if (p->enabled) {
        fputs("\r\033[K", stderr);
        fflush(stderr);
    }
}
