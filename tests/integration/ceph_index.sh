# The pool's volume index on the private cluster: what the volume role
# records for each ending, the entry gone on volume.delete.end, and
# `index rebuild` deriving it again from the images after the index object
# was lost.
# run.sh: serial (rebuilds the whole volume index of the shared pool; runs a compute agent)
. "$(dirname "$0")/../lib/testlib.sh"

dir=$T_TMP/agent
# Conversion off: the volume with data is refused (its index entry says so).
make_agent_dir "$dir" "volume.max_convert_gib = 0"
idx() { "$AGENT" -c "$dir/agent.ini" index list 2>/dev/null | awk -v v="$1" '$1 == v { print $2 }'; }
good=$(new_uuid) data=$(new_uuid) foreign=$(new_uuid) gone=$(new_uuid)
for v in "$good" "$data" "$gone"; do new_volume "$dir" "$v" 1; done
timeout -s KILL 60 qemu-io -f raw -c "write -P 0x5a 100M 1M" "rbd:$POOL/volume-$data:conf=$CEPH_CONF:id=admin" >/dev/null 2>&1
echo -n 0123456789abcdef0123456789abcdef >"$T_TMP/fpass"
for try in 1 2 3 4 5; do
    timeout -s KILL 120 qemu-img create -f luks --object "secret,id=s0,file=$T_TMP/fpass" -o key-secret=s0 \
        -o iter-time=10 "rbd:$POOL/volume-$foreign:conf=$CEPH_CONF:id=admin" 1G >/dev/null 2>&1 && break
    rbd_ rm "volume-$foreign" >/dev/null 2>&1
done
for v in "$good" "$data" "$foreign" "$gone"; do event_json "$v" 1 >>"$dir/events.jsonl"; done
run_once "$dir"
check_eq "formatted volume: index says formatted" formatted "$(idx "$good")"
check_eq "volume with data: index says refused" refused "$(idx "$data")"
check_eq "header the agent did not write: index says foreign" foreign "$(idx "$foreign")"
uuid=$("$AGENT" -c "$dir/agent.ini" index list 2>/dev/null | awk -v v="$good" '$1 == v { print $NF }')
head_bytes "$good" 4 "$T_TMP/good.hdr"
check "the formatted entry has a LUKS UUID" test -n "$uuid"
check_eq "the entry carries the header's LUKS UUID" "$(cryptsetup luksUUID "$T_TMP/good.hdr" 2>/dev/null)" "$uuid"
check "the entry carries type, host and zone from the event" bash -c "'$AGENT' -c '$dir/agent.ini' index list | grep '^$good' | grep -q 'b5a2c7e2-4c7d-4a8e-9d7c-2f9d8c1e6a11  *cinder-host@rbd#rbd  *nova '"

# volume.delete.end: the entry goes (Cinder deleted the image before it).
rbd_ rm "volume-$gone" >/dev/null 2>&1
event_json "$gone" 1 b5a2c7e2-4c7d-4a8e-9d7c-2f9d8c1e6a11 volume.delete.end >>"$dir/events.jsonl"
run_once "$dir"
check_eq "delete.end removes the entry" "" "$(idx "$gone")"
check "its result says removed" grep -q "\"volume_id\":\"$gone\",\"event_type\":\"volume.delete.end\",.*\"outcome\":\"removed\"" "$dir/state/results.jsonl"

# The index object lost: rebuild derives formatted and foreign from the images.
timeout -s KILL 30 rados --conf "$CEPH_CONF" --id admin -p "$POOL" rm rbd-luks-agent.index
check_eq "index lost: no entry" "" "$(idx "$good")"
"$AGENT" -c "$dir/agent.ini" index rebuild --dry-run >"$T_TMP/dry.out" 2>&1
check "rebuild --dry-run says what it would add" bash -c "grep -q '^volume $good: would be added as formatted' '$T_TMP/dry.out' && grep -q '^volume $foreign: would be added as foreign' '$T_TMP/dry.out'"
check_eq "and writes nothing" "" "$(idx "$good")"
"$AGENT" -c "$dir/agent.ini" index rebuild >"$T_TMP/rebuild.out" 2>&1
check_eq "rebuild exits 0" 0 $?
check_eq "rebuild: formatted again" formatted "$(idx "$good")"
check_eq "rebuild: foreign again" foreign "$(idx "$foreign")"
check_eq "rebuild: a refused image says nothing of itself, so it is not invented" "" "$(idx "$data")"
check "rebuild keeps the header's UUID" bash -c "'$AGENT' -c '$dir/agent.ini' index list | grep '^$good' | grep -q '$uuid\$'"
# An entry whose image is gone is removed; a second rebuild changes nothing.
ghost=$(new_uuid)
printf 'v1 state=formatted type=- host=- zone=- uuid=- time=1' >"$T_TMP/ghost"
timeout -s KILL 30 rados --conf "$CEPH_CONF" --id admin -p "$POOL" setomapval rbd-luks-agent.index "$ghost" --input-file "$T_TMP/ghost"
check_eq "a hand-made entry is listed" formatted "$(idx "$ghost")"
"$AGENT" -c "$dir/agent.ini" index rebuild >"$T_TMP/rebuild2.out" 2>&1
check "rebuild removes the entry of an image that is gone" grep -q "^volume $ghost: removed (its image is gone)" "$T_TMP/rebuild2.out"
"$AGENT" -c "$dir/agent.ini" index rebuild >"$T_TMP/rebuild3.out" 2>&1
check "a second rebuild changes nothing" grep -q ": 0 changed, 0 failed$" "$T_TMP/rebuild3.out"
check "index rebuild refuses the compute role's config" bash -c "sed 's/^role = volume/role = compute/; /^\[volume\]/,/^types/d' '$dir/agent.ini' >'$T_TMP/c.ini'; ! '$AGENT' -c '$T_TMP/c.ini' index rebuild 2>/dev/null"
# rebuild listed every formatted image of the shared pool, with no type: the
# compute tests after this one must not meet those (other tests' keys).
timeout -s KILL 30 rados --conf "$CEPH_CONF" --id admin -p "$POOL" rm rbd-luks-agent.index
