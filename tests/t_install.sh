#!/bin/sh
# make install into a staging directory (DESTDIR + PREFIX), then, from a
# directory outside the repository and with the installed files only, the
# build command printed in `man advcc`: compile a small spec and build its
# binary; train it on a few hundred Fashion-MNIST images and attack it.
# make uninstall must leave no file behind.  Skipped (77) without help2man,
# pkg-config or Fashion-MNIST.
set -eu
BUILD=${BUILD:-build}
# The version is written once, in runtime/vocab.h; the binaries and
# advcc.pc (below) say that one.
v=$(sed -n 's/^#define ADVCC_VERSION_NUMBER "\(.*\)"$/\1/p' runtime/vocab.h)
[ -n "$v" ] || { echo "no ADVCC_VERSION_NUMBER in runtime/vocab.h"; exit 1; }
copies=$(grep -rlF "$v" runtime compiler Makefile | grep -vx 'runtime/vocab.h' || true)
[ -z "$copies" ] || { echo "version $v written outside runtime/vocab.h:" $copies; exit 1; }
[ "$("$BUILD/advcc" --version)" = "advcc $v" ] || { echo "advcc --version is not $v"; exit 1; }
"$BUILD/bin/advcc-study" --version | grep -qx "advcc-study $v" ||
    { echo "advcc-study --version is not $v"; exit 1; }
command -v help2man >/dev/null || { echo "skip: no help2man"; exit 77; }
command -v pkg-config >/dev/null || { echo "skip: no pkg-config"; exit 77; }
fmnist=${FASHION_MNIST_DIR:-/usr/share/datasets/fashion-mnist}
[ -d "$fmnist" ] || { echo "skip: no Fashion-MNIST in $fmnist"; exit 77; }
repo=$(pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
dest=$tmp/stage prefix=/opt/advcc-test
root=$dest$prefix

make -s --no-print-directory BUILD="$BUILD" install DESTDIR="$dest" PREFIX="$prefix" >"$tmp/install.log" 2>&1 ||
    { cat "$tmp/install.log"; echo "make install failed"; exit 1; }
for f in bin/advcc bin/advcc-study lib/libadvcc.a lib/pkgconfig/advcc.pc \
         include/advcc/model.h include/advcc/cli.h share/advcc/main.c \
         share/man/man1/advcc.1 share/man/man1/advcc-study.1; do
    [ -s "$root/$f" ] || { echo "not installed: $f"; exit 1; }
done
grep -q "^prefix=$prefix\$" "$root/lib/pkgconfig/advcc.pc"
grep -qx "Version: $v" "$root/lib/pkgconfig/advcc.pc" || { echo "advcc.pc: not version $v"; exit 1; }
grep -q '^\.TH ADVCC-STUDY' "$root/share/man/man1/advcc-study.1"
# The build command of `man advcc`, as printed (roff escapes undone).
sed -n '/^advcc my\.net/,/-o my$/p' "$root/share/man/man1/advcc.1" |
    sed 's/\\-/-/g; s/\\e$/\\/' >"$tmp/build-cmd.sh"
grep -q 'pkg-config --variable=main advcc' "$tmp/build-cmd.sh" ||
    { echo "man advcc lacks the build command"; exit 1; }
cat "$tmp/build-cmd.sh"

# A user outside the repository, with only the installed files on the paths;
# pkg-config is told (--define-prefix) that advcc.pc sits in a staged copy.
work=$tmp/user
mkdir -p "$work/bin"
real_pc=$(command -v pkg-config)
printf '#!/bin/sh\nexec %s --define-prefix "$@"\n' "$real_pc" >"$work/bin/pkg-config"
chmod +x "$work/bin/pkg-config"
PATH="$work/bin:$root/bin:$PATH"
PKG_CONFIG_PATH="$root/lib/pkgconfig"
export PATH PKG_CONFIG_PATH
cd "$work"
printf '%s\n' 'model my {' '  input 1x28x28 classes 10' \
    '  normalize mean=(0.2860) std=(0.3530)' \
    '  conv 8 3 pad=same -> batchnorm -> relu -> avgpool 2' \
    '  flatten' '  linear 10' \
    '  train sgd lr=0.05 momentum=0.9 batch=50 epochs=1' \
    '  attack pgd eps=8/255 alpha=2/255 steps=4 init=gaussian' '}' >my.net
[ "$(command -v advcc)" = "$root/bin/advcc" ]
sh "$tmp/build-cmd.sh"
case "$(pkg-config --cflags --libs advcc) $(pkg-config --variable=main advcc)" in
*"$repo"*) echo "flags point into the repository"; exit 1 ;;
esac
[ "$(./my --version)" = "advcc $v" ] || { echo "my --version is not $v"; exit 1; }
./my train --limit 500 --test-limit 200 --threads 1 --quiet --out run >train.txt
cat train.txt
grep -q 'test accuracy' train.txt
./my attack --checkpoint run/checkpoint.safetensors --eps 8/255 --limit 200 \
    --threads 1 --quiet --json run/pgd8.json >attack.txt
cat attack.txt
grep -q '"robust_acc"' run/pgd8.json
grep -q '"provenance":"./my attack' run/pgd8.json
cd "$repo"

make -s --no-print-directory BUILD="$BUILD" uninstall DESTDIR="$dest" PREFIX="$prefix" >"$tmp/uninstall.log" 2>&1 ||
    { cat "$tmp/uninstall.log"; echo "make uninstall failed"; exit 1; }
left=$(find "$dest" -type f -o -type l)
[ -z "$left" ] || { echo "left after uninstall:"; echo "$left"; exit 1; }
echo "1 passed, 0 failed"
