#!/bin/sh
# fetch_cifar10.sh DIR - download the official CIFAR-10 binary archive, check
# its MD5 and unpack it into DIR/cifar-10-batches-bin (what `make data` runs).
#
# Everything happens in a temporary directory inside DIR that is removed on
# any exit, and the batches are moved into place only when complete, so a
# failure leaves no partial files.  CIFAR10_URL names a mirror.
set -u

url=${CIFAR10_URL:-https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz}
md5=c32a1d4ab5d03f1284b67883e8d87530
dir=${1:-data}
dest=$dir/cifar-10-batches-bin
files="data_batch_1.bin data_batch_2.bin data_batch_3.bin data_batch_4.bin
data_batch_5.bin test_batch.bin"
tmp=

fail() {
    echo "fetch_cifar10: $*" >&2
    echo "fetch_cifar10: if you have a copy of the binary batches, point" \
         "CIFAR10_DIR at it instead, e.g." >&2
    echo "    export CIFAR10_DIR=/path/to/cifar-10-batches-bin" >&2
    exit 1
}

complete() {
    for f in $files; do
        # 10000 records of 3073 bytes each
        [ -f "$1/$f" ] && [ "$(wc -c < "$1/$f")" -eq 30730000 ] || return 1
    done
}

if complete "$dest"; then
    echo "fetch_cifar10: $dest is already there"
    exit 0
fi
[ -e "$dest" ] && fail "$dest exists but is incomplete; remove it and retry"

made_dir=
[ -d "$dir" ] || made_dir=yes
mkdir -p "$dir" || fail "cannot create $dir"
# On any exit: the temporary goes, and DIR too if this run made it and it
# is still empty.
trap 'rm -rf "$tmp"; [ -n "$made_dir" ] && rmdir "$dir" 2>/dev/null' EXIT
tmp=$(mktemp -d "$dir/.cifar10.XXXXXX") || fail "cannot create a temporary directory in $dir"
trap 'exit 1' HUP INT TERM

archive=$tmp/cifar-10-binary.tar.gz
echo "fetch_cifar10: downloading $url"
# A 20 s limit on connecting, and on a stalled transfer (under 1 KB/s for
# 60 s); the whole 163 MB may take its time on a slow line.
progress=-sS
[ -t 2 ] && progress=-#
if command -v curl >/dev/null 2>&1; then
    curl $progress -fL --connect-timeout 20 --speed-limit 1024 --speed-time 60 \
         --max-time 3600 -o "$archive" "$url" ||
        fail "the download of $url failed (curl exit $?)"
elif command -v wget >/dev/null 2>&1; then
    wget -q --timeout=20 --tries=2 -O "$archive" "$url" ||
        fail "the download of $url failed (wget exit $?)"
else
    fail "neither curl nor wget is installed, so $url cannot be downloaded"
fi

if command -v md5sum >/dev/null 2>&1; then
    sum=$(md5sum < "$archive" | cut -d' ' -f1)
elif command -v md5 >/dev/null 2>&1; then
    sum=$(md5 -q "$archive")
else
    fail "no md5sum or md5 to check the archive with"
fi
[ "$sum" = "$md5" ] ||
    fail "the downloaded archive has MD5 $sum, expected $md5 (a corrupt or different file)"

tar -xzf "$archive" -C "$tmp" || fail "cannot unpack $archive"
complete "$tmp/cifar-10-batches-bin" ||
    fail "the archive lacks some of: $(echo $files)"
mv "$tmp/cifar-10-batches-bin" "$dest" || fail "cannot move the batches to $dest"
echo "fetch_cifar10: CIFAR-10 is in $dest"
