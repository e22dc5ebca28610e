#!/usr/bin/env python3
"""Events in, results out: the clock the volume-role benchmarks share.

  agent_events.py one HOOK STATE VOLUME_ID SIZE_GIB
      appends one volume.create.end (oslo v2 envelope) to HOOK and waits for
      its result line in STATE/results.jsonl; then for the checkpoint to pass
      it (an idle agent for the next one). Prints JSON: ms (perf_counter just
      before os.write() of the line -> the result line read), the agent's own
      "ms", outcome, reason, and cpu_ms: the CPU time AGENT_PID (env) used
      from the write until the checkpoint passed (/proc/PID/stat). Gives up
      after BENCH_EVENT_TIMEOUT_S (env, default 300) seconds.
  agent_events.py burst HOOK STATE SIZE_GIB ID...
      appends one event per ID in a single os.write(); waits for every result.
      While waiting, samples /proc/PID/status of AGENT_PID (env) every 20 ms.
      Prints JSON: seconds, first_ms, per_s, outcomes, peak VmRSS with its
      RssAnon/RssFile split, VmHWM, the agent's CPU time per volume.
  agent_events.py ignored OUT N
      writes N lines of notifications the volume role ignores (oslo v2
      envelopes of Nova, Neutron, Glance and non-create Cinder events,
      0.9 to 1.9 KB, 1.36 KB on average): 20000 different ones, repeated
      in order up to N. Prints JSON: lines, bytes, distinct.
  agent_events.py drain CPU HOOK STATE LOG AGENT -c INI run
      starts the agent command pinned to CPU (taskset) and times it until
      STATE/checkpoint names the end of HOOK (its size); then SIGTERM, by PID.
      Prints JSON: seconds, startup (until "volume role following" is in
      LOG), CPU seconds of the agent (user, system), VmHWM.
  agent_events.py json-loop FILE
      the baseline parser: json.loads of each line, then of its oslo.message,
      then event_type compared. Prints JSON: lines, seconds, create events.

A result line is seen once the agent's write() returned (before its
fdatasync); inotify on the state directory wakes the reader.
"""
import ctypes
import json
import os
import random
import select
import sys
import time
import uuid

IN_MODIFY, IN_MOVED_TO, IN_CLOSE_WRITE = 0x2, 0x80, 0x8


class Watch:
    def __init__(self, state_dir):
        self.fd = -1
        try:
            libc = ctypes.CDLL(None, use_errno=True)
            fd = libc.inotify_init1(os.O_NONBLOCK | os.O_CLOEXEC)
            if fd >= 0 and libc.inotify_add_watch(
                    fd, state_dir.encode(), IN_MODIFY | IN_MOVED_TO | IN_CLOSE_WRITE) >= 0:
                self.fd = fd
                self.poller = select.poll()
                self.poller.register(fd, select.POLLIN)
        except (OSError, AttributeError):
            self.fd = -1
        self.how = ("inotify on the state dir" if self.fd >= 0
                    else "re-reading results.jsonl every 0.5 ms")

    def wait(self, deadline, cap=0.05):
        left = deadline - time.perf_counter()
        if left <= 0:
            return
        if self.fd >= 0:
            if self.poller.poll(min(left, cap) * 1000):
                try:
                    while os.read(self.fd, 65536):
                        pass
                except BlockingIOError:
                    pass
        else:
            time.sleep(min(left, 0.0005))


class Results:
    def __init__(self, path):
        if not os.path.exists(path):
            open(path, "ab").close()
        self.f = open(path, "rb")
        self.f.seek(0, os.SEEK_END)
        self.buf = b""

    def new(self):
        data = self.f.read()
        if not data:
            return []
        self.buf += data
        *lines, self.buf = self.buf.split(b"\n")
        return [json.loads(l) for l in lines if l.strip()]


def checkpoint_offset(state_dir):
    try:
        with open(os.path.join(state_dir, "checkpoint")) as f:
            for w in f.read().split():
                if w.startswith("offset="):
                    return int(w[7:])
    except (OSError, ValueError):
        pass
    return -1


def envelope(inner):
    return json.dumps({"oslo.version": "2.0",
                       "oslo.message": json.dumps(inner, separators=(", ", ": "))},
                      separators=(", ", ": "))


def create_event(vol, gib):
    msg = str(uuid.uuid4())
    inner = {"message_id": msg, "publisher_id": "volume.cinder-1@rbd",
             "event_type": "volume.create.end", "priority": "INFO",
             "payload": {"tenant_id": uuid.uuid4().hex, "user_id": uuid.uuid4().hex,
                         "host": "cinder-1@rbd#rbd", "availability_zone": "nova",
                         "volume_id": vol, "volume_type": "luks-type",
                         "display_name": "bench", "size": gib, "status": "available",
                         "snapshot_id": None, "metadata": {}, "volume_attachment": []},
             "timestamp": time.strftime("%Y-%m-%d %H:%M:%S.000000", time.gmtime()),
             "_context_request_id": "req-" + str(uuid.uuid4()), "_unique_id": uuid.uuid4().hex}
    return msg, (envelope(inner) + "\n").encode()


def write_all(fd, data):
    while data:
        data = data[os.write(fd, data):]


def one(hook, state, vol, gib):
    msg, line = create_event(vol, int(gib))
    watch, res = Watch(state), Results(os.path.join(state, "results.jsonl"))
    fd = os.open(hook, os.O_WRONLY | os.O_APPEND)
    end = os.fstat(fd).st_size + len(line)
    pid = int(os.environ.get("AGENT_PID", "0"))
    cpu0 = cpu_ms(pid)
    limit = int(os.environ.get("BENCH_EVENT_TIMEOUT_S", "300"))
    deadline = time.perf_counter() + limit
    t0 = time.perf_counter()
    write_all(fd, line)
    got = None
    while got is None:
        for r in res.new():
            if r.get("message_id") == msg:
                got = r
        if got is None:
            if time.perf_counter() > deadline:
                sys.exit(f"volume {vol}: no result within {limit} s")
            watch.wait(deadline)
    t1 = time.perf_counter()
    while checkpoint_offset(state) < end:
        if time.perf_counter() > deadline:
            sys.exit(f"volume {vol}: checkpoint did not pass offset {end}")
        watch.wait(deadline)
    return {"ms": (t1 - t0) * 1000, "agent_ms": got.get("ms"), "outcome": got.get("outcome"),
            "reason": got.get("reason"),
            "cpu_ms": (cpu_ms(pid) - cpu0) if pid else None}


def cpu_ms(pid):
    """utime + stime of PID (all its threads), in ms; clock-tick resolution."""
    if not pid:
        return 0
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) * 1000 / os.sysconf("SC_CLK_TCK")


def status_kb(pid):
    out = {}
    try:
        with open(f"/proc/{pid}/status") as f:
            for l in f:
                k, _, v = l.partition(":")
                if k in ("VmRSS", "VmHWM", "RssAnon", "RssFile", "RssShmem", "Threads"):
                    out[k] = int(v.split()[0])
    except OSError:
        pass
    return out


def burst(hook, state, gib, ids):
    pid = int(os.environ.get("AGENT_PID", "0"))
    want, lines = {}, []
    for v in ids:
        msg, line = create_event(v, int(gib))
        want[msg] = v
        lines.append(line)
    data = b"".join(lines)
    watch, res = Watch(state), Results(os.path.join(state, "results.jsonl"))
    fd = os.open(hook, os.O_WRONLY | os.O_APPEND)
    got, first, peak = [], None, {}
    cpu0 = cpu_ms(pid)
    t0 = time.perf_counter()
    deadline = t0 + float(os.environ.get("BURST_TIMEOUT_S", "1800"))
    write_all(fd, data)
    next_sample = 0.0
    while len(got) < len(ids):
        for r in res.new():
            if r.get("message_id") in want:
                got.append(r)
                if first is None:
                    first = time.perf_counter()
        now = time.perf_counter()
        if pid and now >= next_sample:
            s = status_kb(pid)
            if s.get("VmRSS", 0) > peak.get("VmRSS", 0):
                peak = s
            next_sample = now + 0.02
        if len(got) < len(ids):
            if now > deadline:
                sys.exit(f"burst: {len(got)} of {len(ids)} results before the timeout")
            watch.wait(deadline, cap=0.02)
    t1 = time.perf_counter()
    cpu1 = cpu_ms(pid)
    outcomes = {}
    for r in got:
        outcomes[r.get("outcome")] = outcomes.get(r.get("outcome"), 0) + 1
    agent_ms = sorted(r.get("ms", 0) for r in got)
    return {"n": len(ids), "seconds": t1 - t0, "first_ms": (first - t0) * 1000,
            "per_s": len(ids) / (t1 - t0), "outcomes": outcomes, "peak": peak,
            "end": status_kb(pid) if pid else {},
            "agent_ms_median": agent_ms[len(agent_ms) // 2],
            "cpu_ms_per_volume": (cpu1 - cpu0) / len(ids) if pid else None}


# ---- ignored events -------------------------------------------------------

def _u():
    return str(uuid.uuid4())


def _ts():
    return "2026-11-25 21:%02d:%02d.%06d" % (random.randrange(60), random.randrange(60),
                                             random.randrange(1000000))


def _ctx(inner):
    inner.update({"timestamp": _ts(), "_context_request_id": "req-" + _u(),
                  "_context_user_id": uuid.uuid4().hex, "_context_project_id": uuid.uuid4().hex,
                  "_context_roles": ["member", "reader"], "_context_is_admin": False,
                  "_unique_id": uuid.uuid4().hex})
    return inner


def ignored_event(i):
    k = i % 6
    if k == 0:  # the unit test's typical_ignored (tests/unit/stream/test_event.c)
        host = f"compute-{i % 40}"
        p = {"tenant_id": uuid.uuid4().hex, "user_id": uuid.uuid4().hex, "instance_id": _u(),
             "instance_type": "m1.small", "instance_type_id": 5, "display_name": f"web-{i}",
             "host": host, "node": host, "memory_mb": 2048, "disk_gb": 20, "root_gb": 20,
             "ephemeral_gb": 0, "vcpus": 1, "state": "active", "old_state": "building",
             "state_description": "", "progress": "", "launched_at": "2024-05-02T10:11:12.000000",
             "created_at": "2024-05-02 10:10:58",
             "image_ref_url": "http://glance:9292/images/" + _u(), "architecture": "x86_64",
             "os_type": None, "kernel_id": "", "ramdisk_id": "", "availability_zone": "nova",
             "cell_name": "", "metadata": {}, "image_meta": {"base_image_ref": _u(),
                                                            "hw_disk_bus": "virtio"},
             "audit_period_beginning": "2024-05-02T10:00:00.000000",
             "audit_period_ending": "2024-05-02T10:11:13.000000", "bandwidth": {},
             "fixed_ips": [{"address": f"10.0.{i % 250}.{i % 200 + 2}", "type": "fixed",
                            "version": 4, "label": "private", "vif_mac": "fa:16:3e:12:34:56",
                            "floating_ips": [], "meta": {}}],
             "old_task_state": "spawning", "new_task_state": None}
        inner = {"message_id": _u(), "publisher_id": f"compute.{host}",
                 "event_type": "compute.instance.update", "priority": "INFO", "payload": p}
    elif k == 1:  # Cinder, but not a create: attach
        inner = {"message_id": _u(), "publisher_id": "volume.cinder-1@rbd",
                 "event_type": "volume.attach.end", "priority": "INFO",
                 "payload": {"tenant_id": uuid.uuid4().hex, "user_id": uuid.uuid4().hex,
                             "host": "cinder-1@rbd#rbd", "availability_zone": "nova",
                             "volume_id": _u(), "volume_type": _u(), "display_name": f"data-{i}",
                             "size": 10 + i % 90, "status": "in-use", "snapshot_id": None,
                             "metadata": {}, "created_at": "2026-11-25T20:00:00+00:00",
                             "launched_at": "2026-11-25T20:00:05+00:00", "replication_status": None,
                             "glance_metadata": [],
                             "volume_attachment": [{"id": _u(), "volume_id": _u(),
                                                    "instance_uuid": _u(),
                                                    "attached_host": f"compute-{i % 40}",
                                                    "mountpoint": "/dev/vdb",
                                                    "attach_time": "2026-11-25T21:00:00.000000",
                                                    "attach_status": "attached",
                                                    "attach_mode": "rw"}]}}
    elif k == 2:  # Cinder usage
        inner = {"message_id": _u(), "publisher_id": "volume.cinder-1@rbd",
                 "event_type": "volume.exists", "priority": "INFO",
                 "payload": {"tenant_id": uuid.uuid4().hex, "user_id": uuid.uuid4().hex,
                             "host": "cinder-1@rbd#rbd", "availability_zone": "nova",
                             "volume_id": _u(), "volume_type": _u(), "display_name": f"v{i}",
                             "size": 1 + i % 500, "status": "available", "snapshot_id": None,
                             "metadata": {"purpose": "bench", "owner": "team-" + str(i % 17)},
                             "audit_period_beginning": "2026-11-25T20:00:00.000000",
                             "audit_period_ending": "2026-11-25T21:00:00.000000",
                             "created_at": "2026-11-25T20:00:00+00:00",
                             "volume_attachment": []}}
    elif k == 3:  # Neutron
        inner = {"message_id": _u(), "publisher_id": "network.neutron-1",
                 "event_type": "port.update.end", "priority": "INFO",
                 "payload": {"port": {"id": _u(), "name": "", "network_id": _u(),
                                      "tenant_id": uuid.uuid4().hex,
                                      "mac_address": "fa:16:3e:%02x:%02x:%02x" % (
                                          i % 256, (i >> 8) % 256, (i >> 16) % 256),
                                      "admin_state_up": True, "status": "ACTIVE",
                                      "device_id": _u(), "device_owner": "compute:nova",
                                      "fixed_ips": [{"subnet_id": _u(),
                                                     "ip_address": f"10.1.{i % 250}.{i % 200 + 2}"}],
                                      "allowed_address_pairs": [], "extra_dhcp_opts": [],
                                      "security_groups": [_u()], "description": "",
                                      "binding:vnic_type": "normal",
                                      "binding:host_id": f"compute-{i % 40}",
                                      "binding:vif_type": "ovs",
                                      "binding:vif_details": {"port_filter": True,
                                                              "datapath_type": "system",
                                                              "bridge_name": "br-int"},
                                      "port_security_enabled": True, "tags": [],
                                      "created_at": "2026-11-25T20:00:00Z",
                                      "updated_at": "2026-11-25T21:00:00Z",
                                      "revision_number": i % 9, "project_id": uuid.uuid4().hex}}}
    elif k == 4:  # Glance
        inner = {"message_id": _u(), "publisher_id": "image.localhost",
                 "event_type": "image.send", "priority": "INFO",
                 "payload": {"bytes_sent": 1 + i * 7919 % 10 ** 9, "image_id": _u(),
                             "owner_id": uuid.uuid4().hex, "receiver_tenant_id": uuid.uuid4().hex,
                             "receiver_user_id": uuid.uuid4().hex,
                             "destination_ip": f"10.2.{i % 250}.{i % 200 + 2}"}}
    else:  # Cinder snapshot create: a create, but not of a volume
        inner = {"message_id": _u(), "publisher_id": "snapshot.cinder-1@rbd",
                 "event_type": "snapshot.create.end", "priority": "INFO",
                 "payload": {"tenant_id": uuid.uuid4().hex, "user_id": uuid.uuid4().hex,
                             "volume_id": _u(), "snapshot_id": _u(), "display_name": f"s{i}",
                             "volume_size": 1 + i % 500, "status": "available",
                             "deleted": "", "created_at": "2026-11-25T20:00:00+00:00",
                             "progress": "100%", "metadata": {}}}
    return envelope(_ctx(inner))


def ignored(out, n, distinct=20000):
    """distinct different lines, then the same again until n (making a million
    takes a minute of Python; parsing them costs the same either way)."""
    random.seed(7)
    lines = [(ignored_event(i) + "\n").encode() for i in range(min(n, distinct))]
    block = b"".join(lines)
    total = 0
    with open(out, "wb", buffering=1 << 20) as f:
        left = n
        while left >= len(lines):
            f.write(block)
            total += len(block)
            left -= len(lines)
        for line in lines[:left]:
            f.write(line)
            total += len(line)
    return {"lines": n, "bytes": total, "distinct": len(lines)}


def drain(cpu, hook, state, log, cmd):
    import signal
    import subprocess
    size = os.path.getsize(hook)
    tick = os.sysconf("SC_CLK_TCK")
    with open(log, "ab") as lf:
        t0 = time.perf_counter()
        p = subprocess.Popen(["taskset", "-c", cpu] + cmd, stdout=subprocess.DEVNULL, stderr=lf)
    startup = None
    deadline = t0 + float(os.environ.get("DRAIN_TIMEOUT_S", "600"))
    stat = {}
    try:
        while True:
            now = time.perf_counter()
            if startup is None:
                with open(log, "rb") as f:
                    if b"volume role following" in f.read():
                        startup = now - t0
            if checkpoint_offset(state) == size:
                break
            if p.poll() is not None:
                sys.exit(f"the agent exited ({p.returncode}) before the checkpoint reached {size}")
            if now > deadline:
                sys.exit(f"checkpoint not at {size} (it is at {checkpoint_offset(state)}) in time")
            try:
                with open(f"/proc/{p.pid}/stat") as f:
                    fields = f.read().rsplit(")", 1)[1].split()
                stat = {"user": int(fields[11]) / tick, "system": int(fields[12]) / tick}
            except (OSError, IndexError):
                pass
            time.sleep(0.002)
        t1 = time.perf_counter()
        hwm = status_kb(p.pid).get("VmHWM", 0)
        try:
            with open(f"/proc/{p.pid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            stat = {"user": int(fields[11]) / tick, "system": int(fields[12]) / tick}
        except (OSError, IndexError):
            pass
    finally:
        if p.poll() is None:
            p.send_signal(signal.SIGTERM)
            try:
                p.wait(10)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
    return {"seconds": t1 - t0, "startup": startup, "cpu": stat, "bytes": size,
            "VmHWM": hwm, "exit": p.returncode}


def json_loop(path):
    n = creates = 0
    t0 = time.perf_counter()
    with open(path, "rb") as f:
        for raw in f:
            o = json.loads(raw)
            if "oslo.message" in o:
                o = json.loads(o["oslo.message"])
            if o.get("event_type") == "volume.create.end":
                creates += 1
            n += 1
    return {"lines": n, "seconds": time.perf_counter() - t0, "creates": creates}


if __name__ == "__main__":
    cmd, args = sys.argv[1], sys.argv[2:]
    if cmd == "one":
        out = one(*args)
    elif cmd == "burst":
        out = burst(args[0], args[1], args[2], args[3:])
    elif cmd == "ignored":
        out = ignored(args[0], int(args[1]))
    elif cmd == "drain":
        out = drain(args[0], args[1], args[2], args[3], args[4:])
    elif cmd == "json-loop":
        out = json_loop(args[0])
    else:
        sys.exit(f"unknown command {cmd}")
    json.dump(out, sys.stdout)
    print()
