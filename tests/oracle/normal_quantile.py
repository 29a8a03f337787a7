"""normal_quantile.py - the p-quantile of the standard normal distribution,
against which the runtime's dropout keeps an element's normal draw
(runtime/dropout.h), for the references that replay its masks
(torch_models.py, specgen_twin.py)."""
import math


def normal_quantile(p):
    """z with P(N(0, 1) < z) = p, 0 < p < 1, by bisection to the last bit."""
    lo, hi = -40.0, 40.0
    while True:
        mid = lo + (hi - lo) / 2
        if mid <= lo or mid >= hi:
            return hi
        if 0.5 * math.erfc(-mid / math.sqrt(2)) < p:
            lo = mid
        else:
            hi = mid
