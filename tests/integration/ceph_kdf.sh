# [luks] kdf = fast against real Ceph: keyslots at the minimum PBKDF2 count
# that qemu and cryptsetup open, refused for a key shorter than 256 bits
# (nothing written), and refused next to iter_time_ms or iterations.
. "$(dirname "$0")/../lib/testlib.sh"

dir=$T_TMP/agent
make_agent_dir "$dir"
sed -i 's/^iterations = 1000$/kdf = fast/' "$dir/agent.ini"
check "check-config accepts kdf = fast" "$AGENT" -c "$dir/agent.ini" check-config

both=$T_TMP/both.ini
sed 's/^kdf = fast$/kdf = fast\niter_time_ms = 2000/' "$dir/agent.ini" >"$both"
line=$(grep -n '^iter_time_ms' "$both" | cut -d: -f1)
check_eq "kdf = fast with iter_time_ms: the line and what to do" \
    "$both:$line: kdf = fast sets the iteration count itself (the minimum, 1000); remove iter_time_ms" \
    "$("$AGENT" -c "$both" check-config 2>&1 | grep -F 'kdf = fast')"
sed 's/^kdf = fast$/kdf = quick/' "$dir/agent.ini" >"$T_TMP/bad.ini"
check "an unknown kdf is refused with the allowed values" bash -c \
    "'$AGENT' -c '$T_TMP/bad.ini' check-config 2>&1 | grep -q \"kdf = 'quick'.*allowed: standard, fast\""

long=$(new_uuid) short=$(new_uuid)
new_volume "$dir" "$long" 1
new_volume "$dir" "$short" 1
head -c 16 /dev/urandom >"$dir/keys/$short.key" # 128 bits
{ event_json "$long" 1; event_json "$short" 1; } >>"$dir/events.jsonl"
run_once "$dir"
check_eq "run --once exits 1 (one volume failed)" 1 "$RUN_RC"
check_eq "256-bit key: formatted" 1 "$(result_count "$dir/state" "$long" formatted)"
check_eq "128-bit key: failed" 1 "$(result_count "$dir/state" "$short" failed)"
check "the reason says why and what to do" bash -c \
    "grep '$short' '$dir/state/results.jsonl' | grep -q 'kdf = fast needs a key of at least 256 bits; this volume.s key (file provider) has 128: nothing written'"

head_bytes "$long" 4 "$T_TMP/hdr.bin"
dump=$(cryptsetup luksDump "$T_TMP/hdr.bin" 2>&1)
check "keyslot 0 at 1000 iterations" bash -c "grep -A2 '^Key Slot 0: ENABLED' <<<'$dump' | grep -q 'Iterations:[[:space:]]*1000$'"
pass=$(passphrase_file "$dir" "$long")
check "cryptsetup accepts the passphrase" cryptsetup luksOpen --test-passphrase --key-file "$pass" "$T_TMP/hdr.bin"
check "qemu opens it and writes through LUKS" qemu_luks_io "$long" "$pass" -c "write -P 0x5a 0 64k" -c "read -P 0x5a 0 64k"

head_bytes "$short" 1 "$T_TMP/short.bin"
check "the refused volume has no header" bash -c "! grep -q LUKS '$T_TMP/short.bin'"
check_eq "nor any byte written" 0 "$(tr -d '\0' <"$T_TMP/short.bin" | wc -c)"
