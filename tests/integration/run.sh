#!/usr/bin/env bash
# Runs every integration test against real services started here: one
# private one-node Ceph cluster (booted once, only when a ceph_*, libvirt_*, container_* or cinder_*
# test is selected, shared by them, stopped at the end by PID). amqp_* tests
# need no Ceph: each starts and stops its own RabbitMQ broker
# (tests/lib/rabbitmq.sh). Ends with "N passed, N failed".
# Usage: tests/integration/run.sh AGENT_BINARY [TEST_NAME_SUBSTRING...]
set -u
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
AGENT=$(realpath "$1")
shift
export AGENT

work=$(mktemp -d "${TMPDIR:-/tmp}/rbd-luks-it.XXXXXX")
export T_RESULTS="$work/results"
: >"$T_RESULTS"
export CEPH_DIR="$work/ceph"

cleanup() {
    "$root/tests/lib/ceph-cluster.sh" stop "$CEPH_DIR" >/dev/null 2>&1
    if [ -n "${KEEP_WORK:-}" ]; then echo "kept $work"; else rm -rf "$work"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

selected() {
    [ $# -eq 1 ] && return 0
    local name=$1 pat
    shift
    for pat in "$@"; do case "$name" in *"$pat"*) return 0 ;; esac done
    return 1
}

tests=()
for t in "$here"/*.sh; do
    name=$(basename "$t" .sh)
    [ "$name" = run ] && continue
    selected "$name" "$@" && tests+=("$t")
done

need_ceph=no
for t in "${tests[@]}"; do case "$(basename "$t")" in ceph_*|libvirt_*|container_*|cinder_*) need_ceph=yes ;; esac done
if [ "$need_ceph" = yes ]; then
    echo "== booting a one-node Ceph cluster"
    if ! "$root/tests/lib/ceph-cluster.sh" start "$CEPH_DIR"; then
        echo "FAIL run: the Ceph cluster did not boot" | tee -a "$T_RESULTS"
    fi
fi

for t in "${tests[@]}"; do
    name=$(basename "$t" .sh)
    echo "== $name"
    mkdir -p "$work/$name"
    start=$(date +%s)
    T_TMP="$work/$name" bash "$t"
    rc=$?
    [ $rc -eq 0 ] || echo "FAIL $name: script exited $rc" | tee -a "$T_RESULTS"
    echo "   ($(($(date +%s) - start)) s)"
done

passed=$(grep -c '^PASS' "$T_RESULTS")
failed=$(grep -c '^FAIL' "$T_RESULTS")
if [ "$failed" -gt 0 ]; then
    echo "Failed checks:"
    grep '^FAIL' "$T_RESULTS"
fi
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ] && [ "$passed" -gt 0 ]
