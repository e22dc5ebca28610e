# Failures that pass: a lock held by another client, Ceph unreachable, the
# OSD down for a while. Events wait, are retried with backoff, then end; a
# daemon stops cleanly on SIGTERM with its checkpoint at the end.
# run.sh: serial (stops the OSD)
. "$(dirname "$0")/../lib/testlib.sh"

WAIT_FOR_POLL=0.2 # wait_for (testlib.sh) polls every 0.2 s here

# A lock held by someone else: retried until it is released.
dir=$T_TMP/lock
make_agent_dir "$dir" "retry.give_up_after_s = 60"
locked=$(new_uuid)
new_volume "$dir" "$locked" 1
rbd_ lock add "volume-$locked" someone-else
"$AGENT" -c "$dir/agent.ini" run >>"$dir/agent.log" 2>&1 &
pid=$!
event_json "$locked" 1 >>"$dir/events.jsonl"
check "held lock: the agent says who holds it and retries" wait_for 20 grep -q "volume $locked: attempt [0-9]* failed, retrying in .*locked by" "$dir/agent.log"
check_eq "held lock: nothing recorded while it waits" 0 "$(cat "$dir/state/results.jsonl" 2>/dev/null | wc -l)"
locker=$(rbd_ lock ls --format json "volume-$locked" | python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["locker"])')
rbd_ lock rm "volume-$locked" someone-else "$locker"
check "held lock: formatted once the lock is released" wait_for 30 grep -q '"outcome":"formatted"' "$dir/state/results.jsonl"
kill -TERM "$pid"
wait "$pid"
check_eq "daemon exits 0 on SIGTERM" 0 $?
check "checkpoint at the end of the hook file after SIGTERM" grep -q "offset=$(stat -c %s "$dir/events.jsonl") " "$dir/state/checkpoint"

# Ceph unreachable (no monitor at that address): a clear error, retried, then failed.
dir=$T_TMP/down
make_agent_dir "$dir" "ceph.timeout_s = 2" "retry.give_up_after_s = 4" "retry.initial_ms = 500"
sed "s/^\(\s*mon host\s*=\).*/\1 [v2:127.0.0.1:9,v1:127.0.0.1:10]/" "$CEPH_CONF" >"$dir/ceph.conf"
sed -i "s|^conf = .*|conf = $dir/ceph.conf|" "$dir/agent.ini"
gone=$(new_uuid)
head -c 32 /dev/urandom >"$dir/keys/$gone.key" && chmod 600 "$dir/keys/$gone.key"
event_json "$gone" 1 >>"$dir/events.jsonl"
run_once "$dir"
check_eq "Ceph unreachable: exit 1" 1 "$RUN_RC"
check "Ceph unreachable: failed, naming the client and the error" \
    grep -q "\"outcome\":\"failed\",\"reason\":\"gave up after [0-9]* attempts in [0-9]* s: cannot connect to Ceph as client.cinder: " "$dir/state/results.jsonl"
check "Ceph unreachable: retries are logged" grep -q "volume $gone: attempt 1 failed, retrying in 500 ms" "$dir/agent.log"

# The OSD stopped for a while: the event waits, then completes.
dir=$T_TMP/osd
make_agent_dir "$dir" "ceph.timeout_s = 3" "retry.give_up_after_s = 120" "retry.initial_ms = 500" "retry.max_ms = 2000"
slow=$(new_uuid)
new_volume "$dir" "$slow" 1
"$(dirname "$0")/../lib/ceph-cluster.sh" stop-osd "$CEPH_DIR" >/dev/null 2>&1
event_json "$slow" 1 >>"$dir/events.jsonl"
timeout -s KILL 180 "$AGENT" -c "$dir/agent.ini" run --once >>"$dir/agent.log" 2>&1 &
pid=$!
sleep 12
"$(dirname "$0")/../lib/ceph-cluster.sh" start-osd "$CEPH_DIR" >/dev/null 2>&1
wait "$pid"
check_eq "OSD down for a while: run --once exits 0" 0 $?
check "OSD down: attempts failed and were retried" grep -q "volume $slow: attempt 1 failed" "$dir/agent.log"
check_eq "OSD down: formatted after it came back" 1 "$(result_count "$dir/state" "$slow" formatted)"
p=$(passphrase_file "$dir" "$slow")
check "OSD down: the volume opens" qemu_luks_io "$slow" "$p" -c "read 0 4k"
