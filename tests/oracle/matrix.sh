#!/bin/sh
# matrix.sh - the PyTorch oracle under every OpenBLAS kernel and seed given:
#   sh tests/oracle/matrix.sh [CORES] [SEEDS]
# CORES: OPENBLAS_CORETYPE values ("default" leaves it unset, so that
# OpenBLAS picks for the CPU), default "default Haswell SkylakeX Zen";
# SEEDS: ORACLE_SEED values, default "1 2 3 4 5".  Prints one line per
# combination with the oracle's summary and the units it excused at
# activation kinks, then the usual summary line.  Logs in
# $BUILD/oracle-matrix/.
BUILD=${BUILD:-build}
CORES=${1:-default Haswell SkylakeX Zen}
SEEDS=${2:-1 2 3 4 5}
mkdir -p "$BUILD/oracle-matrix"
pass=0 fail=0
for core in $CORES; do
    for seed in $SEEDS; do
        log=$BUILD/oracle-matrix/$core-$seed.log
        if [ "$core" = default ]; then
            env -u OPENBLAS_CORETYPE make --no-print-directory -s check-oracle ORACLE_SEED="$seed" >"$log" 2>&1
        else
            OPENBLAS_CORETYPE=$core make --no-print-directory -s check-oracle ORACLE_SEED="$seed" >"$log" 2>&1
        fi
        rc=$?
        kinks=$(grep -c 'at activation kinks flipped' "$log")
        printf '%-10s seed %s: %s (exit %d; %d comparisons settled at kinks)\n' \
            "$core" "$seed" "$(tail -n 1 "$log")" "$rc" "$kinks"
        if [ $rc = 0 ]; then pass=$((pass + 1)); else fail=$((fail + 1)); fi
    done
done
echo "$pass passed, $fail failed"
[ "$fail" = 0 ]
