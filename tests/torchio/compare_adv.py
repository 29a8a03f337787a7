"""compare_adv.py - advcc's PGD images against PyTorch's on the same weights.

    compare_adv.py TORCH_ADV.npy ADVCC_ADV.npy TORCH.json ADVCC.json

Every pixel of the two attacks' images within 1e-6, except where the sign of
an input gradient entry differs between the implementations because the
entry is a rounding error away from zero (then that pixel moves by 2 alpha
at a step): at most 0.1% of the pixels may differ.  Clean accuracies must be
equal, robust accuracies within one image."""
import json
import sys

import numpy as np


def main(argv):
    a, b = np.load(argv[0]).astype(np.float64), np.load(argv[1]).astype(np.float64)
    ta, tb = json.load(open(argv[2])), json.load(open(argv[3]))
    if a.shape != b.shape:
        print(f"shapes differ: {a.shape} {b.shape}")
        return 1
    diff = np.abs(a - b) > 1e-6
    share = diff.mean()
    n = a.shape[0]
    print(f"PGD images: {n} images, {100 * share:.4f}% of pixels differ (max {np.abs(a - b).max():.2e}); "
          f"clean accuracy PyTorch {100 * ta['clean_acc']:.2f}%, advcc {100 * tb['clean_acc']:.2f}%; "
          f"robust accuracy PyTorch {100 * ta['robust_acc']:.2f}%, advcc {100 * tb['robust_acc']:.2f}%")
    ok = share <= 1e-3 and abs(ta["clean_acc"] - tb["clean_acc"]) < 0.5 / n \
        and abs(ta["robust_acc"] - tb["robust_acc"]) <= 1.0 / n + 1e-9
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
