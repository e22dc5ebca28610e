#!/usr/bin/env bash
# How fast the volume role reads past notifications it has nothing to do with
# (an agent on a shared topic sees mostly those, and a restart after a long
# stop finds a backlog of them). Run on demand (make bench), not by make
# check. Root is checked as for the others (bench/lib.sh), though nothing here
# needs it; no Ceph: nothing in the file reaches a worker.
#
#   bench/ignored_events.sh [AGENT]        AGENT defaults to build/rbd-luks-agent
#
# BENCH_LINES (1000000) lines are written to the hook file before the agent
# starts (bench/agent_events.py ignored: oslo.messaging v2 envelopes of
# compute.instance.update as in tests/unit/stream/test_event.c's event_speed,
# volume.attach.end, volume.exists, port.update.end, image.send and
# snapshot.create.end; 0.9 to 1.9 KB, 1.36 KB on average; 20000 different
# lines repeated in order). The file is then in the page cache (it was just
# written; one untimed `cat > /dev/null` makes sure).
# Clock: from just before `taskset -c CPU AGENT -c INI run` is started until
# state_dir/checkpoint says offset = the file's size (polled every 2 ms; the
# agent saves it at least once a second and when it reaches the end of the
# file); start-up (config, KEK, no PBKDF2 calibration: iterations fixed) is
# included and also shown alone. One core: BENCH_CPU (0). BENCH_REPEAT (3)
# runs, each with a fresh state dir; the median is reported.
# Baselines, same file, same core, after the agent runs:
#   wc -l            the floor of reading the lines at all
#   python3 json     json.loads of each line, of its oslo.message, and a look
#                    at event_type (bench/agent_events.py json-loop)
# Target: at least 100,000 events per second for the agent.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=bench/lib.sh
. "$here/lib.sh"
SRC=$(realpath -- "${1:-$bench_root/build/rbd-luks-agent}")
LINES=${BENCH_LINES:-1000000}
REPEAT=${BENCH_REPEAT:-3}
CPU=${BENCH_CPU:-0}
[[ $LINES =~ ^[0-9]+$ ]] && ((LINES >= 1000 && LINES <= 10000000)) || die "BENCH_LINES must be 1000..10000000"
[[ $REPEAT =~ ^[0-9]+$ ]] && ((REPEAT >= 1 && REPEAT <= 20)) || die "BENCH_REPEAT must be 1..20"
for c in python3 taskset wc; do
    command -v "$c" >/dev/null || die "$c is needed"
done
bench_init "$SRC"
load_start=$(loadavg)
started=$(date -u '+%Y-%m-%d %H:%M UTC')

HOOK=$T/events.jsonl
say "writing $LINES ignored events to the hook file"
gen=$(python3 "$here/agent_events.py" ignored "$HOOK" "$LINES")
cat "$HOOK" >/dev/null
bytes=$(stat -c %s "$HOOK")

: >"$T/ceph.conf" # [ceph] is required; no event here reaches Ceph
CONF=$T/ceph.conf      # what agent_ini (bench/lib.sh) writes into [ceph]

: >"$T/runs.jsonl"
for ((i = 1; i <= REPEAT; i++)); do
    agent_ini "$T/run$i" "agent.hook_file = $HOOK" "luks.iterations = 1000"
    say "run $i of $REPEAT: the agent on CPU $CPU (load $(loadavg))"
    python3 "$here/agent_events.py" drain "$CPU" "$HOOK" "$T/run$i/state" "$T/run$i/agent.log" \
        "$AGENT" -c "$T/run$i/agent.ini" run >>"$T/runs.jsonl" ||
        { tail -n 5 "$T/run$i/agent.log" >&2; die "run $i failed"; }
    grep -q "done: 0 formatted, 0 resized, 0 skipped, 0 refused, 0 failed, 0 index entries removed, 0 lines rejected, $LINES lines ignored" \
        "$T/run$i/agent.log" || { tail -n 3 "$T/run$i/agent.log" >&2; die "run $i: not $LINES lines ignored"; }
    [[ ! -s $T/run$i/state/results.jsonl ]] || die "run $i wrote results"
done

say "baselines on CPU $CPU"
t0=$EPOCHREALTIME
wc_lines=$(taskset -c "$CPU" wc -l <"$HOOK")
t1=$EPOCHREALTIME
[[ $wc_lines == "$LINES" ]] || die "wc -l counted $wc_lines"
wc_s=$(python3 -c "print(${t1/,/.} - ${t0/,/.})")
py=$(taskset -c "$CPU" python3 "$here/agent_events.py" json-loop "$HOOK")

echo "rbd-luks-agent volume role: reading past events it ignores ($started)"
echo "$("$AGENT" --version 2>&1 | head -n1), $(python3 --version), $(nproc) CPUs, load average at start" \
    "$load_start, at end $(loadavg); hook file on $(df --output=fstype "$T" | tail -n1), in the page cache"
echo
python3 - "$T/runs.jsonl" "$LINES" "$bytes" "$wc_s" "$py" "$gen" "$CPU" <<'PY'
import json, statistics, sys
runs = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
n, size, wc_s, py, gen, cpu = int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4]), json.loads(sys.argv[5]), json.loads(sys.argv[6]), sys.argv[7]
secs = sorted(r["seconds"] for r in runs)
med = statistics.median(secs)
st = statistics.median(r["startup"] for r in runs)
cpu_u = statistics.median(r["cpu"].get("user", 0) for r in runs)
cpu_s = statistics.median(r["cpu"].get("system", 0) for r in runs)
hwm = statistics.median(r["VmHWM"] for r in runs) / 1024
rate = n / med
print(f"{n:,} lines, {size / 2**20:,.0f} MiB ({size / n:,.0f} bytes per line on average, "
      f"{gen['distinct']:,} different lines repeated), all pinned to CPU {cpu}")
print()
print(f"{'contender':<44} {'seconds':>8} {'events/s':>10} {'MiB/s':>7}  note")
print(f"{'-'*44} {'-'*8} {'-'*10} {'-'*7}  {'-'*40}")
print(f"{'agent run: start -> checkpoint at the end':<44} {med:>8.2f} {rate:>10,.0f} {size / 2**20 / med:>7,.0f}  "
      f"median of {len(runs)} ({', '.join(f'{s:.2f}' for s in secs)} s); start-up {st * 1000:.0f} ms; "
      f"CPU user {cpu_u:.2f} s + system {cpu_s:.2f} s; VmHWM {hwm:.1f} MiB")
print(f"{'baseline: wc -l':<44} {wc_s:>8.2f} {n / wc_s:>10,.0f} {size / 2**20 / wc_s:>7,.0f}  reads the bytes, counts newlines")
print(f"{'baseline: python3 json.loads x2 + event_type':<44} {py['seconds']:>8.2f} {n / py['seconds']:>10,.0f} "
      f"{size / 2**20 / py['seconds']:>7,.0f}  envelope, then oslo.message")
print()
print(f"agent / python3 json, events/s   {py['seconds'] / med:.1f}x")
print(f"agent / wc -l, events/s          {wc_s / med:.2f}x")
print(f"{'PASS' if rate >= 100000 else 'MISS'}  at least 100,000 events/s on one core: {rate:,.0f}/s")
PY
echo
echo "Clock: python3 perf_counter from just before the agent's exec (taskset) until the checkpoint"
echo "file says offset = file size; start-up: until the log says 'volume role following'."
echo "CPU: utime/stime of the agent from /proc/PID/stat when the checkpoint was seen."
echo "wc -l: bash \$EPOCHREALTIME around it; python3: perf_counter around the loop only."
