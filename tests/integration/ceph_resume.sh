# Resuming an interrupted format (image metadata state "writing") never
# overwrites data: non-zero bytes are accepted only where the agent's own
# partial write can be: the image grown by the header, the first 4 KiB
# (written last) still zero, and nothing past the key-slot areas.
. "$(dirname "$0")/../lib/testlib.sh"

dir=$T_TMP/agent
make_agent_dir "$dir"
MIB=$((1024 * 1024))
OFFSET=$((4 * MIB))   # the payload offset: the pool's 4 MiB object size
raw_write() { timeout -s KILL 60 qemu-io -f raw -c "write -P $2 $3 $4" "rbd:$POOL/volume-$1:conf=$CEPH_CONF:id=admin" >/dev/null 2>&1; }
raw_reads() { timeout -s KILL 60 qemu-io -f raw -c "read -P $2 $3 $4" "rbd:$POOL/volume-$1:conf=$CEPH_CONF:id=admin" 2>&1 | grep -q "read"; }
# interrupted ID GROWN: a 1 GiB volume whose state says an agent was writing its header.
interrupted() {
    new_volume "$dir" "$1" 1
    [ "$2" = grown ] && rbd_ resize --size $((1024 + 4)) "volume-$1" >/dev/null 2>&1
    rbd_ image-meta set "volume-$1" rbd-luks-agent.state "writing payload=$GIB offset=$OFFSET time=1" >/dev/null
    event_json "$1" 1 >>"$dir/events.jsonl"
}
ungrown=$(new_uuid) first=$(new_uuid) past=$(new_uuid) ours=$(new_uuid)
interrupted "$ungrown" no
raw_write "$ungrown" 0x5a 0 64k
interrupted "$first" grown
raw_write "$first" 0x5b 0 4k
interrupted "$past" grown
raw_write "$past" 0x5c $((3 * MIB)) 64k
interrupted "$ours" grown
# What an interrupted write of key-slot areas leaves: noise past the first 4 KiB.
head -c $((MIB - 4096)) /dev/urandom >"$T_TMP/noise"
timeout -s KILL 60 qemu-io -f raw -c "write -s $T_TMP/noise 4096 $((MIB - 4096))" "rbd:$POOL/volume-$ours:conf=$CEPH_CONF:id=admin" >/dev/null 2>&1
run_once "$dir"
outcome() { grep "\"volume_id\":\"$1\"" "$dir/state/results.jsonl" | tail -n 1; }
check "never grown, data at offset 0: refused" bash -c "grep -q '\"outcome\":\"refused\",\"reason\":\"interrupted format state .* holds data at offset 0, where this agent had not written yet' <<<'$(outcome "$ungrown")'"
check "and the 64 KiB of data are intact" raw_reads "$ungrown" 0x5a 0 64k
check "grown, data in the first 4 KiB: refused" bash -c "grep -q '\"outcome\":\"refused\",\"reason\":\"interrupted format state .* writes the first 4 KiB last' <<<'$(outcome "$first")'"
check "and its data is intact" raw_reads "$first" 0x5b 0 4k
check "grown, data past the key-slot areas: refused" bash -c "grep -q '\"outcome\":\"refused\",\"reason\":\"interrupted format state .* past the key-slot areas' <<<'$(outcome "$past")'"
check "and its data is intact" raw_reads "$past" 0x5c $((3 * MIB)) 64k
check "grown, noise only where key slots go: the format resumes" bash -c "grep -q '\"outcome\":\"formatted\"' <<<'$(outcome "$ours")'"
pass_file=$(passphrase_file "$dir" "$ours")
check "and the resumed volume opens in qemu with exactly 1 GiB" bash -c "timeout -s KILL 60 qemu-img info --object secret,id=s0,file=$pass_file --image-opts '$(luks_opts "$ours")' | grep -q 'virtual size: 1 GiB'"
