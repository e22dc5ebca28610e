# kill -9 in the middle of a stream of events, again and again: after a
# restart every volume is formatted exactly once, opens with its key, and
# has its result; nothing is left half-written.
. "$(dirname "$0")/../lib/testlib.sh"

dir=$T_TMP/agent
# About a quarter second of PBKDF2 per volume leaves room to land kills
# mid-format.
make_agent_dir "$dir" "luks.iterations = 400000"
ids=()
queue_volumes "$dir" 16
# Some noise the agent ignores, between the events.
for i in $(seq 1 50); do event_json "$(new_uuid)" 1 x volume.attach.end >>"$dir/events.jsonl"; done

kills=0
# Rounds long enough to finish some volumes, short enough to land kills in
# every phase; a round after a kill may first wait for the dead agent's
# exclusive lock to expire (the cluster's osd client watch timeout).
for round in $(seq 1 10); do
    before=$(cat "$dir/state/results.jsonl" 2>/dev/null | wc -l)
    "$AGENT" -c "$dir/agent.ini" run >>"$dir/agent.log" 2>&1 &
    pid=$!
    if [ $((round % 2)) = 1 ]; then
        # Every other round waits for progress (a dead agent's lock may
        # take the watch timeout to go), then kills a little later.
        for _ in $(seq 1 300); do
            [ "$(cat "$dir/state/results.jsonl" 2>/dev/null | wc -l)" -gt "$before" ] && break
            sleep 0.1
        done
        sleep "0.$((RANDOM % 5))"
    else
        sleep "$((RANDOM % 3)).$((RANDOM % 10))"
    fi
    kill -9 "$pid" 2>/dev/null && kills=$((kills + 1))
    wait "$pid" 2>/dev/null
done
check "agent was killed mid-stream at least 8 times" test "$kills" -ge 8
before=$(cat "$dir/state/results.jsonl" 2>/dev/null | wc -l)
check "some volumes ended before the final run" test "$before" -ge 1
run_once "$dir"
check_eq "final run --once exits 0" 0 "$RUN_RC"

read -r twice missing opens states <<<"$(kill_tally "$dir" "${ids[@]}")"
check_eq "no volume formatted twice" 0 "$twice"
check_eq "every volume has a result" 0 "$missing"
check_eq "every volume opens with its key" 16 "$opens"
check_eq "every volume's state is 'formatted'" 16 "$states"
# A kill between the final state and the unlock leaves the dead agent's
# librbd lock on a finished volume, which a replay decides without any lock
# (it may be a guest's); the next writer gets it once the dead client's
# watch has timed out, and a writer that closes leaves none behind.
writes=0
for id in "${ids[@]}"; do
    p=$(passphrase_file "$dir" "$id")
    qemu_luks_io "$id" "$p" -c "write -P 0x33 1M 4k" -c "read -P 0x33 1M 4k" >/dev/null 2>&1 &&
        writes=$((writes + 1))
done
check_eq "every volume takes a write through qemu after the kills" 16 "$writes"
check "no lock left behind" bash -c "for id in ${ids[*]}; do [ -z \"\$(rbd --conf $CEPH_CONF --id admin -p $POOL lock ls volume-\$id 2>/dev/null)\" ] || exit 1; done"
check "checkpoint is at the end of the hook file" grep -q "$(stat -c %s "$dir/events.jsonl")" "$dir/state/checkpoint"
