#!/bin/sh
# Runs every test of `make check` and prints one summary line at the end:
#   N passed, N failed, N skipped
# CMocka binaries ($BUILD/tests/test_*) are counted by their test cases;
# scripts (tests/t_*.sh, and the make goals in EXTRA_GOALS) by the
# "N passed, N failed" line they print, else as one test by exit status
# (77 = skipped).  A failing test's whole output is shown.
# TESTS=pattern runs only the tests whose name contains pattern.
# RUNNER="cmd args" runs each CMocka binary under cmd (valgrind);
# SKIP_UNITS="name ..." counts those binaries as skipped.
BUILD=${BUILD:-build}
pass=0 fail=0 skip=0 failed_names=""
log=$(mktemp)
trap 'rm -f "$log"' EXIT

count() { # name rc
    p=$(sed -n 's/^\[  PASSED  \] \([0-9]*\) test.*/\1/p' "$log" | tail -n 1)
    f=$(sed -n 's/^\[  FAILED  \] \([0-9]*\) test.*/\1/p' "$log" | tail -n 1)
    s=$(sed -n 's/^\[  SKIPPED \] \([0-9]*\) test.*/\1/p' "$log" | tail -n 1)
    if [ -z "$p$f" ]; then
        line=$(grep -E '^([A-Za-z_-]+: )?[0-9]+ passed, [0-9]+ failed' "$log" | tail -n 1)
        if [ -n "$line" ]; then
            p=$(echo "$line" | sed 's/^\([A-Za-z_-]*: \)\{0,1\}\([0-9]*\) passed.*/\2/')
            f=$(echo "$line" | sed 's/.* \([0-9]*\) failed.*/\1/')
            s=$(echo "$line" | sed -n 's/.* \([0-9]*\) skipped.*/\1/p')
        elif [ "$2" = 0 ]; then p=1
        elif [ "$2" = 77 ]; then s=1
        else f=1
        fi
    fi
    p=${p:-0} f=${f:-0} s=${s:-0}
    # A crash or a non-zero exit with nothing counted as failed still fails.
    if [ "$2" != 0 ] && [ "$2" != 77 ] && [ "$f" = 0 ]; then f=1; fi
    pass=$((pass + p)) fail=$((fail + f)) skip=$((skip + s))
    if [ "$f" != 0 ]; then
        failed_names="$failed_names $1"
        cat "$log"
    fi
    printf '%-28s %4d passed, %d failed, %d skipped\n' "$1" "$p" "$f" "$s"
}

selected() { [ -z "${TESTS:-}" ] || case "$1" in *"$TESTS"*) return 0 ;; *) return 1 ;; esac; }

for t in "$BUILD"/tests/test_* "$BUILD"/tests/test64_* "$BUILD"/tests/model_* "$BUILD"/tests/model64_*; do
    [ -x "$t" ] || continue
    case "$t" in *.d|*.o) continue ;; esac
    name=$(basename "$t")
    selected "$name" || continue
    case " ${SKIP_UNITS:-} " in
    *" $name "*) echo "skipped" >"$log"; count "$name" 77; continue ;;
    esac
    ${RUNNER:-} "$t" >"$log" 2>&1
    count "$name" $?
done
[ -n "${UNITS_ONLY:-}" ] && EXTRA_GOALS=""
for t in tests/t_*.sh; do
    [ -n "${UNITS_ONLY:-}" ] && break
    [ -f "$t" ] || continue
    name=$(basename "$t" .sh)
    selected "$name" || continue
    BUILD="$BUILD" sh "$t" >"$log" 2>&1
    count "$name" $?
done
for g in ${EXTRA_GOALS:-}; do
    selected "$g" || continue
    make --no-print-directory -s BUILD="$BUILD" "$g" >"$log" 2>&1
    count "$g" $?
done

[ -n "$failed_names" ] && echo "failed:$failed_names"
echo "$pass passed, $fail failed, $skip skipped"
[ "$fail" = 0 ]
