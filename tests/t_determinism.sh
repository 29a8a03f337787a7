#!/bin/sh
# The same seed and thread count give bit-identical weights; another seed
# gives others.  Skipped (77) without CIFAR10_DIR.
set -eu
BUILD=${BUILD:-build}
[ -n "${CIFAR10_DIR:-}" ] || { echo "skip: set CIFAR10_DIR"; exit 77; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
run() { "$BUILD/bin/baseline" train --epochs 1 --limit 600 --test-limit 100 --threads 2 \
    --quiet --seed "$1" --out "$tmp/$2" > /dev/null; }
run 3 a
run 3 b
run 4 c
cmp "$tmp/a/checkpoint.safetensors" "$tmp/b/checkpoint.safetensors"
cmp "$tmp/a/train_loss.csv" "$tmp/b/train_loss.csv"
if cmp -s "$tmp/a/checkpoint.safetensors" "$tmp/c/checkpoint.safetensors"; then
    echo "seeds 3 and 4 gave the same weights"
    exit 1
fi
echo "1 passed, 0 failed"
