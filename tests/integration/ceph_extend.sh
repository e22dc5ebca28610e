# volume.resize.end: Cinder's RBD driver resizes the raw image to exactly the
# new size; the volume role grows it back by the payload offset, so qemu's
# LUKS driver shows exactly the new size and the data stays. A create.end
# and its resize.end in one batch, with four workers, run in that order
# (one volume's jobs one at a time); a replay changes nothing; never a
# shrink; an image the agent did not format is left alone.
. "$(dirname "$0")/../lib/testlib.sh"

dir=$T_TMP/agent
make_agent_dir "$dir" "agent.workers = 4"
RESIZE=volume.resize.end
TYPE=b5a2c7e2-4c7d-4a8e-9d7c-2f9d8c1e6a11
state_of() { rbd_ image-meta get "volume-$1" rbd-luks-agent.state 2>/dev/null; }
offset_of() { state_of "$1" | sed -n 's/.* offset=\([0-9]*\) .*/\1/p'; }
# resized_as ID REGEX: the last resize.end result of volume ID matches REGEX.
resized_as() {
    grep -h "\"volume_id\": *\"$1\"" "$dir/state/results.jsonl" |
        grep "\"event_type\": *\"$RESIZE\"" | tail -n1 | grep -q "$2"
}

# A create.end and its resize.end, one after the other in the hook file,
# handled by four workers in one run: the resize must wait for the format
# (run first, it would find nothing to grow, and the format would then
# leave the old size).
v=$(new_uuid)
new_volume "$dir" "$v" 1
{ event_json "$v" 1; event_json "$v" 2 "$TYPE" "$RESIZE"; } >>"$dir/events.jsonl"
run_once "$dir"
check_eq "run --once exits 0" 0 "$RUN_RC"
check_eq "create.end, then resize.end: formatted" 1 "$(result_count "$dir/state" "$v" formatted)"
check_eq "... then resized" 1 "$(result_count "$dir/state" "$v" resized)"
off=$(offset_of "$v")
check "the state records the payload offset" test -n "$off"
check_eq "image: 2 GiB + the payload offset" "$((2 * GIB + off))" "$(image_bytes "$v")"
pass=$(passphrase_file "$dir" "$v")
check_eq "qemu's LUKS driver: exactly 2 GiB" "$((2 * GIB))" "$(luks_vsize "$v" "$pass")"
check "the state's payload= follows" grep -q "^formatted payload=$((2 * GIB)) offset=$off " <<<"$(state_of "$v")"
check "qemu writes at the start and the last 64 KiB of the 2 GiB" qemu_luks_io "$v" "$pass" \
    -c "write -P 0x71 0 64k" -c "write -P 0x72 $((2 * GIB - 65536)) 64k"

# Cinder's extend to 3 GiB: its RBD driver resizes the image to exactly that.
rbd_ resize --size 3072 "volume-$v" >/dev/null 2>&1
check_eq "(Cinder's resize: exactly 3 GiB)" "$((3 * GIB))" "$(image_bytes "$v")"
event_json "$v" 3 "$TYPE" "$RESIZE" >>"$dir/events.jsonl"
run_once "$dir"
check "resized: grown from Cinder's 3 GiB by the payload offset" resized_as "$v" \
    "\"outcome\": *\"resized\".*image grown from $((3 * GIB)) to $((3 * GIB + off)) bytes"
check_eq "qemu's LUKS driver: exactly 3 GiB" "$((3 * GIB))" "$(luks_vsize "$v" "$pass")"
check "the data written before reads back" qemu_luks_io "$v" "$pass" \
    -c "read -P 0x71 0 64k" -c "read -P 0x72 $((2 * GIB - 65536)) 64k"

# Replayed: nothing to do. A smaller size: never a shrink.
event_json "$v" 3 "$TYPE" "$RESIZE" >>"$dir/events.jsonl"
run_once "$dir"
check "a replayed resize.end: skipped, already that size" resized_as "$v" \
    "\"outcome\": *\"skipped\".*image is already $((3 * GIB + off)) bytes"
event_json "$v" 1 "$TYPE" "$RESIZE" >>"$dir/events.jsonl"
run_once "$dir"
check "a resize.end to less: skipped, never shrunk" resized_as "$v" \
    '"outcome": *"skipped".*never shrunk'
check_eq "the image keeps 3 GiB + the offset" "$((3 * GIB + off))" "$(image_bytes "$v")"
check_eq "two resized results in all" 2 "$(result_count "$dir/state" "$v" resized)"

# An image the agent did not format (its type in scope): left alone.
plain=$(new_uuid)
new_volume "$dir" "$plain" 1
event_json "$plain" 2 "$TYPE" "$RESIZE" >>"$dir/events.jsonl"
rbd_ resize --size 2048 "volume-$plain" >/dev/null 2>&1
run_once "$dir"
check "not the agent's: skipped, nothing to grow" resized_as "$plain" \
    '"outcome": *"skipped".*not formatted by rbd-luks-agent: nothing to grow'
check_eq "its image stays 2 GiB" "$((2 * GIB))" "$(image_bytes "$plain")"
index_forget "$v" "$plain"
