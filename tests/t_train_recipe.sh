#!/bin/sh
# `MODEL train --optimizer --schedule ...` override the spec's recipe: the
# run trains with them and train.json records them (recipe, lr_by_epoch);
# bad values and options of another optimiser or schedule are refused with
# exit 2, a message naming the option, and nothing written; --help lists
# the options with the names runtime/vocab.h gives.  mlp_bn (specs/mlp_bn.net,
# sgd, constant rate) on Fashion-MNIST; skipped (77) without it.
set -u
BUILD=${BUILD:-build}
PY=${ORACLE_PYTHON:-/usr/bin/python3}
BIN="$BUILD/bin/mlp_bn"
dir=${FASHION_MNIST_DIR:-/usr/share/datasets/fashion-mnist}
[ -f "$dir/train-images-idx3-ubyte.gz" ] || { echo "skip: no Fashion-MNIST in $dir"; exit 77; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
pass=0 fail=0
ok() { pass=$((pass + 1)); echo "ok: $1"; }
bad() { fail=$((fail + 1)); echo "FAIL: $1"; }
train() {
    out=$1
    shift
    "$BIN" train --limit 300 --test-limit 100 --epochs 3 --threads 1 --quiet --seed 2 \
        --out "$tmp/$out" "$@" > "$tmp/$out.log" 2>&1
}
# the value of a train.json key path (a.b), as JSON
field() { "$PY" -c 'import json, sys
v = json.load(open(sys.argv[1]))
for k in sys.argv[2].split("."):
    v = v[k]
print(json.dumps(v))' "$tmp/$1/train.json" "$2"; }
expect() {  # run key value
    got=$(field "$1" "$2")
    if [ "$got" = "$3" ]; then ok "$1: $2 = $3"; else bad "$1: $2 is $got, not $3"; fi
}

train spec || bad "the spec's recipe: $(cat "$tmp/spec.log")"
expect spec recipe.optimizer '"sgd"'
expect spec recipe.schedule '"constant"'
expect spec lr_by_epoch '[0.01, 0.01, 0.01]'

train adam --optimizer adam --beta2 0.99 --schedule cosine --min-lr 0.001 ||
    bad "adam, cosine: $(cat "$tmp/adam.log")"
expect adam recipe.optimizer '"adam"'
expect adam recipe.beta2 '0.99'
expect adam recipe.schedule '"cosine"'
# cosine over 3 epochs from 0.01 to 0.001, each epoch's last step
expect adam lr_by_epoch '[0.01, 0.00775, 0.00325]'
if cmp -s "$tmp/spec/checkpoint.safetensors" "$tmp/adam/checkpoint.safetensors"; then
    bad "adam trained the same weights as the spec's sgd"
else
    ok "adam trained other weights than the spec's sgd"
fi

train steps --optimizer adamw --schedule multistep --milestones 1,2 --gamma 0.5 --warmup 1 \
    --nesterov 0 --flip 1 2> /dev/null
grep -q "belongs to --optimizer sgd" "$tmp/steps.log" && ok "--nesterov refused with adamw" ||
    bad "--nesterov with adamw: $(cat "$tmp/steps.log")"
train steps --optimizer adamw --schedule multistep --milestones 1,2 --gamma 0.5 --warmup 1 \
    --flip 1 || bad "adamw, multistep: $(cat "$tmp/steps.log")"
expect steps recipe.optimizer '"adamw"'
expect steps recipe.schedule '"multistep"'
expect steps recipe.warmup '1'
expect steps recipe.flip '1'
expect steps lr_by_epoch '[0.01, 0.005, 0.0025]'

# refused: exit 2, the option named, nothing written
refuse() {  # what pattern options...
    what=$1 pattern=$2
    shift 2
    rm -rf "$tmp/no"
    "$BIN" train --limit 10 --epochs 1 --quiet --out "$tmp/no" "$@" > "$tmp/no.log" 2>&1
    rc=$?
    if [ $rc -eq 2 ] && grep -q -- "$pattern" "$tmp/no.log" && [ ! -e "$tmp/no" ]; then
        ok "refused: $what"
    else
        bad "$what: exit $rc, $(cat "$tmp/no.log")"
    fi
}
refuse "an unknown optimiser" "--optimizer 'rmsprop' is not one of sgd, adam, adamw" \
    --optimizer rmsprop
refuse "an unknown schedule" "--schedule 'step' is not one of constant, multistep, cosine" \
    --schedule step
refuse "multistep without milestones" "multistep needs --milestones" --schedule multistep
refuse "a key of another schedule" "--gamma belongs to --schedule multistep, not cosine" \
    --schedule cosine --gamma 0.5
refuse "an Adam key with sgd" "--beta1 belongs to --optimizer adam or adamw, not sgd" --beta1 0.5
refuse "milestones that do not increase" "--milestones '3,2' does not increase" \
    --schedule multistep --milestones 3,2
refuse "knots without factors" "needs --knots and --factors together" \
    --schedule piecewise --knots 0,1
refuse "Nesterov without momentum" "needs a momentum above 0" --momentum 0 --nesterov 1
refuse "a pct of 0" "--pct '0' must be greater than 0" --schedule onecycle --pct 0

# --help names every option and the vocabulary's names
"$BIN" train --help > "$tmp/help" 2>&1
for o in optimizer schedule nesterov beta1 beta2 adam-eps milestones gamma min-lr pct div \
         final-div knots factors warmup crop flip; do
    grep -q -- "--$o " "$tmp/help" || bad "--help does not list --$o"
done
grep -q "sgd|adam|adamw" "$tmp/help" &&
    grep -q "constant|multistep|cosine|onecycle|piecewise" "$tmp/help" &&
    ok "--help lists the options and the names" || bad "--help lacks the names"
echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
