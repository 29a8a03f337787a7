#!/bin/sh
# Installs the Debian packages advcc needs to build, run, test and plot.
# Run as root on Debian 12 (bookworm) or later; does nothing when all are
# present already.
set -eu
PACKAGES="make gcc libc6-dev flex bison libopenblas-dev libopenblas0-openmp liblapacke-dev \
libcmocka-dev zlib1g-dev libgsl-dev libjansson-dev gnuplot-nox dataset-fashion-mnist \
valgrind python3 python3-torch python3-numpy python3-scipy slurm-wlm munge \
help2man pkgconf"

missing=""
for p in $PACKAGES; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" ||
        missing="$missing $p"
done
[ -z "$missing" ] && exit 0
if [ "$(id -u)" != 0 ]; then
    echo "install-deps: missing Debian packages:$missing" >&2
    echo "install-deps: run this script as root (or: sudo apt-get install$missing)" >&2
    exit 1
fi
echo "install-deps: installing$missing" >&2
apt-get update
DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends $missing
