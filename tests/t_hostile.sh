#!/bin/sh
# Hostile input, end to end (issue 18): every bad value is a clear error
# (what, which file or option, why) with a non-zero exit and nothing partial
# left behind; nothing non-finite is reported as success.  Cases that need
# CIFAR-10 are skipped without CIFAR10_DIR.
set -u
BUILD=${BUILD:-build}
export OMP_WAIT_POLICY=passive
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
pass=0 fail=0 skip=0

# expect NAME RC TEXT CMD...: CMD exits with RC and its stderr holds TEXT.
expect() {
    name=$1 want_rc=$2 text=$3
    shift 3
    "$@" >"$tmp/out" 2>"$tmp/err"
    rc=$?
    if [ "$rc" = "$want_rc" ] && grep -qF -- "$text" "$tmp/err"; then
        pass=$((pass + 1))
    else
        fail=$((fail + 1))
        echo "FAIL $name: exit $rc (want $want_rc), stderr:"
        sed 's/^/    /' "$tmp/err" | cut -c1-300
        echo "    (wanted: $text)"
    fi
}
ok() { # NAME CONDITION...
    name=$1
    shift
    if "$@"; then pass=$((pass + 1)); else fail=$((fail + 1)); echo "FAIL $name"; fi
}

# 1. long arithmetic chains: a located error, no crash, no output
python3 -c "print('model m {\n input 3x32x32 classes 10\n flatten\n linear 2' + '+0' * 20000 + '\n}')" >"$tmp/sum.net"
python3 -c "print('model m {\n input 3x32x32 classes 10\n flatten\n linear 2' + '*-1' * 20000 + '\n}')" >"$tmp/neg.net"
expect chain-sum 1 "sum.net:4:522: error: expression too long" "$BUILD/advcc" "$tmp/sum.net" -o "$tmp/gen1"
expect chain-neg 1 "neg.net:4:775: error: expression too long" "$BUILD/advcc" "$tmp/neg.net" -o "$tmp/gen1"
ok chain-no-output [ ! -e "$tmp/gen1" ]

# 9. advcc: integers past int range, a full disk (a file size limit here)
printf 'model m {\n input 3x32x32 classes 10\n flatten\n linear 3000000000\n}\n' >"$tmp/big.net"
expect int-too-large 1 "big.net:4:9: error: out of linear must be at most 16777216, got 3000000000" \
    "$BUILD/advcc" "$tmp/big.net" -o "$tmp/gen2"
expect full-disk 1 "cannot write '$tmp/new/gen/adv.c': File too large" \
    sh -c "ulimit -f 1; trap '' XFSZ; exec \"$BUILD/advcc\" specs/*.net -o \"$tmp/new/gen\""
ok full-disk-no-dir [ ! -e "$tmp/new" ]

# 3, 9. option values: finite, decimal, in range
B="$BUILD/bin/baseline"
for a in "--lr inf" "--lr nan" "--weight-decay inf" "--momentum nan" "--lr 0x10"; do
    set -- $a
    expect "train $a" 2 "baseline train: --${1#--} '$2' is not a decimal number" "$B" train $a --out "$tmp/o"
done
expect "train --lr 1e999" 2 "--lr '1e999' is out of range" "$B" train --lr 1e999 --out "$tmp/o"
expect "train --momentum 2" 2 "--momentum '2' must be between 0 and 1" "$B" train --momentum 2 --out "$tmp/o"
expect "train --epochs 0" 2 "--epochs '0' must be between 1 and 100000" "$B" train --epochs 0 --out "$tmp/o"
expect "eval --eps nan" 2 "baseline eval: --eps 'nan' is not a decimal number" "$B" eval --eps nan --checkpoint x
expect "eval --alpha nan" 2 "baseline eval: --alpha 'nan' is not a decimal number" "$B" eval --alpha nan --checkpoint x
expect "eval --eps 0x10" 2 "baseline eval: --eps '0x10' is not a decimal number" "$B" eval --eps 0x10 --checkpoint x
expect "attack --eps 16" 2 "eps of an Linf attack must be at most 1" "$B" attack --eps 16 --checkpoint x
expect "eval --eps 16, no attack" 2 "eps of an Linf attack must be at most 1" "$B" eval --eps 16 --checkpoint x
expect "train --eps 16, not adversarial" 2 "eps of an Linf attack must be at most 1" "$B" train --eps 16 --out "$tmp/o"
expect "eval --seed 2^31" 2 "--seed '2147483648' must be between 0 and 2147483647" "$B" eval --seed 2147483648 --checkpoint x
# 5. a workspace larger than memory
expect "train --batch 100000" 1 "batch 100000 needs a" "$B" train --batch 100000 --out "$tmp/o"
expect "eval --batch 100000" 1 "GB workspace, more than this machine's" "$B" eval --batch 100000 --checkpoint x
# 9. --resume with nothing saved; CIFAR10_DIR set but empty
expect "resume without state" 1 "--resume: $tmp/o/state: no saved state to resume from" \
    "$B" train --resume --out "$tmp/o"
ok resume-no-dir [ ! -e "$tmp/o" ]
expect "CIFAR10_DIR=" 1 "CIFAR10_DIR is set but empty" env CIFAR10_DIR= "$B" train --out "$tmp/o"

# 7. directories where files belong
mkdir -p "$tmp/fakecifar/test_batch.bin"
expect "cifar dir" 1 "$tmp/fakecifar/test_batch.bin: is a directory, not a CIFAR-10 batch file" \
    env CIFAR10_DIR="$tmp/fakecifar" "$B" eval --checkpoint x
# 8. grid files
S="$BUILD/bin/advcc-study"
grid() { printf "$1" >"$tmp/g.grid"; }
grid 'models baseline\nseeds 0\neps 8\nlr 1e999\n'
expect "grid lr 1e999" 1 "g.grid:4: error: 'lr': '1e999' is not a positive number up to 1e6 (it is out of range)" "$S" run "$tmp/g.grid"
grid 'models baseline\nseeds 0\neps 8\nlr inf\n'
expect "grid lr inf" 1 "'lr': 'inf' is not a positive number" "$S" run "$tmp/g.grid"
grid 'models baseline\nseeds 0\neps 0x8\n'
expect "grid hex eps" 1 "'eps': '0x8' is not a number of 1/255 steps" "$S" run "$tmp/g.grid"
grid 'models ..\nseeds 0\neps 8\n'
expect "grid models .." 1 "'models': '..' is not a model name" "$S" run "$tmp/g.grid"
grid 'models baseline\nseeds 0\n\000eps 8\n'
expect "grid NUL" 1 "g.grid:3: error: a NUL byte at offset 24" "$S" run "$tmp/g.grid"
mkdir "$tmp/d.grid"
expect "grid directory" 1 "d.grid: error: is a directory, not a grid file" "$S" run "$tmp/d.grid"

if [ -z "${CIFAR10_DIR:-}" ]; then
    skip=$((skip + 1))
    echo "skip: the CIFAR-10 cases (set CIFAR10_DIR)"
else
    small="--limit 200 --test-limit 100 --batch 100 --threads 1 --quiet"
    # 3. an overflowing loss is divergence: exit 3, status diverged, no checkpoint
    expect "lr 1e6 diverges" 3 "training diverged at step 2 (loss above 1e4)" \
        "$B" train $small --epochs 1 --lr 1e6 --out "$tmp/div"
    ok diverged-json grep -q '"status":"diverged"' "$tmp/div/train.json"
    ok diverged-no-checkpoint [ ! -e "$tmp/div/checkpoint.safetensors" ]
    # ... and the study records such a cell as diverged
    grid "models baseline\nseeds 0\neps 8\nepochs 1\ntrain_limit 200\ntest_limit 100\nbatch 100\nlr 1e6\nthreads 1\nbin $BUILD/bin\nout $tmp/study\n"
    "$S" run "$tmp/g.grid" >/dev/null 2>&1
    ok study-diverged grep -q '^baseline,0,8,diverged,' "$tmp/study/results.csv"

    "$B" train $small --epochs 1 --out "$tmp/good" >/dev/null 2>&1
    ck="$tmp/good/checkpoint.safetensors"
    small="--limit 100 --batch 100 --threads 1 --quiet"
    mkdir "$tmp/ckdir"
    expect "checkpoint dir" 1 "$tmp/ckdir: is a directory, not a checkpoint file" \
        "$B" eval $small --checkpoint "$tmp/ckdir"
    expect "adv-file dir" 1 "$tmp/ckdir: is a directory, not a .npy file" \
        "$B" eval $small --checkpoint "$ck" --adv-file "$tmp/ckdir"
    cp "$ck" "$tmp/long.safetensors"
    printf '0123456789abcdef' >>"$tmp/long.safetensors"
    expect "checkpoint +16 bytes" 1 "16 bytes after the last tensor's data" \
        "$B" eval $small --checkpoint "$tmp/long.safetensors"
    python3 - "$ck" "$tmp/nan.safetensors" <<'PY'
import struct, sys
b = bytearray(open(sys.argv[1], 'rb').read())
n = struct.unpack('<Q', b[:8])[0]
b[8 + n + 4:8 + n + 8] = struct.pack('<f', float('nan'))
open(sys.argv[2], 'wb').write(b)
PY
    expect "checkpoint NaN" 1 "element 1 is NaN" "$B" eval $small --checkpoint "$tmp/nan.safetensors"
fi

echo "$pass passed, $fail failed, $skip skipped"
[ "$fail" = 0 ]
