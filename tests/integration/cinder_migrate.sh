#!/usr/bin/env bash
# cinder_migrate: agent volumes moved between two RBD backends of one cluster by the real
# Cinder (python3-cinder, Debian 12): backend "ceph" on pool volumes and "ceph2" on pool
# volumes2 (tests/lib/cinder.sh with CINDER_SECOND_POOL), a volume agent for each
# (provider = metadata, one KEK, [volume] backends naming its own), each fed from its own
# durable queue. What each move leaves, judged by qemu's LUKS driver on the image where
# Cinder says the volume is now: its exact size and the data written before.
#   M1  retype into a type of the other backend (migration_policy on-demand): Cinder's
#       RBD driver moves the image itself (migrate_volume: librbd's copy into the other
#       pool, the source deleted; cinder/volume/drivers/rbd.py:2207-2288), the image
#       metadata going with it
#   M2  os-migrate_volume with force_host_copy: Cinder's generic migration, a new volume
#       on the destination, `size` GiB copied into it, the images swapped
#       (cinder/volume/manager.py:2339-2436, the size 2315)
# run.sh: serial (adds a ceph-mgr to the shared cluster and stops it again)
. "$(dirname "$0")/../lib/testlib.sh"

here=$(cd "$(dirname "$0")" && pwd)
LIB="$here/../lib"
BROKER="$T_TMP/broker"
CINDER="$T_TMP/cinder"
A1="$T_TMP/agent-1"
A2="$T_TMP/agent-2"
POOL2=volumes2
FEED1="" RUN1="" FEED2="" RUN2=""
OWN_CEPH=

CINDER_API_TIMEOUT=200 # api (testlib.sh) waits up to 200 s here

cleanup() {
    local v
    for v in RUN1 FEED1 RUN2 FEED2; do stop_pid "${!v}"; done
    services_down
    POOL=$POOL2 drop_pool
    ceph_down
}
trap cleanup EXIT

# --- Ceph with a mgr and a second pool; RabbitMQ; Cinder with two backends --------------
ceph_with_mgr || exit 0
own_pool "$POOL2"
POOL=volumes
broker_up || exit 0
if ! cinder_env=$(CINDER_SECOND_POOL=$POOL2 "$LIB/cinder.sh" start "$CINDER" 2>"$T_TMP/cinder-start.log"); then
    fail "Cinder starts with backends ceph and ceph2" "$(tail -c 1500 "$T_TMP/cinder-start.log" | tr '\n' ' ')"
    exit 0
fi
pass "Cinder starts with backends ceph (pool volumes) and ceph2 (pool $POOL2)"
eval "$cinder_env"
export CINDER_URL

# --- two volume agents, one per backend -------------------------------------------------
t1=$(api type-create luks-on-ceph --backend ceph)
t2=$(api type-create luks-on-ceph2 --backend ceph2)
t0=$(api type-create luks-anywhere)
check "Cinder creates the agent's three types (on ceph, on ceph2, on either)" test -n "$t1" -a -n "$t2" -a -n "$t0"
new_kek "$T_TMP/kek-1.bin"
# agent DIR POOL BACKEND QUEUE: a volume agent of the three types for that backend.
agent() {
    make_agent_dir "$1" "volume.types = $t1,$t2,$t0" "ceph.pool = $2" "volume.backends = $3" \
        "volume.audit_interval_s = 2"
    cp "$T_TMP/kek-1.bin" "$1/kek-1.bin"
    use_keks "$1" kek-1
    amqp_ini "$4" >>"$1/agent.ini"
}
agent "$A1" volumes ceph luks-migrate-1
agent "$A2" "$POOL2" ceph2 luks-migrate-2
start_agent() { # DIR FEEDVAR RUNVAR
    "$AGENT" -c "$1/agent.ini" feed 2>"$1/feed.log" &
    printf -v "$2" %s $!
    "$AGENT" -c "$1/agent.ini" run >>"$1/agent.log" 2>&1 &
    printf -v "$3" %s $!
    wait_for 20 grep -q "consuming queue" "$1/feed.log"
}
check "agent 1 (ceph) consumes its queue" start_agent "$A1" FEED1 RUN1
check "agent 2 (ceph2) consumes its queue" start_agent "$A2" FEED2 RUN2

# event_ended_as DIR ID EVENT REGEX: agent DIR's last EVENT result for ID starts with REGEX.
event_ended_as() { grep -q "^$4" <<<"$(last_outcome "$1" "$2" "$3")"; }
# io DIR POOL ID ARGS...: qemu-io through the LUKS driver on POOL/volume-ID, with the
# passphrase agent DIR reads from that image's key record.
io() { local d=$1 POOL=$2 id=$3; shift 3; agent_io "$d" "$id" "$@"; }
vsize() { local POOL=$2; agent_vsize "$1" "$3"; } # DIR POOL ID: what qemu's LUKS driver shows
in_pool() { timeout -s KILL 60 rbd --conf "$CEPH_CONF" --id admin -p "$1" info "volume-$2" >/dev/null 2>&1; }
host_of() { api volume-show "$1" | python3 -c 'import json,sys; print(json.load(sys.stdin)["os-vol-host-attr:host"])'; }
END=$((GIB - 65536))

# --- M1: retype into the other backend's type: the RBD driver moves the image ----------
m1=$(api volume-create --type "$t1" --size 1 --name migrate-m1)
check "M1: Cinder makes a volume of the ceph type" api wait "$m1" available --timeout 120
check "M1: agent 1 formats it" wait_for 60 event_ended_as "$A1" "$m1" volume.create.end formatted
check "M1: data written through LUKS (start, last 64 KiB)" io "$A1" volumes "$m1" \
    -c "write -P 0xa1 0 64k" -c "write -P 0xa2 $END 64k"
check "M1: Cinder retypes it to the ceph2 type (on-demand migration)" \
    api volume-retype "$m1" "$t2" --migration-policy on-demand
check "M1: the migration ends" api wait-migrated "$m1"
check_eq "M1: Cinder has it on ceph2" "$CINDER_HOST@ceph2#ceph2" "$(host_of "$m1")"
check "M1: its image left pool volumes" bash -c "! timeout -s KILL 60 rbd --conf '$CEPH_CONF' --id admin -p volumes info volume-$m1 >/dev/null 2>&1"
check "M1: and is in pool $POOL2" in_pool "$POOL2" "$m1"
check "M1: agent 2 acts on the retype" wait_for 60 event_ended_as "$A2" "$m1" volume.retype .
check "M1: agent 2 finds its own header there: skipped, already formatted" \
    event_ended_as "$A2" "$m1" volume.retype "skipped already formatted by rbd-luks-agent"
indexed() { # POOL ID: the pool's volume index says formatted
    timeout -s KILL 30 rados --conf "$CEPH_CONF" --id admin -p "$1" getomapval rbd-luks-agent.index "$2" "$T_TMP/iv" >/dev/null 2>&1 &&
        grep -q "state=formatted" "$T_TMP/iv"
}
check "M1: and records it in $POOL2's volume index (its compute agents provision it)" indexed "$POOL2" "$m1"
check "M1: agent 1 hears of the retype onto ceph2: its image left, its index entry removed" \
    wait_for 30 event_ended_as "$A1" "$m1" volume.retype "removed retyped onto host $CINDER_HOST@ceph2#ceph2, not on a backend in \[volume\] backends: its image left pool volumes with it; index entry removed"
check "M1: pool volumes' index no longer lists it" bash -c "! timeout -s KILL 30 rados --conf '$CEPH_CONF' --id admin -p volumes getomapval rbd-luks-agent.index '$m1' /dev/null >/dev/null 2>&1"
check "M1: the key record came with the image" timeout -s KILL 60 rbd --conf "$CEPH_CONF" --id admin -p "$POOL2" image-meta get "volume-$m1" rbd-luks-agent.key
check_eq "M1: qemu shows exactly 1 GiB in $POOL2" "$GIB" "$(vsize "$A2" "$POOL2" "$m1")"
check "M1: the data reads back" io "$A2" "$POOL2" "$m1" -c "read -P 0xa1 0 64k" -c "read -P 0xa2 $END 64k"

# --- M2: Cinder's generic migration (force_host_copy) ----------------------------------
# What Cinder does here, recorded: a new volume on the destination with no notification
# at all (neither agent hears of it, nor of the move), `size` GiB copied into it
# (manager.py:2315, volume_utils.py:590), the image renamed to the volume's
# (rbd.py:2189-2195): the header comes along, the image metadata does not (the agent's
# key record stays with the deleted source), and the last payload-offset bytes of the
# guest's data are cut off. The agent cannot see it happen; its audit (volume_audit.h)
# reports the entry whose image left without a delete; docs/decisions.md ("Migrations")
# says what that means for operators.
m2=$(api volume-create --type "$t0" --size 1 --name migrate-m2)
check "M2: Cinder makes a volume of the type on either backend" api wait "$m2" available --timeout 120
h2=$(host_of "$m2")
case "$h2" in
*@ceph2#ceph2) from=$A2 fpool=$POOL2 tpool=volumes dest=$CINDER_HOST@ceph#ceph ;;
*) from=$A1 fpool=volumes tpool=$POOL2 dest=$CINDER_HOST@ceph2#ceph2 ;;
esac
check "M2: its agent formats it (on $h2)" wait_for 60 event_ended_as "$from" "$m2" volume.create.end formatted
check "M2: data written through LUKS (start, last 64 KiB)" io "$from" "$fpool" "$m2" \
    -c "write -P 0xb1 0 64k" -c "write -P 0xb2 $END 64k"
cp "$T_TMP/pass-$m2" "$T_TMP/pass-m2-before"
off2=$(timeout -s KILL 60 rbd --conf "$CEPH_CONF" --id admin -p "$fpool" image-meta get "volume-$m2" rbd-luks-agent.state | sed -n 's/.* offset=\([0-9]*\) .*/\1/p')
event_lines() { cat "$A1/state/results.jsonl" "$A2/state/results.jsonl" | grep -vc '"event_type":"rbd-luks-agent.audit"'; }
lines_before=$(event_lines)
check "M2: Cinder migrates it to $dest by host copy" api volume-migrate "$m2" "$dest" --force-host-copy
check "M2: the migration ends" api wait-migrated "$m2"
check_eq "M2: Cinder has it on $dest" "$dest" "$(host_of "$m2")"
check "M2: its image is in pool $tpool" in_pool "$tpool" "$m2"
sleep 2
check_eq "M2: no notification of the move reached either agent (no new result)" "$lines_before" \
    "$(event_lines)"
check "M2: the source's agent reports it in an audit: its image left pool $fpool without a delete" \
    wait_for 20 event_ended_as "$from" "$m2" rbd-luks-agent.audit "failed the volume index lists it, but its image volume-$m2 has not been in pool $fpool for two audits .*Cinder moved it by host copy"
reported_once() { test "$(grep -c "\"volume_id\":\"$m2\",\"event_type\":\"rbd-luks-agent.audit\"" "$from/state/results.jsonl")" = 1; }
sleep 5
check "M2: once, not at every audit" reported_once
m1_audited() { grep -q "\"volume_id\":\"$m1\",\"event_type\":\"rbd-luks-agent.audit\"" "$A1/state/results.jsonl" "$A2/state/results.jsonl"; }
check "M1 is never reported by an audit (its retype removed the entry)" not m1_audited
bytes2=$(timeout -s KILL 60 rbd --conf "$CEPH_CONF" --id admin -p "$tpool" info --format json "volume-$m2" | python3 -c 'import json,sys; print(json.load(sys.stdin)["size"])')
check_eq "M2: the moved image is exactly 1 GiB (the source was 1 GiB + $off2)" "$GIB" "$bytes2"
no_record() { ! timeout -s KILL 60 rbd --conf "$CEPH_CONF" --id admin -p "$tpool" image-meta get "volume-$m2" rbd-luks-agent.key >/dev/null 2>&1; }
check "M2: it carries no key record (image metadata is not copied)" no_record
old_io() { local POOL=$tpool; qemu_luks_io "$m2" "$T_TMP/pass-m2-before" "$@"; }
check "M2: its header is the source's: the old passphrase opens it, the start reads back" \
    old_io -c "read -P 0xb1 0 64k"
len2=$(POOL=$tpool luks_vsize "$m2" "$T_TMP/pass-m2-before")
check_eq "M2: and qemu shows 1 GiB less the payload offset: the guest's last $off2 bytes are gone" \
    "$((GIB - off2))" "$len2"

for v in "$m1" "$m2"; do api volume-delete "$v" >/dev/null 2>&1; done
for v in "$m1" "$m2"; do check "volume $v deleted through Cinder" api wait-deleted "$v" --timeout 120; done
for v in RUN1 FEED1 RUN2 FEED2; do
    stop_pid "${!v}"
    printf -v "$v" %s ""
done
