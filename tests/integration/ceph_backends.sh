# [volume] backends against real Ceph: with several Cinder RBD backends on
# one notification stream, an agent formats only volumes whose payload.host
# names one of its backends; the others end as "skipped" with the reason and
# their images (even in the agent's own pool) are not touched. Unset, every
# backend's volumes are formatted, as before.
. "$(dirname "$0")/../lib/testlib.sh"

# event_on HOST ID: a create.end naming Cinder host HOST.
event_on() { event_json "$2" 1 | sed "s/\"host\": \"cinder-host@rbd#rbd\"/\"host\": \"$1\"/"; }

dir=$T_TMP/agent
make_agent_dir "$dir" "volume.backends = rbd-fast, rbd-ssd"
check "check-config accepts backends" "$AGENT" -c "$dir/agent.ini" check-config
mine=$(new_uuid) ssd=$(new_uuid) other=$(new_uuid) nohost=$(new_uuid)
for id in "$mine" "$ssd" "$other" "$nohost"; do new_volume "$dir" "$id" 1; done
{
    event_on "cinder-1@rbd-fast#volumes" "$mine"
    event_on "cinder-2@rbd-ssd#volumes" "$ssd"
    event_on "cinder-1@rbd-slow#volumes" "$other"
    event_json "$nohost" 1 | sed 's/"host": "cinder-host@rbd#rbd", //'
} >>"$dir/events.jsonl"
check "the test events carry the hosts they should" bash -c \
    "grep -c '@rbd-fast#\|@rbd-ssd#\|@rbd-slow#' '$dir/events.jsonl' | grep -qx 3 && ! grep '$nohost' '$dir/events.jsonl' | grep -q '\"host\"'"
run_once "$dir"
check_eq "run --once exits 0 (skips are not failures)" 0 "$RUN_RC"
check_eq "backend rbd-fast: formatted" 1 "$(result_count "$dir/state" "$mine" formatted)"
check_eq "backend rbd-ssd: formatted" 1 "$(result_count "$dir/state" "$ssd" formatted)"
check_eq "backend rbd-slow: skipped" 1 "$(result_count "$dir/state" "$other" skipped)"
check "its reason names the host and the setting" bash -c \
    "grep '$other' '$dir/state/results.jsonl' | grep -q 'volume host cinder-1@rbd-slow#volumes is not on a backend in \[volume\] backends'"
check_eq "no host in the event: skipped" 1 "$(result_count "$dir/state" "$nohost" skipped)"
check "its reason says so" bash -c \
    "grep '$nohost' '$dir/state/results.jsonl' | grep -q 'the event names no volume host; \[volume\] backends is set'"
for id in "$other" "$nohost"; do
    head_bytes "$id" 4 "$T_TMP/$id.bin"
    check_eq "skipped volume $id: not a byte written" 0 "$(tr -d '\0' <"$T_TMP/$id.bin" | wc -c)"
    check_eq "skipped volume $id: no metadata" "There are 0 metadata on this image." "$(rbd_ image-meta list "volume-$id" 2>/dev/null)"
done
check "a formatted one opens in qemu" qemu_luks_io "$mine" "$(passphrase_file "$dir" "$mine")" -c "read 0 4k"

sed 's/^backends = .*/backends = rbd-fast,,x/' "$dir/agent.ini" >"$T_TMP/bad.ini"
line=$(grep -n '^backends' "$T_TMP/bad.ini" | cut -d: -f1)
check "an empty name in backends is a config error with its line" bash -c \
    "'$AGENT' -c '$T_TMP/bad.ini' check-config 2>&1 | grep -q '$T_TMP/bad.ini:$line: backends = .rbd-fast,,x.: empty backend name in the list'"

# Unset (the default): the skipped volume is formatted.
all=$T_TMP/all
make_agent_dir "$all"
cp "$dir/keys/$other.key" "$all/keys/"
event_on "cinder-1@rbd-slow#volumes" "$other" >>"$all/events.jsonl"
run_once "$all"
check_eq "without backends: the rbd-slow volume is formatted" 1 "$(result_count "$all/state" "$other" formatted)"
