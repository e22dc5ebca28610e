#!/usr/bin/env bash
# POST /volumes through the real Cinder API until qemu can open the volume: a
# volume type the agent manages against Cinder's own encrypted volume type, at
# 1, 16 and 64 GiB, in one run on one private one-node Ceph cluster
# (tests/lib/ceph-cluster.sh, memstore, plus its ceph-mgr), a private
# RabbitMQ broker (tests/lib/rabbitmq.sh) and the real Cinder services
# (tests/lib/cinder.sh: cinder-api, -scheduler, -volume with the RBD driver).
# Run on demand (make bench), not by make check. Needs root.
#
#   bench/cinder_create.sh [AGENT]        AGENT defaults to build/rbd-luks-agent
#
# Contenders, at each size (BENCH_SIZES in GiB, default "1 16 64"), BENCH_RUNS
# (3) runs each, interleaved (run 1 of every contender, then run 2, ...; the
# order rotates each run):
#   agent        a plain volume type listed in the agent's [volume] types. Cinder's
#                RBD driver makes an empty image; its volume.create.end goes over
#                the broker to the agent's `feed` (queue of its own, bound to
#                notifications_luks.info), which appends it to the hook file; the
#                agent's `run` (volume role, [keys] provider = metadata, no [luks]
#                line: its default, kdf = fast) formats the image. Timed: POST
#                until the agent's results.jsonl has "formatted" for the volume;
#                Cinder's "available" is recorded too.
#   agent-2000   the same with a second agent (its own type, queue, feeder and
#                run) whose [luks] has iter_time_ms = 2000: a key slot stretched
#                like Cinder's, to show how much of the difference is PBKDF2.
#   cinder       Cinder's own encrypted type (POST /types/ID/encryption: luks,
#                aes-xts-plain64, key_size 256, front-end). The RBD driver's
#                _create_encrypted_volume (cinder/volume/drivers/rbd.py:1085-1133)
#                gets the key (:1097-1098, the passphrase is the hex of its bytes),
#                writes it to a temp file, runs `qemu-img create -f luks` of the
#                volume's size into a temp file (:1101-1122) and `rbd import` of
#                that file into the pool (:1125-1133), both in Cinder's
#                image_conversion_dir. Timed: POST until "available".
# Each volume is then opened by qemu's LUKS driver on rbd (qemu-io: 64 KiB
# written and read back at its start and at its last 64 KiB, so the payload
# holds the whole size; not timed) with its passphrase: the agent's from
# `rbd-luks-agent -c INI keys passphrase ID`, Cinder's the fixed key of its
# ConfKeyManager. The volume is then deleted through Cinder. The first run of
# each contender and size also has its header read (qemu-img dd, cryptsetup
# luksDump) for its key-slot iteration count.
#
# What the test Cinder needs for this, and why:
# - Key manager: tests/lib/cinder.sh already sets Cinder's ConfKeyManager
#   (cinder.keymgr.conf_key_mgr.ConfKeyManager) with a fixed_key of 64 hex
#   digits made per run, so no Barbican; the passphrase Cinder uses is that
#   key's bytes in hex (cinder/keymgr/conf_key_mgr.py:81-89), read here from
#   the cinder.conf it wrote.
# - Root helper: none is used on this path. The driver's _execute is
#   cinder/utils.py:170-174, which adds the root helper only to commands run
#   with run_as_root, and neither qemu-img nor `rbd import` is
#   (cinder/volume/drivers/rbd.py:1122, :1133): both run as cinder-volume's
#   own user (root here), with the test cluster's conf and client.cinder
#   (_ceph_args). Nothing in cinder.sh's config had to change for that.
# - Capacity: memstore reports about its device bytes (BENCH_MEMSTORE_BYTES,
#   1 GiB) as the pool's capacity, the RBD driver reports that and thin
#   provisioning (cinder/volume/drivers/rbd.py:742-748, :767-769), and the
#   scheduler's capacity filter then refuses a volume larger than free
#   capacity times max_over_subscription_ratio, 20 by default
#   (cinder/scheduler/filters/capacity_filter.py:144-190): about 18 GiB here.
#   Every image here is sparse (the agent writes only its header, `rbd
#   import` skips zeroes), so the script sets CINDER_MAX_OVER_SUBSCRIPTION_RATIO
#   (BENCH_OVERSUBSCRIPTION, default 1000) for tests/lib/cinder.sh; memstore
#   itself is not enlarged (it keeps what is written in RAM).
# - Cinder's temp disk: its temp image is a sparse file of the volume's size.
#   The conversion dir is sampled every 10 ms while a Cinder volume is made:
#   the peak apparent size and the peak of blocks allocated are printed.
# Everything started is stopped by PID (the agents and feeders here, Cinder by
# cinder.sh stop, the broker by rabbitmq.sh stop, Ceph by ceph-cluster.sh
# stop); the temp dir goes unless the script failed or BENCH_KEEP=1.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=bench/lib.sh
. "$here/lib.sh"
SRC=${1:-$bench_root/build/rbd-luks-agent}
LIB=$bench_root/tests/lib

RUNS=${BENCH_RUNS:-3}
SIZES=${BENCH_SIZES:-1 16 64}
OVERSUB=${BENCH_OVERSUBSCRIPTION:-1000}
if ! [[ $RUNS =~ ^[0-9]+$ ]] || ((RUNS < 1 || RUNS > 100)); then die "BENCH_RUNS must be 1..100"; fi
for s in $SIZES; do
    if ! [[ $s =~ ^[0-9]+$ ]] || ((s < 1 || s > 1024)); then die "BENCH_SIZES: GiB values 1..1024"; fi
done
[[ $OVERSUB =~ ^[0-9]+$ ]] || die "BENCH_OVERSUBSCRIPTION must be a whole number"
for c in python3 qemu-io qemu-img cryptsetup rbd ceph-mon ceph-osd ceph-mgr rabbitmqctl; do
    command -v "$c" >/dev/null || die "$c is needed"
done
bench_init "$SRC"
load_start=$(loadavg)
started=$(date -u '+%Y-%m-%d %H:%M UTC')
MIB=1048576

api() { timeout -s KILL 150 python3 "$LIB/cinder_api.py" "$@"; }
clock() { python3 "$here/cinder_create.py" "$@"; }

# ---- the services ---------------------------------------------------------------
bench_cluster_start
"$LIB/ceph-cluster.sh" start-mgr "$T/ceph" >/dev/null 2>"$T/mgr-start.err" ||
    { cat "$T/mgr-start.err" >&2; die "ceph-mgr did not start"; }
export CEPH_CONF=$CONF

stop_broker() { "$LIB/rabbitmq.sh" stop "$T/broker" >/dev/null 2>&1; }
stop_cinder() { "$LIB/cinder.sh" stop "$T/cinder" >/dev/null 2>&1; }
# Hooks run in order on exit: the agents, then Cinder, then the broker.
bench_cleanup_hooks+=(stop_agents stop_cinder stop_broker)

say "starting a private RabbitMQ broker"
broker_env=$("$LIB/rabbitmq.sh" start "$T/broker" 2>"$T/broker-start.err") ||
    { cat "$T/broker-start.err" >&2; die "the broker did not start"; }
eval "$broker_env"
export AMQP_HOST AMQP_PORT AMQP_USER AMQP_PASSWORD_FILE AMQP_VHOST

say "starting Cinder (api, scheduler, volume) in $T/cinder"
cinder_env=$(CINDER_MAX_OVER_SUBSCRIPTION_RATIO=$OVERSUB "$LIB/cinder.sh" start "$T/cinder" \
    2>"$T/cinder-start.err") || { cat "$T/cinder-start.err" >&2; die "Cinder did not start"; }
eval "$cinder_env"
export CINDER_URL
CONVERSION=$CINDER_DIR/state/conversion
# ConfKeyManager's key is the passphrase, as hex (see the header).
(umask 077 && sed -n 's/^fixed_key = //p' "$CINDER_DIR/cinder.conf" | tr -d '\n' >"$T/pass-cinder")
[[ $(wc -c <"$T/pass-cinder") == 64 ]] || die "no fixed_key of 64 hex digits in $CINDER_DIR/cinder.conf"

# ---- the volume types and the agents ------------------------------------------------
declare -A TYPE AGENT_DIR
TYPE[cinder]=$(api type-create bench-cinder-encrypted)
clock encrypt "${TYPE[cinder]}" || die "POST /types/${TYPE[cinder]}/encryption failed"
agent_pids=()
stop_agents() {
    local p
    for p in "${agent_pids[@]}"; do bench_stop_pid "$p"; done
    agent_pids=()
}

# start_agent NAME [section.key = value]: a type of its own, a queue of its own on
# notifications_luks.info, then the feeder and the volume role; waits until both run.
start_agent() {
    local name=$1 dir=$T/$1 i
    shift
    TYPE[$name]=$(api type-create "bench-$name")
    AGENT_DIR[$name]=$dir
    agent_ini "$dir" "volume.types = ${TYPE[$name]}" "$@" \
        "amqp.host = $AMQP_HOST" "amqp.port = $AMQP_PORT" "amqp.vhost = $AMQP_VHOST" \
        "amqp.user = $AMQP_USER" "amqp.password_file = $AMQP_PASSWORD_FILE" \
        "amqp.exchange = $AMQP_EXCHANGE" "amqp.queue = bench_$name" \
        "amqp.routing_keys = notifications_luks.info"
    "$AGENT" -c "$dir/agent.ini" feed 2>>"$dir/feed.log" &
    agent_pids+=($!)
    "$AGENT" -c "$dir/agent.ini" run 2>>"$dir/agent.log" &
    agent_pids+=($!)
    for ((i = 0; i < 300; i++)); do
        grep -q "consuming queue 'bench_$name'" "$dir/feed.log" &&
            grep -q 'volume role following' "$dir/agent.log" && return 0
        sleep 0.1
    done
    cat "$dir/feed.log" "$dir/agent.log" >&2
    die "agent $name: feeder or volume role not running after 30 s"
}
start_agent agent
start_agent agent-2000 "luks.iter_time_ms = 2000"
contenders=(agent agent-2000 cinder)

# ---- one run ------------------------------------------------------------------------
R=$T/results.tsv # size contender run done_ms available_ms agent_ms peak_apparent peak_allocated iter
: >"$R"

# qemu's LUKS driver on rbd opens ID with PASSFILE and has all of GIB: or die.
qemu_check() { # ID PASSFILE GIB WHO
    local end=$(($3 * 1024 * MIB - 65536))
    timeout -s KILL 120 qemu-io --object "secret,id=s0,file=$2" --image-opts \
        "driver=luks,key-secret=s0,file.driver=rbd,file.pool=volumes,file.image=volume-$1,file.conf=$CONF,file.user=cinder" \
        -c "write -P 0x5a 0 64k" -c "read -P 0x5a 0 64k" \
        -c "write -P 0xa5 $end 64k" -c "read -P 0xa5 $end 64k" >"$T/qemu-io.out" 2>&1 ||
        { cat "$T/qemu-io.out" >&2; die "$4, $3 GiB: qemu cannot open volume $1 with its passphrase"; }
    ! grep -q 'Pattern verification failed\|error' "$T/qemu-io.out" ||
        { cat "$T/qemu-io.out" >&2; die "$4, $3 GiB: qemu-io on volume $1 failed"; }
}

# The key-slot iteration count of volume ID's header.
key_slot_iterations() {
    timeout -s KILL 120 qemu-img dd -f raw -O raw "if=rbd:volumes/volume-$1:conf=$CONF:id=cinder" \
        "of=$T/hdr.bin" bs=4M count=1 >/dev/null 2>&1 || { echo '?'; return 0; }
    cryptsetup luksDump "$T/hdr.bin" 2>/dev/null |
        awk '/^[[:space:]]*Iterations:/ { print $2; found = 1; exit } END { if (!found) print "?" }'
    rm -f "$T/hdr.bin"
}

run_one() { # CONTENDER GIB RUN
    local c=$1 g=$2 n=$3 out id done_ms avail_ms agent_ms peak_a peak_b iter=- pass args=()
    if [[ $c == cinder ]]; then
        args=(--watch-dir "$CONVERSION")
    else
        args=(--results "${AGENT_DIR[$c]}/state/results.jsonl")
    fi
    out=$(clock create "${TYPE[$c]}" "$g" --timeout $((120 + 10 * g)) "${args[@]}") ||
        die "$c, $g GiB, run $n: no volume"
    read -r id done_ms avail_ms agent_ms peak_a peak_b < <(python3 -c 'import json, sys
o = json.loads(sys.argv[1])
done = o["formatted_ms"] if o["formatted_ms"] is not None else o["available_ms"]
print(o["id"], round(done), round(o["available_ms"]), o["agent_ms"] if o["agent_ms"] is not None else "-",
      o["peak_apparent"], o["peak_allocated"])' "$out")
    if [[ $c == cinder ]]; then
        pass=$T/pass-cinder
    else
        pass=$T/pass-$id
        (umask 077 && "$AGENT" -c "${AGENT_DIR[$c]}/agent.ini" keys passphrase "$id" >"$pass" 2>/dev/null) ||
            die "$c: keys passphrase $id failed"
    fi
    qemu_check "$id" "$pass" "$g" "$c"
    ((n > 1)) || iter=$(key_slot_iterations "$id")
    [[ $c == cinder ]] || rm -f "$pass"
    api volume-delete "$id" || die "$c: DELETE /volumes/$id failed"
    api wait-deleted "$id" --timeout 300 >/dev/null || die "$c: volume $id not deleted"
    echo "$g $c $n $done_ms $avail_ms $agent_ms $peak_a $peak_b $iter" >>"$R"
    say "$c, $g GiB, run $n: $done_ms ms (available at $avail_ms ms)"
}

# One of each first, not measured: the agents' Ceph clients connected, Cinder's
# code paths (and qemu-img's, rbd's binaries) loaded once.
say "warm-up: one 1 GiB volume of each type, not measured"
for c in "${contenders[@]}"; do
    args=()
    [[ $c == cinder ]] || args=(--results "${AGENT_DIR[$c]}/state/results.jsonl")
    clock create "${TYPE[$c]}" 1 --timeout 300 "${args[@]}" >"$T/warm.json" || die "warm-up $c failed"
    id=$(python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))["id"])' "$T/warm.json")
    api volume-delete "$id" || die "warm-up $c: DELETE /volumes/$id failed"
    api wait-deleted "$id" --timeout 300 >/dev/null || die "warm-up $c: volume $id not deleted"
done

for g in $SIZES; do
    for ((run = 1; run <= RUNS; run++)); do
        say "$g GiB, run $run of $RUNS (load $(loadavg))"
        k=$(((run - 1) % ${#contenders[@]}))
        for c in "${contenders[@]:k}" "${contenders[@]:0:k}"; do
            run_one "$c" "$g" "$run"
        done
    done
done

stop_agents
for c in agent agent-2000; do
    ! grep -q '"outcome":"failed"\|"outcome": "failed"' "${AGENT_DIR[$c]}/state/results.jsonl" ||
        die "agent $c recorded a failure"
done

# ---- the table ----------------------------------------------------------------------
echo "POST /volumes to a qemu-openable volume through the real Cinder API ($started)"
echo "$("$AGENT" --version 2>&1 | head -n1), python3-cinder $(dpkg-query -W -f '${Version}' python3-cinder 2>/dev/null || echo '?')," \
    "$(qemu-img --version | head -n1 | sed 's/ (.*//'), ceph $(ceph --version | awk '{print $3}')," \
    "$(nproc) CPUs, load average at start $load_start, at end $(loadavg);"
echo "one-node Ceph (memstore), Cinder's conversion dir on $(df --output=fstype "$CONVERSION" | tail -n1);" \
    "max_over_subscription_ratio = $OVERSUB"
echo
python3 - "$R" "$RUNS" <<'PY'
import statistics, sys
R, RUNS = sys.argv[1], int(sys.argv[2])
rows = [l.split() for l in open(R) if l.strip()]
names = {
    "agent": "agent type: POST -> formatted (kdf = fast)",
    "agent-2000": "agent type: POST -> formatted (2000 ms)",
    "cinder": "Cinder encrypted type: POST -> available",
}
sizes = list(dict.fromkeys(int(r[0]) for r in rows))
def col(g, c, i):
    return [float(r[i]) for r in rows if int(r[0]) == g and r[1] == c and r[i] != "-"]
def s(x):
    return f"{x / 1000:.2f}"
def gib(n):
    return f"{n / 2**30:.2f} GiB" if n >= 2**30 else f"{n / 2**20:.1f} MiB"
print(f"{'size':<7} {'contender':<43} {'runs':>4} {'median s':>8} {'min s':>7} {'max s':>7} "
      f"{'available s':>11} {'key-slot iter':>13}  note")
print(f"{'-' * 7} {'-' * 43} {'-' * 4} {'-' * 8} {'-' * 7} {'-' * 7} {'-' * 11} {'-' * 13}  {'-' * 30}")
for g in sizes:
    for c in ("agent", "agent-2000", "cinder"):
        v = sorted(col(g, c, 3))
        if not v:
            continue
        avail = statistics.median(col(g, c, 4))
        it = [r[8] for r in rows if int(r[0]) == g and r[1] == c and r[8] != "-"]
        it = f"{int(it[0]):,}" if it and it[0] != "?" else "?"
        note = ""
        if c != "cinder":
            note = f"results.jsonl ms: median {statistics.median(col(g, c, 5)):.0f}"
        else:
            note = (f"temp file peak: {gib(max(col(g, c, 6)))} apparent, "
                    f"{gib(max(col(g, c, 7)))} allocated")
        print(f"{g:>3} GiB {names[c]:<43} {len(v):>4} {s(statistics.median(v)):>8} {s(v[0]):>7} "
              f"{s(v[-1]):>7} {s(avail):>11} {it:>13}  {note}")
    print()
print("Ratios (medians, measured in this run)")
for g in sizes:
    c = statistics.median(col(g, "cinder", 3))
    parts = []
    for a, lab in (("agent", "agent (kdf = fast)"), ("agent-2000", "agent (2000 ms)")):
        m = statistics.median(col(g, a, 3))
        parts.append(f"Cinder / {lab} {c / m:.1f}x")
    print(f"  {g:>3} GiB  " + "; ".join(parts))
PY
echo
echo "Times: python perf_counter from just before POST /volumes is sent (bench/cinder_create.py):"
echo "to the agent's \"formatted\" line in its results.jsonl (inotify), or to the first GET that shows"
echo "\"available\" (GET every 50 ms); 'available s' is that GET for every contender. Not timed: the"
echo "qemu-io check of every volume (LUKS driver on rbd, its passphrase, 64 KiB written and read at"
echo "its start and at its last 64 KiB) and the delete. Key-slot iterations read from run 1's header."
echo "Cinder's temp file: files in image_conversion_dir summed every 10 ms (st_size, st_blocks)."
