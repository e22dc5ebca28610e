#!/usr/bin/python3
"""Cinder's own copy_image_to_encrypted_volume, run once, for bench/convert.sh.

  cinder_convert.py --ceph-conf CONF --pool POOL --user USER
                    --image-pool POOL --image NAME --image-snap SNAP
                    --volume-id ID --size-gib N --conversion-dir DIR
                    --fixed-key HEX

Imports Cinder from the system's python3-cinder (Debian 12: 21.3.1, Zed) and
calls its RBD driver directly, without cinder-volume, a database or a
message bus: cinder.volume.drivers.rbd.RBDDriver configured for the
private cluster (backend section "ceph", rbd_pool, rbd_user, rbd_ceph_conf)
and do_setup(), then RBDDriver.copy_image_to_encrypted_volume (rbd.py:1899)
for a volume of N GiB. That is Cinder's whole path for a volume of an
encrypted type made from an image (rbd.py:1952 _copy_image_to_volume):
image_utils.fetch_to_raw downloads the image into a temp file in the
conversion dir and converts it to raw with qemu-img (a second temp file),
_encrypt_image (rbd.py:1914) takes the key from the key manager and
converts that file to LUKS with qemu-img (a third file, renamed over the
second), the volume's image is deleted and the file imported with
`rbd import`, then resized to N GiB.

What stands in for the services around it (and nothing else):
  - the image service (Glance): show() says raw/bare and the image's size;
    download() writes the image's bytes into the file Cinder hands it, read
    from the RBD image NAME@SNAP with python3-rbd in 8 MiB chunks, as
    Glance's RBD store serves an image;
  - the key manager is Cinder's own ConfKeyManager ([key_manager] backend =
    cinder.keymgr.conf_key_mgr.ConfKeyManager, fixed_key = HEX): the
    volume's encryption_key_id is its fixed key's id;
  - the database: cinder.db.volume_encryption_metadata_get, the one lookup
    this path makes (volume_utils.check_encryption_provider), answers what
    Cinder's database holds for an encrypted type made as OpenStack
    documents it (provider luks, cipher aes-xts-plain64, key_size 256,
    front-end), with that key id;
  - the volume object has no volume type (no QoS, replication or
    multiattach extra specs for _setup_volume to act on).

While the call runs a thread samples the conversion dir every 50 ms: the
blocks its files take (st_blocks, as du counts them). Prints one JSON line:
seconds (perf_counter around the call), peak_bytes, peak_apparent_bytes,
samples, left_bytes (after it returned), and Cinder's own log lines about
the download and the conversion.
"""
import argparse
import json
import logging
import os
import sys
import threading
import time

CHUNK = 8 * 1024 * 1024


def dir_usage(path):
    """(bytes of blocks, apparent bytes) of the regular files under path."""
    used = apparent = 0
    for root, _dirs, files in os.walk(path):
        for name in files:
            try:
                st = os.lstat(os.path.join(root, name))
            except FileNotFoundError:
                continue  # removed between the listing and the stat
            used += st.st_blocks * 512
            apparent += st.st_size
    return used, apparent


class Sampler(threading.Thread):
    def __init__(self, path):
        super().__init__(daemon=True)
        self.path, self.peak, self.peak_apparent, self.samples = path, 0, 0, 0
        self.done = threading.Event()

    def run(self):
        while not self.done.is_set():
            used, apparent = dir_usage(self.path)
            self.peak = max(self.peak, used)
            self.peak_apparent = max(self.peak_apparent, apparent)
            self.samples += 1
            self.done.wait(0.05)


class RBDImageService:
    """Glance's part: one raw image, its bytes read from an RBD snapshot."""

    def __init__(self, rados_mod, rbd_mod, conf, user, pool, image, snap):
        self.rados, self.rbd = rados_mod, rbd_mod
        self.conf, self.user, self.pool, self.image, self.snap = conf, user, pool, image, snap
        self.temp_images = None  # GlanceImageService has it (glance.py:283); Cinder sets it
        with self._open() as img:
            self.size = img.size()

    def _open(self):
        service = self

        class Opened:
            def __enter__(self):
                self.cluster = service.rados.Rados(conffile=service.conf,
                                                   rados_id=service.user)
                self.cluster.connect()
                self.ioctx = self.cluster.open_ioctx(service.pool)
                self.img = service.rbd.Image(self.ioctx, service.image,
                                             snapshot=service.snap, read_only=True)
                return self.img

            def __exit__(self, *exc):
                self.img.close()
                self.ioctx.close()
                self.cluster.shutdown()

        return Opened()

    def show(self, context, image_id):
        return {"id": image_id, "disk_format": "raw", "container_format": "bare",
                "size": self.size, "status": "active", "properties": {}}

    def download(self, context, image_id, data):
        with self._open() as img:
            for off in range(0, self.size, CHUNK):
                data.write(img.read(off, min(CHUNK, self.size - off)))


def main():
    ap = argparse.ArgumentParser()
    for opt in ("ceph-conf", "pool", "user", "image-pool", "image", "image-snap",
                "volume-id", "conversion-dir", "fixed-key"):
        ap.add_argument("--" + opt, required=True)
    ap.add_argument("--size-gib", type=int, required=True)
    a = ap.parse_args()

    # Cinder's configuration, as cinder-volume would read it from cinder.conf.
    from oslo_config import cfg
    from cinder import objects
    objects.register_all()
    from cinder.common import config  # noqa: F401  (registers the global options)
    from cinder import context as cinder_context
    from cinder import db
    from cinder.volume import configuration
    from cinder.volume.drivers import rbd as rbd_driver
    import rados
    import rbd

    conf_file = os.path.join(a.conversion_dir, "..", "cinder.conf")
    with open(conf_file, "w") as f:
        f.write(f"""[DEFAULT]
image_conversion_dir = {a.conversion_dir}
enabled_backends = ceph
[key_manager]
backend = cinder.keymgr.conf_key_mgr.ConfKeyManager
fixed_key = {a.fixed_key}
[ceph]
volume_driver = cinder.volume.drivers.rbd.RBDDriver
volume_backend_name = ceph
rbd_pool = {a.pool}
rbd_user = {a.user}
rbd_ceph_conf = {a.ceph_conf}
""")
    cfg.CONF(["--config-file", conf_file], project="cinder")
    log_lines = []

    class Keep(logging.Handler):
        def emit(self, record):
            msg = record.getMessage()
            if "MB/s" in msg or "MB image" in msg:
                log_lines.append(msg)

    logging.getLogger().addHandler(Keep(level=logging.INFO))
    logging.getLogger().setLevel(logging.INFO)

    ctx = cinder_context.get_admin_context()
    from cinder.keymgr import conf_key_mgr
    key_id = conf_key_mgr.ConfKeyManager(cfg.CONF).key_id

    def encryption_metadata(context, volume_id):
        return {"encryption_key_id": key_id, "cipher": "aes-xts-plain64",
                "key_size": 256, "provider": "luks", "control_location": "front-end"}

    db.volume_encryption_metadata_get = encryption_metadata

    drv_conf = configuration.Configuration(rbd_driver.RBD_OPTS, config_group="ceph")
    driver = rbd_driver.RBDDriver(configuration=drv_conf)
    driver.do_setup(ctx)
    driver.check_for_setup_error()

    volume = objects.Volume(ctx, id=a.volume_id, _name_id=None, size=a.size_gib,
                            volume_type_id=None,
                            encryption_key_id=key_id)
    volume.volume_type = None
    images = RBDImageService(rados, rbd, a.ceph_conf, a.user, a.image_pool, a.image,
                             a.image_snap)

    sampler = Sampler(a.conversion_dir)
    sampler.start()
    t0 = time.perf_counter()
    driver.copy_image_to_encrypted_volume(ctx, volume, images, "glance-image-id")
    seconds = time.perf_counter() - t0
    sampler.done.set()
    sampler.join()
    left = dir_usage(a.conversion_dir)[0]
    print(json.dumps({"seconds": seconds, "peak_bytes": sampler.peak,
                      "peak_apparent_bytes": sampler.peak_apparent,
                      "samples": sampler.samples, "left_bytes": left,
                      "image_bytes": images.size, "cinder_log": log_lines}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
