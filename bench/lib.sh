# shellcheck shell=bash
# bench/lib.sh: what the volume-role benchmarks share (sourced, not run).
#
#   bench_init AGENT          temp dir $T, the agent copied to $T/rbd-luks-agent
#                             ($AGENT from then on: make may rebuild the original
#                             while a benchmark runs), EXIT/INT/TERM traps
#   bench_cluster_start       a private one-node Ceph cluster in $T/ceph
#                             (tests/lib/ceph-cluster.sh; memstore of
#                             BENCH_MEMSTORE_BYTES, default 1 GiB), sets $CONF
#   rbdc ARGS...              rbd as client.cinder on pool volumes, bounded
#   agent_ini DIR LINES...    DIR/agent.ini for the volume role (metadata key
#                             provider, KEK in DIR) plus "section.key = value"
#                             lines (a section it lacks, e.g. amqp, is added);
#                             DIR/events.jsonl and DIR/state
#   agent_start DIR           `run` in the background, $agent_pid; waits for
#                             "volume role following"
#   agent_stop                SIGTERM, 10 s, SIGKILL, by PID (bench_stop_pid PID)
#   rss_kb KEY                a /proc/$agent_pid/status value in kB
#   loadavg                   the first three fields of /proc/loadavg
# Everything started here is stopped by PID on exit; images are removed with
# the cluster (a private memstore); the temp dir goes unless the script failed
# or BENCH_KEEP=1.

bench_root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
say() { echo "bench: $*" >&2; }
die() { say "$*"; exit 1; }

agent_pid=
T=
CONF=
bench_cleanup_hooks=()

bench_stop_pid() { # PID: SIGTERM, up to 10 s, then SIGKILL; reaped
    local pid=$1 i
    [[ -n $pid ]] || return 0
    if kill -TERM "$pid" 2>/dev/null; then
        for ((i = 0; i < 100; i++)); do
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.1
        done
        kill -KILL "$pid" 2>/dev/null || true
    fi
    wait "$pid" 2>/dev/null || true
}

agent_stop() {
    bench_stop_pid "$agent_pid"
    agent_pid=
}

_bench_cleanup() {
    local rc=$? h
    agent_stop
    for h in "${bench_cleanup_hooks[@]}"; do
        "$h" || true
    done
    if [[ -n $CONF ]]; then
        "$bench_root/tests/lib/ceph-cluster.sh" stop "$T/ceph" >/dev/null 2>&1 ||
            say "ceph-cluster.sh stop $T/ceph reported a problem"
    fi
    if [[ -n $T ]]; then
        if [[ -n ${BENCH_KEEP:-} || ($rc != 0 && $rc != 130) ]]; then
            say "temp dir kept: $T (rm -rf it when done)"
        else
            rm -rf -- "$T"
        fi
    fi
}

bench_init() {
    local src=$1
    [[ -x $src ]] || die "$src is not an executable (run make first)"
    ((EUID == 0)) || die "needs root (as make check: private Ceph daemons, /proc of the agent)"
    # Short: the cluster's admin sockets must fit in 108 bytes.
    T=$(mktemp -d "${TMPDIR:-/tmp}/rlb.XXXXXX")
    trap _bench_cleanup EXIT
    trap 'exit 130' INT TERM
    cp -- "$src" "$T/rbd-luks-agent"
    AGENT=$T/rbd-luks-agent
}

bench_cluster_start() {
    local out
    say "starting a private Ceph cluster in $T/ceph"
    out=$(CEPH_MEMSTORE_BYTES=${BENCH_MEMSTORE_BYTES:-1073741824} \
        "$bench_root/tests/lib/ceph-cluster.sh" start "$T/ceph" 2>"$T/ceph-start.err") ||
        { cat "$T/ceph-start.err" >&2; die "private Ceph cluster did not start"; }
    CONF=${out#CEPH_CONF=}
}

# build_format_floor OUT: bench/format_floor.c with the agent's own PBKDF2
# (agent/luks/keyslot.c) and, where its headers are installed, nettle's.
build_format_floor() {
    local nettle=-DHAVE_NETTLE
    [[ -f /usr/include/nettle/pbkdf2.h ]] || nettle=
    cc -O2 -Wall -Wextra -pthread -D_GNU_SOURCE $nettle -I"$bench_root/agent" -o "$1" \
        "$bench_root/bench/format_floor.c" "$bench_root/agent/luks/keyslot.c" \
        "$bench_root/agent/base/secret.c" -lrbd -lrados -lcrypto -lcryptsetup ${nettle:+-lnettle} ||
        die "cannot build bench/format_floor.c"
}
rbdc() { timeout -s KILL 600 rbd --conf "$CONF" --id cinder -p volumes "$@"; }

agent_ini() { # DIR [section.key = value]...
    local dir=$1 line section rest key
    shift
    mkdir -p "$dir/state"
    : >>"$dir/events.jsonl"
    [[ -f $dir/kek.bin ]] || (umask 077 && head -c 32 /dev/urandom >"$dir/kek.bin")
    cat >"$dir/agent.ini" <<INI
[agent]
role = volume
hook_file = $dir/events.jsonl
state_dir = $dir/state
log_level = info
[ceph]
conf = $CONF
client = cinder
pool = volumes
[volume]
types = *
[keys]
provider = metadata
kek_id = kek-1
kek_file = $dir/kek.bin
[luks]
INI
    for line in "$@"; do
        section=${line%%.*} rest=${line#*.}
        key=${rest%% =*}
        if grep -q "^$key = " "$dir/agent.ini"; then
            sed -i "s|^$key = .*|$rest|" "$dir/agent.ini"
        else
            grep -q "^\[$section\]" "$dir/agent.ini" || echo "[$section]" >>"$dir/agent.ini"
            sed -i "/^\[$section\]/a $rest" "$dir/agent.ini"
        fi
    done
    "$AGENT" -c "$dir/agent.ini" check-config >&2 || die "$dir/agent.ini does not pass check-config"
}

agent_start() { # DIR
    local dir=$1 i
    "$AGENT" -c "$dir/agent.ini" run 2>>"$dir/agent.log" &
    agent_pid=$!
    for ((i = 0; i < 600; i++)); do
        grep -q 'volume role following' "$dir/agent.log" && return 0
        kill -0 "$agent_pid" 2>/dev/null || { cat "$dir/agent.log" >&2; die "the agent exited"; }
        sleep 0.1
    done
    cat "$dir/agent.log" >&2
    die "the agent did not start within 60 s"
}

rss_kb() { awk -v k="$1:" '$1 == k { print $2 }' "/proc/$agent_pid/status"; }
loadavg() { cut -d' ' -f1-3 /proc/loadavg; }
