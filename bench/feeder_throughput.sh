#!/usr/bin/env bash
# Benchmark of the feeder: messages per second from a RabbitMQ queue to lines
# on disk in the hook file, against a private broker (tests/lib/rabbitmq.sh);
# baseline: amqp-consume from amqp-tools running one shell per message. Run on
# demand (make bench), not by make check. No Ceph, no libvirt.
#
#   bench/feeder_throughput.sh [AGENT]     AGENT defaults to build/rbd-luks-agent
#
# Mode: pre-published backlog. For each contender BENCH_MESSAGES (20000)
# notifications (tests/integration/amqp_publish.c: persistent, publisher
# confirms, half bare, half in the oslo.messaging envelope; lines of about
# 340 to 430 bytes, 390 on average at 20000) are published to a durable
# queue of its own on the topic exchange "openstack" with a routing key of
# its own, and confirmed, before the consumer starts; then the clock runs
# from just before the consumer is started until the hook file holds N lines
# (a python3 loop re-reading the file every 1 ms). So it measures how fast
# each drains a backlog, its connection setup included, not the publisher.
# Contenders, one broker for all:
#   1. feeder-group: `rbd-luks-agent feed`, batch_max 64, batch_ms 20 (the
#      defaults), prefetch 256: one write + fdatasync + multiple ack per group.
#   2. feeder-fsync-each: the same with batch_max = 1: one fdatasync per message.
#   3. amqp-consume: `amqp-consume -q QUEUE -p 256 -- sh -c 'cat >> FILE; echo >> FILE'`
#      on a durable queue bound like the feeder's (imported definitions):
#      forks a shell per message, acks when it exits, never syncs the file.
# fdatasync counts are the feeder's own (its `feed stopped:` log line, no
# strace); amqp-consume's shells make none. Every hook file is checked: N
# lines, each valid JSON, ids 1..N each once. Everything this script starts
# (broker, epmd, feeders, amqp-consume) is stopped by PID on exit; temp files
# go. The temp dir is kept after a failure, or always with BENCH_KEEP=1.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
. "$root/bench/lib.sh" # bench_stop_pid
AGENT=$(realpath -- "${1:-$root/build/rbd-luks-agent}")
N=${BENCH_MESSAGES:-20000}
PREFETCH=256
RABBITMQ_SH=$root/tests/lib/rabbitmq.sh

say() { echo "bench: $*" >&2; }
die() { say "$*"; exit 1; }

if ! [[ $N =~ ^[0-9]+$ ]] || ((N < 1 || N > 1000000)); then die "BENCH_MESSAGES must be 1..1000000"; fi
[[ -x $AGENT ]] || die "$AGENT is not an executable (run make first)"
((EUID == 0)) || die "needs root (the private broker's files, as in make check)"
for c in python3 amqp-consume cc /usr/lib/rabbitmq/bin/rabbitmq-server; do
    command -v "$c" >/dev/null || die "$c is needed"
done

T=$(mktemp -d "${TMPDIR:-/tmp}/rbd-luks-bench.XXXXXX")
BROKER=$T/broker
pid=
stop_pid() { # stop $pid: SIGTERM, 10 s, SIGKILL
    bench_stop_pid "$pid"
    pid=
}
cleanup() {
    local rc=$?
    stop_pid
    "$RABBITMQ_SH" stop "$BROKER" >/dev/null 2>&1 || say "rabbitmq.sh stop $BROKER reported a problem"
    if [[ -n ${BENCH_KEEP:-} || ($rc != 0 && $rc != 130) ]]; then
        say "temp dir kept: $T (rm -rf it when done)"
    else
        rm -rf -- "$T"
    fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

load_start=$(cut -d' ' -f1-3 /proc/loadavg)
say "starting a private RabbitMQ broker in $BROKER"
env_out=$("$RABBITMQ_SH" start "$BROKER" 2>"$T/broker-start.err") ||
    { cat "$T/broker-start.err" >&2; die "private broker did not start"; }
eval "$env_out"
(umask 077 && printf 'username:%s\npassword:%s\n' "$AMQP_USER" "$(cat "$AMQP_PASSWORD_FILE")" \
    >"$T/authfile")
cc -O2 -Wall -Wextra -o "$T/amqp_publish" "$root/tests/integration/amqp_publish.c" -lrabbitmq ||
    die "cannot build tests/integration/amqp_publish.c"

publish() { # ROUTING_KEY: N confirmed messages; prints seconds
    local t0 t1
    t0=$EPOCHREALTIME
    timeout -s KILL 300 "$T/amqp_publish" "$AMQP_HOST" "$AMQP_PORT" "$AMQP_USER" \
        "$AMQP_PASSWORD_FILE" "$AMQP_EXCHANGE" "$1" 1 "$N" >/dev/null || die "publishing to $1 failed"
    t1=$EPOCHREALTIME
    python3 -c "print(${t1/,/.} - ${t0/,/.})"
}

queue_depth() { # QUEUE: messages ready
    "$RABBITMQ_SH" ctl "$BROKER" list_queues -q name messages_ready 2>/dev/null |
        awk -v q="$1" '$1 == q { print $2 }'
}

cat >"$T/lines.py" <<'PY'
import json, os, sys, time
mode, path, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
if mode == "wait":  # until PATH holds N newlines; prints time.time() then
    deadline = time.time() + float(sys.argv[4])
    count, f = 0, None
    while True:
        if f is None:
            try:
                f = open(path, "rb")
            except FileNotFoundError:
                pass
        if f is not None:
            data = f.read()
            count += data.count(b"\n")
        if count >= n:
            print(f"{time.time():.6f}")
            sys.exit(0)
        if time.time() > deadline:
            sys.exit(f"{path}: {count} of {n} lines after the timeout")
        if f is None or not data:
            time.sleep(0.001)
else:  # check: N lines, valid JSON, ids amqp-test-1..N once each; prints mean line bytes
    seen, total, lines = set(), 0, 0
    with open(path, "rb") as f:
        for raw in f:
            lines += 1
            total += len(raw)
            o = json.loads(raw)
            if "oslo.message" in o:
                o = json.loads(o["oslo.message"])
            seen.add(o["message_id"])
    want = {f"amqp-test-{i}" for i in range(1, n + 1)}
    if lines != n or seen != want:
        sys.exit(f"{path}: {lines} lines, {len(seen & want)} of {n} ids")
    print(f"{total / lines:.0f}")
PY

# One feeder config per contender; its queue is declared and bound by a first,
# untimed start of the feeder itself.
feeder_ini() { # NAME BATCH_MAX
    mkdir -p "$T/$1/state" "$T/$1/keys"
    : >"$T/$1/ceph.conf"
    cat >"$T/$1/agent.ini" <<INI
[agent]
role = volume
hook_file = $T/$1/events.jsonl
state_dir = $T/$1/state
log_level = info
[ceph]
conf = $T/$1/ceph.conf
client = cinder
pool = volumes
[volume]
types = *
[keys]
provider = file
directory = $T/$1/keys
[amqp]
host = $AMQP_HOST
port = $AMQP_PORT
vhost = /
user = $AMQP_USER
password_file = $AMQP_PASSWORD_FILE
exchange = $AMQP_EXCHANGE
queue = bench-$1
routing_keys = bench_$1.info
prefetch = $PREFETCH
batch_max = $2
batch_ms = 20
INI
}

wait_log() { # FILE PATTERN: up to 30 s
    local i
    for ((i = 0; i < 300; i++)); do
        grep -q "$2" "$1" 2>/dev/null && return 0
        kill -0 "$pid" 2>/dev/null || return 1
        sleep 0.1
    done
    return 1
}

declare -A secs msgs syncs groups pubs lbytes
run_feeder() { # NAME BATCH_MAX
    local name=$1 t0 t1 summary
    feeder_ini "$name" "$2"
    "$AGENT" -c "$T/$name/agent.ini" feed 2>"$T/$name/declare.log" &
    pid=$!
    wait_log "$T/$name/declare.log" "consuming queue 'bench-$name'" ||
        { cat "$T/$name/declare.log" >&2; die "$name: the feeder did not start consuming"; }
    stop_pid
    rm -f "$T/$name/events.jsonl"
    say "$name: publishing $N messages"
    pubs[$name]=$(publish "bench_$name.info")
    [[ $(queue_depth "bench-$name") == "$N" ]] || die "$name: queue does not hold $N messages"
    say "$name: draining"
    t0=$EPOCHREALTIME
    "$AGENT" -c "$T/$name/agent.ini" feed 2>"$T/$name/feed.log" &
    pid=$!
    t1=$(python3 "$T/lines.py" wait "$T/$name/events.jsonl" "$N" 600) ||
        { tail -n 5 "$T/$name/feed.log" >&2; die "$name: not all lines arrived"; }
    secs[$name]=$(python3 -c "print($t1 - ${t0/,/.})")
    stop_pid
    summary=$(grep 'feed stopped:' "$T/$name/feed.log") || die "$name: no 'feed stopped' line"
    msgs[$name]=$(sed -n 's/.*: \([0-9]*\) messages received.*/\1/p' <<<"$summary")
    syncs[$name]=$(sed -n 's/.* \([0-9]*\) fdatasync calls.*/\1/p' <<<"$summary")
    groups[$name]=$(sed -n 's/.* in \([0-9]*\) groups.*/\1/p' <<<"$summary")
    lbytes[$name]=$(python3 "$T/lines.py" check "$T/$name/events.jsonl" "$N") || die "$name: bad hook file"
    say "$name: $summary"
}

run_consume() {
    local name=amqp-consume t0 t1 file=$T/amqp-consume/events.jsonl
    mkdir -p "$T/$name"
    cat >"$T/$name/defs.json" <<JSON
{"queues": [{"name": "bench-$name", "vhost": "/", "durable": true,
             "auto_delete": false, "arguments": {}}],
 "bindings": [{"source": "$AMQP_EXCHANGE", "vhost": "/", "destination": "bench-$name",
               "destination_type": "queue", "routing_key": "bench_$name.info",
               "arguments": {}}]}
JSON
    "$RABBITMQ_SH" ctl "$BROKER" import_definitions "$T/$name/defs.json" >/dev/null 2>&1 ||
        die "$name: cannot import the queue definition"
    say "$name: publishing $N messages"
    pubs[$name]=$(publish "bench_$name.info")
    [[ $(queue_depth "bench-$name") == "$N" ]] || die "$name: queue does not hold $N messages"
    say "$name: draining (one sh per message)"
    t0=$EPOCHREALTIME
    amqp-consume --server "$AMQP_HOST" --port "$AMQP_PORT" --authfile "$T/authfile" \
        -q "bench-$name" -p "$PREFETCH" -- sh -c "cat >> '$file'; echo >> '$file'" \
        </dev/null >"$T/$name/consume.out" 2>&1 &
    pid=$!
    t1=$(python3 "$T/lines.py" wait "$file" "$N" 1200) ||
        { tail -n 5 "$T/$name/consume.out" >&2; die "$name: not all lines arrived"; }
    secs[$name]=$(python3 -c "print($t1 - ${t0/,/.})")
    stop_pid
    msgs[$name]=$N
    syncs[$name]=0
    groups[$name]=-
    lbytes[$name]=$(python3 "$T/lines.py" check "$file" "$N") || die "$name: bad hook file"
}

run_feeder feeder-group 64
run_feeder feeder-fsync-each 1
run_consume

echo "rbd-luks-agent feed: RabbitMQ queue -> lines on disk ($(date -u '+%Y-%m-%d %H:%M UTC'))"
echo "$("$AGENT" --version 2>&1 | head -n1), RabbitMQ $(dpkg-query -W -f '${Version}' rabbitmq-server 2>/dev/null || echo '?')," \
    "amqp-tools $(dpkg-query -W -f '${Version}' amqp-tools 2>/dev/null || echo '?'), $(nproc) CPUs," \
    "load average at start $load_start, at end $(cut -d' ' -f1-3 /proc/loadavg);" \
    "hook files on $(df --output=fstype "$T" | tail -n1)"
echo "$N messages per contender, pre-published (persistent, confirmed) before the consumer starts;"
echo "clock: consumer start -> hook file holds $N lines; prefetch $PREFETCH for all"
echo
python3 - "${secs[feeder-group]}" "${secs[feeder-fsync-each]}" "${secs[amqp-consume]}" \
    "${msgs[feeder-group]}" "${msgs[feeder-fsync-each]}" "${msgs[amqp-consume]}" \
    "${syncs[feeder-group]}" "${syncs[feeder-fsync-each]}" "${syncs[amqp-consume]}" \
    "${groups[feeder-group]}" "${groups[feeder-fsync-each]}" "${groups[amqp-consume]}" \
    "${pubs[feeder-group]}" "${pubs[feeder-fsync-each]}" "${pubs[amqp-consume]}" \
    "${lbytes[feeder-group]}" "$N" <<'PY'
import sys
a = sys.argv[1:]
names = ["feeder-group (batch_max 64, batch_ms 20)", "feeder-fsync-each (batch_max 1)",
         "amqp-consume + sh per message (no fsync)"]
secs = [float(x) for x in a[0:3]]
msgs, syncs, groups, pubs = a[3:6], a[6:9], a[9:12], [float(x) for x in a[12:15]]
lbytes, n = a[15], int(a[16])
rate = [n / s for s in secs]
print(f"{'contender':<42}  {'messages':>8}  {'seconds':>8}  {'messages/s':>10}  {'fdatasync':>9}  {'groups':>6}  {'publish msg/s':>13}")
print(f"{'-' * 42}  {'-' * 8}  {'-' * 8}  {'-' * 10}  {'-' * 9}  {'-' * 6}  {'-' * 13}")
for i in range(3):
    sync = "0 (none)" if i == 2 else syncs[i]
    print(f"{names[i]:<42}  {msgs[i]:>8}  {secs[i]:>8.2f}  {rate[i]:>10.0f}  {sync:>9}  {groups[i]:>6}  {n / pubs[i]:>13.0f}")
print()
print(f"feeder-group / amqp-consume, messages/s       {rate[0] / rate[2]:.1f}x")
print(f"feeder-group / feeder-fsync-each, messages/s  {rate[0] / rate[1]:.1f}x")
print()
print(f"Lines average {lbytes} bytes (half bare notifications, half in the oslo envelope).")
print("messages: the feeder's own count of deliveries (its 'feed stopped' line; more than")
print("N only if the broker redelivered); fdatasync and groups from the same line.")
print("publish msg/s: tests/integration/amqp_publish.c filling that contender's queue")
print("beforehand (one connection, persistent, publisher confirms), not part of the time.")
PY
