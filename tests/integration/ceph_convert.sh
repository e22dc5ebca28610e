# Volumes whose image already holds plain data (a volume from a Glance image,
# cloned the way Cinder's RBD driver clones one; or bytes written into a raw
# image) are converted: the data copied into a new LUKS image through
# librbd's LUKS layer, read back, swapped under the volume's name, the plain
# image removed. qemu's LUKS driver then reads the same bytes, the volume is
# exactly its size, and nothing plain is left. Too large for
# max_convert_gib, or conversion off: refused, nothing changed. An
# interruption between the renames is finished by a replay, a leftover plain
# image removed; kill -9 at any moment leaves the plain volume or the
# converted one, and a replay ends with the data in LUKS.
. "$(dirname "$0")/../lib/testlib.sh"

own_pool "convert-$$"
TYPE=b5a2c7e2-4c7d-4a8e-9d7c-2f9d8c1e6a11
MIB=1048576
dir=$T_TMP/agent
make_agent_dir "$dir" "agent.workers = 2"
new_kek "$dir/kek-1.bin"
use_keks "$dir" kek-1

raw() { echo "rbd:$POOL/$1:conf=$CEPH_CONF:id=admin"; }
raw_io() { timeout -s KILL 60 qemu-io -f raw "$@"; } # ... IMAGE_URL last
pass_of() { keys_ "$dir" passphrase "$1" >"$T_TMP/pass-$1" 2>>"$dir/agent.log" && echo "$T_TMP/pass-$1"; }
parent_of() { rbd_ info --format json "$1" 2>/dev/null | python3 -c 'import json,sys; p = json.load(sys.stdin).get("parent"); print(p["image"] if p else "-")'; }
last_result() {
    grep -h "\"volume_id\": *\"$1\"" "$dir/state/results.jsonl" | tail -n1 |
        python3 -c 'import json,sys; r = json.loads(sys.stdin.read()); print(r["outcome"], r.get("reason", ""))'
}
leftovers() { rbd_ ls | grep -c "^volume-$1\.rbd-luks-agent\." || true; }
# sums ID PASSFILE: sha256 of the volume's bytes as qemu's LUKS driver reads them.
luks_sum() {
    timeout -s KILL 120 qemu-img convert -O raw --object "secret,id=s0,file=$2" \
        --image-opts "$(luks_opts "$1")" "$T_TMP/luks.bin" 2>/dev/null
    sha256sum <"$T_TMP/luks.bin" | cut -d' ' -f1
    rm -f "$T_TMP/luks.bin"
}
plain_sum() {
    timeout -s KILL 120 qemu-img convert -f raw -O raw "$(raw "$1")" "$T_TMP/plain.bin" 2>/dev/null
    sha256sum <"$T_TMP/plain.bin" | cut -d' ' -f1
    rm -f "$T_TMP/plain.bin"
}
format_() { timeout -s KILL 300 "$AGENT" -c "$dir/agent.ini" format "$1" >>"$dir/agent.log" 2>&1; }

# --- a 1 GiB volume with data written into it, by its create.end event ------------------
w=$(new_uuid)
rbd_ create --size 1024 "volume-$w"
raw_io -c "write -P 0x31 0 64k" -c "write -P 0x32 700M 1M" -c "write -P 0x33 1023M 1M" "$(raw "volume-$w")" >/dev/null
want=$(plain_sum "volume-$w")
event_json "$w" 1 "$TYPE" >>"$dir/events.jsonl"
run_once "$dir"
check_eq "run --once exits 0 after a conversion" 0 "$RUN_RC"
check "W (data in the header area): converted" grep -q "^converted converted: 1073741824 bytes of data copied into LUKS1" <<<"$(last_result "$w")"
check "the result says it was read back" grep -q "read back" <<<"$(last_result "$w")"
check "the log shows the progress (percent, MiB/s)" grep -q "volume $w: converting: read back 1024 of 1024 MiB (100%), [0-9.]* MiB/s" "$dir/agent.log"
pw=$(pass_of "$w")
check_eq "qemu's LUKS driver shows exactly 1 GiB" 1073741824 "$(luks_vsize "$w" "$pw")"
check_eq "and reads every byte that was there (sha256 of the 1 GiB)" "$want" "$(luks_sum "$w" "$pw")"
check "not raw: the image starts with a LUKS header" bash -c "qemu-img dd -f raw -O raw if=$(raw "volume-$w") of=$T_TMP/h bs=4k count=1 2>/dev/null && head -c 6 $T_TMP/h | od -An -c | grep -q 'L   U   K   S'"
check_eq "the image is 1 GiB + the payload offset" $((1024 * MIB + 4 * MIB)) "$(image_bytes "$w")"
check_eq "no .new or .plain image is left" 0 "$(leftovers "$w")"
check "its state is formatted" grep -q "^formatted payload=1073741824 offset=4194304 uuid=" <<<"$(meta_get "$w" rbd-luks-agent.state)"
check "its key record moved with it" test -n "$(meta_get "$w" rbd-luks-agent.key)"
run_once "$dir"
event_json "$w" 1 "$TYPE" >>"$dir/events.jsonl"
run_once "$dir"
check "a replay skips it (already ours)" grep -q "^skipped already formatted by rbd-luks-agent" <<<"$(last_result "$w")"
check_eq "and it still reads the same" "$want" "$(luks_sum "$w" "$pw")"
rbd_ rm "volume-$w" >/dev/null 2>&1

# --- a volume from an image, cloned as Cinder's RBD driver clones one ----------------------
# cinder/volume/drivers/rbd.py clone_image (:1870-1897): _clone (:1193) of the image's
# protected snapshot (Glance's RBD store names it "snap"), then _resize (:1224) to the
# volume's size. Data only past the header area: the allocated-extent check
# finds it. Small images (the format command takes the image's size as the volume's).
rbd_ create --size 48 glance-img
raw_io -c "write -P 0x41 8M 1M" -c "write -P 0x42 47M 1M" "$(raw glance-img)" >/dev/null
rbd_ snap create glance-img@snap >/dev/null 2>&1 && rbd_ snap protect glance-img@snap
g=$(new_uuid)
rbd_ clone "$POOL/glance-img@snap" "$POOL/volume-$g" && rbd_ resize --size 64 "volume-$g" >/dev/null 2>&1
check_eq "G is a clone of the image" "glance-img" "$(parent_of "volume-$g")"
gwant=$(plain_sum "volume-$g")
glance_before=$(plain_sum glance-img@snap)
format_ "$g"
check_eq "format G exits 0" 0 $?
check "G (a clone, data past the header area): converted" grep -q "^converted converted: 67108864 bytes" <<<"$(last_result "$g")"
check "the log names the allocated extent it found" grep -q "volume $g: converting: .* holds data (an allocated extent at offset 8388608)" "$dir/agent.log"
pg=$(pass_of "$g")
check_eq "G reads the image's bytes through qemu's LUKS driver" "$gwant" "$(luks_sum "$g" "$pg")"
check_eq "G is no clone any more" "-" "$(parent_of "volume-$g")"
check_eq "the image and its snapshot are unchanged" "$glance_before" "$(plain_sum glance-img@snap)"
check_eq "nothing of the conversion is left" 0 "$(leftovers "$g")"

# --- refused: conversion off, or larger than max_convert_gib -------------------------------
off=$T_TMP/off
make_agent_dir "$off" "volume.max_convert_gib = 0"
sed -i "s|^pool = .*|pool = $POOL|" "$off/agent.ini"
o=$(new_uuid)
rbd_ create --size 1024 "volume-$o"
head -c 32 /dev/urandom >"$off/keys/$o.key" && chmod 600 "$off/keys/$o.key"
raw_io -c "write -P 0x51 900M 64k" "$(raw "volume-$o")" >/dev/null
owant=$(plain_sum "volume-$o")
event_json "$o" 1 "$TYPE" >>"$off/events.jsonl"
run_once "$off"
check_eq "max_convert_gib = 0: run --once exits 1" 1 "$RUN_RC"
check "refused: conversion is off" grep -q "holds data (allocated extent at offset 943718400); not formatting (conversion is off: \[volume\] max_convert_gib = 0)" "$off/state/results.jsonl"
check_eq "the image is unchanged" "$owant" "$(plain_sum "volume-$o")"
sed -i "s|^max_convert_gib = .*|max_convert_gib = 1|" "$off/agent.ini"
b=$(new_uuid)
rbd_ create --size 2048 "volume-$b"
head -c 32 /dev/urandom >"$off/keys/$b.key" && chmod 600 "$off/keys/$b.key"
raw_io -c "write -P 0x52 0 64k" "$(raw "volume-$b")" >/dev/null
event_json "$b" 2 "$TYPE" >>"$off/events.jsonl"
run_once "$off"
check "2 GiB with max_convert_gib = 1: refused with the limit" grep -q "and is 2147483648 bytes, more than \[volume\] max_convert_gib = 1 GiB allows converting" "$off/state/results.jsonl"
check_eq "nothing was created" 0 "$(leftovers "$b")"
check_eq "its size is unchanged" $((2048 * MIB)) "$(image_bytes "$b")"
rbd_ rm "volume-$o" >/dev/null 2>&1
rbd_ rm "volume-$b" >/dev/null 2>&1

# --- interrupted between the renames; a plain image left after them -----------------------
# The state a crash between the two renames leaves (the volume's name free, the finished
# copy under .new, the plain image under .plain), made from a finished conversion.
s=$(new_uuid)
rbd_ create --size 32 "volume-$s"
raw_io -c "write -P 0x61 0 1M" "$(raw "volume-$s")" >/dev/null
swant=$(plain_sum "volume-$s")
format_ "$s"
ps=$(pass_of "$s")
rbd_ mv "volume-$s" "volume-$s.rbd-luks-agent.new"
rbd_ create --size 32 "volume-$s.rbd-luks-agent.plain"
raw_io -c "write -P 0x61 0 1M" "$(raw "volume-$s.rbd-luks-agent.plain")" >/dev/null
format_ "$s"
check "a replay renames the finished copy" grep -q "^converted converted before an interruption: $POOL/volume-$s.rbd-luks-agent.new, read back in full, renamed to volume-$s" <<<"$(last_result "$s")"
check_eq "and removes the plain image" 0 "$(leftovers "$s")"
check_eq "the volume reads its bytes" "$swant" "$(luks_sum "$s" "$ps")"
rbd_ create --size 32 "volume-$s.rbd-luks-agent.plain"
format_ "$s"
check "a plain image left next to a converted volume: skipped" grep -q "^skipped already formatted" <<<"$(last_result "$s")"
check_eq "and the plain image removed" 0 "$(leftovers "$s")"
# An unfinished copy (.new not formatted) is never renamed into place.
u=$(new_uuid)
rbd_ create --size 32 "volume-$u.rbd-luks-agent.new"
format_ "$u"
check "no image, an unfinished copy: failed, not renamed" grep -q "^failed image $POOL/volume-$u does not exist; $POOL/volume-$u.rbd-luks-agent.new, an unfinished conversion's copy, does" <<<"$(last_result "$u")"
rbd_ rm "volume-$u.rbd-luks-agent.new" >/dev/null 2>&1

# --- kill -9 at moments spread over the conversion -----------------------------------------
# A conversion of a 256 MiB volume is timed first (T ms, the agent's start included); then
# the same conversion of another volume is killed T/7, 2T/7, ... 6T/7 after it begins (its
# log line "converting: ... holds data"); each round starts over from the plain volume
# while the swap has not happened. What each kill leaves must be the plain volume
# (unchanged), neither name (between the renames), or the converted one. The step each
# kill landed in is printed (from the log's 100% lines).
new_plain() {
    rbd_ create --size 256 "volume-$1"
    raw_io -c "write -P 0x71 0 1M" -c "write -P 0x72 128M 4M" -c "write -P 0x73 255M 1M" "$(raw "volume-$1")" >/dev/null
}
t=$(new_uuid)
new_plain "$t"
started=$(date +%s%N)
format_ "$t"
T=$((($(date +%s%N) - started) / 1000000))
echo "   a 256 MiB conversion: $T ms ($(last_result "$t" | grep -o '[0-9.]* MiB/s copy, [0-9.]* MiB/s read-back'))"
rbd_ rm "volume-$t" >/dev/null 2>&1
k=$(new_uuid)
new_plain "$k"
kwant=$(plain_sum "volume-$k")
left_plain=0 left_luks=0 left_none=0 bad="" steps=""
# A killed agent's watch (and with it librbd's exclusive lock) lasts until the OSD's watch
# timeout (12 s here, ceph-cluster.sh): each round waits for it, so that its kill lands in
# the conversion, not in the next agent's wait for the lock.
unwatched() {
    local img
    for img in "volume-$1" "volume-$1.rbd-luks-agent.new" "volume-$1.rbd-luks-agent.plain"; do
        rbd_ status "$img" 2>/dev/null | grep -q "watcher=" && return 1
    done
    return 0
}
for i in 1 2 3 4 5 6; do
    wait_for 40 unwatched "$k"
    delay=$(awk -v t="$T" -v i="$i" 'BEGIN { printf "%.3f", t * i / 7 / 1000 }')
    : >"$dir/round.log"
    "$AGENT" -c "$dir/agent.ini" format "$k" >>"$dir/round.log" 2>&1 & # killed below
    pid=$!
    # From the moment this agent starts converting (it may first have to break the dead
    # one's lock).
    wait_for 60 grep -q "converting: .* holds data" "$dir/round.log"
    sleep "$delay"
    kill -9 "$pid" 2>/dev/null
    wait "$pid" 2>/dev/null
    cat "$dir/round.log" >>"$dir/kill.log"
    if grep -q "read back [0-9]* of [0-9]* MiB (100%)" "$dir/round.log"; then steps="$steps swap"
    elif grep -q "copied [0-9]* of [0-9]* MiB (100%)" "$dir/round.log"; then steps="$steps read-back"
    else steps="$steps copy"; fi
    if ! rbd_ info "volume-$k" >/dev/null 2>&1; then
        left_none=$((left_none + 1))
    elif grep -q "^formatted " <<<"$(meta_get "$k" rbd-luks-agent.state)"; then
        left_luks=$((left_luks + 1))
        break
    else
        left_plain=$((left_plain + 1))
        [ "$(plain_sum "volume-$k")" = "$kwant" ] || bad="$bad plain-changed-after-${delay}s"
    fi
done
echo "   kill -9 rounds: plain $left_plain, between renames $left_none, converted $left_luks; killed in:$steps"
check "each kill left the plain volume unchanged, or neither name, or the converted one" test -z "$bad"
check "some kills landed before the swap" test "$left_plain" -ge 1
format_ "$k"
check "a replay ends it: converted or already done" grep -qE "^(converted|skipped already formatted)" <<<"$(last_result "$k")"
pk=$(pass_of "$k")
check_eq "the volume reads the bytes it had (sha256 of 256 MiB)" "$kwant" "$(luks_sum "$k" "$pk")"
check_eq "nothing of the conversions is left" 0 "$(leftovers "$k")"
check "no passphrase in the log" bash -c "! grep -qF -f <(cat $T_TMP/pass-*) $dir/agent.log $dir/kill.log"

drop_pool
