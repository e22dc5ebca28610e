#!/usr/bin/env bash
# Runs every integration test against real services started here: one
# private one-node Ceph cluster (booted once, only when a ceph_*, libvirt_*, container_*,
# cinder_* or cli_* test is selected (cli_config's good config names its ceph.conf),
# shared by them, stopped at the end by PID). amqp_* tests
# need no Ceph: each starts and stops its own RabbitMQ broker
# (tests/lib/rabbitmq.sh). Ends with "N passed, N failed".
# Usage: tests/integration/run.sh AGENT_BINARY [TEST_NAME_SUBSTRING...]
#
# Two lanes, then one (INTEGRATION_JOBS=1: all in one lane, file order):
#   1. the tests whose header says "# run.sh: side lane" run one after another
#      in a lane of their own, beside the untagged tests in the main lane;
#   2. once both lanes are done, the tests that say "# run.sh: serial", one at
#      a time with nothing beside them.
# A test is "serial" when it stops or fills what the others share (the OSD),
# adds a ceph-mgr to the shared cluster (and stops it again), or when its
# agents read or rebuild the whole volume index of the shared pool (compute
# agents, index rebuild), which the other lane's volumes would enter;
# "side lane" when it changes nothing shared and may be slowed by the main
# lane. Each test's output (stdout and stderr) is printed whole when it ends.
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

# AGENT_2=BINARY AGENT_2_TESTS="NAME...": those tests run again with that
# binary (make check: the static build), in the same lanes, on the same cluster.
AGENT_2_SHOWN=${AGENT_2:-}
if [ -n "${AGENT_2:-}" ]; then
    AGENT_2=$(realpath "$AGENT_2")
    for n in ${AGENT_2_TESTS:-}; do
        if [ -f "$here/$n.sh" ]; then tests+=("$here/$n.sh@2")
        else echo "FAIL run: AGENT_2_TESTS names $n, which is not a test in $here" | tee -a "$T_RESULTS"; fi
    done
fi

need_ceph=no
for t in "${tests[@]}"; do case "$(basename "${t%@2}")" in ceph_*|libvirt_*|container_*|cinder_*|cli_*) need_ceph=yes ;; esac done
if [ "$need_ceph" = yes ]; then
    echo "== booting a one-node Ceph cluster"
    if ! "$root/tests/lib/ceph-cluster.sh" start "$CEPH_DIR"; then
        echo "FAIL run: the Ceph cluster did not boot" | tee -a "$T_RESULTS"
    fi
fi

# run_one SCRIPT[@2]: the test (@2: again, with AGENT_2), its output into
# $work/NAME.out, then printed whole (the two lanes print under one lock, a
# test's lines never interleaved with another's).
run_one() {
    local t=${1%@2} name rc start agent=$AGENT shown
    name=$(basename "$t" .sh)
    shown=$name
    if [ "$1" != "$t" ]; then
        agent=$AGENT_2 shown="$name (again, with $AGENT_2_SHOWN)" name=$name.again
    fi
    mkdir -p "$work/$name"
    start=$(date +%s)
    {
        echo "== $shown"
        AGENT=$agent T_NAME=$name T_TMP="$work/$name" bash "$t"
        rc=$?
        [ $rc -eq 0 ] || echo "FAIL $shown: script exited $rc" | tee -a "$T_RESULTS"
        echo "   ($(($(date +%s) - start)) s)"
    } >"$work/$name.out" 2>&1
    flock "$work/out.lock" cat "$work/$name.out"
}
lane() { local t; for t in "$@"; do run_one "$t"; done; }
tag() { grep -qx "# run.sh: $2.*" "$1"; }

main=() side=() serial=()
for t in "${tests[@]}"; do
    if [ "${INTEGRATION_JOBS:-2}" = 1 ]; then main+=("$t")
    elif tag "${t%@2}" "side lane"; then side+=("$t")
    elif tag "${t%@2}" serial; then serial+=("$t")
    else main+=("$t"); fi
done
side_pid=
stop_side() { # on an interrupt: the side lane's test gets TERM too (its EXIT trap stops its daemons)
    [ -n "$side_pid" ] || return 0
    pkill -TERM -P "$side_pid" 2>/dev/null
    kill -TERM "$side_pid" 2>/dev/null
    wait "$side_pid" 2>/dev/null
}
trap 'stop_side; exit 130' INT TERM
if [ ${#side[@]} -gt 0 ]; then
    echo "== lanes: main ${#main[@]} tests, beside it ${#side[@]} ($(for t in "${side[@]}"; do basename "${t%@2}" .sh; done | paste -sd' ')), then ${#serial[@]} one at a time"
    lane "${side[@]}" &
    side_pid=$!
fi
lane "${main[@]}"
if [ -n "$side_pid" ]; then
    wait "$side_pid"
    side_pid=
fi
lane "${serial[@]}"

passed=$(grep -c '^PASS' "$T_RESULTS")
failed=$(grep -c '^FAIL' "$T_RESULTS")
if [ "$failed" -gt 0 ]; then
    echo "Failed checks:"
    grep '^FAIL' "$T_RESULTS"
fi
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ] && [ "$passed" -gt 0 ]
