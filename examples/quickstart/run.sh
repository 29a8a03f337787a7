#!/bin/sh
# The main job, from a fresh clone: install the Debian packages, compile the
# specs, build the model binaries, train the seed CNN for a short run and
# print its test accuracy.
#
# Data: CIFAR-10 from $CIFAR10_DIR, else ./data/cifar-10-batches-bin (`make
# data` downloads it); where neither exists, Fashion-MNIST from Debian's
# dataset-fashion-mnist, with the same network on 1x28x28 inputs.
#
# QUICKSTART_EPOCHS and QUICKSTART_LIMIT set the length of the run
# (default: 1 epoch over the first 10000 training images).
set -eu
cd "$(dirname "$0")/../.."
sh examples/quickstart/install-deps.sh
make -j2 --no-print-directory
BUILD=${BUILD:-build}
epochs=${QUICKSTART_EPOCHS:-1}
limit=${QUICKSTART_LIMIT:-10000}

if [ -n "${CIFAR10_DIR:-}" ] || [ -f data/cifar-10-batches-bin/test_batch.bin ]; then
    model=baseline
    echo "quickstart: CIFAR-10 from ${CIFAR10_DIR:-data/cifar-10-batches-bin}"
else
    model=fashion
    echo "quickstart: no CIFAR-10 copy (set CIFAR10_DIR or run 'make data');"
    echo "quickstart: using Fashion-MNIST from /usr/share/datasets/fashion-mnist instead"
fi
echo "quickstart: training $model for $epochs epoch(s) on $limit images"
"$BUILD/bin/$model" train --epochs "$epochs" --limit "$limit" --seed 0 \
    --out "out/quickstart-$model"
