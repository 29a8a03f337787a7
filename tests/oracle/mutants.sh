#!/bin/sh
# mutants.sh - the PyTorch oracle must catch the errors that matter.
#
# Builds the oracle's dumper again with one deliberate error each, in the
# generated code or in the runtime, runs it and tests/oracle/oracle.py, and
# asserts that the oracle FAILS; the same dumpers unchanged, with the same
# options, must pass.  A tolerance loosened later, or a kink search that
# explains too much, shows up here as a mutant that no longer fails.
#
#   bn-backward    BatchNorm's backward off by a relative 1e-3
#                  (runtime/epilogue.h, inlined into the generated model)
#   pool-grad      the 2x2 average pool's gradient scaled by 0.999
#                  (runtime/conv_group.h, inlined into the generated model)
#   momentum       momentum off by a relative 1e-3 (runtime/sgd.c)
#   weight-decay   the weight-decay term of the first tensor dropped
#                  from the steps that carry momentum (runtime/sgd.c)
#   dtrelu-lo      a DTReLU lower bound's gradient with its sign flipped
#                  (runtime/dtrelu.c, quantised model, double runtime as the
#                  oracle checks that model)
#   adam-bias      Adam's first-moment bias correction one step late
#                  (runtime/sgd.c, recipe_adam of tests/specs/recipes.net)
#   nesterov       Nesterov's look-ahead dropped: plain momentum
#                  (runtime/sgd.c, recipe_nesterov)
#   schedule       the one-cycle rate one step behind (runtime/schedule.c,
#                  recipe_adam)
#
# Each mutation replaces one exact piece of source text; a text that is no
# longer there fails the test, so that the mutation is moved with the code.
# Run by `make check-mutants` (part of make check), which passes BUILD, CC,
# CFLAGS (the compile flags), LDFLAGS, LDLIBS, RUNTIME_LIB, RUNTIME64_LIB
# and ORACLE_PYTHON.  The dumps use weight decay 5e-4 (so that it is
# exercised) and ORACLE_SEED.
set -u
: "${BUILD:?}" "${CC:?}" "${CFLAGS:?}" "${RUNTIME_LIB:?}" "${RUNTIME64_LIB:?}"
PY=${ORACLE_PYTHON:-/usr/bin/python3}
OUT=$BUILD/mutants
OPTS="--seed ${ORACLE_SEED:-1} --batch 8 --weight-decay 5e-4"
export OMP_WAIT_POLICY=passive
pass=0 fail=0
mkdir -p "$OUT"

# mutate SRC DST FROM TO: DST is SRC with the first FROM replaced by TO.
mutate() {
    "$PY" - "$1" "$2" "$3" "$4" <<'EOF'
import sys
src, dst, old, new = sys.argv[1:]
text = open(src).read()
if old not in text:
    sys.exit(f"mutants: {src}: the text to mutate is gone: {old!r}")
open(dst, "w").write(text.replace(old, new, 1))
EOF
}

# judge NAME DIR WANT: runs the oracle on DIR; WANT is pass or fail.
judge() {
    log=$OUT/$1.log
    "$PY" tests/oracle/oracle.py "$2" >"$log" 2>&1
    rc=$?
    summary=$(tail -n 1 "$log")
    first=$(grep -m 1 'FAIL' "$log" | sed 's/^ *//')
    if { [ "$3" = fail ] && [ $rc = 1 ]; } || { [ "$3" = pass ] && [ $rc = 0 ]; }; then
        pass=$((pass + 1))
        echo "ok   $1: oracle ${summary}${first:+; first: $first}"
    else
        fail=$((fail + 1))
        echo "FAIL $1: wanted the oracle to $3, it said: $summary (exit $rc; $log)"
    fi
}

# run NAME DUMPER WANT: dumps into $OUT/NAME and judges it.
run() {
    rm -rf "${OUT:?}/$1" && mkdir -p "$OUT/$1"
    if ! "$2" $OPTS --out "$OUT/$1" >"$OUT/$1.dump.log" 2>&1; then
        fail=$((fail + 1))
        echo "FAIL $1: the dumper failed ($OUT/$1.dump.log)"
        return
    fi
    judge "$1" "$OUT/$1" "$3"
}

# build NAME SRC FROM TO DOUBLE OBJS...: compiles the mutated SRC
# (-DADVCC_DOUBLE when DOUBLE is 1) and links it before OBJS and the
# runtime, so that it stands in for the original; the dumper's path is
# $OUT/NAME.bin.
build() {
    name=$1 src=$2 from=$3 to=$4 dbl=$5
    shift 5
    mkdir -p "$OUT/src"
    m=$OUT/src/$name-$(basename "$src")
    mutate "$src" "$m" "$from" "$to" || { fail=$((fail + 1)); echo "FAIL $name: cannot mutate $src"; return 1; }
    lib=$RUNTIME_LIB flag=
    [ "$dbl" = 1 ] && lib=$RUNTIME64_LIB flag=-DADVCC_DOUBLE
    # shellcheck disable=SC2086
    if ! $CC $CFLAGS $flag -Igenerated -I"$(dirname "$src")" -c "$m" -o "$m.o" >"$OUT/$name.cc.log" 2>&1 ||
       ! $CC ${LDFLAGS:-} "$@" "$m.o" "$lib" ${LDLIBS:-} -o "$OUT/$name.bin" >>"$OUT/$name.cc.log" 2>&1; then
        fail=$((fail + 1))
        echo "FAIL $name: does not build ($OUT/$name.cc.log)"
        return 1
    fi
}

# build_header NAME HDR FROM TO SRC OBJS...: the mutated header HDR, found
# first when SRC (a generated model, float) is compiled, which is linked
# with OBJS in its place.  The runtime's other headers are copied beside
# it, so that those including it by a quoted name find the mutant too.
build_header() {
    name=$1 hdr=$2 from=$3 to=$4 src=$5
    shift 5
    dir=$OUT/src/$name
    rm -rf "$dir" && mkdir -p "$dir" && cp runtime/*.h "$dir"/
    mutate "$hdr" "$dir/$(basename "$hdr")" "$from" "$to" ||
        { fail=$((fail + 1)); echo "FAIL $name: cannot mutate $hdr"; return 1; }
    # shellcheck disable=SC2086
    if ! $CC -I"$dir" $CFLAGS -Igenerated -c "$src" -o "$dir/model.o" >"$OUT/$name.cc.log" 2>&1 ||
       ! $CC ${LDFLAGS:-} "$@" "$dir/model.o" "$RUNTIME_LIB" ${LDLIBS:-} -o "$OUT/$name.bin" >>"$OUT/$name.cc.log" 2>&1; then
        fail=$((fail + 1))
        echo "FAIL $name: does not build ($OUT/$name.cc.log)"
        return 1
    fi
}

O=$BUILD/oracle
base_float="$O/dump_baseline.o"
gen_float="$BUILD/gen/baseline.o"
quant_double="$O/dump64_quant.o $BUILD/gen64/quant.o"
for f in $base_float $gen_float $quant_double; do
    [ -f "$f" ] || { echo "mutants: $f is missing (make check-oracle builds it)"; exit 1; }
done

# The controls: the same dumpers, unchanged, pass.
run control-baseline "$O/dump_baseline" pass
run control-quant "$O/dump64_quant" pass

build_header bn-backward runtime/epilogue.h \
    'const double g = gamma * is;' 'const double g = 1.001 * gamma * is;' \
    generated/baseline.c $base_float && run bn-backward "$OUT/bn-backward.bin" fail
build_header pool-grad runtime/conv_group.h \
    'const real_t q = g[j] * (real_t)0.25;' \
    'const real_t q = g[j] * (real_t)(0.999 * 0.25);' \
    generated/baseline.c $base_float && run pool-grad "$OUT/pool-grad.bin" fail
build momentum runtime/sgd.c \
    'mom * v[i] + d' 'mom * (real_t)1.001 * v[i] + d' \
    0 $base_float $gen_float && run momentum "$OUT/momentum.bin" fail
build weight-decay runtime/sgd.c \
    'sgd_update(p + a, v + a, g + a, n, lr, mom, wd, 1, 0);' \
        'sgd_update(p + a, v + a, g + a, n, lr, mom, t == 0 ? 0 : wd, 1, 0);' \
    0 $base_float $gen_float && run weight-decay "$OUT/weight-decay.bin" fail
recipe() { echo "$O/dump_$1.o $BUILD/testgen/$1.o"; }
for m in recipe_adam recipe_nesterov; do
    for f in $(recipe $m); do
        [ -f "$f" ] || { echo "mutants: $f is missing (make check-mutants builds it)"; exit 1; }
    done
done
OPTS_RECIPE="--seed ${ORACLE_SEED:-1} --batch 8 --steps 3"
run_recipe() { OPTS_SAVED=$OPTS; OPTS=$OPTS_RECIPE; run "$@"; OPTS=$OPTS_SAVED; }
run_recipe control-recipe_adam "$O/dump_recipe_adam" pass
# shellcheck disable=SC2046
build adam-bias runtime/sgd.c \
    'const double step = s->lr / (1 - pow(b1, t))' 'const double step = s->lr / (1 - pow(b1, t + 1))' \
    0 $(recipe recipe_adam) && run_recipe adam-bias "$OUT/adam-bias.bin" fail
# shellcheck disable=SC2046
build nesterov runtime/sgd.c \
    'lr * (d + mom * vi)' 'lr * vi' \
    0 $(recipe recipe_nesterov) && run_recipe nesterov "$OUT/nesterov.bin" fail
# shellcheck disable=SC2046
build schedule runtime/schedule.c \
    'v = onecycle(s, lr, (long)epochs * per_epoch, step);' \
    'v = onecycle(s, lr, (long)epochs * per_epoch, step > 0 ? step - 1 : 0);' \
    0 $(recipe recipe_adam) && run_recipe schedule "$OUT/schedule.bin" fail
build dtrelu-lo runtime/dtrelu.c \
    '*dlo = (real_t)below;' '*dlo = -(real_t)below;' \
    1 $quant_double && run dtrelu-lo "$OUT/dtrelu-lo.bin" fail

echo "$pass passed, $fail failed"
[ "$fail" = 0 ]
