/* progress.h - one self-rewriting status line for long work (done/total,
 * rate, time left, and a caller's note such as the loss) on a terminal;
 * silent when stderr is not a terminal or when quiet, so logs stay clean. */
#ifndef ADVCC_PROGRESS_H
#define ADVCC_PROGRESS_H

typedef struct progress {
    const char *label, *unit;
    long total;
    double start, last;
    int enabled;
} progress;

void progress_start(progress *p, const char *label, const char *unit,
                    long total, int quiet);
/* note may be NULL; redraws at most ten times a second. */
void progress_update(progress *p, long done, const char *note);
void progress_end(progress *p);
/* Seconds on a monotonic clock. */
double progress_now(void);

#endif
