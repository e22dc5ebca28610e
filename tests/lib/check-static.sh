#!/bin/bash
# Checks what `make static` made: the binary asks the dynamic loader for
# librbd, librados, libcryptsetup, libvirt and libc only (its DT_NEEDED
# entries), and every other library ldd shows is one that those four bring
# with them, not one of the agent's own. Usage: check-static.sh BINARY
set -euo pipefail

bin=${1:?usage: check-static.sh BINARY}
allowed='^(librbd\.so\.1|librados\.so\.2|libcryptsetup\.so\.12|libvirt\.so\.0|libc\.so\.6|ld-linux-x86-64\.so\.2|ld-linux-aarch64\.so\.1)$'
fail=0

needed=$(readelf -d "$bin" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p')
for lib in $needed; do
    if ! [[ $lib =~ $allowed ]]; then
        echo "static: $bin needs $lib directly; it should be linked in" >&2
        fail=1
    fi
done

# Libraries the four dynamic ones load for themselves.
paths=$(ldd "$bin" | awk '$2 == "=>" && $3 ~ /^\// { print $1, $3 }')
theirs=$(for lib in librbd.so.1 librados.so.2 libcryptsetup.so.12 libvirt.so.0; do
             path=$(awk -v l="$lib" '$1 == l { print $2 }' <<<"$paths")
             [ -n "$path" ] && ldd "$path" | awk '$2 == "=>" { print $1 }'
         done | sort -u)
for lib in $(awk '{ print $1 }' <<<"$paths"); do
    if ! [[ $lib =~ $allowed ]] && ! grep -qx "$lib" <<<"$theirs"; then
        echo "static: ldd shows $lib, which neither the agent nor its dynamic libraries should need" >&2
        fail=1
    fi
done
# The agent's statically linked copies must stay private (--exclude-libs):
# an exported EVP_* or json_* would capture libcryptsetup's calls.
exported=$(nm -D --defined-only "$bin" | awk '$3 ~ /^(EVP_|OPENSSL_|SSL_|json_|ini_|amqp_)/' | head -3)
if [ -n "$exported" ]; then
    echo "static: $bin exports library symbols: $exported" >&2
    fail=1
fi
[ "$fail" = 0 ] || exit 1
echo "static: $bin: needs only $(echo $needed | tr ' ' ','); $(stat -c %s "$bin") bytes"
