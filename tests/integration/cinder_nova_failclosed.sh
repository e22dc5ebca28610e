#!/usr/bin/env bash
# cinder_nova_failclosed: the compute role's fail-closed promise (docs/decisions.md,
# "Fail closed: every compute host holds every live volume's secret") against the REAL
# Cinder services (python3-cinder: api, scheduler, volume with the RBD driver, on the
# private Ceph and a private RabbitMQ) and NOVA'S OWN libvirt driver (python3-nova,
# driven by tests/lib/nova_harness.py), with two compute hosts:
#   cmp-a, cmp-b   each a private libvirtd (tests/lib/libvirt.sh) and a compute agent
#                  (role = compute, [compute] host = cmp-a / cmp-b, the static cephx
#                  secret under Cinder's rbd_secret_uuid);
#   volume side    one volume agent (provider = metadata; one KEK shared by all agents);
# each agent fed by its own `rbd-luks-agent feed` (its own durable queue, routing key
# notifications_luks.info) from the broker Cinder publishes to. connection_info always
# comes from Cinder's attachment API in Nova's order (nova/virt/block_device.py:
# attachment_update with the host's connector, the driver, then attachment_complete),
# put into Nova's form by nova/volume/cinder.py _translate_attachment_ref. Each
# scenario judges what the GUEST sees through Nova's disk (qemu-io on the guest's own
# device): capacity exactly the volume's 1 GiB, a pattern written reads back, and never
# the raw image (first bytes never the LUKS magic 4c 55 4b 53 ba be).
#   1  hot attach with no attach-event help (cmp-a's feeder stopped)
#   2  Nova's detach deletes the secret: back within 1 s; reattach
#   3  attach between `available` and the end of the format (volume agent stopped):
#      fails in qemu (no header yet); header written but the host's secret still the
#      placeholder (its agent held): fails too ("Invalid password"); once the agent
#      has the passphrase the same attach works
#   4  boot from volume                       5  hard reboot keeps the secret
#   6  shelve offload on A, unshelve on B     7  cold migration A -> B
#   8  live migration's destination: pre_live_migration on B finds the secret
#   9  libvirtd of B killed, store wiped: all back before health says healthy
#  10  agent A stopped while Cinder creates and deletes: its start-up reconcile
#  11  a raw disk forced on B: reported `exposed` and paused
#  12  snapshots and clones through Cinder: S1 written through a guest; F1 (1 GiB) and
#      F2 (2 GiB) from a snapshot of it, CL1 a clone of it; each an RBD clone, its key
#      re-bound by the volume agent (result inherited), both hosts hold it, and the
#      guest sees its size and S1's data; deleted through Cinder, clones first
#  13  extend of attached volumes through Cinder (3.42): the agent grows each image on
#      volume.resize.end; G1 with Nova's extend_volume: the running guest sees exactly
#      2 GiB, the image 2 GiB + the offset once; G2 without it (Nova's event lost): 2 GiB
#      once plugged again; data written before reads back, the new end writable
# run.sh: serial (adds a ceph-mgr to the shared cluster and stops it again; compute agents read the whole volume index)
. "$(dirname "$0")/../lib/testlib.sh"
. "$(dirname "$0")/../lib/libvirt.sh"

here=$(cd "$(dirname "$0")" && pwd)
LIB=$(cd "$here/../lib" && pwd)
HARNESS=$LIB/nova_harness.py
BROKER=$T_TMP/broker
CINDER=$T_TMP/cinder
LVA=$T_TMP/lva
LVB=$T_TMP/lvb
VOL=$T_TMP/vol
CMPA=$T_TMP/cmp-a
CMPB=$T_TMP/cmp-b
CI=$T_TMP/ci
MAGIC="4c 55 4b 53 ba be"
LAST=$((GIB - 65536))
OWN_CEPH=
RUN_V='' FEED_V='' RUN_A='' FEED_A='' RUN_B='' FEED_B='' LVA_START='' LVB_START=''
vols=()         # every volume id this test made, for the cleanup
atts=()         # every attachment id
declare -A ATT  # volume id -> its current attachment id

t_start=$(ms)
mkdir -p "$CI" "$T_TMP/b"

cleanup() {
    local v
    for v in RUN_A RUN_B RUN_V FEED_A FEED_B FEED_V; do
        [ -n "${!v}" ] && kill -CONT "${!v}" 2>/dev/null
        stop_pid "${!v}"
    done
    [ -n "$LVA_START" ] && wait "$LVA_START" 2>/dev/null
    [ -n "$LVB_START" ] && wait "$LVB_START" 2>/dev/null
    libvirt_stop "$LVA" >/dev/null 2>&1
    libvirt_stop "$LVB" >/dev/null 2>&1
    services_down
    # What a run that ended early left in the shared pool: images (clones before their
    # parents, the parents' snapshots with them) and index entries.
    local i s
    for ((i = ${#vols[@]} - 1; i >= 0; i--)); do
        v=${vols[i]}
        for s in $(snaps_of "$v" 2>/dev/null); do
            rbd_ snap unprotect "volume-$v@$s" >/dev/null 2>&1
        done
        rbd_ snap purge --no-progress "volume-$v" >/dev/null 2>&1
        rbd_ rm --no-progress "volume-$v" >/dev/null 2>&1
        timeout -s KILL 30 rados --conf "$CEPH_CONF" --id admin -p "$POOL" \
            rmomapkey rbd-luks-agent.index "$v" >/dev/null 2>&1
    done
    ceph_down
}
trap cleanup EXIT

# python3-nova installs for Debian's interpreter, which need not be the first python3.
NOVA_PY=
for py in /usr/bin/python3 $(type -ap python3); do
    if "$py" -c 'import nova.virt.libvirt.driver, libvirt, os_brick, cinder' >/dev/null 2>&1; then
        NOVA_PY=$py
        break
    fi
done
if [ -z "$NOVA_PY" ]; then
    fail "python3-nova, python3-cinder, python3-libvirt and python3-os-brick are importable"
    exit 0
fi

# --- the services ----------------------------------------------------------------------
# Both libvirtds boot in the background (their first start probes qemu for seconds).
libvirt_start "$LVA" >"$T_TMP/lva.out" 2>"$T_TMP/lva.err" &
LVA_START=$!
libvirt_start "$LVB" >"$T_TMP/lvb.out" 2>"$T_TMP/lvb.err" &
LVB_START=$!
ceph_with_mgr || exit 0
broker_up || exit 0
if ! cinder_env=$("$LIB/cinder.sh" start "$CINDER" 2>"$T_TMP/cinder-start.log"); then
    fail "Cinder starts (api, scheduler, volume)" "$(tail -c 1500 "$T_TMP/cinder-start.log" | tr '\n' ' ')"
    exit 0
fi
eval "$cinder_env"
export CINDER_URL
wait "$LVA_START"
rca=$?
LVA_START=
wait "$LVB_START"
rcb=$?
LVB_START=
if [ $rca != 0 ] || [ $rcb != 0 ]; then
    fail "two private libvirtds start" "$(tail -c 600 "$T_TMP/lva.err" "$T_TMP/lvb.err" | tr '\n' ' ')"
    exit 0
fi
URI_A=$(sed -n 's/^LIBVIRT_URI=//p' "$T_TMP/lva.out")
URI_B=$(sed -n 's/^LIBVIRT_URI=//p' "$T_TMP/lvb.out")
pass "services up: Ceph mgr, RabbitMQ, Cinder (api, scheduler, volume), libvirtd cmp-a and cmp-b"
echo "   services up after $(($(ms) - t_start)) ms"
vsh() { # A|B virsh args...
    local u=$URI_A
    [ "$1" = B ] && u=$URI_B
    shift
    timeout -s KILL 60 virsh -q -c "$u" "$@"
}
lvdir() { if [ "$1" = B ]; then echo "$LVB"; else echo "$LVA"; fi; }
cmpdir() { if [ "$1" = B ]; then echo "$CMPB"; else echo "$CMPA"; fi; }

# --- the agents -------------------------------------------------------------------------
TYPE=$(api type-create luks-by-agent)
check "Cinder creates the agent's volume type" test -n "$TYPE"
head -c 32 /dev/urandom >"$T_TMP/kek-1.bin" && chmod 600 "$T_TMP/kek-1.bin"
KEYRING=$CEPH_DIR/ceph.client.cinder.keyring
make_agent_dir "$VOL" "volume.types = $TYPE"
sed -i -e '/^directory = /d' \
    -e "s|^provider = .*|provider = metadata\nkek_id = kek-1\nkek_file = $T_TMP/kek-1.bin|" "$VOL/agent.ini"
amqp_ini luks-volume >>"$VOL/agent.ini"
compute_ini() { # DIR URI HOST QUEUE
    mkdir -p "$1/state"
    : >"$1/events.jsonl"
    cat >"$1/agent.ini" <<INI
[agent]
role = compute
hook_file = $1/events.jsonl
state_dir = $1/state
poll_interval_ms = 100
health_interval = 1
[compute]
uri = $2
host = $3
types = $TYPE
reconcile_interval_s = 60
gc_interval_s = 3600
gc_grace_s = 30
[secret:ceph-cinder]
uuid = $CINDER_RBD_SECRET_UUID
usage = ceph
usage_name = client.cinder secret
keyring = $KEYRING
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
give_up_after_s = 300
INI
    amqp_ini "$4" >>"$1/agent.ini"
}
compute_ini "$CMPA" "$URI_A" cmp-a luks-cmp-a
compute_ini "$CMPB" "$URI_B" cmp-b luks-cmp-b
check "volume agent config passes check-config" "$AGENT" -c "$VOL/agent.ini" check-config
check "compute agent configs pass check-config" \
    bash -c "'$AGENT' -c '$CMPA/agent.ini' check-config && '$AGENT' -c '$CMPB/agent.ini' check-config"


# --- helpers over agents, libvirt and Nova ------------------------------------------------
start_run() { # DIR PIDVAR
    "$AGENT" -c "$1/agent.ini" run >>"$1/agent.log" 2>&1 &
    printf -v "$2" %s $!
}
consuming() { [ "$(grep -c "consuming queue" "$1/feed.log" 2>/dev/null)" -gt "$2" ]; }
start_feed() { # DIR PIDVAR: starts the feeder and waits until it consumes its queue
    local n
    n=$(grep -c "consuming queue" "$1/feed.log" 2>/dev/null)
    "$AGENT" -c "$1/agent.ini" feed >>"$1/feed.log" 2>&1 &
    printf -v "$2" %s $!
    wait_for 20 consuming "$1" "${n:-0}"
}
healthy() { timeout -s KILL 10 "$AGENT" -c "$(cmpdir "$1")/agent.ini" health >/dev/null 2>&1; }
health_pid() { # A|B: the pid a healthy report names
    timeout -s KILL 10 "$AGENT" -c "$(cmpdir "$1")/agent.ini" health 2>/dev/null | sed -n 's/^healthy: .* pid \([0-9]*\),.*/\1/p'
}
healthy_from() { [ "$(health_pid "$1")" = "$2" ]; } # A|B PID: healthy, as reported by process PID
both_healthy() { wait_for 30 healthy A && wait_for 30 healthy B; }
list() { timeout -s KILL 30 "$AGENT" -c "$(cmpdir "$1")/agent.ini" secrets list 2>/dev/null; }
secret_of() { list "$1" | awk -v v="$2" '$1 != "-" && $2 == "volume" && $3 == v { print $1 }'; }
state_of() { list "$1" | awk -v v="$2" '$2 == "volume" && $3 == v { print $NF == "set" ? "value set" : $NF }'; }
is_state() { [ "$(state_of "$1" "$2")" = "$3" ]; }
volume_secrets() { list "$1" | awk '$1 != "-" && $2 == "volume" { print $3 }' | sort | tr '\n' ' '; }
value_of() { # A|B VOLUME: the value in that libvirtd's on-disk store
    local s
    s=$(secret_of "$1" "$2")
    [ -n "$s" ] && base64 -d "$(lvdir "$1")/etc/secrets/$s.base64" 2>/dev/null
}
keys_pass() { timeout -s KILL 30 "$AGENT" -c "$VOL/agent.ini" keys passphrase "$1" 2>/dev/null; }
has_value() { # A|B VOLUME: the secret holds the volume's passphrase
    local p
    p=$(keys_pass "$2")
    [ -n "$p" ] && [ "$(value_of "$1" "$2")" = "$p" ]
}
all_have_value() { # A|B VOLUMES...
    local h=$1 v
    shift
    for v in "$@"; do has_value "$h" "$v" || return 1; done
}
cephx_key=$(awk '$1 == "key" { print $3 }' "$KEYRING")
cephx_ok() { # A|B: the static cephx secret holds client.cinder's key
    local f
    f=$(lvdir "$1")/etc/secrets/$CINDER_RBD_SECRET_UUID.base64
    [ -f "$f" ] && [ "$(base64 -d "$f" 2>/dev/null | base64 -w0)" = "$cephx_key" ]
}
results() { cat "$(cmpdir "$1")/state/results.jsonl" 2>/dev/null; }
result_count() { # A|B VOLUME OUTCOME [EVENT_TYPE]
    results "$1" | grep "\"volume_id\":\"$2\",\"event_type\":\"${4:-[^\"]*}\"" | grep -c "\"outcome\":\"$3\""
}
at_least() { [ "$(result_count "$1" "$2" "$3" "$4")" -ge "$5" ]; } # A|B VOLUME OUTCOME EVENT_TYPE N
index_has() { # VOLUME: the volume index says formatted
    timeout -s KILL 30 rados --conf "$CEPH_CONF" --id admin -p "$POOL" getomapval rbd-luks-agent.index \
        "$1" "$T_TMP/iv" >/dev/null 2>&1 && grep -q "state=formatted" "$T_TMP/iv"
}
all_indexed() { local v; for v in "$@"; do index_has "$v" || return 1; done; }
all_unindexed() { local v; for v in "$@"; do index_lacks "$v" || return 1; done; }
image_gone() { ! rbd_ info "volume-$1" >/dev/null 2>&1; }
snaps_of() { # VOLUME: the names of its image's RBD snapshots, sorted
    rbd_ snap ls --format json "volume-$1" | python3 -c 'import json,sys; print(" ".join(sorted(s["name"] for s in json.load(sys.stdin))))'
}
inst_uuid() { python3 -c 'import sys, uuid; print(uuid.uuid5(uuid.UUID("3d0c5e8a-7f41-4f0e-9b57-0c6b1b0e2a94"), sys.argv[1]))' "$1"; }

# mkvol VAR NAME [VOLUME-CREATE OPTIONS]: a volume through Cinder, by default of 1 GiB
# and the agent's type; its id in VAR.
mkvol() {
    local id var=$1 name=$2
    shift 2
    [ $# -gt 0 ] || set -- --type "$TYPE" --size 1
    id=$(api volume-create "$@" --name "$name") || return 1
    vols+=("$id")
    printf -v "$var" %s "$id"
}
# att_new VOLUME GUEST: Cinder attachment-create (reserve), as Nova does first.
att_new() {
    local a
    a=$(api attachment-create "$1" "$(inst_uuid "$2")" 2>>"$T_TMP/api.err") || return 1
    atts+=("$a")
    ATT[$1]=$a
}
# att_update VOLUME HOST KEY: attachment-update with HOST's connector (what Nova sends
# first); Cinder's connection_info in $CI/KEY.cinder, and a batch's translate-ci step
# makes Nova's form of it, $CI/KEY.json.
att_update() { api attachment-update "${ATT[$1]}" --host "$2" >"$CI/$3.cinder" 2>>"$T_TMP/api.err"; }
# att_new_at VOLUME GUEST HOST KEY: attachment-create WITH HOST's connector, as Nova's
# pre_live_migration does on the destination (nova/compute/manager.py); Cinder refuses
# attachment-update of a second connection of a volume that is not multiattach.
att_new_at() {
    local a
    a=$(timeout -s KILL 150 python3 - "$LIB" "$1" "$(inst_uuid "$2")" "$3" "$CI/$4.cinder" 2>>"$T_TMP/api.err" <<'PY'
import json, os, sys
sys.path.insert(0, sys.argv[1])
import cinder_api
c = cinder_api.Client(os.environ["CINDER_URL"])
got = c.call("POST", "/attachments", {"attachment": {
    "volume_uuid": sys.argv[2], "instance_uuid": sys.argv[3],
    "connector": cinder_api.nova_rbd_connector(sys.argv[4])}},
    version=cinder_api.ATTACH_VERSION, service=True)
with open(sys.argv[5], "w") as f:
    json.dump(got["attachment"]["connection_info"], f)
print(got["attachment"]["id"])
PY
) || return 1
    atts+=("$a")
    ATT[$1]=$a
}
att_complete() { local v; for v in "$@"; do api attachment-complete "${ATT[$v]}" 2>>"$T_TMP/api.err" || return 1; done; }

# The harness: nh A|B SUBCOMMAND... ; batch A|B NAME runs the "STEP SUBCOMMAND ARGS"
# lines on its stdin in one Nova process: $T_TMP/b/NAME/STEP.{out,err,rc,ms}.
nh() {
    local u=$URI_A s=$T_TMP/nova-a n=cmp-a
    [ "$1" = B ] && u=$URI_B s=$T_TMP/nova-b n=cmp-b
    shift
    timeout -s KILL 300 "$NOVA_PY" "$HARNESS" --uri "$u" --state "$s" --host "$n" \
        --rbd-user cinder --rbd-secret-uuid "$CINDER_RBD_SECRET_UUID" --debug "$@"
}
batch() {
    local d=$T_TMP/b/$2 t0
    t0=$(ms)
    cat >"$d.steps"
    nh "$1" batch --steps "$d.steps" --out "$d" >"$d.log" 2>&1
    echo "   batch $2 on $1 ($(($(ms) - t0)) ms): $(grep ' rc=' "$d.log" | tr '\n' ';' | sed 's/;$//; s/;/; /g')"
}
ok() { # BATCH STEP...: each step exited 0 (else the first failure's stderr)
    local b=$1 st
    shift
    for st in "$@"; do
        [ "$(cat "$T_TMP/b/$b/$st.rc" 2>/dev/null)" = 0 ] && continue
        echo "step $st:"
        tail -c 500 "$T_TMP/b/$b/$st.err" 2>/dev/null
        return 1
    done
}
failed() { [ -f "$T_TMP/b/$1/$2.rc" ] && [ "$(cat "$T_TMP/b/$1/$2.rc")" != 0 ]; }
out() { cat "$T_TMP/b/$1/$2.out" 2>/dev/null; }
not_raw() { # BATCH STEP: a guest-read --show 6 printed bytes that are not the LUKS magic
    local o
    o=$(out "$1" "$2")
    ok "$1" "$2" && [ -n "$o" ] && [ "$o" != "$MAGIC" ]
}
caps() { local b=$1 st; shift; for st in "$@"; do printf '%s ' "$(out "$b" "$st")"; done; } # BATCH STEPS...
gib_x() { local i; for ((i = 0; i < $1; i++)); do printf '%s ' "$GIB"; done; }
# since_delete BATCH STEP: wait-secret's ms between Nova's delete_secret and the secret back.
since_delete() { out "$1" "$2" | sed -n 's/.* since_nova_delete_ms=\([0-9]*\)$/\1/p'; }
back_within_1s() { # BATCH STEP...
    local b=$1 st t
    shift
    for st in "$@"; do
        ok "$b" "$st" || return 1
        t=$(since_delete "$b" "$st")
        [ -n "$t" ] && [ "$t" -le 1000 ] || { echo "step $st: $(out "$b" "$st")"; return 1; }
    done
}
# live_encrypted A|B GUEST VOLUMES...: each volume's disk in the guest's live XML has
# <encryption format='luks'> naming that host's secret of the volume.
live_encrypted() {
    local h=$1 g=$2 v s
    shift 2
    vsh "$h" dumpxml "$g" >"$T_TMP/live.xml" || return 1
    for v in "$@"; do
        s=$(secret_of "$h" "$v")
        python3 - "$T_TMP/live.xml" "$POOL/volume-$v" "$s" <<'PY' || return 1
import sys, xml.etree.ElementTree as ET
xml, name, uuid = sys.argv[1:4]
for d in ET.parse(xml).getroot().iter('disk'):
    src = d.find('source')
    if src is None or src.get('name') != name:
        continue
    enc = d.find('encryption')
    sec = enc.find('secret') if enc is not None else None
    ok = enc is not None and enc.get('format') == 'luks' and sec is not None and \
        sec.get('type') == 'passphrase' and sec.get('uuid') == uuid and uuid
    print(name, 'encrypted with', sec.get('uuid') if sec is not None else None, 'want', uuid)
    sys.exit(0 if ok else 1)
print(name, 'not in the domain')
sys.exit(1)
PY
    done
}
no_domain() { ! vsh "$1" dominfo "$2" >/dev/null 2>&1; }
dom_state() { vsh "$1" domstate "$2" 2>/dev/null | head -n1; }
has_no_disk() { ! vsh "$1" dumpxml "$2" | grep -q "volume-$3"; } # A|B GUEST VOLUME
# attach_steps GUEST DEV VOLUME KEY P1 P2 write|read [SUFFIX]: batch lines (step names
# ending in SUFFIX): Nova's hot attach of VOLUME ($CI/KEY.json) to GUEST as DEV on the
# scsi bus, its capacity and first bytes, then pattern P1 in its first MiB and P2 in the
# last 64 KiB of its first GiB read back (with write: written first).
attach_steps() {
    local s=${8:-}
    echo "attach$s attach --name $1 --connection-info $CI/$4.json --volume $3 --dev $2 --bus scsi"
    echo "cap$s guest-capacity --name $1 --dev $2"
    echo "first$s guest-read --name $1 --dev $2 --offset 0 --length 512 --show 6"
    if [ "$7" = write ]; then
        echo "w1$s guest-write --name $1 --dev $2 --offset 0 --length 1M --pattern $5"
        echo "w2$s guest-write --name $1 --dev $2 --offset $LAST --length 64k --pattern $6"
    fi
    echo "r1$s guest-read --name $1 --dev $2 --offset 0 --length 1M --expect $5"
    echo "r2$s guest-read --name $1 --dev $2 --offset $LAST --length 64k --expect $6"
}
NOVA_LOG_A=$T_TMP/nova-a/nova-harness.log
NOVA_LOG_B=$T_TMP/nova-b/nova-harness.log

start_run "$VOL" RUN_V
start_run "$CMPA" RUN_A
start_run "$CMPB" RUN_B
check "volume agent's feeder consumes luks-volume" start_feed "$VOL" FEED_V
check "cmp-a's feeder consumes luks-cmp-a" start_feed "$CMPA" FEED_A
check "cmp-b's feeder consumes luks-cmp-b" start_feed "$CMPB" FEED_B
check "both compute agents are healthy (first reconcile done)" both_healthy
cephx_both() { cephx_ok A && cephx_ok B; }
check "the static cephx secret ($CINDER_RBD_SECRET_UUID) is on both hosts" cephx_both

# --- volumes: every host holds their secrets before anything attaches ----------------------
mkvol R1 ga-root # root of guest ga (scenarios 4, 5, 8, 6)
mkvol D1 ga-data # hot-attached to ga (1, 2)
mkvol M1 gm-root # root of guest gm (4, 7)
mkvol X1 spare   # deleted while agent A is down (10)
mkvol W1 raw     # plugged raw on B (11)
LIVE=("$R1" "$D1" "$M1" "$X1" "$W1")
check "Cinder accepts five volumes of the agent's type" test ${#vols[@]} = 5
for v in "${LIVE[@]}"; do api wait "$v" available --timeout 120 >/dev/null || fail "volume $v available"; done
placeholders_first() { at_least A "$R1" placeholder volume.create.start 1 && at_least B "$R1" placeholder volume.create.start 1; }
check "volume.create.start gave each host a placeholder first" wait_for 20 placeholders_first
check "the volume agent formats all five (volume index: formatted)" wait_for 60 all_indexed "${LIVE[@]}"
check "cmp-a holds every volume's passphrase" wait_for 30 all_have_value A "${LIVE[@]}"
check "cmp-b holds every volume's passphrase" wait_for 30 all_have_value B "${LIVE[@]}"
echo "   volumes ready after $(($(ms) - t_start)) ms"

# --- 4. boot from volume on A ------------------------------------------------------------
att_new "$R1" ga && att_update "$R1" cmp-a R1-a
att_new "$M1" gm && att_update "$M1" cmp-a M1-a
check "4: Cinder's attachment-update answers with connection_info for volume-R1" \
    grep -q "\"name\": *\"$POOL/volume-$R1\"" "$CI/R1-a.cinder"
batch A s4 <<EOF
t1 translate-ci --cinder $CI/R1-a.cinder --out $CI/R1-a.json
t2 translate-ci --cinder $CI/M1-a.cinder --out $CI/M1-a.json
boot boot --name ga --scsi --bdm $CI/R1-a.json
first guest-read --name ga --dev vda --offset 0 --length 512 --show 6
cap guest-capacity --name ga --dev vda
w1 guest-write --name ga --dev vda --offset 0 --length 1M --pattern 0xa1
w2 guest-write --name ga --dev vda --offset $LAST --length 64k --pattern 0xa2
r1 guest-read --name ga --dev vda --offset 0 --length 1M --expect 0xa1
r2 guest-read --name ga --dev vda --offset $LAST --length 64k --expect 0xa2
mboot boot --name gm --bdm $CI/M1-a.json
mfirst guest-read --name gm --dev vda --offset 0 --length 512 --show 6
mcap guest-capacity --name gm --dev vda
mw guest-write --name gm --dev vda --offset 4M --length 1M --pattern 0xd1
mr guest-read --name gm --dev vda --offset 4M --length 1M --expect 0xd1
EOF
att_complete "$R1" "$M1"
check "4: connection_info in Nova's form (data.name $POOL/volume-R1)" \
    grep -q "\"name\": \"$POOL/volume-$R1\"" "$CI/R1-a.json"
check "4: Nova boots ga from volume R1 on cmp-a" ok s4 boot
check "4: its disk has <encryption> naming cmp-a's secret" live_encrypted A ga "$R1"
check_eq "4: the guest sees exactly 1 GiB" "$GIB" "$(out s4 cap)"
check "4: its first bytes are not the LUKS magic" not_raw s4 first
check "4: a pattern written through the guest reads back (start and end)" ok s4 w1 w2 r1 r2
check "4: guest gm boots from M1" ok s4 mboot
check_eq "4: gm sees exactly 1 GiB" "$GIB" "$(out s4 mcap)"
check "4: gm: not raw" not_raw s4 mfirst
check "4: gm: data round trip" ok s4 mw mr
in_use() { local v; for v in "$@"; do api wait "$v" in-use --timeout 30 || return 1; done; }
check "4: Cinder reports R1 and M1 in-use" in_use "$R1" "$M1"

# --- 1. hot attach, no attach-event help -------------------------------------------------
stop_pid "$FEED_A"
FEED_A=
n_d1=$(results A | grep -c "\"volume_id\":\"$D1\"")
check "1: before Nova's attach (cmp-a's feeder stopped) cmp-a already holds D1's passphrase" has_value A "$D1"
att_new "$D1" ga && att_update "$D1" cmp-a D1-a1
{
    echo "t translate-ci --cinder $CI/D1-a1.cinder --out $CI/D1-a1.json"
    echo "dx disk-xml --connection-info $CI/D1-a1.json --dev sdb"
    attach_steps ga sdb "$D1" D1-a1 0xb1 0xb2 write
} | batch A s1
att_complete "$D1"
sD1A=$(secret_of A "$D1")
check "1: Nova's disk for D1 has <encryption format='luks'> naming cmp-a's secret" \
    bash -c "grep -q '<encryption format=\"luks\">' '$T_TMP/b/s1/dx.out' && grep -q '<secret type=\"passphrase\" uuid=\"$sD1A\"/>' '$T_TMP/b/s1/dx.out'"
check "1: Nova's attach_volume of D1 to the running guest works" ok s1 attach
check "1: the live disk has <encryption>" live_encrypted A ga "$D1"
check_eq "1: the guest sees exactly 1 GiB" "$GIB" "$(out s1 cap)"
check "1: not the raw image" not_raw s1 first
check "1: data round trip through the guest" ok s1 w1 w2 r1 r2
check_eq "1: agent A did nothing for D1 meanwhile (no event reached it)" "$n_d1" "$(results A | grep -c "\"volume_id\":\"$D1\"")"
check "1: Nova skipped the key manager: it found the agent's secret" \
    grep -q "A libvirt secret for volume $D1 has been found on the host" "$NOVA_LOG_A"
check "1: cmp-a's feeder restarts" start_feed "$CMPA" FEED_A

# --- 2. Nova's detach deletes the secret; the agent puts it back -------------------------
n_restored=$(result_count A "$D1" restored)
batch A s2 <<EOF
detach detach --name ga --connection-info $CI/D1-a1.json --volume $D1 --dev sdb
back wait-secret --volume $D1 --timeout 2
EOF
api attachment-delete "${ATT[$D1]}"
check "2: Nova's detach_volume of D1 works" ok s2 detach
check "2: the disk is gone from the guest" has_no_disk A ga "$D1"
check "2: Nova deleted the secret; the agent put it back within 1 s ($(since_delete s2 back) ms)" back_within_1s s2 back
check "2: it holds the passphrase again" has_value A "$D1"
check "2: result restored" wait_for 5 test "$(result_count A "$D1" restored)" -gt "$n_restored"
att_new "$D1" ga && att_update "$D1" cmp-a D1-a2
batch A s2b <<EOF
t translate-ci --cinder $CI/D1-a2.cinder --out $CI/D1-a2.json
attach attach --name ga --connection-info $CI/D1-a2.json --volume $D1 --dev sdb --bus scsi
cap guest-capacity --name ga --dev sdb
r1 guest-read --name ga --dev sdb --offset 0 --length 1M --expect 0xb1
r2 guest-read --name ga --dev sdb --offset $LAST --length 64k --expect 0xb2
EOF
att_complete "$D1"
check "2: reattach works" ok s2b attach
check_eq "2: reattached: exactly 1 GiB" "$GIB" "$(out s2b cap)"
check "2: reattached: the data written before reads back" ok s2b r1 r2

# --- 3. attach between `available` and the end of the format -------------------------------
stop_pid "$RUN_V"
RUN_V=
mkvol E1 early
check "3: Cinder makes E1 available while the volume agent is stopped" api wait "$E1" available --timeout 120
check "3: cmp-a holds a placeholder for E1" wait_for 20 is_state A "$E1" placeholder
check "3: the volume index has no entry for E1 (not formatted)" index_lacks "$E1"
sE1=$(secret_of A "$E1")
att_new "$E1" ga && att_update "$E1" cmp-a E1-a1
batch A s3 <<EOF
t translate-ci --cinder $CI/E1-a1.cinder --out $CI/E1-a1.json
dx disk-xml --connection-info $CI/E1-a1.json --dev sdc
attach attach --name ga --connection-info $CI/E1-a1.json --volume $E1 --dev sdc --bus scsi
back wait-secret --volume $E1 --timeout 2
cap guest-capacity --name ga --dev sdc
EOF
api attachment-delete "${ATT[$E1]}" # as _volume_attach does when the driver fails
check "3: Nova's disk for E1 has <encryption> naming the placeholder's secret" \
    grep -q "<secret type=\"passphrase\" uuid=\"$sE1\"/>" "$T_TMP/b/s3/dx.out"
check "3: Nova's attach_volume of E1 FAILS" failed s3 attach
check "3: in qemu's LUKS driver (it cannot open the volume)" \
    grep -Eqi "luks|invalid password|unlock|keyslot" "$T_TMP/b/s3/attach.err"
echo "   3: $(grep -Eio "libvirtError: .*" "$T_TMP/b/s3/attach.err" | head -n1 | cut -c1-200)"
check "3: the guest never got a disk for E1" failed s3 cap
check "3: and its XML does not name E1" has_no_disk A ga "$E1"
check "3: Nova's rollback deleted the placeholder; the agent put it back" ok s3 back
check "3: a placeholder still" is_state A "$E1" placeholder
check "3: still no index entry: the attach was before the format" index_lacks "$E1"
# The header written, cmp-a's secret still the placeholder (its agent held with SIGSTOP,
# as a compute agent in its [retry] backoff would be): the attach fails too.
kill -STOP "$RUN_A"
start_run "$VOL" RUN_V
check "3: once the volume agent runs, it formats E1" wait_for 30 index_has "$E1"
check "3: with agent A held, cmp-a still has the placeholder" is_state A "$E1" placeholder
att_new "$E1" ga && att_update "$E1" cmp-a E1-a2
batch A s3p <<EOF
t translate-ci --cinder $CI/E1-a2.cinder --out $CI/E1-a2.json
attach attach --name ga --connection-info $CI/E1-a2.json --volume $E1 --dev sdc --bus scsi
cap guest-capacity --name ga --dev sdc
fs find-secret --volume $E1
EOF
api attachment-delete "${ATT[$E1]}"
check "3: header written, placeholder in the secret: Nova's attach_volume FAILS" failed s3p attach
check "3: qemu cannot unlock it with the placeholder" grep -Eqi "invalid password|unlock" "$T_TMP/b/s3p/attach.err"
echo "   3: $(grep -Eio "libvirtError: .*" "$T_TMP/b/s3p/attach.err" | head -n1 | cut -c1-200)"
check "3: the guest never got a disk for E1" failed s3p cap
check "3: and its XML does not name E1" has_no_disk A ga "$E1"
check_eq "3: Nova's rollback deleted the secret (agent A held)" "" "$(out s3p fs)"
kill -CONT "$RUN_A"
check "3: agent A, running again, puts it back, now with the passphrase" wait_for 20 has_value A "$E1"
check "3: cmp-b has E1's passphrase" wait_for 20 has_value B "$E1"
att_new "$E1" ga && att_update "$E1" cmp-a E1-a3
batch A s3b <<EOF
t translate-ci --cinder $CI/E1-a3.cinder --out $CI/E1-a3.json
attach attach --name ga --connection-info $CI/E1-a3.json --volume $E1 --dev sdc --bus scsi
cap guest-capacity --name ga --dev sdc
first guest-read --name ga --dev sdc --offset 0 --length 512 --show 6
w guest-write --name ga --dev sdc --offset 0 --length 1M --pattern 0xc1
r guest-read --name ga --dev sdc --offset 0 --length 1M --expect 0xc1
EOF
att_complete "$E1"
check "3: after the format the same attach works" ok s3b attach
check_eq "3: exactly 1 GiB" "$GIB" "$(out s3b cap)"
check "3: not raw" not_raw s3b first
check "3: data round trip" ok s3b w r
LIVE+=("$E1")

# --- 5. hard reboot keeps the secrets ----------------------------------------------------
GA_A="--bdm $CI/R1-a.json:vda --bdm $CI/D1-a2.json:sdb:scsi --bdm $CI/E1-a3.json:sdc:scsi"
secrets_and_restores() { # A|B VOLUMES...
    local h=$1 v
    shift
    for v in "$@"; do echo "$(secret_of "$h" "$v") $(result_count "$h" "$v" restored)"; done
}
before=$(secrets_and_restores A "$R1" "$D1" "$E1")
skips=$(grep -c "Skipping volume secret destruction" "$NOVA_LOG_A")
batch A s5 <<EOF
reboot reboot --name ga $GA_A
c1 guest-capacity --name ga --dev vda
c2 guest-capacity --name ga --dev sdb
c3 guest-capacity --name ga --dev sdc
r1 guest-read --name ga --dev vda --offset 0 --length 1M --expect 0xa1
r2 guest-read --name ga --dev sdb --offset 0 --length 1M --expect 0xb1
r3 guest-read --name ga --dev sdc --offset 0 --length 1M --expect 0xc1
EOF
check "5: Nova's hard reboot of ga works" ok s5 reboot
check_eq "5: Nova kept the three secrets ('Skipping volume secret destruction' x3)" \
    $((skips + 3)) "$(grep -c "Skipping volume secret destruction" "$NOVA_LOG_A")"
check_eq "5: the same secrets, none restored by the agent" "$before" "$(secrets_and_restores A "$R1" "$D1" "$E1")"
check_eq "5: the guest runs again" running "$(dom_state A ga)"
check "5: all three disks of the new domain have <encryption>" live_encrypted A ga "$R1" "$D1" "$E1"
check_eq "5: the guest sees exactly 1 GiB on each" "$(gib_x 3)" "$(caps s5 c1 c2 c3)"
check "5: the data written before the reboot reads back on all three" ok s5 r1 r2 r3

# --- 8. the destination of a live migration ----------------------------------------------
# Nova's pre_live_migration runs on the destination with new attachments (cmp-b's
# connector) and reads the secret UUIDs there, before the guest moves.
declare -A OLD
for n in R1 D1 E1; do
    v=${!n}
    OLD[$v]=${ATT[$v]}
    att_new_at "$v" ga cmp-b "$n-blm"
done
expect_b=$(for v in "$R1" "$D1" "$E1"; do echo "$v $(secret_of B "$v")"; done)
check "8: no guest ga on cmp-b before" no_domain B ga
batch B s8 <<EOF
t1 translate-ci --cinder $CI/R1-blm.cinder --out $CI/R1-blm.json
t2 translate-ci --cinder $CI/D1-blm.cinder --out $CI/D1-blm.json
t3 translate-ci --cinder $CI/E1-blm.cinder --out $CI/E1-blm.json
plm pre-live-migration --name ga --scsi --bdm $CI/R1-blm.json:vda --bdm $CI/D1-blm.json:sdb:scsi --bdm $CI/E1-blm.json:sdc:scsi --rollback
b1 wait-secret --volume $R1 --timeout 2
b2 wait-secret --volume $D1 --timeout 2
b3 wait-secret --volume $E1 --timeout 2
EOF
for v in "$R1" "$D1" "$E1"; do api attachment-delete "${ATT[$v]}"; ATT[$v]=${OLD[$v]}; done
check "8: Nova's pre_live_migration on cmp-b works" ok s8 plm
check_eq "8: it found cmp-b's secret of each volume (migrate_data.bdms[].encryption_secret_uuid)" \
    "$expect_b" "$(out s8 plm | awk '{ print $1, $2 }')"
check "8: no guest moved (none on cmp-b)" no_domain B ga
check "8: Nova's rollback at the destination deleted them; the agent put each back within 1 s" \
    back_within_1s s8 b1 b2 b3
check "8: with the passphrases" all_have_value B "$R1" "$D1" "$E1"

# --- 6. shelve offload on A, unshelve on B -------------------------------------------------
batch A s6 <<EOF
offload shelve-offload --name ga $GA_A
b1 wait-secret --volume $R1 --timeout 2
b2 wait-secret --volume $D1 --timeout 2
b3 wait-secret --volume $E1 --timeout 2
EOF
# ComputeManager._terminate_volume_connections: a new attachment without a connector,
# then the old one deleted; unshelve's _prep_block_device updates it with cmp-b's.
for n in R1 D1 E1; do
    v=${!n}
    old=${ATT[$v]}
    att_new "$v" ga && api attachment-delete "$old" && att_update "$v" cmp-b "$n-b"
done
check "6: Nova's shelve offload (power_off, destroy) of ga on cmp-a works" ok s6 offload
check "6: ga is gone from cmp-a" no_domain A ga
check "6: Nova deleted the three secrets on cmp-a; the agent put each back within 1 s" back_within_1s s6 b1 b2 b3
echo "   6: back on cmp-a $(since_delete s6 b1), $(since_delete s6 b2), $(since_delete s6 b3) ms after Nova's delete"
batch B s6b <<EOF
t1 translate-ci --cinder $CI/R1-b.cinder --out $CI/R1-b.json
t2 translate-ci --cinder $CI/D1-b.cinder --out $CI/D1-b.json
t3 translate-ci --cinder $CI/E1-b.cinder --out $CI/E1-b.json
spawn spawn --name ga --scsi --bdm $CI/R1-b.json:vda --bdm $CI/D1-b.json:sdb:scsi --bdm $CI/E1-b.json:sdc:scsi
c1 guest-capacity --name ga --dev vda
c2 guest-capacity --name ga --dev sdb
c3 guest-capacity --name ga --dev sdc
first guest-read --name ga --dev sdc --offset 4M --length 512 --show 6
r1 guest-read --name ga --dev vda --offset 0 --length 1M --expect 0xa1
r2 guest-read --name ga --dev sdb --offset $LAST --length 64k --expect 0xb2
r3 guest-read --name ga --dev sdc --offset 0 --length 1M --expect 0xc1
EOF
att_complete "$R1" "$D1" "$E1"
check "6: unshelve on cmp-b: Nova's spawn works" ok s6b spawn
check "6: all three disks on cmp-b have <encryption> with cmp-b's secrets" live_encrypted B ga "$R1" "$D1" "$E1"
check_eq "6: the guest on cmp-b sees exactly 1 GiB on each" "$(gib_x 3)" "$(caps s6b c1 c2 c3)"
check "6: not raw" not_raw s6b first
check "6: the data written on cmp-a reads back on cmp-b" ok s6b r1 r2 r3
check "6: Nova on cmp-b found the agent's secrets (it skipped the key manager)" \
    grep -q "A libvirt secret for volume $E1 has been found on the host" "$NOVA_LOG_B"
check "6: cmp-a holds all three passphrases again" all_have_value A "$R1" "$D1" "$E1"

# --- 7. cold migration A -> B ----------------------------------------------------------
batch A s7 <<EOF
mig migrate-source --name gm --bdm $CI/M1-a.json:vda --dest 127.0.0.1
back wait-secret --volume $M1 --timeout 2
EOF
out s7 mig >"$CI/gm.disk_info"
old=${ATT[$M1]}
att_new "$M1" gm && api attachment-delete "$old" # _resize_instance: _terminate_volume_connections
att_update "$M1" cmp-b M1-b                     # _finish_resize: _update_volume_attachments
batch B s7b <<EOF
t translate-ci --cinder $CI/M1-b.cinder --out $CI/M1-b.json
fin migrate-dest --name gm --bdm $CI/M1-b.json:vda --disk-info $CI/gm.disk_info --source-host cmp-a
cap guest-capacity --name gm --dev vda
first guest-read --name gm --dev vda --offset 0 --length 512 --show 6
r guest-read --name gm --dev vda --offset 4M --length 1M --expect 0xd1
EOF
att_complete "$M1" # _finish_resize: _complete_volume_attachments
batch A s7c <<EOF
confirm confirm-migration --name gm --instance-host cmp-b
EOF
check "7: Nova's migrate_disk_and_power_off of gm on cmp-a works" ok s7 mig
check "7: it deleted M1's secret on cmp-a; the agent put it back within 1 s" back_within_1s s7 back
check "7: Nova's finish_migration on cmp-b works" ok s7b fin
check "7: gm's disk on cmp-b has <encryption>" live_encrypted B gm "$M1"
check_eq "7: the guest sees exactly 1 GiB" "$GIB" "$(out s7b cap)"
check "7: not raw" not_raw s7b first
check "7: the data written on cmp-a reads back" ok s7b r
check "7: Nova's confirm_migration on cmp-a works" ok s7c confirm
check "7: gm is gone from cmp-a" no_domain A gm
check "7: cmp-a holds M1's passphrase" has_value A "$M1"

# --- 9. libvirtd of B killed, its secret store wiped ----------------------------------
kill -9 "$(cat "$LVB/libvirtd.pid")"
rm -f "$LVB"/etc/secrets/*
t9=$(ms)
check "9: libvirtd of cmp-b restarts with an empty secret store" libvirt_restart_libvirtd "$LVB"
t9r=$(ms)
sleep 1.2 # the health file is refreshed every second
all_back_b() { cephx_ok B && all_have_value B "${LIVE[@]}"; }
early=0 done9=no
end9=$(($(ms) + 30000))
while [ "$(ms)" -lt "$end9" ]; do
    # healthy first: a volume missing after it was missing before it too
    if healthy B; then
        if all_back_b; then
            done9=yes
            break
        fi
        early=$((early + 1))
    fi
    sleep 0.1
done
echo "   9: healthy with all secrets back $(($(ms) - t9)) ms after the kill, $((t9r - t9)) ms of it libvirtd's restart"
check_eq "9: agent B says healthy again, with every live volume's secret and the cephx secret back" yes "$done9"
check_eq "9: it never said healthy while one was missing" 0 "$early"
batch B s9 <<EOF
fs find-secret --volume $R1
r1 guest-read --name ga --dev vda --offset 0 --length 1M --expect 0xa1
r2 guest-read --name gm --dev vda --offset 4M --length 1M --expect 0xd1
EOF
check_eq "9: Nova's find_secret on cmp-b sees R1's secret" "$(secret_of B "$R1")" "$(out s9 fs)"
check "9: the guests on cmp-b still read their data" ok s9 r1 r2

# --- 10. agent A stopped while Cinder creates and deletes --------------------------------
stop_pid "$RUN_A"
RUN_A=
stop_pid "$FEED_A"
FEED_A=
mkvol C1 down-1
mkvol C2 down-2
mkvol C3 down-3
for v in "$C1" "$C2" "$C3"; do api wait "$v" available --timeout 120 >/dev/null || fail "10: volume $v available"; done
delete_two() { api volume-delete "$C3" && api volume-delete "$X1" && api wait-deleted "$C3" && api wait-deleted "$X1"; }
check "10: Cinder deletes C3 (made while A was down) and X1 (made before)" delete_two
index_10() { all_indexed "$C1" "$C2" && all_unindexed "$C3" "$X1"; }
check "10: the volume agent recorded C1 and C2, and forgot C3 and X1" wait_for 30 index_10
images_gone() { image_gone "$C3" && image_gone "$X1"; }
check "10: their images are gone" images_gone
LIVE=("$R1" "$D1" "$M1" "$W1" "$E1" "$C1" "$C2")
expect_set=$(printf '%s\n' "${LIVE[@]}" | sort | tr '\n' ' ')
nres=$(results A | wc -l)
start_run "$CMPA" RUN_A
check "10: agent A starts and says healthy (start-up reconcile done)" wait_for 30 healthy_from A "$RUN_A"
check_eq "10: cmp-a then holds exactly the live volumes' secrets" "$expect_set" "$(volume_secrets A)"
check "10: C1 and C2 with their passphrases" all_have_value A "$C1" "$C2"
reconciled=$(results A | tail -n +$((nres + 1)) | grep '"event_type":"rbd-luks-agent.reconcile"' |
    sed -n 's/.*"volume_id":"\([^"]*\)".*"outcome":"\([^"]*\)".*/\1 \2/p' | sort | tr '\n' ' ')
check_eq "10: the reconcile added exactly C1 and C2 and removed exactly X1" \
    "$(printf '%s\n' "$C1 provisioned" "$C2 provisioned" "$X1 removed" | sort | tr '\n' ' ')" "$reconciled"
check "10: cmp-a's feeder restarts" start_feed "$CMPA" FEED_A
check "10: the events queued meanwhile reach agent A (C3's delete.start handled)" \
    wait_for 30 at_least A "$C3" removed volume.delete.start 1
sleep 1 # a retry of C3's create.end, were it still pending, would come within [retry] max_ms
check_eq "10: and change nothing: still exactly the live volumes' secrets" "$expect_set" "$(volume_secrets A)"
check "10: C1 and C2 still hold their passphrases" all_have_value A "$C1" "$C2"
# A restart (a container restarted): the new process's start-up reconcile has not run yet
# (held here with SIGSTOP, as a slow Ceph or a large index would hold it).
old_pid=$RUN_A
stop_pid "$RUN_A"
start_run "$CMPA" RUN_A
kill -STOP "$RUN_A"
sleep 0.3
h10=$(timeout -s KILL 10 "$AGENT" -c "$CMPA/agent.ini" health 2>&1)
kill -CONT "$RUN_A"
check "10: right after a restart, health does not say healthy before the new process's reconcile" \
    bash -c "! grep -q '^healthy' <<<'$h10' || { echo 'health said: $h10 (the stopped process was $old_pid, the new one $RUN_A)'; false; }"
check "10: the restarted agent A reports healthy itself" wait_for 30 healthy_from A "$RUN_A"
att_new "$C1" gc && att_update "$C1" cmp-a C1-a
batch A s10 <<EOF
t translate-ci --cinder $CI/C1-a.cinder --out $CI/C1-a.json
boot boot --name gc --bdm $CI/C1-a.json
cap guest-capacity --name gc --dev vda
first guest-read --name gc --dev vda --offset 0 --length 512 --show 6
w guest-write --name gc --dev vda --offset 0 --length 1M --pattern 0xe1
r guest-read --name gc --dev vda --offset 0 --length 1M --expect 0xe1
EOF
att_complete "$C1"
check "10: Nova boots gc on cmp-a from C1 (the reconciled secret)" ok s10 boot
check_eq "10: exactly 1 GiB" "$GIB" "$(out s10 cap)"
check "10: not raw" not_raw s10 first
check "10: data round trip" ok s10 w r

# --- 11. a raw disk forced on B: exposed, paused -------------------------------------
stop_pid "$RUN_B"
RUN_B=
sW=$(secret_of B "$W1")
check "11: with agent B stopped, W1's secret removed on cmp-b" vsh B secret-undefine "$sW"
att_new "$W1" gw && att_update "$W1" cmp-b W1-b
batch B s11 <<EOF
t translate-ci --cinder $CI/W1-b.cinder --out $CI/W1-b.json
fs find-secret --volume $W1
dx disk-xml --connection-info $CI/W1-b.json --dev vda
boot boot --name gw --bdm $CI/W1-b.json
cap guest-capacity --name gw --dev vda
first guest-read --name gw --dev vda --offset 0 --length 512 --show 6
EOF
att_complete "$W1"
raw_size=$(image_bytes "$W1")
check "11: Nova's find_secret finds none" ok s11 fs
check_eq "11: (it printed nothing)" "" "$(out s11 fs)"
check "11: so Nova's disk has no <encryption> (its fail-open path)" \
    bash -c "grep -q 'volume-$W1' '$T_TMP/b/s11/dx.out' && ! grep -q '<encryption' '$T_TMP/b/s11/dx.out'"
check "11: the guest boots with it" ok s11 boot
check_eq "11: and sees the raw image (1 GiB + the LUKS payload offset)" "$raw_size" "$(out s11 cap)"
check_eq "11: starting with the LUKS magic" "$MAGIC" "$(out s11 first)"
vsh B resume gw >/dev/null
check_eq "11: the guest runs" running "$(dom_state B gw)"
n_exp=$(result_count B "$W1" exposed)
start_run "$CMPB" RUN_B
check "11: agent B reports it: result exposed naming domain gw, disk vda and volume W1" \
    wait_for 20 grep -q "\"volume_id\":\"$W1\",.*\"outcome\":\"exposed\",\"reason\":\"domain gw has volume $W1 as disk vda" "$CMPB/state/results.jsonl"
check_eq "11: one exposed result" $((n_exp + 1)) "$(result_count B "$W1" exposed)"
paused() { [ "$(dom_state B gw)" = paused ]; }
check "11: and pauses the domain (on_raw_disk = pause)" wait_for 10 paused
check "11: W1's secret is back on cmp-b" wait_for 20 has_value B "$W1"
sleep 1.2
check "11: health is degraded while gw runs raw" bash -c "! '$AGENT' -c '$CMPB/agent.ini' health >/dev/null 2>&1"
vsh B destroy gw >/dev/null 2>&1
vsh B undefine gw >/dev/null 2>&1
api attachment-delete "${ATT[$W1]}"
kill -HUP "$RUN_B"
check "11: health recovers once gw is gone" wait_for 20 healthy_from B "$RUN_B"

# --- 12. snapshots and clones through Cinder ---------------------------------------------
# S1 written through a guest; then Cinder's own paths to new volumes holding its bytes.
# Its RBD driver makes a volume from a snapshot an RBD clone of that snapshot
# (create_volume_from_snapshot -> _clone: cinder/volume/drivers/rbd.py:1244-1245,
# 1193-1222) and resizes a larger one to exactly its size in GiB (rbd.py:1259-1266 with
# _resize 1224-1230: this type has no encryption_key_id); a clone of a volume is an RBD
# clone of a snapshot volume-NEW.clone_snap it takes of the source (create_cloned_volume,
# rbd.py:848, 858-872; a full copy only with rbd_max_clone_depth <= 0, rbd.py:851-855, its
# default 5, rbd.py:85-86), resized only when the sizes differ (rbd.py:819-830).
# Without a type in the request Cinder gives the new volume the source's
# (cinder/volume/flows/api/create_volume.py:398-416). Each new image starts with S1's
# header: the volume agent re-binds S1's key to the new volume (result inherited) and
# grows an image smaller than size + payload offset (F2). CL1 is "C1" of the plan:
# scenario 10 has a C1.
on_both() { has_value A "$1" && has_value B "$1"; } # VOLUME: both hosts hold its passphrase
mkvol S1 snap-src
check "12: Cinder makes S1 available" api wait "$S1" available --timeout 120
check "12: the volume agent formats S1" wait_for 60 index_has "$S1"
check "12: both hosts hold S1's passphrase" wait_for 30 on_both "$S1"
att_new "$S1" ga && att_update "$S1" cmp-b S1-b
{
    echo "t translate-ci --cinder $CI/S1-b.cinder --out $CI/S1-b.json"
    attach_steps ga sdd "$S1" S1-b 0xf1 0xf2 write
} | batch B s12
att_complete "$S1"
batch B s12d <<EOF
detach detach --name ga --connection-info $CI/S1-b.json --volume $S1 --dev sdd
EOF
api attachment-delete "${ATT[$S1]}"
check "12: Nova attaches S1 to ga on cmp-b" ok s12 attach
check_eq "12: the guest sees exactly 1 GiB" "$GIB" "$(out s12 cap)"
check "12: not raw" not_raw s12 first
check "12: a pattern written through the guest at S1's start and in its last 64 KiB reads back" ok s12 w1 w2 r1 r2
check "12: Nova's detach of S1 works" ok s12d detach
check "12: S1 is available again" api wait "$S1" available --timeout 30
s1_state=$(rbd_ image-meta get "volume-$S1" rbd-luks-agent.state 2>/dev/null)
U1=$(sed -n 's/.* uuid=\([0-9a-f-]*\).*/\1/p' <<<"$s1_state")
OFF1=$(sed -n 's/.* offset=\([0-9]*\) .*/\1/p' <<<"$s1_state")
check "12: S1's state names its LUKS header's UUID and payload offset" test -n "$U1" -a -n "$OFF1"
SNAP=$(api snapshot-create "$S1" --name snap-src-1 2>>"$T_TMP/api.err")
check "12: Cinder snapshots S1" api snapshot-wait "$SNAP" available --timeout 120
check_eq "12: as the RBD snapshot snapshot-ID of S1's image (cinder/db/api.py:54-56, rbd.py:1460-1465)" \
    "snapshot-$SNAP" "$(snaps_of "$S1")"
mkvol F1 from-snap-1 --snapshot-id "$SNAP" --size 1
mkvol F2 from-snap-2 --snapshot-id "$SNAP" --size 2
mkvol CL1 clone-1 --source-volid "$S1" --size 1
check "12: Cinder accepts F1 and F2 from the snapshot and CL1 cloned from S1" test -n "$F1" -a -n "$F2" -a -n "$CL1"
# inherited_from_s1 VOLUME BYTES [" (image grown)"]: the volume agent's result for VOLUME
# is inherited from S1's header, with that payload (and growth, or not).
inherited_from_s1() {
    grep -F "\"volume_id\":\"$1\"," "$VOL/state/results.jsonl" | grep -qF \
        "\"outcome\":\"inherited\",\"reason\":\"inherited from $S1: LUKS header $U1, its key re-bound to this volume; payload $2 bytes$3\""
}
same_pass() { local p; p=$(keys_pass "$S1") && [ -n "$p" ] && [ "$(keys_pass "$1")" = "$p" ]; } # VOLUME
parent_of() { # VOLUME: the RBD parent of its image, POOL/IMAGE@SNAPSHOT
    rbd_ info --format json "volume-$1" |
        python3 -c 'import json,sys; p = json.load(sys.stdin).get("parent") or {}; print("%s/%s@%s" % (p.get("pool"), p.get("image"), p.get("snapshot")))'
}
type_of() { api volume-show "$1" | python3 -c 'import json,sys; print(json.load(sys.stdin)["volume_type"])'; }
for n in F1 F2 CL1; do
    v=${!n} g=1 grown=
    [ "$n" = F2 ] && g=2 grown=" (image grown)"
    check "12: $n: Cinder makes it available ($g GiB)" api wait "$v" available --timeout 120
    check_eq "12: $n: of the agent's type, the source's" luks-by-agent "$(type_of "$v")"
    check "12: $n: the volume agent re-bound S1's key to it (result inherited from S1, payload $g GiB$grown)" \
        wait_for 60 inherited_from_s1 "$v" $((g * GIB)) "$grown"
    check "12: $n: volume index formatted" wait_for 10 index_has "$v"
    check "12: $n: its passphrase is S1's (one header, one key)" same_pass "$v"
    check "12: $n: cmp-a and cmp-b hold it" wait_for 30 on_both "$v"
    check_eq "12: $n: its image is $g GiB + S1's payload offset" $((g * GIB + OFF1)) "$(image_bytes "$v")"
done
check_eq "12: F1 is an RBD clone of Cinder's snapshot of S1" "$POOL/volume-$S1@snapshot-$SNAP" "$(parent_of "$F1")"
check_eq "12: so is F2" "$POOL/volume-$S1@snapshot-$SNAP" "$(parent_of "$F2")"
check_eq "12: CL1 is an RBD clone of S1's snapshot volume-CL1.clone_snap" \
    "$POOL/volume-$S1@volume-$CL1.clone_snap" "$(parent_of "$CL1")"
steps12() { # NAME DEV: Nova attaches volume NAME to ga as DEV; its size, first bytes, S1's data
    echo "t$1 translate-ci --cinder $CI/$1-b.cinder --out $CI/$1-b.json"
    attach_steps ga "$2" "${!1}" "$1-b" 0xf1 0xf2 read "$1"
}
for n in F1 F2 CL1; do att_new "${!n}" ga && att_update "${!n}" cmp-b "$n-b"; done
END2=$((2 * GIB - 65536))
{
    steps12 F1 sde
    steps12 F2 sdf
    steps12 CL1 sdg
    echo "w3F2 guest-write --name ga --dev sdf --offset $END2 --length 64k --pattern 0xf3"
    echo "r3F2 guest-read --name ga --dev sdf --offset $END2 --length 64k --expect 0xf3"
} | batch B s12b
att_complete "$F1" "$F2" "$CL1"
nova_found_all() { # A|B VOLUMES...: Nova's log says it found the agent's secret of each
    local log=$NOVA_LOG_A v
    [ "$1" = B ] && log=$NOVA_LOG_B
    shift
    for v in "$@"; do grep -q "A libvirt secret for volume $v has been found on the host" "$log" || return 1; done
}
check "12: Nova attaches F1, F2 and CL1 to the running ga on cmp-b" ok s12b attachF1 attachF2 attachCL1
check "12: each live disk has <encryption> naming cmp-b's secret" live_encrypted B ga "$F1" "$F2" "$CL1"
check "12: Nova found the agent's secret of each (it skipped the key manager)" nova_found_all B "$F1" "$F2" "$CL1"
check_eq "12: the guest sees exactly 1 GiB (F1), 2 GiB (F2), 1 GiB (CL1)" "$GIB $((2 * GIB)) $GIB " "$(caps s12b capF1 capF2 capCL1)"
all_not_raw() { local b=$1 st; shift; for st in "$@"; do not_raw "$b" "$st" || return 1; done; } # BATCH STEPS...
check "12: none of them raw" all_not_raw s12b firstF1 firstF2 firstCL1
check "12: S1's pattern reads back on each, at the start and at S1's last 64 KiB" \
    ok s12b r1F1 r2F1 r1F2 r2F2 r1CL1 r2CL1
check "12: F2: the last 64 KiB of its 2 GiB written and read back" ok s12b w3F2 r3F2
LIVE+=("$S1" "$F1" "$F2" "$CL1")

# --- 13. extend of an attached volume ------------------------------------------------------
# At microversion 3.42 Cinder extends an in-use volume (cinder/api/contrib/volume_actions.py:
# 277-279): its RBD driver resizes the image to exactly the new size (extend_volume ->
# _resize, cinder/volume/drivers/rbd.py), Cinder tells Nova (the volume-extended event,
# cinder/volume/manager.py:2985-2989; no Nova listens here, so that fails and is logged:
# cinder/compute/nova.py:152-162) and sends volume.resize.end (manager.py:3004-3006). On
# that event Nova's compute runs LibvirtDriver.extend_volume with the new size in bytes
# (nova/compute/manager.py:10752-10761); the agent's type has no Cinder encryption
# metadata, so Nova resizes the guest's disk to exactly that (nova/virt/libvirt/driver.py:
# 2812-2822), and qemu's LUKS layer below it adds the header's payload offset. G1: Nova's
# part played by the harness: its resize and the agent's meet at one image size. G2:
# Nova's event lost: the agent's resize alone, and the guest sees the new size once the
# disk is plugged again.
mkvol G1 grow-1
mkvol G2 grow-2
for n in G1 G2; do
    check "13: Cinder makes $n available" api wait "${!n}" available --timeout 120
    check "13: the volume agent formats $n" wait_for 60 index_has "${!n}"
    check "13: cmp-b holds $n's passphrase" wait_for 30 has_value B "${!n}"
    att_new "${!n}" ga && att_update "${!n}" cmp-b "$n-b"
done
{
    echo "tG1 translate-ci --cinder $CI/G1-b.cinder --out $CI/G1-b.json"
    echo "tG2 translate-ci --cinder $CI/G2-b.cinder --out $CI/G2-b.json"
    attach_steps ga sdh "$G1" G1-b 0xe1 0xe2 write G1
    attach_steps ga sdi "$G2" G2-b 0xe4 0xe5 write G2
} | batch B s13
att_complete "$G1" "$G2"
check "13: Nova attaches G1 and G2 to ga on cmp-b" ok s13 attachG1 attachG2
check_eq "13: 1 GiB each in the guest" "$GIB $GIB " "$(caps s13 capG1 capG2)"
check "13: patterns written through the guest read back" ok s13 w1G1 w2G1 r1G1 r2G1 w1G2 w2G2 r1G2 r2G2
n_nova_fail=$(grep -c "Failed to notify nova on events" "$CINDER/log/cinder-volume.log" 2>/dev/null)
check "13: Cinder extends the attached G1 to 2 GiB (os-extend at 3.42)" api volume-extend "$G1" 2 --in-use
check "13: and G2" api volume-extend "$G2" 2 --in-use
size_of() { api volume-show "$1" | python3 -c 'import json,sys; print(json.load(sys.stdin)["size"])'; }
grew() { grep -q "\"volume_id\":\"$1\",\"event_type\":\"volume.resize.end\",.*\"outcome\":\"resized\"" "$VOL/state/results.jsonl"; }
for n in G1 G2; do
    check "13: $n is in-use again after the extend" api wait "${!n}" in-use --timeout 120
    check_eq "13: Cinder says $n is 2 GiB" 2 "$(size_of "${!n}")"
    check "13: the volume agent grows $n's image on volume.resize.end (result resized)" wait_for 60 grew "${!n}"
done
nova_told() { [ "$(grep -c "Failed to notify nova on events" "$CINDER/log/cinder-volume.log")" -ge $((${n_nova_fail:-0} + 2)) ]; }
check "13: Cinder tried to tell Nova of both (its log: it could not)" nova_told
offset_of() { rbd_ image-meta get "volume-$1" rbd-luks-agent.state 2>/dev/null | sed -n 's/.* offset=\([0-9]*\) .*/\1/p'; }
OFFG1=$(offset_of "$G1")
OFFG2=$(offset_of "$G2")
check "13: the state names the payload offsets" test -n "$OFFG1" -a -n "$OFFG2"
check_eq "13: G1's image is 2 GiB + its payload offset" $((2 * GIB + OFFG1)) "$(image_bytes "$G1")"
check_eq "13: G2's image is 2 GiB + its payload offset" $((2 * GIB + OFFG2)) "$(image_bytes "$G2")"
batch B s13x <<STEPS
before guest-capacity --name ga --dev sdh
ext extend-volume --name ga --connection-info $CI/G1-b.json --volume $G1 --size $((2 * GIB))
cap guest-capacity --name ga --dev sdh
w3 guest-write --name ga --dev sdh --offset $END2 --length 64k --pattern 0xe3
r3 guest-read --name ga --dev sdh --offset $END2 --length 64k --expect 0xe3
r1 guest-read --name ga --dev sdh --offset 0 --length 1M --expect 0xe1
r2 guest-read --name ga --dev sdh --offset $LAST --length 64k --expect 0xe2
STEPS
check_eq "13: before Nova's part the running guest still sees 1 GiB (qemu was not told)" "$GIB" "$(out s13x before)"
check "13: Nova's extend_volume of G1 works" ok s13x ext
check_eq "13: then the guest sees exactly 2 GiB, live" $((2 * GIB)) "$(out s13x cap)"
check "13: the last 64 KiB of the 2 GiB written and read back; the old data reads back" ok s13x w3 r3 r1 r2
check_eq "13: qemu's resize and the agent's are one: G1's image still 2 GiB + the offset" \
    $((2 * GIB + OFFG1)) "$(image_bytes "$G1")"
batch B s13d <<STEPS
detach detach --name ga --connection-info $CI/G2-b.json --volume $G2 --dev sdi
back wait-secret --volume $G2 --timeout 2
STEPS
api attachment-delete "${ATT[$G2]}"
check "13: G2 (Nova never told): Nova detaches it; the agent puts its secret back" ok s13d detach back
att_new "$G2" ga && att_update "$G2" cmp-b G2-b2
{
    echo "t translate-ci --cinder $CI/G2-b2.cinder --out $CI/G2-b2.json"
    attach_steps ga sdi "$G2" G2-b2 0xe4 0xe5 read
    echo "w3 guest-write --name ga --dev sdi --offset $END2 --length 64k --pattern 0xe6"
    echo "r3 guest-read --name ga --dev sdi --offset $END2 --length 64k --expect 0xe6"
} | batch B s13r
att_complete "$G2"
check "13: G2 plugged again" ok s13r attach
check_eq "13: G2 plugged again: exactly 2 GiB in the guest" $((2 * GIB)) "$(out s13r cap)"
check "13: not raw" not_raw s13r first
check "13: the last 64 KiB of its 2 GiB written and read back; the old data reads back" ok s13r w3 r3 r1 r2
LIVE+=("$G1" "$G2")

# --- the end: everything deleted through Cinder; agents and services stopped by PID -------
for v in "${LIVE[@]}"; do keys_pass "$v"; echo; done | grep . >"$T_TMP/passphrases"
for h in A B; do
    for d in $(vsh "$h" list --all --name 2>/dev/null); do
        vsh "$h" destroy "$d" >/dev/null 2>&1
        vsh "$h" undefine "$d" >/dev/null 2>&1
    done
done
for a in "${atts[@]}"; do api attachment-delete "$a" >/dev/null 2>&1; done
deleted=0
delete_vols() { # VOLUME...: each deleted through Cinder (all asked, then waited for); counted in deleted
    local v
    for v in "$@"; do api volume-delete "$v" 2>>"$T_TMP/api.err" || fail "delete volume $v"; done
    for v in "$@"; do api wait-deleted "$v" --timeout 120 2>>"$T_TMP/api.err" && deleted=$((deleted + 1)); done
}
# 12's clones before what they were made from. Cinder refuses to delete a volume that has
# snapshots (cinder/volume/api.py:497-516); its RBD driver refuses a snapshot with clones
# (rbd.py:1484-1495: SnapshotIsBusy; the snapshot, "deleting" as the API answered
# (cinder/volume/api.py:1240-1252), is available again: cinder/volume/manager.py:1351-1355). A volume with clones of its own (S1 while CL1
# lives) it would only rename to volume-S1.deleted (rbd.py:1388-1396, 1453-1458);
# deleting CL1 first removes S1's volume-CL1.clone_snap (rbd.py:1447-1452, 1343-1345), so
# that S1's own delete removes its image.
snapshot_busy() { # the snapshot's delete fails in the driver: available again, still on S1
    api snapshot-delete "$SNAP" && api snapshot-wait "$SNAP" available --timeout 60 &&
        [ "$(snaps_of "$S1")" = "snapshot-$SNAP volume-$CL1.clone_snap" ]
}
check "12: Cinder cannot delete the snapshot while F1 and F2 are its clones" snapshot_busy
delete_vols "$F1" "$F2" "$CL1"
check_eq "12: Cinder deletes F1, F2 and CL1" 3 "$deleted"
check_eq "12: S1's image keeps only Cinder's snapshot (CL1's clone_snap went with CL1)" "snapshot-$SNAP" "$(snaps_of "$S1")"
snapshot_gone() { api snapshot-delete "$SNAP" && api wait-snapshot-deleted "$SNAP" --timeout 120; }
check "12: then Cinder deletes the snapshot" snapshot_gone
check_eq "12: and its RBD snapshot with it" "" "$(snaps_of "$S1" 2>&1)"
rest=()
for v in "${LIVE[@]}"; do case " $F1 $F2 $CL1 " in *" $v "*) ;; *) rest+=("$v") ;; esac; done
delete_vols "${rest[@]}"
check_eq "Cinder deletes all ${#LIVE[@]} volumes" "${#LIVE[@]}" "$deleted"
images12_gone() { image_gone "$S1" && image_gone "$F1" && image_gone "$F2" && image_gone "$CL1" && ! rbd_ ls | grep -q "^volume-$S1"; }
check "12: the images of S1, F1, F2 and CL1 are gone (no volume-S1.deleted left)" images12_gone
check "which leave the volume index" wait_for 30 all_unindexed "${LIVE[@]}"
all_unindexed "${LIVE[@]}" && vols=() # nothing left for the cleanup to remove
no_volume_secrets() { [ -z "$(volume_secrets A)$(volume_secrets B)" ]; }
check "and both compute hosts drop their secrets" wait_for 20 no_volume_secrets
for v in RUN_A RUN_B RUN_V FEED_A FEED_B FEED_V; do
    stop_pid "${!v}"
    printf -v "$v" %s ""
done
check_eq "the passphrases were known (${#LIVE[@]})" "${#LIVE[@]}" "$(wc -l <"$T_TMP/passphrases")"
check "no passphrase in any agent's log, state or hook file" \
    bash -c "! grep -rqF -f '$T_TMP/passphrases' '$VOL' '$CMPA' '$CMPB'"
echo "   whole test $(($(ms) - t_start)) ms"
