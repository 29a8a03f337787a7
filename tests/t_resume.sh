#!/bin/sh
# A training run killed (SIGKILL) after an epoch resumes with --resume and
# ends bit-identical to an uninterrupted run: same weights, same loss log.
# Uses the adversarially trained model, so the attack's random starts are
# covered too.  Skipped (77) without CIFAR10_DIR.
set -eu
BUILD=${BUILD:-build}
[ -n "${CIFAR10_DIR:-}" ] || { echo "skip: set CIFAR10_DIR"; exit 77; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
args="--epochs 3 --limit 300 --test-limit 100 --batch 50 --threads 1 --quiet"
"$BUILD/bin/adv" train $args --out "$tmp/whole" > /dev/null

"$BUILD/bin/adv" train $args --out "$tmp/cut" > /dev/null &
pid=$!
while ! [ -f "$tmp/cut/state/epoch" ]; do
    kill -0 $pid 2>/dev/null || { echo "run ended before its first epoch was saved"; exit 1; }
    sleep 0.05
done
kill -9 $pid
wait $pid 2>/dev/null || true
[ ! -f "$tmp/cut/checkpoint.safetensors" ] || { echo "a killed run left a final checkpoint"; exit 1; }
echo "killed after epoch $(cat "$tmp/cut/state/epoch")"
"$BUILD/bin/adv" train $args --resume --out "$tmp/cut" > /dev/null
cmp "$tmp/whole/checkpoint.safetensors" "$tmp/cut/checkpoint.safetensors"
cmp "$tmp/whole/train_loss.csv" "$tmp/cut/train_loss.csv"
[ ! -d "$tmp/cut/state" ] || { echo "state left after a finished run"; exit 1; }
echo "1 passed, 0 failed"
