#!/usr/bin/python3
"""Paired t-tests by SciPy, the oracle for runtime/study/stats.c.

Reads lines "x1 x2 ...; y1 y2 ..." from the file named on the command line
(or stdin) and prints for each:
    t df p_greater p_less ci_lo ci_hi
with 17 significant digits; ci is the two-sided 95% interval of mean(x - y).
Run it with Debian's /usr/bin/python3 (python3-scipy)."""
import sys

from scipy import stats


def main():
    src = open(sys.argv[1]) if len(sys.argv) > 1 else sys.stdin
    for line in src:
        line = line.strip()
        if not line:
            continue
        xs, ys = line.split(";")
        x = [float(v) for v in xs.split()]
        y = [float(v) for v in ys.split()]
        greater = stats.ttest_rel(x, y, alternative="greater")
        less = stats.ttest_rel(x, y, alternative="less")
        two = stats.ttest_rel(x, y, alternative="two-sided")
        ci = two.confidence_interval(0.95)
        print("%.17g %d %.17g %.17g %.17g %.17g" % (
            greater.statistic, len(x) - 1, greater.pvalue, less.pvalue,
            ci.low, ci.high))


if __name__ == "__main__":
    main()
