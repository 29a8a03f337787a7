#!/bin/sh
# Certified robustness (docs/METHODS.md 10): train the two-layer CNN of
# shallow.net briefly, certify 1000 test images with the sound bound and
# with the flattened-kernel shortcut, and attack every certified image with
# L2 PGD and APGD-CE inside its radius.  The flattened "radii" are broken;
# the sound ones are not.  Needs CIFAR10_DIR; about five minutes on one core.
set -eu
cd "$(dirname "$0")/../.."
export OMP_WAIT_POLICY=passive
out=${OUT:-out/certify-example}
make -s variant SPEC=examples/certify/shallow.net
build/variants/shallow train --epochs 2 --limit 20000 --test-limit 1000 --threads 1 \
    --seed 0 --quiet --out "$out"
for mode in sound flattened; do
    flag=""
    [ $mode = flattened ] && flag=--flattened
    build/variants/shallow certify --checkpoint "$out/checkpoint.safetensors" --limit 1000 \
        --threads 1 --quiet --attack-check $flag --csv "$out/certify-$mode.csv" \
        --json "$out/certify-$mode.json" --plot "$out/certify-$mode.png"
done
# images the flattened bound certifies whose attack succeeded inside the radius
awk -F, 'NR > 1 && $7 == 1 { printf "image %d: flattened radius %.4f (%.2f/255), broken\n", $1, $5, 255 * $5 }' \
    "$out/certify-flattened.csv"
