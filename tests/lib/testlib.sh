# testlib.sh: shared helpers for the integration tests (sourced).
#
# Each test script is run by tests/integration/run.sh with these set:
#   AGENT       the agent binary
#   CEPH_DIR    the running one-node cluster's directory (ceph.conf inside)
#   T_RESULTS   file where every check appends "PASS name" or "FAIL name"
#   T_TMP       a scratch directory for this script only
# Checks never stop the script: each records PASS or FAIL and goes on.

CEPH_CONF="$CEPH_DIR/ceph.conf"
POOL=volumes
GIB=$((1024 * 1024 * 1024))
T_NAME=${T_NAME:-$(basename "$0" .sh)} # run.sh sets it for a test run again with AGENT_2

pass() { echo "PASS $T_NAME: $1" | tee -a "$T_RESULTS"; }
fail() {
    echo "FAIL $T_NAME: $1${2:+ -- $2}" | tee -a "$T_RESULTS"
}
# check NAME COMMAND...: passes when COMMAND succeeds.
check() {
    local name=$1
    shift
    if "$@" >"$T_TMP/check.out" 2>&1; then pass "$name"; else
        fail "$name" "$(tail -c 600 "$T_TMP/check.out" | tr '\n' ' ')"
    fi
}
# check_eq NAME EXPECTED ACTUAL
check_eq() {
    if [ "$2" = "$3" ]; then pass "$1"; else fail "$1" "expected '$2', got '$3'"; fi
}

# wait_for SECONDS COMMAND...: until COMMAND succeeds (its output discarded),
# run afresh every WAIT_FOR_POLL seconds (0.1 unless the script sets it), for
# at most SECONDS from the call (to the microsecond: EPOCHREALTIME, no fork);
# 1 when it never did. Pass a function, never a "$(...)" computed once.
wait_for() {
    local end=$((${EPOCHREALTIME/[.,]/} + $1 * 1000000))
    shift
    until "$@" >/dev/null 2>&1; do
        [ "${EPOCHREALTIME/[.,]/}" -lt "$end" ] || return 1
        sleep "${WAIT_FOR_POLL:-0.1}"
    done
}

# not COMMAND...: succeeds when COMMAND fails (for check and wait_for, which take a command).
not() { ! "$@"; }

# ms: the time now in milliseconds since the epoch.
ms() { echo $(($(date +%s%N) / 1000000)); }

# gone PID: not running (a zombie counts as gone: PID 1 here may not reap).
gone() {
    local s
    s=$(cat "/proc/$1/stat" 2>/dev/null) || return 0
    s=${s##*) }
    [ "${s%% *}" = Z ]
}

# stop_pid PID: SIGTERM, SIGKILL after 10 s; nothing for an empty PID.
stop_pid() {
    [ -n "$1" ] || return 0
    kill -TERM "$1" 2>/dev/null
    wait_for 10 gone "$1" || kill -KILL "$1" 2>/dev/null
    wait_for 5 gone "$1"
}

# index_forget ID...: drop these volumes from the pool's volume index. A
# volume formatted by hand (`format ID`) has an entry of no type, which every
# compute agent counts in; compute tests later in the run must not meet
# volumes whose keys they cannot have.
index_forget() {
    local id
    for id in "$@"; do
        timeout -s KILL 30 rados --conf "$CEPH_CONF" --id admin -p "$POOL" rmomapkey rbd-luks-agent.index "$id" >/dev/null 2>&1
    done
}

# index_lacks ID: the pool's volume index has no key containing ID (also true when it cannot be read).
index_lacks() { ! timeout -s KILL 30 rados --conf "$CEPH_CONF" --id admin -p "$POOL" listomapkeys rbd-luks-agent.index 2>/dev/null | grep -q "$1"; }

rbd_() { timeout -s KILL 60 rbd --conf "$CEPH_CONF" --id admin -p "$POOL" "$@"; }

# image_bytes ID: the size in bytes of POOL/volume-ID (rbd info).
image_bytes() { rbd_ info --format json "volume-$1" | python3 -c 'import json,sys; print(json.load(sys.stdin)["size"])'; }

new_uuid() { cat /proc/sys/kernel/random/uuid; }

# make_agent_dir DIR [EXTRA INI LINES...]: a config, key dir, state dir.
make_agent_dir() {
    local dir=$1
    shift
    mkdir -p "$dir/state" "$dir/keys"
    chmod 700 "$dir/keys"
    : >>"$dir/events.jsonl"
    cat >"$dir/agent.ini" <<INI
[agent]
role = volume
hook_file = $dir/events.jsonl
state_dir = $dir/state
log_level = info
workers = 2
poll_interval_ms = 50
[ceph]
conf = $CEPH_CONF
client = cinder
pool = $POOL
timeout_s = 20
[volume]
types = *
[keys]
provider = file
directory = ${KEY_DIR:-$dir/keys}
[luks]
iterations = 1000
[retry]
initial_ms = 100
max_ms = 1000
give_up_after_s = 20
INI
    local line
    for line in "$@"; do
        # "section.key = value" overrides or adds a key in that section.
        local section=${line%%.*} rest=${line#*.}
        local key=${rest%% =*}
        if grep -q "^$key = " "$dir/agent.ini"; then
            sed -i "s|^$key = .*|$rest|" "$dir/agent.ini"
        else
            sed -i "/^\[$section\]/a $rest" "$dir/agent.ini"
        fi
    done
}

# new_volume DIR ID GIB: an empty raw image as Cinder makes it, and its key.
new_volume() {
    local dir=$1 id=$2 gib=$3
    rbd_ create --size "$((gib * 1024))" "volume-$id"
    head -c 32 /dev/urandom >"${KEY_DIR:-$dir/keys}/$id.key"
    chmod 600 "${KEY_DIR:-$dir/keys}/$id.key"
}

# queue_volumes DIR N: N new 1 GiB volumes with their keys, and their
# events appended to DIR's hook file; their ids are appended to the array ids.
queue_volumes() {
    local dir=$1 n=$2 i id
    for ((i = 0; i < n; i++)); do
        id=$(new_uuid)
        ids+=("$id")
        new_volume "$dir" "$id" 1
        event_json "$id" 1 >>"$dir/events.jsonl"
    done
}

# passphrase_file DIR ID: the hex passphrase in a file, for qemu/cryptsetup.
passphrase_file() {
    local dir=$1 id=$2 out="$T_TMP/pass-$2"
    od -An -v -tx1 "${KEY_DIR:-$dir/keys}/$id.key" | tr -d ' \n' >"$out"
    echo "$out"
}

# event_json ID GIB [TYPE] [EVENT_TYPE]: a bare Cinder notification.
event_json() {
    local id=$1 gib=$2 type=${3:-b5a2c7e2-4c7d-4a8e-9d7c-2f9d8c1e6a11} et=${4:-volume.create.end}
    printf '{"message_id": "%s", "publisher_id": "volume.cinder-host@rbd", "event_type": "%s", "priority": "INFO", "payload": {"tenant_id": "7e1c", "user_id": "a1b2", "host": "cinder-host@rbd#rbd", "availability_zone": "nova", "volume_id": "%s", "volume_type": "%s", "display_name": "vol", "size": %s, "status": "available", "snapshot_id": null, "metadata": {}, "volume_attachment": []}, "timestamp": "2026-11-25 21:00:00.000000", "_context_request_id": "req-1", "_unique_id": "u1"}\n' \
        "$(new_uuid)" "$et" "$id" "$type" "$gib"
}

# envelope_json JSON: the same notification inside an oslo.messaging v2 envelope.
envelope_json() {
    python3 -c 'import json,sys; print(json.dumps({"oslo.version": "2.0", "oslo.message": sys.argv[1]}))' "$1"
}

# luks_opts ID PASSFILE: qemu --image-opts for the LUKS view through librbd.
luks_opts() {
    echo "driver=luks,key-secret=s0,file.driver=rbd,file.pool=$POOL,file.image=volume-$1,file.conf=$CEPH_CONF,file.user=admin"
}

qemu_luks_io() { # ID PASSFILE qemu-io args...
    local id=$1 pass=$2
    shift 2
    timeout -s KILL 60 qemu-io --object "secret,id=s0,file=$pass" --image-opts "$(luks_opts "$id")" "$@"
}

# luks_vsize ID PASSFILE: the virtual size qemu's LUKS driver shows for POOL/volume-ID.
luks_vsize() {
    timeout -s KILL 60 qemu-img info --output=json --object "secret,id=s0,file=$2" \
        --image-opts "$(luks_opts "$1")" 2>/dev/null |
        python3 -c 'import json,sys; print(json.load(sys.stdin)["virtual-size"])' 2>/dev/null
}

# agent_pass DIR ID: the passphrase of volume ID that agent DIR reads (keys passphrase)
# into T_TMP/pass-ID, whose name it prints; its errors in T_TMP/pass-ID.err.
agent_pass() {
    local f=$T_TMP/pass-$2
    timeout -s KILL 60 "$AGENT" -c "$1/agent.ini" keys passphrase "$2" >"$f" 2>"$f.err" && echo "$f"
}
agent_io() { # DIR ID qemu-io args...: through the LUKS driver, with agent DIR's passphrase
    local d=$1 id=$2 pass
    shift 2
    pass=$(agent_pass "$d" "$id") || return 1
    qemu_luks_io "$id" "$pass" "$@"
}
agent_vsize() { local pass; pass=$(agent_pass "$1" "$2") && luks_vsize "$2" "$pass"; } # DIR ID

qemu_librbd_io() { # ID PASSFILE qemu-io args... (librbd's own LUKS reader)
    local id=$1 pass=$2
    shift 2
    timeout -s KILL 60 qemu-io --object "secret,id=s0,file=$pass" --image-opts \
        "driver=rbd,pool=$POOL,image=volume-$id,conf=$CEPH_CONF,user=admin,encrypt.format=luks,encrypt.key-secret=s0" "$@"
}

# head_bytes ID N OUT: the image's first N MiB to a file.
head_bytes() {
    timeout -s KILL 60 qemu-img dd -f raw -O raw "if=rbd:$POOL/volume-$1:conf=$CEPH_CONF:id=admin" \
        "of=$3" bs=1M "count=$2" >/dev/null 2>&1
}

result_count() { # STATE_DIR ID OUTCOME
    grep -h "\"volume_id\": *\"$2\"" "$1"/results.jsonl 2>/dev/null | grep -c "\"outcome\": *\"$3\"" || true
}

# kill_tally DIR ID...: for volumes ID... of agent DIR after runs killed mid-stream,
# "TWICE MISSING OPENS STATES": how many were formatted more than once, have no formatted
# or skipped result, open with their key through qemu's LUKS driver, have a formatted state.
kill_tally() {
    local dir=$1 id f s p twice=0 missing=0 opens=0 states=0
    shift
    for id in "$@"; do
        f=$(result_count "$dir/state" "$id" formatted)
        s=$(result_count "$dir/state" "$id" skipped)
        [ "$f" -gt 1 ] && twice=$((twice + 1))
        [ $((f + s)) -ge 1 ] || missing=$((missing + 1))
        p=$(passphrase_file "$dir" "$id")
        qemu_luks_io "$id" "$p" -c "read 0 4k" >/dev/null 2>&1 && opens=$((opens + 1))
        rbd_ image-meta get "volume-$id" rbd-luks-agent.state 2>/dev/null |
            grep -q '^formatted ' && states=$((states + 1))
    done
    echo "$twice $missing $opens $states"
}

# last_outcome DIR ID [EVENT]: "OUTCOME REASON" of agent DIR's last result for volume
# ID (of an event whose type matches the grep pattern EVENT, when given); empty when none.
last_outcome() {
    grep -h "\"volume_id\":\"$2\"${3:+,\"event_type\":\"$3\"}" "$1/state/results.jsonl" 2>/dev/null | tail -n1 |
        python3 -c 'import json,sys; r = json.loads(sys.stdin.read()); print(r["outcome"], r["reason"])' 2>/dev/null
}
# ended_as DIR ID REGEX: agent DIR's last result for ID, "OUTCOME REASON", starts with REGEX.
ended_as() { grep -q "^$3" <<<"$(last_outcome "$1" "$2")"; }

run_once() { # DIR: run the agent --once, exit code in $RUN_RC, log in DIR/agent.log
    timeout -s KILL 300 "$AGENT" -c "$1/agent.ini" run --once >>"$1/agent.log" 2>&1
    RUN_RC=$?
}

# own_pool NAME: a pool of the test's own (POOL=NAME from here on) that
# client.cinder may use besides "volumes": commands that walk a whole pool
# (keys rewrap, keys audit) then meet only this test's volumes. drop_pool
# removes it and gives client.cinder back its caps on "volumes" alone.
own_pool() {
    POOL=$1
    timeout -s KILL 60 ceph --conf "$CEPH_CONF" --id admin osd pool create "$POOL" 8 8 replicated >/dev/null 2>&1
    timeout -s KILL 60 rbd --conf "$CEPH_CONF" --id admin pool init "$POOL" >/dev/null 2>&1
    timeout -s KILL 60 ceph --conf "$CEPH_CONF" --id admin auth caps client.cinder mon 'profile rbd' \
        osd "profile rbd pool=volumes, profile rbd pool=$POOL" >/dev/null 2>&1
}
drop_pool() {
    timeout -s KILL 60 ceph --conf "$CEPH_CONF" --id admin auth caps client.cinder mon 'profile rbd' \
        osd "profile rbd pool=volumes" >/dev/null 2>&1
    timeout -s KILL 60 ceph --conf "$CEPH_CONF" --id admin osd pool rm "$POOL" "$POOL" \
        --yes-i-really-really-mean-it >/dev/null 2>&1
    POOL=volumes
}

# The metadata provider (provider = metadata): KEK files, the config, the
# keys command, image metadata.
meta_get() { rbd --conf "$CEPH_CONF" --id admin -p "$POOL" image-meta get "volume-$1" "$2" 2>/dev/null; }
new_kek() { head -c 32 /dev/urandom >"$1" && chmod 600 "$1"; }
# use_keks DIR KEK_ID [OLD_KEKS]: switch the config to the metadata provider.
use_keks() {
    sed -i -e '/^directory = /d' -e '/^kek_id = /d' -e '/^kek_file = /d' -e '/^old_keks = /d' \
        -e "s|^provider = .*|provider = metadata\nkek_id = $2\nkek_file = $1/$2.bin${3:+\nold_keks = $3}|" "$1/agent.ini"
}
keys_() { local d=$1; shift; timeout -s KILL 120 "$AGENT" -c "$d/agent.ini" keys "$@"; }

# formatted_for_writers DIR N: a metadata-provider agent in DIR that has
# formatted N new 1 GiB volumes, their ids in IDS. 4 KiB objects: memstore
# keeps a written object zero-filled up to the write, so random writes into
# 4 MiB objects would cost the OSD GiBs.
formatted_for_writers() {
    local dir=$1 n=$2 id
    make_agent_dir "$dir"
    new_kek "$dir/kek-1.bin"
    use_keks "$dir" kek-1
    IDS=()
    for _ in $(seq 1 "$n"); do
        id=$(new_uuid)
        IDS+=("$id")
        rbd_ create --size 1024 --object-size 4K "volume-$id"
        event_json "$id" 1 >>"$dir/events.jsonl"
    done
    run_once "$dir"
    check_eq "$n volumes formatted" "$n" "$(grep -c '"outcome":"formatted"' "$dir/state/results.jsonl")"
}

# Writers standing in for guests' qemu: `rbd bench` on each volume, holding
# librbd's exclusive lock, at IOPS writes per second (librbd's QoS) for
# SECONDS, so their length does not depend on the machine.
# start_writers IOPS SECONDS ID...: sets WRITERS (pids, in ID order) and
# WRITER_IDS; their output is $T_TMP/writer-ID.out; stopped on exit.
WRITERS=() WRITER_IDS=()
stop_writers() {
    local pid
    for pid in "${WRITERS[@]}"; do kill "$pid" 2>/dev/null; done
}
start_writers() {
    local iops=$1 secs=$2 id
    shift 2
    trap stop_writers EXIT
    for id in "$@"; do
        timeout -s KILL $((secs + 120)) rbd --conf "$CEPH_CONF" --id admin -p "$POOL" \
            --rbd_qos_iops_limit "$iops" bench --io-type write --io-size 4K --io-threads 1 \
            --io-total $((iops * secs * 4096)) --io-pattern rand "volume-$id" \
            >"$T_TMP/writer-$id.out" 2>&1 &
        WRITERS+=($!)
        WRITER_IDS+=("$id")
    done
}
holds_lock() { rbd_ lock ls "volume-$1" 2>/dev/null | grep -q ' auto '; }
# writers_holding: how many writers hold their image's lock (waits up to 60 s each).
writers_holding() {
    local id held=0
    for id in "${WRITER_IDS[@]}"; do wait_for 60 holds_lock "$id" && held=$((held + 1)); done
    echo "$held"
}
writers_alive() {
    local pid n=0
    for pid in "${WRITERS[@]}"; do kill -0 "$pid" 2>/dev/null && n=$((n + 1)); done
    echo "$n"
}
# check_writers_ended NAME: waits for every writer; one check, passed when
# each exited 0 with no error in its output (the first failure named).
check_writers_ended() {
    local i id rc ok=0 why=""
    for i in "${!WRITERS[@]}"; do
        id=${WRITER_IDS[$i]}
        wait "${WRITERS[$i]}"
        rc=$?
        if [ "$rc" -eq 0 ] && ! grep -qi error "$T_TMP/writer-$id.out"; then
            ok=$((ok + 1))
        elif [ -z "$why" ]; then
            why="volume-$id: exit $rc: $(grep -i -m 1 error "$T_TMP/writer-$id.out")"
        fi
    done
    if [ "$ok" -eq "${#WRITERS[@]}" ]; then pass "$1"; else
        fail "$1" "$ok of ${#WRITERS[@]}; $why"
    fi
    WRITERS=() WRITER_IDS=()
}

# --- what the tests behind the real Cinder share ------------------------------------------
# amqp_ini QUEUE: the [amqp] section for a feeder of the broker tests/lib/rabbitmq.sh
# started (its AMQP_* variables), on durable queue QUEUE bound to Cinder's
# notifications_luks.info.
amqp_ini() {
    cat <<INI
[amqp]
host = $AMQP_HOST
port = $AMQP_PORT
vhost = $AMQP_VHOST
user = $AMQP_USER
password_file = $AMQP_PASSWORD_FILE
exchange = $AMQP_EXCHANGE
queue = $1
routing_keys = notifications_luks.info
INI
}

# api ARGS...: tests/lib/cinder_api.py against the Cinder the test started, killed
# after CINDER_API_TIMEOUT seconds (150 unless the script sets it).
api() { timeout -s KILL "${CINDER_API_TIMEOUT:-150}" python3 "$(dirname "${BASH_SOURCE[0]}")/cinder_api.py" "$@"; }

# ceph_with_mgr: the cluster run.sh booted for the tests that share it or, when it did
# not (a test run alone), one of this test's own (OWN_CEPH=yes: its cleanup stops it),
# and a ceph-mgr on it (Cinder's RBD driver reads pool stats from it; a test that starts
# it stops it again for the tests after it). Records a failure and returns 1 when either
# does not start.
ceph_with_mgr() {
    local lib
    lib=$(dirname "${BASH_SOURCE[0]}")
    if [ ! -f "$CEPH_DIR/mon.pid" ]; then
        OWN_CEPH=yes
        if ! "$lib/ceph-cluster.sh" start "$CEPH_DIR" >/dev/null 2>"$T_TMP/ceph-start.log"; then
            fail "the Ceph cluster starts" "$(tail -c 600 "$T_TMP/ceph-start.log" | tr '\n' ' ')"
            return 1
        fi
    fi
    if ! "$lib/ceph-cluster.sh" start-mgr "$CEPH_DIR" >"$T_TMP/mgr.log" 2>&1; then
        fail "ceph-mgr starts on the running cluster" "$(tail -c 600 "$T_TMP/mgr.log" | tr '\n' ' ')"
        return 1
    fi
    pass "ceph-mgr starts on the running cluster"
}

# broker_up: a private RabbitMQ broker in $BROKER (tests/lib/rabbitmq.sh), its AMQP_*
# variables set and exported with CEPH_CONF for the services the test starts next.
# Records a failure and returns 1 when it does not start.
broker_up() {
    local env
    if ! env=$("$(dirname "${BASH_SOURCE[0]}")/rabbitmq.sh" start "$BROKER" 2>"$T_TMP/broker-start.log"); then
        fail "broker starts" "$(tail -c 600 "$T_TMP/broker-start.log" | tr '\n' ' ')"
        return 1
    fi
    pass "broker starts"
    eval "$env"
    export CEPH_CONF AMQP_HOST AMQP_PORT AMQP_USER AMQP_PASSWORD_FILE AMQP_VHOST AMQP_EXCHANGE
}

# services_down: Cinder in $CINDER and the broker in $BROKER stopped (each by its
# script, by PID); ceph_down: the cluster when this test booted it (OWN_CEPH), else only
# the mgr ceph_with_mgr started. For the tests' EXIT traps; quiet, idempotent.
services_down() {
    local lib
    lib=$(dirname "${BASH_SOURCE[0]}")
    "$lib/cinder.sh" stop "$CINDER" >/dev/null 2>&1
    "$lib/rabbitmq.sh" stop "$BROKER" >/dev/null 2>&1
}
ceph_down() {
    local lib
    lib=$(dirname "${BASH_SOURCE[0]}")
    if [ -n "${OWN_CEPH:-}" ]; then
        "$lib/ceph-cluster.sh" stop "$CEPH_DIR" >/dev/null 2>&1
    else
        "$lib/ceph-cluster.sh" stop-mgr "$CEPH_DIR" >/dev/null 2>&1
    fi
}
