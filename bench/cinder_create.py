#!/usr/bin/env python3
"""The clock of bench/cinder_create.sh: one POST /volumes through the real Cinder API.

  cinder_create.py encrypt TYPE_ID
      POST /types/TYPE_ID/encryption: provider luks, cipher aes-xts-plain64,
      key_size 256, control_location front-end (Cinder's own encrypted type).
  cinder_create.py create TYPE_ID GIB [--results FILE] [--watch-dir DIR] [--timeout S]
      POST /volumes of TYPE_ID and GIB, then polls until the volume is
      available and, with --results (an agent's STATE/results.jsonl), until
      that file has the agent's "formatted" line for it. With --watch-dir,
      the files in DIR (Cinder's image_conversion_dir) are summed at every
      poll: the peak of their apparent size and of the blocks allocated.
      Prints JSON: id, post_ms (the POST's round trip), available_ms,
      formatted_ms, agent_ms (the agent's own "ms"), peak_apparent,
      peak_allocated (bytes). Exits 1 when the volume lands in error, the
      agent's outcome for it is not "formatted", or the time runs out.

The API is $CINDER_URL, as tests/lib/cinder.sh prints it; the HTTP client is
tests/lib/cinder_api.py's. Every time is from just before the POST is sent
(perf_counter). Cinder's status is asked for every 50 ms (a GET takes a few ms
here), so available_ms is late by up to that plus one GET; the agent's
results file is watched with inotify (bench/agent_events.py), so formatted_ms
is late by the time to read one line.
"""
import json
import os
import sys
import time

here = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(here, "..", "tests", "lib"))
sys.path.insert(0, here)
from agent_events import Results, Watch  # noqa: E402
from cinder_api import ApiError, Client  # noqa: E402

STATUS_EVERY = 0.05


def dir_usage(path):
    """(apparent bytes, allocated bytes) of the regular files directly in PATH."""
    apparent = allocated = 0
    try:
        with os.scandir(path) as it:
            for e in it:
                try:
                    st = e.stat(follow_symlinks=False)
                except OSError:
                    continue  # the file went while we looked
                if e.is_file(follow_symlinks=False):
                    apparent += st.st_size
                    allocated += st.st_blocks * 512
    except OSError:
        pass
    return apparent, allocated


def encrypt(client, type_id):
    client.call("POST", "/types/%s/encryption" % type_id,
                {"encryption": {"provider": "luks", "cipher": "aes-xts-plain64",
                                "key_size": 256, "control_location": "front-end"}})
    return 0


def create(client, type_id, gib, results, watch_dir, timeout):
    watch = res = None
    if results:
        watch, res = Watch(os.path.dirname(results)), Results(results)
    t0 = time.perf_counter()
    vid = client.call("POST", "/volumes", {"volume": {"size": gib, "volume_type": type_id,
                                                      "name": "bench-create"}})["volume"]["id"]
    out = {"id": vid, "post_ms": (time.perf_counter() - t0) * 1000, "available_ms": None,
           "formatted_ms": None, "agent_ms": None, "peak_apparent": 0, "peak_allocated": 0}
    deadline = t0 + timeout
    next_status = 0.0
    while out["available_ms"] is None or (res and out["formatted_ms"] is None):
        now = time.perf_counter()
        if now > deadline:
            raise ApiError("volume %s: not done within %g s: %s" % (vid, timeout, out))
        if watch_dir:
            a, b = dir_usage(watch_dir)
            out["peak_apparent"] = max(out["peak_apparent"], a)
            out["peak_allocated"] = max(out["peak_allocated"], b)
        if out["available_ms"] is None and now >= next_status:
            next_status = now + STATUS_EVERY
            status = client.call("GET", "/volumes/" + vid)["volume"]["status"]
            if status == "available":
                out["available_ms"] = (time.perf_counter() - t0) * 1000
            elif status.startswith("error"):
                raise ApiError("volume %s is in status %s" % (vid, status))
        if res:
            for r in res.new():
                if r.get("volume_id") != vid:
                    continue
                if r.get("outcome") == "formatted":
                    out["formatted_ms"] = (time.perf_counter() - t0) * 1000
                    out["agent_ms"] = r.get("ms")
                elif r.get("outcome") in ("failed", "refused"):
                    raise ApiError("volume %s: the agent says %s: %s" % (
                        vid, r.get("outcome"), r.get("reason")))
        if watch_dir:
            time.sleep(0.01)  # a sample of the conversion dir every 10 ms
        elif watch:
            watch.wait(deadline if out["available_ms"] is not None
                       else min(deadline, next_status), cap=STATUS_EVERY)
        else:
            time.sleep(max(0.0, next_status - time.perf_counter()))
    print(json.dumps(out))
    return 0


def main(argv):
    url = os.environ.get("CINDER_URL")
    if not url:
        sys.exit("cinder_create.py: CINDER_URL is not set")
    client = Client(url)
    try:
        if len(argv) == 2 and argv[0] == "encrypt":
            return encrypt(client, argv[1])
        if len(argv) >= 3 and argv[0] == "create":
            opts = {"--results": None, "--watch-dir": None, "--timeout": "900"}
            rest = argv[3:]
            if len(rest) % 2 or any(k not in opts for k in rest[::2]):
                sys.exit(__doc__)
            opts.update(zip(rest[::2], rest[1::2]))
            return create(client, argv[1], int(argv[2]), opts["--results"],
                          opts["--watch-dir"], float(opts["--timeout"]))
    except ApiError as e:
        sys.stderr.write("cinder_create.py %s: %s\n" % (argv[0], e))
        return 1
    sys.exit(__doc__)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
