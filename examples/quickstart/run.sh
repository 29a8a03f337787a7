#!/bin/sh
# The main job, from a fresh clone: install the Debian packages, compile the
# specs and build the model binaries, then, with advcc-study and a small grid,
# train a baseline and an adversarially trained model (and on Fashion-MNIST a
# random self-ensemble) briefly, attack each with PGD-4 at 8/255, print a table
# (clean accuracy, robust accuracy, attack success) and write a report page
# with figures.  About five minutes on two cores, the build included.
#
# Data: CIFAR-10 from $CIFAR10_DIR, else ./data/cifar-10-batches-bin (`make
# data` downloads it), with examples/quickstart/cifar10.grid; where neither
# exists, Fashion-MNIST from Debian's dataset-fashion-mnist with
# examples/quickstart/fashion.grid (the same network on 1x28x28 inputs).
# The grid files hold the recipe (images, epochs, learning rate) and say why.
#
# Finished cells are kept: running it again only prints the table and the
# report (remove out/quickstart-* to train again).
set -eu
cd "$(dirname "$0")/../.."
t0=$(date +%s)
sh examples/quickstart/install-deps.sh
# Two cores are often shared: OpenMP threads that spin slow everyone down.
export OMP_WAIT_POLICY="${OMP_WAIT_POLICY:-passive}"
BUILD=${BUILD:-build}
mkdir -p out
echo "quickstart: building advcc, the runtime and the model binaries (log: out/quickstart-build.log)"
if ! make -j2 --no-print-directory BUILD="$BUILD" >out/quickstart-build.log 2>&1; then
    tail -n 20 out/quickstart-build.log >&2
    echo "quickstart: the build failed; see out/quickstart-build.log" >&2
    exit 1
fi
t1=$(date +%s)
echo "quickstart: built in $((t1 - t0)) s"

if [ -n "${CIFAR10_DIR:-}" ] || [ -f data/cifar-10-batches-bin/test_batch.bin ]; then
    grid=examples/quickstart/cifar10.grid base=baseline
    echo "quickstart: CIFAR-10 from ${CIFAR10_DIR:-data/cifar-10-batches-bin}"
else
    grid=examples/quickstart/fashion.grid base=fashion
    echo "quickstart: no CIFAR-10 copy (set CIFAR10_DIR or run 'make data');"
    echo "quickstart: using Fashion-MNIST from ${FASHION_MNIST_DIR:-/usr/share/datasets/fashion-mnist} instead"
fi
out=$(sed -n 's/^out[[:space:]]*//p' "$grid")
echo "quickstart: $grid: $(sed -n 's/^models[[:space:]]*//p' "$grid" | tr -s ' ' | sed 's/ /, /g'), one epoch on" \
     "$(sed -n 's/^train_limit[[:space:]]*//p' "$grid") images, PGD-4 at 8/255 on" \
     "$(sed -n 's/^test_limit[[:space:]]*//p' "$grid") test images (two at a time; log: $out/run.log)"
mkdir -p "$out"
if ! "$BUILD/bin/advcc-study" run --bin "$BUILD/bin" "$grid" >"$out/run.log" 2>&1; then
    cat "$out/run.log" >&2
    echo "quickstart: a cell failed; 'advcc-study status $grid' says which" >&2
    exit 1
fi
"$BUILD/bin/advcc-study" report --baseline "$base" "$grid" >"$out/report.log" 2>&1 ||
    { cat "$out/report.log" >&2; exit 1; }
t2=$(date +%s)

echo
awk -F, 'NR == 1 { for (i = 1; i <= NF; i++) col[$i] = i
                   printf "%-14s %10s %11s %15s\n", "model", "clean acc", "robust acc", "attack success"
                   next }
         { printf "%-14s %9.1f%% %10.1f%% %14.1f%%\n", $col["model"], 100 * $col["clean_acc"],
                  100 * $col["robust_acc"], 100 * $col["attack_success"] }' "$out/results.csv"
echo "(PGD-4, eps 8/255, alpha 2/255, Gaussian start; robust acc: right both clean and attacked;"
echo " attack success: share of the clean-right images the attack turns wrong)"
echo
echo "quickstart: report page  $out/report/report.md"
echo "quickstart: figure       $out/report/accuracy-eps8.png (clean and robust accuracy per model)"
echo "quickstart: results      $out/results.csv; each run's files in $out/cells/"
echo "quickstart: done in $((t2 - t0)) s ($((t1 - t0)) s build, $((t2 - t1)) s training, attacks and report)"
echo
echo "Next:"
echo "  the study:      $BUILD/bin/advcc-study run examples/study/quick.grid   (nine models, 3 seeds, 4 eps;"
echo "                  about half an hour; then 'advcc-study report', see examples/study/README.md)"
echo "  a new variant:  examples/new_variant/ (a model in five lines; make variant SPEC=my.net)"
echo "  more models:    name more of $BUILD/bin/ in $grid's 'models' line and run this again"
if [ "$base" = baseline ]; then
    echo "                  (rse, the random self-ensemble: about four minutes more)"
fi
echo "  one model:      $BUILD/bin/$base --help"
