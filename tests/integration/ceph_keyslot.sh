# Key slots written by the agent's own writer (agent/luks/keyslot.c, the default)
# against real Ceph, qemu, librbd and cryptsetup: the same header shape as
# libcryptsetup's, opened by all three, and managed further by cryptsetup
# (a key added, the agent's slot removed). keyslot_writer = libcryptsetup and
# a hash the agent's writer does not handle both fall back to libcryptsetup,
# and the start-up log says which writer is in use and why.
. "$(dirname "$0")/../lib/testlib.sh"

# dump_field FILE "Label:": the first value luksDump gives for Label.
dump_field() {
    cryptsetup luksDump "$1" 2>/dev/null | awk -v l="$2" '$0 ~ "^[[:space:]]*" l { sub("^[[:space:]]*" l "[[:space:]]*", ""); print; exit }'
}

# One volume per writer, 20,000 iterations (enough to be more than the minimum).
for writer in agent libcryptsetup; do
    dir=$T_TMP/$writer
    make_agent_dir "$dir" "luks.iterations = 20000" "luks.keyslot_writer = $writer"
    id=$(new_uuid)
    eval "id_$writer=$id"
    new_volume "$dir" "$id" 1
    event_json "$id" 1 >>"$dir/events.jsonl"
    run_once "$dir"
    check_eq "$writer: run --once exits 0" 0 "$RUN_RC"
    check_eq "$writer: formatted" 1 "$(result_count "$dir/state" "$id" formatted)"
    head_bytes "$id" 4 "$T_TMP/$writer.hdr"
done

check "the default writer's start-up line says the agent writes key slots, self-tested" \
    grep -q 'key slots written by the agent (self-test against libcryptsetup passed)' "$T_TMP/agent/agent.log"
check "keyslot_writer = libcryptsetup: the start-up line says so" \
    grep -q 'key slots written by libcryptsetup (keyslot_writer = libcryptsetup)' "$T_TMP/libcryptsetup/agent.log"

a=$T_TMP/agent.hdr l=$T_TMP/libcryptsetup.hdr
for f in "Version:" "Cipher name:" "Cipher mode:" "Hash spec:" "Payload offset:" "MK bits:" \
    "MK iterations:" "Iterations:" "Key material offset:" "AF stripes:"; do
    check_eq "same '$f' as libcryptsetup's header" "$(dump_field "$l" "$f")" "$(dump_field "$a" "$f")"
done
check_eq "key slot 0 at the configured count" 20000 "$(dump_field "$a" "Iterations:")"
check_eq "slot 0 enabled, the seven others disabled" "0:ENABLED 1:DISABLED 2:DISABLED 3:DISABLED 4:DISABLED 5:DISABLED 6:DISABLED 7:DISABLED" \
    "$(cryptsetup luksDump "$a" | awk '/^Key Slot/ { sub(":", "", $3); printf "%s%s:%s", sep, $3, $4; sep = " " }')"
check "the header past the key slots is zero (nothing else written)" \
    bash -c "[ \"\$(tail -c +$((2068480 + 1)) '$a' | tr -d '\\0' | wc -c)\" = 0 ]"

dir=$T_TMP/agent
pass=$(passphrase_file "$dir" "$id_agent")
check "cryptsetup opens the agent's slot with the passphrase" \
    cryptsetup luksOpen --test-passphrase --key-file "$pass" "$a"
printf 'not the passphrase' >"$T_TMP/wrong"
check "and not with another" bash -c "! cryptsetup luksOpen --test-passphrase --key-file '$T_TMP/wrong' '$a' 2>/dev/null"
check "qemu writes and reads through it" qemu_luks_io "$id_agent" "$pass" \
    -c "write -P 0x3c 0 64k" -c "write -P 0x7e 512M 64k" -c "read -P 0x3c 0 64k" -c "read -P 0x7e 512M 64k"
check "librbd's own LUKS reader reads the same data" qemu_librbd_io "$id_agent" "$pass" \
    -c "read -P 0x3c 0 64k" -c "read -P 0x7e 512M 64k"
head_bytes "$id_agent" 5 "$T_TMP/raw.bin"
check "the raw payload is not the plaintext" python3 -c \
    'import sys; d = open(sys.argv[1], "rb").read()[4 << 20:(4 << 20) + 65536]; sys.exit(len(d) != 65536 or d == b"\x3c" * 65536)' \
    "$T_TMP/raw.bin"

# cryptsetup manages the agent's header like its own: a second key added
# with the agent's passphrase, then the agent's slot removed.
cp "$a" "$T_TMP/managed.hdr"
printf 'second key' >"$T_TMP/second"
check "cryptsetup adds a key with the agent's passphrase" cryptsetup luksAddKey -q \
    --pbkdf-force-iterations 1000 --key-file "$pass" "$T_TMP/managed.hdr" "$T_TMP/second"
check "cryptsetup removes the agent's slot" cryptsetup luksKillSlot -q --key-file "$T_TMP/second" "$T_TMP/managed.hdr" 0
check "the added key opens it" cryptsetup luksOpen --test-passphrase --key-file "$T_TMP/second" "$T_TMP/managed.hdr"
check "the agent's passphrase no longer does" bash -c \
    "! cryptsetup luksOpen --test-passphrase --key-file '$pass' '$T_TMP/managed.hdr' 2>/dev/null"

dir=$T_TMP/libcryptsetup
pass=$(passphrase_file "$dir" "$id_libcryptsetup")
check "keyslot_writer = libcryptsetup: qemu writes and reads through it" qemu_luks_io \
    "$id_libcryptsetup" "$pass" -c "write -P 0x11 0 64k" -c "read -P 0x11 0 64k"

# A hash the agent's writer does not handle: libcryptsetup writes the slot.
dir=$T_TMP/sha512
make_agent_dir "$dir" "luks.hash = sha512"
id=$(new_uuid)
new_volume "$dir" "$id" 1
event_json "$id" 1 >>"$dir/events.jsonl"
run_once "$dir"
check_eq "hash = sha512: formatted" 1 "$(result_count "$dir/state" "$id" formatted)"
check "hash = sha512: the start-up line says libcryptsetup writes the slots, and why" grep -q \
    'key slots written by libcryptsetup (the agent.s key-slot writer handles aes-xts-plain64 with sha256 only)' "$dir/agent.log"
head_bytes "$id" 4 "$T_TMP/sha512.hdr"
check_eq "hash = sha512: the header says sha512" sha512 "$(dump_field "$T_TMP/sha512.hdr" "Hash spec:")"
check "hash = sha512: qemu writes and reads through it" qemu_luks_io "$id" "$(passphrase_file "$dir" "$id")" \
    -c "write -P 0x22 0 64k" -c "read -P 0x22 0 64k"
