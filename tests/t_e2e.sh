#!/bin/sh
# End to end, as a user works: compile every spec with advcc into a fresh
# directory, build one model binary from the emitted C and the runtime, train
# it for one epoch on the first 2000 CIFAR-10 images, and check that the
# loss falls and the outputs are there.  Skipped (77) without CIFAR10_DIR.
set -eu
BUILD=${BUILD:-build}
[ -n "${CIFAR10_DIR:-}" ] || { echo "skip: set CIFAR10_DIR"; exit 77; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

"$BUILD/advcc" specs/*.net -o "$tmp/gen"
for m in baseline adv; do
    [ -s "$tmp/gen/$m.c" ] && [ -s "$tmp/gen/$m.h" ] || { echo "no $m.c"; exit 1; }
done
grep -q 'MODELS' "$tmp/gen/models.mk"
libs=$(make -s --no-print-directory print-LDLIBS)
cc -O2 -fopenmp -Wall -Wextra -Werror -Iruntime -DADVCC_MODEL=advcc_model_baseline \
    "$tmp/gen/baseline.c" runtime/main.c "$BUILD/lib/libadvcc.a" $libs -o "$tmp/baseline"

"$tmp/baseline" train --epochs 1 --limit 2000 --test-limit 500 --lr 0.01 --batch 50 \
    --threads 2 --quiet --out "$tmp/run" > "$tmp/out.txt"
cat "$tmp/out.txt"
grep -q 'test accuracy' "$tmp/out.txt"
for f in checkpoint.safetensors train_loss.csv train.json; do
    [ -s "$tmp/run/$f" ] || { echo "missing $f"; exit 1; }
done
ls "$tmp/run" | grep -q tmp && { echo "temporary files left"; exit 1; }
# 40 steps: the mean loss of the last ten is below that of the first ten.
awk -v steps=40 -v label="" -f tests/loss_falls.awk "$tmp/run/train_loss.csv"
grep -q '"status":"ok"' "$tmp/run/train.json"
echo "1 passed, 0 failed"
