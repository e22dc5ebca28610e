#!/usr/bin/env bash
# A volume of an encrypted type made from a Glance image: the agent's
# conversion against Cinder's own copy_image_to_encrypted_volume, on one
# private one-node Ceph cluster. Run on demand (make bench), not by make
# check. Needs root.
#
#   bench/convert.sh [AGENT]        AGENT defaults to build/rbd-luks-agent
#
# At each size (BENCH_SIZES in GiB, default "1 10"; 1..16), a "Glance" image
# of that many bytes is written into the pool once (rbd import of an
# AES-CTR keystream from openssl: no zeros, nothing skipped as sparse, every
# byte allocated), snapshotted and protected, as Glance's RBD store keeps an
# image. Then BENCH_RUNS (2) runs of each contender, the order swapped every
# run, each making a volume of the image's size from it:
#   cinder  Cinder's real code (python3-cinder 21.3.1 from Debian 12), driven
#           by bench/cinder_convert.py: its RBD driver against this cluster,
#           RBDDriver.copy_image_to_encrypted_volume
#           (cinder/volume/drivers/rbd.py:1899), the path Cinder takes for an
#           encrypted volume from an image (cinder/volume/flows/manager/
#           create_volume.py:1091-1099 skips clone_image for encrypted
#           volumes). It downloads the image to a temp file in
#           image_conversion_dir, qemu-img converts it to raw (a second
#           file), then to LUKS (a third, renamed over the second;
#           rbd.py:1914 _encrypt_image), deletes the volume's image and runs
#           `rbd import`, then resizes it to the volume's size (rbd.py:1952
#           _copy_image_to_volume). The image service serves the image's
#           bytes from the RBD snapshot (what Glance's RBD store does); the
#           key manager is Cinder's ConfKeyManager with a fixed key; the one
#           database lookup this path makes (the type's encryption: luks,
#           aes-xts-plain64, 256) is answered by the harness. Timed: the
#           call (perf_counter). Temp disk: the conversion dir's files,
#           sampled every 50 ms (st_blocks, as du counts), peak.
#           (cinder/volume/driver.py:858 is the generic driver's version,
#           which attaches the volume with an encryptor; the RBD driver
#           overrides it with the one above.)
#   agent   what Cinder's RBD driver does for an unencrypted type (clone_image,
#           rbd.py:1870: a clone of the image's protected snapshot, resized
#           to the volume's size; not timed), then the volume.create.end
#           event to the agent's `run` daemon, already warm (one blank volume
#           formatted first): the clock runs from the event's write to its
#           result line, which must be "converted" (bench/agent_events.py).
#           The agent copies the data into a new image through librbd's LUKS
#           layer, reads it back, swaps the names (agent/volume/format_convert.c).
#           Temp disk: du of the agent's own dirs (config, hook file, state,
#           log), sampled every 0.5 s; the agent writes nothing else outside
#           the cluster. Its cluster space: `rbd du` of the
#           volume-ID.rbd-luks-agent.new image, sampled every second while it
#           and the plain volume both exist (the last sample is shown), and
#           of the volume afterwards.
# MiB/s: the image's bytes / the time. Both contenders get the same image
# bytes from the same pool; each keeps its own defaults for the key slot
# (Cinder: qemu-img's iter-time 2000 ms, two PBKDF2 runs of about 2 s each
# in its LUKS conversion; the agent: provider = metadata, kdf = fast).
#
# Checks, after every run (not timed): qemu's LUKS driver opens the volume
# with its passphrase (Cinder: the fixed key's hex; agent: `keys
# passphrase`) and reads 1 MiB at five offsets (0, a third, a half, the
# size minus 4 MiB, the last MiB), whose SHA-256 must match the image's
# bytes there; at sizes up to BENCH_FULL_SUM_GIB (1) the whole volume's
# SHA-256 too (qemu-img convert to a file; for a volume smaller than the
# image, against the image's first that many bytes). A slice inside the volume's
# virtual size that differs stops the script. Cinder's volume is known to be
# smaller than the image (its _resize cuts the LUKS file, image + 2 MiB of
# header, back to the volume's size, so the image's last 2,068,480 bytes are
# gone): slices past the virtual size are reported "cut", not failed.
#
# Capacity: the OSD is BlueStore on a sparse file in the temp dir
# (tests/lib/ceph-cluster.sh CEPH_OBJECTSTORE=bluestore; memstore keeps data
# in RAM at about 2.2 x, and 10 GiB of image plus a 10 GiB copy would not
# fit), 2 x the largest size + 8 GiB. With Cinder's temp files (2 x the
# size at their peak) the temp dir needs about 4 x the largest size + 10
# GiB free (checked). Images are removed after each run; everything started
# is stopped by PID; the temp dir goes unless BENCH_KEEP=1 (after a failure
# only its small files stay: the OSD's block file and Cinder's temp files go).
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=bench/lib.sh
. "$here/lib.sh"
SRC=$(realpath -- "${1:-$bench_root/build/rbd-luks-agent}")
RUNS=${BENCH_RUNS:-2}
SIZES=${BENCH_SIZES:-1 10}
FULL_SUM_GIB=${BENCH_FULL_SUM_GIB:-1}
PY=/usr/bin/python3 # python3-cinder, python3-rbd: the system's python
MIB=1048576
GIB=$((1024 * MIB))

if ! [[ $RUNS =~ ^[0-9]+$ ]] || ((RUNS < 1 || RUNS > 10)); then die "BENCH_RUNS must be 1..10"; fi
max=0
for s in $SIZES; do
    if ! [[ $s =~ ^[0-9]+$ ]] || ((s < 1 || s > 16)); then die "BENCH_SIZES: GiB values 1..16"; fi
    ((s > max)) && max=$s
done
[[ $FULL_SUM_GIB =~ ^[0-9]+$ ]] || die "BENCH_FULL_SUM_GIB must be a number of GiB"
for c in qemu-img qemu-io openssl rbd ceph-mon ceph-osd sha256sum; do
    command -v "$c" >/dev/null || die "$c is needed"
done
"$PY" -c 'import cinder.volume.drivers.rbd, rbd' 2>/dev/null ||
    die "$PY cannot import cinder.volume.drivers.rbd and rbd (python3-cinder, python3-rbd)"
bench_init "$SRC"
load_start=$(loadavg)
started=$(date -u '+%Y-%m-%d %H:%M UTC')
BLUESTORE_BYTES=$(((2 * max + 8) * GIB))
need=$((BLUESTORE_BYTES + (2 * max + 2) * GIB))
avail=$(df --output=avail -B1 "$T" | tail -n1)
((avail > need)) || die "$T has $((avail / GIB)) GiB free; this needs about $((need / GIB)) GiB"

# The big files go even when the temp dir is kept after a failure.
drop_big_files() {
    [[ -n ${BENCH_KEEP:-} ]] && return 0
    rm -f -- "$T/ceph/osd/block" "$T"/*.bin
    rm -rf -- "$T/cinder/conv"
}
bench_cleanup_hooks+=(drop_big_files)

us() { local t=${EPOCHREALTIME/[.,]/}; echo "${t#0}"; }
uuid() { cat /proc/sys/kernel/random/uuid; }
rbd_json() { rbdc "$@" --format json 2>/dev/null; }
used_of() { # IMAGE: bytes rbd du says it uses (- if it does not exist)
    rbd_json du "$1" | "$PY" -c 'import json,sys
try:
    print(sum(i["used_size"] for i in json.load(sys.stdin)["images"]))
except Exception:
    print("-")'
}

CEPH_OBJECTSTORE=bluestore CEPH_BLUESTORE_BYTES=$BLUESTORE_BYTES bench_cluster_start
mkdir -p "$T/cinder/conv"
# Cinder's fixed key (ConfKeyManager): 64 hex characters; its passphrase is the same hex.
fixed_key=$(head -c 32 /dev/urandom | od -An -v -tx1 | tr -d ' \n')
(umask 077 && printf '%s' "$fixed_key" >"$T/pass-cinder")

# ---- reading a volume back ----------------------------------------------------
luks_opts() { # IMAGE: qemu's LUKS driver over rbd (the secret is s0)
    echo "driver=luks,key-secret=s0,file.driver=rbd,file.pool=volumes,file.image=$1,file.conf=$CONF,file.user=cinder"
}
# slice_sum OPTS OFFSET: SHA-256 of the 1 MiB at OFFSET of the --image-opts OPTS
# (a raw layer with offset and size on top), or "-" if qemu cannot read it.
slice_sum() {
    local opts=file.${1//,/,file.} off=$2 pass=${3:-}
    rm -f "$T/slice.bin"
    timeout -s KILL 120 qemu-img convert -O raw ${pass:+--object "secret,id=s0,file=$pass"} \
        --image-opts "driver=raw,offset=$off,size=$MIB,$opts" \
        "$T/slice.bin" >/dev/null 2>&1 || { echo -; return 0; }
    sha256sum <"$T/slice.bin" | cut -d' ' -f1
    rm -f "$T/slice.bin"
}
full_sum() { # OPTS [PASSFILE [KEEP]]: SHA-256 of everything qemu reads through OPTS
    local out=$T/full.bin
    [[ -n ${3:-} ]] && out=$3
    rm -f "$out"
    timeout -s KILL 600 qemu-img convert -O raw ${2:+--object "secret,id=s0,file=$2"} \
        --image-opts "$1" "$out" >/dev/null 2>&1 || { echo -; return 0; }
    sha256sum <"$out" | cut -d' ' -f1
    [[ -n ${3:-} ]] || rm -f "$out"
}
virtual_size() { # IMAGE PASSFILE
    timeout -s KILL 120 qemu-img info --output=json --object "secret,id=s0,file=$2" \
        --image-opts "$(luks_opts "$1")" 2>/dev/null |
        "$PY" -c 'import json,sys; print(json.load(sys.stdin)["virtual-size"])' 2>/dev/null || echo 0
}
# verify IMAGE PASSFILE GIB WHO: prints "virtual_size ok cut full" (full: match,
# differs, or - when not checked); dies if a slice inside the virtual size differs.
verify() {
    local img=$1 pass=$2 g=$3 who=$4 vs i off got ok=0 cut=0 full=-
    vs=$(virtual_size "$img" "$pass")
    ((vs > 0)) || die "$who, $g GiB: qemu's LUKS driver cannot open $img with its passphrase"
    for i in "${!OFFSETS[@]}"; do
        off=${OFFSETS[$i]}
        if ((off + MIB > vs)); then
            cut=$((cut + 1))
            continue
        fi
        got=$(slice_sum "$(luks_opts "$img")" "$off" "$pass")
        [[ $got == "${WANT[$i]}" ]] ||
            die "$who, $g GiB: the 1 MiB at offset $off reads $got through qemu's LUKS driver, the image has ${WANT[$i]}"
        ok=$((ok + 1))
    done
    if ((g <= FULL_SUM_GIB)); then
        full=differs
        if ((vs == g * GIB)); then
            [[ $(full_sum "$(luks_opts "$img")" "$pass") == "$WANT_FULL" ]] && full=match
        elif ((vs < g * GIB)); then
            # A volume smaller than the image: is what it holds the image's start?
            [[ $(full_sum "$(luks_opts "$img")" "$pass") == "$(head -c "$vs" "$T/image.bin" | sha256sum | cut -d' ' -f1)" ]] &&
                full=prefix-match
        fi
    fi
    echo "$vs $ok $cut $full"
}

# ---- the agent, warm ------------------------------------------------------------
agent_ini "$T/agent"
agent_start "$T/agent"
events() { BENCH_EVENT_TIMEOUT_S=1800 "$PY" "$here/agent_events.py" "$@"; }
warm=$(uuid)
rbdc create --size 1G "volume-$warm"
out=$(events one "$T/agent/events.jsonl" "$T/agent/state" "$warm" 1)
[[ $out == *'"outcome": "formatted"'* ]] || die "warm-up format: $out"
rbdc rm --no-progress "volume-$warm" >/dev/null
say "agent warm"

R=$T/results.tsv # size contender run seconds temp_peak temp_apparent cluster_extra volume_used vs ok cut full note
: >"$R"

# sample_loop FILE CMD...: CMD's output (a number or -) appended to FILE every
# 0.5 s until killed; started in the background.
sample_loop() {
    local file=$1
    shift
    while :; do
        "$@" >>"$file" 2>/dev/null || true
        sleep 0.5
    done
}
du_bytes() { du -s -B1 "$1" | cut -f1; }
peak_of() { awk '$1 != "-" && $1 > m { m = $1 } END { print m + 0 }' "$1"; }
last_of() { awk '$1 != "-" { l = $1 } END { print (l == "" ? "-" : l) }' "$1"; }

run_cinder() { # GIB RUN
    local g=$1 n=$2 id out secs peak apparent used check
    id=$(uuid)
    out=$("$PY" "$here/cinder_convert.py" --ceph-conf "$CONF" --pool volumes --user cinder \
        --image-pool volumes --image "$IMAGE" --image-snap snap --volume-id "$id" \
        --size-gib "$g" --conversion-dir "$T/cinder/conv" --fixed-key "$fixed_key" \
        2>>"$T/cinder/harness.log") || { tail -n 30 "$T/cinder/harness.log" >&2; die "cinder, $g GiB: the harness failed"; }
    echo "$out" >>"$T/cinder/results.jsonl"
    read -r secs peak apparent < <("$PY" -c 'import json,sys; o = json.loads(sys.argv[1]); print(o["seconds"], o["peak_bytes"], o["peak_apparent_bytes"])' "$out")
    used=$(used_of "volume-$id")
    check=$(verify "volume-$id" "$T/pass-cinder" "$g" cinder)
    note=$("$PY" -c 'import json,sys; print("; ".join(json.loads(sys.argv[1])["cinder_log"]).replace(" ", "_"))' "$out")
    rbdc rm --no-progress "volume-$id" >/dev/null
    echo "$g cinder $n $secs $peak $apparent 0 $used $check ${note:--}" >>"$R"
}

run_agent() { # GIB RUN
    local g=$1 n=$2 id out secs before peak extra used check sdu snew s1 s2 reason
    id=$(uuid)
    # Cinder's clone_image for an unencrypted type: _clone, then _resize (to the
    # image's size here: librbd takes that, the rbd CLI refuses it, so skipped).
    rbdc clone "volumes/$IMAGE@snap" "volumes/volume-$id"
    before=$(du_bytes "$T/agent")
    sdu=$T/agent-du.txt snew=$T/agent-new.txt
    : >"$sdu"
    : >"$snew"
    sample_loop "$sdu" du_bytes "$T/agent" &
    s1=$!
    sample_loop "$snew" used_of "volume-$id.rbd-luks-agent.new" &
    s2=$!
    out=$(AGENT_PID=$agent_pid events one "$T/agent/events.jsonl" "$T/agent/state" "$id" "$g") ||
        { bench_stop_pid "$s1"; bench_stop_pid "$s2"; die "agent, $g GiB: $out"; }
    bench_stop_pid "$s1"
    bench_stop_pid "$s2"
    [[ $out == *'"outcome": "converted"'* ]] || die "agent, $g GiB: $out"
    echo "$out" >>"$T/agent/results-bench.jsonl"
    secs=$("$PY" -c 'import json,sys; print(json.loads(sys.argv[1])["ms"] / 1000)' "$out")
    peak=$(peak_of "$sdu")
    peak=$((peak > before ? peak - before : 0))
    extra=$(last_of "$snew")
    used=$(used_of "volume-$id")
    (umask 077 && "$AGENT" -c "$T/agent/agent.ini" keys passphrase "$id" >"$T/pass-agent" 2>/dev/null) ||
        die "keys passphrase $id failed"
    check=$(verify "volume-$id" "$T/pass-agent" "$g" agent)
    rm -f "$T/pass-agent"
    reason=$("$PY" -c 'import json,re,sys; r = json.loads(sys.argv[1])["reason"]
m = re.search(r"([0-9.]+) MiB/s copy, ([0-9.]+) MiB/s read-back", r)
print(f"copy_{m.group(1)}_MiB/s,_read-back_{m.group(2)}_MiB/s" if m else "-")' "$out")
    rbdc rm --no-progress "volume-$id" >/dev/null
    echo "$g agent $n $secs $peak $peak $extra $used $check $reason" >>"$R"
}

for g in $SIZES; do
    IMAGE=glance-$g
    bytes=$((g * GIB))
    say "$g GiB: writing the image"
    # openssl ends on head's SIGPIPE: not a failure (pipefail).
    { openssl enc -aes-128-ctr -nosalt -K "$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')" \
        -iv 0 </dev/zero 2>/dev/null || true; } | head -c "$bytes" |
        timeout -s KILL 1200 rbd --conf "$CONF" --id cinder import --dest-pool volumes \
            --no-progress - "$IMAGE" >/dev/null
    rbdc snap create "$IMAGE@snap" >/dev/null
    rbdc snap protect "$IMAGE@snap"
    OFFSETS=(0 $((bytes / 3 / MIB * MIB)) $((bytes / 2)) $((bytes - 4 * MIB)) $((bytes - MIB)))
    WANT=()
    raw_opts="driver=rbd,pool=volumes,image=$IMAGE,snapshot=snap,conf=$CONF,user=cinder"
    for off in "${OFFSETS[@]}"; do
        WANT+=("$(slice_sum "$raw_opts" "$off")")
    done
    WANT_FULL=-
    ((g <= FULL_SUM_GIB)) && WANT_FULL=$(full_sum "$raw_opts" "" "$T/image.bin")
    IMAGE_USED=$(used_of "$IMAGE")
    ((IMAGE_USED == bytes)) || say "$g GiB: the image uses $IMAGE_USED bytes, not $bytes"
    for ((n = 1; n <= RUNS; n++)); do
        if ((n % 2)); then order="cinder agent"; else order="agent cinder"; fi
        for c in $order; do
            say "$g GiB, run $n: $c"
            "run_$c" "$g" "$n"
        done
    done
    rbdc snap unprotect "$IMAGE@snap"
    rbdc snap purge --no-progress "$IMAGE" >/dev/null
    rbdc rm --no-progress "$IMAGE" >/dev/null
    rm -f "$T/image.bin"
done

echo "A volume from an image, encrypted: Cinder's copy_image_to_encrypted_volume against the agent's conversion ($started)"
echo "$("$AGENT" --version 2>&1 | head -n1), python3-cinder $("$PY" -c 'import importlib.metadata as m; print(m.version("cinder"))' 2>/dev/null || echo '?')," \
    "$(qemu-img --version | head -n1 | sed 's/ (.*//'), ceph $(ceph --version | awk '{print $3}')," \
    "$(nproc) CPUs, load average at start $load_start, at end $(loadavg);" \
    "one-node Ceph, BlueStore on a sparse file ($((BLUESTORE_BYTES / GIB)) GiB) on $(df --output=fstype "$T" | tail -n1);" \
    "Cinder's conversion dir on $(df --output=fstype "$T/cinder/conv" | tail -n1)"
echo "Images written in full (openssl AES-CTR keystream, no zeros); each volume the image's size"
echo
"$PY" - "$R" "$RUNS" <<'PY'
import statistics, sys
R, RUNS = sys.argv[1], int(sys.argv[2])
rows = [l.split() for l in open(R) if l.strip()]
MIB, GIB = 1 << 20, 1 << 30
sizes = list(dict.fromkeys(int(r[0]) for r in rows))
names = {"cinder": "Cinder: copy_image_to_encrypted_volume",
         "agent": "agent: clone + event -> converted"}
def of(g, c, i):
    return [r[i] for r in rows if int(r[0]) == g and r[1] == c]
def med(g, c, i):
    v = [float(x) for x in of(g, c, i) if x != "-"]
    return statistics.median(v) if v else None
def mib(x):
    return "-" if x in (None, "-") else f"{float(x) / MIB:,.0f}"
print(f"{'size':<6} {'contender':<40} {'runs':>4} {'median s':>8} {'min s':>6} {'max s':>6} {'MiB/s':>6} "
      f"{'temp disk MiB':>13} {'cluster extra MiB':>17} {'volume MiB':>10}  "
      f"{'read back (slices ok/cut, full)':<31}  note")
print(f"{'-'*6} {'-'*40} {'-'*4} {'-'*8} {'-'*6} {'-'*6} {'-'*6} {'-'*13} {'-'*17} {'-'*10}  {'-'*31}  {'-'*40}")
for g in sizes:
    for c in ("cinder", "agent"):
        rs = [r for r in rows if int(r[0]) == g and r[1] == c]
        if not rs:
            continue
        s = med(g, c, 3)
        temp = max(int(r[4]) for r in rs)
        extra = [r[6] for r in rs]
        extra = "-" if c == "cinder" else max((int(x) for x in extra if x != "-"), default="-")
        checks = sorted(set(f"{r[9]}/{r[10]}, full {r[11]}" for r in rs))
        vs = sorted(set(int(r[8]) for r in rs))
        note = "; ".join(sorted(set(r[12].replace("_", " ") for r in rs)))
        if c == "cinder":
            note = "Cinder's log: " + note
            if vs[0] < g * GIB:
                note += f"; qemu sees {vs[0]:,} bytes, {g * GIB - vs[0]:,} fewer than the image"
        secs = sorted(float(r[3]) for r in rs)
        print(f"{g:<3}GiB {names[c]:<40} {len(rs):>4} {s:>8.1f} {secs[0]:>6.1f} {secs[-1]:>6.1f} {g * 1024 / s:>6.0f} "
              f"{mib(temp):>13} {mib(extra):>17} {mib(med(g, c, 7)):>10}  {', '.join(checks):<31}  {note}")
    print()
print("Agent vs Cinder (medians)")
for g in sizes:
    a, c = med(g, "agent", 3), med(g, "cinder", 3)
    if a and c:
        ta = max(int(r[4]) for r in rows if int(r[0]) == g and r[1] == "agent")
        tc = max(int(r[4]) for r in rows if int(r[0]) == g and r[1] == "cinder")
        print(f"  {g} GiB: {c / a:.1f}x faster ({c:.1f} s -> {a:.1f} s, {g * 1024 / c:.0f} -> "
              f"{g * 1024 / a:.0f} MiB/s); temp disk {tc / MIB:,.0f} MiB -> {ta / MIB:,.0f} MiB")
PY
echo
echo "Times: perf_counter around Cinder's call in bench/cinder_convert.py; for the agent from the"
echo "event's write() to its result line (bench/agent_events.py), its start and Ceph connection not"
echo "included (warm). MiB/s: the image's bytes over that time. Temp disk: the peak of Cinder's"
echo "conversion dir (st_blocks of its files, every 50 ms); for the agent the growth of du of its own"
echo "dirs (every 0.5 s). Cluster extra: rbd du of the agent's .new image at the last sample before the"
echo "swap, while it and the plain clone both exist. Volume: rbd du of the finished volume."
echo "Read back: qemu's LUKS driver, 1 MiB SHA-256 at 0, 1/3, 1/2, size - 4 MiB, size - 1 MiB against"
echo "the image's; cut: past the volume's virtual size; full: the whole volume's SHA-256 (up to"
echo "BENCH_FULL_SUM_GIB; prefix-match: the volume is shorter than the image and holds its first bytes)."
