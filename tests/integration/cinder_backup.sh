#!/usr/bin/env bash
# cinder_backup: an agent-managed volume backed up and restored by the real cinder-backup
# (python3-cinder, Debian 12; posix driver, its files in the test Cinder's dir). The agent
# (feeder and volume role, provider = metadata) formats a 1 GiB volume Cinder made; qemu
# writes a pattern through LUKS at its start and in its last 64 KiB; Cinder backs it up,
# the volume is deleted (deleted_keys = keep keeps its record in the header map), and the
# backup is restored into a new volume Cinder creates and into an existing agent volume.
# Checked: what the backup holds (the whole image, the payload offset past the volume's
# size included), the notifications the feeder gets for each step, that the agent re-binds
# the source's key to each volume restored into on backup.restore.end (no notification
# names that volume), and that each then opens with its own passphrase, shows exactly
# 1 GiB in qemu and reads both patterns.
# run.sh: serial (adds a ceph-mgr to the shared cluster and stops it again)
. "$(dirname "$0")/../lib/testlib.sh"

here=$(cd "$(dirname "$0")" && pwd)
LIB="$here/../lib"
BROKER="$T_TMP/broker"
CINDER="$T_TMP/cinder"
dir="$T_TMP/agent"
FEED_PID=
RUN_PID=
OWN_CEPH=

delete_volume() { api volume-delete "$1" && api wait-deleted "$1" --timeout 120; }
delete_backup() { api backup-delete "$1" && api wait-backup-deleted "$1" --timeout 120; }

cleanup() {
    stop_pid "$RUN_PID"
    stop_pid "$FEED_PID"
    services_down
    ceph_down
}
trap cleanup EXIT

# backup_events ID: "EVENT_TYPE volume_id=V status=S" of each backup.* notification about
# backup ID.
backup_events() {
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
    if isinstance(p, dict) and p.get("backup_id") == sys.argv[2]:
        print(n.get("event_type"), "volume_id=%s" % p.get("volume_id"),
              "status=%s" % p.get("status"))
EOF
}
has_backup_event() { backup_events "$1" | grep -q "^$2 "; } # ID EVENT_TYPE
# mentions ID: every event type of a notification whose text names ID anywhere.
mentions() {
    python3 - "$dir/events.jsonl" "$1" <<'EOF'
import json, sys
for raw in open(sys.argv[1]):
    if sys.argv[2] not in raw:
        continue
    try:
        n = json.loads(raw)
        if "oslo.message" in n:
            n = json.loads(n["oslo.message"])
    except ValueError:
        continue
    print(n.get("event_type"))
EOF
}

# --- Ceph with a mgr, RabbitMQ, Cinder with cinder-backup -------------------------------
ceph_with_mgr || exit 0
broker_up || exit 0
if ! cinder_env=$(CINDER_BACKUP=posix "$LIB/cinder.sh" start "$CINDER" 2>"$T_TMP/cinder-start.log"); then
    fail "Cinder starts with cinder-backup (api, scheduler, volume, backup up)" \
        "$(tail -c 1500 "$T_TMP/cinder-start.log" | tr '\n' ' ')"
    exit 0
fi
pass "Cinder starts with cinder-backup (api, scheduler, volume, backup up)"
eval "$cinder_env"
export CINDER_URL
check_eq "cinder.sh names the backup directory" "$CINDER/backup" "$CINDER_BACKUP_DIR"

# --- the agent: every volume type, provider = metadata ---------------------------------
# types = *: the volume Cinder creates for a restore has the default type
# (cinder/backup/api.py:399 names none), not the source's.
type_id=$(api type-create "luks-by-agent")
check "Cinder creates a volume type" test -n "$type_id"
make_agent_dir "$dir"
new_kek "$dir/kek-1.bin"
use_keks "$dir" kek-1
amqp_ini notifications_luks.info >>"$dir/agent.ini"
"$AGENT" -c "$dir/agent.ini" feed 2>"$dir/feed.log" &
FEED_PID=$!
"$AGENT" -c "$dir/agent.ini" run >>"$dir/agent.log" 2>&1 &
RUN_PID=$!
check "the feeder consumes notifications_luks.info" \
    wait_for 20 grep -q "consuming queue 'notifications_luks.info'" "$dir/feed.log"

outcomes_of() { # ID: every outcome for ID, in order, space separated
    grep -h "\"volume_id\":\"$1\"" "$dir/state/results.jsonl" 2>/dev/null |
        python3 -c 'import json,sys; print(" ".join(json.loads(l)["event_type"] + ":" + json.loads(l)["outcome"] for l in sys.stdin))' 2>/dev/null
}
vpass() { timeout -s KILL 30 "$AGENT" -c "$dir/agent.ini" keys passphrase "$1" >"$T_TMP/pass-$1" 2>/dev/null && echo "$T_TMP/pass-$1"; }
vio() { local id=$1 p; p=$(vpass "$id") || return 1; shift; qemu_luks_io "$id" "$p" "$@"; }
vsize() {
    local p
    p=$(vpass "$1") || return 1
    timeout -s KILL 60 qemu-img info --output=json --object "secret,id=s0,file=$p" \
        --image-opts "$(luks_opts "$1")" 2>/dev/null |
        python3 -c 'import json,sys; print(json.load(sys.stdin)["virtual-size"])' 2>/dev/null
}
raw_size() { rbd_ info --format json "volume-$1" | python3 -c 'import json,sys; print(json.load(sys.stdin)["size"])'; }
header_uuid() { # ID: the LUKS UUID of the image's header, as cryptsetup reads it
    head_bytes "$1" 4 "$T_TMP/head-$1" && cryptsetup luksUUID "$T_TMP/head-$1"
}
END=$((GIB - 65536))

# --- the source volume ----------------------------------------------------------------
src=$(api volume-create --type "$type_id" --size 1 --name backup-source)
check "the source volume becomes available" api wait "$src" available --timeout 120
check "the agent formats it" wait_for 60 ended_as "$dir" "$src" formatted
check "qemu writes the source's data (start, last 64 KiB)" vio "$src" \
    -c "write -P 0xb1 0 64k" -c "write -P 0xb2 $END 64k"
src_uuid=$(header_uuid "$src")
check "the source's LUKS UUID reads" test -n "$src_uuid"

# --- backup ---------------------------------------------------------------------------
started=$(date +%s%N)
bk=$(api backup-create "$src" --name backup-of-source)
check "Cinder accepts the backup" test -n "$bk"
check "the backup becomes available" api backup-wait "$bk" available --timeout 120
echo "   backup: $((($(date +%s%N) - started) / 1000000)) ms"
check "hook file: backup.create.end" wait_for 30 has_backup_event "$bk" backup.create.end
# The posix driver's metadata file lists each chunk's offset and length. The backup reads
# until os-brick's RBD file wrapper says end of file (cinder/backup/chunkeddriver.py:580-593),
# which is the image's size (os_brick/initiator/linuxrbd.py:190-213), not the volume's.
meta=$(find "$CINDER_BACKUP_DIR" -name '*_metadata' | head -n1)
covered=$(python3 -c 'import json,sys
m = json.load(open(sys.argv[1]))
objs = sorted((list(o.values())[0] for o in m["objects"]), key=lambda o: o["offset"])
end = 0
for o in objs:
    if o["offset"] != end: sys.exit("gap at %d" % end)
    end += o["length"]
print(len(objs), end)' "$meta" 2>&1)
echo "   backup: chunks, bytes: $covered"
check_eq "the backup holds the whole image: 1 GiB + the 4 MiB payload offset, no gap" \
    "$((GIB + 4194304))" "${covered#* }"

# --- the source deleted; its record stays -----------------------------------------------
check "the source is deleted" delete_volume "$src"
check "delete.end: its record kept, marked deleted (deleted_keys = keep)" \
    wait_for 30 ended_as "$dir" "$src" "removed .*kept, marked deleted"

# after_restore LABEL ID: what a restored volume ID shows. cinder-backup sends only
# backup.restore.start and .end, whose payload names the backup's source volume, never
# the volume restored into (cinder/backup/manager.py:620,726; volume_utils.py:141-162):
# on .end the volume agent looks through its index for a volume whose image now holds
# one of the source's headers under another entry, and re-binds the source's key to it.
restore_result() { # ID: the agent's result for ID from the backup.restore.end
    grep -h "\"volume_id\":\"$1\",\"event_type\":\"backup.restore.end\"" \
        "$dir/state/results.jsonl" 2>/dev/null | tail -n1
}
after_restore() {
    local label=$1 id=$2 first
    check_eq "$label: Cinder restored into it (metadata src_backup_id)" "$bk" \
        "$(api volume-show "$id" | python3 -c 'import json,sys; print(json.load(sys.stdin)["metadata"].get("src_backup_id"))')"
    check_eq "$label: the image holds the source's LUKS header" "$src_uuid" "$(header_uuid "$id")"
    check_eq "$label: the image is 1 GiB + 4 MiB, as the backup" "$((GIB + 4194304))" "$(raw_size "$id")"
    check_eq "$label: no notification names it after its create.end" \
        "volume.create.start volume.create.end" "$(mentions "$id" | tr '\n' ' ' | sed 's/ $//')"
    first=$(outcomes_of "$id" | cut -d' ' -f1)
    echo "   $label: agent results: $(outcomes_of "$id")"
    if [ "$first" = "volume.create.end:formatted" ]; then
        # The agent formatted it before the restore wrote over its header.
        rebound_() { restore_result "$id" | grep -q "\"outcome\":\"inherited\",\"reason\":\"backup $bk of volume $src was restored over it: .*inherited from $src"; }
        check "$label: on backup.restore.end the agent re-binds the source's key to it" \
            wait_for 60 rebound_
        check "$label: the source's result line names it" bash -c \
            "grep '\"volume_id\":\"$src\",\"event_type\":\"backup.restore.end\"' '$dir/state/results.jsonl' | grep -q 'restored into 1 volume(s) .*$id'"
    else
        # The restore came first: its create.end found the source's header.
        check "$label: its create.end re-bound the source's key (inherited)" \
            grep -q "^volume.create.end:inherited" <<<"$first"
    fi
    check_eq "$label: qemu shows exactly 1 GiB" "$GIB" "$(vsize "$id")"
    check "$label: its own passphrase reads the source's data, start and last 64 KiB" \
        vio "$id" -c "read -P 0xb1 0 64k" -c "read -P 0xb2 $END 64k"
    check "$label: format ID afterwards: skipped as ours" \
        bash -c "timeout -s KILL 120 '$AGENT' -c '$dir/agent.ini' format $id 2>/dev/null | grep -q '^$id skipped: already formatted'"
}

# --- restore into a new volume ------------------------------------------------------------
new=$(api backup-restore "$bk")
check "Cinder restores into a new volume" test -n "$new"
check "the backup is available again" api backup-wait "$bk" available --timeout 180
check "the new volume is available" api wait "$new" available --timeout 60
check_eq "the new volume has the default type, not the source's (cinder/backup/api.py:399)" \
    "__DEFAULT__" "$(api volume-show "$new" | python3 -c 'import json,sys; print(json.load(sys.stdin)["volume_type"])')"
check "hook file: backup.restore.end" wait_for 30 has_backup_event "$bk" backup.restore.end
check_eq "backup.restore.start and .end name the source volume, not the new one" \
    "backup.restore.start volume_id=$src status=restoring,backup.restore.end volume_id=$src status=available" \
    "$(backup_events "$bk" | grep '^backup.restore' | tr '\n' ',' | sed 's/,$//')"
# The race: Cinder's API creates the volume, waits until it is no longer "creating"
# (polled each second, cinder/backup/api.py:402-406), then casts the restore; the agent
# formats on volume.create.end meanwhile.
times=$(python3 - "$dir/events.jsonl" "$new" "$dir/state/results.jsonl" <<'EOF'
import json, sys
from datetime import datetime
t = {}
for raw in open(sys.argv[1]):
    n = json.loads(raw)
    n = json.loads(n["oslo.message"]) if "oslo.message" in n else n
    if n["event_type"] in ("volume.create.end", "backup.restore.start") and \
            (n["payload"].get("volume_id") == sys.argv[2] or n["event_type"].startswith("backup")):
        t.setdefault(n["event_type"], datetime.strptime(n["timestamp"], "%Y-%m-%d %H:%M:%S.%f"))
for raw in open(sys.argv[3]):
    r = json.loads(raw)
    if r["volume_id"] == sys.argv[2]:
        t.setdefault("agent", datetime.strptime(r["time"], "%Y-%m-%dT%H:%M:%S.%fZ"))
        break
ms = lambda k: int((t[k] - t["volume.create.end"]).total_seconds() * 1000) if k in t else None
print("agent's ending %s ms, backup.restore.start %s ms after volume.create.end" % (ms("agent"), ms("backup.restore.start")))
EOF
)
echo "   new volume $new: $times"
after_restore "restored into a new volume" "$new"
check "the new volume is deleted" delete_volume "$new"

# --- restore into an existing agent volume ------------------------------------------------
tgt=$(api volume-create --type "$type_id" --size 1 --name restore-target)
check "the target volume becomes available" api wait "$tgt" available --timeout 120
check "the agent formats it" wait_for 60 ended_as "$dir" "$tgt" formatted
check "qemu writes the target's own data" vio "$tgt" -c "write -P 0xc1 0 64k"
got=$(api backup-restore "$bk" --volume-id "$tgt")
check_eq "Cinder restores into the target" "$tgt" "$got"
check "the backup is available again" api backup-wait "$bk" available --timeout 180
check "the target is available" api wait "$tgt" available --timeout 60
check_eq "the target keeps its type" "luks-by-agent" \
    "$(api volume-show "$tgt" | python3 -c 'import json,sys; print(json.load(sys.stdin)["volume_type"])')"
check "hook file: a second backup.restore.end" \
    wait_for 30 bash -c "test \"\$(grep -c backup.restore.end '$dir/events.jsonl')\" -ge 2"
two_sweeps() { test "$(grep -c "\"volume_id\":\"$src\",\"event_type\":\"backup.restore.end\"" "$dir/state/results.jsonl")" -ge 2; }
check "the agent has handled the second restore" wait_for 60 two_sweeps
after_restore "restored into an existing volume" "$tgt"
check "the target is deleted" delete_volume "$tgt"

# --- everything stops by PID --------------------------------------------------------------
check "the backup is deleted" delete_backup "$bk"
stop_pid "$RUN_PID"
stop_pid "$FEED_PID"
check "the agent and its feeder stopped" bash -c "$(declare -f gone); gone $RUN_PID && gone $FEED_PID"
RUN_PID= FEED_PID=
"$LIB/cinder.sh" stop "$CINDER"
check_eq "cinder.sh stop exits 0" 0 $?
check "no cinder-backup left (its pid file gone)" test ! -e "$CINDER/backup.pid"
