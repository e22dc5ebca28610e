# The whole-image data check before a format, against real Ceph: data in
# any one object of a 4 TiB image is found (where the object map answers at
# once when nothing exists, and librbd walks the image otherwise), and so
# is data the object map cannot vouch for: a map flagged invalid, an image
# without one, a clone whose parent holds data. Nothing is written to a
# refused image; blank ones of each kind are formatted.
. "$(dirname "$0")/../lib/testlib.sh"

MIB=1048576
dir=$T_TMP/agent
# Conversion off: what the check finds is refused, not converted (4 TiB images here).
make_agent_dir "$dir" "volume.max_convert_gib = 0"
raw_io() { timeout -s KILL 60 qemu-io -f raw "rbd:$POOL/volume-$1:conf=$CEPH_CONF:id=admin" "${@:2}" >/dev/null 2>&1; }
# meta_keys ID: how many image metadata keys the image has (rbd prints
# nothing at all when there are none).
meta_keys() {
    rbd_ image-meta list --format json "volume-$1" | python3 -c 'import json,sys; t = sys.stdin.read().strip(); print(len(json.loads(t)) if t else 0)'
}
# volume GIB [rbd create options...]: a volume and its key; prints its id.
volume() {
    local id gib=$1
    shift
    id=$(new_uuid)
    rbd_ create --size "$((gib * 1024))" "$@" "volume-$id"
    head -c 32 /dev/urandom >"$dir/keys/$id.key"
    chmod 600 "$dir/keys/$id.key"
    event_json "$id" "$gib" >>"$dir/events.jsonl"
    echo "$id"
}
refused_at() { # ID OFFSET
    grep "\"volume_id\": *\"$1\"" "$dir/state/results.jsonl" | grep -q "\"outcome\": *\"refused\".*allocated extent at offset $2)"
}

T4=4096
blank=$(volume $T4)
five=$(volume $T4)
raw_io "$five" -c "write -P 0x61 $((5 * 4 * MIB + 4096)) 4k"
last=$(volume $T4)
raw_io "$last" -c "write -P 0x62 $((T4 * 1024 * MIB - 4096)) 4k"
# object-map enabled on an image that already holds data: librbd flags the
# map invalid until it is rebuilt, and the map itself says nothing exists.
invalid=$(volume 1)
rbd_ feature disable "volume-$invalid" fast-diff object-map
raw_io "$invalid" -c "write -P 0x63 $((12 * MIB)) 4k"
rbd_ feature enable "volume-$invalid" object-map
nomap=$(volume 1 --image-feature layering,exclusive-lock)
raw_io "$nomap" -c "write -P 0x64 $((1020 * MIB)) 4k"
nomap_blank=$(volume 1 --image-feature layering,exclusive-lock)
# A clone whose parent holds data at 8 MiB and which holds none itself.
rbd_ create --size 1024 parent-$$
timeout -s KILL 60 qemu-io -f raw "rbd:$POOL/parent-$$:conf=$CEPH_CONF:id=admin" -c "write -P 0x65 $((8 * MIB)) 4k" >/dev/null 2>&1
rbd_ snap create --no-progress "parent-$$@base"
rbd_ snap protect "parent-$$@base"
clone=$(new_uuid)
rbd_ clone "$POOL/parent-$$@base" "$POOL/volume-$clone"
head -c 32 /dev/urandom >"$dir/keys/$clone.key"
chmod 600 "$dir/keys/$clone.key"
event_json "$clone" 1 >>"$dir/events.jsonl"

check "the invalid map is flagged so" bash -c "rbd --conf '$CEPH_CONF' --id admin -p '$POOL' info 'volume-$invalid' | grep -q 'flags: object map invalid'"
run_once "$dir"
check_eq "run --once exits 1 (volumes refused)" 1 "$RUN_RC"
check_eq "blank 4 TiB volume: formatted" 1 "$(result_count "$dir/state" "$blank" formatted)"
check "4 TiB, data in object 5: refused at that object" refused_at "$five" $((5 * 4 * MIB))
check "4 TiB, data in the last object: refused at that object" refused_at "$last" $((T4 * 1024 * MIB - 4 * MIB))
check "map flagged invalid: its data is still found" refused_at "$invalid" $((12 * MIB))
check "no object map: data found by the walk" refused_at "$nomap" $((1020 * MIB))
check_eq "no object map, blank: formatted" 1 "$(result_count "$dir/state" "$nomap_blank" formatted)"
check "clone: its parent's data is data" refused_at "$clone" $((8 * MIB))
for id in "$five" "$last" "$invalid" "$nomap" "$clone"; do
    check_eq "refused volume $id: no key record or state stored" 0 "$(meta_keys "$id")"
done
check "4 TiB refused volume: its data unchanged" raw_io "$five" -c "read -P 0x61 $((5 * 4 * MIB + 4096)) 4k"
out=$(timeout -s KILL 60 qemu-io -f raw "rbd:$POOL/volume-$five:conf=$CEPH_CONF:id=admin" -c "read -P 0 0 4M" 2>&1)
check "4 TiB refused volume: header area still zeros" bash -c \
    "grep -q '^read 4194304/4194304 bytes' <<<'$out' && ! grep -q 'Pattern verification failed' <<<'$out'"
check_eq "4 TiB refused volume: size unchanged" $((T4 * 1024 * MIB)) \
    "$(rbd_ info --format json "volume-$five" | python3 -c 'import json,sys; print(json.load(sys.stdin)["size"])')"
check "blank 4 TiB volume opens in qemu" qemu_luks_io "$blank" "$(passphrase_file "$dir" "$blank")" -c "read 0 4k"
