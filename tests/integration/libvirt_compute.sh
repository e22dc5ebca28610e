# The compute role against a real, private libvirtd: static secrets defined,
# restored after libvirtd loses them, drift corrected; volume secrets on
# attach/detach/delete events; gc; and the mission's whole path — a volume
# formatted by the volume role, its secret provisioned by the compute role,
# a TCG guest with that LUKS RBD disk started.
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
vsh() { timeout -s KILL 120 virsh -q -c "$URI" "$@"; }
wait_for() { # SECONDS COMMAND...
    local end=$((SECONDS + $1))
    shift
    until "$@" >/dev/null 2>&1; do
        [ $SECONDS -ge $end ] && return 1
        sleep 0.2
    done
}
HOST=cmp-test-1
CEPHX_UUID=6a3f0e4c-2b1d-4c8e-9f70-1a2b3c4d5e6f
keyring=$CEPH_DIR/ceph.client.cinder.keyring
cephx_b64=$(awk '$1 == "key" { print $3 }' "$keyring")

# The volume side formats a volume with a generated key (metadata provider).
vol=$T_TMP/volume
make_agent_dir "$vol"
head -c 32 /dev/urandom >"$T_TMP/kek-1.bin" && chmod 600 "$T_TMP/kek-1.bin"
sed -i -e '/^directory = /d' -e "s|^provider = .*|provider = metadata\nkek_id = kek-1\nkek_file = $T_TMP/kek-1.bin|" "$vol/agent.ini"
v1=$(new_uuid) v2=$(new_uuid) v3=$(new_uuid)
for v in "$v1" "$v2" "$v3"; do
    rbd_ create --size 1024 "volume-$v"
    event_json "$v" 1 >>"$vol/events.jsonl"
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

# Attach events: this host gets a volume secret, another host's attach does not.
attach() { # VOLUME HOST [EVENT]
    python3 -c '
import json, sys, uuid
print(json.dumps({"message_id": str(uuid.uuid4()), "event_type": sys.argv[3], "publisher_id": "volume.c1",
  "payload": {"volume_id": sys.argv[1], "volume_type": "t1", "size": 1, "status": "in-use",
              "volume_attachment": [{"attached_host": sys.argv[2], "instance_uuid": str(uuid.uuid4())}]}}))' \
        "$1" "$2" "${3:-volume.attach.start}" >>"$cmp/events.jsonl"
}
event_of() { python3 -c '
import json, sys, uuid
print(json.dumps({"message_id": str(uuid.uuid4()), "event_type": sys.argv[2], "payload": {"volume_id": sys.argv[1], "volume_attachment": []}}))' "$1" "$2" >>"$cmp/events.jsonl"; }
secret_of() { "$AGENT" -c "$cmp/agent.ini" secrets list 2>/dev/null | awk -v v="$1" '$2 == "volume" && $3 == v { print $1 }'; }
attach "$v1" "$HOST.example.org"
attach "$v2" other-host
attach "$v3" "$HOST" volume.attach.end
check "attach on this host (FQDN in the event) provisions a volume secret" wait_for 20 has_secret "$v1"
check "attach.end works too" wait_for 20 has_secret "$v3"
# v3's event came after v2's: v2's has been handled by now.
check_eq "attach on another host provisions nothing" "" "$(secret_of "$v2")"
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

# Detach while the guest runs: kept. After it stops: removed.
event_of "$v1" volume.detach.end
check "detach while a running domain uses it: kept" wait_for 20 grep -q "\"volume_id\":\"$v1\",.*\"outcome\":\"kept\"" "$cmp/state/results.jsonl"
check "the secret is still there" test -n "$(secret_of "$v1")"
vsh destroy "$dom" >/dev/null
event_of "$v1" volume.detach.end
check "detach with no running user: removed" wait_for 20 no_secret "$v1"

# A wrong passphrase: the guest does not start.
vsh secret-define /dev/stdin >/dev/null <<XML
<secret ephemeral='no' private='no'><uuid>$s1</uuid><usage type='volume'><volume>$v1</volume></usage></secret>
XML
printf '%064d' 0 >"$T_TMP/wrongpass"
vsh secret-set-value "$s1" --file "$T_TMP/wrongpass" --plain >/dev/null
vsh start --paused "$dom" >"$T_TMP/start-wrong.out" 2>&1
check_eq "with a wrong secret value the start fails" 1 $?
check "qemu says the passphrase is wrong" grep -qi "Invalid password\|cannot unlock" "$T_TMP/start-wrong.out"
vsh secret-undefine "$s1" >/dev/null
vsh undefine "$dom" >/dev/null

# Delete: the agent's secret goes; a secret the agent did not make stays.
event_of "$v3" volume.delete.end
check "delete removes the volume secret" wait_for 20 no_secret "$v3"

# A secret for the volume that the agent did not make (e.g. Nova's own): reported, left alone.
nova=$(new_uuid)
vsh secret-define /dev/stdin >/dev/null <<XML
<secret ephemeral='no' private='no'><usage type='volume'><volume>$v2</volume></usage></secret>
XML
nova_uuid=$(timeout 30 virsh -q -c "$URI" secret-list | awk -v v="$v2" '$2 == "volume" && $3 == v { print $1 }')
attach "$v2" "$HOST"
check "attach with a foreign secret for the volume: skipped, naming it" \
    wait_for 20 grep -q "\"volume_id\":\"$v2\",.*\"outcome\":\"skipped\",\"reason\":\"[^\"]*$nova_uuid" "$cmp/state/results.jsonl"
check "the foreign secret is still not the agent's" bash -c "! timeout 30 virsh -q -c '$URI' secret-dumpxml $nova_uuid | grep -q 'rbd-luks-agent managed'"
vsh secret-undefine "$nova_uuid" >/dev/null

# gc: only unreferenced, agent-owned secrets go.
"$AGENT" -c "$cmp/agent.ini" secrets provision "$v2" >/dev/null 2>&1
"$AGENT" -c "$cmp/agent.ini" secrets provision "$v1" >/dev/null 2>&1
s1=$(secret_of "$v1")
s2=$(secret_of "$v2")
libvirt_luks_rbd_domain_xml "$dom" "$POOL" "volume-$v1" 127.0.0.1 "$port" cinder "$CEPHX_UUID" "$s1" >"$T_TMP/dom.xml"
vsh define "$T_TMP/dom.xml" >/dev/null
foreign=$(new_uuid)
vsh secret-define /dev/stdin >/dev/null <<XML
<secret ephemeral='no' private='no'><usage type='volume'><volume>$foreign</volume></usage></secret>
XML
"$AGENT" -c "$cmp/agent.ini" secrets gc --dry-run >"$T_TMP/gc-dry.out" 2>&1
check "gc --dry-run names only the unreferenced agent secret" bash -c "grep -q '$v2' '$T_TMP/gc-dry.out' && ! grep -q '$v1' '$T_TMP/gc-dry.out' && ! grep -q '$foreign' '$T_TMP/gc-dry.out'"
check "dry run removed nothing" test -n "$(secret_of "$v2")"
"$AGENT" -c "$cmp/agent.ini" secrets gc >/dev/null 2>&1
check_eq "gc removed the unreferenced agent secret" "" "$(secret_of "$v2")"
check "gc kept the secret a defined (stopped) domain references" test -n "$(secret_of "$v1")"
check "gc never touches a secret it did not make" bash -c "timeout 30 virsh -q -c '$URI' secret-list | grep -q '$foreign'"
check "the static cephx secret is untouched by gc" cephx_right

kill -TERM "$agent_pid"
wait "$agent_pid"
check_eq "compute daemon exits 0 on SIGTERM" 0 $?
agent_pid=
check "no key material in the compute agent's log or state" bash -c "! grep -rqF '$(keys_pass "$v1")' '$cmp/agent.log' '$cmp/state' && ! grep -rqF '$cephx_b64' '$cmp/agent.log' '$cmp/state'"
