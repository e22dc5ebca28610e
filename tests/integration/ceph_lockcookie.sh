# Advisory-lock staleness across hosts (images without librbd's
# exclusive-lock feature): a lock is broken as stale only when its cookie
# proves the holder dead on this very boot of this host (boot id, pid
# namespace, pid gone), never because another host has the same name.
. "$(dirname "$0")/../lib/testlib.sh"

dir=$T_TMP/agent
make_agent_dir "$dir" "retry.give_up_after_s = 3" "retry.initial_ms = 200" "retry.max_ms = 500"
host=$(hostname)
pidns=$(stat -L -c %i /proc/self/ns/pid)
boot=$(tr -d '-' </proc/sys/kernel/random/boot_id)
other_boot=$(printf '%s' "$boot" | tr '0-9a-f' '1-9a-f0')
dead=4000000
while kill -0 "$dead" 2>/dev/null; do dead=$((dead + 1)); done
now=$(date +%s)
# lock_volume ID COOKIE: an image without exclusive-lock, locked with COOKIE.
lock_volume() {
    rbd_ create --size 1024 --image-feature layering "volume-$1"
    head -c 32 /dev/urandom >"$dir/keys/$1.key" && chmod 600 "$dir/keys/$1.key"
    rbd_ lock add "volume-$1" "$2"
    event_json "$1" 1 >>"$dir/events.jsonl"
}
locked_by() { rbd_ lock ls "volume-$1" 2>/dev/null | grep -c "$2"; }
twin=$(new_uuid) here=$(new_uuid) old=$(new_uuid)
lock_volume "$twin" "rbd-luks-agent host=$host boot=$other_boot pidns=$pidns pid=$dead instance=0123456789abcdef n=1 time=$now"
lock_volume "$here" "rbd-luks-agent host=$host boot=$boot pidns=$pidns pid=$dead instance=0123456789abcdef n=2 time=$now"
lock_volume "$old" "rbd-luks-agent host=$host pidns=$pidns pid=$dead instance=0123456789abcdef n=3 time=$now"
run_once "$dir"
result_of() { grep "\"volume_id\":\"$1\"" "$dir/state/results.jsonl" | tail -n 1; }
check "a host with the same name but another boot id: its live lock is not broken" \
    bash -c "grep -q '\"outcome\":\"failed\"' <<<'$(result_of "$twin")'"
check_eq "and it is still held" 1 "$(locked_by "$twin" "boot=$other_boot")"
check "the same boot of this host with the holder gone: broken as stale, volume formatted" \
    bash -c "grep -q '\"outcome\":\"formatted\"' <<<'$(result_of "$here")'"
check "the break is logged naming the holder" grep -q "breaking stale lock on $POOL/volume-$here held by \"rbd-luks-agent host=$host boot=$boot" "$dir/agent.log"
check "a cookie of an earlier release (no boot id), young: not broken" \
    bash -c "grep -q '\"outcome\":\"failed\"' <<<'$(result_of "$old")'"

# The agent's own cookie, seen while it holds the lock (a slow PBKDF2 keeps it long enough).
slow=$T_TMP/slow
make_agent_dir "$slow" "luks.iterations = 4000000"
mine=$(new_uuid)
rbd_ create --size 1024 --image-feature layering "volume-$mine"
head -c 32 /dev/urandom >"$slow/keys/$mine.key" && chmod 600 "$slow/keys/$mine.key"
event_json "$mine" 1 >>"$slow/events.jsonl"
"$AGENT" -c "$slow/agent.ini" run --once >>"$slow/agent.log" 2>&1 &
apid=$!
own_cookie() { rbd_ lock ls "volume-$mine" 2>/dev/null | grep -q "rbd-luks-agent host=$host boot=$boot pidns=$pidns pid=$apid "; }
check "the agent's own lock cookie names this boot, pid namespace and pid" wait_for 30 own_cookie
wait "$apid"
check_eq "and that volume is formatted" 0 $?
