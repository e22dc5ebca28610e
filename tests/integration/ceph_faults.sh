# Faults around a running daemon (volume role, `run`), none of which may
# lose an event:
#   a. the OSD stopped for 30 s while create events keep arriving;
#   b. the hook file rotated (rename + new file) and then truncated in
#      place (copytruncate);
#   c. state_dir full (a 64 KiB tmpfs): results and checkpoint cannot be
#      written until space comes back.
# run.sh: serial (stops the OSD and fills a disk)
. "$(dirname "$0")/../lib/testlib.sh"

cluster() { "$(dirname "$0")/../lib/ceph-cluster.sh" "$1" "$CEPH_DIR" >>"$T_TMP/cluster.log" 2>&1; }

# testlib.sh's wait_for, polling every 0.2 s: COMMAND is run afresh each
# time (pass a function, never a "$(...)" computed once).
WAIT_FOR_POLL=0.2
lines_in() { if [ -f "$1" ]; then wc -l <"$1"; else echo 0; fi; }
formatted_total() { grep -c '"outcome":"formatted"' "$1/state/results.jsonl" 2>/dev/null || true; }
formatted_at_least() { [ "$(formatted_total "$1")" -ge "$2" ]; }
# outcomes_of DIR ID: its outcomes, one per result line; a reason is shown
# unless the outcome is "formatted".
outcomes_of() {
    python3 -c '
import json, sys
for line in open(sys.argv[1]):
    r = json.loads(line)
    if r["volume_id"] == sys.argv[2]:
        print(r["outcome"] if r["outcome"] == "formatted" else r["outcome"] + ": " + r["reason"])' \
        "$1/state/results.jsonl" "$2" 2>&1
}
results_at_least() { [ "$(lines_in "$1/state/results.jsonl")" -ge "$2" ]; }
is_running() { kill -0 "$1" 2>/dev/null; }
image_size() { rbd_ info --format json "volume-$1" | python3 -c 'import json,sys; print(json.load(sys.stdin)["size"])'; }
# The checkpoint is one line "v1 dev=D ino=I offset=O line=L" and nothing else.
checkpoint_parses() {
    [ "$(wc -l <"$1")" = 1 ] && grep -qxE 'v1 dev=[0-9]+ ino=[0-9]+ offset=[0-9]+ line=[0-9]+( fp=[0-9]+:[0-9a-f]{16})?' "$1"
}
checkpoint_at_end() { grep -q " offset=$(stat -c %s "$2") " "$1"; }
# every_volume_once DIR ID...: each volume has exactly one result line, and it
# is "formatted"; prints how many do not.
every_volume_once() {
    local dir=$1 id bad=0
    shift
    for id in "$@"; do
        [ "$(grep -c "\"volume_id\":\"$id\"" "$dir/state/results.jsonl" 2>/dev/null)" = 1 ] &&
            [ "$(result_count "$dir/state" "$id" formatted)" = 1 ] || bad=$((bad + 1))
    done
    echo "$bad"
}
opens_count() { # DIR ID...: how many open with qemu's LUKS driver, read and write
    local dir=$1 id n=0
    shift
    for id in "$@"; do
        qemu_luks_io "$id" "$(passphrase_file "$dir" "$id")" -c "write -P 0x5a 0 64k" -c "read -P 0x5a 0 64k" \
            >/dev/null 2>&1 && n=$((n + 1))
    done
    echo "$n"
}
stop_agent() { # PID: SIGTERM and wait; the exit code in $STOP_RC
    kill -TERM "$1" 2>/dev/null
    wait "$1"
    STOP_RC=$?
}

pids=()
mnt=
cleanup() {
    local p
    for p in "${pids[@]}"; do kill -KILL "$p" 2>/dev/null; wait "$p" 2>/dev/null; done
    # Never leave the cluster without its OSD for the tests that follow.
    [ -f "$CEPH_DIR/osd.pid" ] || cluster start-osd
    if [ -n "$mnt" ] && mountpoint -q "$mnt"; then umount "$mnt" || umount -l "$mnt"; fi
}
trap cleanup EXIT

# ---- a. the OSD stopped for 30 s while 10 create events arrive -------------
dir=$T_TMP/osd
# About 1.5 s of PBKDF2 per volume, spent holding the image's lock: room to
# stop the OSD while one format is surely in flight.
make_agent_dir "$dir" "ceph.timeout_s = 5" "retry.initial_ms = 500" "retry.max_ms = 2000" \
    "retry.give_up_after_s = 150" "luks.iterations = 2000000"
ids=()
for i in $(seq 1 10); do
    id=$(new_uuid)
    ids+=("$id")
    new_volume "$dir" "$id" 1
done
"$AGENT" -c "$dir/agent.ini" run >>"$dir/agent.log" 2>&1 &
pid=$!
pids+=("$pid")
for i in 0 1 2; do event_json "${ids[$i]}" 1 >>"$dir/events.jsonl"; done
check "OSD: the first events are formatted before the outage" wait_for 30 formatted_at_least "$dir" 3
# One more, in flight (lock taken, header being built) when the OSD goes.
inflight=${ids[3]}
event_json "$inflight" 1 >>"$dir/events.jsonl"
sleep 0.3
down_at=$SECONDS
cluster stop-osd
check "OSD: stopped" test ! -f "$CEPH_DIR/osd.pid"
before_outage=$(formatted_total "$dir")
# Five more events while it is down, spread over the outage.
for i in 4 5 6 7 8; do
    event_json "${ids[$i]}" 1 >>"$dir/events.jsonl"
    sleep 4
done
while [ $((SECONDS - down_at)) -lt 30 ]; do sleep 0.5; done
during_outage=$(formatted_total "$dir")
check "OSD: the agent is still running after 30 s without an OSD" is_running "$pid"
cluster start-osd
check "OSD: started again" test -f "$CEPH_DIR/osd.pid"
# The last one arrives once the OSD is back.
event_json "${ids[9]}" 1 >>"$dir/events.jsonl"
check "OSD: every event ended after it came back" wait_for 90 results_at_least "$dir" 10
check_eq "OSD: the volume in flight when the OSD stopped is formatted" \
    "formatted" "$(outcomes_of "$dir" "$inflight")"
check_eq "OSD: every volume formatted" 10 "$(formatted_total "$dir")"
check_eq "OSD: nothing was formatted while the OSD was down" "$before_outage" "$during_outage"
check "OSD: failed attempts were logged and retried" grep -q "volume [0-9a-f-]*: attempt 1 failed, retrying in" "$dir/agent.log"
check_eq "OSD: each volume has one result line, 'formatted'" 0 "$(every_volume_once "$dir" "${ids[@]}")"
check_eq "OSD: results hold exactly 10 lines" 10 "$(lines_in "$dir/state/results.jsonl")"
check_eq "OSD: no outcome other than formatted" 0 "$(grep -vc '"outcome":"formatted"' "$dir/state/results.jsonl")"
grown=0 states=0
for id in "${ids[@]}"; do
    # Grown once by the 4 MiB payload offset, not twice.
    [ "$(image_size "$id")" = $((GIB + 4 * 1024 * 1024)) ] && grown=$((grown + 1))
    rbd_ image-meta get "volume-$id" rbd-luks-agent.state 2>/dev/null | grep -q '^formatted ' && states=$((states + 1))
done
check_eq "OSD: every image grown exactly once (1 GiB + 4 MiB)" 10 "$grown"
check_eq "OSD: every image's state is 'formatted'" 10 "$states"
check_eq "OSD: every volume opens with qemu (write + read)" 10 "$(opens_count "$dir" "${ids[@]}")"
stop_agent "$pid"
check_eq "OSD: daemon exits 0 on SIGTERM" 0 "$STOP_RC"
check "OSD: checkpoint at the end of the hook file" checkpoint_at_end "$dir/state/checkpoint" "$dir/events.jsonl"
echo "   (OSD part ended after $SECONDS s)"

# ---- b. rotation, then truncation, while the daemon follows the file --------
dir=$T_TMP/rotate
make_agent_dir "$dir"
hook=$dir/events.jsonl
rids=()
feed() { # FILE N: N new volumes and their events appended to FILE
    local f=$1 n=$2 i id
    for i in $(seq 1 "$n"); do
        id=$(new_uuid)
        rids+=("$id")
        new_volume "$dir" "$id" 1
        event_json "$id" 1 >>"$f"
    done
}
"$AGENT" -c "$dir/agent.ini" run >>"$dir/agent.log" 2>&1 &
pid=$!
pids+=("$pid")
feed "$hook" 3
check "rotation: first events formatted" wait_for 30 formatted_at_least "$dir" 3
# logrotate without copytruncate: rename; the writer still has the old file
# open and appends to it until it reopens the path, which makes a new file.
mv "$hook" "$hook.1"
feed "$hook.1" 2
event_json "$(new_uuid)" 1 x volume.attach.end >>"$hook.1"
feed "$hook" 4
check "rotation: events in the old file's tail and the new file formatted" wait_for 30 formatted_at_least "$dir" 9
check "rotation: the log says the file was rotated" grep -q "$hook: file was rotated; now reading the new file from its start" "$dir/agent.log"
# copytruncate: copy, then cut the file to 0 in place and write on. Fewer
# bytes follow than were there, so the cut is seen whenever the agent looks.
cp "$hook" "$hook.2"
truncate -s 0 "$hook"
feed "$hook" 2
check "truncation: the log says the file was truncated" wait_for 20 grep -q "$hook: file was truncated (shorter than our position, or the bytes before it changed); reading from its start" "$dir/agent.log"
feed "$hook" 2
check "truncation: events after the cut formatted" wait_for 30 formatted_at_least "$dir" 13
sleep 1 # anything extra (a line read twice) would land now
check_eq "rotation/truncation: each volume has one result line, 'formatted'" 0 "$(every_volume_once "$dir" "${rids[@]}")"
check_eq "rotation/truncation: 13 result lines" 13 "$(lines_in "$dir/state/results.jsonl")"
file_ids=$(cat "$hook.1" "$hook.2" "$hook" | python3 -c '
import json, sys
for line in sys.stdin:
    e = json.loads(line)
    if e["event_type"] == "volume.create.end":
        print(e["payload"]["volume_id"])' | sort -u)
check_eq "every create event in every file (old, copy, current) is one of ours" 13 "$(wc -l <<<"$file_ids")"
missing=0
for id in $file_ids; do [ "$(result_count "$dir/state" "$id" formatted)" = 1 ] || missing=$((missing + 1)); done
check_eq "every create event in every file has its formatted line" 0 "$missing"
check_eq "rotation/truncation: nothing rejected" 0 "$(lines_in "$dir/state/rejects.jsonl")"
stop_agent "$pid"
check_eq "rotation/truncation: daemon exits 0 on SIGTERM" 0 "$STOP_RC"
check "rotation/truncation: checkpoint names the current file at its end" bash -c \
    "grep -q 'ino=$(stat -c %i "$hook") offset=$(stat -c %s "$hook") ' '$dir/state/checkpoint'"
run_once "$dir"
check_eq "rotation/truncation: a restart finds nothing left to do (run --once exits 0)" 0 "$RUN_RC"
check_eq "rotation/truncation: the restart added no result" 13 "$(lines_in "$dir/state/results.jsonl")"
echo "   (rotation part ended after $SECONDS s)"

# ---- c. state_dir full --------------------------------------------------
dir=$T_TMP/full
make_agent_dir "$dir"
mnt=$dir/state
mount -t tmpfs -o size=64k,mode=0700 tmpfs "$mnt"
check "full: a 64 KiB tmpfs is the state_dir" mountpoint -q "$mnt"
fids=()
for i in 1 2 3 4; do
    id=$(new_uuid)
    fids+=("$id")
    new_volume "$dir" "$id" 1
done
"$AGENT" -c "$dir/agent.ini" run >>"$dir/agent.log" 2>&1 &
pid=$!
pids+=("$pid")
# An ignored event makes a first checkpoint; results.jsonl stays empty, so
# its next line needs a new page of the tmpfs.
event_json "$(new_uuid)" 1 x volume.attach.end >>"$dir/events.jsonl"
check "full: a first checkpoint is saved" wait_for 10 checkpoint_at_end "$mnt/checkpoint" "$dir/events.jsonl"
cp_before=$(cat "$mnt/checkpoint")
dd if=/dev/zero of="$mnt/filler" bs=4k >/dev/null 2>&1
check_eq "full: no space left on the state_dir" 0 "$(df --output=avail -k "$mnt" | tail -1 | tr -d ' ')"
# Ignored lines first (the checkpoint wants to pass them), then the creates.
for i in 1 2; do event_json "$(new_uuid)" 1 x volume.detach.end >>"$dir/events.jsonl"; done
for id in "${fids[@]}"; do event_json "$id" 1 >>"$dir/events.jsonl"; done
check "full: the log says results.jsonl cannot be written: No space left on device" wait_for 30 \
    grep -q "volume [0-9a-f-]*: cannot write results.jsonl in $mnt: No space left on device (outcome formatted; will retry)" "$dir/agent.log"
check "full: the log says the checkpoint cannot be saved: No space left on device" wait_for 10 \
    grep -q "cannot save checkpoint in $mnt: No space left on device" "$dir/agent.log"
sleep 2 # several more write attempts against the full disk
check "full: the agent is still running" is_running "$pid"
check "full: the checkpoint still parses (one 'v1 dev= ino= offset= line= [fp=]' line)" checkpoint_parses "$mnt/checkpoint"
check_eq "full: the checkpoint did not move past unrecorded events" "$cp_before" "$(cat "$mnt/checkpoint")"
check_eq "full: nothing (not even part of a line) in results.jsonl" 0 "$(stat -c %s "$mnt/results.jsonl" 2>/dev/null || echo 0)"
check "full: no checkpoint.tmp left behind" test ! -e "$mnt/checkpoint.tmp"
rm -f "$mnt/filler"
check "full: with space back, every volume's result is recorded" wait_for 30 formatted_at_least "$dir" 4
check "full: the log says the checkpoint was saved again" wait_for 10 grep -q "checkpoint saved again in $mnt" "$dir/agent.log"
check "full: the checkpoint reaches the end of the hook file" wait_for 10 checkpoint_at_end "$mnt/checkpoint" "$dir/events.jsonl"
check "full: the checkpoint still parses" checkpoint_parses "$mnt/checkpoint"
check_eq "full: results are whole JSON lines" 4 "$(python3 -c 'import json,sys; print(sum(1 for l in open(sys.argv[1]) if json.loads(l)))' "$mnt/results.jsonl" 2>&1)"
stop_agent "$pid"
check_eq "full: daemon exits 0 on SIGTERM" 0 "$STOP_RC"
# A restart replays nothing: nothing is formatted twice.
run_once "$dir"
check_eq "full: restart (run --once) exits 0" 0 "$RUN_RC"
check_eq "full: each volume has one result line, 'formatted', after the restart" 0 "$(every_volume_once "$dir" "${fids[@]}")"
check_eq "full: every volume opens with qemu" 4 "$(opens_count "$dir" "${fids[@]}")"
echo "   (disk-full part ended after $SECONDS s)"
