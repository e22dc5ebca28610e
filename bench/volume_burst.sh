#!/usr/bin/env bash
# Volumes per second when many volume.create.end events arrive at once: the
# agent's worker pool against one worker, and against the ideal (CPUs x one
# PBKDF2 per volume); the agent's memory during the burst and its binary size.
# On a private one-node Ceph cluster (tests/lib/ceph-cluster.sh). Run on
# demand (make bench), not by make check. Needs root.
#
#   bench/volume_burst.sh [AGENT]          AGENT defaults to build/rbd-luks-agent
#
# Two PBKDF2 counts, each with `[agent] workers = 0` (one per CPU) and
# `workers = 1`, a fresh agent (`run`) for each of the four:
#   production  the count the agent calibrates for `iter_time_ms = 2000` (its
#               own start-up log line, read once; then fixed with `iterations`
#               so that both pool sizes do the same work): BENCH_BURST_SLOW
#               (20) volumes; every volume costs about 2 s of one CPU.
#   minimum     `iterations = 1000`, the least PBKDF2 allows: BENCH_BURST (200)
#               volumes; what is left is the agent's own work and Ceph's.
# Each agent formats one volume first (its Ceph client connected: warm), then
# the burst's images are made (1 GiB, one client, not timed) and all events
# are appended in one write; the clock runs from that write until the last
# result line is in results.jsonl (bench/agent_events.py). Every result must
# be "formatted". ideal = CPUs / (CPU time of the key slot's PBKDF2 + the
# master-key digest, as the agent computes them: agent/luks/keyslot.c, timed by
# bench/format_floor.c pbkdf).
# Memory: /proc/PID/status of the agent, VmRSS with its RssAnon/RssFile split:
# after start (no Ceph client yet), after the warm-up volume, the highest seen
# every 20 ms during the burst; and VmHWM at the end. Binary: stat
# size and `size` (text, data, bss) of AGENT and, if there, of static/ next to
# it. Images are removed after each burst; everything started is stopped by PID.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=bench/lib.sh
. "$here/lib.sh"
SRC=$(realpath -- "${1:-$bench_root/build/rbd-luks-agent}")
BURST=${BENCH_BURST:-200}
BURST_SLOW=${BENCH_BURST_SLOW:-20}
for n in "$BURST" "$BURST_SLOW"; do
    [[ $n =~ ^[0-9]+$ ]] && ((n >= 1 && n <= 5000)) || die "BENCH_BURST and BENCH_BURST_SLOW must be 1..5000"
done
for c in python3 rbd cc size ceph-mon ceph-osd; do
    command -v "$c" >/dev/null || die "$c is needed"
done
bench_init "$SRC"
load_start=$(loadavg)
started=$(date -u '+%Y-%m-%d %H:%M UTC')
build_format_floor "$T/format_floor"
bench_cluster_start
uuid() { cat /proc/sys/kernel/random/uuid; }
events() { python3 "$here/agent_events.py" "$@"; }

# The count the agent itself calibrates for 2000 ms (kdf = standard: with
# no count or time set, provider = metadata would mean kdf = fast).
agent_ini "$T/cal" "luks.iter_time_ms = 2000"
agent_start "$T/cal"
N_PROD=$(sed -n 's/.*PBKDF2-[a-z0-9]* with \([0-9]*\) iterations (calibrated now).*/\1/p' "$T/cal/agent.log" | head -n1)
agent_stop
[[ $N_PROD =~ ^[0-9]+$ ]] || die "no calibrated count in the agent's log"
say "the agent calibrates $N_PROD iterations for iter_time_ms = 2000"

O=$T/bursts.tsv # label workers_cfg workers n seconds per_s first_ms agent_ms_median iter pbkdf_ms rss0 rss1 peak_rss peak_anon peak_file hwm
: >"$O"
run_burst() { # LABEL ITERATIONS WORKERS N
    local label=$1 it=$2 w=$3 n=$4 dir=$T/$1-w$3 warm ids=() i out nw rss0 rss1 pb
    agent_ini "$dir" "luks.iterations = $it" "agent.workers = $w"
    agent_start "$dir"
    nw=$(sed -n 's/.*volume role following: .*, \([0-9]*\) workers.*/\1/p' "$dir/agent.log" | head -n1)
    rss0=$(rss_kb VmRSS)/$(rss_kb RssAnon)/$(rss_kb RssFile)
    warm=$(uuid)
    "$T/format_floor" images create "$CONF" cinder volumes $((1 << 30)) "volume-$warm"
    out=$(events one "$dir/events.jsonl" "$dir/state" "$warm" 1)
    [[ $out == *'"outcome": "formatted"'* ]] || die "$label: warm-up: $out"
    rss1=$(rss_kb VmRSS)/$(rss_kb RssAnon)/$(rss_kb RssFile)
    for ((i = 0; i < n; i++)); do ids+=("$(uuid)"); done
    "$T/format_floor" images create "$CONF" cinder volumes $((1 << 30)) "${ids[@]/#/volume-}"
    say "$label, workers = $w ($nw threads): $n events in one write (load $(loadavg))"
    out=$(AGENT_PID=$agent_pid events burst "$dir/events.jsonl" "$dir/state" 1 "${ids[@]}")
    kill -0 "$agent_pid" 2>/dev/null || die "$label: the agent died"
    agent_stop
    "$T/format_floor" images remove "$CONF" cinder volumes 0 "volume-$warm" "${ids[@]/#/volume-}"
    pb=$("$T/format_floor" pbkdf "$it" | awk '/^cpu:pbkdf2_agent|^cpu:pbkdf2_mk_digest_agent/ { s += $2 } END { print s }')
    python3 - "$label" "$w" "$nw" "$it" "$pb" "$rss0" "$rss1" "$out" >>"$O" <<'PY'
import json, sys
label, w, nw, it, pb, rss0, rss1, out = sys.argv[1:]
o = json.loads(out)
if o["outcomes"] != {"formatted": o["n"]}:
    sys.exit(f"{label}: outcomes {o['outcomes']}")
p = o["peak"]
print(label, w, nw, o["n"], f"{o['seconds']:.3f}", f"{o['per_s']:.3f}", f"{o['first_ms']:.0f}",
      o["agent_ms_median"], it, pb, rss0, rss1, p.get("VmRSS", 0), p.get("RssAnon", 0),
      p.get("RssFile", 0), o["end"].get("VmHWM", 0), p.get("Threads", 0),
      f"{o['cpu_ms_per_volume']:.0f}")
PY
}

run_burst production "$N_PROD" 0 "$BURST_SLOW"
run_burst production "$N_PROD" 1 "$BURST_SLOW"
run_burst minimum 1000 0 "$BURST"
run_burst minimum 1000 1 "$BURST"

bin_line() { # FILE LABEL
    local f=$1 sz libs stripped
    sz=$(size "$f" | awk 'NR == 2 { printf "text %d, data %d, bss %d", $1, $2, $3 }')
    libs=$(ldd "$f" 2>/dev/null | grep -c '=> /' || true)
    strip -o "$T/stripped" "$f" 2>/dev/null && stripped=$(stat -c %s "$T/stripped") || stripped='?'
    printf '%s: %s bytes on disk, %s stripped; %s; %s shared libraries (ldd)\n' "$2" \
        "$(stat -c %s "$f")" "$stripped" "$sz" "$libs"
}

echo "rbd-luks-agent volume role: a burst of volume.create.end events ($started)"
echo "$("$AGENT" --version 2>&1 | head -n1), ceph $(ceph --version | awk '{print $3}'), $(nproc) CPUs," \
    "load average at start $load_start, at end $(loadavg); one-node Ceph (memstore);" \
    "[keys] provider = metadata; 1 GiB volumes"
echo
python3 - "$O" "$(nproc)" <<'PY'
import sys
rows = [l.split() for l in open(sys.argv[1]) if l.strip()]
cpus = int(sys.argv[2])
print(f"{'PBKDF2 iterations':<24} {'workers':>9} {'volumes':>7} {'seconds':>8} {'volumes/s':>9} {'first ms':>8} "
      f"{'agent ms/vol':>12} {'CPU ms/vol':>10} {'ideal/s':>8} {'of ideal':>8}")
print(f"{'-'*24} {'-'*9} {'-'*7} {'-'*8} {'-'*9} {'-'*8} {'-'*12} {'-'*10} {'-'*8} {'-'*8}")
by = {}
for r in rows:
    label, w, nw, n, secs, per_s, first, ams, it, pb = r[:10]
    ideal = cpus / (float(pb) / 1000)
    by[(label, w)] = float(per_s)
    wl = f"{w} ({nw})" if w == "0" else w
    print(f"{label + ' ' + format(int(it), ','):<24} {wl:>9} {n:>7} {float(secs):>8.2f} {float(per_s):>9.2f} "
          f"{first:>8} {ams:>12} {r[17]:>10} {ideal:>8.1f} {float(per_s) / ideal:>7.0%}")
print()
for label in ("production", "minimum"):
    if (label, "0") in by and (label, "1") in by:
        print(f"{label}: pool / one worker, volumes per second  {by[(label, '0')] / by[(label, '1')]:.2f}x")
print()
def mib(kb):
    return f"{int(kb) / 1024:.1f}"
def split(v):  # "VmRSS/RssAnon/RssFile" in kB
    t, a, f = v.split("/")
    return f"{mib(t)} = {mib(a)} + {mib(f)}"
print("Memory (/proc/PID/status, MiB; VmRSS = RssAnon + RssFile): idle = after start, before any")
print("Ceph client; warm = after one volume; peak = the highest VmRSS sampled during the burst")
print(f"{'run':<11} {'workers':>7} {'idle':>20} {'warm':>20} {'burst peak':>20} {'VmHWM':>6} {'threads':>7}")
for r in rows:
    label, w, nw = r[0], r[1], r[2]
    rss0, rss1, peak, anon, file_, hwm, thr = r[10:17]
    print(f"{label:<11} {nw:>7} {split(rss0):>20} {split(rss1):>20} {split(peak + '/' + anon + '/' + file_):>20} {mib(hwm):>6} {thr:>7}")
PY
echo
echo "Binary"
rel() { realpath --relative-to="$bench_root" -- "$1"; } # no machine paths in the report
bin_line "$SRC" "$(rel "$SRC")"
static=$(dirname "$SRC")/static/rbd-luks-agent
if [[ -x $static ]]; then bin_line "$static" "$(rel "$static")"; else echo "$(rel "$static"): not built"; fi
echo
echo "volumes/s: N / (last result line - the events' write); first ms: to the first result line;"
echo "agent ms/vol: median of results.jsonl's ms (one volume's format inside a worker);"
echo "CPU ms/vol: the agent's utime + stime (/proc/PID/stat, all threads) over the burst / N;"
echo "workers 0 = one per CPU (threads started in brackets); ideal = CPUs / PBKDF2 CPU seconds per volume."
