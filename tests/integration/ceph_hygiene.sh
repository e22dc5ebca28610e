# Secret hygiene, with each key provider (file, command, metadata): after a
# daemon run that formats volumes, no key material (raw key bytes, their
# hex passphrase, their base64, in whole or in part) is in the log,
# results.jsonl, rejects.jsonl, the checkpoint or anywhere under state_dir;
# while the daemon runs, neither its /proc cmdline/environ nor the key
# command's hold any; the process cannot dump core and is not dumpable; key
# and KEK files that group or others can read are refused.
. "$(dirname "$0")/../lib/testlib.sh"

WAIT_FOR_POLL=0.05 # testlib.sh's wait_for, polling every 50 ms
formatted_at_least() { [ "$(grep -c '"outcome":"formatted"' "$1/state/results.jsonl" 2>/dev/null)" -ge "$2" ]; }
has_result() { grep -q "\"volume_id\":\"$2\"" "$1/state/results.jsonl" 2>/dev/null; }
use_metadata() { # DIR: switch the config to provider = metadata with DIR/kek-1.bin
    sed -i -e '/^directory = /d' \
        -e "s|^provider = .*|provider = metadata\nkek_id = kek-1\nkek_file = $1/kek-1.bin|" "$1/agent.ini"
}
use_command() { # DIR COMMAND
    sed -i -e '/^directory = /d' -e "s|^provider = .*|provider = command\ncommand = $2\ncommand_timeout_ms = 20000|" "$1/agent.ini"
}
hex_of() { od -An -v -tx1 "$1" | tr -d ' \n'; }

pids=()
nobody_dir=
cleanup() {
    local p
    for p in "${pids[@]}"; do kill -KILL "$p" 2>/dev/null; wait "$p" 2>/dev/null; done
    [ -n "$nobody_dir" ] && rm -rf "$nobody_dir"
}
trap cleanup EXIT

# leaks KEYS_FILE PATH...: every place where key material shows up in the
# files (directories are walked), one "path: what" line each. KEYS_FILE has
# one key per line in hex. Looked for: the raw bytes, their hex (either
# case), their base64 and base64url at each of the three alignments, the
# base64 of the hex passphrase, and any 12-byte piece of the key as raw
# bytes or hex (a truncated or partly logged key).
cat >"$T_TMP/leaks.py" <<'PY'
import base64, os, sys

def forms(key):
    out = [("raw bytes", key), ("hex", key.hex().encode()), ("HEX", key.hex().upper().encode())]
    for enc, name in ((base64.b64encode, "base64"), (base64.urlsafe_b64encode, "base64url")):
        for shift in range(3):
            # The key after `shift` bytes of something else: keep only the
            # characters made of key bits alone (6-bit groups that start at
            # or after bit 8 * shift), minus the last two, which may mix
            # with whatever follows.
            s = enc(b"\0" * shift + key).decode().rstrip("=")
            piece = s[-(-8 * shift // 6):len(s) - 2]
            out.append((f"{name} (alignment {shift})", piece.encode()))
        out.append((f"{name} of the passphrase", enc(key.hex().encode()).decode().rstrip("=")[:-2].encode()))
    for i in range(0, len(key) - 11):
        out.append((f"raw bytes {i}..{i + 12}", key[i:i + 12]))
        out.append((f"hex of bytes {i}..{i + 12}", key[i:i + 12].hex().encode()))
        out.append((f"HEX of bytes {i}..{i + 12}", key[i:i + 12].hex().upper().encode()))
    return out

keys = [bytes.fromhex(l.strip()) for l in open(sys.argv[1]) if l.strip()]
patterns = [(f"key {n + 1} as {what}", p) for n, k in enumerate(keys) for what, p in forms(k)]
paths = []
for top in sys.argv[2:]:
    if os.path.isdir(top):
        for d, _, files in os.walk(top):
            paths += [os.path.join(d, f) for f in files]
    elif os.path.exists(top):
        paths.append(top)
for path in sorted(paths):
    data = open(path, "rb").read()
    for what, p in patterns:
        if p in data:
            print(f"{path}: {what}")
PY
leaks() { python3 "$T_TMP/leaks.py" "$@" 2>&1; }

# The scanner itself: it must find a key hidden in each of those ways.
probe=$(head -c 32 /dev/urandom | od -An -v -tx1 | tr -d ' \n')
echo "$probe" >"$T_TMP/probe.keys"
mkdir -p "$T_TMP/planted"
printf 'x%s\n' "$({ printf A; xxd -r -p <<<"$probe"; } | base64 -w0)" >"$T_TMP/planted/b64-1"
printf 'xy%s\n' "$({ printf AB; xxd -r -p <<<"$probe"; } | base64 -w0)" >"$T_TMP/planted/b64-2"
printf '{"k":"%s"}\n' "$(xxd -r -p <<<"$probe" | base64 -w0 | tr '+/' '-_')" >"$T_TMP/planted/b64url"
printf 'pass=%s\n' "$(tr a-f A-F <<<"${probe:10:30}")" >"$T_TMP/planted/hex-piece"
{ printf 'head'; xxd -r -p <<<"$probe"; } >"$T_TMP/planted/raw"
check_eq "the leak scanner finds a planted key in every form" 5 \
    "$(leaks "$T_TMP/probe.keys" "$T_TMP/planted" | cut -d: -f1 | sort -u | wc -l)"

# run_provider NAME: a daemon formats two volumes with that provider; key
# material is looked for everywhere the agent writes and in /proc.
run_provider() {
    local name=$1 dir=$T_TMP/$1 id n pid keystore spy
    make_agent_dir "$dir"
    keystore=$dir/keys # where the test keeps the keys (file provider: the agent reads them here)
    case $name in
        metadata)
            new_kek "$dir/kek-1.bin"
            use_metadata "$dir"
            ;;
        command)
            keystore=$dir/keystore spy=$dir/spy
            mkdir -p "$keystore" "$spy"
            chmod 700 "$keystore"
            # It leaves its own argv and environment for the test (not the key),
            # waits a second so that the test can look at it, then prints the key.
            cat >"$dir/key-command" <<SH
#!/bin/sh
cat /proc/\$\$/cmdline >"$spy/\$1.cmdline"
cat /proc/\$\$/environ >"$spy/\$1.environ"
echo \$\$ >"$spy/\$1.pid.tmp" && mv "$spy/\$1.pid.tmp" "$spy/\$1.pid"
sleep 1
exec cat "$keystore/\$1.key"
SH
            chmod 755 "$dir/key-command"
            use_command "$dir" "$dir/key-command"
            ;;
    esac
    check "$name: config passes check-config" "$AGENT" -c "$dir/agent.ini" check-config
    local ids=()
    for n in 1 2; do
        id=$(new_uuid)
        ids+=("$id")
        if [ "$name" = metadata ]; then rbd_ create --size 1024 "volume-$id"; else KEY_DIR=$keystore new_volume "$dir" "$id" 1; fi
    done
    # A canary in the agent's environment: the key command must not get it.
    env RLA_TEST_CANARY="canary-$name" "$AGENT" -c "$dir/agent.ini" run >>"$dir/agent.log" 2>&1 &
    pid=$!
    pids+=("$pid")
    check "$name: the daemon is up" wait_for 20 grep -q 'volume role following' "$dir/agent.log"
    echo 'this line is not JSON' >>"$dir/events.jsonl" # so that rejects.jsonl has something
    for id in "${ids[@]}"; do event_json "$id" 1 >>"$dir/events.jsonl"; done
    if [ "$name" = command ]; then
        # Look at the key command while it runs (it waits a second).
        local cpid
        check "command: the key command started" wait_for 20 test -s "$spy/${ids[0]}.pid"
        cpid=$(cat "$spy/${ids[0]}.pid")
        cat "/proc/$cpid/cmdline" >"$dir/child.cmdline" 2>&1
        cat "/proc/$cpid/environ" >"$dir/child.environ" 2>&1
        check_eq "command: the child's argv is the command and the volume id only" \
            "/bin/sh $dir/key-command ${ids[0]}" "$(tr '\0' ' ' <"$dir/child.cmdline" | sed 's/ $//')"
        check_eq "command: the child's environment is PATH and LANG=C only (no canary)" \
            "PATH=/usr/sbin:/usr/bin:/sbin:/bin LANG=C" "$(tr '\0' ' ' <"$dir/child.environ" | sed 's/ $//')"
        check "command: what the child saw of itself matches" \
            bash -c "cmp '$dir/child.environ' '$spy/${ids[0]}.environ' && cmp '$dir/child.cmdline' '$spy/${ids[0]}.cmdline'"
        check "command: the child's parent is the agent" bash -c "grep -q '^PPid:[[:space:]]*$pid\$' /proc/$cpid/status"
    fi
    # The agent's own /proc while it runs.
    cat "/proc/$pid/cmdline" >"$dir/agent.cmdline"
    cat "/proc/$pid/environ" >"$dir/agent.environ"
    check "$name: the agent's environ was readable (canary there)" grep -qa "RLA_TEST_CANARY=canary-$name" "$dir/agent.environ"
    # RLIMIT_CORE = 0: no core file can be written whatever the dumpable
    # flag (the same start-up call then sets PR_SET_DUMPABLE 0, and the
    # agent refuses to start if either fails; that flag itself is checked
    # below with an unprivileged agent, where it is visible in /proc).
    check "$name: the agent's core file size limit is 0 (soft and hard)" \
        grep -qE '^Max core file size +0 +0 +bytes' "/proc/$pid/limits"
    check "$name: both volumes formatted" wait_for 60 formatted_at_least "$dir" 2
    kill -TERM "$pid"
    wait "$pid"
    check_eq "$name: daemon exits 0 on SIGTERM" 0 $?
    check "$name: the malformed line went to rejects.jsonl" grep -q 'this line is not JSON' "$dir/state/rejects.jsonl"

    # The keys: known to the test for file/command; for metadata only the
    # recovery command can say (its log goes to its own file, scanned too).
    : >"$dir/keys.hex"
    for id in "${ids[@]}"; do
        if [ "$name" = metadata ]; then
            timeout -s KILL 60 "$AGENT" -c "$dir/agent.ini" keys passphrase "$id" >"$T_TMP/pass-$id" 2>>"$dir/recovery.log"
            cat "$T_TMP/pass-$id" >>"$dir/keys.hex"
            echo >>"$dir/keys.hex"
        else
            hex_of "$keystore/$id.key" >"$T_TMP/pass-$id"
            { cat "$T_TMP/pass-$id"; echo; } >>"$dir/keys.hex"
        fi
    done
    [ "$name" = metadata ] && { hex_of "$dir/kek-1.bin"; echo; } >>"$dir/keys.hex"
    n=0
    for id in "${ids[@]}"; do qemu_luks_io "$id" "$T_TMP/pass-$id" -c "read 0 4k" >/dev/null 2>&1 && n=$((n + 1)); done
    # The keys looked for are the right ones: each opens its volume.
    check_eq "$name: each volume opens with the key the scan looks for" 2 "$n"
    check_eq "$name: no key material in the log, results, rejects, checkpoint or anywhere under state_dir" "" \
        "$(leaks "$dir/keys.hex" "$dir/agent.log" "$dir/recovery.log" "$dir/state")"
    check "$name: state_dir holds only checkpoint, health, results.jsonl, rejects.jsonl" bash -c \
        "[ \"\$(ls -A '$dir/state' | tr '\n' ' ')\" = 'checkpoint health rejects.jsonl results.jsonl ' ]"
    check_eq "$name: no key material in the agent's /proc cmdline or environ" "" \
        "$(leaks "$dir/keys.hex" "$dir/agent.cmdline" "$dir/agent.environ")"
    if [ "$name" = command ]; then
        check_eq "command: no key material in the key command's cmdline or environ" "" \
            "$(leaks "$dir/keys.hex" "$dir/child.cmdline" "$dir/child.environ" "$spy")"
    fi
}

run_provider file
run_provider command
run_provider metadata
echo "   (providers done after $SECONDS s)"

# ---- a key file group can read: refused at once, the volume untouched -------
dir=$T_TMP/file
"$AGENT" -c "$dir/agent.ini" run >>"$dir/agent.log" 2>&1 &
pid=$!
pids+=("$pid")
open=$(new_uuid)
new_volume "$dir" "$open" 1
chmod 640 "$dir/keys/$open.key"
event_json "$open" 1 >>"$dir/events.jsonl"
check "key file mode 0640: the event ends" wait_for 30 has_result "$dir" "$open"
check "key file mode 0640: failed, with the documented reason" grep -q \
    "\"volume_id\":\"$open\".*\"outcome\":\"failed\",\"reason\":\"[^\"]*key file $dir/keys/$open.key is accessible by group or others (mode 0640); chmod 600 it\"" \
    "$dir/state/results.jsonl"
check "key file mode 0640: not retried" bash -c "! grep -q 'volume $open: attempt' '$dir/agent.log'"
check "key file mode 0640: the log names the volume and the reason" grep -q \
    "volume $open: failed in [0-9]* ms: .*accessible by group or others (mode 0640)" "$dir/agent.log"
kill -TERM "$pid"
wait "$pid"
check_eq "key file mode 0640: image size unchanged (1 GiB)" "$GIB" \
    "$(rbd_ info --format json "volume-$open" | python3 -c 'import json,sys; print(json.load(sys.stdin)["size"])')"
head_bytes "$open" 4 "$T_TMP/open.head"
check "key file mode 0640: the first 4 MiB are still zero" cmp -s "$T_TMP/open.head" <(head -c $((4 * 1024 * 1024)) /dev/zero)
check_eq "key file mode 0640: no image metadata written" "" "$(rbd_ image-meta list --format json "volume-$open" | tr -d '{}[] \n')"
check_eq "key file mode 0640: no lock left" "" "$(rbd_ lock ls "volume-$open")"

# ---- a KEK file others can read: refused by check-config and by run --------
dir=$T_TMP/kek
make_agent_dir "$dir"
new_kek "$dir/kek-1.bin"
use_metadata "$dir"
chmod 644 "$dir/kek-1.bin"
kekline=$(grep -n '^kek_file = ' "$dir/agent.ini" | cut -d: -f1)
blank=$(new_uuid)
rbd_ create --size 1024 "volume-$blank"
event_json "$blank" 1 >>"$dir/events.jsonl"
"$AGENT" -c "$dir/agent.ini" check-config >"$T_TMP/kek-check.out" 2>&1
check_eq "KEK mode 0644: check-config exits 1" 1 $?
check "KEK mode 0644: check-config says FILE:LINE: ... accessible by group or others" grep -qF \
    "$dir/agent.ini:$kekline: KEK file $dir/kek-1.bin is accessible by group or others (mode 0644); chmod 600 it" "$T_TMP/kek-check.out"
timeout -s KILL 60 "$AGENT" -c "$dir/agent.ini" run >"$T_TMP/kek-run.out" 2>&1
rc=$?
check "KEK mode 0644: run refuses to start (exit 1, not killed by the timeout)" test "$rc" = 1
check "KEK mode 0644: run says why" grep -qF "KEK file $dir/kek-1.bin is accessible by group or others (mode 0644)" "$T_TMP/kek-run.out"
check "KEK mode 0644: run handled no event" test ! -s "$dir/state/results.jsonl"
check_eq "KEK mode 0644: the volume got no key record" "" "$(rbd_ image-meta list --format json "volume-$blank" | tr -d '{}[] \n')"

# ---- not dumpable: seen with an agent run as an unprivileged user ---------
# A process that is not dumpable (PR_SET_DUMPABLE 0) gets its /proc/PID
# files owned by root instead of by its user (proc(5)), and other processes
# of that user can no longer read its environ or memory. For a process run
# by root both owners are root, so this runs the agent as nobody; a plain
# process run the same way is the control.
nobody_dir=$(mktemp -d "${TMPDIR:-/tmp}/rla-hygiene.XXXXXX")
chmod 755 "$nobody_dir"
dir=$nobody_dir/agent
make_agent_dir "$dir"
cp "$CEPH_CONF" "$dir/ceph.conf"
cp "$CEPH_DIR/ceph.client.cinder.keyring" "$dir/"
sed -i "s|^conf = .*|conf = $dir/ceph.conf\nkeyring = $dir/ceph.client.cinder.keyring|" "$dir/agent.ini"
chown -R 65534:65534 "$dir"
# setpriv execs what it runs: $! is the agent's own pid.
setpriv --reuid=65534 --regid=65534 --clear-groups "$AGENT" -c "$dir/agent.ini" run >"$nobody_dir/agent.log" 2>&1 &
pid=$!
pids+=("$pid")
setpriv --reuid=65534 --regid=65534 --clear-groups sleep 30 &
control=$!
pids+=("$control")
check "unprivileged agent: up" wait_for 20 grep -q 'volume role following' "$nobody_dir/agent.log"
check_eq "unprivileged agent: it runs as uid 65534" 65534 "$(awk '/^Uid:/ {print $2}' "/proc/$pid/status")"
check_eq "control: a plain process of that user owns its /proc files" "65534:65534" "$(stat -c %u:%g "/proc/$control/status")"
check_eq "unprivileged agent: its /proc files are owned by root (not dumpable)" "0:0 0:0" \
    "$(stat -c %u:%g "/proc/$pid/status" "/proc/$pid/environ" | tr '\n' ' ' | sed 's/ $//')"
check "unprivileged agent: its own user cannot read its environ" bash -c "! setpriv --reuid=65534 --regid=65534 --clear-groups cat /proc/$pid/environ >/dev/null 2>&1"
check "unprivileged agent: its core file size limit is 0" grep -qE '^Max core file size +0 +0 +bytes' "/proc/$pid/limits"
kill -TERM "$pid" "$control"
wait "$pid"
check_eq "unprivileged agent: exits 0 on SIGTERM" 0 $?
wait "$control" 2>/dev/null || true # ended by our SIGTERM
