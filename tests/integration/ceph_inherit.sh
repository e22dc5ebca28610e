# Keys follow the ciphertext (docs/decisions.md, "Keys follow the
# ciphertext"). A new volume whose image starts with a header the agent made
# for another volume gets that key re-bound to its own id: an RBD clone (as
# Cinder makes a volume from a snapshot or a clone of a volume, same size or
# resized to exactly a larger one), and a copy of the bytes alone (as a
# backup's restore or a migration makes it, no image metadata). Each opens
# with its own passphrase, shows exactly its size, and reads the parent's
# data. A deleted volume's record is kept (deleted_keys = keep) or shredded
# (= shred: a copy then fails closed, with the reason); the file provider
# cannot re-bind and fails closed; a header from before the header map is
# found again by `index rebuild`.
. "$(dirname "$0")/../lib/testlib.sh"

own_pool "inherit-$$"
TYPE=b5a2c7e2-4c7d-4a8e-9d7c-2f9d8c1e6a11
dir=$T_TMP/agent
make_agent_dir "$dir" "agent.workers = 2"
new_kek "$dir/kek-1.bin"
use_keks "$dir" kek-1

pass_of() { keys_ "$dir" passphrase "$1" >"$T_TMP/pass-$1" 2>>"$dir/agent.log" && echo "$T_TMP/pass-$1"; }
# last_result ID: outcome and reason of the volume's last result.
last_result() {
    grep -h "\"volume_id\": *\"$1\"" "$dir/state/results.jsonl" | tail -n1 |
        python3 -c 'import json,sys; r = json.loads(sys.stdin.read()); print(r["outcome"], r.get("reason", ""))'
}
index_state() { rados --conf "$CEPH_CONF" --id admin -p "$POOL" getomapval rbd-luks-agent.index "$1" /dev/stdout 2>/dev/null | sed -n 's/.*state=\([a-z]*\).*/\1/p'; }
map_value() { # UUID ID
    rados --conf "$CEPH_CONF" --id admin -p "$POOL" getomapval rbd-luks-agent.headers "$1/$2" /dev/stdout 2>/dev/null
}
uuid_of() { rbd_ image-meta get "volume-$1" rbd-luks-agent.state | sed -n 's/.* uuid=\([0-9a-f-]*\).*/\1/p'; }
create_end() { event_json "$1" "$2" "$TYPE" >>"$dir/events.jsonl"; }
delete_end() { event_json "$1" "$2" "$TYPE" volume.delete.end >>"$dir/events.jsonl"; }

# --- the parent: formatted, data written ---------------------------------------------
p=$(new_uuid)
rbd_ create --size 1024 "volume-$p"
create_end "$p" 1
run_once "$dir"
check_eq "parent formatted" 1 "$(result_count "$dir/state" "$p" formatted)"
puuid=$(uuid_of "$p")
check "the header map holds the parent's record under its header's UUID" \
    grep -q '^v1 created=[0-9]* deleted=- record={' <<<"$(map_value "$puuid" "$p")"
pp=$(pass_of "$p")
check "qemu writes the parent's data" qemu_luks_io "$p" "$pp" \
    -c "write -P 0x51 0 64k" -c "write -P 0x52 $((GIB - 65536)) 64k"

# --- RBD clones, as Cinder makes them -------------------------------------------------
# (A second later than the parent's entry: a copy re-binds from the oldest.)
sleep 1
rbd_ snap create "volume-$p@snap-1" >/dev/null 2>&1
rbd_ snap protect "volume-$p@snap-1" >/dev/null 2>&1
same=$(new_uuid) big=$(new_uuid)
rbd_ clone "$POOL/volume-$p@snap-1" "$POOL/volume-$same" >/dev/null 2>&1
rbd_ clone "$POOL/volume-$p@snap-1" "$POOL/volume-$big" >/dev/null 2>&1
# Cinder resizes a larger clone to exactly its size (cinder/volume/drivers/rbd.py _clone).
rbd_ resize --size 2048 "volume-$big" >/dev/null 2>&1
check "a clone carries the parent's key record (librbd copies the metadata)" \
    test "$(rbd_ image-meta get "volume-$same" rbd-luks-agent.key)" = "$(rbd_ image-meta get "volume-$p" rbd-luks-agent.key)"
create_end "$same" 1
create_end "$big" 2
run_once "$dir"
check_eq "run --once exits 0" 0 "$RUN_RC"
check "same-size clone: inherited from the parent" grep -q "^inherited inherited from $p: LUKS header $puuid" <<<"$(last_result "$same")"
check "larger clone: inherited from the parent, image grown" grep -q "^inherited inherited from $p: .*(image grown)" <<<"$(last_result "$big")"
check_eq "the clone's index entry: formatted" formatted "$(index_state "$same")"
ps=$(pass_of "$same")
pb=$(pass_of "$big")
check "keys passphrase works for the clone (its record opens for its own id)" test -s "$ps"
check "the clone's passphrase is the parent's key (one header, one key)" cmp -s "$pp" "$ps"
check_eq "same-size clone: qemu shows exactly 1 GiB" "$GIB" "$(luks_vsize "$same" "$ps")"
check_eq "larger clone: qemu shows exactly 2 GiB" "$((2 * GIB))" "$(luks_vsize "$big" "$pb")"
check "same-size clone reads the parent's data" qemu_luks_io "$same" "$ps" \
    -c "read -P 0x51 0 64k" -c "read -P 0x52 $((GIB - 65536)) 64k"
check "larger clone reads the parent's data, and writes its last 64 KiB" qemu_luks_io "$big" "$pb" \
    -c "read -P 0x51 0 64k" -c "read -P 0x52 $((GIB - 65536)) 64k" \
    -c "write -P 0x53 $((2 * GIB - 65536)) 64k" -c "read -P 0x53 $((2 * GIB - 65536)) 64k"
check "the clones are in the header map under the same UUID" \
    bash -c "[ -n \"\$(rados --conf '$CEPH_CONF' --id admin -p '$POOL' getomapval rbd-luks-agent.headers '$puuid/$same' /dev/stdout)\" ]"
check "the parent still opens with its own passphrase" qemu_luks_io "$p" "$pp" -c "read -P 0x51 0 64k"

# A replay changes nothing.
create_end "$big" 2
run_once "$dir"
check "replayed create.end of the clone: skipped, already formatted" \
    grep -q "^skipped already formatted by rbd-luks-agent" <<<"$(last_result "$big")"
check_eq "... and the image not grown again" "$((2 * GIB + $(rbd_ image-meta get "volume-$big" rbd-luks-agent.state | sed -n 's/.* offset=\([0-9]*\) .*/\1/p')))" "$(image_bytes "$big")"

# --- the bytes alone (a restore, a migration): no image metadata -----------------------
copy=$(new_uuid)
rbd_ export "volume-$p" "$T_TMP/p.raw" >/dev/null 2>&1
rbd_ import "$T_TMP/p.raw" "volume-$copy" >/dev/null 2>&1
check "an imported copy has no key record" bash -c "! rbd --conf '$CEPH_CONF' --id admin -p '$POOL' image-meta get volume-$copy rbd-luks-agent.key"
create_end "$copy" 1
run_once "$dir"
# Any volume holding that header's key will do; the oldest live one is the parent.
check "a copy without metadata: inherited from the parent" grep -q "^inherited inherited from $p" <<<"$(last_result "$copy")"
pc=$(pass_of "$copy")
check "the copy reads the parent's data with its own passphrase" qemu_luks_io "$copy" "$pc" -c "read -P 0x51 0 64k"

# backed_up_then_deleted ID: a new volume formatted, 0x61 written, its bytes
# exported to $T_TMP/ID.raw (a backup), then deleted as Cinder does; its
# header's UUID in DUUID.
backed_up_then_deleted() {
    rbd_ create --size 1024 "volume-$1"
    create_end "$1" 1
    run_once "$dir"
    DUUID=$(uuid_of "$1")
    qemu_luks_io "$1" "$(pass_of "$1")" -c "write -P 0x61 0 64k" >/dev/null 2>&1
    rbd_ export "volume-$1" "$T_TMP/$1.raw" >/dev/null 2>&1
    rbd_ rm "volume-$1" >/dev/null 2>&1
    delete_end "$1" 1
    run_once "$dir"
}
# restore_of ID: a new volume from ID's backup, its create.end handled; its id.
restore_of() {
    local new
    new=$(new_uuid)
    rbd_ import "$T_TMP/$1.raw" "volume-$new" >/dev/null 2>&1
    create_end "$new" 1
    run_once "$dir"
    echo "$new"
}

# --- Cinder's manage-existing (volume.manage_existing.end): an agent volume's
# bytes re-bound, a plain image converted (ceph_convert.sh) -------------------------------
managed=$(new_uuid) plain=$(new_uuid)
rbd_ import "$T_TMP/p.raw" "volume-$managed" >/dev/null 2>&1
rbd_ create --size 1024 "volume-$plain"
timeout -s KILL 60 qemu-io -f raw "rbd:$POOL/volume-$plain:conf=$CEPH_CONF:id=admin" -c "write -P 0x71 0 64k" >/dev/null 2>&1
for v in "$managed" "$plain"; do event_json "$v" 1 "$TYPE" volume.manage_existing.end >>"$dir/events.jsonl"; done
run_once "$dir"
check "manage_existing.end of an agent volume's bytes: inherited from the parent" \
    grep -q "^inherited inherited from $p" <<<"$(last_result "$managed")"
check "... and it reads the parent's data" qemu_luks_io "$managed" "$(pass_of "$managed")" -c "read -P 0x51 0 64k"
check "manage_existing.end of a plain image: converted (it holds data)" \
    grep -q "^converted converted: 1073741824 bytes of data copied" <<<"$(last_result "$plain")"
check "... it reads its data through qemu's LUKS driver" qemu_luks_io "$plain" "$(pass_of "$plain")" -c "read -P 0x71 0 64k"
check_eq "... its index entry: formatted" formatted "$(index_state "$plain")"

# --- deleted_keys = keep: a deleted volume's backup still opens -------------------------
kept=$(new_uuid)
backed_up_then_deleted "$kept"
kuuid_all=$DUUID
check "delete.end: the reason says the record is kept" grep -q "kept, marked deleted (deleted_keys = keep)" <<<"$(last_result "$kept")"
check "the header map marks it deleted and keeps the record" \
    grep -q '^v1 created=[0-9]* deleted=[0-9]* record={' <<<"$(map_value "$DUUID" "$kept")"
restored=$(restore_of "$kept")
check "a restore of the deleted volume: inherited from it" grep -q "^inherited inherited from $kept" <<<"$(last_result "$restored")"
check "the restore reads the deleted volume's data" qemu_luks_io "$restored" "$(pass_of "$restored")" -c "read -P 0x61 0 64k"

# --- deleted_keys = shred: the copy fails closed -----------------------------------------
sed -i '/^\[volume\]/a deleted_keys = shred' "$dir/agent.ini"
gone=$(new_uuid)
backed_up_then_deleted "$gone"
check "delete.end: the reason says the record is shredded" grep -q "shredded (deleted_keys = shred)" <<<"$(last_result "$gone")"
check "the header map keeps only that it was shredded" \
    grep -q '^v1 created=[0-9]* deleted=[0-9]* record=shredded$' <<<"$(map_value "$DUUID" "$gone")"
late=$(new_uuid)
rbd_ import "$T_TMP/$gone.raw" "volume-$late" >/dev/null 2>&1
create_end "$late" 1
run_once "$dir"
check_eq "run --once exits 1 (a failure)" 1 "$RUN_RC"
check "a restore of a shredded volume: failed, and says why" \
    grep -q "^failed LUKS header $DUUID of volume $gone, whose key was shredded" <<<"$(last_result "$late")"
check_eq "its index entry: failed (compute hosts keep the placeholder)" failed "$(index_state "$late")"
sed -i '/^deleted_keys = shred/d' "$dir/agent.ini"

# --- the file provider cannot re-bind: fails closed --------------------------------------
fdir=$T_TMP/file-agent
make_agent_dir "$fdir"
fclone=$(new_uuid)
rbd_ clone "$POOL/volume-$p@snap-1" "$POOL/volume-$fclone" >/dev/null 2>&1
head -c 32 /dev/urandom >"$fdir/keys/$fclone.key"
chmod 600 "$fdir/keys/$fclone.key"
event_json "$fclone" 1 "$TYPE" >>"$fdir/events.jsonl"
run_once "$fdir"
check "file provider, a clone of an agent volume: failed, the provider cannot re-bind" \
    bash -c "grep -h '\"volume_id\": *\"$fclone\"' '$fdir/state/results.jsonl' | grep '\"outcome\": *\"failed\"' | grep -q 'the file provider cannot re-bind its key to this volume'"
# (Gone again: its image carries the parent's record, which keys rewrap below
# would rightly report as another volume's.)
rbd_ rm "volume-$fclone" >/dev/null 2>&1

# --- a header from before the header map: index rebuild finds it ------------------------
old=$(new_uuid)
rbd_ create --size 1024 "volume-$old"
create_end "$old" 1
run_once "$dir"
ouuid=$(uuid_of "$old")
rados --conf "$CEPH_CONF" --id admin -p "$POOL" rmomapkey rbd-luks-agent.headers "$ouuid/$old" >/dev/null 2>&1
rbd_ snap create "volume-$old@s" >/dev/null 2>&1
rbd_ snap protect "volume-$old@s" >/dev/null 2>&1
oclone=$(new_uuid)
rbd_ clone "$POOL/volume-$old@s" "$POOL/volume-$oclone" >/dev/null 2>&1
create_end "$oclone" 1
run_once "$dir"
check "a clone of a volume the header map lacks: failed, naming index rebuild" \
    grep -q "^failed .*run \`rbd-luks-agent index rebuild\`, then \`rbd-luks-agent format $oclone\`" <<<"$(last_result "$oclone")"
timeout -s KILL 120 "$AGENT" -c "$dir/agent.ini" index rebuild >"$T_TMP/rebuild.out" 2>&1
check "index rebuild puts the old volume back in the header map" \
    grep -q '^v1 created=[0-9]* deleted=- record={' <<<"$(map_value "$ouuid" "$old")"
timeout -s KILL 120 "$AGENT" -c "$dir/agent.ini" format "$oclone" >"$T_TMP/format.out" 2>&1
check "then format CLONE: inherited" grep -q "^$oclone inherited: inherited from $old" "$T_TMP/format.out"

# --- a KEK rotation re-wraps the header map too: a deleted volume's backup
# opens after the old KEK is gone ----------------------------------------------------
# The restore goes too: only deleted volumes' records are left for that header.
rbd_ rm "volume-$restored" >/dev/null 2>&1
delete_end "$restored" 1
run_once "$dir"
late2=$(new_uuid)
rbd_ import "$T_TMP/$kept.raw" "volume-$late2" >/dev/null 2>&1
new_kek "$dir/kek-2.bin"
use_keks "$dir" kek-2 "kek-1:$dir/kek-1.bin"
keys_ "$dir" rewrap >"$T_TMP/rewrap.out" 2>&1
check_eq "keys rewrap with kek-2 exits 0" 0 $?
check "it re-wraps the deleted volume's record in the header map" \
    grep -q "^header map: volume $kept (deleted) (header [0-9a-f-]*): re-wrapped with KEK kek-2" "$T_TMP/rewrap.out"
check "the summary counts the header map" grep -qE "; header map: [1-9][0-9]* re-wrapped, 0 failed$" "$T_TMP/rewrap.out"
check "the header map holds no record under kek-1 any more" \
    bash -c "! rados --conf '$CEPH_CONF' --id admin -p '$POOL' listomapvals rbd-luks-agent.headers | grep -q 'kek-1'"
use_keks "$dir" kek-2
create_end "$late2" 1
run_once "$dir"
check "kek-1 removed: a later restore of the deleted volume still inherits its key" \
    grep -q "^inherited inherited from $kept" <<<"$(last_result "$late2")"
check "... and reads its data" qemu_luks_io "$late2" "$(pass_of "$late2")" -c "read -P 0x61 0 64k"

# --- a retention period: index headers, index shred-deleted DAYS --------------------------
timeout -s KILL 60 "$AGENT" -c "$dir/agent.ini" index headers >"$T_TMP/headers.out" 2>&1
check "index headers lists the kept record of a deleted volume" \
    grep -qE "^[0-9a-f-]{36}  $kept  [0-9T:Z-]{20}  [0-9T:Z-]{20}  kept$" "$T_TMP/headers.out"
check "and the shredded one" grep -qE "  $gone  .*  shredded$" "$T_TMP/headers.out"
timeout -s KILL 60 "$AGENT" -c "$dir/agent.ini" index shred-deleted 1 >"$T_TMP/shred1.out" 2>&1
check "shred-deleted 1: nothing deleted a day ago yet" grep -qx "0 records shredded, 0 failed" "$T_TMP/shred1.out"
timeout -s KILL 60 "$AGENT" -c "$dir/agent.ini" index shred-deleted 0 --dry-run >"$T_TMP/shred0d.out" 2>&1
check "shred-deleted 0 --dry-run names the deleted volume" grep -q "^volume $kept: would be shredded" "$T_TMP/shred0d.out"
check "... and changes nothing" grep -q '^v1 created=[0-9]* deleted=[0-9]* record={' <<<"$(map_value "$kuuid_all" "$kept")"
timeout -s KILL 60 "$AGENT" -c "$dir/agent.ini" index shred-deleted 0 >"$T_TMP/shred0.out" 2>&1
check "shred-deleted 0: the deleted volumes' records are gone" \
    grep -q '^v1 created=[0-9]* deleted=[0-9]* record=shredded$' <<<"$(map_value "$kuuid_all" "$kept")"
check "a live volume's record stays" grep -q 'record={' <<<"$(map_value "$puuid" "$p")"
check_eq "shred-deleted with a bad DAYS: usage, exit 2" 2 "$(timeout -s KILL 60 "$AGENT" -c "$dir/agent.ini" index shred-deleted -3 >/dev/null 2>&1; echo $?)"

drop_pool
