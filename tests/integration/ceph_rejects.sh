# Malformed, truncated and oversized lines are copied to rejects.jsonl with
# a reason and their place, and valid events after them are still handled.
. "$(dirname "$0")/../lib/testlib.sh"

dir=$T_TMP/agent
make_agent_dir "$dir" "agent.max_line_bytes = 4096"
good=$(new_uuid)
new_volume "$dir" "$good" 1
{
    echo 'this is not json'
    echo '{"event_type": "volume.create.end", "payload": {"volume_id": "'"$good"'", "size": '
    printf '{"event_type": "volume.create.end", "payload": {"volume_id": "%s", "size": 1, "pad": "%s"}}\n' "$good" "$(head -c 10000 /dev/zero | tr '\0' x)"
    echo '{"event_type": "volume.create.end", "payload": {"volume_id": "not-a-uuid", "size": 1}}'
    echo '{"event_type": "volume.create.end", "payload": {"volume_id": "'"$good"'"}}'
    echo '{"oslo.version": "2.0", "oslo.message": 42}'
    event_json "$good" 1
} >>"$dir/events.jsonl"
printf '{"event_type": "volume.create.end", "payl' >>"$dir/events.jsonl"

run_once "$dir"
check_eq "run --once exits 1 (lines were rejected)" 1 "$RUN_RC"
check_eq "valid event after bad lines formatted" 1 "$(result_count "$dir/state" "$good" formatted)"
check_eq "seven lines rejected (--once ends its input: the unterminated last line too)" 7 "$(wc -l <"$dir/state/rejects.jsonl")"
rej() { python3 -c '
import json, sys
for l in open(sys.argv[1]):
    r = json.loads(l)
    print(r["line"], r["offset"], r["length"], r["reason"])' "$dir/state/rejects.jsonl"; }
rej >"$T_TMP/rejects.txt"
check "not-JSON line rejected at line 1 offset 0" grep -q "^1 0 16 not valid JSON" "$T_TMP/rejects.txt"
check "truncated JSON rejected at line 2" grep -q "^2 17 .* not valid JSON" "$T_TMP/rejects.txt"
check "oversized line rejected naming the limit" grep -q "^3 .* exceeds max_line_bytes (4096)" "$T_TMP/rejects.txt"
check "bad volume id rejected" grep -q "^4 .*payload.volume_id is not a UUID" "$T_TMP/rejects.txt"
check "missing size rejected" grep -q "^5 .*payload.size is missing" "$T_TMP/rejects.txt"
check "bad envelope rejected" grep -q "^6 .*oslo.message is not a string" "$T_TMP/rejects.txt"
check "oversized reject keeps at most max_line_bytes of data" python3 -c '
import json, sys
rs = [json.loads(l) for l in open(sys.argv[1])]
r = [x for x in rs if x["line"] == 3][0]
assert r["truncated"] and len(r["data"]) <= 4096 and r["length"] > 10000' "$dir/state/rejects.jsonl"
check "log names file, line and offset" grep -q "events.jsonl:3: line rejected (byte offset" "$dir/agent.log"
check "the unterminated last line is rejected with its reason" grep -q "^8 .* last line has no newline and is not a whole event: not valid JSON (truncated)" "$T_TMP/rejects.txt"

# What follows it later is a line of its own (the checkpoint is past it).
echo 'oad": {}}' >>"$dir/events.jsonl"
run_once "$dir"
check_eq "the rest, when it comes, is one more line" 8 "$(wc -l <"$dir/state/rejects.jsonl")"
check "and is rejected as what it is" bash -c "tail -1 '$dir/state/rejects.jsonl' | grep -q 'not valid JSON'"

# A whole event as the last line without its newline: --once handles it.
last=$(new_uuid)
new_volume "$dir" "$last" 1
event_json "$last" 1 | tr -d '\n' >>"$dir/events.jsonl"
run_once "$dir"
check_eq "a whole event without newline at the end: --once formats it" 1 "$(result_count "$dir/state" "$last" formatted)"
check_eq "and exits 0" 0 "$RUN_RC"
check "the checkpoint is past it" grep -q "offset=$(stat -c %s "$dir/events.jsonl") " "$dir/state/checkpoint"

# The hook file truncated and written again past the checkpoint while the
# agent was stopped: the new content is read from its first line.
refill=$T_TMP/refill
make_agent_dir "$refill"
first=$(new_uuid) second=$(new_uuid)
new_volume "$refill" "$first" 1
new_volume "$refill" "$second" 1
event_json "$first" 1 >>"$refill/events.jsonl"
run_once "$refill"
old_size=$(stat -c %s "$refill/events.jsonl")
{ event_json "$second" 1; event_json "$(new_uuid)" 1 x volume.attach.end; } >"$refill/events.jsonl.new"
cat "$refill/events.jsonl.new" >"$refill/events.jsonl"   # same inode, truncated, refilled
check "the refilled file is longer than the old checkpoint" test "$(stat -c %s "$refill/events.jsonl")" -gt "$old_size"
run_once "$refill"
check_eq "truncated and refilled past the checkpoint: its first event is handled" 1 "$(result_count "$refill/state" "$second" formatted)"
check "and the agent says why it starts again" grep -q "file was truncated (shorter than our position, or the bytes before it changed); reading from its start" "$refill/agent.log"
check_eq "no line of the new content was rejected as a fragment" 0 "$(cat "$refill/state/rejects.jsonl" 2>/dev/null | wc -l)"
