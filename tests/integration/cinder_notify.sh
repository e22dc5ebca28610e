#!/usr/bin/env bash
# cinder_notify: the agent behind the real Cinder (python3-cinder, Debian 12) rather than
# hand-written events. Cinder's API, scheduler and volume service (RBD driver on the
# shared one-node cluster, plus a ceph-mgr started here) publish their notifications on
# a private RabbitMQ broker; the agent's feeder appends them to the hook file and its
# volume role formats the volume Cinder made. Checked: the image Cinder creates, the
# create, attach and delete notifications as they arrive in the hook file, the format
# (results.jsonl, and qemu's LUKS driver shows exactly the volume's size), Cinder's
# extend (the agent grows the image back by the payload offset: exactly the new size, the
# data kept), the connection_info Cinder returns to Nova's attach sequence, and the delete.
# Then, with a second agent (provider = metadata): a snapshot, volumes from it (same size
# and larger) and a clone of a volume, each with the source's key re-bound to it; and
# retypes into the agent's type (plain data converted, blank formatted, attached left
# alone with the reason) and out of it (left encrypted).
# run.sh: serial (adds a ceph-mgr to the shared cluster and stops it again)
. "$(dirname "$0")/../lib/testlib.sh"

here=$(cd "$(dirname "$0")" && pwd)
LIB="$here/../lib"
BROKER="$T_TMP/broker"
CINDER="$T_TMP/cinder"
dir="$T_TMP/agent"
SIZE=2
HOST=compute-1
FEED_PID=
RUN_PID=
FEED2_PID=
RUN2_PID=
OWN_CEPH=

cleanup() {
    stop_pid "$RUN_PID"
    stop_pid "$FEED_PID"
    stop_pid "$RUN2_PID"
    stop_pid "$FEED2_PID"
    services_down
    # A shared cluster goes back to how the tests after this one expect it: no mgr.
    ceph_down
}
trap cleanup EXIT

# events ID: one line per notification about volume ID in the hook file, in file order:
# "EVENT_TYPE HOSTS", HOSTS the attached_host of each entry of payload.volume_attachment
# (null when not set yet), comma separated, "-" for none. Bare notifications and oslo
# envelopes alike.
events() {
    python3 - "$dir/events.jsonl" "$1" <<'EOF'
import json, sys
for raw in open(sys.argv[1]):
    try:
        n = json.loads(raw)
        if "oslo.message" in n:
            n = json.loads(n["oslo.message"])
    except ValueError:
        continue
    p = n.get("payload") or {}
    if not isinstance(p, dict) or p.get("volume_id") != sys.argv[2]:
        continue
    att = p.get("volume_attachment") or []
    hosts = [a.get("attached_host") or "null" for a in att if isinstance(a, dict)]
    print(n.get("event_type"), ",".join(hosts) or "-")
EOF
}
has_event() { events "$1" | grep -qxF "$2"; } # ID "EVENT_TYPE HOSTS"

# --- Ceph with a mgr -------------------------------------------------------------------
# run.sh boots the shared cluster for ceph_*, libvirt_* and container_* tests; when it
# did not (this test alone), boot it here, and stop it at the end.
ceph_with_mgr || exit 0
# Without a mgr, ceph df lists no pools and Cinder reports the capacity as unknown.
pool_stats() {
    timeout -s KILL 30 ceph --conf "$CEPH_CONF" --id cinder df -f json |
        python3 -c 'import json, sys
sys.exit(sys.argv[1] not in [p["name"] for p in json.load(sys.stdin)["pools"]])' "$POOL"
}
check "ceph df, as client.cinder, has stats of pool $POOL" pool_stats

# --- RabbitMQ and Cinder ---------------------------------------------------------------
broker_up || exit 0

started=$(date +%s%N)
if ! cinder_env=$("$LIB/cinder.sh" start "$CINDER" 2>"$T_TMP/cinder-start.log"); then
    fail "Cinder starts (api, scheduler, volume host@ceph up)" \
        "$(tail -c 1500 "$T_TMP/cinder-start.log" | tr '\n' ' ')"
    exit 0
fi
boot_ms=$((($(date +%s%N) - started) / 1000000))
pass "Cinder starts (api, scheduler, volume host@ceph up)"
echo "   Cinder boot: ${boot_ms} ms"
eval "$cinder_env"
export CINDER_URL

# --- the agent: feeder and volume role -------------------------------------------------
type_id=$(api type-create "luks-by-agent")
check "Cinder creates a volume type" test -n "$type_id"
make_agent_dir "$dir" "volume.types = $type_id"
amqp_ini notifications_luks.info >>"$dir/agent.ini"
# start_agent DIR FEEDVAR RUNVAR: the agent's feeder and volume role, their pids in
# FEEDVAR and RUNVAR; then waits (20 s at most) until the feeder consumes its queue.
start_agent() {
    "$AGENT" -c "$1/agent.ini" feed 2>"$1/feed.log" &
    printf -v "$2" %s $!
    "$AGENT" -c "$1/agent.ini" run >>"$1/agent.log" 2>&1 &
    printf -v "$3" %s $!
    wait_for 20 grep -q "consuming queue '$(sed -n 's/^queue = //p' "$1/agent.ini")'" "$1/feed.log"
}
check "the feeder consumes notifications_luks.info" start_agent "$dir" FEED_PID RUN_PID

# --- create ----------------------------------------------------------------------------
vid=$(api volume-create --type "$type_id" --size "$SIZE" --name cinder-notify)
check "Cinder accepts the volume" test -n "$vid"
# The key, as the file provider expects it, before create.end reaches the agent (if it
# is late the agent retries).
head -c 32 /dev/urandom >"$dir/keys/$vid.key"
chmod 600 "$dir/keys/$vid.key"
check "the volume becomes available" api wait "$vid" available --timeout 120
check "its RBD image volume-$vid is in pool $POOL" rbd_ info "volume-$vid"
check "hook file: volume.create.start" wait_for 30 has_event "$vid" "volume.create.start -"
check "hook file: volume.create.end" wait_for 30 has_event "$vid" "volume.create.end -"
check_eq "hook file: create.start before create.end" "volume.create.start volume.create.end" \
    "$(events "$vid" | awk '{print $1}' | grep '^volume.create' | tr '\n' ' ' | sed 's/ $//')"

formatted() { [ "$(result_count "$dir/state" "$vid" formatted)" -ge 1 ]; }
check "the agent formats it (results.jsonl: formatted)" wait_for 60 formatted
check_eq "one formatted result" 1 "$(result_count "$dir/state" "$vid" formatted)"
pass_file=$(passphrase_file "$dir" "$vid")
vsize=$(timeout -s KILL 60 qemu-img info --output=json --object "secret,id=s0,file=$pass_file" \
    --image-opts "$(luks_opts "$vid")" 2>"$T_TMP/qemu-info.err" |
    python3 -c 'import json,sys; print(json.load(sys.stdin)["virtual-size"])' 2>/dev/null)
check_eq "qemu's LUKS driver: virtual size exactly $SIZE GiB" "$((SIZE * GIB))" "$vsize"

# --- extend ----------------------------------------------------------------------------
# Cinder's RBD driver resizes the image to exactly the new size (extend_volume ->
# _resize, cinder/volume/drivers/rbd.py); the agent grows it back by the payload offset on
# volume.resize.end, so qemu shows exactly the new size. Data written before reads back.
lio() { timeout -s KILL 60 qemu-io --object "secret,id=s0,file=$pass_file" --image-opts "$(luks_opts "$vid")" "$@"; }
check "qemu writes through LUKS at the start and the end of the $SIZE GiB" \
    lio -c "write -P 0x61 0 64k" -c "write -P 0x62 $((SIZE * GIB - 65536)) 64k"
NEW=$((SIZE + 1))
check "Cinder extends the volume to $NEW GiB (os-extend)" api volume-extend "$vid" "$NEW"
check "the volume is available after the extend" api wait "$vid" available --timeout 120
check "hook file: volume.resize.end" wait_for 30 has_event "$vid" "volume.resize.end -"
resized() { [ "$(result_count "$dir/state" "$vid" resized)" -ge 1 ]; }
check "the agent grows the image (results.jsonl: resized)" wait_for 60 resized
vsize=$(timeout -s KILL 60 qemu-img info --output=json --object "secret,id=s0,file=$pass_file" \
    --image-opts "$(luks_opts "$vid")" 2>>"$T_TMP/qemu-info.err" |
    python3 -c 'import json,sys; print(json.load(sys.stdin)["virtual-size"])' 2>/dev/null)
check_eq "qemu's LUKS driver: virtual size exactly $NEW GiB" "$((NEW * GIB))" "$vsize"
check "the data written before the extend reads back" \
    lio -c "read -P 0x61 0 64k" -c "read -P 0x62 $((SIZE * GIB - 65536)) 64k"
check "the new GiB is there for the guest, up to its last byte" \
    lio -c "write -P 0x63 $((NEW * GIB - 65536)) 64k" -c "read -P 0x63 $((NEW * GIB - 65536)) 64k"
# --- attach, as Nova does it ------------------------------------------------------------
instance=$(new_uuid)
att=$(api attachment-create "$vid" "$instance")
check "attachment-create (volume reserved)" test -n "$att"
api attachment-update "$att" --host "$HOST" >"$T_TMP/connection_info.json" 2>"$T_TMP/update.err"
check_eq "attachment-update answers" 0 $?
conn() { # PYTHON EXPRESSION over c, the connection_info Cinder returned
    python3 -c 'import json,sys; c = json.load(open(sys.argv[1])); print(eval(sys.argv[2]))' \
        "$T_TMP/connection_info.json" "$1" 2>&1
}
check_eq "connection_info: driver_volume_type rbd" rbd "$(conn 'c["driver_volume_type"]')"
# Cinder's attachments API returns the driver's data flattened into connection_info
# (cinder/volume/manager.py _connection_create); Nova puts it back under "data".
check_eq "connection_info: name $POOL/volume-$vid" "$POOL/volume-$vid" "$(conn 'c["name"]')"
nova_view=$(/usr/bin/python3 - "$T_TMP/connection_info.json" <<'EOF' 2>&1
import json, sys
from nova.volume import cinder
ref = cinder._translate_attachment_ref(
    {"id": "x", "connection_info": json.load(open(sys.argv[1]))})
ci = ref["connection_info"]
print(ci["driver_volume_type"], ci["data"]["name"])
EOF
)
check_eq "as Nova reads it (nova.volume.cinder): rbd, data.name $POOL/volume-$vid" \
    "rbd $POOL/volume-$vid" "$nova_view"
check "attachment-complete" api attachment-complete "$att"
check "the volume is in-use" api wait "$vid" in-use --timeout 30
check "hook file: volume.attach.start, attached_host still null" \
    wait_for 30 has_event "$vid" "volume.attach.start null"
check "hook file: volume.attach.end names $HOST" \
    wait_for 30 has_event "$vid" "volume.attach.end $HOST"

# --- detach and delete ------------------------------------------------------------------
check "attachment-delete (as Nova's service)" api attachment-delete "$att"
check "the volume is available again" api wait "$vid" available --timeout 60
check "volume-delete" api volume-delete "$vid"
check "the volume is gone from Cinder" api wait-deleted "$vid" --timeout 120
check "hook file: volume.delete.end" wait_for 30 has_event "$vid" "volume.delete.end -"
image_gone() { ! rbd_ info "volume-$vid" >/dev/null 2>&1; }
check "its RBD image is gone" image_gone

echo "   hook file, volume $vid:"
events "$vid" | sed 's/^/     /'

# --- snapshots and clones, through Cinder: keys follow the ciphertext -------------------
# A second volume agent, provider = metadata (it re-binds keys), for a type of its own,
# fed from its own durable queue. Cinder makes a volume from a snapshot by an RBD clone
# of it, resized to exactly the new size when larger (cinder/volume/drivers/rbd.py:1239-1266),
# and a clone of a volume by a snapshot of it and an RBD clone of that (:857-872); each
# child carries its parent's header, the agent re-binds the parent's key to it.
mdir="$T_TMP/agent-meta"
mtype=$(api type-create "luks-by-agent-metadata")
check "Cinder creates a second volume type" test -n "$mtype"
make_agent_dir "$mdir" "volume.types = $mtype"
new_kek "$mdir/kek-1.bin"
use_keks "$mdir" kek-1
sed -n '/^\[amqp\]/,$p' "$dir/agent.ini" | sed 's/^queue = .*/queue = notifications_luks_meta/' >>"$mdir/agent.ini"
check "the second feeder consumes its own queue" start_agent "$mdir" FEED2_PID RUN2_PID
mio() { agent_io "$mdir" "$@"; }
msize() { agent_vsize "$mdir" "$1"; }
src=$(api volume-create --type "$mtype" --size 1 --name lifecycle-source)
check "the source volume becomes available" api wait "$src" available --timeout 120
check "the metadata agent formats it" wait_for 60 ended_as "$mdir" "$src" formatted
check "qemu writes the source's data (start, last 64 KiB)" mio "$src" \
    -c "write -P 0x81 0 64k" -c "write -P 0x82 $((GIB - 65536)) 64k"
snap=$(api snapshot-create "$src" --name lifecycle-snap)
check "Cinder takes a snapshot" api snapshot-wait "$snap" available --timeout 120
fsame=$(api volume-create --type "$mtype" --size 1 --snapshot-id "$snap" --name from-snap-1)
fbig=$(api volume-create --type "$mtype" --size 2 --snapshot-id "$snap" --name from-snap-2)
clone=$(api volume-create --type "$mtype" --size 1 --source-volid "$src" --name clone-of-source)
for v in "$fsame" "$fbig" "$clone"; do
    api wait "$v" available --timeout 120 >/dev/null || fail "volume $v becomes available"
done
parent_of() { rbd_ info --format json "volume-$1" | python3 -c 'import json,sys; p = json.load(sys.stdin).get("parent") or {}; print(p.get("image", ""), p.get("snapshot", ""))'; }
check_eq "volume from snapshot: an RBD clone of volume-SRC@snapshot-SNAP" \
    "volume-$src snapshot-$snap" "$(parent_of "$fsame")"
check_eq "clone of a volume: an RBD clone of volume-SRC@volume-NEW.clone_snap" \
    "volume-$src volume-$clone.clone_snap" "$(parent_of "$clone")"
declare -A label=(["$fsame"]="from the snapshot, 1 GiB" ["$fbig"]="from the snapshot, 2 GiB" ["$clone"]="the clone")
for v in "$fsame" "$fbig" "$clone"; do
    check "${label[$v]}: inherited from the source" wait_for 60 ended_as "$mdir" "$v" "inherited inherited from $src"
done
check_eq "from the snapshot, 1 GiB: qemu shows exactly 1 GiB" "$GIB" "$(msize "$fsame")"
check_eq "from the snapshot, 2 GiB: qemu shows exactly 2 GiB" "$((2 * GIB))" "$(msize "$fbig")"
check_eq "the clone: qemu shows exactly 1 GiB" "$GIB" "$(msize "$clone")"
for v in "$fsame" "$fbig" "$clone"; do
    check "${label[$v]}: reads the source's data with its own passphrase" mio "$v" \
        -c "read -P 0x81 0 64k" -c "read -P 0x82 $((GIB - 65536)) 64k"
done
check "the 2 GiB one takes data up to its last byte" mio "$fbig" \
    -c "write -P 0x83 $((2 * GIB - 65536)) 64k" -c "read -P 0x83 $((2 * GIB - 65536)) 64k"
mio "$clone" -c "write -P 0x84 0 64k" >/dev/null 2>&1
check "a write to the clone leaves the source as it was" mio "$src" -c "read -P 0x81 0 64k"
# Cinder's delete order: children, the snapshot, then the source.
for v in "$fsame" "$fbig" "$clone"; do api volume-delete "$v"; done
for v in "$fsame" "$fbig" "$clone"; do
    api wait-deleted "$v" --timeout 120 >/dev/null || fail "volume $v deleted"
done
api snapshot-delete "$snap"
check "the snapshot is deleted" api wait-snapshot-deleted "$snap" --timeout 120
api volume-delete "$src"
check "the source is deleted" api wait-deleted "$src" --timeout 120
check "delete.end of the source: its record kept, marked deleted (deleted_keys = keep)" \
    wait_for 30 ended_as "$mdir" "$src" "removed .*kept, marked deleted"

# --- retype, through Cinder: into the agent's type and out of it ------------------------
# Both types on the one RBD backend and neither a Cinder encrypted type, so Cinder's
# retype needs no migration: the driver's retype (cinder/volume/drivers/rbd.py:1551)
# leaves the image as it is (cinder/volume/manager.py:3079-3091), then the volume gets the
# new type and volume.retype is sent (:3146-3168). Into the agent's type, an available
# volume is the agent's to format (blank) or convert (plain data); out of it, the image
# stays encrypted; an attached one is left alone, with the reason.
ptype=$(api type-create "plain")
check "Cinder creates a plain type (no agent, no encryption)" test -n "$ptype"
raw_io() { timeout -s KILL 60 qemu-io -f raw "rbd:$POOL/volume-$1:conf=$CEPH_CONF:id=admin" "${@:2}"; } # ID ARGS...
retyped() { api wait "$1" "$2" --timeout 120 >/dev/null && [ "$(api volume-show "$1" | python3 -c 'import json,sys; print(json.load(sys.stdin)["volume_type"])')" = "$3" ]; } # ID STATUS TYPE_NAME
pdata=$(api volume-create --type "$ptype" --size 1 --name retype-plain-data)
pblank=$(api volume-create --type "$ptype" --size 1 --name retype-plain-blank)
aenc=$(api volume-create --type "$mtype" --size 1 --name retype-agent)
pinuse=$(api volume-create --type "$ptype" --size 1 --name retype-in-use)
for v in "$pdata" "$pblank" "$aenc" "$pinuse"; do
    api wait "$v" available --timeout 120 >/dev/null || fail "volume $v becomes available"
done
check "the agent formats the volume of its type" wait_for 60 ended_as "$mdir" "$aenc" formatted
check "plain data written raw into a plain volume (start, last 64 KiB)" raw_io "$pdata" \
    -c "write -P 0x91 0 64k" -c "write -P 0x92 $((GIB - 65536)) 64k"
check "data written through the agent's volume" mio "$aenc" -c "write -P 0x93 0 64k"
check "and plain data into the one to be attached" raw_io "$pinuse" -c "write -P 0x94 0 64k"
inst=$(new_uuid)
iatt=$(api attachment-create "$pinuse" "$inst")
api attachment-update "$iatt" --host "$HOST" >/dev/null 2>>"$T_TMP/update.err"
attached() { api attachment-complete "$iatt" && api wait "$pinuse" in-use --timeout 60; }
check "the last one is attached (in-use)" attached
check "Cinder retypes the plain volume with data into the agent's type" api volume-retype "$pdata" "$mtype"
check "and the blank plain one" api volume-retype "$pblank" "$mtype"
check "and the agent's volume into the plain type" api volume-retype "$aenc" "$ptype"
check "and the attached plain one into the agent's type" api volume-retype "$pinuse" "$mtype"
all_retyped() {
    local m=luks-by-agent-metadata
    retyped "$pdata" available $m && retyped "$pblank" available $m &&
        retyped "$aenc" available plain && retyped "$pinuse" in-use $m
}
check "each has its new type" all_retyped
check "hook file: volume.retype" wait_for 30 has_event "$pdata" "volume.retype -"
check "plain data, retyped into the agent's type: converted" wait_for 120 ended_as "$mdir" "$pdata" converted
check_eq "converted: qemu shows exactly 1 GiB" "$GIB" "$(msize "$pdata")"
check "converted: the plain data reads back through LUKS" mio "$pdata" \
    -c "read -P 0x91 0 64k" -c "read -P 0x92 $((GIB - 65536)) 64k"
check "blank, retyped into the agent's type: formatted" wait_for 60 ended_as "$mdir" "$pblank" formatted
check_eq "formatted: qemu shows exactly 1 GiB" "$GIB" "$(msize "$pblank")"
check "the agent's volume retyped away: skipped, saying it stays encrypted" \
    wait_for 30 ended_as "$mdir" "$aenc" "skipped retyped to $ptype, which is not in \[volume\] types: the image is left as it is"
check "and it still opens with its key, its data there" mio "$aenc" -c "read -P 0x93 0 64k"
# Its extends are still the agent's: Cinder's cuts the payload offset off as for any volume.
# Its type is now in neither agent's [volume] types and both follow this backend, so both
# act on the resize.end: whichever reads the image first grows it, the other then finds it
# grown ("already"), or, reading at the same moment, resizes it to the same size. Which one
# wins is a race; what must hold is that it is grown once, to one size, and both agree.
check "Cinder extends the retyped-away volume to 2 GiB" api volume-extend "$aenc" 2
grown_or_already() { # DIR: its last result for aenc says the image has the 2 GiB's size
    ended_as "$1" "$aenc" resized ||
        ended_as "$1" "$aenc" "skipped image is already [0-9]* bytes ($((2 * GIB)) for the guest"
}
one_grew() {
    { ended_as "$mdir" "$aenc" resized || ended_as "$dir" "$aenc" resized; } &&
        grown_or_already "$mdir" && grown_or_already "$dir"
}
check "an agent grows it back though its type is in no [volume] types (resized), the other agrees" \
    wait_for 60 one_grew
check_eq "qemu shows exactly 2 GiB" "$((2 * GIB))" "$(msize "$aenc")"
check "its data still there" mio "$aenc" -c "read -P 0x93 0 64k"
check "the attached one: skipped, nothing done under a guest" \
    wait_for 30 ended_as "$mdir" "$pinuse" "skipped retyped while 'in-use': nothing is formatted or converted under a guest"
check "its plain data untouched" raw_io "$pinuse" -c "read -P 0x94 0 64k"
api attachment-delete "$iatt" >/dev/null 2>&1
check "detached, it is available" api wait "$pinuse" available --timeout 60
mformat() { timeout -s KILL 300 "$AGENT" -c "$mdir/agent.ini" format "$1" >>"$mdir/agent.log" 2>&1; }
check "then \`format ID\`, as the reason says, converts it" mformat "$pinuse"
check "its plain data reads back through LUKS" mio "$pinuse" -c "read -P 0x94 0 64k"
for v in "$pdata" "$pblank" "$aenc" "$pinuse"; do api volume-delete "$v"; done
for v in "$pdata" "$pblank" "$aenc" "$pinuse"; do
    api wait-deleted "$v" --timeout 120 >/dev/null || fail "volume $v deleted"
done

# --- everything stops by PID ------------------------------------------------------------
stop_pid "$RUN_PID"
check "the volume role stopped" gone "$RUN_PID"
RUN_PID=
stop_pid "$FEED_PID"
check "the feeder stopped" gone "$FEED_PID"
FEED_PID=
stop_pid "$RUN2_PID"
stop_pid "$FEED2_PID"
check "the second agent and feeder stopped" bash -c "$(declare -f gone); gone $RUN2_PID && gone $FEED2_PID"
RUN2_PID= FEED2_PID=
# Processes whose arguments name this Cinder's conf: the three services and the workers
# they forked.
cinder_procs() {
    python3 - "$CINDER/cinder.conf" <<'EOF'
import os, sys
for pid in filter(str.isdigit, os.listdir("/proc")):
    try:
        args = open("/proc/%s/cmdline" % pid, "rb").read().split(b"\0")
    except OSError:
        continue
    if pid != str(os.getpid()) and sys.argv[1].encode() in args:
        print(pid, end=" ")
EOF
}
procs=$(cinder_procs)
echo "   Cinder processes before stop: $procs"
check "Cinder runs as more than the three pid-file processes (forked workers)" \
    test "$(wc -w <<<"$procs")" -gt 3
"$LIB/cinder.sh" stop "$CINDER"
check_eq "cinder.sh stop exits 0" 0 $?
check_eq "no Cinder process left (services and workers)" "" "$(cinder_procs)"
check "cinder.sh stop is idempotent" "$LIB/cinder.sh" stop "$CINDER"
