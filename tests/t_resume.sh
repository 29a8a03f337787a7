#!/bin/sh
# A training run killed (SIGKILL) after an epoch resumes with --resume and
# ends bit-identical to an uninterrupted run: same weights, same loss log,
# also when the resumed run asks for more epochs and when the state was
# saved without its settings.  A resume with another --lr, --seed or
# --optimizer is refused, naming the option.  Uses the adversarially
# trained model, so the attack's random starts are covered too.  Skipped
# (77) without CIFAR10_DIR.
set -eu
BUILD=${BUILD:-build}
[ -n "${CIFAR10_DIR:-}" ] || { echo "skip: set CIFAR10_DIR"; exit 77; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
args="--epochs 3 --limit 300 --test-limit 100 --batch 50 --threads 1 --quiet"
"$BUILD/bin/adv" train $args --out "$tmp/whole" > /dev/null

# Runs train in $tmp/$1 with $args and the options after it, killed once
# an epoch is saved.
train_killed() {
    dir=$tmp/$1
    shift
    "$BUILD/bin/adv" train $args "$@" --out "$dir" > /dev/null &
    pid=$!
    while ! [ -f "$dir/state/epoch" ]; do
        kill -0 $pid 2>/dev/null || { echo "run ended before its first epoch was saved"; exit 1; }
        sleep 0.05
    done
    kill -9 $pid
    wait $pid 2>/dev/null || true
    [ ! -f "$dir/checkpoint.safetensors" ] || { echo "a killed run left a final checkpoint"; exit 1; }
    echo "killed after epoch $(cat "$dir/state/epoch")"
}

# Resumes $tmp/$1 with $args and the options after it: ends as the
# uninterrupted run did, its state gone.
resumed_same() {
    dir=$tmp/$1
    shift
    "$BUILD/bin/adv" train $args --resume "$@" --out "$dir" > /dev/null 2> "$tmp/err"
    cmp "$tmp/whole/checkpoint.safetensors" "$dir/checkpoint.safetensors"
    cmp "$tmp/whole/train_loss.csv" "$dir/train_loss.csv"
    [ ! -d "$dir/state" ] || { echo "state left after a finished run"; exit 1; }
}

# A resume of $tmp/cut with OPTION VALUE is refused (exit 2), naming OPTION.
refused() {
    status=0
    "$BUILD/bin/adv" train $args --resume "$@" --out "$tmp/cut" > /dev/null 2> "$tmp/err" ||
        status=$?
    [ $status -eq 2 ] || { echo "resume with $*: exit $status, not 2"; cat "$tmp/err"; exit 1; }
    grep -q -- "$1 " "$tmp/err" || { echo "resume with $*: $1 not named:"; cat "$tmp/err"; exit 1; }
}

train_killed cut
refused --lr 0.01
refused --seed 1
refused --optimizer adam
resumed_same cut
[ ! -s "$tmp/err" ] || { echo "a resume with the same settings said:"; cat "$tmp/err"; exit 1; }

# Killed in a 2-epoch run, resumed for 3: as the 3-epoch run.  A copy of
# its state without the settings, as saved before they were recorded, is
# resumed with a warning.
train_killed more --epochs 2
cp -r "$tmp/more" "$tmp/old"
rm "$tmp/old/state/settings.json"
resumed_same more
resumed_same old
grep -q "warning: .* no record of its run's settings" "$tmp/err" ||
    { echo "no warning for a state without settings"; cat "$tmp/err"; exit 1; }
echo "1 passed, 0 failed"
