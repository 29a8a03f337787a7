/* loss.c - mean softmax cross-entropy over a batch of logits, its gradient
 * with respect to the logits, and the predicted classes. */
#include <math.h>
#include "kernels.h"

double softmax_xent(const real_t *logits, const int *labels, int batch,
                    int classes, real_t *dlogits, int *pred)
{
    double total = 0.0;
    for (int b = 0; b < batch; b++) {
        const real_t *z = logits + (long)b * classes;
        /* Subtracting the row maximum keeps exp() from overflowing. */
        int best = 0;
        for (int j = 1; j < classes; j++)
            if (z[j] > z[best])
                best = j;
        double zmax = z[best];
        double sum = 0.0;
        for (int j = 0; j < classes; j++)
            sum += exp((double)z[j] - zmax);
        double logsum = log(sum);
        total += logsum - ((double)z[labels[b]] - zmax);
        if (pred)
            pred[b] = best;
        if (dlogits) {
            real_t *d = dlogits + (long)b * classes;
            for (int j = 0; j < classes; j++) {
                double p = exp((double)z[j] - zmax - logsum);
                d[j] = (real_t)((p - (j == labels[b])) / batch);
            }
        }
    }
    return total / batch;
}
