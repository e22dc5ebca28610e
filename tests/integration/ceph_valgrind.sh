# The agent under valgrind against real Ceph: one `run --once` formats two
# volumes the way production does (metadata provider: key drawn and wrapped
# by OpenSSL, record in image metadata, LUKS header by libcryptsetup,
# written through librbd, results and checkpoint saved) and must end with
# exit 0, no invalid access, no uninitialised read and no leaked block.
# Only one-time allocations of the libraries are suppressed, each with its
# reason, in tests/valgrind.supp. `make valgrind` runs this script alone.
. "$(dirname "$0")/../lib/testlib.sh"
root=$(cd "$(dirname "$0")/../.." && pwd)

dir=$T_TMP/agent
make_agent_dir "$dir"
head -c 32 /dev/urandom >"$dir/kek-1.bin"
chmod 600 "$dir/kek-1.bin"
sed -i -e '/^directory = /d' \
    -e "s|^provider = .*|provider = metadata\nkek_id = kek-1\nkek_file = $dir/kek-1.bin|" "$dir/agent.ini"

ids=()
for i in 1 2; do
    id=$(new_uuid)
    ids+=("$id")
    rbd_ create --size 1024 "volume-$id"
    event_json "$id" 1 >>"$dir/events.jsonl"
done

# --error-exitcode makes any error valgrind reports (and, with
# --errors-for-leak-kinds, any definite or indirect leak) exit 99.
timeout -s KILL 110 valgrind --leak-check=full --errors-for-leak-kinds=definite,indirect \
    --show-leak-kinds=definite,indirect \
    --error-exitcode=99 --suppressions="$root/tests/valgrind.supp" --num-callers=40 \
    --log-file="$dir/valgrind.log" \
    "$AGENT" -c "$dir/agent.ini" run --once >>"$dir/agent.log" 2>&1
rc=$?
if [ $rc -ne 0 ]; then
    echo "--- valgrind.log (rc $rc)"
    cat "$dir/valgrind.log"
    echo "--- agent.log"
    tail -n 20 "$dir/agent.log"
fi

check_eq "run --once under valgrind exits 0 (99: valgrind found an error or a leak)" 0 "$rc"
check "valgrind: ERROR SUMMARY: 0 errors" grep -q "ERROR SUMMARY: 0 errors" "$dir/valgrind.log"
no_leaks() {
    grep -q "All heap blocks were freed -- no leaks are possible" "$1" ||
        { grep -q "definitely lost: 0 bytes in 0 blocks" "$1" &&
          grep -q "indirectly lost: 0 bytes in 0 blocks" "$1"; }
}
check "valgrind: definitely lost: 0, indirectly lost: 0" no_leaks "$dir/valgrind.log"
for id in "${ids[@]}"; do
    check_eq "volume $id formatted under valgrind" 1 "$(result_count "$dir/state" "$id" formatted)"
done
check "the formatted header opens with the stored key" \
    timeout -s KILL 60 "$AGENT" -c "$dir/agent.ini" keys verify "${ids[0]}"
