#!/usr/bin/env python3
"""Start one real Cinder service from python3-cinder's own entry points.

    cinder_launch.py api|scheduler|volume|backup|manage [cinder arguments...]
    cinder_launch.py glance|glance-manage [glance arguments...]

runs cinder.cmd.<service>.main() with argv[0] set to cinder-<service> and the remaining
arguments passed on (e.g. --config-file DIR/cinder.conf, or for manage: db sync). The
Debian packages that install /usr/bin/cinder-api and friends (and their service
units) are not needed: tests/lib/cinder.sh runs this file under setsid, one process
per service, and stops each by its PID.

Two adjustments are made before the service starts (CINDER_LAUNCH_WORKAROUND=0 turns
both off); each is described below. cinder-backup gets two of its own (the last
section).

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

sqlite transactions that wait instead of failing
------------------------------------------------
The test Cinder keeps its database in sqlite (tests/lib/cinder.sh), where a deployment
has MySQL or MariaDB. oslo.db starts every sqlite transaction with a plain "BEGIN"
(oslo_db/sqlalchemy/engines.py:349-365, a deferred transaction): it reads under a shared
lock and asks for the write lock only at its first write. When another process holds or
waits for the write lock at that moment, sqlite cannot let either go on and answers the
later one at once with "database is locked", without waiting for its busy timeout.
MySQL's row locks make such a transaction wait instead. Seen here with three services
sharing the file: cinder-volume's "Failed to commit reservations [...]:
sqlite3.OperationalError: database is locked" on UPDATE quota_usages, 2 ms into the
transaction, while volumes were made from a snapshot back to back; and once in CI,
POST /volumes answered 500 in the same situation.

So every transaction starts with "BEGIN IMMEDIATE" (it takes the write lock first and
waits for it), and each connection waits up to 60 s for a lock (busy_timeout) instead of
pysqlite's 5 s. Transactions in the three services then follow one another as they do
on MySQL. Nothing in Cinder's own logic changes. Tried here: ten rounds of four
volumes made at once (three from a snapshot, one a clone), then deleted; with the plain
BEGIN one of the 40 POSTs answered 500 and cinder-api's log had 13 "database is locked";
with BEGIN IMMEDIATE, none of either. CINDER_LAUNCH_SQLITE=deferred leaves
oslo.db's plain BEGIN, to see the failure again.

cinder-backup and cinder-volume: os-brick without sudo, its Ceph key from the test cluster
-----------------------------------------------------------------------------------------
cinder-backup reads and writes a volume through os-brick's RBD connector without a local
attach: librbd, with a temporary ceph.conf that os-brick writes from the connection
(monitors, user) and the keyring. cinder-volume does the same for the copy of a generic
migration (cinder/volume/manager.py:2266-2330 _copy_volume_data: connector properties at
:2281, both volumes attached through os-brick). Two things in that path assume a deployed
host (the backup manager is the example; the volume manager's path is the same):

- Before it attaches, the backup manager asks os-brick for the host's connector
  properties (cinder/backup/manager.py:464, volume_utils.brick_get_connector_properties),
  and os-brick's iSCSI part reads /etc/iscsi/initiatorname.iscsi as root through its
  privsep daemon, started with "sudo cinder-rootwrap ROOTWRAP_CONF privsep-helper"
  (os_brick/initiator/connectors/iscsi.py:990-1003; cinder/cmd/backup.py:109). Seen here:
  "FailedToDropPrivileges: privsep helper command exited non-zero (1)" from
  continue_backup, and the backup stayed "creating". The tests run as root, so when the
  launcher runs as root it turns client mode off in os-brick's privsep context
  (oslo_privsep/priv_context.py, set_client_mode): privileged calls run in the
  service's own process, with no helper process and no sudo. A missing initiator file
  is then the warning os-brick expects.
- Since Victoria Cinder's RBD driver puts no keyring in the connection (OSSN-0085), so
  os-brick reads /etc/ceph/<cluster>.client.<user>.keyring
  (os_brick/initiator/connectors/rbd.py:77-93, _check_or_get_keyring_contents). With
  CINDER_LAUNCH_KEYRING_DIR=DIR the backup service reads
  DIR/<cluster>.client.<user>.keyring instead (tests/lib/cinder.sh passes the directory
  of the test cluster's ceph.conf), so a test writes nothing to /etc/ceph; a keyring
  handed in the connection is used as before.
"""

import importlib
import os
import sys

SERVICES = ("api", "scheduler", "volume", "backup", "manage", "glance", "glance-manage")
# Glance's API and its manage command (python3-glance), for tests/lib/cinder.sh's
# CINDER_GLANCE: none of the workarounds below is applied to them.
GLANCE = {"glance": "glance.cmd.api", "glance-manage": "glance.cmd.manage"}


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


SQLITE_BUSY_TIMEOUT_MS = 60000


def apply_sqlite_immediate():
    import sqlalchemy
    from sqlalchemy import pool

    def on_connect(dbapi_con, _record):
        if type(dbapi_con).__module__.startswith("sqlite3"):
            dbapi_con.execute("PRAGMA busy_timeout = %d" % SQLITE_BUSY_TIMEOUT_MS)

    def before_execute(conn, _cursor, statement, parameters, _context, _many):
        if conn.dialect.name == "sqlite" and statement.strip().upper() == "BEGIN":
            statement = "BEGIN IMMEDIATE"
        return statement, parameters

    sqlalchemy.event.listen(pool.Pool, "connect", on_connect)
    sqlalchemy.event.listen(sqlalchemy.engine.Engine, "before_cursor_execute",
                            before_execute, retval=True)


def apply_brick_keyring_dir(directory):
    from os_brick.initiator.connectors import rbd as brick_rbd

    cls = brick_rbd.RBDConnector
    shipped = cls.__dict__["_check_or_get_keyring_contents"].__func__

    def check_or_get_keyring_contents(keyring, cluster_name, user):
        if keyring is None and user:
            path = os.path.join(directory, "%s.client.%s.keyring" % (cluster_name, user))
            with open(path) as f:
                return f.read()
        return shipped(keyring, cluster_name, user)

    cls._check_or_get_keyring_contents = staticmethod(check_or_get_keyring_contents)


def apply_brick_privsep_in_process():
    from os_brick import privileged

    privileged.default.set_client_mode(False)


def main():
    if len(sys.argv) < 2 or sys.argv[1] not in SERVICES:
        sys.stderr.write("usage: cinder_launch.py %s [cinder arguments...]\n"
                         % "|".join(SERVICES))
        return 2
    service = sys.argv[1]
    # The cinder.cmd modules monkey-patch eventlet when they are imported; that must
    # happen before anything else of Cinder's (or oslo's) is loaded, so import first.
    if service in GLANCE:
        module = importlib.import_module(GLANCE[service])
        sys.argv = [service if service != "glance" else "glance-api"] + sys.argv[2:]
        return module.main()
    module = importlib.import_module("cinder.cmd." + service)
    if os.environ.get("CINDER_LAUNCH_WORKAROUND", "1") != "0":
        apply_read_deleted_default()
        if os.environ.get("CINDER_LAUNCH_SQLITE") != "deferred":
            apply_sqlite_immediate()
    if service in ("backup", "volume") and os.geteuid() == 0:
        apply_brick_privsep_in_process()
    if service in ("backup", "volume") and os.environ.get("CINDER_LAUNCH_KEYRING_DIR"):
        apply_brick_keyring_dir(os.environ["CINDER_LAUNCH_KEYRING_DIR"])
    sys.argv = ["cinder-" + service] + sys.argv[2:]
    return module.main()


if __name__ == "__main__":
    sys.exit(main())
