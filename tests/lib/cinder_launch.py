#!/usr/bin/env python3
"""Start one real Cinder service from python3-cinder's own entry points.

    cinder_launch.py api|scheduler|volume|manage [cinder arguments...]

runs cinder.cmd.<service>.main() with argv[0] set to cinder-<service> and the remaining
arguments passed on (e.g. --config-file DIR/cinder.conf, or for manage: db sync). The
Debian packages that install /usr/bin/cinder-api and friends (and their service
units) are not needed: tests/lib/cinder.sh runs this file under setsid, one process
per service, and stops each by its PID.

The Debian 12 workaround
------------------------
python3-cinder 21.3.1 (Zed) with python3-oslo.messaging 14.0.3. Before it sends a
notification, oslo.messaging keeps a fixed list of keys of the request context (user,
project, roles, request ids...; read_deleted is not one of them) and makes a new
context of the same class from that reduced dict with from_dict()
(oslo_messaging/notify/notifier.py, _sanitize_context). Cinder's from_dict() passes
read_deleted=values.get('read_deleted'), that is None, and Cinder's read_deleted setter
accepts only 'no', 'yes' and 'only' (cinder/context.py, from_dict and
_set_read_deleted), so every notification raises.

What we saw here with CINDER_LAUNCH_WORKAROUND=0 (tests/lib/cinder.sh otherwise
unchanged): POST /v3/admin/types answered 500 although the type was stored (the
notification comes after the database write), cinder-api's output had "ValueError:
read_deleted can only be one of 'no', 'yes' or 'only', not None" raised in
_sanitize_context -> from_dict, and even logging that error failed ("--- Logging
error ---"). A volume of the default type went to status error: cinder-volume raised the
same ValueError from its volume.create.start notification
(cinder/volume/flows/manager/create_volume.py), the scheduler rescheduled it and gave
up. The broker had no notifications.* queue at all: nothing was ever published.

Later Cinder releases default read_deleted to 'no' when the dict has none; this
launcher does the same before the service starts: from_dict() called without a
read_deleted value (missing or None) builds the context with 'no', the value a context
has when nobody asked for deleted rows. Any other from_dict() call is unchanged.
"""

import importlib
import os
import sys

SERVICES = ("api", "scheduler", "volume", "manage")


def apply_read_deleted_default():
    from cinder import context as cinder_context

    cls = cinder_context.RequestContext
    shipped = cls.__dict__["from_dict"].__func__
    if getattr(shipped, "_rbd_luks_test_default", False):
        return

    def from_dict(klass, values):
        if values.get("read_deleted") is None:
            values = dict(values, read_deleted="no")
        return shipped(klass, values)

    from_dict._rbd_luks_test_default = True
    cls.from_dict = classmethod(from_dict)


def main():
    if len(sys.argv) < 2 or sys.argv[1] not in SERVICES:
        sys.stderr.write("usage: cinder_launch.py %s [cinder arguments...]\n"
                         % "|".join(SERVICES))
        return 2
    service = sys.argv[1]
    # The cinder.cmd modules monkey-patch eventlet when they are imported; that must
    # happen before anything else of Cinder's (or oslo's) is loaded, so import first.
    module = importlib.import_module("cinder.cmd." + service)
    if os.environ.get("CINDER_LAUNCH_WORKAROUND", "1") != "0":
        apply_read_deleted_default()
    sys.argv = ["cinder-" + service] + sys.argv[2:]
    return module.main()


if __name__ == "__main__":
    sys.exit(main())
