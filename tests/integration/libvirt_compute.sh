# The compute role against a real, private libvirtd: static secrets defined,
# restored after libvirtd loses them, drift corrected; volume secrets for
# every volume in the volume index, attach events as hints, detach changing
# nothing, delete removing; gc of gone volumes only; and the mission's whole
# path — a volume formatted by the volume role, its secret provisioned by the
# compute role, a TCG guest with that LUKS RBD disk started.
# run.sh: serial (compute agents read the whole volume index)
. "$(dirname "$0")/../lib/testlib.sh"
. "$(dirname "$0")/../lib/libvirt.sh"

lvdir=$T_TMP/lv
cleanup() {
    [ -n "${agent_pid:-}" ] && kill "$agent_pid" 2>/dev/null
    libvirt_stop "$lvdir" >/dev/null 2>&1
}
trap cleanup EXIT
out=$(libvirt_start "$lvdir" 2>"$T_TMP/lv-start.err")
if [ $? != 0 ]; then
    fail "private libvirtd starts" "$(tail -c 600 "$T_TMP/lv-start.err" | tr '\n' ' ')"
    exit 0
fi
URI=${out#LIBVIRT_URI=}
WAIT_FOR_POLL=0.2 # wait_for (testlib.sh) polls every 0.2 s here
HOST=cmp-test-1
CEPHX_UUID=6a3f0e4c-2b1d-4c8e-9f70-1a2b3c4d5e6f
keyring=$CEPH_DIR/ceph.client.cinder.keyring
cephx_b64=$(awk '$1 == "key" { print $3 }' "$keyring")

# The volume side formats a volume with a generated key (metadata provider).
vol=$T_TMP/volume
make_agent_dir "$vol"
head -c 32 /dev/urandom >"$T_TMP/kek-1.bin" && chmod 600 "$T_TMP/kek-1.bin"
sed -i -e '/^directory = /d' -e "s|^provider = .*|provider = metadata\nkek_id = kek-1\nkek_file = $T_TMP/kek-1.bin|" "$vol/agent.ini"
# A type of this test's own: the shared pool's index also lists other tests' volumes.
TYPE=lvc-type-$$
v1=$(new_uuid) v2=$(new_uuid) v3=$(new_uuid)
for v in "$v1" "$v2" "$v3"; do
    rbd_ create --size 1024 "volume-$v"
    event_json "$v" 1 "$TYPE" >>"$vol/events.jsonl"
done
run_once "$vol"
check_eq "volume side formatted three volumes" 0 "$RUN_RC"

# The compute side.
cmp=$T_TMP/compute
mkdir -p "$cmp/state"
: >"$cmp/events.jsonl"
cat >"$cmp/agent.ini" <<INI
[agent]
role = compute
hook_file = $cmp/events.jsonl
state_dir = $cmp/state
poll_interval_ms = 100
[compute]
uri = $URI
host = $HOST
types = $TYPE
reconcile_interval_s = 10
gc_interval_s = 0
gc_grace_s = 0
[secret:ceph-cinder]
uuid = $CEPHX_UUID
usage = ceph
usage_name = client.cinder secret
keyring = $keyring
entity = client.cinder
[ceph]
conf = $CEPH_CONF
client = cinder
pool = $POOL
[keys]
provider = metadata
kek_id = kek-1
kek_file = $T_TMP/kek-1.bin
[retry]
initial_ms = 100
max_ms = 1000
give_up_after_s = 30
INI
check "compute config passes check-config" "$AGENT" -c "$cmp/agent.ini" check-config
"$AGENT" -c "$cmp/agent.ini" run >>"$cmp/agent.log" 2>&1 &
agent_pid=$!
cephx_value() { vsh secret-get-value "$CEPHX_UUID" 2>/dev/null; }
cephx_right() { [ "$(cephx_value)" = "$cephx_b64" ]; }
has_secret() { [ -n "$(secret_of "$1")" ]; }
no_secret() { [ -z "$(secret_of "$1")" ]; }
check "static cephx secret defined with the keyring's key" wait_for 20 cephx_right
check "static secret has usage ceph 'client.cinder secret'" \
    bash -c "timeout 30 virsh -q -c '$URI' secret-dumpxml $CEPHX_UUID | grep -q '<name>client.cinder secret</name>'"

# libvirtd recreated without its secrets (Kolla >= 19 recreating the container).
libvirt_stop_daemon_and_forget_secrets() {
    kill -9 "$(cat "$lvdir/libvirtd.pid")"
    rm -f "$lvdir"/etc/secrets/*
    libvirt_restart_libvirtd "$lvdir" >/dev/null 2>&1
}
libvirt_stop_daemon_and_forget_secrets
check "after libvirtd comes back without secrets, the agent defines them again" \
    wait_for 10 cephx_right
check "the agent logged the reconnect" bash -c "[ \$(grep -c 'connected to libvirt at' '$cmp/agent.log') -ge 2 ]"

# Drift: someone changes the value; SIGHUP corrects it at once, the reconcile later.
echo -n "AQAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA==" >"$T_TMP/bogus"
vsh secret-set-value "$CEPHX_UUID" --file "$T_TMP/bogus" >/dev/null
kill -HUP "$agent_pid"
check "SIGHUP corrects a drifted value" wait_for 5 cephx_right
vsh secret-set-value "$CEPHX_UUID" --file "$T_TMP/bogus" >/dev/null
check "the reconcile interval corrects it without a signal" wait_for 20 cephx_right

# Every live volume in the volume index has its secret here, events or not
# (the fail-closed invariant, docs/decisions.md); attach events are hints.
attach() { # VOLUME HOST [EVENT]
    python3 -c '
import json, sys, uuid
print(json.dumps({"message_id": str(uuid.uuid4()), "event_type": sys.argv[3], "publisher_id": "volume.c1",
  "payload": {"volume_id": sys.argv[1], "volume_type": sys.argv[4], "size": 1, "status": "in-use",
              "volume_attachment": [{"attached_host": sys.argv[2], "instance_uuid": str(uuid.uuid4())}]}}))' \
        "$1" "$2" "${3:-volume.attach.start}" "$TYPE" >>"$cmp/events.jsonl"
}
event_of() { python3 -c '
import json, sys, uuid
print(json.dumps({"message_id": str(uuid.uuid4()), "event_type": sys.argv[2], "payload": {"volume_id": sys.argv[1], "volume_attachment": []}}))' "$1" "$2" >>"$cmp/events.jsonl"; }
secret_of() { "$AGENT" -c "$cmp/agent.ini" secrets list 2>/dev/null | awk -v v="$1" '$1 != "-" && $2 == "volume" && $3 == v { print $1 }'; }
check "every formatted volume gets its secret at start, without an event (1)" wait_for 20 has_secret "$v1"
check "every formatted volume gets its secret at start, without an event (2)" wait_for 20 has_secret "$v2"
check "every formatted volume gets its secret at start, without an event (3)" wait_for 20 has_secret "$v3"
attach "$v1" "$HOST.example.org"
attach "$v3" "$HOST" volume.attach.end
check "attach on this host (FQDN in the event): provisioned" \
    wait_for 20 grep -q "\"volume_id\":\"$v1\",\"event_type\":\"volume.attach.start\",.*\"outcome\":\"provisioned\"" "$cmp/state/results.jsonl"
check "attach.end works too" wait_for 20 grep -q "\"volume_id\":\"$v3\",\"event_type\":\"volume.attach.end\"" "$cmp/state/results.jsonl"
s1=$(secret_of "$v1")
keys_pass() { "$AGENT" -c "$vol/agent.ini" keys passphrase "$1" 2>/dev/null; }
check_eq "volume secret holds the hex passphrase (on-disk store of the private libvirtd)" \
    "$(keys_pass "$v1")" "$(base64 -d "$lvdir/etc/secrets/$s1.base64" 2>/dev/null)"
check "volume secret is private and marked as the agent's" \
    bash -c "timeout 30 virsh -q -c '$URI' secret-dumpxml $s1 | grep -q \"private='yes'\" &&
             timeout 30 virsh -q -c '$URI' secret-dumpxml $s1 | grep -q 'rbd-luks-agent managed'"
check "secrets list never shows values" bash -c "! '$AGENT' -c '$cmp/agent.ini' secrets list 2>&1 | grep -qF '$(keys_pass "$v1")'"

# The whole path: a guest with the LUKS RBD disk, cephx and volume secrets from the agent.
port=$(libvirt_ceph_mon_port "$CEPH_CONF" v2)
dom=cmp-guest
libvirt_luks_rbd_domain_xml "$dom" "$POOL" "volume-$v1" 127.0.0.1 "$port" cinder "$CEPHX_UUID" "$s1" >"$T_TMP/dom.xml"
check "define the guest" vsh define "$T_TMP/dom.xml"
vsh start --paused "$dom" >"$T_TMP/start.out" 2>&1
check_eq "guest starts with the agent's secrets" 0 $?
check_eq "guest sees exactly 1 GiB (decrypted size)" "$GIB" "$(vsh domblkinfo "$dom" vda | awk '$1 == "Capacity:" { print $2 }')"

# Detach events change nothing: the secret stays until the volume is deleted.
marker() { # a later event whose result shows the ones before it were handled
    local m=$(new_uuid)
    event_of "$m" volume.delete.end
    attach "$v3" "$HOST"
    wait_for 20 bash -c "[ \$(grep -c '\"volume_id\":\"$v3\",\"event_type\":\"volume.attach.start\"' '$cmp/state/results.jsonl') -ge $1 ]"
}
event_of "$v1" volume.detach.end
marker 1
check "detach while the guest runs: the secret stays" test -n "$(secret_of "$v1")"
vsh destroy "$dom" >/dev/null
event_of "$v1" volume.detach.end
marker 2
check "detach after the guest stopped: the secret still stays" test -n "$(secret_of "$v1")"
vsh undefine "$dom" >/dev/null

# Delete: the agent's secret goes.
event_of "$v3" volume.delete.end
check "delete removes the volume secret" wait_for 20 no_secret "$v3"

# A secret for a volume that the agent did not make (e.g. Nova's own): reported, left alone.
x=$(new_uuid)
vsh secret-define /dev/stdin >/dev/null <<XML
<secret ephemeral='no' private='no'><usage type='volume'><volume>$x</volume></usage></secret>
XML
nova_uuid=$(timeout 30 virsh -q -c "$URI" secret-list | awk -v v="$x" '$2 == "volume" && $3 == v { print $1 }')
attach "$x" "$HOST"
check "attach with a foreign secret for the volume: skipped, naming it" \
    wait_for 20 grep -q "\"volume_id\":\"$x\",.*\"outcome\":\"skipped\",\"reason\":\"[^\"]*$nova_uuid" "$cmp/state/results.jsonl"
check "the foreign secret is still not the agent's" bash -c "! timeout 30 virsh -q -c '$URI' secret-dumpxml $nova_uuid | grep -q 'rbd-luks-agent managed'"

kill -TERM "$agent_pid"
wait "$agent_pid"
check_eq "compute daemon exits 0 on SIGTERM" 0 $?
agent_pid=

# gc: only the agent's secrets of volumes that are gone (no index entry, no image).
dead=$(new_uuid)
"$AGENT" -c "$cmp/agent.ini" secrets provision "$dead" >"$T_TMP/prov-dead.out" 2>&1
check "provision of a volume the index does not know: a placeholder, not nothing" \
    grep -q "^$dead placeholder: " "$T_TMP/prov-dead.out"
foreign=$(new_uuid)
vsh secret-define /dev/stdin >/dev/null <<XML
<secret ephemeral='no' private='no'><usage type='volume'><volume>$foreign</volume></usage></secret>
XML
"$AGENT" -c "$cmp/agent.ini" secrets gc --dry-run >"$T_TMP/gc-dry.out" 2>&1
check "gc --dry-run names only the gone volume's secret" bash -c "grep -q '$dead' '$T_TMP/gc-dry.out' && ! grep -q '$v1' '$T_TMP/gc-dry.out' && ! grep -q '$v2' '$T_TMP/gc-dry.out' && ! grep -q '$foreign' '$T_TMP/gc-dry.out'"
check "dry run removed nothing" test -n "$(secret_of "$dead")"
"$AGENT" -c "$cmp/agent.ini" secrets gc >/dev/null 2>&1
check_eq "gc removed the gone volume's secret" "" "$(secret_of "$dead")"
check "gc kept the live volumes' secrets" bash -c "[ -n \"\$('$AGENT' -c '$cmp/agent.ini' secrets list 2>/dev/null | awk '\$3 == \"$v1\" && \$1 != \"-\"')\" ]"
check "gc never touches a secret it did not make" bash -c "timeout 30 virsh -q -c '$URI' secret-list | grep -q '$foreign'"
check "the static cephx secret is untouched by gc" cephx_right
check "no key material in the compute agent's log or state" bash -c "! grep -rqF '$(keys_pass "$v1")' '$cmp/agent.log' '$cmp/state' && ! grep -rqF '$cephx_b64' '$cmp/agent.log' '$cmp/state'"
