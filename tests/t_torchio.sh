#!/bin/sh
# advcc and PyTorch, both ways (issue 15, items 3-5):
#  - out: for every model of specs/, the module `advcc --torch` wrote
#    (generated/<model>.py) loads the checkpoint of a short advcc training
#    run and gives the binary's logits (`eval --save-logits`) on 100 test
#    images in evaluation mode, float32, within 1e-4 relative
#    (tests/torchio/compare_logits.py; DTReLU rounding ties settled by a
#    bounded search).  A model with noise layers (rse) is compared with its
#    noise off against the binary of the same layers without noise
#    (baseline), which also loads its checkpoint; the PGD images and the
#    clean and robust accuracy of advcc and of PyTorch on that module agree;
#  - in: the seed CNN trained a few steps by PyTorch, its state dict saved
#    as safetensors (num_batches_tracked, another order, F64 and F16
#    tensors), gives in `eval` the logits and clean accuracy PyTorch gives,
#    and in `attack` (PGD, no random start) PyTorch's images and robust
#    accuracy (tests/torchio/torch_roundtrip.py, compare_adv.py); names that
#    do not match are an error listing both sides;
#  - the small models of tests/specs/ (every layer kind, quantiser range and
#    activation): each module's state dict has the C's tensors, and its
#    logits in training and evaluation mode, input gradient and every
#    parameter gradient (the straight-through estimators) match the C run
#    by the oracle's dumper (tests/torchio/compare_dumps.py); so do the
#    models of specs/ (those with DTReLU in float64; rse with the runtime's
#    noise draws replayed);
#  - a checkpoint holds the model: no training-only tensors (the spectral
#    penalty's *.sn_u, *.sn_v, kept in train_state.safetensors), so models
#    with the same layers load each other's; its metadata says what the
#    model is, and `info --checkpoint` prints it.
# Skipped (77) without CIFAR10_DIR or without PyTorch.
set -u
BUILD=${BUILD:-build}
PY=${ORACLE_PYTHON:-/usr/bin/python3}
[ -n "${CIFAR10_DIR:-}" ] || { echo "skip: set CIFAR10_DIR"; exit 77; }
"$PY" -c "import torch, numpy" 2>/dev/null || { echo "skip: no PyTorch for $PY"; exit 77; }
export OMP_WAIT_POLICY=passive
N=100
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
pass=0 fail=0
ok() { pass=$((pass + 1)); echo "ok: $1"; }
bad() { fail=$((fail + 1)); echo "FAILED: $1"; [ -f "$tmp/log" ] && cat "$tmp/log"; }
# counted NAME SCRIPT ARGS...: runs a Python check, shows its log and adds
# the "N passed, N failed" of its last line to the counts (NAME fails when
# that line is missing).
counted() {
    what=$1
    shift
    "$PY" "$@" >"$tmp/log" 2>&1
    cat "$tmp/log"
    line=$(tail -n 1 "$tmp/log")
    p=$(echo "$line" | sed -n 's/^\([0-9]*\) passed, \([0-9]*\) failed$/\1/p')
    f=$(echo "$line" | sed -n 's/^\([0-9]*\) passed, \([0-9]*\) failed$/\2/p')
    if [ -n "$p" ]; then pass=$((pass + p)) fail=$((fail + f)); else bad "$what"; fi
}
run() { # name command...: passes when the command does
    name=$1
    shift
    if "$@" >"$tmp/log" 2>&1; then ok "$name"; sed 's/^/    /' "$tmp/log" | tail -n 3; else bad "$name"; fi
}

MODELS=$(sed -n 's/^MODELS :=//p' generated/models.mk)
[ -n "$MODELS" ] || { echo "no models in generated/models.mk (run make)"; exit 1; }

# ---- out to PyTorch: every model's module against its binary ----
# A short run (two steps of 50 images; adversarial training with a one-step
# attack) moves the weights and the running statistics away from their
# initial values.
set --
for m in $MODELS; do
    [ -f "generated/$m.py" ] || { bad "$m: no generated/$m.py"; continue; }
    "$BUILD/bin/$m" train --limit 100 --batch 50 --epochs 1 --steps 1 --test-limit 10 \
        --threads 1 --quiet --out "$tmp/$m" >"$tmp/log" 2>&1 || { bad "$m: train"; continue; }
    ck="$tmp/$m/checkpoint.safetensors"
    bins=$m flag=-
    if "$BUILD/bin/$m" info | grep -q '^noise: noise'; then
        # Randomised: its noise-free part, against a binary of the same
        # layers without noise: the first model without noise layers that
        # loads its checkpoint.
        bins= flag=noise-off
        for o in $MODELS; do
            "$BUILD/bin/$o" info | grep -q '^noise: noise' || bins="$bins $o"
        done
    fi
    bin=
    for b in $bins; do
        if "$BUILD/bin/$b" eval --checkpoint "$ck" --limit $N --threads 1 --quiet \
            --save-logits "$tmp/$m/logits.npy" >"$tmp/log" 2>&1; then bin=$b; break; fi
    done
    [ -n "$bin" ] || { bad "$m: no binary of its layers reads its checkpoint (eval --save-logits)"; continue; }
    set -- "$@" "$m" "$ck" "$tmp/$m/logits.npy" $flag
done
counted "compare_logits.py" tests/torchio/compare_logits.py generated $N "$@"

# ---- the small models of tests/specs/: every layer kind, every quantiser
# range, the appendix activations; modules against the C through the
# oracle's dumper, gradients included ----
set --
for d in "$BUILD"/torchio/dump_*; do
    case "$d" in *.o|*.d) continue ;; esac
    [ -x "$d" ] || continue
    m=${d##*/dump_}
    mkdir -p "$tmp/dumps/$m"
    "$d" --seed 1 --batch 8 --out "$tmp/dumps/$m" >"$tmp/log" 2>&1 || { bad "$m: dump"; continue; }
    set -- "$@" "$tmp/dumps/$m"
done
if [ $# -gt 0 ]; then
    counted "smoke_modules.py" tests/torchio/smoke_modules.py "$BUILD/testgen"
    counted "compare_dumps.py" tests/torchio/compare_dumps.py "$BUILD/testgen" "$@"
else
    bad "no dumpers in $BUILD/torchio (make check builds them)"
fi
# The models of specs/ the same way (DTReLU models by the double build, the
# module in float64; rse with the C runtime's noise replayed).
set --
for d in "$BUILD"/torchio/spec_* "$BUILD"/torchio/spec64_*; do
    case "$d" in *.o|*.d) continue ;; esac
    [ -x "$d" ] || continue
    m=${d##*/spec_}
    m=${m##*/spec64_}
    mkdir -p "$tmp/specdumps/$m"
    "$d" --seed 1 --batch 8 --out "$tmp/specdumps/$m" >"$tmp/log" 2>&1 || { bad "$m: dump"; continue; }
    set -- "$@" "$tmp/specdumps/$m"
done
if [ $# -gt 0 ]; then
    counted "compare_dumps.py (specs)" tests/torchio/compare_dumps.py generated "$@"
else
    bad "no dumpers of specs/ models in $BUILD/torchio (make check builds them)"
fi

# ---- a checkpoint holds the model ----
if [ -d "$tmp/reg" ]; then
    run "reg: no training-only tensors in the checkpoint, they are in train_state" sh -c "
        ! head -c 65536 '$tmp/reg/checkpoint.safetensors' | grep -q sn_u &&
        head -c 65536 '$tmp/reg/train_state.safetensors' | grep -q conv1.sn_u"
    run "baseline loads reg's checkpoint and its training state (same layers)" sh -c "
        '$BUILD/bin/baseline' eval --checkpoint '$tmp/reg/checkpoint.safetensors' --limit 10 --threads 1 --quiet &&
        '$BUILD/bin/baseline' eval --checkpoint '$tmp/reg/train_state.safetensors' --limit 10 --threads 1 --quiet &&
        '$BUILD/bin/reg' eval --checkpoint '$tmp/baseline/checkpoint.safetensors' --limit 10 --threads 1 --quiet"
fi
if [ -d "$tmp/quant_reg" ]; then
    run "info --checkpoint says what the model is" sh -c "
        '$BUILD/bin/quant_reg' info --checkpoint '$tmp/quant_reg/checkpoint.safetensors' > '$tmp/info' &&
        grep -q 'spec  *specs/quant_reg.net' '$tmp/info' && grep -q 'spec_fnv1a64' '$tmp/info' &&
        grep -q 'made_of  *baseline + quant + reg' '$tmp/info' &&
        grep -q 'quantize  *conv1 8-bit minmax' '$tmp/info' && grep -q 'advcc_version' '$tmp/info' &&
        grep -q 'regularize  *conv1 orthogonal' '$tmp/info' && grep -q 'attack  *pgd linf' '$tmp/info' &&
        cat '$tmp/info'"
fi

# ---- in from PyTorch ----
rt="$tmp/torch"
mkdir -p "$rt"
if "$PY" tests/torchio/torch_roundtrip.py generated baseline "$rt" $N >"$tmp/log" 2>&1; then
    ok "PyTorch trains the baseline module and saves its state dict"
    cat "$tmp/log"
    run "eval of PyTorch's checkpoint (I64 num_batches_tracked, sorted names, F64): PyTorch's logits" sh -c "
        '$BUILD/bin/baseline' eval --checkpoint '$rt/torch.safetensors' --limit $N --threads 1 --quiet \
            --save-logits '$rt/bin_logits.npy' &&
        '$PY' tests/torchio/compare_logits.py generated $N baseline '$rt/torch.safetensors' '$rt/bin_logits.npy' -"
    run "eval of its F16 copy: PyTorch's logits on F16-rounded weights" sh -c "
        '$BUILD/bin/baseline' eval --checkpoint '$rt/torch_f16.safetensors' --limit $N --threads 1 --quiet \
            --save-logits '$rt/f16_logits.npy' &&
        '$PY' -c \"
import numpy as np, sys
a, b = np.load('$rt/torch_f16_logits.npy'), np.load('$rt/f16_logits.npy')
r = np.abs(a - b).max() / np.abs(b).max()
print(f'F16 checkpoint: max relative difference {r:.2e}')
sys.exit(1 if r > 1e-4 else 0)\""
    run "attack (PGD, no random start) on PyTorch's checkpoint: PyTorch's images and accuracies" sh -c "
        '$BUILD/bin/baseline' attack --checkpoint '$rt/torch.safetensors' --limit $N --threads 1 --quiet \
            --init none --eps 8/255 --alpha 2/255 --steps 4 --restarts 1 --labels true \
            --save-adv '$rt/bin_adv.npy' --json '$rt/bin.json' &&
        '$PY' tests/torchio/compare_adv.py '$rt/torch_adv.npy' '$rt/bin_adv.npy' '$rt/torch.json' '$rt/bin.json'"
    run "sanity on PyTorch's checkpoint runs" sh -c "
        '$BUILD/bin/baseline' sanity --attack pgd --checkpoint '$rt/torch.safetensors' --threads 1 > '$tmp/sanity' 2>&1;
        rc=\$?; cat '$tmp/sanity'; ! grep -q 'cannot\|missing\|not a tensor' '$tmp/sanity' && [ \$rc -le 1 ]"
    # A state dict of another network: both sides' names and shapes listed.
    "$PY" - "$rt" <<'PYEOF' >"$tmp/log" 2>&1
import importlib.util, sys
spec = importlib.util.spec_from_file_location("baseline", "generated/baseline.py")
mod = importlib.util.module_from_spec(spec)
spec.loader.exec_module(mod)
t, _ = mod.read_safetensors(sys.argv[1] + "/torch.safetensors")
t["features.0.weight"] = t.pop("conv1.weight")
mod.write_safetensors(sys.argv[1] + "/renamed.safetensors", t)
PYEOF
    "$BUILD/bin/baseline" eval --checkpoint "$rt/renamed.safetensors" --limit 10 --quiet >"$tmp/log" 2>&1
    rc=$?
    if [ $rc = 1 ] && grep -q "tensor 'conv1.weight' of model baseline is missing" "$tmp/log" &&
       grep -q "model baseline expects: conv1.weight \[32,3,5,5\]" "$tmp/log" &&
       grep -q "the file has:.*features.0.weight F32 \[32,3,5,5\]" "$tmp/log"; then
        ok "a state dict with other names: an error listing expected and found names and shapes"
        cut -c1-200 "$tmp/log"
    else
        bad "a state dict with other names (exit $rc)"
    fi
else
    bad "PyTorch trains the baseline module"
fi

echo "$pass passed, $fail failed"
[ "$fail" = 0 ]
