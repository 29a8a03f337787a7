#!/bin/sh
# The PyTorch check of APGD-CE and APGD-T (tests/oracle/apgd_oracle.py):
# trains the baseline briefly (or takes CHECKPOINT=file), runs the runtime's
# APGD-CE and APGD-T (100 iterations, 9 targets) on the first N test images
# at eps 8/255 and 2/255, and compares robust accuracy with an independent
# PyTorch implementation (within 1 point).
# Not part of `make check` (a few minutes); needs CIFAR10_DIR and Debian's
# python3-torch.
set -eu
BUILD=${BUILD:-build}
N=${N:-500}
PY=${ORACLE_PYTHON:-/usr/bin/python3}
[ -n "${CIFAR10_DIR:-}" ] || { echo "skip: set CIFAR10_DIR"; exit 77; }
export OMP_WAIT_POLICY=passive
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
C=${CHECKPOINT:-}
if [ -z "$C" ]; then
    "$BUILD/bin/baseline" train --epochs 1 --limit 10000 --test-limit 100 --threads 1 \
        --quiet --out "$tmp/run" > /dev/null
    C="$tmp/run/checkpoint.safetensors"
fi
rc=0
for attack in apgd-ce apgd-t; do
    for eps in 8/255 2/255; do
        "$BUILD/bin/baseline" attack --attack $attack --checkpoint "$C" --limit "$N" \
            --eps "$eps" --threads 1 --quiet --json "$tmp/c.json" > /dev/null
        "$PY" tests/oracle/apgd_oracle.py baseline "$C" "$N" "$tmp/c.json" || rc=1
    done
done
exit $rc
