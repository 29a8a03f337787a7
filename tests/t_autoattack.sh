#!/bin/sh
# `MODEL attack --attack apgd-ce|apgd-t|fab-t|square|autoattack` on a
# briefly trained baseline: the summary and the per-image CSV agree, the
# ensemble is never weaker than APGD-CE or FAB-T alone, FAB-T keeps box and
# budget in both norms, an evaluation killed midway (also in the middle of
# FAB-T) continues with --resume and keeps what was done, and bad options
# are refused.  Skipped (77) without CIFAR10_DIR.
set -u
BUILD=${BUILD:-build}
[ -n "${CIFAR10_DIR:-}" ] || { echo "skip: set CIFAR10_DIR"; exit 77; }
export OMP_WAIT_POLICY=passive
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
B="$BUILD/bin/baseline"
pass=0 fail=0
ok() { pass=$((pass + 1)); }
bad() { fail=$((fail + 1)); echo "FAIL: $1"; }
check() { if eval "$2"; then ok; else bad "$1"; fi; }

"$B" train --epochs 1 --limit 1000 --test-limit 100 --lr 0.01 --batch 50 \
    --threads 1 --quiet --out "$tmp/run" > "$tmp/train.txt" || { cat "$tmp/train.txt"; exit 1; }
C="$tmp/run/checkpoint.safetensors"
A="--checkpoint $C --limit 60 --threads 1 --batch 20 --quiet --eps 8/255"

check "help" '"$B" attack --attack autoattack --help | grep -q -- "--resume"'
"$B" attack --attack autoattack --quick $A --json "$tmp/aa.json" --csv "$tmp/aa.csv" > "$tmp/aa.txt"
check "ensemble runs" '[ $? -eq 0 ] && grep -q "after fab-t" "$tmp/aa.txt" && grep -q "after square" "$tmp/aa.txt"'
"$B" attack --attack apgd-ce --quick $A --json "$tmp/ce.json" > "$tmp/ce.txt"
check "apgd-ce runs" '[ $? -eq 0 ]'
rob() { sed 's/.*"robust_acc":\([0-9.]*\),"gradients".*/\1/' "$1"; }
check "ensemble <= apgd-ce alone" \
    'awk -v a="$(rob "$tmp/aa.json")" -v b="$(rob "$tmp/ce.json")" "BEGIN{exit !(a <= b)}"'
"$B" attack --attack fab-t --quick $A --json "$tmp/fab.json" --csv "$tmp/fab.csv" > "$tmp/fab.txt"
check "fab-t runs" '[ $? -eq 0 ] && grep -q "\"attack\":\"fab-t\"" "$tmp/fab.json"'
check "ensemble <= fab-t alone" \
    'awk -v a="$(rob "$tmp/aa.json")" -v b="$(rob "$tmp/fab.json")" "BEGIN{exit !(a <= b)}"'
# an image fab-t breaks: misclassified (margin <= 0) within eps, at an
# iteration of its 3 targets x 20; the others untouched
check "fab-t records" \
    'awk -F, "NR > 2 && \$4 == \"fab-t\" && (\$6 > 0 || \$7 > 8/255 + 1e-6 || \$5 < 0 || \$5 > 60) {exit 1}
              NR > 2 && \$4 == \"none\" && \$7 != 0 {exit 1}" "$tmp/fab.csv"'
"$B" attack --attack fab-t --quick $A --norm l2 --eps 0.25 --csv "$tmp/fab2.csv" > "$tmp/fab2.txt"
check "fab-t l2 within eps" \
    '[ $? -eq 0 ] && grep -q "fab-t L2 eps 0.25" "$tmp/fab2.txt" &&
     awk -F, "NR > 2 && \$4 == \"fab-t\" && (\$6 > 0 || \$7 > 0.25 + 1e-6) {exit 1}" "$tmp/fab2.csv"'
"$B" attack --attack fab-t --quick $A --eps 0 --json "$tmp/fab0.json" > /dev/null
check "fab-t eps 0 breaks nothing" \
    'grep -q "\"clean_acc\":\([0-9.]*\),.*\"robust_acc\":\1," "$tmp/fab0.json"'
# the CSV: 60 records, every one finished, its robust count the summary's
robust=$(awk -F, 'NR > 2 && $4 == "none"' "$tmp/aa.csv" | wc -l)
check "csv rows" '[ "$(awk -F, "NR > 2 && \$8 == 4" "$tmp/aa.csv" | wc -l)" -eq 60 ]'
check "csv agrees with json" \
    'awk -v a="$(rob "$tmp/aa.json")" -v r="$robust" "BEGIN{exit !(a * 60 > r - 0.5 && a * 60 < r + 0.5)}"'
check "perturbations in the ball" \
    'awk -F, "NR > 2 && \$7 > 8/255 + 1e-6 {exit 1}" "$tmp/aa.csv"'
check "broken images have margin <= 0" \
    'awk -F, "NR > 2 && \$4 ~ /apgd|fab|square/ && \$6 > 0 {exit 1}" "$tmp/aa.csv"'

# killed midway, then resumed: the records of the first run are kept
"$B" attack --attack autoattack --quick $A --csv "$tmp/r.csv" > /dev/null 2>&1 &
pid=$!
sleep 2
kill "$pid" 2>/dev/null
wait "$pid" 2>/dev/null
cp "$tmp/r.csv" "$tmp/before.csv" 2>/dev/null || : > "$tmp/before.csv"
"$B" attack --attack autoattack --quick $A --csv "$tmp/r.csv" --resume --json "$tmp/r.json" > "$tmp/r.txt"
check "resume runs" '[ $? -eq 0 ] && [ -s "$tmp/r.json" ]'
check "resume finishes every image" \
    '[ "$(awk -F, "NR > 2 && \$8 == 4" "$tmp/r.csv" | wc -l)" -eq 60 ]'
check "finished records kept" \
    'awk -F, "NR > 2 && \$8 == 4" "$tmp/before.csv" | while read l; do grep -qxF "$l" "$tmp/r.csv" || exit 1; done'

# killed in the middle of FAB-T (some images through it, done = 3, some
# waiting for it, done = 2), then resumed: the finished records are kept,
# and an image that had come through FAB-T is broken by Square or not at all
K="--checkpoint $C --limit 60 --threads 1 --batch 2 --quiet --eps 1/255 --quick"
"$B" attack --attack autoattack $K --csv "$tmp/k.csv" > /dev/null 2>&1 &
pid=$!
caught=0
for i in $(seq 600); do
    if [ -f "$tmp/k.csv" ] && cp "$tmp/k.csv" "$tmp/kb.csv" 2>/dev/null &&
       awk -F, 'NR > 2 && $8 == 3 {a = 1} NR > 2 && $8 == 2 {b = 1} END {exit !(a && b)}' "$tmp/kb.csv"; then
        kill "$pid" 2>/dev/null && caught=1
        break
    fi
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
done
wait "$pid" 2>/dev/null
check "killed in the middle of fab-t" '[ $caught -eq 1 ]'
"$B" attack --attack autoattack $K --csv "$tmp/k.csv" --resume > /dev/null
check "resume after fab-t finishes" \
    '[ $? -eq 0 ] && [ "$(awk -F, "NR > 2 && \$8 == 4" "$tmp/k.csv" | wc -l)" -eq 60 ]'
check "resume after fab-t keeps records" \
    'awk -F, "NR > 2 && \$8 == 4" "$tmp/kb.csv" | while read l; do grep -qxF "$l" "$tmp/k.csv" || exit 1; done'
check "images past fab-t not attacked again by it" \
    'awk -F, "NR > 2 && \$8 == 3 {print \$1}" "$tmp/kb.csv" | while read i; do
         awk -F, -v i="$i" "NR > 2 && \$1 == i && \$4 != \"square\" && \$4 != \"none\" {exit 1}" "$tmp/k.csv" || exit 1; done'
"$B" attack --attack apgd-ce --quick $A --csv "$tmp/r.csv" --resume > "$tmp/x.txt" 2>&1
check "resume refuses another attack's csv" '[ $? -ne 0 ] && grep -q "different attack" "$tmp/x.txt"'

for args in "--attack apgd-x" "--attack apgd-ce --eps abc" "--attack square --norm l1" \
            "--attack fab" "--attack fab-t --targets 0" "--attack fab-t --eps 2" \
            "--attack apgd-ce --version rand" "--attack apgd-ce --iters 1.5" \
            "--attack autoattack --resume" "--attack square --p-init 0"; do
    "$B" attack $args --checkpoint "$C" --limit 5 --quiet > /dev/null 2>&1
    rc=$?
    check "refused: $args" '[ $rc -eq 2 ]'
done
# the spec's `attack apgd` (or `attack fab`) is what `attack` runs without
# --attack
cat > "$tmp/small.net" <<'SPEC'
model small {
  input 3x32x32 classes 10
  conv 8 3 pad=same -> relu -> avgpool 4
  flatten
  linear 10
  train sgd lr=0.01 batch=50 epochs=1
  attack apgd eps=4/255 loss=dlr iters=10
}
patch fab { attack fab eps=2/255 iters=5 targets=2 }
model small_fab = small + fab
SPEC
if "$BUILD/advcc" "$tmp/small.net" -o "$tmp/gen" > "$tmp/advcc.txt" 2>&1; then
    libs=$(make -s --no-print-directory print-LDLIBS)
    cc -O2 -fopenmp -Iruntime -DADVCC_MODEL=advcc_model_small "$tmp/gen/small.c" \
        runtime/main.c "$BUILD/lib/libadvcc.a" $libs -o "$tmp/small"
    "$tmp/small" train --limit 500 --test-limit 50 --threads 1 --quiet --out "$tmp/srun" > /dev/null
    check "info shows the spec's apgd" '"$tmp/small" info | grep -q "attack: apgd eps=0.0156863 .* loss=dlr iters=10"'
    "$tmp/small" attack --checkpoint "$tmp/srun/checkpoint.safetensors" --limit 20 \
        --threads 1 --quiet --json "$tmp/s.json" > "$tmp/s.txt"
    check "attack runs the spec's apgd-dlr" \
        'grep -q "\"attack\":\"apgd-dlr\"" "$tmp/s.json" && grep -q "\"iters\":10," "$tmp/s.json" && grep -q "\"eps_255\":4," "$tmp/s.json"'
    "$tmp/small" attack --attack pgd --checkpoint "$tmp/srun/checkpoint.safetensors" --limit 20 \
        --threads 1 --quiet > "$tmp/p.txt"
    check "--attack pgd still runs PGD" 'grep -q "PGD Linf eps" "$tmp/p.txt"'
    cc -O2 -fopenmp -Iruntime -DADVCC_MODEL=advcc_model_small_fab "$tmp/gen/small_fab.c" \
        runtime/main.c "$BUILD/lib/libadvcc.a" $libs -o "$tmp/small_fab"
    check "info shows the spec's fab" \
        '"$tmp/small_fab" info | grep -q "attack: fab eps=0.00784314 .* iters=5 restarts=1 targets=2"'
    "$tmp/small_fab" attack --checkpoint "$tmp/srun/checkpoint.safetensors" --limit 20 \
        --threads 1 --quiet --json "$tmp/sf.json" > /dev/null
    check "attack runs the spec's fab-t" \
        'grep -q "\"attack\":\"fab-t\"" "$tmp/sf.json" && grep -q "\"iters\":5," "$tmp/sf.json" && grep -q "\"targets\":2," "$tmp/sf.json" && grep -q "\"eps_255\":2," "$tmp/sf.json"'
else
    cat "$tmp/advcc.txt"
    bad "advcc compiles attack apgd"
fi
echo "t_autoattack: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
