#!/usr/bin/env bash
# What a volume's PBKDF2 count costs every time qemu opens it (each attach,
# each live migration, each restart of the guest): qemu-io opening volumes the
# agent formatted with the default calibrated count and with the minimum, on
# a private one-node Ceph cluster. Run on demand (make bench), not by make
# check. Needs root.
#
#   bench/attach_cost.sh [AGENT]           AGENT defaults to build/rbd-luks-agent
#
# Volumes (1 GiB each; BENCH_VOLUMES (2) of each kind, opened in turn):
#   default   formatted by the agent with `[luks] iter_time_ms = 2000`
#             (kdf = standard; the count is calibrated at start-up; the
#             default before kdf = fast became it for provider = metadata)
#   fast      formatted by the agent with no [luks] line at all (provider =
#             metadata: the default is kdf = fast) when `AGENT -c FILE
#             check-config` accepts `kdf = fast`, else with `iterations =
#             1000` (the minimum); the script says which. The header's
#             iteration counts, read back, show what the default made
#   cinder    Cinder's way today: `qemu-img create -f luks` (qemu's default
#             iter-time 2000 ms) straight into RBD, for comparison
#   raw       a plain image opened with -f raw: the open cost without LUKS
# Each volume is opened BENCH_RUNS (7) times, all kinds interleaved:
#   qemu-io --object secret,id=s0,file=PASSFILE --image-opts
#     driver=luks,key-secret=s0,file.driver=rbd,...,file.user=cinder -c 'read 0 4k'
# timed with bash $EPOCHREALTIME (process start, Ceph connect, LUKS unlock,
# one read, exit). The read must succeed. Key-slot and master-key-digest
# iterations are read back with cryptsetup luksDump; what PBKDF2 alone costs
# at those counts with nettle (qemu's crypto library here) is timed by
# bench/format_floor.c pbkdf. Everything started is stopped by PID.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=bench/lib.sh
. "$here/lib.sh"
SRC=$(realpath -- "${1:-$bench_root/build/rbd-luks-agent}")
RUNS=${BENCH_RUNS:-7}
VOLS=${BENCH_VOLUMES:-2}
[[ $RUNS =~ ^[0-9]+$ ]] && ((RUNS >= 1 && RUNS <= 100)) || die "BENCH_RUNS must be 1..100"
[[ $VOLS =~ ^[0-9]+$ ]] && ((VOLS >= 1 && VOLS <= 20)) || die "BENCH_VOLUMES must be 1..20"
for c in python3 qemu-io qemu-img cryptsetup rbd cc ceph-mon ceph-osd; do
    command -v "$c" >/dev/null || die "$c is needed"
done
bench_init "$SRC"
load_start=$(loadavg)
started=$(date -u '+%Y-%m-%d %H:%M UTC')
build_format_floor "$T/format_floor"
bench_cluster_start
uuid() { cat /proc/sys/kernel/random/uuid; }
us() { local t=${EPOCHREALTIME/[.,]/}; echo "${t#0}"; }

# Which way to ask for the minimum.
agent_ini "$T/probe"
sed -i '/^\[luks\]/a kdf = fast' "$T/probe/agent.ini"
if "$AGENT" -c "$T/probe/agent.ini" check-config >/dev/null 2>&1; then
    FAST_LINE=
    fast_how="no [luks] line: the default, kdf = fast with provider = metadata"
else
    FAST_LINE="luks.iterations = 1000"
    fast_how="iterations = 1000 (check-config refused kdf = fast: $("$AGENT" -c "$T/probe/agent.ini" check-config 2>&1 | head -n1 | sed "s|$T/probe/||"))"
fi
say "minimum: $fast_how"

agent_ini "$T/default" "luks.iter_time_ms = 2000"
agent_ini "$T/fast" ${FAST_LINE:+"$FAST_LINE"}

K=$T/kinds.tsv # kind image passfile iter mk_iter
: >"$K"
header_iters() {
    local dump
    dump=$(cryptsetup luksDump "$1" 2>&1) || { echo "? ?"; return 0; }
    echo "$(awk '/^[[:space:]]*Iterations:/ { print $2; exit }' <<<"$dump")" \
        "$(awk '/^MK iterations:/ { print $3; exit }' <<<"$dump")"
}
rbd_header() {
    timeout -s KILL 120 qemu-img dd -f raw -O raw "if=rbd:volumes/$1:conf=$CONF:id=cinder" \
        "of=$2" bs=4M count=1 >/dev/null 2>&1
}
for kind in default fast; do
    for ((v = 0; v < VOLS; v++)); do
        id=$(uuid)
        rbdc create --size 1G "volume-$id"
        timeout -s KILL 300 "$AGENT" -c "$T/$kind/agent.ini" format "$id" >/dev/null 2>>"$T/$kind/agent.log" ||
            { tail -n 3 "$T/$kind/agent.log" >&2; die "$kind: format $id failed"; }
        (umask 077 && "$AGENT" -c "$T/$kind/agent.ini" keys passphrase "$id" >"$T/pass-$id" 2>/dev/null) ||
            die "keys passphrase $id failed"
        rbd_header "volume-$id" "$T/hdr.bin"
        echo "$kind volume-$id $T/pass-$id $(header_iters "$T/hdr.bin")" >>"$K"
    done
done
(umask 077 && head -c 32 /dev/urandom | od -An -v -tx1 | tr -d ' \n' >"$T/pass-cinder")
for ((v = 0; v < VOLS; v++)); do
    img=cinder-$(uuid)
    for ((i = 0; i < 5; i++)); do
        timeout -s KILL 300 qemu-img create -q -f luks \
            -o cipher-alg=aes-256,cipher-mode=xts,ivgen-alg=plain64 \
            --object "secret,id=luks_sec,format=raw,file=$T/pass-cinder" -o key-secret=luks_sec \
            "rbd:volumes/$img:conf=$CONF:id=cinder" 1G >"$T/qemu.err" 2>&1 && break
        grep -q 'Unable to get accurate CPU usage' "$T/qemu.err" || { cat "$T/qemu.err" >&2; die "qemu-img create failed"; }
        rbdc rm --no-progress "$img" >/dev/null 2>&1 || true
    done
    ((i < 5)) || die "qemu-img create failed 5 times"
    rbd_header "$img" "$T/hdr.bin"
    echo "cinder $img $T/pass-cinder $(header_iters "$T/hdr.bin")" >>"$K"
done
for ((v = 0; v < VOLS; v++)); do
    img=raw-$(uuid)
    rbdc create --size 1G "$img"
    echo "raw $img - 0 0" >>"$K"
done

open_once() { # KIND IMAGE PASSFILE -> microseconds
    local t0 t1 out
    if [[ $1 == raw ]]; then
        t0=$(us)
        out=$(timeout -s KILL 120 qemu-io -f raw -c 'read 0 4k' "rbd:volumes/$2:conf=$CONF:id=cinder" 2>&1) ||
            die "raw $2: $out"
        t1=$(us)
    else
        t0=$(us)
        out=$(timeout -s KILL 120 qemu-io --object "secret,id=s0,file=$3" --image-opts \
            "driver=luks,key-secret=s0,file.driver=rbd,file.pool=volumes,file.image=$2,file.conf=$CONF,file.user=cinder" \
            -c 'read 0 4k' 2>&1) || die "$1 $2: qemu-io: $out"
        t1=$(us)
    fi
    [[ $out == *"read 4096/4096 bytes"* ]] || die "$1 $2: qemu-io read failed: $out"
    echo $((t1 - t0))
}

O=$T/opens.tsv
: >"$O"
mapfile -t vols <"$K"
for ((run = 1; run <= RUNS; run++)); do
    say "run $run of $RUNS (load $(loadavg))"
    for line in "${vols[@]}"; do
        read -r kind img pass _ _ <<<"$line"
        echo "$kind $(open_once "$kind" "$img" "$pass")" >>"$O"
    done
done

P=$T/pbkdf.tsv # kind iter mk pbkdf_ms
: >"$P"
for kind in default fast cinder; do
    read -r _ _ _ iter mk < <(grep "^$kind " "$K" | head -n1)
    # qemu derives the key slot (64 bytes) and the master-key digest (20 bytes)
    out=$(MK_ITERATIONS=$mk "$T/format_floor" pbkdf "$iter")
    echo "$kind $iter $mk $(awk '/^pbkdf2_nettle |^pbkdf2_mk_digest_nettle / { s += $2; n++ } END { print n ? s : "-" }' <<<"$out")" >>"$P"
done

echo "qemu opening LUKS volumes on RBD: what the PBKDF2 count costs each attach ($started)"
echo "$("$AGENT" --version 2>&1 | head -n1), $(qemu-io --version | head -n1 | sed 's/ (.*//'), ceph $(ceph --version | awk '{print $3}')," \
    "$(nproc) CPUs, load average at start $load_start, at end $(loadavg); one-node Ceph (memstore)"
echo "minimum: $fast_how"
echo
python3 - "$K" "$O" "$P" "$RUNS" "$VOLS" <<'PY'
import statistics, sys
kinds = [l.split() for l in open(sys.argv[1]) if l.strip()]
opens = [l.split() for l in open(sys.argv[2]) if l.strip()]
pb = {l.split()[0]: l.split()[3] for l in open(sys.argv[3]) if l.strip()}
runs, vols = int(sys.argv[4]), int(sys.argv[5])
label = {"default": "agent, iter_time_ms = 2000", "fast": "agent, default (see above)",
         "cinder": "Cinder's way: qemu-img create -f luks", "raw": "no LUKS: qemu-io -f raw"}
def iters(k, col):
    v = sorted({int(x[col]) for x in kinds if x[0] == k})
    return ", ".join(f"{i:,}" for i in v)
med = {}
print(f"{'volume':<40} {'opens':>5} {'median ms':>9} {'min ms':>7} {'max ms':>7}  {'key-slot iter':>21}  {'MK digest iter':>15}  {'PBKDF2 alone ms (nettle)':>24}")
print(f"{'-'*40} {'-'*5} {'-'*9} {'-'*7} {'-'*7}  {'-'*21}  {'-'*15}  {'-'*24}")
for k in ("default", "fast", "cinder", "raw"):
    v = sorted(int(o[1]) / 1000 for o in opens if o[0] == k)
    if not v:
        continue
    med[k] = statistics.median(v)
    p = pb.get(k, "-")
    p = f"{float(p):.0f}" if p not in ("-", None) else "-"
    print(f"{label[k]:<40} {len(v):>5} {med[k]:>9.0f} {v[0]:>7.0f} {v[-1]:>7.0f}  {iters(k, 3):>21}  {iters(k, 4):>15}  {p:>24}")
print()
if "default" in med and "fast" in med:
    print(f"saving per attach, iter_time_ms = 2000 -> the default (kdf = fast): {med['default'] - med['fast']:.0f} ms "
          f"({med['default'] / med['fast']:.1f}x faster open)")
if "cinder" in med and "fast" in med:
    print(f"saving per attach, Cinder's volume -> the default: {med['cinder'] - med['fast']:.0f} ms "
          f"({med['cinder'] / med['fast']:.1f}x)")
if "raw" in med and "fast" in med:
    print(f"LUKS at the minimum over no LUKS: {med['fast'] - med['raw']:+.0f} ms")
print()
print(f"{vols} volumes of each kind, each opened {runs} times, kinds interleaved; median, min, max over all opens.")
PY
echo "Time: bash \$EPOCHREALTIME around each qemu-io process (start, connect, unlock, 4 KiB read, exit)."
echo "PBKDF2 alone: bench/format_floor.c pbkdf with nettle at that volume's counts (key slot, 64-byte"
echo "output, and master-key digest, 20 bytes), what qemu's LUKS driver computes to unlock slot 0."
