# A create.end replayed for volumes in use (a restart re-reading its hook
# file, a duplicate from the broker). Each image has a writer that holds
# librbd's exclusive lock (`rbd bench`, standing in for a guest's qemu). The
# volume role must decide "already formatted" from reads alone, without
# taking that lock: every writer ends without an error, and the agent's
# metadata on each image is unchanged.
. "$(dirname "$0")/../lib/testlib.sh"

N=4
IOPS=40
WRITE_S=12
own_pool "replay-live-$$"

dir=$T_TMP/agent
formatted_for_writers "$dir" "$N"
ids=("${IDS[@]}")

# What the agent keeps on each image besides the header: a replay that
# decides from reads alone changes none of it. (The writers write anywhere
# in the raw image, the header too, which a guest behind qemu's LUKS
# driver never does; the bytes are not compared.)
meta_of() { rbd_ image-meta list "volume-$1" 2>/dev/null | sort; }
for id in "${ids[@]}"; do meta_of "$id" >"$T_TMP/meta-$id"; done

start_writers "$IOPS" "$WRITE_S" "${ids[@]}"
held=$(writers_holding)
check_eq "before the replay, every writer holds its image's exclusive lock" "$N" "$held"

for id in "${ids[@]}"; do event_json "$id" 1 >>"$dir/events.jsonl"; done
run_once "$dir"
check_eq "the replay exits 0" 0 "$RUN_RC"
check_eq "every replayed volume: skipped, already formatted by rbd-luks-agent" "$N" \
    "$(grep -c '"outcome":"skipped".*already formatted by rbd-luks-agent' "$dir/state/results.jsonl")"
check_eq "every writer was still writing when the replay ended" "$N" "$(writers_alive)"
check_writers_ended "every writer ended without an error"
same=0
for id in "${ids[@]}"; do
    meta_of "$id" | cmp -s "$T_TMP/meta-$id" - && same=$((same + 1))
done
check_eq "every image's metadata (state, key record) as the format left it" "$N" "$same"
drop_pool
