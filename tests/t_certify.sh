#!/bin/sh
# `MODEL certify` end to end (docs/METHODS.md 10): train the seed CNN briefly,
# certify 100 test images with every output (CSV, JSON, figure), check the
# files; the sound bound's certified images survive the attack check; the
# quantised and RSE models are refused with status 2 and their reason;
# --help is true.  Skipped (77) without CIFAR10_DIR.
set -eu
BUILD=${BUILD:-build}
[ -n "${CIFAR10_DIR:-}" ] || { echo "skip: set CIFAR10_DIR"; exit 77; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
export OMP_WAIT_POLICY=passive
bin="$BUILD/bin"

"$bin/baseline" certify --help > "$tmp/help.txt"
grep -q -- '--flattened' "$tmp/help.txt"
"$bin/baseline" --help | grep -q certify

"$bin/baseline" train --epochs 1 --limit 1000 --test-limit 100 --lr 0.01 \
    --threads 2 --quiet --out "$tmp/run" > /dev/null
"$bin/baseline" certify --checkpoint "$tmp/run/checkpoint.safetensors" --limit 100 \
    --threads 2 --quiet --csv "$tmp/c.csv" --json "$tmp/c.json" --plot "$tmp/c.png" \
    --attack-check --check-steps 10 --check-iters 10 --check-restarts 1 > "$tmp/out.txt"
cat "$tmp/out.txt"
grep -q 'Lipschitz bound L' "$tmp/out.txt"
grep -q 'certified accuracy' "$tmp/out.txt"
[ "$(head -1 "$tmp/c.csv")" = "index,label,predicted,margin,radius,radius_global,broken" ] ||
    { echo "bad CSV header"; exit 1; }
[ "$(wc -l < "$tmp/c.csv")" -eq 101 ] || { echo "CSV rows"; exit 1; }
for k in '"lipschitz":' '"certified_acc":\[' '"certified_acc_36":' '"layers":\[' \
         '"attack_check":{"checked":'; do
    grep -q "$k" "$tmp/c.json" || { echo "JSON lacks $k"; exit 1; }
done
grep -q '"broken":0,' "$tmp/c.json" || { echo "a certified image was broken"; exit 1; }
grep -q '"attack":"both"' "$tmp/c.json" || { echo "the check is not PGD and APGD"; exit 1; }
# the check can fail: far outside the radii (eps capped at the whole box) APGD
# alone breaks every certified image
"$bin/baseline" certify --checkpoint "$tmp/run/checkpoint.safetensors" --limit 100 \
    --threads 2 --quiet --json "$tmp/far.json" --attack-check --check-attack apgd \
    --check-iters 20 --check-restarts 1 --check-scale 1e6 > /dev/null
grep -q '"attack":"apgd"' "$tmp/far.json" || { echo "the check is not APGD"; exit 1; }
far=$(sed 's/.*"attack_check":{"checked":\([0-9]*\),"broken":\([0-9]*\),.*/\1 \2/' "$tmp/far.json")
set -- $far
[ "$1" -gt 0 ] && [ "$1" = "$2" ] || { echo "in the whole box $2 of $1 broken"; exit 1; }
set +e
"$bin/baseline" certify --checkpoint "$tmp/run/checkpoint.safetensors" --attack-check \
    --check-attack fgsm > /dev/null 2> "$tmp/err.txt"
code=$?
set -e
[ $code -eq 2 ] && grep -q 'check-attack' "$tmp/err.txt" || { echo "bad --check-attack: $code"; exit 1; }
[ -s "$tmp/c.dat" ] && [ -s "$tmp/c.gp" ] || { echo "no figure data"; exit 1; }
if command -v gnuplot > /dev/null; then
    [ -s "$tmp/c.png" ] || { echo "no figure"; exit 1; }
fi
# radii: every misclassified image has radius 0; every radius >= 0
awk -F, 'NR > 1 && (($2 != $3 && $5 != 0) || $5 < 0) { bad = 1 } END { exit bad }' "$tmp/c.csv" ||
    { echo "bad radius in CSV"; exit 1; }
ls "$tmp" | grep -q '\.tmp' && { echo "temporary files left"; exit 1; }

for m in quant rse; do
    set +e
    "$bin/$m" certify --checkpoint "$tmp/run/checkpoint.safetensors" > /dev/null 2> "$tmp/err.txt"
    code=$?
    set -e
    [ $code -eq 2 ] || { echo "$m: exit $code, want 2"; exit 1; }
    grep -q refused "$tmp/err.txt" || { echo "$m: no reason"; cat "$tmp/err.txt"; exit 1; }
done
grep -q 'randomized smoothing' "$tmp/err.txt"
echo "1 passed, 0 failed"
