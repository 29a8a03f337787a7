/* schedule.c - the learning rate of each training step. */
#include <math.h>
#include "schedule.h"

/* OneCycleLR's two linear phases: from lr / div up to lr at step
 * pct * total - 1, then down to lr / div / final_div at step total - 1. */
static double onecycle(const advcc_schedule_cfg *s, double lr, long total, long step)
{
    const double start = lr / s->div, end = start / s->final_div;
    const double peak_step = s->pct * (double)total - 1, last = (double)total - 1;
    double from = 0, to = peak_step, a = start, b = lr;
    if ((double)step > peak_step) {
        from = peak_step;
        to = last;
        a = lr;
        b = end;
    }
    double share = to > from ? ((double)step - from) / (to - from) : 1;
    return (b - a) * share + a;
}

/* numpy.interp(t, at, factor). */
static double interp(const advcc_schedule_cfg *s, double t)
{
    if (s->n == 0)
        return 1;
    if (t <= s->at[0])
        return s->factor[0];
    for (int i = 0; i + 1 < s->n; i++)
        if (t < s->at[i + 1]) {
            double slope = (s->factor[i + 1] - s->factor[i]) / (s->at[i + 1] - s->at[i]);
            return slope * (t - s->at[i]) + s->factor[i];
        }
    return s->factor[s->n - 1];
}

double schedule_lr(const advcc_schedule_cfg *s, double lr, int epochs, long step,
                   long per_epoch)
{
    const long e = step / per_epoch;
    double v = lr;
    switch (s->kind) {
    case ADVCC_SCHED_MULTISTEP:
        for (int i = 0; i < s->n; i++)
            if ((double)e >= s->at[i])
                v *= s->gamma;
        break;
    case ADVCC_SCHED_COSINE:
        v = s->min_lr + (lr - s->min_lr) * (1 + cos(M_PI * (double)e / epochs)) / 2;
        break;
    case ADVCC_SCHED_ONECYCLE:
        v = onecycle(s, lr, (long)epochs * per_epoch, step);
        break;
    case ADVCC_SCHED_PIECEWISE:
        v = lr * interp(s, (double)step / (double)per_epoch);
        break;
    default:
        break;
    }
    const long warm = (long)s->warmup * per_epoch;
    if (step < warm)
        v *= (double)(step + 1) / (double)warm;
    return v;
}
