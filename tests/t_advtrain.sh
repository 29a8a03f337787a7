#!/bin/sh
# Adversarial training (docs/METHODS.md 3) on a small subset runs and lowers the
# adversarial loss (the loss on each batch's PGD images, which is what the
# adversarially trained model logs); its checkpoint then attacks and
# evaluates.  Skipped (77) without CIFAR10_DIR.
set -eu
BUILD=${BUILD:-build}
[ -n "${CIFAR10_DIR:-}" ] || { echo "skip: set CIFAR10_DIR"; exit 77; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
"$BUILD/bin/adv" train --epochs 3 --limit 1000 --test-limit 200 --lr 0.01 --batch 50 \
    --threads 2 --quiet --out "$tmp/run"
awk -v steps=60 -v label="adversarial loss: " -f tests/loss_falls.awk "$tmp/run/train_loss.csv"
"$BUILD/bin/adv" attack --checkpoint "$tmp/run/checkpoint.safetensors" --limit 200 \
    --threads 2 --quiet --json "$tmp/pgd.json" --save-adv "$tmp/adv.npy"
grep -q '"robust_acc"' "$tmp/pgd.json"
# The saved images, evaluated as a transfer attack, give the same numbers.
"$BUILD/bin/adv" eval --checkpoint "$tmp/run/checkpoint.safetensors" --limit 200 \
    --threads 2 --quiet --adv-file "$tmp/adv.npy" --json "$tmp/transfer.json"
a=$(sed 's/.*"robust_acc":\([0-9.]*\).*/\1/' "$tmp/pgd.json")
b=$(sed 's/.*"robust_acc":\([0-9.]*\).*/\1/' "$tmp/transfer.json")
echo "robust accuracy: attack $a, transfer of its images $b"
[ "$a" = "$b" ]
echo "1 passed, 0 failed"
