#!/bin/bash
# Builds what `make musl-check` links against, for musl, into PREFIX:
#   json-c: from Debian's source package (apt verifies it against the
#           archive's signed index), compiled with musl-gcc;
#   inih:   Debian's own libinih.a, unchanged. It calls only C functions
#           that musl also has (checked below with nm), so it links as is;
#           its source package is not on every mirror.
# Usage: tests/musl/deps.sh PREFIX. A second run with PREFIX complete does
# nothing.
set -euo pipefail

prefix=${1:?usage: deps.sh PREFIX}
mkdir -p "$prefix"
prefix=$(cd "$prefix" && pwd)
if [ -f "$prefix/lib/libjson-c.a" ] && [ -f "$prefix/lib/libinih.a" ]; then
    exit 0
fi
for tool in musl-gcc cmake apt-get; do
    command -v "$tool" >/dev/null || { echo "musl deps: $tool not found: run tests/lib/deps.sh musl" >&2; exit 1; }
done

work=$prefix/src
rm -rf "$work"
mkdir -p "$work/lists/partial" "$work/cache/archives/partial" "$prefix/lib" "$prefix/include"

# The mirror the machine already uses, as a deb-src line in a private list:
# the machine's own apt configuration and state are not touched.
mirror=$(sed -n 's/^URIs: *//p' /etc/apt/sources.list.d/*.sources 2>/dev/null | head -1)
[ -n "$mirror" ] || mirror=$(awk '$1 == "deb" { print $2; exit }' /etc/apt/sources.list 2>/dev/null)
[ -n "$mirror" ] || { echo "musl deps: no Debian mirror found in the apt sources" >&2; exit 1; }
suite=$(. /etc/os-release && echo "$VERSION_CODENAME")
echo "deb-src $mirror $suite main" >"$work/sources.list"
apt_private=(-o "Dir::Etc::SourceList=$work/sources.list" -o "Dir::Etc::SourceParts=$work/none"
             -o "Dir::State::Lists=$work/lists" -o "Dir::Cache=$work/cache")
# apt's download user cannot enter a build tree that is private to root.
[ "$(id -u)" != 0 ] || apt_private+=(-o APT::Sandbox::User=root)
version=$(dpkg-query -W -f '${source:Version}' libjson-c-dev)
echo "musl deps: json-c $version source from $mirror"
timeout 300 apt-get -qq "${apt_private[@]}" update
(cd "$work" && timeout 300 apt-get -qq "${apt_private[@]}" source "json-c=$version" >/dev/null)
src=$(find "$work" -maxdepth 1 -type d -name 'json-c-*' | head -1)
[ -n "$src" ] || { echo "musl deps: json-c source did not unpack" >&2; exit 1; }

cmake -S "$src" -B "$work/build-json-c" -DCMAKE_C_COMPILER=musl-gcc -DCMAKE_BUILD_TYPE=Release \
    -DBUILD_SHARED_LIBS=OFF -DBUILD_STATIC_LIBS=ON -DBUILD_TESTING=OFF -DDISABLE_WERROR=ON \
    -DCMAKE_INSTALL_PREFIX="$prefix" -DCMAKE_INSTALL_LIBDIR=lib >"$work/json-c.log" 2>&1 ||
    { tail -20 "$work/json-c.log" >&2; exit 1; }
make -C "$work/build-json-c" -j"$(nproc)" install >>"$work/json-c.log" 2>&1 ||
    { tail -20 "$work/json-c.log" >&2; exit 1; }

inih=$(dpkg -L libinih-dev | grep '/libinih\.a$')
header=$(dpkg -L libinih-dev | grep '/ini\.h$')
# Any glibc-only symbol (fortified __*_chk, versioned internals) would not
# link; say which instead of letting the linker say it less clearly.
glibc_only=$(nm -u "$inih" | awk '{ print $2 }' | grep -E '^__.*_chk$|^__isoc|^__libc' || true)
if [ -n "$glibc_only" ]; then
    echo "musl deps: $inih needs glibc-only symbols: $glibc_only" >&2
    exit 1
fi
cp "$inih" "$prefix/lib/libinih.a"
cp "$header" "$prefix/include/ini.h"
rm -rf "$work"
echo "musl deps: ready in $prefix"
