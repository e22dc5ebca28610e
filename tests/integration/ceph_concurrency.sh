# Two agents on one hook file (each with its own state dir, as two hosts
# would have): the RBD lock and the image state make each volume formatted
# exactly once, and every volume ends openable.
. "$(dirname "$0")/../lib/testlib.sh"

export KEY_DIR=$T_TMP/keys
mkdir -p "$KEY_DIR" && chmod 700 "$KEY_DIR"
make_agent_dir "$T_TMP/one" "luks.iterations = 100000"
make_agent_dir "$T_TMP/two" "luks.iterations = 100000"
ids=()
for i in 1 2 3 4 5 6 7 8; do
    id=$(new_uuid)
    ids+=("$id")
    new_volume "$T_TMP/one" "$id" 1
    event_json "$id" 1 >>"$T_TMP/one/events.jsonl"
done
cp "$T_TMP/one/events.jsonl" "$T_TMP/two/events.jsonl"

run_once "$T_TMP/one" &
p1=$!
run_once "$T_TMP/two" &
p2=$!
wait $p1
rc1=$?
wait $p2
rc2=$?
check_eq "both agents exit 0" "0 0" "$rc1 $rc2"
once=0
opens=0
for id in "${ids[@]}"; do
    n=$(($(result_count "$T_TMP/one/state" "$id" formatted) + $(result_count "$T_TMP/two/state" "$id" formatted)))
    s=$(($(result_count "$T_TMP/one/state" "$id" skipped) + $(result_count "$T_TMP/two/state" "$id" skipped)))
    [ "$n" = 1 ] && [ "$s" = 1 ] && once=$((once + 1))
    p=$(passphrase_file "$T_TMP/one" "$id")
    qemu_luks_io "$id" "$p" -c "read 0 4k" >/dev/null 2>&1 && opens=$((opens + 1))
done
check_eq "each volume formatted by exactly one agent, skipped by the other" 8 "$once"
check_eq "every volume opens with its passphrase" 8 "$opens"
