#!/usr/bin/env bash
# Benchmark of the compute role: from an attach event in the hook file to the
# libvirt secret Nova looks up, against a private libvirtd; baseline: a script
# running one virsh process per call. Run on demand (make bench), not by
# make check. Needs root (the private libvirtd runs in a mount namespace,
# see tests/lib/libvirt.sh); no Ceph: [keys] provider = file.
#
#   bench/compute_attach.sh [AGENT]        AGENT defaults to build/rbd-luks-agent
#
# Phases, one agent (`run`) and one libvirtd for all of them:
#   1. latency: BENCH_EVENTS (1000) attach events appended one at a time, the
#      next only once the previous one's result line is in results.jsonl and
#      the agent has saved its checkpoint past it (so each event meets an idle
#      agent, as a real attach does); after BENCH_WARMUP (10) unmeasured ones.
#   2. throughput: BENCH_BURST (1000) attach events (new volumes) appended in
#      one write; time until the last result line.
#   3. baseline: BENCH_VIRSH (200) volume secrets defined the way a script
#      does it, `virsh secret-define FILE` + `virsh secret-set-value UUID
#      --file F --plain` (2 processes per secret); XML and passphrase files
#      are written beforehand, untimed.
# Between phases every volume secret is undefined (one virsh reading commands
# from stdin; not timed). Each phase checks its own work: every result is
# "provisioned", libvirt holds exactly that many volume secrets, and each
# secret's stored value is the hex of its key file.
#
# Timing is done by one Python 3 process per agent phase: time.perf_counter()
# just before os.write() of the event line(s) to the hook file, and again when
# the matching result line (by message_id) has been read from results.jsonl,
# woken by inotify on the state directory (0.5 ms size polling if inotify is
# unavailable). The line is seen as soon as the agent's write() returns, before
# its fdatasync(). Everything this script starts (libvirtd, virtlogd, the
# namespace holder, the agent) is stopped by PID on exit; temp files go.
# The temp dir is kept after a failure, or always with BENCH_KEEP=1.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
. "$root/bench/lib.sh" # bench_stop_pid
AGENT=$(realpath -- "${1:-$root/build/rbd-luks-agent}")
EVENTS=${BENCH_EVENTS:-1000}
WARMUP=${BENCH_WARMUP:-10}
BURST=${BENCH_BURST:-1000}
VIRSH_N=${BENCH_VIRSH:-200}
HOST=bench-cmp-1

say() { echo "bench: $*" >&2; }
die() { say "$*"; exit 1; }

for n in "$EVENTS" "$BURST" "$VIRSH_N" "$WARMUP"; do
    if ! [[ $n =~ ^[0-9]+$ ]] || ((n > 100000)); then die "counts must be 0..100000"; fi
done
((EVENTS > 0 && BURST > 0 && VIRSH_N > 0)) || die "EVENTS, BURST and VIRSH must be > 0"
[[ -x $AGENT ]] || die "$AGENT is not an executable (run make first)"
((EUID == 0)) || die "needs root (a private libvirtd in a mount namespace)"
for c in python3 virsh libvirtd virtlogd unshare nsenter; do
    command -v "$c" >/dev/null || die "$c is needed"
done

T=$(mktemp -d "${TMPDIR:-/tmp}/rbd-luks-bench.XXXXXX")
LV=$T/lv
agent_pid=
stop_agent() {
    bench_stop_pid "$agent_pid"
    agent_pid=
}
cleanup() {
    local rc=$?
    stop_agent
    "$root/tests/lib/libvirt.sh" stop "$LV" >/dev/null 2>&1 ||
        say "libvirt.sh stop $LV reported a problem"
    if [[ -n ${BENCH_KEEP:-} || ($rc != 0 && $rc != 130) ]]; then
        say "temp dir kept: $T (rm -rf it when done)"
    else
        rm -rf -- "$T"
    fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

load_start=$(cut -d' ' -f1-3 /proc/loadavg)
say "starting a private libvirtd in $LV"
out=$("$root/tests/lib/libvirt.sh" start "$LV" 2>"$T/lv-start.err") ||
    { cat "$T/lv-start.err" >&2; die "private libvirtd did not start"; }
URI=${out#LIBVIRT_URI=}
vsh() { timeout -s KILL 120 virsh -q -c "$URI" "$@"; }

mkdir -p "$T/state" "$T/keys" "$T/virsh"
chmod 700 "$T/keys" "$T/virsh"
: >"$T/events.jsonl"
: >"$T/ceph.conf" # [ceph] is required by the config; unused with provider = file
cat >"$T/agent.ini" <<INI
[agent]
role = compute
hook_file = $T/events.jsonl
state_dir = $T/state
[ceph]
conf = $T/ceph.conf
client = bench
pool = volumes
[compute]
uri = $URI
host = $HOST
[keys]
provider = file
directory = $T/keys
INI
"$AGENT" -c "$T/agent.ini" check-config >&2 || die "the bench config does not pass check-config"

export BENCH_DIR="$here" # measure.py imports agent_events.py from there
cat >"$T/measure.py" <<'PY'
import base64, json, os, statistics, sys, time, uuid

# inotify wake-ups, results.jsonl follower, checkpoint reader: shared with
# the volume-role benchmarks.
sys.path.insert(0, os.environ["BENCH_DIR"])
from agent_events import Results, Watch, checkpoint_offset, write_all  # noqa: E402

def make_key(key_dir, vol):
    key = os.urandom(32)
    fd = os.open(os.path.join(key_dir, vol + ".key"), os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    os.write(fd, key)
    os.close(fd)
    return key

def event_line(vol, host):
    msg = str(uuid.uuid4())
    ev = {"message_id": msg, "event_type": "volume.attach.start", "publisher_id": "volume.cinder-1",
          "priority": "INFO", "timestamp": time.strftime("%Y-%m-%d %H:%M:%S.000000", time.gmtime()),
          "payload": {"volume_id": vol, "volume_type": "t1", "size": 1, "status": "attaching",
                      "volume_attachment": [{"attached_host": host,
                                             "instance_uuid": str(uuid.uuid4())}]}}
    return msg, (json.dumps(ev, separators=(",", ":")) + "\n").encode()

def check_values(results, keys, secrets_dir):
    """Every result provisioned; libvirt's stored value is the key's hex."""
    bad = []
    for r in results:
        vol = r["volume_id"]
        if r.get("outcome") != "provisioned" or not r.get("reason", "").startswith("volume secret "):
            bad.append(f"{vol}: {r.get('outcome')}: {r.get('reason')}")
            continue
        sec = r["reason"].split()[2]
        try:
            with open(os.path.join(secrets_dir, sec + ".base64"), "rb") as f:
                stored = base64.b64decode(f.read())
        except OSError as e:
            bad.append(f"{vol}: secret {sec}: {e}")
            continue
        if stored != keys[vol].hex().encode():
            bad.append(f"{vol}: secret {sec} holds the wrong value")
    return bad

def pct(sorted_ms, q):  # nearest rank
    return sorted_ms[max(0, -(-len(sorted_ms) * q // 100) - 1)]

def phase_latency(a):
    n, warm = int(a["events"]), int(a["warmup"])
    keys, results, lat = {}, [], []
    vols = [str(uuid.uuid4()) for _ in range(warm + n)]
    for v in vols:
        keys[v] = make_key(a["keys"], v)
    watch, res = Watch(a["state"]), Results(os.path.join(a["state"], "results.jsonl"))
    hook = os.open(a["hook"], os.O_WRONLY | os.O_APPEND)
    end = os.fstat(hook).st_size
    for i, v in enumerate(vols):
        msg, line = event_line(v, a["host"])
        deadline = time.perf_counter() + 30
        t0 = time.perf_counter()
        write_all(hook, line)
        got = None
        while got is None:
            for r in res.new():
                if r.get("message_id") == msg:
                    got = r
            if got is None:
                if time.perf_counter() > deadline:
                    sys.exit(f"event {i}: no result within 30 s")
                watch.wait(deadline)
        t1 = time.perf_counter()
        results.append(got)
        if i >= warm:
            lat.append((t1 - t0) * 1000)
        # Idle agent before the next event: its checkpoint is past this line.
        end += len(line)
        while checkpoint_offset(a["state"]) != end:
            if time.perf_counter() > deadline:
                sys.exit(f"event {i}: checkpoint did not reach offset {end} within 30 s")
            watch.wait(deadline)
    bad = check_values(results, keys, a["secrets"])
    s = sorted(lat)
    return {"how": watch.how, "n": n, "warmup": warm, "bad": bad[:5], "n_bad": len(bad),
            "median": statistics.median(s), "p90": pct(s, 90), "p99": pct(s, 99), "max": s[-1],
            "min": s[0], "mean": statistics.fmean(s),
            "agent_ms_median": statistics.median(r.get("ms", 0) for r in results[warm:])}

def phase_burst(a):
    n = int(a["events"])
    keys, lines, want = {}, [], {}
    for _ in range(n):
        v = str(uuid.uuid4())
        keys[v] = make_key(a["keys"], v)
        msg, line = event_line(v, a["host"])
        want[msg] = v
        lines.append(line)
    data = b"".join(lines)
    watch, res = Watch(a["state"]), Results(os.path.join(a["state"], "results.jsonl"))
    hook = os.open(a["hook"], os.O_WRONLY | os.O_APPEND)
    results, first = [], None
    t0 = time.perf_counter()
    deadline = t0 + 600
    write_all(hook, data)
    while len(results) < n:
        for r in res.new():
            if r.get("message_id") in want:
                results.append(r)
                if first is None:
                    first = time.perf_counter()
        if len(results) < n:
            if time.perf_counter() > deadline:
                sys.exit(f"burst: {len(results)} of {n} results within 600 s")
            watch.wait(deadline)
    t1 = time.perf_counter()
    bad = check_values(results, keys, a["secrets"])
    return {"how": watch.how, "n": n, "bytes": len(data), "seconds": t1 - t0,
            "first_ms": (first - t0) * 1000, "per_s": n / (t1 - t0),
            "bad": bad[:5], "n_bad": len(bad)}

def prepare_virsh(a):
    """The files a script would hand to virsh: secret XML and the hex passphrase."""
    n, d = int(a["events"]), a["dir"]
    with open(os.path.join(d, "list"), "w") as lst:
        for i in range(n):
            v = str(uuid.uuid4())
            key = os.urandom(32)
            with open(os.path.join(d, f"{i}.xml"), "w") as f:
                f.write("<secret ephemeral='no' private='yes'><description>bench</description>"
                        f"<usage type='volume'><volume>{v}</volume></usage></secret>\n")
            fd = os.open(os.path.join(d, f"{i}.pass"), os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            os.write(fd, key.hex().encode())
            os.close(fd)
            lst.write(f"{i} {v} {key.hex()}\n")
    return None

def check_virsh(a):
    """Each baseline secret holds its passphrase (libvirt's stored value)."""
    d, bad, uuids = a["dir"], [], {}
    with open(os.path.join(d, "uuids")) as f:
        for l in f:
            i, u = l.split()
            uuids[i] = u
    with open(os.path.join(d, "list")) as f:
        for l in f:
            i, v, hexkey = l.split()
            try:
                with open(os.path.join(a["secrets"], uuids[i] + ".base64"), "rb") as g:
                    if base64.b64decode(g.read()) != hexkey.encode():
                        bad.append(f"{v}: wrong value")
            except (OSError, KeyError) as e:
                bad.append(f"{v}: {e}")
    return {"bad": bad[:5], "n_bad": len(bad)}

def mib(kb):
    return f"{int(kb) / 1024:.1f}"

def report(a):
    L = json.load(open(a["latency"]))
    B = json.load(open(a["burst"]))
    vn, vs = int(a["virsh_n"]), float(a["virsh_s"])
    v_rate = vn / vs
    rows = [
        ("latency: attach event -> result line, ms",
         f"median {L['median']:.2f}  p90 {L['p90']:.2f}  p99 {L['p99']:.2f}  max {L['max']:.2f}"),
        ("  (events one at a time, from an idle agent)",
         f"n={L['n']} after {L['warmup']} warm-up; min {L['min']:.2f}  mean {L['mean']:.2f}"),
        ("throughput: burst of attach events, one write",
         f"{B['per_s']:.0f} defines/s  ({B['n']} in {B['seconds']:.2f} s; first result "
         f"{B['first_ms']:.1f} ms)"),
        ("baseline: virsh secret-define + secret-set-value",
         f"{v_rate:.1f} defines/s  ({vs * 1000 / vn:.1f} ms per secret, 2 processes; n={vn})"),
        ("agent / virsh, defines per second", f"{B['per_s'] / v_rate:.0f}x"),
        ("agent memory after the burst (/proc/PID/status)",
         f"VmRSS {mib(a['rss_kb'])} MiB = RssAnon {mib(a['anon_kb'])} + RssFile "
         f"{mib(a['file_kb'])} (mapped libraries); VmHWM {mib(a['hwm_kb'])}; "
         f"VmRSS idle at start {mib(a['rss0_kb'])}"),
    ]
    w = max(len(r[0]) for r in rows)
    print(f"{'measure':<{w}}  value")
    print(f"{'-' * w}  {'-' * 60}")
    for k, v in rows:
        print(f"{k:<{w}}  {v}")
    print()
    print(f"How: one python3 process per agent phase takes time.perf_counter() just before\n"
          f"os.write() of the event line(s) to the hook file and again when the result line\n"
          f"with the event's message_id has been read from results.jsonl ({L['how']});\n"
          f"the line is visible once the agent's write() returned, before its fdatasync().\n"
          f"Serial events: the next is written once the agent's checkpoint has passed the\n"
          f"previous one (an idle agent). Burst: all lines in one os.write().\n"
          f"Percentiles: nearest rank. virsh: bash $EPOCHREALTIME around the loop of\n"
          f"{2 * vn} virsh processes (qemu+unix socket, same libvirtd).")
    return None

if __name__ == "__main__":
    phase = sys.argv[1]
    args = dict(x.split("=", 1) for x in sys.argv[2:])
    fn = {"latency": phase_latency, "burst": phase_burst, "prepare-virsh": prepare_virsh,
          "check-virsh": check_virsh, "report": report}[phase]
    out = fn(args)
    if out is not None:
        json.dump(out, sys.stdout)
        if out.get("n_bad"):
            print(file=sys.stderr)
            sys.exit(f"{phase}: {out['n_bad']} wrong: " + "; ".join(out["bad"]))
PY

# Volume secrets in libvirt: count, and undefine all (one virsh process).
volume_secrets() { vsh secret-list | awk '$2 == "volume" { print $1 }'; }
count_volume_secrets() { volume_secrets | wc -l; }
undefine_volume_secrets() {
    volume_secrets | sed 's/^/secret-undefine /' |
        timeout -s KILL 600 virsh -q -c "$URI" >/dev/null
    [[ $(count_volume_secrets) == 0 ]] || die "volume secrets left after cleanup"
}
expect_secrets() { # N WHAT
    local n
    n=$(count_volume_secrets)
    [[ $n == "$1" ]] || die "$2: libvirt holds $n volume secrets, expected $1"
}
rss_kb() { awk -v k="$1:" '$1 == k { print $2 }' "/proc/$agent_pid/status"; }

say "starting the agent ($AGENT)"
"$AGENT" -c "$T/agent.ini" run 2>>"$T/agent.log" &
agent_pid=$!
for ((i = 0; i < 100; i++)); do
    grep -q 'connected to libvirt at' "$T/agent.log" && break
    kill -0 "$agent_pid" 2>/dev/null || { cat "$T/agent.log" >&2; die "the agent exited"; }
    sleep 0.1
done
((i < 100)) || { cat "$T/agent.log" >&2; die "the agent did not connect to libvirt within 10 s"; }
rss0=$(rss_kb VmRSS)

common=(hook="$T/events.jsonl" state="$T/state" keys="$T/keys" host="$HOST"
    secrets="$LV/etc/secrets")

say "phase 1: latency, $WARMUP + $EVENTS attach events one at a time"
python3 "$T/measure.py" latency "${common[@]}" events="$EVENTS" warmup="$WARMUP" \
    >"$T/latency.json"
expect_secrets $((WARMUP + EVENTS)) "after the latency phase"
undefine_volume_secrets

say "phase 2: throughput, a burst of $BURST attach events"
python3 "$T/measure.py" burst "${common[@]}" events="$BURST" >"$T/burst.json"
rss=$(rss_kb VmRSS)
hwm=$(rss_kb VmHWM)
anon=$(rss_kb RssAnon)
file=$(rss_kb RssFile)
expect_secrets "$BURST" "after the burst"
undefine_volume_secrets
kill -0 "$agent_pid" 2>/dev/null || die "the agent died"
grep -q '"outcome":"failed"' "$T/state/results.jsonl" && die "the agent recorded failures"
stop_agent

say "phase 3: baseline, $VIRSH_N secrets with virsh (2 processes each)"
python3 "$T/measure.py" prepare-virsh dir="$T/virsh" events="$VIRSH_N"
: >"$T/virsh/uuids"
t0=$EPOCHREALTIME
for ((i = 0; i < VIRSH_N; i++)); do
    # "Secret 0b5...-... created"; parsed without another process
    out=$(timeout -s KILL 60 virsh -c "$URI" secret-define "$T/virsh/$i.xml")
    [[ $out =~ Secret\ ([0-9a-f-]{36})\ created ]] || die "virsh secret-define: $out"
    uuid=${BASH_REMATCH[1]}
    timeout -s KILL 60 virsh -c "$URI" secret-set-value "$uuid" --file "$T/virsh/$i.pass" \
        --plain >/dev/null
    echo "$i $uuid" >>"$T/virsh/uuids"
done
t1=$EPOCHREALTIME
virsh_s=$(python3 -c "print(${t1/,/.} - ${t0/,/.})")
expect_secrets "$VIRSH_N" "after the virsh baseline"
python3 "$T/measure.py" check-virsh dir="$T/virsh" secrets="$LV/etc/secrets" >/dev/null
undefine_volume_secrets

echo "rbd-luks-agent compute role: attach event -> libvirt secret ($(date -u '+%Y-%m-%d %H:%M UTC'))"
echo "$("$AGENT" --version 2>&1 | head -n1), libvirt $(libvirtd --version | awk '{print $NF}')," \
    "$(nproc) CPUs, load average at start $load_start, at end $(cut -d' ' -f1-3 /proc/loadavg);" \
    "private libvirtd, keys provider = file," \
    "temp dir on $(df --output=fstype "$T" | tail -n1)"
echo
python3 "$T/measure.py" report latency="$T/latency.json" burst="$T/burst.json" \
    virsh_n="$VIRSH_N" virsh_s="$virsh_s" rss_kb="$rss" hwm_kb="$hwm" rss0_kb="$rss0" \
    anon_kb="$anon" file_kb="$file"
