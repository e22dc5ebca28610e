# Locked memory running short, against real Ceph: every key, passphrase and
# PBKDF2 state the agent holds is in locked pages (RLIMIT_MEMLOCK), one
# budget for all workers. With a limit that fits the start-up self-test and
# two formats but not four at once, a burst on four workers still ends with
# every volume formatted (the ones that found no locked memory left are
# retried), the reason names the limit, and start-up warns about it.
. "$(dirname "$0")/../lib/testlib.sh"

# root has CAP_IPC_LOCK and no limit: the agent runs as nobody, from a
# directory nobody can reach, with its own copy of the Ceph conf and keyring.
base=$(mktemp -d "${TMPDIR:-/tmp}/rla-memlock.XXXXXX")
trap 'rm -rf "$base"' EXIT
chmod 755 "$base"
dir=$base/agent
make_agent_dir "$dir" "agent.workers = 4" "retry.give_up_after_s = 60" "luks.iterations = 300000"
cp "$CEPH_CONF" "$dir/ceph.conf"
cp "$CEPH_DIR/ceph.client.cinder.keyring" "$dir/"
sed -i "s|^conf = .*|conf = $dir/ceph.conf\nkeyring = $dir/ceph.client.cinder.keyring|" "$dir/agent.ini"
ids=()
queue_volumes "$dir" 12
chown -R 65534:65534 "$dir"
# 32 KiB soft and hard: eight pages, enough for the self-test (seven) and
# two formats at once (four each), while PBKDF2 at 300,000 iterations keeps
# four workers formatting at once.
timeout -s KILL 300 prlimit --memlock=32768:32768 setpriv --reuid=65534 --regid=65534 --clear-groups \
    "$AGENT" -c "$dir/agent.ini" run --once >>"$dir/agent.log" 2>&1
check_eq "run --once exits 0: every volume formatted in the end" 0 $?
check_eq "12 formatted" 12 "$(grep -c '"outcome":"formatted"' "$dir/state/results.jsonl")"
grep -v '"outcome":"formatted"' "$dir/state/results.jsonl" | sed 's/^/  not formatted: /' || true
check "start-up warned about the limit" grep -q 'locked memory limit (RLIMIT_MEMLOCK) is 32 KiB; 4 workers may need up to' "$dir/agent.log"
check "the self-test still ran (key slots by the agent)" grep -q 'key slots written by the agent' "$dir/agent.log"
retried=$(grep -c 'retrying in .*no locked memory left for key material (RLIMIT_MEMLOCK 32 KiB, shared by all workers)' "$dir/agent.log")
check "some formats found no locked memory and were retried, naming the limit ($retried retries)" \
    test "$retried" -ge 1
for id in "${ids[0]}" "${ids[11]}"; do
    check "volume $id opens in qemu" qemu_luks_io "$id" "$(passphrase_file "$dir" "$id")" -c "read 0 4k"
done
