#!/bin/sh
# run.sh - the activation comparison in one command: builds the runtime and
# the program, trains and times the four activations, draws the figures.
#   sh examples/activations/run.sh
# Environment: BUILD (the build directory, default build), OUT (where the
# data and figures go, default examples/activations/out), MAX_N (largest
# size timed, default 10000000).
set -eu
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
BUILD=${BUILD:-build}
OUT=${OUT:-$here/out}
MAX_N=${MAX_N:-10000000}

make -C "$root" --no-print-directory BUILD="$BUILD" "$BUILD/lib/libadvcc.a" >/dev/null
mkdir -p "$OUT"
cc -O2 -Wall -Wextra -Werror -fopenmp -D_GNU_SOURCE -I"$root/runtime" \
    "$here/activations.c" "$root/$BUILD/lib/libadvcc.a" -lopenblas -lm \
    -o "$OUT/activations"
"$OUT/activations" "$OUT" "$MAX_N" | tee "$OUT/summary.txt"
gnuplot -e "dir='$OUT'" "$here/plot.gp"
echo "figures: $OUT/activations.png $OUT/training.png $OUT/timing.png"
