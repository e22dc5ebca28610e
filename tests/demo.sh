#!/usr/bin/env bash
# make demo: the agent's main job, start to end, on a private one-node Ceph
# cluster booted here and stopped at the end (by PID).
# Usage: tests/demo.sh AGENT_BINARY
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
AGENT=$(realpath "$1")
work=$(mktemp -d "${TMPDIR:-/tmp}/rbd-luks-demo.XXXXXX")
CEPH_DIR=$work/ceph
cleanup() {
    "$here/lib/ceph-cluster.sh" stop "$CEPH_DIR" >/dev/null 2>&1 || true
    rm -rf "$work"
}
trap cleanup EXIT
say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

say "Booting a private one-node Ceph cluster (one mon, one memstore OSD, 127.0.0.1 only)"
"$here/lib/ceph-cluster.sh" start "$CEPH_DIR" >/dev/null
CEPH_CONF=$CEPH_DIR/ceph.conf
rbd_() { timeout -s KILL 60 rbd --conf "$CEPH_CONF" --id cinder -p volumes "$@"; }

say "Cinder creates two empty 10 GiB volumes (raw RBD images); the agent has a KEK to wrap their keys"
mkdir -p "$work/state"
head -c 32 /dev/urandom >"$work/kek-1.bin" && chmod 600 "$work/kek-1.bin"
v1=$(cat /proc/sys/kernel/random/uuid)
v2=$(cat /proc/sys/kernel/random/uuid)
for v in "$v1" "$v2"; do rbd_ create --size 10G "volume-$v"; done
rbd_ ls -l

cat >"$work/agent.ini" <<INI
[agent]
role = volume
hook_file = $work/events.jsonl
state_dir = $work/state
[ceph]
conf = $CEPH_CONF
client = cinder
pool = volumes
[volume]
types = *
[keys]
provider = metadata
kek_id = kek-1
kek_file = $work/kek-1.bin
INI
"$AGENT" -c "$work/agent.ini" check-config

say "Notifications arrive in the hook file (one oslo envelope, one bare, one the agent ignores)"
note() {
    printf '{"message_id": "%s", "publisher_id": "volume.cinder-1@rbd", "event_type": "%s", "priority": "INFO", "payload": {"volume_id": "%s", "volume_type": "5d1c9a3e-1111-4222-8333-944455556666", "size": 10, "status": "available", "display_name": "demo"}, "timestamp": "2026-11-25 21:00:00.000000"}' \
        "$(cat /proc/sys/kernel/random/uuid)" "$1" "$2"
}
python3 -c 'import json,sys; print(json.dumps({"oslo.version": "2.0", "oslo.message": sys.argv[1]}))' \
    "$(note volume.create.end "$v1")" >>"$work/events.jsonl"
note volume.create.end "$v2" >>"$work/events.jsonl"
echo >>"$work/events.jsonl"
note volume.attach.end "$v2" >>"$work/events.jsonl"
echo >>"$work/events.jsonl"
cut -c1-150 "$work/events.jsonl" | sed 's/$/.../'

say "The agent handles every line (run --once; its own 256-bit random keys: kdf = fast, the default, docs/decisions.md)"
time "$AGENT" -c "$work/agent.ini" run --once

say "results.jsonl"
cat "$work/state/results.jsonl"

say "The key the agent generated travels with the volume, wrapped (image metadata)"
rbd_ image-meta list "volume-$v1"
"$AGENT" -c "$work/agent.ini" keys verify "$v1"

say "qemu opens volume $v1 through its own LUKS driver with the hex passphrase"
"$AGENT" -c "$work/agent.ini" keys passphrase "$v1" >"$work/pass"
opts="driver=luks,key-secret=s0,file.driver=rbd,file.pool=volumes,file.image=volume-$v1,file.conf=$CEPH_CONF,file.user=cinder"
qemu-img info --object "secret,id=s0,file=$work/pass" --image-opts "$opts" | grep -E "virtual size|format|cipher|payload"
qemu-io --object "secret,id=s0,file=$work/pass" --image-opts "$opts" \
    -c "write -P 0xab 0 1M" -c "read -P 0xab 0 1M"

say "The header as cryptsetup sees it (first 4 MiB of the raw image)"
qemu-img dd -f raw -O raw "if=rbd:volumes/volume-$v1:conf=$CEPH_CONF:id=cinder" "of=$work/hdr" bs=4M count=1
cryptsetup luksDump "$work/hdr" | grep -E "^(Version|Cipher|Hash|Payload|MK bits|MK iterations|Key Slot 0)|^\s+Iterations"
cryptsetup luksOpen --test-passphrase --key-file "$work/pass" "$work/hdr" && echo "passphrase opens keyslot 0"
rm -f "$work/pass"

say "Done; stopping the cluster"
