# [luks] kdf = fast against real Ceph: keyslots at the minimum PBKDF2 count
# that qemu and cryptsetup open, refused for a key shorter than 256 bits
# (nothing written), and refused next to iter_time_ms or iterations; the
# default for the metadata provider when no count or time is set.
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

# The default for the metadata provider's own keys (256 random bits): no
# kdf, iter_time_ms or iterations line means kdf = fast; a time or count
# set means the stretched count, as before.
meta=$T_TMP/meta
make_agent_dir "$meta"
new_kek "$meta/kek-1.bin"
use_keks "$meta" kek-1
sed -i '/^iterations = /d' "$meta/agent.ini"
check "check-config: no [luks] line, provider = metadata" "$AGENT" -c "$meta/agent.ini" check-config
fresh=$(new_uuid)
new_volume "$meta" "$fresh" 1
event_json "$fresh" 1 >>"$meta/events.jsonl"
run_once "$meta"
check_eq "metadata provider, no count set: formatted" 1 "$(result_count "$meta/state" "$fresh" formatted)"
head_bytes "$fresh" 4 "$T_TMP/meta-hdr.bin"
dump=$(cryptsetup luksDump "$T_TMP/meta-hdr.bin" 2>&1)
check "the default keyslot 0 is at 1000 iterations (kdf = fast)" bash -c \
    "grep -A2 '^Key Slot 0: ENABLED' <<<'$dump' | grep -q 'Iterations:[[:space:]]*1000$'"
keys_ "$meta" passphrase "$fresh" >"$T_TMP/meta-pass" 2>/dev/null
check "cryptsetup opens it with the volume's passphrase" \
    cryptsetup luksOpen --test-passphrase --key-file "$T_TMP/meta-pass" "$T_TMP/meta-hdr.bin"
rm -f "$T_TMP/meta-pass"
sed -i 's/^\[luks\]$/[luks]\niterations = 4321/' "$meta/agent.ini"
counted=$(new_uuid)
new_volume "$meta" "$counted" 1
event_json "$counted" 1 >>"$meta/events.jsonl"
run_once "$meta"
head_bytes "$counted" 4 "$T_TMP/counted-hdr.bin"
dump=$(cryptsetup luksDump "$T_TMP/counted-hdr.bin" 2>&1)
check "iterations = 4321 set: keyslot 0 at that count" bash -c \
    "grep -A2 '^Key Slot 0: ENABLED' <<<'$dump' | grep -q 'Iterations:[[:space:]]*4321$'"
index_forget "$fresh" "$counted"
