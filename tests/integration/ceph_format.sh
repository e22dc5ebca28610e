# The main job against real Ceph: volume.create.end events in the hook file
# become LUKS1 volumes that qemu, librbd and cryptsetup all open with the
# hex passphrase, at exactly the volume's size.
. "$(dirname "$0")/../lib/testlib.sh"

dir=$T_TMP/agent
make_agent_dir "$dir" "volume.types = b5a2c7e2-4c7d-4a8e-9d7c-2f9d8c1e6a11, luks-type"
a=$(new_uuid) b=$(new_uuid) other=$(new_uuid)
new_volume "$dir" "$a" 1
new_volume "$dir" "$b" 2
new_volume "$dir" "$other" 1
{
    event_json "$a" 1
    envelope_json "$(event_json "$b" 2 luks-type)"
    event_json "$other" 1 plain-type
    event_json "$a" 1 x volume.attach.end
    echo '{"event_type": "compute.instance.create.end", "payload": {}}'
} >>"$dir/events.jsonl"

run_once "$dir"
check_eq "run --once exits 0" 0 "$RUN_RC"
check_eq "bare event formatted" 1 "$(result_count "$dir/state" "$a" formatted)"
check_eq "envelope event formatted" 1 "$(result_count "$dir/state" "$b" formatted)"
check_eq "other volume type skipped" 1 "$(result_count "$dir/state" "$other" skipped)"
check "other volume type left raw" bash -c "! qemu-img dd -f raw -O raw if=rbd:$POOL/volume-$other:conf=$CEPH_CONF:id=admin of=$T_TMP/o.bin bs=4k count=1 >/dev/null 2>&1 || ! grep -q LUKS $T_TMP/o.bin"
check_eq "results has one line per create event" 3 "$(wc -l <"$dir/state/results.jsonl")"

pa=$(passphrase_file "$dir" "$a")
pb=$(passphrase_file "$dir" "$b")
size_of() { qemu-img info --output=json --object "secret,id=s0,file=$2" --image-opts "$(luks_opts "$1")" | python3 -c 'import json,sys; print(json.load(sys.stdin)["virtual-size"])'; }
check_eq "qemu shows exactly 1 GiB" "$GIB" "$(size_of "$a" "$pa")"
check_eq "qemu shows exactly 2 GiB" "$((2 * GIB))" "$(size_of "$b" "$pb")"
check_eq "raw image grown by the 4 MiB payload offset" "$((GIB + 4194304))" \
    "$(rbd_ info --format json "volume-$a" | python3 -c 'import json,sys; print(json.load(sys.stdin)["size"])')"

last=$((GIB - 65536))
check "qemu writes patterns through LUKS" qemu_luks_io "$a" "$pa" \
    -c "write -P 0xab 0 64k" -c "write -P 0xcd 512M 64k" -c "write -P 0xef $last 64k"
verify() { # ID PASS IO-FUNCTION
    local out
    out=$("$3" "$1" "$2" -c "read -P 0xab 0 64k" -c "read -P 0xcd 512M 64k" -c "read -P 0xef $last 64k" 2>&1)
    ! grep -q "Pattern verification failed\|error\|Error" <<<"$out" && [ "$(grep -c 'read 65536/65536' <<<"$out")" = 3 ]
}
check "patterns read back through qemu's LUKS driver" verify "$a" "$pa" qemu_luks_io
check "patterns read back through librbd's LUKS reader" verify "$a" "$pa" qemu_librbd_io
raw_plain() {
    out=$(timeout -s KILL 60 qemu-io -f raw -c "read -P 0xab 4194304 64k" "rbd:$POOL/volume-$a:conf=$CEPH_CONF:id=admin" 2>&1)
    grep -q "Pattern verification failed" <<<"$out"
}
check "raw bytes at the payload are not the plaintext" raw_plain

head_bytes "$a" 4 "$T_TMP/hdr.bin"
dump=$(cryptsetup luksDump "$T_TMP/hdr.bin" 2>&1)
check "luksDump: LUKS version 1" grep -q "^Version:[[:space:]]*1$" <<<"$dump"
check "luksDump: aes xts-plain64" bash -c "grep -q '^Cipher name:[[:space:]]*aes$' <<<'$dump' && grep -q '^Cipher mode:[[:space:]]*xts-plain64$' <<<'$dump'"
check "luksDump: 512-bit master key, sha256" bash -c "grep -q '^MK bits:[[:space:]]*512$' <<<'$dump' && grep -q '^Hash spec:[[:space:]]*sha256$' <<<'$dump'"
check "luksDump: payload at 4 MiB (8192 sectors)" grep -q "^Payload offset:[[:space:]]*8192$" <<<"$dump"
check "cryptsetup accepts the passphrase" cryptsetup luksOpen --test-passphrase --key-file "$pa" "$T_TMP/hdr.bin"
printf '%064d' 0 >"$T_TMP/wrong"
check "cryptsetup rejects a wrong passphrase" bash -c "! cryptsetup luksOpen --test-passphrase --key-file $T_TMP/wrong $T_TMP/hdr.bin"
check "qemu rejects a wrong passphrase" bash -c "! qemu-io --object secret,id=s0,file=$T_TMP/wrong --image-opts '$(luks_opts "$a")' -c 'read 0 4k'"
check "agent state recorded in image metadata" bash -c "rbd --conf $CEPH_CONF --id admin -p $POOL image-meta get volume-$a rbd-luks-agent.state | grep -q '^formatted payload=$GIB offset=4194304 uuid='"
check "no passphrase in the agent's log or state" bash -c "! grep -rqF -f $pa $dir/agent.log $dir/state"
