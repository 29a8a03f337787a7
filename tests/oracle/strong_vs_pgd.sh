#!/bin/sh
# The strong evaluation is never weaker than the seed's attack: for each of
# the seed's nine CIFAR-10 models (or MODELS="..."), trains it briefly (one
# epoch on the first LIMIT training images, seed 0; or takes
# CHECKPOINTS=DIR holding DIR/<model>/checkpoint.safetensors), runs PGD-4
# (the spec's attack) and AutoAttack with the model's own ensemble
# (`standard`, or `rand` for a model with noise layers) on the first N test
# images at 8/255, and checks that AutoAttack's robust accuracy is not above
# PGD-4's. Prints one line per model and "N passed, N failed".
# Not part of `make check` (about a minute a model on one thread, RSE's
# `rand` several); needs CIFAR10_DIR.
set -u
BUILD=${BUILD:-build}
N=${N:-200}
LIMIT=${LIMIT:-5000}
MODELS=${MODELS:-"baseline adv quant reg quant_adv quant_reg adv_reg quant_adv_reg rse"}
[ -n "${CIFAR10_DIR:-}" ] || { echo "skip: set CIFAR10_DIR"; exit 77; }
export OMP_WAIT_POLICY=passive
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
pass=0 fail=0
for m in $MODELS; do
    B="$BUILD/bin/$m"
    if [ -n "${CHECKPOINTS:-}" ]; then
        C="$CHECKPOINTS/$m/checkpoint.safetensors"
    else
        "$B" train --epochs 1 --limit "$LIMIT" --test-limit 100 --threads 1 --quiet \
            --out "$tmp/$m" > "$tmp/$m.train" 2>&1 || { echo "$m: training failed"; fail=$((fail + 1)); continue; }
        C="$tmp/$m/checkpoint.safetensors"
    fi
    "$B" attack --attack pgd --checkpoint "$C" --limit "$N" --threads 1 --quiet \
        --json "$tmp/$m.pgd.json" > /dev/null 2>&1
    "$B" attack --attack autoattack --checkpoint "$C" --limit "$N" --threads 1 --quiet \
        --no-sanity --json "$tmp/$m.aa.json" > /dev/null 2>&1
    p=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["robust_acc"])' "$tmp/$m.pgd.json" 2>/dev/null)
    a=$(python3 -c 'import json,sys; j=json.load(open(sys.argv[1])); print(j["robust_acc"], j.get("ensemble", "?"))' "$tmp/$m.aa.json" 2>/dev/null)
    if [ -z "$p" ] || [ -z "$a" ]; then
        echo "$m: an attack wrote no result"; fail=$((fail + 1)); continue
    fi
    set -- $a
    if awk -v a="$1" -v p="$p" 'BEGIN { exit !(a <= p) }'; then
        echo "$m: PGD-4 $p, autoattack ($2) $1: not weaker"; pass=$((pass + 1))
    else
        echo "$m: PGD-4 $p, autoattack ($2) $1: WEAKER than PGD-4"; fail=$((fail + 1))
    fi
done
echo "strong_vs_pgd: $pass passed, $fail failed"
[ "$fail" = 0 ]
