#!/usr/bin/python3
"""Drive Nova's own libvirt driver against a private libvirtd, for tests.

The project's tests judge the agent by what the real Nova compute code does
with the secrets it provisions. This program imports Nova from the system's
python3-nova package (Debian 12: 26.2.2, Zed) and calls Nova's classes
directly, without a nova-compute service, a database or a message bus. Each
subcommand is one short-lived process (or a step of a batch, below):

  find-secret --volume ID
        Host.find_secret('volume', ID): prints the secret's UUID, or nothing.
        Exit 0 either way.
  time-find-secret --volume ID [--count 20]
        the same call COUNT times, timed inside Python around find_secret
        only (connection made before): median, min, max.
  disk-xml --connection-info FILE [--dev vdb]
        the <disk> Nova's RBD volume driver builds from that connection_info
        at this moment: LibvirtDriver._get_volume_driver (rbd ->
        LibvirtNetVolumeDriver) .get_config(connection_info, disk_info), with
        disk_info from blockinfo.get_info_from_bdm as attach_volume gets it.
  boot --name N --connection-info FILE [...] [--bdm ...] [--scsi] [--memory-mb 64]
        a boot-from-volume instance: blockinfo.get_disk_info, then
        LibvirtDriver._get_guest_xml (Nova's whole guest config; the volumes
        go through _connect_volume and _get_volume_config, the first one is
        the root disk vda), then LibvirtDriver._create_guest(pause=True):
        defined and started paused (TCG, type qemu, no OS). --scsi sets the
        image property hw_scsi_model=virtio-scsi (a controller for
        attach --bus scsi). Nova's XML is kept in STATE/N.xml.
  attach --name N --connection-info FILE --volume ID [--dev vdb] [--bus B]
        LibvirtDriver.attach_volume(context, connection_info, instance,
        '/dev/DEV', disk_bus=B, device_type='disk', encryption=...), with
        encryption from os_brick's get_encryption_metadata and 'serial' set,
        as nova/virt/block_device.py _volume_attach passes them.
  extend-volume --name N --connection-info FILE --volume ID --size BYTES
        LibvirtDriver.extend_volume(context, connection_info, instance,
        BYTES), what ComputeManager.extend_volume runs on Cinder's
        volume-extended event (nova/compute/manager.py:10752-10761, BYTES the
        volume's new size in GiB times 2**30): for a running guest it
        resizes the disk's block device (virDomainBlockResize).
  detach --name N --connection-info FILE --volume ID [--dev vdb]
        LibvirtDriver.detach_volume(..., encryption=...) as
        DriverVolumeBlockDevice.driver_detach calls it; it ends in
        _disconnect_volume -> _detach_encryptor, which deletes the volume
        secret. Exit 1 with Nova's exception (e.g. DeviceDetachFailed when the
        guest does not release the disk).
  disconnect --connection-info FILE --volume ID [--destroy-secrets yes|no]
        LibvirtDriver._disconnect_volume(..., destroy_secrets=...), as
        shelve offload / cold migration source (yes) or hard reboot (no)
        run it.
  destroy --name N       virDomainDestroy + undefine (Nova's Guest.poweroff and
                         Guest.delete_configuration); no volume is touched.
  stop --name N          Guest.poweroff only; the definition stays.
  guest-read --name N --dev vdb --offset O --length L [--expect 0xNN] [--show 16]
        prints the first SHOW bytes at O in hex as qemu's guest device sees
        them; with --expect, also checks all L bytes equal 0xNN (exit 1 if
        not).
  guest-write --name N --dev vdb --offset O --length L --pattern 0xNN
        writes L bytes of 0xNN at O through the guest's device, then flushes.
  guest-capacity --name N --dev vdb
        the disk's capacity in bytes (virDomainGetBlockInfo, what virsh
        domblkinfo shows).

Nova's instance flows, each over a block_device_info of --bdm
FILE[:DEV[:BUS]] volumes (connection_info files; DEV vda, vdb, ... by
position; the first is the root, boot_index 0, the others as attached
later; BUS as DriverVolumeBlockDevice.disk_bus, else Nova derives it):
  spawn --name N --bdm ... [--scsi]
        LibvirtDriver.spawn (booted from volume; no image, no ports), as
        the build and ComputeManager._unshelve_instance call it; the guest
        runs.
  reboot --name N --bdm ...
        LibvirtDriver.reboot(reboot_type='HARD'): _hard_reboot destroys the
        domain with destroy_secrets=False and creates it again, running.
  shelve-offload --name N --bdm ...
        what ComputeManager._shelve_offload_instance asks of the driver
        (clean_shutdown=False): power_off, then destroy(..., block_device_info)
        with its default destroy_secrets=True.
  migrate-source --name N --bdm ... [--dest 127.0.0.1]
        LibvirtDriver.migrate_disk_and_power_off (cold migration source);
        prints the disk_info for migrate-dest. --dest equal to my_ip means a
        shared instance path (no ssh).
  migrate-dest --name N --bdm ... --disk-info FILE --source-host H [--scsi]
        LibvirtDriver.finish_migration (same flavor, power_on=True).
  confirm-migration --name N --instance-host H
        LibvirtDriver.confirm_migration on the source: the instance is on H
        now, so the domain left here is undefined.
  pre-live-migration --name N --bdm ... [--scsi] [--rollback]
        LibvirtDriver.pre_live_migration on the destination (volume-backed:
        shared block storage, instance path not shared, no block
        migration); prints "SERIAL SECRET_UUID DEV" per volume from the
        migrate_data it returns (encryption_secret_uuid, - when none).
        --rollback: then rollback_live_migration_at_destination
        (destroy_disks=False), as for an aborted migration.
  wait-secret --volume ID [--timeout 1]
        polls Host.find_secret('volume', ID) every 5 ms until it exists;
        prints "UUID waited_ms=N since_nova_delete_ms=M" (M: since Nova's
        delete_secret of it earlier in this process, - if none). Exit 1 if
        it did not come within the timeout.
  translate-ci --cinder FILE --out FILE2
        the connection_info Cinder's attachment API returned, through
        nova/volume/cinder.py _translate_attachment_ref (Nova's form).
  batch --steps FILE --out DIR
        runs subcommand lines "STEP SUBCOMMAND ARGS..." in this one process
        (Nova imported and the driver made once); OUT/STEP.out, .err, .rc,
        .ms per step; the global options are the batch's.

guest-read/-write use the HMP command qemu-io on the guest's own device
(virsh qemu-monitor-command --hmp, through libvirt-python). qemu-io prints
to qemu's stdout, which libvirt puts in the domain's log: --qemu-log-dir, by
default derived from a tests/lib/libvirt.sh URI (DIR/log/qemu) or
/var/log/libvirt/qemu.

Common options: --uri LIBVIRT_URI (required); --state DIR (Nova's
state_path and instances_path, nova.conf, Nova's log nova-harness.log; made
if missing); --host (nova.conf [DEFAULT] host, default nova-harness);
--rbd-user, --rbd-secret-uuid (nova.conf [libvirt] rbd_user,
rbd_secret_uuid); --detach-timeout, --detach-attempts ([libvirt]
device_detach_timeout/_attempts; 5 and 2 here, Nova's defaults 20 and 8);
--debug (Nova's debug log).

connection_info FILEs hold the JSON Nova keeps in its block device mapping:
{"driver_volume_type": "rbd", "data": {...}}, as Cinder's attachment API
returns it after Nova's nova/volume/cinder.py _translate_attachment_ref.

What is not Nova here: the virtapi (Nova's compute-manager interface; no
instance events are awaited), the connection event handler (it records the
service's state in Nova's database), Instance.save and
BlockDeviceMapping.save (no database), _build_device_metadata (after an
attach, and in _create_configdrive) and spawn's last step
_register_undefined_instance_details (both read the instance's BDMs from the
database). Host.delete_secret is wrapped only to note when Nova called it
(for wait-secret). Instances exist only in
memory, with the fields the driver reads; an instance's UUID is derived from
the guest name, so each process finds the same domain through
Host.get_guest. Of LibvirtDriver.init_host only its first step runs
(Host.initialize: libvirt's event loop, which ends Nova's wait for a device
removal); the rest of init_host reads instances from the database.
"""

import argparse
import contextlib
import json
import os
import re
import statistics
import sys
import time
import uuid

# A fixed namespace, so that a guest name always maps to the same instance UUID.
_NAME_NS = uuid.UUID('3d0c5e8a-7f41-4f0e-9b57-0c6b1b0e2a94')
_NAME_RE = re.compile(r'^[A-Za-z0-9][A-Za-z0-9_-]{0,62}$')


def die(msg, code=2):
    print('nova_harness: %s' % msg, file=sys.stderr)
    sys.exit(code)


def parse_args(argv):
    p = argparse.ArgumentParser(prog='nova_harness.py', allow_abbrev=False,
                                description='Drive Nova\'s libvirt driver.')
    p.add_argument('--uri', required=True, help='libvirt connection URI')
    p.add_argument('--state', default=None,
                   help='directory for Nova\'s state and log')
    p.add_argument('--host', default='nova-harness',
                   help='nova.conf [DEFAULT] host (this compute host\'s '
                        'name; instances made here are on it)')
    p.add_argument('--rbd-user', default='cinder')
    p.add_argument('--rbd-secret-uuid', default=None)
    p.add_argument('--debug', action='store_true')
    p.add_argument('--detach-timeout', type=int, default=5,
                   help='nova.conf [libvirt] device_detach_timeout (s)')
    p.add_argument('--detach-attempts', type=int, default=2,
                   help='nova.conf [libvirt] device_detach_attempts')
    p.add_argument('--qemu-log-dir', default=None,
                   help='libvirt\'s qemu log dir (guest-read/-write read '
                        'qemu-io\'s output there)')
    sub = p.add_subparsers(dest='cmd', required=True)

    s = sub.add_parser('find-secret', allow_abbrev=False)
    s.add_argument('--volume', required=True)

    s = sub.add_parser('time-find-secret', allow_abbrev=False)
    s.add_argument('--volume', required=True)
    s.add_argument('--count', type=int, default=20)

    s = sub.add_parser('disk-xml', allow_abbrev=False)
    s.add_argument('--connection-info', required=True)
    s.add_argument('--dev', default='vdb')

    s = sub.add_parser('boot', allow_abbrev=False)
    s.add_argument('--name', required=True)
    s.add_argument('--connection-info', action='append', default=[])
    s.add_argument('--memory-mb', type=int, default=64)
    s.add_argument('--scsi', action='store_true',
                   help='image property hw_scsi_model=virtio-scsi (a '
                        'virtio-scsi controller, for scsi-bus attaches)')

    s.add_argument('--bdm', action='append', default=[], metavar='FILE[:DEV[:BUS]]',
                   help='a further volume after the --connection-info ones '
                        '(see "--bdm" below)')

    def bdm_parser(name, scsi=True):
        s = sub.add_parser(name, allow_abbrev=False)
        s.add_argument('--name', required=True)
        s.add_argument('--bdm', action='append', default=[],
                       metavar='FILE[:DEV[:BUS]]')
        if scsi:
            s.add_argument('--scsi', action='store_true', default=None)
        return s

    s = bdm_parser('spawn')
    s.add_argument('--memory-mb', type=int, default=64)
    bdm_parser('reboot', scsi=False)
    bdm_parser('shelve-offload', scsi=False)
    s = bdm_parser('migrate-source', scsi=False)
    s.add_argument('--dest', default='127.0.0.1')
    s = bdm_parser('migrate-dest')
    s.add_argument('--disk-info', required=True, help='FILE: what '
                   'migrate-source printed')
    s.add_argument('--source-host', required=True)
    s = sub.add_parser('confirm-migration', allow_abbrev=False)
    s.add_argument('--name', required=True)
    s.add_argument('--instance-host', required=True,
                   help='where the instance is now (the destination)')
    s = bdm_parser('pre-live-migration')
    s.add_argument('--rollback', action='store_true',
                   help='then rollback_live_migration_at_destination, as '
                        'Nova does when the migration is aborted')

    s = sub.add_parser('translate-ci', allow_abbrev=False)
    s.add_argument('--cinder', required=True,
                   help='FILE: connection_info as Cinder\'s attachment '
                        'API returned it')
    s.add_argument('--out', required=True)

    s = sub.add_parser('wait-secret', allow_abbrev=False)
    s.add_argument('--volume', required=True)
    s.add_argument('--timeout', type=float, default=1.0)

    s = sub.add_parser('batch', allow_abbrev=False)
    s.add_argument('--steps', required=True)
    s.add_argument('--out', required=True)

    s = sub.add_parser('attach', allow_abbrev=False)
    s.add_argument('--name', required=True)
    s.add_argument('--connection-info', required=True)
    s.add_argument('--volume', required=True)
    s.add_argument('--dev', default='vdb')
    s.add_argument('--bus', default=None, help='disk_bus (virtio, scsi)')

    s = sub.add_parser('extend-volume', allow_abbrev=False)
    s.add_argument('--name', required=True)
    s.add_argument('--connection-info', required=True)
    s.add_argument('--volume', required=True)
    s.add_argument('--size', type=int, required=True, help='bytes')

    s = sub.add_parser('detach', allow_abbrev=False)
    s.add_argument('--name', required=True)
    s.add_argument('--connection-info', required=True)
    s.add_argument('--volume', required=True)
    s.add_argument('--dev', default='vdb')

    s = sub.add_parser('disconnect', allow_abbrev=False)
    s.add_argument('--connection-info', required=True)
    s.add_argument('--volume', required=True)
    s.add_argument('--destroy-secrets', choices=('yes', 'no'), default='yes')

    for name in ('destroy', 'stop'):
        s = sub.add_parser(name, allow_abbrev=False)
        s.add_argument('--name', required=True)

    s = sub.add_parser('guest-read', allow_abbrev=False)
    s.add_argument('--name', required=True)
    s.add_argument('--dev', required=True)
    s.add_argument('--offset', required=True)
    s.add_argument('--length', required=True)
    s.add_argument('--expect', default=None,
                   help='byte every read byte must equal (qemu-io read -P)')
    s.add_argument('--show', type=int, default=16,
                   help='how many leading bytes to print in hex')

    s = sub.add_parser('guest-write', allow_abbrev=False)
    s.add_argument('--name', required=True)
    s.add_argument('--dev', required=True)
    s.add_argument('--offset', required=True)
    s.add_argument('--length', required=True)
    s.add_argument('--pattern', required=True)

    s = sub.add_parser('guest-capacity', allow_abbrev=False)
    s.add_argument('--name', required=True)
    s.add_argument('--dev', required=True)

    args = p.parse_args(argv)
    if args.detach_timeout < 1 or args.detach_attempts < 1:
        die('--detach-timeout and --detach-attempts must be at least 1')
    if getattr(args, 'name', None) is not None and not _NAME_RE.match(args.name):
        die('--name must be 1-63 of [A-Za-z0-9_-], starting alphanumeric')
    for opt in ('offset', 'length'):
        v = getattr(args, opt, None)
        if v is not None and not re.match(r'^[0-9]+[kKmMgG]?$', v):
            die('--%s must be a byte count (optionally k/M/G)' % opt)
    for opt in ('pattern', 'expect'):
        v = getattr(args, opt, None)
        if v is not None and not re.match(r'^0x[0-9a-fA-F]{1,2}$', v):
            die('--%s must be one byte, 0xNN' % opt)
    if not re.match(r'^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$', args.host):
        die('--host must be 1-63 of [A-Za-z0-9_.-]')
    for spec in getattr(args, 'bdm', None) or []:
        parse_bdm(spec)
    if getattr(args, 'dev', None) is not None and \
            not re.match(r'^[a-z]{2,3}[a-z]{1,2}$', args.dev):
        die('--dev must be a disk name like vdb or sda')
    return args


# ---------------------------------------------------------------------------
# Nova's configuration and objects

def write_nova_conf(args, state):
    """nova.conf for a compute host with no service, DB or bus around it."""
    os.makedirs(os.path.join(state, 'instances'), exist_ok=True)
    os.makedirs(os.path.join(state, 'locks'), exist_ok=True)
    lines = [
        '# Written by tests/lib/nova_harness.py for one harness process.',
        '[DEFAULT]',
        'host = %s' % args.host,
        'my_ip = 127.0.0.1',
        'state_path = %s' % state,
        'instances_path = %s' % os.path.join(state, 'instances'),
        # The instance name is the guest's domain name: a template without
        # a format directive (see nova/objects/instance.py Instance.name).
        'instance_name_template = %s' % (getattr(args, 'name', None)
                                         or 'nova-harness'),
        # Nothing is sent anywhere: an in-process transport, no notifications.
        'transport_url = fake:/',
        'use_cow_images = false',
        'force_config_drive = false',
        'log_file = %s' % os.path.join(state, 'nova-harness.log'),
        'debug = %s' % ('true' if args.debug else 'false'),
        '[oslo_messaging_notifications]',
        'driver = noop',
        '[oslo_concurrency]',
        'lock_path = %s' % os.path.join(state, 'locks'),
        '[libvirt]',
        'virt_type = qemu',
        'connection_uri = %s' % args.uri,
        'rbd_user = %s' % args.rbd_user,
        # TCG: no host CPU model to pass through.
        'cpu_mode = none',
        # A paused guest without an OS never acknowledges a PCI unplug;
        # Nova's own defaults would wait 20 s x 8 attempts for it.
        'device_detach_timeout = %d' % args.detach_timeout,
        'device_detach_attempts = %d' % args.detach_attempts,
        '[vnc]',
        'enabled = false',
        '[spice]',
        'enabled = false',
    ]
    if args.rbd_secret_uuid:
        lines.insert(lines.index('[vnc]'),
                     'rbd_secret_uuid = %s' % args.rbd_secret_uuid)
    path = os.path.join(state, 'nova.conf')
    with open(path + '.new', 'w') as f:
        f.write('\n'.join(lines) + '\n')
    os.replace(path + '.new', path)
    return path


def _make(cls, context, **fields):
    """CLS(context, **FIELDS) with only the fields this Nova's CLS has
    (their sets differ a little between releases and distributions)."""
    known = {k: v for k, v in fields.items() if k in cls.fields}
    if context is None:
        return cls(**known)
    return cls(context, **known)


class Nova(object):
    """Nova's modules, configured, and the in-memory objects they need."""

    def __init__(self, args):
        state = args.state
        if state is None:
            state = os.path.join(os.environ.get('TMPDIR', '/tmp'),
                                 'nova-harness-%d' % os.getuid())
        state = os.path.abspath(state)
        os.makedirs(state, mode=0o700, exist_ok=True)
        self.state = state
        conf_path = write_nova_conf(args, state)

        # As nova-compute does (nova/cmd/__init__.py): eventlet monkey
        # patching before anything else of Nova is imported.
        import nova.monkey_patch  # noqa: F401
        from nova import config
        from nova import context as nova_context
        from nova import objects
        import nova.conf

        config.parse_args(['nova-harness', '--config-file', conf_path],
                          configure_db=False, init_rpc=True)
        from oslo_log import log as logging
        logging.setup(nova.conf.CONF, 'nova')
        objects.register_all()
        # Options ComputeManager.init_host registers before the driver runs.
        nova.conf.neutron.register_dynamic_opts(nova.conf.CONF)
        nova.conf.devices.register_dynamic_opts(nova.conf.CONF)

        self.CONF = nova.conf.CONF
        self.objects = objects
        self.context = nova_context.get_admin_context()
        self._driver = None
        self._host = None
        # (usage type, usage id) -> time.monotonic() of Nova's delete_secret
        self.secret_deleted = {}

    # -- the driver ------------------------------------------------------
    @property
    def driver(self):
        if self._driver is None:
            from nova.virt import virtapi
            from nova.virt.libvirt import driver as libvirt_driver

            class HarnessVirtAPI(virtapi.VirtAPI):
                """Nova's compute-manager interface; nothing waits here."""

                @contextlib.contextmanager
                def wait_for_instance_event(self, instance, event_names,
                                            deadline=300,
                                            error_callback=None):
                    yield

                def exit_wait_early(self, events):
                    pass

                def update_compute_provider_status(self, context, rp_uuid,
                                                   enabled):
                    pass

            if self._host is not None:
                die('internal: Host made before the driver')
            drv = libvirt_driver.LibvirtDriver(HarnessVirtAPI(),
                                               read_only=False)
            # On connect, LibvirtDriver._handle_conn_event records the compute
            # service as enabled in Nova's database (_set_host_enabled);
            # there is no database or service record here.
            drv._host._conn_event_handler = None
            # The first step of LibvirtDriver.init_host: libvirt's event loop
            # (device-removed events end Nova's wait in detach). The rest of
            # init_host reads instances from the database, which there isn't.
            drv._host.initialize()
            # When Nova's code (_detach_encryptor) deleted a volume secret,
            # for wait-secret: the call itself is Nova's, only timed here.
            nova_delete_secret = drv._host.delete_secret
            deleted = self.secret_deleted

            def delete_secret(usage_type, usage_id):
                nova_delete_secret(usage_type, usage_id)
                deleted[(usage_type, usage_id)] = time.monotonic()
            drv._host.delete_secret = delete_secret
            # attach_volume and _create_configdrive (spawn, finish_migration)
            # rebuild the instance's device metadata from its BDMs in Nova's
            # database; there is no database here.
            drv._build_device_metadata = lambda context, instance: None
            # spawn's last step records image property defaults, reading the
            # instance's BDMs from Nova's database.
            drv._register_undefined_instance_details = \
                lambda context, instance: None
            self._driver = drv
        return self._driver

    @property
    def host(self):
        """The driver's Host, or (no driver needed) a Host of its own."""
        if self._driver is not None:
            return self._driver._host
        if self._host is None:
            from nova.virt.libvirt import host as libvirt_host
            self._host = libvirt_host.Host(self.CONF.libvirt.connection_uri,
                                           read_only=False)
        return self._host

    # -- in-memory objects -------------------------------------------------
    def image_meta(self, scsi=False):
        props = {}
        if scsi:
            props['hw_scsi_model'] = 'virtio-scsi'
        return self.objects.ImageMeta.from_dict(
            {'disk_format': 'raw', 'container_format': 'bare',
             'properties': props})

    def _settings_path(self, name):
        return os.path.join(self.state, 'guest-%s.json' % name)

    def save_settings(self, name, settings):
        """What boot chose for guest NAME, for the later processes."""
        with open(self._settings_path(name), 'w') as f:
            json.dump(settings, f)

    def forget_settings(self, name):
        try:
            os.unlink(self._settings_path(name))
        except FileNotFoundError:
            pass

    def instance(self, name, memory_mb=None, scsi=None):
        """The in-memory Instance of guest NAME (as boot made it)."""
        o = self.objects
        saved = {}
        try:
            with open(self._settings_path(name)) as f:
                saved = json.load(f)
        except (OSError, ValueError):
            pass
        if memory_mb is None:
            memory_mb = int(saved.get('memory_mb', 64))
        if scsi is None:
            scsi = bool(saved.get('scsi', False))

        class HarnessInstance(o.Instance):
            """An Instance that is never written to a database."""

            def save(self, *a, **kw):
                self.obj_reset_changes(recursive=True)

        flavor = _make(
            o.Flavor, None, id=1, flavorid='harness', name='harness.tiny',
            memory_mb=memory_mb, vcpus=1, root_gb=0, ephemeral_gb=0, swap=0,
            rxtx_factor=1.0, vcpu_weight=0, disabled=False, is_public=True,
            extra_specs={}, description=None)
        image_meta = self.image_meta(scsi)
        sysmeta = {}
        for k, v in image_meta.properties.obj_to_primitive()[
                'nova_object.data'].items():
            sysmeta['image_' + k] = str(v)
        inst = _make(HarnessInstance, self.context,
            id=1,
            uuid=str(uuid.uuid5(_NAME_NS, name)),
            display_name=name,
            hostname=name,
            host=self.CONF.host,
            node=self.CONF.host,
            project_id='harness-project',
            user_id='harness-user',
            image_ref='',
            kernel_id='',
            ramdisk_id='',
            flavor=flavor,
            old_flavor=None,
            new_flavor=None,
            instance_type_id=1,
            memory_mb=memory_mb,
            vcpus=1,
            root_gb=0,
            ephemeral_gb=0,
            root_device_name='/dev/vda',
            default_ephemeral_device=None,
            default_swap_device=None,
            config_drive='',
            os_type=None,
            vm_mode=None,
            architecture=None,
            vm_state='active',
            task_state=None,
            power_state=1,
            system_metadata=sysmeta,
            metadata={},
            numa_topology=None,
            pci_requests=o.InstancePCIRequests(requests=[]),
            pci_devices=o.PciDeviceList(objects=[]),
            vcpu_model=None,
            trusted_certs=None,
            resources=None,
            device_metadata=None,
            ephemeral_key_uuid=None,
            key_data=None,
            launched_at=None,
            created_at=None,
            availability_zone=None,
            info_cache=None,
            security_groups=o.SecurityGroupList(objects=[]),
            migration_context=None,
            keypairs=o.KeyPairList(objects=[]),
            tags=o.TagList(objects=[]),
            services=o.ServiceList(objects=[]),
            fault=None,
            hidden=False,
            cleaned=False,
            deleted=False,
        )
        # Instance.image_meta is read from system_metadata; this instance
        # booted from a volume with these image properties.
        inst.obj_reset_changes(recursive=True)
        return inst

    def block_device_info(self, inst, paths=(), bdms=()):
        """Nova's block_device_info for instance INST: the volumes of the
        connection_info files PATHS (vda, vdb, ...; boot_index 0, 1, ...)
        then those of the --bdm specs BDMS (FILE[:DEV[:BUS]]; the first
        volume overall is the root, boot_index 0; the others, as volumes
        attached later, have none)."""
        letters = 'abcdefghijklmnop'
        specs = [(p, None, None, True) for p in paths] + \
            [parse_bdm(b) + (False,) for b in bdms]
        if not specs:
            die('at least one volume (--bdm or --connection-info) is needed')
        if len(specs) > len(letters):
            die('at most %d volumes' % len(letters))
        out = []
        for i, (path, dev, bus, indexed) in enumerate(specs):
            ci = load_connection_info(path)
            ci = with_serial(ci, ci['data'].get('volume_id'))
            dev = dev or 'vd' + letters[i]
            boot_index = i if indexed else (0 if i == 0 else None)
            out.append(self.volume_bdm(inst, ci, '/dev/' + dev, boot_index,
                                       disk_bus=bus, bdm_id=i + 1))
        inst.root_device_name = out[0]['mount_device']
        return {
            'root_device_name': inst.root_device_name,
            'ephemerals': [],
            'swap': None,
            'block_device_mapping': out,
        }

    def volume_bdm(self, inst, connection_info, device_name, boot_index,
                   disk_bus=None, bdm_id=None):
        """A DriverVolumeBlockDevice over an in-memory BlockDeviceMapping."""
        o = self.objects
        from nova.virt import block_device as driver_block_device

        class HarnessBDM(o.BlockDeviceMapping):
            def save(self, *a, **kw):
                self.obj_reset_changes()

        vol_id = connection_info['data']['volume_id']
        bdm = _make(
            HarnessBDM, self.context,
            id=bdm_id if bdm_id is not None else boot_index + 1,
            instance_uuid=inst.uuid,
            source_type='volume', destination_type='volume',
            volume_id=vol_id, volume_size=None, volume_type=None,
            snapshot_id=None, image_id=None,
            device_name=device_name, boot_index=boot_index,
            disk_bus=disk_bus, device_type='disk', guest_format=None,
            delete_on_termination=False, no_device=False, tag=None,
            attachment_id=None,
            connection_info=json.dumps(connection_info),
            encrypted=False, encryption_secret_uuid=None,
            encryption_format=None, encryption_options=None)
        return driver_block_device.DriverVolumeBlockDevice(bdm)


def parse_bdm(spec):
    """--bdm FILE[:DEV[:BUS]] -> (FILE, DEV or None, BUS or None)."""
    parts = spec.split(':')
    if len(parts) > 3 or not parts[0]:
        die('--bdm must be FILE[:DEV[:BUS]]: %s' % spec)
    dev = parts[1] if len(parts) > 1 and parts[1] else None
    bus = parts[2] if len(parts) > 2 and parts[2] else None
    if dev is not None and not re.match(r'^[a-z]{2,3}[a-z]{1,2}$', dev):
        die('--bdm %s: DEV must be a disk name like vdb or sda' % spec)
    if bus is not None and bus not in ('virtio', 'scsi', 'ide', 'sata', 'usb'):
        die('--bdm %s: unknown BUS' % spec)
    return parts[0], dev, bus


def load_connection_info(path):
    try:
        with open(path) as f:
            ci = json.load(f)
    except (OSError, ValueError) as e:
        die('cannot read connection_info %s: %s' % (path, e))
    if not isinstance(ci, dict) or not isinstance(ci.get('data'), dict):
        die('%s: expected {"driver_volume_type": ..., "data": {...}}' % path)
    return ci


def volume_connection_info(path, volume_id):
    ci = load_connection_info(path)
    if ci['data'].get('volume_id') not in (None, volume_id):
        die('%s is for volume %s, not %s'
            % (path, ci['data'].get('volume_id'), volume_id))
    return with_serial(ci, volume_id)


def with_serial(ci, volume_id):
    """What nova/virt/block_device.py _volume_attach adds before the driver."""
    ci = dict(ci)
    if 'serial' not in ci:
        ci['serial'] = volume_id
    return ci


# ---------------------------------------------------------------------------
# Subcommands

def cmd_find_secret(nova, args):
    secret = nova.host.find_secret('volume', args.volume)
    if secret is not None:
        print(secret.UUIDString())
    return 0


def cmd_time_find_secret(nova, args):
    if not 1 <= args.count <= 10000:
        die('--count must be 1..10000')
    host = nova.host
    host.get_connection()  # connect once, outside the timing
    found = None
    times = []
    for _ in range(args.count):
        t0 = time.perf_counter()
        found = host.find_secret('volume', args.volume)
        times.append(time.perf_counter() - t0)
    print('find_secret x%d: median %.3f ms, min %.3f ms, max %.3f ms (%s)'
          % (args.count, statistics.median(times) * 1e3, min(times) * 1e3,
             max(times) * 1e3,
             'found %s' % found.UUIDString() if found else 'not found'))
    return 0


def cmd_disk_xml(nova, args):
    from nova.virt.libvirt import blockinfo
    ci = load_connection_info(args.connection_info)
    vol_id = ci['data'].get('volume_id')
    ci = with_serial(ci, vol_id)
    inst = nova.instance('nova-harness')
    # The disk_info LibvirtDriver.attach_volume derives for this mountpoint.
    disk_info = blockinfo.get_info_from_bdm(
        inst, nova.CONF.libvirt.virt_type, inst.image_meta,
        {'device_name': args.dev, 'disk_bus': None, 'device_type': None})
    vol_driver = nova.driver._get_volume_driver(ci)
    conf = vol_driver.get_config(ci, disk_info)
    print('nova_harness: %s.get_config' % type(vol_driver).__name__,
          file=sys.stderr)
    xml = conf.to_xml()
    sys.stdout.write(xml if xml.endswith('\n') else xml + '\n')
    return 0


def cmd_boot(nova, args):
    from nova.virt.libvirt import blockinfo
    from nova.virt.libvirt import utils as libvirt_utils
    from nova.network import model as network_model
    if not args.connection_info and not args.bdm:
        die('boot needs at least one --connection-info (the root volume)')
    inst = nova.instance(args.name, memory_mb=args.memory_mb, scsi=args.scsi)
    image_meta = nova.image_meta(args.scsi)
    block_device_info = nova.block_device_info(inst, args.connection_info,
                                               args.bdm)
    drv = nova.driver
    # As LibvirtDriver.spawn does, minus image creation (booted from volume)
    # and networking (no ports).
    disk_info = blockinfo.get_disk_info(nova.CONF.libvirt.virt_type, inst,
                                        image_meta, block_device_info)
    os.makedirs(libvirt_utils.get_instance_path(inst), exist_ok=True)
    xml = drv._get_guest_xml(nova.context, inst, network_model.NetworkInfo(),
                             disk_info, image_meta,
                             block_device_info=block_device_info)
    with open(os.path.join(nova.state, '%s.xml' % args.name), 'w') as f:
        f.write(xml)
    try:
        guest = drv._create_guest(nova.context, xml, inst, power_on=False,
                                  pause=True)
    except Exception:
        # Guest.create defined the domain before the start failed; as a
        # failed spawn ends (LibvirtDriver._cleanup), leave nothing defined.
        try:
            nova.host.get_guest(inst).delete_configuration()
        except Exception:
            pass
        raise
    nova.save_settings(args.name, {'memory_mb': args.memory_mb,
                                   'scsi': args.scsi})
    print('%s %s' % (guest.name, guest.uuid))
    return 0


def _instance_for(nova, args):
    """The instance of a --bdm subcommand (--scsi, --memory-mb if given,
    else what boot/spawn saved), with its block_device_info."""
    scsi = getattr(args, 'scsi', None)
    inst = nova.instance(args.name, memory_mb=getattr(args, 'memory_mb', None),
                         scsi=scsi)
    return inst, nova.block_device_info(inst, (), args.bdm)


def _network_info():
    from nova.network import model as network_model
    return network_model.NetworkInfo()


def _save_instance_settings(nova, inst, name):
    props = inst.image_meta.properties
    nova.save_settings(name, {
        'memory_mb': inst.memory_mb,
        'scsi': props.obj_attr_is_set('hw_scsi_model') and
        props.hw_scsi_model == 'virtio-scsi'})


def cmd_spawn(nova, args):
    """LibvirtDriver.spawn, as ComputeManager._build_and_run_instance and
    _unshelve_instance call it (booted from volume: no image; no ports)."""
    inst, bdi = _instance_for(nova, args)
    os.makedirs(os.path.join(nova.state, 'instances'), exist_ok=True)
    nova.driver.spawn(nova.context, inst, inst.image_meta, injected_files=[],
                      admin_password=None, allocations={},
                      network_info=_network_info(), block_device_info=bdi,
                      power_on=True)
    _save_instance_settings(nova, inst, args.name)
    guest = nova.host.get_guest(inst)
    print('%s %s' % (guest.name, guest.uuid))
    return 0


def cmd_reboot(nova, args):
    """LibvirtDriver.reboot(reboot_type='HARD'), as
    ComputeManager.reboot_instance calls it: _hard_reboot, which destroys
    the domain with destroy_secrets=False and creates it again."""
    inst, bdi = _instance_for(nova, args)
    nova.driver.reboot(nova.context, inst, _network_info(), 'HARD',
                       block_device_info=bdi)
    return 0


def cmd_shelve_offload(nova, args):
    """What ComputeManager._shelve_offload_instance does with the driver
    (clean_shutdown=False: no guest OS here to answer ACPI): power_off, then
    destroy(context, instance, network_info, block_device_info), whose
    destroy_secrets defaults to True."""
    inst, bdi = _instance_for(nova, args)
    nova.driver.power_off(inst, 0, 0)
    nova.driver.destroy(nova.context, inst, _network_info(), bdi)
    nova.forget_settings(args.name)
    return 0


def cmd_migrate_source(nova, args):
    """LibvirtDriver.migrate_disk_and_power_off, the source side of a cold
    migration (ComputeManager._resize_instance); prints its disk_info."""
    inst, bdi = _instance_for(nova, args)
    disk_info = nova.driver.migrate_disk_and_power_off(
        nova.context, inst, args.dest, inst.flavor, _network_info(),
        block_device_info=bdi, timeout=0, retry_interval=0)
    print(disk_info)
    return 0


def cmd_migrate_dest(nova, args):
    """LibvirtDriver.finish_migration, the destination side of a cold
    migration (ComputeManager._finish_resize), same flavor."""
    inst, bdi = _instance_for(nova, args)
    inst.old_flavor = inst.flavor
    inst.new_flavor = inst.flavor
    with open(args.disk_info) as f:
        disk_info = f.read().strip()
    migration = _make(nova.objects.Migration, None,
                      source_compute=args.source_host,
                      dest_compute=nova.CONF.host,
                      migration_type='migration', status='finished')
    os.makedirs(os.path.join(nova.state, 'instances'), exist_ok=True)
    nova.driver.finish_migration(nova.context, migration, inst, disk_info,
                                 _network_info(), inst.image_meta,
                                 resize_instance=False, allocations={},
                                 block_device_info=bdi, power_on=True)
    _save_instance_settings(nova, inst, args.name)
    return 0


def cmd_confirm_migration(nova, args):
    """LibvirtDriver.confirm_migration on the source
    (ComputeManager._confirm_resize): the domain left here is undefined."""
    inst = nova.instance(args.name)
    inst.host = args.instance_host
    inst.old_flavor = inst.flavor
    inst.new_flavor = inst.flavor
    migration = _make(nova.objects.Migration, None,
                      source_compute=nova.CONF.host,
                      dest_compute=args.instance_host,
                      migration_type='migration', status='confirming')
    nova.driver.confirm_migration(nova.context, migration, inst,
                                  _network_info())
    nova.forget_settings(args.name)
    return 0


def cmd_pre_live_migration(nova, args):
    """LibvirtDriver.pre_live_migration on the destination, before any
    guest moves (volume-backed: shared block storage, instance path not
    shared, no block migration). Prints one line per volume: its serial
    and the encryption_secret_uuid Nova found here (find_secret), or -.
    --rollback: then rollback_live_migration_at_destination as Nova calls
    it for that case (destroy_disks=False: shared block storage)."""
    inst, bdi = _instance_for(nova, args)
    o = nova.objects
    os.makedirs(os.path.join(nova.state, 'instances'), exist_ok=True)
    md = o.LibvirtLiveMigrateData(
        is_shared_instance_path=False, is_shared_block_storage=True,
        block_migration=False, instance_relative_path=inst.uuid,
        graphics_listen_addr_vnc='127.0.0.1',
        graphics_listen_addr_spice='127.0.0.1',
        serial_listen_addr='127.0.0.1', src_supports_native_luks=True,
        bdms=[])
    md = nova.driver.pre_live_migration(nova.context, inst, bdi,
                                        _network_info(), None, md)
    for b in md.bdms:
        secret = b.encryption_secret_uuid \
            if b.obj_attr_is_set('encryption_secret_uuid') else None
        print('%s %s %s' % (b.serial, secret or '-', b.dev))
    if args.rollback:
        nova.driver.rollback_live_migration_at_destination(
            nova.context, inst, _network_info(), bdi, destroy_disks=False,
            migrate_data=md)
    return 0


def cmd_translate_ci(nova, args):
    """Cinder's attachment connection_info as Nova keeps it: through
    nova/volume/cinder.py _translate_attachment_ref ("data" put back)."""
    from nova.volume import cinder
    with open(args.cinder) as f:
        ci = json.load(f)
    ref = cinder._translate_attachment_ref({'id': 'x', 'connection_info': ci})
    with open(args.out + '.new', 'w') as f:
        json.dump(ref['connection_info'], f, indent=1)
    os.replace(args.out + '.new', args.out)
    return 0


def cmd_wait_secret(nova, args):
    """Polls Host.find_secret('volume', ID) (every 5 ms, at most --timeout
    s) until a secret exists. Prints its UUID, how long this waited and how
    long after Nova's own delete_secret of it in this process (- if Nova
    did not delete it here). Exit 1 if none came."""
    host = nova.host
    host.get_connection()
    start = time.monotonic()
    while True:
        found = host.find_secret('volume', args.volume)
        now = time.monotonic()
        if found is not None:
            deleted = nova.secret_deleted.get(('volume', args.volume))
            print('%s waited_ms=%d since_nova_delete_ms=%s' % (
                found.UUIDString(), (now - start) * 1000,
                '%d' % ((now - deleted) * 1000) if deleted else '-'))
            return 0
        if now - start > args.timeout:
            print('none after %d ms' % ((now - start) * 1000))
            return 1
        time.sleep(0.005)


def cmd_batch(nova, args, global_argv):
    """Runs the subcommands listed in --steps in this one process (Nova is
    imported and the driver made once): each line "STEP SUBCOMMAND ARGS..."
    (shell-like quoting; # comments). Each step's stdout, stderr and exit
    code go to OUT/STEP.out, .err, .rc, its duration in ms to OUT/STEP.ms;
    one summary line per step on stdout. The global options are this
    process's. Steps run in order whatever the others' outcome."""
    import shlex
    os.makedirs(args.out, exist_ok=True)
    # The driver first: its Host (with libvirt's event loop) serves the
    # steps that only need a Host, too.
    nova.driver  # noqa: B018
    try:
        with open(args.steps) as f:
            lines = f.read().splitlines()
    except OSError as e:
        die('cannot read %s: %s' % (args.steps, e))
    for line in lines:
        words = shlex.split(line, comments=True)
        if not words:
            continue
        step, argv = words[0], words[1:]
        if not re.match(r'^[A-Za-z0-9_.-]+$', step) or not argv or \
                argv[0] == 'batch':
            die('bad step line: %s' % line)
        base = os.path.join(args.out, step)
        t0 = time.monotonic()
        with open(base + '.out', 'w') as out, open(base + '.err', 'w') as err:
            with contextlib.redirect_stdout(out), \
                    contextlib.redirect_stderr(err):
                rc = run_step(nova, global_argv + argv)
        ms = int((time.monotonic() - t0) * 1000)
        with open(base + '.rc', 'w') as f:
            f.write('%d\n' % rc)
        with open(base + '.ms', 'w') as f:
            f.write('%d\n' % ms)
        print('%s rc=%d %d ms' % (step, rc, ms))
        sys.stdout.flush()
    return 0


def run_step(nova, argv):
    try:
        step_args = parse_args(argv)
    except SystemExit as e:
        return e.code if isinstance(e.code, int) else 2
    # The instance name is the domain name (instance_name_template).
    nova.CONF.set_override('instance_name_template',
                           getattr(step_args, 'name', None) or 'nova-harness')
    try:
        return COMMANDS[step_args.cmd](nova, step_args)
    except SystemExit as e:
        return e.code if isinstance(e.code, int) else 1
    except Exception as e:
        import traceback
        traceback.print_exc(limit=-4, file=sys.stderr)
        print('nova_harness: %s failed: %s: %s' % (step_args.cmd,
                                                   type(e).__name__, e),
              file=sys.stderr)
        return 1


def _guest(nova, name):
    inst = nova.instance(name)
    return inst, nova.host.get_guest(inst)


def cmd_attach(nova, args):
    from os_brick import encryptors
    ci = volume_connection_info(args.connection_info, args.volume)
    inst = nova.instance(args.name)
    drv = nova.driver
    # As nova/virt/block_device.py _volume_attach does before the driver.
    encryption = encryptors.get_encryption_metadata(
        nova.context, drv._volume_api, args.volume, ci)
    # attach_volume ends with _build_device_metadata (stubbed, see
    # Nova.driver) and instance.save().
    drv.attach_volume(nova.context, ci, inst, '/dev/' + args.dev,
                      disk_bus=args.bus, device_type='disk',
                      encryption=encryption)
    return 0


def cmd_extend_volume(nova, args):
    ci = volume_connection_info(args.connection_info, args.volume)
    inst = nova.instance(args.name)
    nova.driver.extend_volume(nova.context, ci, inst, args.size)
    return 0


def cmd_detach(nova, args):
    from os_brick import encryptors
    ci = volume_connection_info(args.connection_info, args.volume)
    inst = nova.instance(args.name)
    drv = nova.driver
    # As DriverVolumeBlockDevice.driver_detach does.
    encryption = encryptors.get_encryption_metadata(
        nova.context, drv._volume_api, args.volume, ci)
    drv.detach_volume(nova.context, ci, inst, '/dev/' + args.dev,
                      encryption=encryption)
    return 0


def cmd_disconnect(nova, args):
    ci = volume_connection_info(args.connection_info, args.volume)
    inst = nova.instance('nova-harness')
    nova.driver._disconnect_volume(
        nova.context, ci, inst, destroy_secrets=args.destroy_secrets == 'yes')
    return 0


def cmd_destroy(nova, args, undefine=True):
    import libvirt
    from nova import exception
    try:
        inst, guest = _guest(nova, args.name)
    except exception.InstanceNotFound:
        return 0
    if guest.is_active():
        guest.poweroff()
    if undefine:
        try:
            guest.delete_configuration()
        except libvirt.libvirtError as e:
            die('undefine %s: %s' % (args.name, e), 1)
        nova.forget_settings(args.name)
    return 0


def _alias(guest, dev):
    """The qdev id libvirt gave the disk with target dev DEV."""
    conf = guest.get_disk(dev)
    if conf is None or not conf.alias:
        die('%s has no live disk %s' % (guest.name, dev), 1)
    return conf.alias


def _qemu_log(args, name):
    """Where libvirt puts the qemu process's stdout: <log dir>/qemu/NAME.log.

    A private libvirtd from tests/lib/libvirt.sh (socket DIR/sock/...) logs
    to DIR/log; a system libvirtd to /var/log/libvirt. --qemu-log-dir wins.
    """
    d = args.qemu_log_dir
    if not d:
        from urllib.parse import parse_qs, urlsplit
        sock = parse_qs(urlsplit(args.uri).query).get('socket', [''])[0]
        tail = '/sock/libvirt-sock'
        if sock.endswith(tail):
            d = os.path.join(sock[:-len(tail)], 'log', 'qemu')
        else:
            d = '/var/log/libvirt/qemu'
    return os.path.join(d, name + '.log')


# qemu-io prints its reports with printf: they go to qemu's stdout, which
# libvirt (virtlogd) copies into the domain's log, not to the monitor.
_REPORT_END = re.compile(r'ops/sec\)\s*$|failed: .*$', re.M)


class QemuIO(object):
    """The HMP qemu-io command on one disk of a running guest."""

    def __init__(self, nova, args):
        import libvirt_qemu
        self._lq = libvirt_qemu
        inst, self.guest = _guest(nova, args.name)
        alias = _alias(self.guest, args.dev)
        # qemu-io -d takes a device (qdev id or QOM path) and uses that
        # device's own BlockBackend, so a write needs no extra permission.
        # A virtio-blk-pci proxy has no BlockBackend; its virtio-backend child
        # does. scsi-hd and the like have it themselves.
        if alias.startswith('virtio-disk'):
            self.device = '/machine/peripheral/%s/virtio-backend' % alias
        else:
            self.device = alias
        self.log = _qemu_log(args, args.name)

    def run(self, command, timeout=15.0, wait=True):
        """Run COMMAND; return the text qemu printed for it (WAIT: wait for
        the report that ends every read/write, at most TIMEOUT s)."""
        try:
            start = os.path.getsize(self.log)
        except OSError as e:
            die('cannot read the qemu log %s: %s (see --qemu-log-dir)'
                % (self.log, e), 1)
        hmp = 'qemu-io -d %s "%s"' % (self.device, command)
        out = self._lq.qemuMonitorCommand(
            self.guest._domain, hmp,
            self._lq.VIR_DOMAIN_QEMU_MONITOR_COMMAND_HMP)
        if out.strip() or not wait:
            # The monitor itself answers only when qemu-io could not start.
            return out
        deadline = time.monotonic() + timeout
        text = ''
        while True:
            with open(self.log, 'rb') as f:
                f.seek(start)
                text = f.read().decode('utf-8', 'replace')
            if _REPORT_END.search(text):
                return text
            if time.monotonic() > deadline:
                return text + '\n(no qemu-io report in %s within %.0f s)\n' % (
                    self.log, timeout)
            time.sleep(0.05)


def _qemu_io_ok(out, verb):
    if re.search(r'failed|error|cannot|no qemu-io report', out, re.I):
        return False
    return re.search(r'^%s \d+/\d+ bytes at offset \d+' % verb, out,
                     re.M) is not None


def cmd_guest_write(nova, args):
    qio = QemuIO(nova, args)
    out = qio.run('write -P %s %s %s' % (args.pattern, args.offset,
                                         args.length))
    sys.stderr.write(out)
    if not _qemu_io_ok(out, 'wrote'):
        return 1
    # flush prints nothing when it works: a small read after it marks the end.
    out = qio.run('flush', wait=False)
    out += qio.run('read 0 512')
    if not _qemu_io_ok(out, 'read'):
        sys.stderr.write(out)
        return 1
    return 0


def cmd_guest_read(nova, args):
    show = max(1, min(args.show, 512))
    qio = QemuIO(nova, args)
    out = qio.run('read -v %s %d' % (args.offset, show))
    if not _qemu_io_ok(out, 'read'):
        sys.stderr.write(out)
        return 1
    hexbytes = []
    for line in out.splitlines():
        m = re.match(r'^[0-9a-f]{8}:\s+((?:[0-9a-f]{2} )+)', line)
        if m:
            hexbytes.extend(m.group(1).split())
    print(' '.join(hexbytes[:show]))
    if args.expect is not None:
        out = qio.run('read -P %s %s %s' % (args.expect, args.offset,
                                            args.length))
        sys.stderr.write(out)
        if not _qemu_io_ok(out, 'read') or 'Pattern verification failed' \
                in out:
            print('pattern %s: MISMATCH' % args.expect)
            return 1
        print('pattern %s: ok' % args.expect)
    return 0


def cmd_guest_capacity(nova, args):
    inst, guest = _guest(nova, args.name)
    capacity, _alloc, _phys = guest._domain.blockInfo(args.dev, 0)
    print(capacity)
    return 0


COMMANDS = {
    'find-secret': cmd_find_secret,
    'time-find-secret': cmd_time_find_secret,
    'disk-xml': cmd_disk_xml,
    'boot': cmd_boot,
    'attach': cmd_attach,
    'extend-volume': cmd_extend_volume,
    'detach': cmd_detach,
    'disconnect': cmd_disconnect,
    'destroy': cmd_destroy,
    'stop': lambda nova, args: cmd_destroy(nova, args, undefine=False),
    'guest-read': cmd_guest_read,
    'guest-write': cmd_guest_write,
    'guest-capacity': cmd_guest_capacity,
    'spawn': cmd_spawn,
    'reboot': cmd_reboot,
    'shelve-offload': cmd_shelve_offload,
    'migrate-source': cmd_migrate_source,
    'migrate-dest': cmd_migrate_dest,
    'confirm-migration': cmd_confirm_migration,
    'pre-live-migration': cmd_pre_live_migration,
    'wait-secret': cmd_wait_secret,
    'translate-ci': cmd_translate_ci,
}


def main(argv):
    args = parse_args(argv)
    nova = Nova(args)
    try:
        if args.cmd == 'batch':
            return cmd_batch(nova, args, argv[:argv.index('batch')])
        return COMMANDS[args.cmd](nova, args)
    except Exception as e:
        # Nova's log (in --state) has the whole story; say what broke here.
        import traceback
        traceback.print_exc(limit=-4, file=sys.stderr)
        print('nova_harness: %s failed: %s: %s (log: %s)'
              % (args.cmd, type(e).__name__, e,
                 os.path.join(nova.state, 'nova-harness.log')),
              file=sys.stderr)
        return 1


if __name__ == '__main__':
    rc = main(sys.argv[1:])
    sys.stdout.flush()
    sys.stderr.flush()
    # No interpreter teardown: libvirt-python's finalizers and eventlet's
    # native threads would run after their modules are gone.
    os._exit(rc)
