#!/bin/sh
# `MODEL sanity` (the gradient-masking checks, docs/METHODS.md 11) and
# `attack --grad` on two small CNNs trained for seconds, one with DTReLU
# and its undefended twin with ReLU: every check prints its verdict, the
# JSON and the exit status agree, the twin's images feed the transfer check
# and a file that does not fit is refused by name, BPDA is refused where
# there is nothing to replace, --grad both never leaves more images robust
# than ste, and AutoAttack ends with its summary unless --no-sanity.
# Skipped (77) without CIFAR10_DIR.
set -u
BUILD=${BUILD:-build}
[ -n "${CIFAR10_DIR:-}" ] || { echo "skip: set CIFAR10_DIR"; exit 77; }
export OMP_WAIT_POLICY=passive
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
pass=0 fail=0
ok() { pass=$((pass + 1)); }
bad() { fail=$((fail + 1)); echo "FAIL: $1"; }
check() { if eval "$2"; then ok; else bad "$1"; fi; }

cat > "$tmp/small.net" <<'SPEC'
model small_q {
  input 3x32x32 classes 10
  conv 8 3 pad=same -> dtrelu bits=4 lo=0 hi=2 -> avgpool 4
  flatten
  linear 10
  train sgd lr=0.01 batch=50 epochs=1
}
model small_f {
  input 3x32x32 classes 10
  conv 8 3 pad=same -> relu -> avgpool 4
  flatten
  linear 10
  train sgd lr=0.01 batch=50 epochs=1
}
SPEC
"$BUILD/advcc" "$tmp/small.net" -o "$tmp/gen" > "$tmp/advcc.txt" 2>&1 || { cat "$tmp/advcc.txt"; exit 1; }
libs=$(make -s --no-print-directory print-LDLIBS)
for m in small_q small_f; do
    cc -O2 -fopenmp -Iruntime -DADVCC_MODEL=advcc_model_$m "$tmp/gen/$m.c" runtime/main.c \
        "$BUILD/lib/libadvcc.a" $libs -o "$tmp/$m" || exit 1
    "$tmp/$m" train --limit 4000 --test-limit 200 --threads 1 --quiet --out "$tmp/$m-run" \
        > "$tmp/$m-train.txt" || { cat "$tmp/$m-train.txt"; exit 1; }
done
Q="$tmp/small_q"
F="$tmp/small_f"
CQ="--checkpoint $tmp/small_q-run/checkpoint.safetensors"
CF="--checkpoint $tmp/small_f-run/checkpoint.safetensors"
A="--limit 40 --threads 1 --quick"

check "help names the checks and the exit status" \
    '"$Q" sanity --help | grep -q -- "--transfer-from" && "$Q" sanity --help | grep -q "4 when one warns"'

# the twin's PGD images, then every check on the DTReLU model
"$F" attack $CF --limit 40 --threads 1 --quiet --save-adv "$tmp/twin.npy" > /dev/null
check "twin writes its images" '[ -s "$tmp/twin.npy" ]'
"$Q" sanity $CQ $A --transfer-from "$tmp/twin.npy" --json "$tmp/s.json" > "$tmp/s.txt" 2> "$tmp/s.err"
rc=$?
cat "$tmp/s.txt" "$tmp/s.err"
check "sanity exits 0 or 4" '[ $rc -eq 0 ] || [ $rc -eq 4 ]'
check "seven rows, a to g, each with a verdict" \
    '[ "$(grep -cE "^[a-g]\. [a-z_]+ +(PASS|WARNING|not run) " "$tmp/s.txt")" -eq 7 ]'
check "the white-box attack runs under ste and bpda" 'grep -q "apgd-ce apgd-ce/bpda" "$tmp/s.txt"'
check "transfer ran" 'grep -qE "^e\. transfer +(PASS|WARNING)" "$tmp/s.txt"'
check "frozen noise not run on a model without noise" 'grep -qE "^f\. frozen_noise +not run" "$tmp/s.txt"'
warnings=$(grep -c "^[a-g]\. [a-z_]* *WARNING" "$tmp/s.txt")
check "json: grad both, every check, the warnings counted" \
    'grep -q "\"grad\":\"both\"" "$tmp/s.json" && grep -q "\"zero_gradients\":{\"verdict\"" "$tmp/s.json" &&
     grep -q "\"warnings\":$warnings}" "$tmp/s.json"'
check "exit status 4 exactly when a check warns" \
    '{ [ "$warnings" -gt 0 ] && [ $rc -eq 4 ] && grep -q WARNING "$tmp/s.err"; } || { [ "$warnings" -eq 0 ] && [ $rc -eq 0 ]; }'

# a file of other images is refused before any attack, by name
"$F" attack $CF --limit 30 --threads 1 --quiet --save-adv "$tmp/short.npy" > /dev/null
"$Q" sanity $CQ $A --transfer-from "$tmp/short.npy" > "$tmp/x.txt" 2>&1
rc=$?
check "a transfer file of 30 images for 40 is refused" \
    '[ $rc -eq 1 ] && grep -q "short.npy: an array of shape (30, 3, 32, 32)" "$tmp/x.txt" && ! grep -q "^a\." "$tmp/x.txt"'
"$F" attack $CF --limit 40 --eps 16/255 --threads 1 --quiet --save-adv "$tmp/big.npy" > /dev/null
"$Q" sanity $CQ $A --transfer-from "$tmp/big.npy" > "$tmp/x.txt" 2>&1
check "a transfer file at a larger eps is refused" '[ $? -eq 1 ] && grep -q "big.npy: image 0 lies .* outside" "$tmp/x.txt"'

# BPDA only where there is something to replace
"$F" attack $CF --attack apgd-ce --grad bpda --limit 5 --quiet > "$tmp/x.txt" 2>&1
check "--grad bpda refused on a ReLU model" '[ $? -eq 2 ] && grep -q "nothing\|no activation quantiser" "$tmp/x.txt"'
"$F" sanity $CF --grad both --limit 5 > "$tmp/x.txt" 2>&1
check "sanity --grad both refused on a ReLU model" '[ $? -eq 2 ]'
"$F" sanity $CF $A --noise-draws 5 --queries 50 > "$tmp/f.txt" 2>&1
check "sanity of the ReLU model runs its attack under ste only" \
    '! grep -q bpda "$tmp/f.txt" && grep -q "^white-box attack: apgd-ce," "$tmp/f.txt"'

# ste, bpda, both: both runs ste first from the same seed, then BPDA on
# what is left, so it never leaves more images robust
for g in ste bpda both; do
    "$Q" attack $CQ --attack apgd-ce --grad $g --limit 40 --threads 1 --quiet --quick \
        --json "$tmp/$g.json" > "$tmp/$g.txt"
    check "apgd-ce --grad $g runs" '[ $? -eq 0 ] && grep -q "\"grad\":\"$g\"" "$tmp/$g.json"'
done
rob() { sed 's/.*"robust_acc":\([0-9.]*\),"gradients".*/\1/' "$1"; }
check "both <= ste" 'awk -v a="$(rob "$tmp/both.json")" -v b="$(rob "$tmp/ste.json")" "BEGIN{exit !(a <= b)}"'
check "both names its BPDA twin" 'grep -q "\"name\":\"apgd-ce/bpda\"" "$tmp/both.json"'
"$Q" attack $CQ --attack pgd --grad both --limit 40 --threads 1 --quiet --json "$tmp/pgd.json" > "$tmp/pgd.txt"
check "pgd --grad both reports BPDA's images" \
    'grep -q "BPDA broke [0-9]* images" "$tmp/pgd.txt" && grep -q "\"bpda_broken\":" "$tmp/pgd.json"'

# AutoAttack ends with the checks its records answer
"$Q" attack $CQ --attack autoattack $A --quiet --json "$tmp/aa.json" > "$tmp/aa.txt"
cat "$tmp/aa.txt"
check "autoattack summary printed" \
    'grep -q "gradient-masking checks (run .* sanity" "$tmp/aa.txt" && grep -qE "^c\. square +(PASS|WARNING)" "$tmp/aa.txt"'
check "autoattack json has the summary" \
    'grep -q "\"sanity\":{\"eps_sweep\":{\"verdict\":\"not run\"" "$tmp/aa.json" && grep -q "\"grad\":\"both\"" "$tmp/aa.json"'
"$Q" attack $CQ --attack autoattack $A --quiet --no-sanity --json "$tmp/ns.json" > "$tmp/ns.txt"
check "--no-sanity skips it" '! grep -q "gradient-masking" "$tmp/ns.txt" && ! grep -q "\"sanity\"" "$tmp/ns.json"'

# the older PGD checks stay
"$Q" sanity $CQ --attack pgd --limit 40 --threads 1 > "$tmp/p.txt" 2>&1
rc=$?
check "sanity --attack pgd runs the PGD checks" \
    '{ [ $rc -eq 0 ] || [ $rc -eq 4 ]; } && grep -q "16 steps no weaker than 4" "$tmp/p.txt"'
for args in "--attack pgd --json $tmp/j.json" "--noise-draws 0" "--grad xyz" "--attack fab" \
            "--queries 1.5"; do
    "$Q" sanity $CQ --limit 5 $args > /dev/null 2>&1
    rc=$?
    check "refused: $args" '[ $rc -eq 2 ]'
done
check "no json left by a refused run" '[ ! -e "$tmp/j.json" ]'
echo "t_sanity: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
