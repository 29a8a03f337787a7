#!/bin/sh
# t_fetch_cifar10.sh - runtime/fetch_cifar10.sh (`make data`) without the
# network: a download that fails and an archive with the wrong MD5 both exit
# non-zero, say what went wrong and how to use an existing copy, and leave
# no files behind; a complete copy already in place is left alone.
# Prints "N passed, N failed".
script=$(cd "$(dirname "$0")/.." && pwd)/runtime/fetch_cifar10.sh
tmp=$(mktemp -d "${TMPDIR:-/tmp}/advcc-fetch-XXXXXX") || exit 1
trap 'rm -rf "$tmp"' EXIT
pass=0 fail=0

check() { # description, then a command that must succeed
    what=$1
    shift
    if "$@"; then
        pass=$((pass + 1))
    else
        fail=$((fail + 1))
        echo "FAILED: $what" >&2
        sed 's/^/    /' "$tmp/log" >&2
    fi
}

# A mirror that does not exist stands for a network that does not answer.
CIFAR10_URL=file://$tmp/no-such-archive.tar.gz sh "$script" "$tmp/data" \
    >"$tmp/log" 2>&1
rc=$?
check "a failed download exits non-zero" [ "$rc" != 0 ]
check "it says the download failed" grep -q "download of .* failed" "$tmp/log"
check "it points at CIFAR10_DIR" \
    grep -q "export CIFAR10_DIR=/path/to/cifar-10-batches-bin" "$tmp/log"
check "it leaves no files" [ ! -e "$tmp/data" ]

mkdir "$tmp/bogus"
echo "not CIFAR-10" >"$tmp/bogus/readme.txt"
tar -czf "$tmp/bogus.tar.gz" -C "$tmp/bogus" readme.txt
mkdir "$tmp/keep"
CIFAR10_URL=file://$tmp/bogus.tar.gz sh "$script" "$tmp/keep" \
    >"$tmp/log" 2>&1
rc=$?
check "a wrong archive exits non-zero" [ "$rc" != 0 ]
check "it reports the MD5 mismatch" \
    grep -q "expected c32a1d4ab5d03f1284b67883e8d87530" "$tmp/log"
check "it leaves the directory empty" [ -z "$(ls -A "$tmp/keep")" ]

mkdir -p "$tmp/partial/cifar-10-batches-bin"
CIFAR10_URL=file://$tmp/bogus.tar.gz sh "$script" "$tmp/partial" \
    >"$tmp/log" 2>&1
rc=$?
check "an incomplete copy is not overwritten" [ "$rc" != 0 ]
check "it says the copy is incomplete" grep -q "incomplete" "$tmp/log"

if [ -n "${CIFAR10_DIR:-}" ] && [ -f "$CIFAR10_DIR/test_batch.bin" ]; then
    mkdir "$tmp/have"
    ln -s "$CIFAR10_DIR" "$tmp/have/cifar-10-batches-bin"
    CIFAR10_URL=file://$tmp/no-such-archive.tar.gz sh "$script" "$tmp/have" \
        >"$tmp/log" 2>&1
    check "a complete copy needs no download" [ "$?" = 0 ]
fi

echo "$pass passed, $fail failed"
[ "$fail" = 0 ]
