# Fail closed: the compute role keeps a `volume` secret for every live
# agent-managed volume, from volume.create.start to its deletion, against a
# real private libvirtd and the real volume role on the private Ceph cluster.
# A placeholder until the volume is formatted, the passphrase after; put
# back when someone else undefines it; never for a header the agent did not
# write; everything again after libvirtd loses its store or the agent was
# stopped; a domain with a managed volume plugged raw is reported and paused.
# run.sh: serial (compute agents read the whole volume index)
. "$(dirname "$0")/../lib/testlib.sh"
. "$(dirname "$0")/../lib/libvirt.sh"

lvdir=$T_TMP/lv
cleanup() {
    [ -n "${agent_pid:-}" ] && kill "$agent_pid" 2>/dev/null
    [ -n "${vagent_pid:-}" ] && kill "$vagent_pid" 2>/dev/null
    libvirt_stop "$lvdir" >/dev/null 2>&1
}
trap cleanup EXIT
out=$(libvirt_start "$lvdir" 2>"$T_TMP/lv-start.err")
if [ $? != 0 ]; then
    fail "private libvirtd starts" "$(tail -c 600 "$T_TMP/lv-start.err" | tr '\n' ' ')"
    exit 0
fi
URI=${out#LIBVIRT_URI=}
HOST=cmp-fc-1
CEPHX_UUID=7b4e1f5d-3c2e-4d9f-8a81-2b3c4d5e6f70
keyring=$CEPH_DIR/ceph.client.cinder.keyring
# A type of this test's own: the shared pool's index also lists other tests' volumes.
TYPE=fc-type-$$
# index_has ID [PATTERN]: the volume index holds an entry for ID (matching PATTERN).
index_has() {
    timeout -s KILL 30 rados --conf "$CEPH_CONF" --id admin -p "$POOL" getomapval rbd-luks-agent.index "$1" "$T_TMP/iv" >/dev/null 2>&1 &&
        grep -q -- "${2:-^v1 }" "$T_TMP/iv"
}

# The volume side: metadata provider, its own hook file, running as a daemon.
vol=$T_TMP/volume
# Conversion off, so that an image holding data is refused (case 4).
make_agent_dir "$vol" "volume.max_convert_gib = 0"
head -c 32 /dev/urandom >"$T_TMP/kek-1.bin" && chmod 600 "$T_TMP/kek-1.bin"
sed -i -e '/^directory = /d' -e "s|^provider = .*|provider = metadata\nkek_id = kek-1\nkek_file = $T_TMP/kek-1.bin|" \
    -e "s|^types = .*|types = $TYPE|" "$vol/agent.ini"
"$AGENT" -c "$vol/agent.ini" run >>"$vol/agent.log" 2>&1 &
vagent_pid=$!

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
health_interval = 1
[compute]
uri = $URI
host = $HOST
types = $TYPE
reconcile_interval_s = 10
gc_interval_s = 3600
gc_grace_s = 0
[secret:ceph-cinder]
uuid = $CEPHX_UUID
usage = ceph
usage_name = client.cinder secret fc
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
max_ms = 500
give_up_after_s = 30
INI
check "compute config passes check-config" "$AGENT" -c "$cmp/agent.ini" check-config
start_compute() {
    "$AGENT" -c "$cmp/agent.ini" run >>"$cmp/agent.log" 2>&1 &
    agent_pid=$!
}
stop_compute() { kill -TERM "$agent_pid" && wait "$agent_pid"; agent_pid=; }
start_compute
healthy() { "$AGENT" -c "$cmp/agent.ini" health >/dev/null 2>&1; }
check "the compute agent reports healthy once its first reconcile is done" wait_for 20 healthy

list() { "$AGENT" -c "$cmp/agent.ini" secrets list 2>/dev/null; }
secret_of() { list | awk -v v="$1" '$1 != "-" && $2 == "volume" && $3 == v { print $1 }'; }
state_of() { list | awk -v v="$1" '$2 == "volume" && $3 == v { print $NF == "set" ? "value set" : $NF }'; }
is_state() { [ "$(state_of "$1")" = "$2" ]; }
value_of() { local s; s=$(secret_of "$1"); [ -n "$s" ] && base64 -d "$lvdir/etc/secrets/$s.base64" 2>/dev/null; }
keys_pass() { "$AGENT" -c "$vol/agent.ini" keys passphrase "$1" 2>/dev/null; }
has_value() { [ -n "$(keys_pass "$1")" ] && [ "$(value_of "$1")" = "$(keys_pass "$1")" ]; }
no_secret() { [ -z "$(secret_of "$1")" ]; }
to_compute() { event_json "$1" 1 "$TYPE" "$2" >>"$cmp/events.jsonl"; }
to_volume() { event_json "$1" 1 "$TYPE" "$2" >>"$vol/events.jsonl"; }
result_is() { grep -q "\"volume_id\":\"$1\",.*\"outcome\":\"$2\"" "$cmp/state/results.jsonl"; }

# 1. create.start: a placeholder at once, before any image exists.
a=$(new_uuid)
to_compute "$a" volume.create.start
check "create.start: a placeholder secret is defined" wait_for 5 is_state "$a" placeholder
check "its result line says placeholder" result_is "$a" placeholder
# Cinder makes the image, then the volume agent formats it.
rbd_ create --size 1024 "volume-$a"
to_volume "$a" volume.create.end
check "the volume agent records the format in the volume index" wait_for 30 index_has "$a"
pa=$(keys_pass "$a")
check "the placeholder is not the passphrase" test -n "$pa" -a -n "$(value_of "$a")" -a "$(value_of "$a")" != "$pa"
to_compute "$a" volume.create.end
check "create.end: the secret then holds the passphrase" wait_for 10 has_value "$a"
check "secrets list says value set" is_state "$a" "value set"

# 2. create.end reaching the compute side before the format is recorded: it waits.
b=$(new_uuid)
rbd_ create --size 1024 "volume-$b"
to_compute "$b" volume.create.start
to_compute "$b" volume.create.end
check "create.end before the format: placeholder, value pending" wait_for 5 is_state "$b" placeholder
to_volume "$b" volume.create.end
check "once the volume agent is done, the value follows by itself" wait_for 20 has_value "$b"

# 2b. Cinder's manage-existing (cinder/volume/flows/manager/manage_existing.py:124-131
# sends volume.manage_existing.start and .end): the same as a create.
m=$(new_uuid)
to_compute "$m" volume.manage_existing.start
check "manage_existing.start: a placeholder secret is defined" wait_for 5 is_state "$m" placeholder
rbd_ create --size 1024 "volume-$m"
to_volume "$m" volume.manage_existing.end
check "the volume agent formats a blank managed image and records it" wait_for 30 index_has "$m"
to_compute "$m" volume.manage_existing.end
check "manage_existing.end: the secret then holds the passphrase" wait_for 10 has_value "$m"

# 3. Someone else (Nova's detach, rollback, shelve, migration) undefines it: back at once.
sa=$(secret_of "$a")
vsh secret-undefine "$sa" >/dev/null
check "an undefined volume secret is put back within a second" wait_for 1 has_value "$a"
check "its result line says restored" wait_for 2 result_is "$a" restored

# 4. A volume the volume agent refuses (it holds data): the placeholder stays.
r=$(new_uuid)
rbd_ create --size 1024 "volume-$r"
timeout -s KILL 60 qemu-io -f raw -c "write -P 0x5a 100M 1M" "rbd:$POOL/volume-$r:conf=$CEPH_CONF:id=admin" >/dev/null 2>&1
to_compute "$r" volume.create.start
to_volume "$r" volume.create.end
to_compute "$r" volume.create.end
check "a refused volume is recorded as refused in the index" wait_for 30 index_has "$r" "state=refused"
check "a refused volume keeps its placeholder: it can never be attached raw" \
    wait_for 10 grep -q "\"volume_id\":\"$r\",.*\"outcome\":\"placeholder\",\"reason\":\"the volume agent recorded 'refused'" "$cmp/state/results.jsonl"
check "the refused volume's secret is still a placeholder" is_state "$r" placeholder

# 5. A header the agent did not write (Cinder's own encrypted type): Nova's, no placeholder.
f=$(new_uuid)
echo -n 0123456789abcdef0123456789abcdef >"$T_TMP/fpass"
to_compute "$f" volume.create.start
check "a placeholder for the other type's volume first" wait_for 5 is_state "$f" placeholder
for try in 1 2 3 4 5; do
    timeout -s KILL 120 qemu-img create -f luks --object "secret,id=s0,file=$T_TMP/fpass" -o key-secret=s0 \
        -o iter-time=10 "rbd:$POOL/volume-$f:conf=$CEPH_CONF:id=admin" 1G >/dev/null 2>&1 && break
    rbd_ rm "volume-$f" >/dev/null 2>&1
done
to_volume "$f" volume.create.end
to_compute "$f" volume.create.end
check "a foreign header is recorded as foreign in the index" wait_for 30 index_has "$f" "state=foreign"
check "the compute agent removes its placeholder so that Nova fetches the key" wait_for 10 no_secret "$f"
check "its result says why" grep -q "\"volume_id\":\"$f\",.*\"outcome\":\"removed\",\"reason\":\"the volume holds a LUKS header rbd-luks-agent did not write" "$cmp/state/results.jsonl"

# 6. libvirtd loses its whole store (a recreated container): every live secret back before healthy.
# Twenty more volumes, formatted without any event on the compute side, make the
# reconcile define in parallel (on connections of its own).
bulk=()
for i in $(seq 1 20); do
    v=$(new_uuid)
    bulk+=("$v")
    rbd_ create --size 1024 "volume-$v"
    to_volume "$v" volume.create.end
done
all_indexed() { for v in "${bulk[@]}"; do index_has "$v" || return 1; done; }
check "twenty more volumes are formatted and indexed" wait_for 60 all_indexed
kill -9 "$(cat "$lvdir/libvirtd.pid")"
# While libvirtd is away the agent waits; it does not spin (it once did, on
# libvirt's unread notices).
cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$agent_pid/stat"; }
t0=$(cpu_ticks); sleep 2; t1=$(cpu_ticks)
check "with libvirtd gone the agent uses under a quarter of a CPU (ticks in 2 s: $((t1 - t0)))" test $((t1 - t0)) -lt 50
rm -f "$lvdir"/etc/secrets/*
libvirt_restart_libvirtd "$lvdir" >/dev/null 2>&1
sleep 1.2  # the health file is refreshed every second
unhealthy_or_all_back() { healthy || return 0; has_value "$a" && has_value "$b" && is_state "$r" placeholder; }
all_back() { has_value "$a" && has_value "$b" && is_state "$r" placeholder; }
bulk_back() {
    local listing v s
    listing=$(list)
    for v in "${bulk[@]}"; do
        s=$(awk -v v="$v" '$1 != "-" && $3 == v { print $1 }' <<<"$listing")
        [ -n "$s" ] && [ "$(base64 -d "$lvdir/etc/secrets/$s.base64" 2>/dev/null)" = "$(keys_pass "$v")" ] || return 1
    done
}
check "after a wiped libvirtd every live volume's secret is back" wait_for 20 all_back
check "and health was never healthy while one was missing" unhealthy_or_all_back
check "the twenty others are back too, each with its own passphrase" wait_for 20 bulk_back
check "the reconcile defined them in one pass" grep -q "reconcile: .* 2[0-9] changed, 0 removed" "$cmp/agent.log"
check "health is ok again" wait_for 20 healthy
check "the foreign volume still has none" no_secret "$f"

# 7. Agent stopped while volumes are created and deleted: its start-up reconcile adds and removes exactly those.
stop_compute
c=$(new_uuid)
rbd_ create --size 1024 "volume-$c"
to_volume "$c" volume.create.end
check "a volume created while the compute agent was down is indexed" wait_for 30 index_has "$c"
rbd_ rm "volume-$b" >/dev/null 2>&1
to_volume "$b" volume.delete.end
check "a volume deleted while it was down leaves the index" wait_for 30 index_lacks "$b"
start_compute
check "start-up reconcile gives the new volume its secret" wait_for 20 has_value "$c"
check "start-up reconcile removes the deleted volume's secret" wait_for 20 no_secret "$b"
check "and leaves the others" has_value "$a"

# 8. Delete: removed on delete.start, and not put back.
to_compute "$c" volume.delete.start
check "delete removes the secret" wait_for 10 no_secret "$c"
sleep 0.5
check "and it is not put back" no_secret "$c"
check "while the index still lists it, secrets list shows it missing" bash -c "'$AGENT' -c '$cmp/agent.ini' secrets list 2>/dev/null | grep -q '^-  *volume  *$c .*missing\$'"

# 9. A managed volume plugged without <encryption> (the fail-open path): reported and paused.
port=$(libvirt_ceph_mon_port "$CEPH_CONF" v2)
dom=fc-raw
cat >"$T_TMP/raw.xml" <<XML
<domain type='qemu'>
  <name>$dom</name>
  <memory unit='MiB'>64</memory>
  <vcpu>1</vcpu>
  <os><type arch='x86_64'>hvm</type></os>
  <features><acpi/></features>
  <devices>
    <disk type='network' device='disk'>
      <driver name='qemu' type='raw' cache='none'/>
      <source protocol='rbd' name='$POOL/volume-$a'>
        <host name='127.0.0.1' port='$port'/>
      </source>
      <auth username='cinder'><secret type='ceph' uuid='$CEPHX_UUID'/></auth>
      <target dev='vdb' bus='virtio'/>
    </disk>
  </devices>
</domain>
XML
vsh create "$T_TMP/raw.xml" >"$T_TMP/raw-start.out" 2>&1
check_eq "a guest with the volume raw starts (the fail-open path, forced)" 0 $?
check "the agent reports it as exposed" wait_for 5 grep -q "\"volume_id\":\"$a\",.*\"outcome\":\"exposed\",\"reason\":\"domain $dom has volume $a as disk vdb" "$cmp/state/results.jsonl"
paused() { vsh domstate "$dom" | grep -q paused; }
check "and pauses the domain before its guest writes more" wait_for 5 paused
sleep 1.2
check "health is degraded while it runs raw" bash -c "! '$AGENT' -c '$cmp/agent.ini' health >/dev/null 2>&1"
vsh destroy "$dom" >/dev/null 2>&1
kill -HUP "$agent_pid"
check "health recovers once it is gone" wait_for 20 healthy

# 10. Another volume's image holding a header the agent made (what a restore, an image or a
# clone of an agent volume into a type the agent does not manage leaves: the bytes without
# the index entry), plugged raw: found through the header map, reported and paused. A
# guest's own LUKS (a header the map does not know) and a plain disk are left alone.
raw_domain() { # NAME IMAGE: a running guest with POOL/IMAGE as vdb, no <encryption>
    sed -e "s|<name>$dom</name>|<name>$1</name>|" -e "s|name='$POOL/volume-$a'|name='$POOL/$2'|" \
        "$T_TMP/raw.xml" >"$T_TMP/$1.xml" && vsh create "$T_TMP/$1.xml" >/dev/null 2>&1
}
copy=$(new_uuid)
rbd_ export --no-progress "volume-$a" - 2>/dev/null | rbd_ import --no-progress - "volume-$copy" 2>/dev/null
check "a byte copy of $a's image as volume $copy (no image metadata, no index entry)" \
    bash -c "! timeout -s KILL 30 rados --conf '$CEPH_CONF' --id admin -p '$POOL' getomapval rbd-luks-agent.index '$copy' /dev/null >/dev/null 2>&1"
guest_luks=$(new_uuid)
printf 'guest-passphrase' >"$T_TMP/guest.pass"
timeout -s KILL 60 qemu-img create -f luks --object secret,id=g0,file="$T_TMP/guest.pass" -o key-secret=g0 \
    "rbd:$POOL/volume-$guest_luks:conf=$CEPH_CONF:id=admin" 64M >/dev/null 2>&1
plain=$(new_uuid)
rbd_ create --size 64M "volume-$plain" 2>/dev/null
check "a guest with the copy raw starts" raw_domain fc-copy "volume-$copy"
check "the copy is reported exposed, naming the volume its header was made for" wait_for 5 grep -q \
    "\"volume_id\":\"$copy\",.*\"outcome\":\"exposed\",\"reason\":\"domain fc-copy has volume $copy as disk vdb without <encryption>: not a volume rbd-luks-agent manages, but its image starts with the header rbd-luks-agent made for volume $a" \
    "$cmp/state/results.jsonl"
copy_paused() { vsh domstate fc-copy | grep -q paused; }
check "and its domain is paused" wait_for 5 copy_paused
check "a guest with its own LUKS inside, raw, starts" raw_domain fc-guest "volume-$guest_luks"
check "and a guest with a plain disk" raw_domain fc-plain "volume-$plain"
sleep 2
kill -HUP "$agent_pid"
sleep 2
not_reported() { ! grep -q "\"volume_id\":\"$1\"" "$cmp/state/results.jsonl"; }
neither_reported() { not_reported "$guest_luks" && not_reported "$plain"; }
check "neither is reported (after their start and a reconcile)" neither_reported
running() { vsh domstate "$1" | grep -q running; }
for d in fc-guest fc-plain; do check "nor paused: $d runs" running "$d"; done
for d in fc-copy fc-guest fc-plain; do vsh destroy "$d" >/dev/null 2>&1; done
for v in "$copy" "$guest_luks" "$plain"; do rbd_ rm --no-progress "volume-$v" >/dev/null 2>&1; done
kill -HUP "$agent_pid"
check "health recovers once they are gone" wait_for 20 healthy

# 11. A backup restored over another agent volume (what cinder-backup does: the source's
# bytes, header included, written into the target's image, its metadata left; the
# notification names only the backup's source: tests/integration/cinder_backup.sh): on
# backup.restore.end the volume agent finds the target and re-binds the source's key to
# it, and the compute agent's rechecks after the event give the secret the new value.
rs=$(new_uuid) rt=$(new_uuid)
for v in "$rs" "$rt"; do
    rbd_ create --size 1024 "volume-$v"
    to_compute "$v" volume.create.start
    to_volume "$v" volume.create.end
done
both_indexed() { index_has "$rs" && index_has "$rt"; }
check "restore: source and target formatted" wait_for 30 both_indexed
for v in "$rs" "$rt"; do to_compute "$v" volume.create.end; done
check "restore: the target's secret holds its own passphrase" wait_for 10 has_value "$rt"
prt=$(keys_pass "$rt") prs=$(keys_pass "$rs")
printf '%s' "$prs" >"$T_TMP/rs.pass"
check "restore: the source's data written through LUKS" \
    qemu_luks_io "$rs" "$T_TMP/rs.pass" -c "write -P 0x6b 0 64k"
rbdspec() { echo "rbd:$POOL/volume-$1:conf=$CEPH_CONF:id=admin"; }
check "restore: the source's bytes copied over the target, its metadata kept (a restore)" \
    timeout -s KILL 120 qemu-img convert -n -f raw -O raw "$(rbdspec "$rs")" "$(rbdspec "$rt")"
restore_end() { # SOURCE BACKUP: backup.restore.end as cinder-backup sends it (_usage_from_backup)
    printf '{"message_id": "%s", "publisher_id": "backup.cinder-host", "event_type": "backup.restore.end", "priority": "INFO", "payload": {"tenant_id": "7e1c", "user_id": "a1b2", "availability_zone": "nova", "backup_id": "%s", "host": "cinder-host", "display_name": "b", "created_at": "2026-11-25T21:00:00+00:00", "status": "available", "volume_id": "%s", "size": 1, "service_metadata": "volume_%s/x", "service": "cinder.backup.drivers.posix", "fail_reason": null, "parent_id": null, "num_dependent_backups": 0, "snapshot_id": null}, "timestamp": "2026-11-25 21:00:00.000000"}\n' \
        "$(new_uuid)" "$2" "$1" "$1"
}
bid=$(new_uuid)
restore_end "$rs" "$bid" >>"$vol/events.jsonl"
restore_end "$rs" "$bid" >>"$cmp/events.jsonl"
vresult() { grep "\"volume_id\":\"$1\",\"event_type\":\"backup.restore.end\"" "$vol/state/results.jsonl" 2>/dev/null; }
rebound() { vresult "$rt" | grep -q "\"outcome\":\"inherited\",\"reason\":\"backup $bid of volume $rs was restored over it: .*inherited from $rs"; }
check "restore: the volume agent re-binds the source's key to the target (inherited)" \
    wait_for 30 rebound
check "restore: the source's own line names the target" \
    bash -c "grep '\"volume_id\":\"$rs\",\"event_type\":\"backup.restore.end\"' '$vol/state/results.jsonl' | grep -q 'restored into 1 volume(s) .*$rt'"
check_eq "restore: the target's passphrase is now the source's" "$prs" "$(keys_pass "$rt")"
check "restore: the compute agent says when it looks again" \
    wait_for 5 grep -q "\"volume_id\":\"$rs\",\"event_type\":\"backup.restore.end\",.*\"outcome\":\"skipped\",\"reason\":\"a backup of this volume was restored: .*reconciles in 5, 20, 65 and 200 s" "$cmp/state/results.jsonl"
new_value() { [ "$(value_of "$rt")" = "$prs" ]; }
check "restore: the target's secret gets the new value (a recheck after the event)" \
    wait_for 30 new_value
check "restore: that is not the value it had" test "$prt" != "$prs"
printf '%s' "$(value_of "$rt")" >"$T_TMP/rt.pass"
check "restore: the secret's value opens the target and reads the source's data" \
    qemu_luks_io "$rt" "$T_TMP/rt.pass" -c "read -P 0x6b 0 64k"
check "restore: the source keeps its own value" has_value "$rs"

stop_compute
check "no key material in the compute agent's log or state" bash -c "! grep -rqF '$(keys_pass "$a")' '$cmp/agent.log' '$cmp/state'"
kill -TERM "$vagent_pid" && wait "$vagent_pid"
vagent_pid=
