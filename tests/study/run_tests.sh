#!/bin/sh
# run_tests.sh - the study's tests (make check-study): the CMocka binaries
# named on the command line, then the Slurm test; one line per test and a
# closing "N passed, N failed, N skipped" counted in test cases.
BUILD=${BUILD:-build}
pass=0 fail=0 skip=0
log=$(mktemp)
trap 'rm -f "$log"' EXIT

tally() { # name exit-status
    p=$(sed -n 's/^\[  PASSED  \] \([0-9]*\) test.*/\1/p' "$log" | tail -n 1)
    f=$(sed -n 's/^\[  FAILED  \] \([0-9]*\) test.*/\1/p' "$log" | tail -n 1)
    s=$(sed -n 's/^\[  SKIPPED \] \([0-9]*\) test.*/\1/p' "$log" | tail -n 1)
    line=$(grep -E '^[a-z_]+: [0-9]+ passed, [0-9]+ failed' "$log" | tail -n 1)
    if [ -z "$p$f" ] && [ -n "$line" ]; then
        p=$(echo "$line" | sed 's/^[a-z_]*: \([0-9]*\) passed.*/\1/')
        f=$(echo "$line" | sed 's/.* \([0-9]*\) failed.*/\1/')
        s=$(echo "$line" | sed -n 's/.* \([0-9]*\) skipped.*/\1/p')
    fi
    p=${p:-0} f=${f:-0} s=${s:-0}
    if [ "$2" != 0 ] && [ "$2" != 77 ] && [ "$f" = 0 ]; then f=1; fi
    pass=$((pass + p)) fail=$((fail + f)) skip=$((skip + s))
    [ "$f" = 0 ] || cat "$log"
    [ "$2" = 77 ] && grep -m 1 'skipped:' "$log"
    printf '%-24s %3d passed, %d failed, %d skipped\n' "$1" "$p" "$f" "$s"
}

for t in "$@"; do
    "$t" >"$log" 2>&1
    tally "$(basename "$t")" $?
done
BUILD="$BUILD" sh tests/study/slurm_test.sh >"$log" 2>&1
tally slurm_test $?
echo "$pass passed, $fail failed, $skip skipped"
[ "$fail" = 0 ]
