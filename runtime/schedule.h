/* schedule.h - the learning rate of each training step (docs/METHODS.md 1).
 * Step s (0, 1, ... from the start of training, resumed runs included) of
 * P steps per epoch lies in epoch e = floor(s / P) at time t = s / P:
 *   constant   lr
 *   multistep  lr * gamma^(number of milestones <= e)    (per epoch)
 *   cosine     min_lr + (lr - min_lr) (1 + cos(pi e / E)) / 2 (per epoch)
 *   onecycle   torch.optim.lr_scheduler.OneCycleLR, anneal_strategy
 *              'linear', max_lr lr, over E * P steps (per step)
 *   piecewise  lr * the linear interpolation of factor[] at knots at[],
 *              flat beyond them, at t (per step, as numpy.interp)
 * and a warm-up of W epochs multiplies any of them by (s + 1) / (W P) for
 * s < W P (linear from lr / (W P)). */
#ifndef ADVCC_SCHEDULE_H
#define ADVCC_SCHEDULE_H

#include "model.h"

double schedule_lr(const advcc_schedule_cfg *s, double lr, int epochs, long step,
                   long per_epoch);

#endif
