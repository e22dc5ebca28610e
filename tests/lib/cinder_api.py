#!/usr/bin/env python3
"""A small client of the real Cinder v3 REST API, for the tests (stdlib only).

    cinder_api.py [--url URL] COMMAND ARGS...

URL defaults to $CINDER_URL, e.g. http://127.0.0.1:PORT/v3/admin as tests/lib/cinder.sh
prints it. Cinder runs with noauth_include_project_id: the token "admin:admin" names the
user and the project, and is not checked.

    type-create NAME [--backend B]      prints the new volume type's id; --backend: extra
                                        spec volume_backend_name=B (the scheduler places its
                                        volumes on that backend only)
    volume-create --size GIB [--type ID] [--name N]
                  [--snapshot-id ID | --source-volid ID | --image-id ID]
                                        prints the new volume's id; from a snapshot or a
                                        clone of a volume when asked (without --type,
                                        Cinder takes the source's type:
                                        cinder/volume/flows/api/create_volume.py:398-416)
    volume-show ID                      prints the volume as Cinder returns it (JSON)
    wait ID STATUS [--timeout S]        until the volume has STATUS (default 120 s); fails
                                        at once when it lands in error instead
    volume-extend ID GIB [--in-use]     POST /volumes/ID/action os-extend: Cinder's extend of
                                        an available volume (its RBD driver resizes the image);
                                        --in-use: at microversion 3.42, which extends an
                                        attached one too (cinder/api/contrib/volume_actions.py:
                                        277-279; cinder/api/microversions.py:124)
    volume-retype ID TYPE_ID [--migration-policy never|on-demand]
                                        POST /volumes/ID/action os-retype (default policy
                                        never: a retype that needs a migration fails)
    volume-migrate ID HOST [--force-host-copy]
                                        POST /volumes/ID/action os-migrate_volume to HOST
                                        (host@backend#pool); --force-host-copy: Cinder's
                                        generic migration even where the driver could move it
    wait-migrated ID [--timeout S]      until migration_status is success (fails at once on
                                        error)
    volume-upload ID IMAGE_NAME         POST /volumes/ID/action os-volume_upload_image (raw,
                                        bare); prints the new Glance image's id
    volume-delete ID
    wait-deleted ID [--timeout S]       until the volume is gone (404)

    snapshot-create VOLUME_ID [--name N] [--force]
                                        POST /snapshots; prints the snapshot's id. At the
                                        default microversion (3.0) an in-use volume needs
                                        --force (cinder/api/v3/snapshots.py:156-191)
    snapshot-wait ID STATUS [--timeout S]
                                        as wait, for a snapshot
    snapshot-delete ID
    wait-snapshot-deleted ID [--timeout S]
                                        until the snapshot is gone (404)

Backups (a cinder-backup service must run: tests/lib/cinder.sh with CINDER_BACKUP):

    backup-create VOLUME_ID [--name N] [--force]
                                        POST /backups; prints the backup's id (an in-use
                                        volume needs --force)
    backup-wait ID STATUS [--timeout S] as wait, for a backup
    backup-show ID                      prints the backup as Cinder returns it (JSON)
    backup-restore ID [--volume-id VOLUME_ID] [--name N]
                                        POST /backups/ID/restore; prints the id of the
                                        volume restored into. Without --volume-id Cinder
                                        creates that volume itself, of the backup's size
                                        and the default volume type
                                        (cinder/backup/api.py:390-412); with it the volume
                                        must be available and at least as large (:413-426)
    backup-delete ID
    wait-backup-deleted ID [--timeout S]
                                        until the backup is gone (404)

Glance (tests/lib/cinder.sh with CINDER_GLANCE; its API from --glance-url, default
$GLANCE_URL, with no authentication):

    image-create NAME FILE              POST /v2/images (raw, bare), then PUT the file as its
                                        data; prints the image's id once it is active
    image-wait ID STATUS [--timeout S]  until the image has STATUS
    image-download ID FILE              GET /v2/images/ID/file into FILE
    image-delete ID

Nova's attach, one call per command so that a test can act between them, in the order
nova/virt/block_device.py makes them (reserve, then update with the connector, the
driver's attach, then complete):

    attachment-create VOLUME_ID INSTANCE_UUID
                                        POST /attachments without a connector (the volume
                                        becomes "reserved"); prints the attachment id
    attachment-update ATTACHMENT_ID --host HOST
                                        PUT /attachments/ID with a connector shaped like
                                        the one Nova's libvirt driver sends for RBD; prints
                                        the returned connection_info as JSON, unchanged
    attachment-complete ATTACHMENT_ID   POST /attachments/ID/action os-complete
    attachment-delete ATTACHMENT_ID     DELETE /attachments/ID

Attachment calls use microversion 3.44 (os-complete needs it) and carry
X-Service-Roles: service, as Nova's calls do with a service token: without one, Cinder
answers DELETE /attachments/ID with 500 (it then tries to reach Nova itself).
Any HTTP error or timeout exits 1 with the method, URL, status and Cinder's message.
"""

import argparse
import json
import os
import sys
import time
import urllib.error
import urllib.request

ATTACH_VERSION = "volume 3.44"
EXTEND_INUSE_VERSION = "volume 3.42"


class ApiError(Exception):
    pass


class Client:
    def __init__(self, url):
        self.url = url.rstrip("/")

    def call(self, method, path, body=None, version=None, service=False, ok_404=False):
        headers = {"X-Auth-Token": "admin:admin", "Accept": "application/json"}
        if version:
            headers["OpenStack-API-Version"] = version
        if service:
            headers["X-Service-Roles"] = "service"
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        raw = self.transfer(method, path, data, headers, ok_404=ok_404)
        if raw is None:
            return None
        return json.loads(raw) if raw.strip() else {}

    def transfer(self, method, path, data=None, headers=None, out=None, timeout=60,
                 ok_404=False):
        """One request; the body returned, or copied into the open file OUT (None
        then). DATA may be an open file (its Content-Length in HEADERS). Any HTTP
        error or failure to connect is an ApiError naming the request."""
        url = self.url + path
        req = urllib.request.Request(url, data=data, headers=headers or {}, method=method)
        try:
            with urllib.request.urlopen(req, timeout=timeout) as resp:
                if out is None:
                    return resp.read()
                while True:
                    chunk = resp.read(1 << 20)
                    if not chunk:
                        return None
                    out.write(chunk)
        except urllib.error.HTTPError as e:
            if ok_404 and e.code == 404:
                return None
            detail = e.read().decode("utf-8", "replace").strip()
            raise ApiError("%s %s: HTTP %d %s: %s" % (method, url, e.code, e.reason,
                                                      detail[:2000]))
        except (urllib.error.URLError, OSError) as e:
            raise ApiError("%s %s: %s" % (method, url, e))


def nova_rbd_connector(host):
    """What Nova's libvirt driver sends (os-brick's connector properties, RBD host)."""
    return {
        "platform": "x86_64",
        "os_type": "linux",
        "ip": "127.0.0.1",
        "host": host,
        "multipath": False,
        "initiator": "iqn.1993-08.org.debian:01:" + host,
        "do_local_attach": False,
    }


def status_of(client, kind, rid):
    """KIND (volume, snapshot, backup) RID's status, None once it is gone (404)."""
    got = client.call("GET", "/%ss/%s" % (kind, rid), ok_404=True)
    return None if got is None else got[kind]["status"]


def poll(probe, timeout):
    """Calls PROBE every 0.25 s until it returns (True, _); it raises ApiError for an
    end that is not the one waited for, and returns (False, what it still sees) to
    wait on. Past TIMEOUT s, an ApiError with that last sight."""
    deadline = time.monotonic() + timeout
    while True:
        done, seen = probe()
        if done:
            return 0
        if time.monotonic() >= deadline:
            raise ApiError("%s after %g s" % (seen, timeout))
        time.sleep(0.25)


def wait_status(client, kind, rid, want, timeout):
    """Until KIND RID has status WANT (printed); fails at once when it lands in an
    error status instead, or when it is gone."""
    def probe():
        status = status_of(client, kind, rid)
        if status == want:
            print(status)
            return True, None
        if status is None:
            raise ApiError("%s %s does not exist" % (kind, rid))
        if status.startswith("error") and not want.startswith("error"):
            raise ApiError("%s %s is in status %s, not %s" % (kind, rid, status, want))
        return False, "%s %s still %s (wanted %s)" % (kind, rid, status, want)
    return poll(probe, timeout)


def wait_migrated(client, rid, timeout):
    """Until the volume's migration_status is success and its status available or in-use
    (printed: the volume's host); fails at once when the migration ends in error."""
    def probe():
        v = client.call("GET", "/volumes/" + rid, version="volume 3.0")["volume"]
        ms = v.get("migration_status")
        if ms == "success" and v["status"] in ("available", "in-use"):
            print(v.get("os-vol-host-attr:host"))
            return True, None
        if ms == "error":
            raise ApiError("volume %s: migration_status error (status %s)" % (rid, v["status"]))
        return False, "volume %s: migration_status %s, status %s" % (rid, ms, v["status"])
    return poll(probe, timeout)


def wait_gone(client, kind, rid, timeout):
    def probe():
        status = status_of(client, kind, rid)
        if status == "error_deleting":
            raise ApiError("%s %s is in status error_deleting" % (kind, rid))
        return status is None, "%s %s still %s" % (kind, rid, status)
    return poll(probe, timeout)


def run(a):
    c = Client(a.url)
    if a.command == "type-create":
        vt = {"name": a.name}
        if a.backend:
            vt["extra_specs"] = {"volume_backend_name": a.backend}
        got = c.call("POST", "/types", {"volume_type": vt})
        print(got["volume_type"]["id"])
    elif a.command == "volume-create":
        volume = {"size": a.size}
        for key, value in (("volume_type", a.type), ("name", a.name),
                           ("snapshot_id", a.snapshot_id),
                           ("source_volid", a.source_volid), ("imageRef", a.image_id)):
            if value is not None:
                volume[key] = value
        got = c.call("POST", "/volumes", {"volume": volume})
        print(got["volume"]["id"])
    elif a.command == "volume-show":
        print(json.dumps(c.call("GET", "/volumes/" + a.volume_id)["volume"]))
    elif a.command == "wait":
        return wait_status(c, "volume", a.volume_id, a.status, a.timeout)
    elif a.command == "volume-extend":
        c.call("POST", "/volumes/%s/action" % a.volume_id, {"os-extend": {"new_size": a.size}},
               version=EXTEND_INUSE_VERSION if a.in_use else None)
    elif a.command == "volume-retype":
        c.call("POST", "/volumes/%s/action" % a.volume_id,
               {"os-retype": {"new_type": a.type_id, "migration_policy": a.migration_policy}})
    elif a.command == "volume-migrate":
        c.call("POST", "/volumes/%s/action" % a.volume_id,
               {"os-migrate_volume": {"host": a.host, "force_host_copy": a.force_host_copy}})
    elif a.command == "wait-migrated":
        return wait_migrated(c, a.volume_id, a.timeout)
    elif a.command == "volume-upload":
        got = c.call("POST", "/volumes/%s/action" % a.volume_id, {"os-volume_upload_image": {
            "image_name": a.image_name, "disk_format": "raw", "container_format": "bare",
            "force": False}})
        print(got["os-volume_upload_image"]["image_id"])
    elif a.command.startswith("image-"):
        return run_glance(a)
    elif a.command == "volume-delete":
        c.call("DELETE", "/volumes/" + a.volume_id)
    elif a.command == "wait-deleted":
        return wait_gone(c, "volume", a.volume_id, a.timeout)
    elif a.command == "snapshot-create":
        snapshot = {"volume_id": a.volume_id}
        if a.name is not None:
            snapshot["name"] = a.name
        if a.force:
            snapshot["force"] = True
        got = c.call("POST", "/snapshots", {"snapshot": snapshot})
        print(got["snapshot"]["id"])
    elif a.command == "snapshot-wait":
        return wait_status(c, "snapshot", a.snapshot_id, a.status, a.timeout)
    elif a.command == "snapshot-delete":
        c.call("DELETE", "/snapshots/" + a.snapshot_id)
    elif a.command == "wait-snapshot-deleted":
        return wait_gone(c, "snapshot", a.snapshot_id, a.timeout)
    elif a.command == "backup-create":
        backup = {"volume_id": a.volume_id}
        if a.name is not None:
            backup["name"] = a.name
        if a.force:
            backup["force"] = True
        got = c.call("POST", "/backups", {"backup": backup})
        print(got["backup"]["id"])
    elif a.command == "backup-wait":
        return wait_status(c, "backup", a.backup_id, a.status, a.timeout)
    elif a.command == "backup-show":
        print(json.dumps(c.call("GET", "/backups/" + a.backup_id)["backup"]))
    elif a.command == "backup-restore":
        restore = {}
        for key, value in (("volume_id", a.volume_id), ("name", a.name)):
            if value is not None:
                restore[key] = value
        got = c.call("POST", "/backups/%s/restore" % a.backup_id, {"restore": restore})
        print(got["restore"]["volume_id"])
    elif a.command == "backup-delete":
        c.call("DELETE", "/backups/" + a.backup_id)
    elif a.command == "wait-backup-deleted":
        return wait_gone(c, "backup", a.backup_id, a.timeout)
    elif a.command == "attachment-create":
        got = c.call("POST", "/attachments",
                     {"attachment": {"volume_uuid": a.volume_id,
                                     "instance_uuid": a.instance_uuid}},
                     version=ATTACH_VERSION, service=True)
        print(got["attachment"]["id"])
    elif a.command == "attachment-update":
        got = c.call("PUT", "/attachments/" + a.attachment_id,
                     {"attachment": {"connector": nova_rbd_connector(a.host)}},
                     version=ATTACH_VERSION, service=True)
        print(json.dumps(got["attachment"]["connection_info"]))
    elif a.command == "attachment-complete":
        c.call("POST", "/attachments/%s/action" % a.attachment_id, {"os-complete": None},
               version=ATTACH_VERSION, service=True)
    elif a.command == "attachment-delete":
        c.call("DELETE", "/attachments/" + a.attachment_id, version=ATTACH_VERSION,
               service=True)
    return 0


def wait_image(g, image_id, want, timeout):
    def probe():
        got = g.call("GET", "/v2/images/" + image_id, ok_404=True)
        status = None if got is None else got["status"]
        if status in (None, "killed", "deleted", "deactivated") and want != status:
            raise ApiError("image %s is %s, not %s" % (image_id, status, want))
        return status == want, "image %s still %s (wanted %s)" % (image_id, status, want)
    return poll(probe, timeout)


def run_glance(a):
    if not a.glance_url:
        raise ApiError("no --glance-url and no GLANCE_URL in the environment")
    g = Client(a.glance_url)
    if a.command == "image-create":
        got = g.call("POST", "/v2/images", {"name": a.name, "disk_format": "raw",
                                             "container_format": "bare"})
        with open(a.file, "rb") as f:
            g.transfer("PUT", "/v2/images/%s/file" % got["id"], data=f, timeout=600, headers={
                "Content-Type": "application/octet-stream",
                "Content-Length": str(os.fstat(f.fileno()).st_size)})
        wait_image(g, got["id"], "active", 120)
        print(got["id"])
    elif a.command == "image-wait":
        return wait_image(g, a.image_id, a.status, a.timeout)
    elif a.command == "image-download":
        with open(a.file, "wb") as out:
            g.transfer("GET", "/v2/images/%s/file" % a.image_id, out=out, timeout=600)
    elif a.command == "image-delete":
        g.call("DELETE", "/v2/images/" + a.image_id)
    return 0


def parse(argv):
    p = argparse.ArgumentParser(prog="cinder_api.py",
                                description="A test client of Cinder's v3 API.")
    p.add_argument("--url", default=os.environ.get("CINDER_URL"),
                   help="the API with the project, default $CINDER_URL")
    p.add_argument("--glance-url", default=os.environ.get("GLANCE_URL"),
                   help="Glance's API, default $GLANCE_URL (the image-* commands)")
    sub = p.add_subparsers(dest="command", required=True)
    s = sub.add_parser("image-create")
    s.add_argument("name")
    s.add_argument("file")
    s = sub.add_parser("image-wait")
    s.add_argument("image_id")
    s.add_argument("status")
    s.add_argument("--timeout", type=float, default=120)
    s = sub.add_parser("image-download")
    s.add_argument("image_id")
    s.add_argument("file")
    s = sub.add_parser("image-delete")
    s.add_argument("image_id")
    s = sub.add_parser("volume-upload")
    s.add_argument("volume_id")
    s.add_argument("image_name")
    s = sub.add_parser("type-create")
    s.add_argument("--backend", default=None)
    s.add_argument("name")
    s = sub.add_parser("volume-create")
    s.add_argument("--type")
    s.add_argument("--size", required=True, type=int)
    s.add_argument("--name")
    source = s.add_mutually_exclusive_group()
    source.add_argument("--snapshot-id")
    source.add_argument("--source-volid")
    source.add_argument("--image-id")
    s = sub.add_parser("volume-show")
    s.add_argument("volume_id")
    for name, rid in (("wait", "volume_id"), ("snapshot-wait", "snapshot_id"),
                      ("backup-wait", "backup_id")):
        s = sub.add_parser(name)
        s.add_argument(rid)
        s.add_argument("status")
        s.add_argument("--timeout", type=float, default=120)
    s = sub.add_parser("volume-extend")
    s.add_argument("volume_id")
    s.add_argument("size", type=int)
    s.add_argument("--in-use", action="store_true")
    s = sub.add_parser("volume-retype")
    s.add_argument("volume_id")
    s.add_argument("type_id")
    s.add_argument("--migration-policy", choices=("never", "on-demand"), default="never")
    s = sub.add_parser("volume-migrate")
    s.add_argument("volume_id")
    s.add_argument("host")
    s.add_argument("--force-host-copy", action="store_true")
    s = sub.add_parser("wait-migrated")
    s.add_argument("volume_id")
    s.add_argument("--timeout", type=float, default=180)
    s = sub.add_parser("volume-delete")
    s.add_argument("volume_id")
    for name, rid in (("wait-deleted", "volume_id"), ("wait-snapshot-deleted", "snapshot_id"),
                      ("wait-backup-deleted", "backup_id")):
        s = sub.add_parser(name)
        s.add_argument(rid)
        s.add_argument("--timeout", type=float, default=120)
    s = sub.add_parser("snapshot-create")
    s.add_argument("volume_id")
    s.add_argument("--name")
    s.add_argument("--force", action="store_true")
    s = sub.add_parser("snapshot-delete")
    s.add_argument("snapshot_id")
    s = sub.add_parser("backup-create")
    s.add_argument("volume_id")
    s.add_argument("--name")
    s.add_argument("--force", action="store_true")
    for name in ("backup-show", "backup-delete"):
        s = sub.add_parser(name)
        s.add_argument("backup_id")
    s = sub.add_parser("backup-restore")
    s.add_argument("backup_id")
    s.add_argument("--volume-id")
    s.add_argument("--name")
    s = sub.add_parser("attachment-create")
    s.add_argument("volume_id")
    s.add_argument("instance_uuid")
    s = sub.add_parser("attachment-update")
    s.add_argument("attachment_id")
    s.add_argument("--host", required=True)
    for name in ("attachment-complete", "attachment-delete"):
        s = sub.add_parser(name)
        s.add_argument("attachment_id")
    a = p.parse_args(argv)
    if not a.url:
        p.error("no --url and no CINDER_URL in the environment")
    return a


def main(argv):
    a = parse(argv)
    try:
        return run(a)
    except ApiError as e:
        sys.stderr.write("cinder_api.py %s: %s\n" % (a.command, e))
        return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
