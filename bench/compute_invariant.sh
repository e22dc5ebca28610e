#!/usr/bin/env bash
# Benchmark of the compute role's invariant (docs/decisions.md, "Fail closed"):
# every compute host holds a `volume` secret for every live agent-managed
# volume in the pool's volume index. Two hosts (two private libvirtds, two
# compute agents, one hook file each) on one private Ceph cluster whose index
# is seeded with N volumes, state=formatted; `[keys] provider = file`, so no
# RBD image is needed. Run on demand (make bench), not by make check. Needs
# root, /usr/bin/python3 with python3-rados and python3-libvirt, python3-nova
# for Nova's find_secret (tests/lib/nova_harness.py).
#
#   bench/compute_invariant.sh [AGENT]     AGENT defaults to build/rbd-luks-agent
#
# Environment: BENCH_N (10000) volumes in the index; BENCH_EVENTS (200) new
# volumes in phase 1 (each: create.start and create.end, to both hosts),
# BENCH_WARMUP (5) unmeasured ones first; BENCH_UNDEFINES (200) volumes in
# phase 2 (each undefined on both hosts); BENCH_RECONCILES (3) SIGHUPs per
# host in phase 3; BENCH_ROUNDS (3) restarts per store in phases 5-6;
# BENCH_GAP_MS (20) between events. A smoke run: BENCH_N=500.
#
# Phases, after the agents' start-up reconcile has defined N secrets in each
# (empty) libvirtd, timed from the agents' logs:
#   3. SIGHUP -> the agent's "reconcile: ..." line, nothing to change: its own
#      "in X ms", RADOS reads, CPU of agent and libvirtd; the agents' VmRSS,
#      against the floor measured in the same run: bench/rss_floor.c, linked
#      with the agent's libraries, connected to RADOS and libvirt, idle.
#   5. libvirtd start with N secrets on disk vs with 100, and
#   6. Nova's Host.find_secret (median of 20) at N vs 100: both on a third
#      libvirtd without an agent, whose store is a copy of host 1's secrets
#      (all N, or the first 100), the two alternating; also find_secret on
#      host 1 itself.
#   4. host 1's libvirtd killed (-9), its secrets dir emptied, restarted
#      (tests/lib/libvirt.sh restart-libvirtd): until the agent's reconcile
#      line, and until `health` says healthy (polled every 0.2 s meanwhile:
#      it must never say healthy while secrets are missing).
#   1. BENCH_EVENTS new volumes, one at a time: create.start appended to
#      both hook files (write + fdatasync) -> libvirt's DEFINED event of the
#      placeholder on each host; then the volume's index entry (formatted) and
#      key file, create.end -> VALUE_CHANGED (the passphrase) on each host.
#   2. BENCH_UNDEFINES seeded volumes: Nova's Host.delete_secret through
#      libvirt-python on each host in turn -> DEFINED again for that usage id.
# The measuring is bench/compute_invariant.py; libvirt events come to a
# callback on a thread running libvirt's event loop in that process. After
# every phase that defines secrets, every seeded volume's secret is checked
# on disk in libvirtd's store: present, not a placeholder, the hex of its
# key file. PASS/FAIL lines compare with the targets (event p99 <= 20 ms,
# no-change reconcile of 10,000 <= 5 s, agent RSS <= 40 MiB); a missed target
# does not fail the script, a failure to measure does. Everything started
# here (Ceph, three libvirtds with their virtlogd and namespace holder, two
# agents) is stopped by PID on exit; the temp dir is kept after a failure, or
# always with BENCH_KEEP=1. The agents run with reconcile_interval_s = 86400,
# so that no periodic reconcile (300 s by default) falls into a latency phase.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
. "$root/bench/lib.sh"
N=${BENCH_N:-10000}
EVENTS=${BENCH_EVENTS:-200}
WARMUP=${BENCH_WARMUP:-5}
UNDEFINES=${BENCH_UNDEFINES:-200}
RECONCILES=${BENCH_RECONCILES:-3}
ROUNDS=${BENCH_ROUNDS:-3}
GAP_MS=${BENCH_GAP_MS:-20}
BASE=100
PY=/usr/bin/python3
HELPER=$here/compute_invariant.py
LIBVIRT_SH=$root/tests/lib/libvirt.sh

for v in N EVENTS WARMUP UNDEFINES RECONCILES ROUNDS GAP_MS; do
    n=${!v}
    if ! [[ $n =~ ^[0-9]+$ ]] || ((n > 100000)); then die "BENCH_$v must be 0..100000"; fi
done
((N > BASE)) || die "BENCH_N must be more than $BASE (the store it is compared with)"
((EVENTS > 0 && UNDEFINES > 0 && RECONCILES > 0 && ROUNDS > 0)) ||
    die "BENCH_EVENTS, BENCH_UNDEFINES, BENCH_RECONCILES and BENCH_ROUNDS must be > 0"
((UNDEFINES <= N)) || die "BENCH_UNDEFINES must be at most BENCH_N"
for c in virsh libvirtd virtlogd unshare nsenter rados; do
    command -v "$c" >/dev/null || die "$c is needed"
done
if ! [[ -x $PY ]] || ! "$PY" -c 'import rados, libvirt, nova' 2>/dev/null; then
    die "$PY with python3-rados, python3-libvirt and python3-nova is needed"
fi

bench_init "$(realpath -- "${1:-$root/build/rbd-luks-agent}")"
"$PY" "$HELPER" busy - 2 >"$T/busy0.json"
load_start=$(loadavg)

agent_a_pid=''
agent_b_pid=''
stop_all() {
    bench_stop_pid "$agent_a_pid"
    bench_stop_pid "$agent_b_pid"
    agent_a_pid='' agent_b_pid=
    local d
    for d in "$T/lva" "$T/lvb" "$T/lvc"; do
        [[ -d $d ]] || continue
        "$LIBVIRT_SH" stop "$d" >/dev/null 2>&1 || say "libvirt.sh stop $d reported a problem"
    done
}
bench_cleanup_hooks+=(stop_all)

bench_cluster_start
declare -A URI
for h in a b c; do
    say "starting a private libvirtd in $T/lv$h"
    out=$("$LIBVIRT_SH" start "$T/lv$h" 2>"$T/lv$h-start.err") ||
        { cat "$T/lv$h-start.err" >&2; die "private libvirtd $T/lv$h did not start"; }
    URI[$h]=${out#LIBVIRT_URI=}
done

mkdir -p "$T/keys" "$T/nova"
chmod 700 "$T/keys"
compute_ini() { # h HOSTNAME
    local dir=$T/agent-$1
    mkdir -p "$dir/state"
    : >"$dir/events.jsonl"
    cat >"$dir/agent.ini" <<INI
[agent]
role = compute
hook_file = $dir/events.jsonl
state_dir = $dir/state
health_interval = 1
[ceph]
conf = $CONF
client = cinder
pool = volumes
[compute]
uri = ${URI[$1]}
host = $2
reconcile_interval_s = 86400
[keys]
provider = file
directory = $T/keys
INI
    "$AGENT" -c "$dir/agent.ini" check-config >&2 || die "$dir/agent.ini does not pass check-config"
}
compute_ini a bench-cmp-1
compute_ini b bench-cmp-2

# The run's description for the helper; pids and start times once known.
write_conf() {
    local a_pid=${agent_a_pid:-0} b_pid=${agent_b_pid:-0}
    cat >"$T/conf.json" <<JSON
{"tmp": "$T", "ceph_conf": "$CONF", "pool": "volumes", "keys": "$T/keys",
 "ids": "$T/ids", "extra_ids": "$T/extra-ids", "agent": "$AGENT",
 "libvirt_sh": "$LIBVIRT_SH", "nova_harness": "$root/tests/lib/nova_harness.py",
 "nova_state": "$T/nova",
 "hosts": [
  {"name": "bench-cmp-1", "uri": "${URI[a]}", "lv": "$T/lva", "secrets": "$T/lva/etc/secrets",
   "hook": "$T/agent-a/events.jsonl", "state": "$T/agent-a/state", "ini": "$T/agent-a/agent.ini",
   "log": "$T/agent-a/agent.log", "pid": $a_pid, "started": ${started:-0}},
  {"name": "bench-cmp-2", "uri": "${URI[b]}", "lv": "$T/lvb", "secrets": "$T/lvb/etc/secrets",
   "hook": "$T/agent-b/events.jsonl", "state": "$T/agent-b/state", "ini": "$T/agent-b/agent.ini",
   "log": "$T/agent-b/agent.log", "pid": $b_pid, "started": ${started:-0}}],
 "spare": {"uri": "${URI[c]}", "lv": "$T/lvc"}}
JSON
}
write_conf
helper() { # COMMAND ARGS... > JSON on stdout
    local cmd=$1
    shift
    "$PY" "$HELPER" "$cmd" "$T/conf.json" "$@" || die "measuring failed in: $cmd $*"
}

say "seeding $N volumes: key files and index entries (state=formatted)"
helper seed "$N" >"$T/seed.json"

say "starting two compute agents; their start-up reconcile defines $N secrets each"
started=$(date +%s.%N)
"$AGENT" -c "$T/agent-a/agent.ini" run 2>>"$T/agent-a/agent.log" &
agent_a_pid=$!
"$AGENT" -c "$T/agent-b/agent.ini" run 2>>"$T/agent-b/agent.log" &
agent_b_pid=$!
write_conf
helper startup >"$T/startup.json"
helper verify bench-cmp-1 >/dev/null
helper verify bench-cmp-2 >/dev/null

say "phase 3: $RECONCILES no-change reconciles per host (SIGHUP)"
helper reconcile bench-cmp-1 "$RECONCILES" >"$T/reconcile-bench-cmp-1.json"
helper reconcile bench-cmp-2 "$RECONCILES" >"$T/reconcile-bench-cmp-2.json"

say "the floor: a program linked like the agent, connected to RADOS and libvirt, idle"
cc -O2 -Wall -Wextra -o "$T/rss_floor" "$here/rss_floor.c" -Wl,--no-as-needed \
    -lrbd -lrados -lcryptsetup -ljson-c -linih -lssl -lcrypto -lvirt -lrabbitmq ||
    die "cannot build bench/rss_floor.c"
"$T/rss_floor" "$CONF" cinder "${URI[c]}" >"$T/floor.json" || die "bench/rss_floor.c failed"

say "phases 5 and 6: libvirtd start and Nova's find_secret, $N vs $BASE secrets, $ROUNDS rounds"
helper store "$ROUNDS" "$BASE" >"$T/store.json"

say "phase 4: bench-cmp-1's libvirtd killed, its store wiped, restarted"
helper wipe bench-cmp-1 >"$T/wipe.json"
helper verify bench-cmp-1 >/dev/null

say "phase 1: $EVENTS (+$WARMUP) volumes, create.start and create.end to both hosts"
helper events "$EVENTS" "$WARMUP" "$GAP_MS" >"$T/events.json"

say "phase 2: $UNDEFINES volume secrets undefined on each host, Nova's way"
helper undefine "$UNDEFINES" "$GAP_MS" >"$T/undefine.json"
helper verify bench-cmp-1 "$T/extra-ids" >/dev/null
helper verify bench-cmp-2 "$T/extra-ids" >/dev/null

for pid in "$agent_a_pid" "$agent_b_pid"; do
    kill -0 "$pid" 2>/dev/null || die "an agent died (pid $pid)"
done
# Expected: "cannot connect to libvirt" while bench-cmp-1's libvirtd was down.
if grep -h ' error ' "$T/agent-a/agent.log" "$T/agent-b/agent.log" |
    grep -v 'error cannot connect to libvirt at' >"$T/errors.txt"; then
    say "unexpected agent errors logged ($(wc -l <"$T/errors.txt")), first:"
    head -n 5 "$T/errors.txt" >&2
fi

echo "rbd-luks-agent compute role: the volume-secret invariant at N=$N ($(date -u '+%Y-%m-%d %H:%M UTC'))"
echo "$("$AGENT" --version 2>&1 | head -n1), libvirt $(libvirtd --version | awk '{print $NF}')," \
    "Ceph $(ceph --version | awk '{print $3}'), $(nproc) CPUs, load average at start $load_start," \
    "at end $(loadavg); two hosts (private libvirtd + compute agent each), keys provider = file," \
    "temp dir on $(df --output=fstype "$T" | tail -n1)"
echo
helper report
