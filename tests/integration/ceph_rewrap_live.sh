# keys rewrap on volumes in use. Every image has a writer that holds
# librbd's exclusive lock (`rbd bench`, standing in for a guest's qemu)
# from before the rewrap until after it. The rewrap must leave that lock
# alone: every writer ends without an error, every record is re-wrapped,
# every volume opens with its passphrase afterwards. Then two rewraps at
# once, still beside the writers: each record is re-wrapped by one of them
# only (one writer of the record at a time, through the agent's own record
# lock), a live holder of that lock is waited for and a dead one's broken.
. "$(dirname "$0")/../lib/testlib.sh"

N=10
# Per writer, through librbd's QoS, so that how long a writer lasts does not
# depend on how fast this machine is.
IOPS=40
WRITE_S=20
own_pool "rewrap-live-$$"

dir=$T_TMP/agent
formatted_for_writers "$dir" "$N"
ids=("${IDS[@]}")

# rbd bench writes anywhere in the raw image, the LUKS header too, where a
# guest behind qemu's LUKS driver never writes: each header is saved before
# the writers start and put back once they have ended.
raw_image() { echo "rbd:$POOL/volume-$1:conf=$CEPH_CONF:id=admin"; }
record_kek() { meta_get "$1" rbd-luks-agent.key | python3 -c 'import json,sys; print(json.load(sys.stdin)["kek"])'; }
header_bytes() { meta_get "$1" rbd-luks-agent.state | sed -n 's/.* offset=\([0-9]*\) .*/\1/p'; }
for id in "${ids[@]}"; do
    timeout -s KILL 60 qemu-img dd -f raw -O raw "if=$(raw_image "$id")" "of=$T_TMP/header-$id" \
        "bs=$(header_bytes "$id")" count=1 >/dev/null 2>&1
done

start_writers "$IOPS" "$WRITE_S" "${ids[@]}"
held=$(writers_holding)
check_eq "before the rewrap, every writer holds its image's exclusive lock" "$N" "$held"

new_kek "$dir/kek-2.bin"
use_keks "$dir" kek-2 "kek-1:$dir/kek-1.bin"
started=$SECONDS
keys_ "$dir" rewrap >"$T_TMP/rewrap.out" 2>&1
rc=$?
alive=$(writers_alive)
echo "   rewrap of $N volumes in use took $((SECONDS - started)) s"
check_eq "rewrap beside $N writers exits 0" 0 "$rc"
check "rewrap reports every volume re-wrapped" grep -qx "$N volumes: $N re-wrapped, 0 failed; header map: $N re-wrapped, 0 failed" "$T_TMP/rewrap.out"
check_eq "every writer was still writing when the rewrap ended" "$N" "$alive"

# The record lock: a live holder (another rewrap, by its cookie) is waited
# for, one provably gone is broken. A live one on the first volume the
# rewraps come to also makes the two of them meet there.
header_object() {
    echo "rbd_header.$(rbd_ info "volume-$1" --format json | python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])')"
}
record_lock() { # ID ARGS...: rados lock ARGS on the image's header object
    local id=$1 verb=$2
    shift 2
    timeout -s KILL 30 rados --conf "$CEPH_CONF" --id admin -p "$POOL" lock "$verb" \
        "$(header_object "$id")" rbd-luks-agent.record "$@"
}
hold_record_lock() { # ID PID: as an agent on this host whose pid is PID would
    local boot pidns
    boot=$(tr -d - </proc/sys/kernel/random/boot_id)
    pidns=$(stat -L -c %i /proc/self/ns/pid)
    record_lock "$1" get --lock-type exclusive --lock-cookie \
        "rbd-luks-agent host=$(hostname) boot=$boot pidns=$pidns pid=$2 instance=0123456789abcdef n=1 time=$(date +%s)"
}
record_lockers() { # ID: "NAME COOKIE" per holder
    record_lock "$1" info | python3 -c 'import json,sys
for l in json.load(sys.stdin)["lockers"]: print(l["name"], l["cookie"])'
}
release_record_lock() { # ID
    local name cookie
    read -r name cookie < <(record_lockers "$1")
    record_lock "$1" break "$name" --lock-cookie "$cookie"
}
first=$(printf '%s\n' "${ids[@]}" | sort | head -n 1)
last=$(printf '%s\n' "${ids[@]}" | sort | tail -n 1)
dead=4000000
while kill -0 "$dead" 2>/dev/null; do dead=$((dead + 1)); done
hold_record_lock "$first" $$
hold_record_lock "$last" "$dead"
new_kek "$dir/kek-3.bin"
use_keks "$dir" kek-3 "kek-2:$dir/kek-2.bin"
keys_ "$dir" rewrap >"$T_TMP/rewrap-a.out" 2>&1 &
a=$!
keys_ "$dir" rewrap >"$T_TMP/rewrap-b.out" 2>&1 &
b=$!
sleep 3
check_eq "while a live holder has the record lock, no rewrap writes that record" kek-2 "$(record_kek "$first")"
release_record_lock "$first"
wait "$a"
rc_a=$?
wait "$b"
rc_b=$?
alive=$(writers_alive)
rewrapped() { sed -n 's/^volume \([^:]*\): re-wrapped with.*/\1/p' "$T_TMP/rewrap-a.out" "$T_TMP/rewrap-b.out"; }
check_eq "two rewraps at once, beside the writers, both exit 0" "0 0" "$rc_a $rc_b"
check_eq "between them they re-wrapped every volume" "$N" "$(rewrapped | sort -u | wc -l)"
check_eq "and none twice" "" "$(rewrapped | sort | uniq -d)"
check_eq "every writer was still writing when both rewraps had ended" "$N" "$alive"
check "a record lock whose holder is gone is broken, and the log says so" \
    grep -q "volume $last: breaking the stale lock on its key record held by \"rbd-luks-agent host=.* pid=$dead " \
    "$T_TMP/rewrap-a.out" "$T_TMP/rewrap-b.out"
left=0
for id in "${ids[@]}"; do [ -n "$(record_lockers "$id")" ] && left=$((left + 1)); done
check_eq "no record lock is left behind" 0 "$left"

check_writers_ended "every writer finished without an error"

use_keks "$dir" kek-3
current=0 opens=0 verified=0
for id in "${ids[@]}"; do
    timeout -s KILL 60 qemu-io -f raw "$(raw_image "$id")" \
        -c "write -q -s $T_TMP/header-$id 0 $(stat -c %s "$T_TMP/header-$id")" >/dev/null 2>&1
    [ "$(record_kek "$id")" = kek-3 ] && current=$((current + 1))
    keys_ "$dir" passphrase "$id" >"$T_TMP/pass" 2>/dev/null &&
        qemu_luks_io "$id" "$T_TMP/pass" -c "read 0 4k" >/dev/null 2>&1 && opens=$((opens + 1))
    keys_ "$dir" verify "$id" >/dev/null 2>&1 && verified=$((verified + 1))
done
check_eq "every record is wrapped with the newest KEK" "$N" "$current"
check_eq "with the old KEKs removed, every volume opens with its passphrase" "$N" "$opens"
check_eq "keys verify passes on every volume" "$N" "$verified"
drop_pool
