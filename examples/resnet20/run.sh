#!/bin/sh
# ResNet-20 (specs/extra/resnet20.net) trained by advcc and by its PyTorch
# twin with the same recipe (README.md here).  Run from the repository's
# root: sh examples/resnet20/run.sh [OUT] ; THREADS, EPOCHS, SEED and LIMIT
# (training images; all by default) and PYTHON (one with PyTorch) may be set.  An interrupted run starts
# again where it stopped (advcc's --resume; the twin starts over).
set -eu
OUT=${1:-out/resnet20}
THREADS=${THREADS:-2}
SEED=${SEED:-0}
: "${CIFAR10_DIR:?set CIFAR10_DIR to CIFAR-10's binary batches (make data downloads them)}"
extra=""
[ -n "${EPOCHS:-}" ] && extra="$extra --epochs $EPOCHS"
[ -n "${LIMIT:-}" ] && extra="$extra --limit $LIMIT"
mkdir -p "$OUT"
make variant SPEC=specs/extra/resnet20.net
build/advcc -q --torch specs/extra/resnet20.net -o "$OUT/twin"

resume=""
[ -d "$OUT/advcc/state" ] && resume=--resume
# shellcheck disable=SC2086
build/variants/resnet20 train --seed "$SEED" --threads "$THREADS" --out "$OUT/advcc" \
    $resume $extra 2> "$OUT/advcc.log" || { tail -5 "$OUT/advcc.log"; exit 1; }
grep "test accuracy" "$OUT/advcc.log"
# shellcheck disable=SC2086
"${PYTHON:-python3}" examples/resnet20/train_twin.py "$OUT/twin/resnet20.py" --seed "$SEED" \
    --threads "$THREADS" --out "$OUT/twin.json" $extra 2> "$OUT/twin.log" \
    || { tail -5 "$OUT/twin.log"; exit 1; }
grep "test accuracy" "$OUT/twin.log"
