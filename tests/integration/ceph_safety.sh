# Never destroy data: replays change no byte, LUKS made by others is left
# alone, images that hold data are refused and stay as they were.
. "$(dirname "$0")/../lib/testlib.sh"

dir=$T_TMP/agent
# Conversion off: images holding data are refused (ceph_convert.sh converts them).
make_agent_dir "$dir" "volume.max_convert_gib = 0"
fresh=$(new_uuid) cinder=$(new_uuid) data=$(new_uuid) hdrdata=$(new_uuid) wrongsize=$(new_uuid)
for id in "$fresh" "$cinder" "$data" "$hdrdata" "$wrongsize"; do new_volume "$dir" "$id" 1; done

# A volume Cinder encrypted itself (qemu-img straight into RBD); qemu-img
# fails now and then here (FACTS.md), so it gets a few tries.
pc=$(passphrase_file "$dir" "$cinder")
rbd_ rm "volume-$cinder" >/dev/null 2>&1
for try in 1 2 3 4 5; do
    qemu-img create -f luks --object "secret,id=s0,file=$pc" -o key-secret=s0 \
        -o cipher-alg=aes-256,cipher-mode=xts,ivgen-alg=plain64,iter-time=10 \
        "rbd:$POOL/volume-$cinder:conf=$CEPH_CONF:id=admin" 1G >/dev/null 2>&1 && break
    rbd_ rm "volume-$cinder" >/dev/null 2>&1
done
timeout -s KILL 60 qemu-io -f raw -c "write -P 0x5a 100M 1M" "rbd:$POOL/volume-$data:conf=$CEPH_CONF:id=admin" >/dev/null
timeout -s KILL 60 qemu-io -f raw -c "write -P 0x11 0 4k" "rbd:$POOL/volume-$hdrdata:conf=$CEPH_CONF:id=admin" >/dev/null
head_bytes "$cinder" 4 "$T_TMP/cinder.before"
head_bytes "$hdrdata" 4 "$T_TMP/hdrdata.before"
sum_region() { timeout -s KILL 60 qemu-img dd -f raw -O raw "if=rbd:$POOL/volume-$1:conf=$CEPH_CONF:id=admin" "of=$T_TMP/r.bin" bs=1M skip=100 count=1 >/dev/null 2>&1; sha256sum <"$T_TMP/r.bin"; }
data_before=$(sum_region "$data")
size_before=$(rbd_ info --format json "volume-$data" | python3 -c 'import json,sys; print(json.load(sys.stdin)["size"])')

{
    event_json "$fresh" 1
    event_json "$cinder" 1
    event_json "$data" 1
    event_json "$hdrdata" 1
    event_json "$wrongsize" 5
} >>"$dir/events.jsonl"
run_once "$dir"
check_eq "run --once exits 1 when something was refused" 1 "$RUN_RC"
check_eq "fresh volume formatted" 1 "$(result_count "$dir/state" "$fresh" formatted)"
check_eq "Cinder-made LUKS volume skipped" 1 "$(result_count "$dir/state" "$cinder" skipped)"
check "skip reason names a foreign header" grep -q "not written by this agent" "$dir/state/results.jsonl"
head_bytes "$cinder" 4 "$T_TMP/cinder.after"
check "Cinder-made header byte-identical" cmp "$T_TMP/cinder.before" "$T_TMP/cinder.after"
check_eq "image with data refused" 1 "$(result_count "$dir/state" "$data" refused)"
check "refusal names the allocated extent" grep -q "allocated extent at offset" "$dir/state/results.jsonl"
check_eq "refused image's data unchanged" "$data_before" "$(sum_region "$data")"
check_eq "refused image's size unchanged" "$size_before" \
    "$(rbd_ info --format json "volume-$data" | python3 -c 'import json,sys; print(json.load(sys.stdin)["size"])')"
check_eq "image with data in the header area refused" 1 "$(result_count "$dir/state" "$hdrdata" refused)"
head_bytes "$hdrdata" 4 "$T_TMP/hdrdata.after"
check "header-area data unchanged" cmp "$T_TMP/hdrdata.before" "$T_TMP/hdrdata.after"
check_eq "size mismatch refused" 1 "$(result_count "$dir/state" "$wrongsize" refused)"
check "size mismatch reason" grep -q "but the volume is 5368709120 bytes" "$dir/state/results.jsonl"

# Replay every event: no header byte may change.
head_bytes "$fresh" 4 "$T_TMP/fresh.before"
cat "$dir/events.jsonl" >>"$T_TMP/replay" && cat "$T_TMP/replay" >>"$dir/events.jsonl"
run_once "$dir"
head_bytes "$fresh" 4 "$T_TMP/fresh.after"
check "replay leaves the header byte-identical" cmp "$T_TMP/fresh.before" "$T_TMP/fresh.after"
check_eq "replayed volume skipped as already ours" 1 "$(result_count "$dir/state" "$fresh" skipped)"
check "skip reason says already formatted by the agent" grep -q "already formatted by rbd-luks-agent" "$dir/state/results.jsonl"
check_eq "still exactly one formatted result for it" 1 "$(result_count "$dir/state" "$fresh" formatted)"

# format by hand: takes the image's size, then skips on the second run.
hand=$(new_uuid)
new_volume "$dir" "$hand" 1
check "format VOLUME_ID formats" "$AGENT" -c "$dir/agent.ini" format "$hand"
check "format VOLUME_ID again is skipped, exit 0" bash -c "'$AGENT' -c '$dir/agent.ini' format $hand | grep -q ' skipped: '"
ph=$(passphrase_file "$dir" "$hand")
check "hand-formatted volume opens" qemu_luks_io "$hand" "$ph" -c "read 0 4k"
check "format rejects a non-UUID" bash -c "'$AGENT' -c '$dir/agent.ini' format ../etc; [ \$? = 2 ]"

# A missing key: retried, then failed with the key file named; image untouched.
nokey=$(new_uuid)
rbd_ create --size 1024 "volume-$nokey"
make_agent_dir "$T_TMP/nokey" "retry.give_up_after_s = 1"
event_json "$nokey" 1 >>"$T_TMP/nokey/events.jsonl"
run_once "$T_TMP/nokey"
check_eq "missing key: exit 1" 1 "$RUN_RC"
check_eq "missing key: failed" 1 "$(result_count "$T_TMP/nokey/state" "$nokey" failed)"
check "missing key: reason names the key file" grep -q "$nokey.key" "$T_TMP/nokey/state/results.jsonl"
check_eq "missing key: image not grown" "$GIB" \
    "$(rbd_ info --format json "volume-$nokey" | python3 -c 'import json,sys; print(json.load(sys.stdin)["size"])')"
index_forget "$hand"
