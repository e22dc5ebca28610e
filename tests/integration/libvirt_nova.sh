# Nova's own libvirt driver (python3-nova, driven by tests/lib/nova_harness.py)
# against a private libvirtd and the private Ceph cluster, with LUKS volumes the
# agent's volume role formatted. What this establishes about real Nova:
#  1. with a `volume` secret holding the hex passphrase, Nova's disk has
#     <encryption format='luks'>, the guest sees exactly 1 GiB and its data is
#     stored encrypted (qemu's LUKS driver from outside reads it back);
#  2. with NO volume secret (and Cinder not calling the volume encrypted), Nova
#     plugs the raw image: the guest sees the LUKS header and the ciphertext.
#     That is Nova's current fail-open behaviour, asserted as a fact about Nova;
#  3. hot attach with the secret works; Nova's detach deletes the secret once
#     the disk is gone (and keeps it while the guest still holds the disk);
#  4. _disconnect_volume keeps the secret with destroy_secrets=False (hard
#     reboot) and deletes it with True (shelve offload, cold migration source).
# run.sh: side lane (Nova's driver against a private libvirtd; the volume role only)
. "$(dirname "$0")/../lib/testlib.sh"
. "$(dirname "$0")/../lib/libvirt.sh"
HARNESS=$(cd "$(dirname "$0")/../lib" && pwd)/nova_harness.py

lvdir=$T_TMP/lv
vols=()
cleanup() {
    libvirt_stop "$lvdir" >/dev/null 2>&1
    local v
    for v in "${vols[@]}"; do rbd_ rm --no-progress "volume-$v" >/dev/null 2>&1; done
}
trap cleanup EXIT
t_start=$(ms)

# python3-nova installs for Debian's interpreter, which need not be the first
# python3 on PATH.
NOVA_PY=
for py in /usr/bin/python3 $(type -ap python3); do
    if "$py" -c 'import nova.virt.libvirt.driver, libvirt, os_brick' >/dev/null 2>&1; then
        NOVA_PY=$py
        break
    fi
done
if [ -z "$NOVA_PY" ]; then
    fail "python3-nova, python3-libvirt and python3-os-brick are importable" \
        "apt-get install -y --no-install-recommends python3-nova python3-libvirt python3-os-brick"
    exit 0
fi
echo "   nova $("$NOVA_PY" -c 'from nova import version; print(version.version_string())' 2>/dev/null) via $NOVA_PY"

out=$(libvirt_start "$lvdir" 2>"$T_TMP/lv-start.err")
if [ $? != 0 ]; then
    fail "private libvirtd starts" "$(tail -c 600 "$T_TMP/lv-start.err" | tr '\n' ' ')"
    exit 0
fi
URI=${out#LIBVIRT_URI=}
VSH_TIMEOUT=60 # vsh (libvirt.sh) waits up to 60 s here
CEPHX_UUID=8c1d4e2a-5b3f-4a6e-9d70-2b3c4d5e6f70

# nh SUBCOMMAND ARGS...: one harness process, stdout and stderr together (for
# check); nh_out: its stdout only, stderr appended to $T_TMP/harness.err.
# Nova's own log (debug) is $T_TMP/nova/nova-harness.log.
nh_cmd() {
    timeout -s KILL 120 "$NOVA_PY" "$HARNESS" --uri "$URI" --state "$T_TMP/nova" \
        --rbd-user cinder --rbd-secret-uuid "$CEPHX_UUID" --debug "$@"
}
nh() { nh_cmd "$@" 2>&1; }
nh_out() { nh_cmd "$@" 2>>"$T_TMP/harness.err"; }
nh_fails() { ! nh_cmd "$@" >>"$T_TMP/harness.err" 2>&1; }
NOVA_LOG=$T_TMP/nova/nova-harness.log

# The cephx secret, as Kolla/TripleO define it from the keyring.
keyring=$CEPH_DIR/ceph.client.cinder.keyring
awk '$1 == "key" { print $3 }' "$keyring" | tr -d '\n' >"$T_TMP/cephx.b64"
vsh secret-define /dev/stdin >/dev/null <<XML
<secret ephemeral='no' private='no'><uuid>$CEPHX_UUID</uuid><usage type='ceph'><name>client.cinder secret</name></usage></secret>
XML
check "cephx secret defined from the cinder keyring" \
    vsh secret-set-value "$CEPHX_UUID" --file "$T_TMP/cephx.b64"

# Volumes formatted by the agent's volume role, file key provider.
vol=$T_TMP/volume
make_agent_dir "$vol"
for _ in 1 2 3 4; do
    v=$(new_uuid)
    vols+=("$v")
    new_volume "$vol" "$v" 1
    event_json "$v" 1 >>"$vol/events.jsonl"
done
run_once "$vol"
check_eq "agent formats four 1 GiB volumes" 4 "$(grep -c '"outcome": *"formatted"' "$vol/state/results.jsonl" 2>/dev/null)"
va=${vols[0]} vb=${vols[1]} vc=${vols[2]} vd=${vols[3]}

# connection_info as Nova receives it from Cinder's attachment_update.
# STANDING IN until the real Cinder (tests/lib/cinder_api.py) is wired in: the
# shape of Cinder 21.3.1's RBD driver initialize_connection
# (cinder/volume/drivers/rbd.py:1775-1799), hosts/ports from `ceph mon dump` the
# way its _get_mon_addrs parses them (rbd.py:648-664), plus what the volume
# manager adds (cinder/volume/manager.py:1832-1902: qos_specs, access_mode,
# encrypted = bool(encryption_key_id), cacheable), with "data" put back by
# Nova (nova/volume/cinder.py:365-389 _translate_attachment_ref).
timeout -s KILL 30 ceph --conf "$CEPH_CONF" --id cinder mon dump --format=json \
    >"$T_TMP/mondump.json" 2>/dev/null
connection_info() { # VOLUME_ID > FILE
    "$NOVA_PY" - "$1" "$POOL" "$CEPHX_UUID" "$T_TMP/mondump.json" <<'PY'
import json, sys
vol, pool, secret_uuid, mondump = sys.argv[1:5]
hosts, ports = [], []
for mon in json.load(open(mondump))['mons']:
    host, port = mon['addr'][:mon['addr'].rindex('/')].rsplit(':', 1)
    hosts.append(host.strip('[]'))
    ports.append(port)
print(json.dumps({
    'driver_volume_type': 'rbd',
    'data': {
        'name': '%s/volume-%s' % (pool, vol),
        'hosts': hosts, 'ports': ports,
        'cluster_name': 'ceph',
        'auth_enabled': True, 'auth_username': 'cinder',
        'secret_type': 'ceph', 'secret_uuid': secret_uuid,
        'volume_id': vol,
        'discard': True,
        'qos_specs': None, 'access_mode': 'rw', 'encrypted': False,
        'cacheable': False,
    },
}, indent=1))
PY
}
for v in "$va" "$vb" "$vc" "$vd"; do connection_info "$v" >"$T_TMP/ci-$v.json"; done
check "connection_info names the mon from ceph mon dump" \
    grep -q '"127.0.0.1"' "$T_TMP/ci-$va.json"

# The volume secret as Nova (and the agent's compute role) define it; here by
# virsh. Prints the UUID.
volume_secret() { # VOLUME_ID
    local u
    u=$(new_uuid)
    vsh secret-define /dev/stdin >/dev/null <<XML
<secret ephemeral='no' private='no'><uuid>$u</uuid><usage type='volume'><volume>$1</volume></usage></secret>
XML
    vsh secret-set-value "$u" --file "$(passphrase_file "$vol" "$1")" --plain >/dev/null && echo "$u"
}
no_volume_secret() { [ -z "$(nh_out find-secret --volume "$1")" ]; }

# --- 1. with the volume secret ----------------------------------------------
sa=$(volume_secret "$va")
check "volume secret defined for volume A" test -n "$sa"
check_eq "Nova's Host.find_secret('volume', A) finds it" "$sa" "$(nh_out find-secret --volume "$va")"
echo "   timing: $(nh_out time-find-secret --volume "$va" --count 20)"
nh_out disk-xml --connection-info "$T_TMP/ci-$va.json" --dev vdb >"$T_TMP/disk-a.xml"
check "disk-xml: Nova's RBD volume driver made the disk" grep -q "<source protocol=\"rbd\" name=\"$POOL/volume-$va\">" "$T_TMP/disk-a.xml"
check "disk-xml: cephx auth from connection_info" grep -q "<secret type=\"ceph\" uuid=\"$CEPHX_UUID\"/>" "$T_TMP/disk-a.xml"
check "disk-xml with the secret: <encryption format='luks'> naming it" \
    bash -c "grep -q '<encryption format=\"luks\">' '$T_TMP/disk-a.xml' &&
             grep -q '<secret type=\"passphrase\" uuid=\"$sa\"/>' '$T_TMP/disk-a.xml'"

t0=$(ms)
check "boot a guest from volume A through Nova's _get_guest_xml/_create_guest" \
    nh boot --name nova-luks --connection-info "$T_TMP/ci-$va.json"
echo "   timing: boot (harness process, LUKS open) $(($(ms) - t0)) ms"
check "the guest's XML is Nova's (nova:instance metadata)" grep -q "<nova:package version=" "$T_TMP/nova/nova-luks.xml"
check "the running guest's disk is LUKS-decrypted by qemu" \
    bash -c "timeout 30 virsh -q -c '$URI' dumpxml nova-luks | grep -q \"<encryption format='luks'\""
check_eq "guest sees exactly 1 GiB" "$GIB" "$(nh_out guest-capacity --name nova-luks --dev vda)"
last=$((GIB - 65536))
check "guest writes 0xab at 0 (1 MiB)" nh guest-write --name nova-luks --dev vda --offset 0 --length 1M --pattern 0xab
check "guest writes 0xcd at its last 64 KiB" nh guest-write --name nova-luks --dev vda --offset "$last" --length 64k --pattern 0xcd
check "guest reads 0xab back" nh guest-read --name nova-luks --dev vda --offset 0 --length 1M --expect 0xab
check "guest reads 0xcd back at the end" nh guest-read --name nova-luks --dev vda --offset "$last" --length 64k --expect 0xcd
check "destroy the guest" nh destroy --name nova-luks
pa=$(passphrase_file "$vol" "$va")
luks_read() { # OFFSET LENGTH PATTERN: qemu's LUKS driver from outside, read-only
    local out
    out=$(qemu_luks_io "$va" "$pa" -r -c "read -P $3 $1 $2" 2>&1)
    ! grep -q "Pattern verification failed\|rror" <<<"$out" && grep -q "^read " <<<"$out"
}
check "qemu's LUKS driver from outside reads the guest's 0xab" luks_read 0 1M 0xab
check "and the guest's 0xcd at the end" luks_read "$last" 64k 0xcd
head_bytes "$va" 4 "$T_TMP/hdr-a.bin"
payload=$(($(cryptsetup luksDump "$T_TMP/hdr-a.bin" 2>/dev/null | awk '/^Payload offset:/ { print $3 }') * 512))
raw_not_plain() {
    local out
    out=$(timeout -s KILL 60 qemu-io -r -f raw -c "read -P 0xab $payload 1M" \
        "rbd:$POOL/volume-$va:conf=$CEPH_CONF:id=admin" 2>&1)
    grep -q "Pattern verification failed" <<<"$out"
}
check "on RBD the guest's data is ciphertext (raw read at the payload offset $payload)" raw_not_plain

# --- 2. without any volume secret: Nova's current fail-open ------------------
vsh secret-undefine "$sa" >/dev/null
check "secret for A removed: find-secret prints nothing" no_volume_secret "$va"
nh_out disk-xml --connection-info "$T_TMP/ci-$va.json" --dev vdb >"$T_TMP/disk-a-raw.xml"
check "disk-xml still an RBD disk" grep -q "<source protocol=\"rbd\" name=\"$POOL/volume-$va\">" "$T_TMP/disk-a-raw.xml"
check "CURRENT NOVA: without a secret the disk has no <encryption>" \
    bash -c "! grep -q '<encryption' '$T_TMP/disk-a-raw.xml'"
check "CURRENT NOVA: the guest boots from it anyway" \
    nh boot --name nova-raw --connection-info "$T_TMP/ci-$va.json"
raw_size=$(rbd_ info --format json "volume-$va" | python3 -c 'import json,sys; print(json.load(sys.stdin)["size"])')
check_eq "CURRENT NOVA: the guest sees the raw image, 1 GiB + the LUKS payload offset" \
    "$((GIB + payload))" "$(nh_out guest-capacity --name nova-raw --dev vda)"
check_eq "(that is the RBD image's size)" "$raw_size" "$((GIB + payload))"
check_eq "CURRENT NOVA: the guest's first bytes are the LUKS magic" "4c 55 4b 53 ba be" \
    "$(nh_out guest-read --name nova-raw --dev vda --offset 0 --length 512 --show 6)"
check "CURRENT NOVA: where the data is, the guest reads ciphertext, not 0xab" \
    nh_fails guest-read --name nova-raw --dev vda --offset "$payload" --length 1M --expect 0xab
check "destroy it" nh destroy --name nova-raw

# --- 3. hot attach and detach through LibvirtDriver ----------------------------
sa=$(volume_secret "$va")
sb=$(volume_secret "$vb")
sc=$(volume_secret "$vc")
check "secrets for A, B and C" bash -c "[ -n '$sa' ] && [ -n '$sb' ] && [ -n '$sc' ]"
# A virtio-scsi controller too (image property hw_scsi_model), for a scsi attach:
# a paused guest with no OS never acknowledges a virtio (PCI) unplug, while a
# SCSI disk unplugs without the guest.
check "boot a guest from A (with a virtio-scsi controller)" \
    nh boot --name nova-hot --scsi --connection-info "$T_TMP/ci-$va.json"
t0=$(ms)
check "attach_volume B as vdb (virtio) to the running guest" \
    nh attach --name nova-hot --connection-info "$T_TMP/ci-$vb.json" --volume "$vb" --dev vdb
echo "   timing: attach (harness process) $(($(ms) - t0)) ms"
check_eq "hot-attached B: exactly 1 GiB" "$GIB" "$(nh_out guest-capacity --name nova-hot --dev vdb)"
check "hot-attached B: <encryption format='luks'> in the live XML" \
    bash -c "timeout 30 virsh -q -c '$URI' dumpxml nova-hot | grep -A12 \"volume-$vb\" | grep -q \"<secret type='passphrase' uuid='$sb'/>\""
check "write 0x5a through B" nh guest-write --name nova-hot --dev vdb --offset 4M --length 1M --pattern 0x5a
check "read 0x5a back through B" nh guest-read --name nova-hot --dev vdb --offset 4M --length 1M --expect 0x5a
check "attach_volume C as sdb (scsi)" \
    nh attach --name nova-hot --connection-info "$T_TMP/ci-$vc.json" --volume "$vc" --dev sdb --bus scsi
check_eq "hot-attached C: exactly 1 GiB" "$GIB" "$(nh_out guest-capacity --name nova-hot --dev sdb)"
t0=$(ms)
check "detach_volume C from the running guest" \
    nh detach --name nova-hot --connection-info "$T_TMP/ci-$vc.json" --volume "$vc" --dev sdb
echo "   timing: detach (harness process) $(($(ms) - t0)) ms"
check "C is gone from the guest" bash -c "! timeout 30 virsh -q -c '$URI' domblklist nova-hot | grep -q '^ *sdb '"
check "Nova's detach deleted C's volume secret" no_volume_secret "$vc"
check_eq "and only C's: A's and B's are still there" 2 "$(vsh secret-list | grep -c -e "$sa" -e "$sb")"
check "Nova logged the live detach of C as done" \
    grep -q "Successfully detached device sdb from instance .* from the live domain config" "$NOVA_LOG"
# The paused guest cannot release the virtio disk: Nova gives up (DeviceDetachFailed)
# before _disconnect_volume, so the secret stays while the guest holds the disk.
nh_cmd --detach-timeout 2 --detach-attempts 1 \
    detach --name nova-hot --connection-info "$T_TMP/ci-$vb.json" --volume "$vb" --dev vdb >"$T_TMP/detach-b.out" 2>&1
check_eq "detach of B from a guest that does not release it fails" 1 $?
check "with Nova's DeviceDetachFailed" grep -q DeviceDetachFailed "$T_TMP/detach-b.out"
check_eq "B's secret stays while the guest holds B" "$sb" "$(nh_out find-secret --volume "$vb")"
check "stop the guest" nh stop --name nova-hot
check "detach_volume B from the stopped guest" \
    nh detach --name nova-hot --connection-info "$T_TMP/ci-$vb.json" --volume "$vb" --dev vdb
check "then Nova deleted B's volume secret" no_volume_secret "$vb"
check "destroy the guest" nh destroy --name nova-hot

# --- 4. _disconnect_volume with and without destroy_secrets -------------------
sd=$(volume_secret "$vd")
check "secret for D" test -n "$sd"
check "_disconnect_volume(destroy_secrets=False) (hard reboot)" \
    nh disconnect --connection-info "$T_TMP/ci-$vd.json" --volume "$vd" --destroy-secrets no
check_eq "keeps the volume secret" "$sd" "$(nh_out find-secret --volume "$vd")"
check "_disconnect_volume(destroy_secrets=True) (shelve offload, cold migration source)" \
    nh disconnect --connection-info "$T_TMP/ci-$vd.json" --volume "$vd" --destroy-secrets yes
check "deletes it" no_volume_secret "$vd"
check "A's secret is untouched by all of that" \
    bash -c "timeout 30 virsh -q -c '$URI' secret-list | grep -q '$sa'"

check "Nova logged that it skipped the secret's destruction" \
    grep -q "Skipping volume secret destruction" "$NOVA_LOG"
check "and, attaching with a secret present, that it skipped the key manager" \
    grep -q "A libvirt secret for volume $vb has been found on the host, skipping" "$NOVA_LOG"
check "stop the private libvirtd" libvirt_stop "$lvdir"
echo "   timing: whole test $(($(ms) - t_start)) ms"
