#!/usr/bin/env bash
# The real Cinder (python3-cinder, Debian 12: 21.3.1, Zed) for tests, with all of its state
# in one dir: cinder-api, cinder-scheduler and cinder-volume with the RBD driver on a
# private Ceph cluster (and, when asked, cinder-backup), RPC and notifications over a
# private RabbitMQ broker.
#
#   tests/lib/cinder.sh start DIR    write DIR/cinder.conf, create the database, start the
#                                    three services (four with CINDER_BACKUP) and wait until
#                                    a volume can be placed; prints CINDER_* lines for eval
#   tests/lib/cinder.sh stop DIR     stop the services listed in DIR/*.pid, by PID; idempotent
#
#   . tests/lib/cinder.sh            defines cinder_start DIR and cinder_stop DIR; runs nothing
#
# Inputs (environment):
#   CEPH_CONF          the cluster's ceph.conf (tests/lib/ceph-cluster.sh); client.cinder's
#                      keyring beside it, pool "volumes", and a ceph-mgr running
#                      (ceph-cluster.sh start-mgr): the RBD driver reads pool stats from it
#   AMQP_HOST, AMQP_PORT, AMQP_USER, AMQP_PASSWORD_FILE, AMQP_VHOST (default /)
#                      the broker, as tests/lib/rabbitmq.sh start prints it; its exchange
#                      "openstack" is durable, so Cinder's exchanges and queues are too
#   CINDER_DEBUG       yes: debug logging (default no)
#   CINDER_PYTHON      the interpreter python3-cinder is installed for (default /usr/bin/python3)
#   CINDER_START_TIMEOUT  seconds start waits for the services (default 120)
#   CINDER_SECOND_POOL POOL: a second RBD backend "ceph2" on that pool of the same cluster
#                      (client.cinder must have caps on it), for migrations between
#                      backends; unset (the default): one backend
#   CINDER_GLANCE      file: also start Glance's API (python3-glance) with its file store in
#                      DIR/glance, and point Cinder at it (glance_api_servers): volumes from
#                      images and uploads of volumes to images; unset (the default): none
#   CINDER_BACKUP      posix: also start cinder-backup with the posix driver
#                      (cinder.backup.drivers.posix.PosixBackupDriver), its backups under
#                      DIR/backup; unset (the default): no backup service, nothing about
#                      backups in cinder.conf
#   CINDER_MAX_OVER_SUBSCRIPTION_RATIO  a number: max_over_subscription_ratio of the backend
#                      (Cinder's default 20.0, cinder/volume/driver.py:158-159). The scheduler's
#                      capacity filter refuses a thin volume larger than free capacity times
#                      that ratio (cinder/scheduler/filters/capacity_filter.py:144-190), and a
#                      memstore OSD reports about its device bytes as capacity, so volumes of
#                      tens of GiB need more on a small test cluster (bench/cinder_create.sh);
#                      unset (the default): the option is not written
#
# Printed, one per line, for eval:
#   CINDER_URL=http://127.0.0.1:PORT/v3/admin   the API, project "admin" in the path
#   CINDER_DIR=DIR
#   CINDER_HOST=HOST                            the volume service is HOST@ceph, its pool
#                                               HOST@ceph#ceph
#   CINDER_RBD_SECRET_UUID=UUID                 the rbd_secret_uuid Cinder hands to Nova
#   CINDER_BACKUP_DIR=DIR/backup                with CINDER_BACKUP=posix: where backups go
#   GLANCE_URL=http://127.0.0.1:PORT            with CINDER_GLANCE=file: Glance's API
#
# What it sets up, and why:
# - No authentication, project id in the URL (auth_strategy noauth_include_project_id,
#   project_id_regex wide enough for "admin"). Callers send X-Auth-Token: USER:PROJECT;
#   the token is not checked, every caller is an admin. A paste file of our own in DIR
#   wires the v3 API for that strategy (Debian ships api-paste.ini in cinder-common,
#   which is not needed here).
# - Notifications: driver messagingv2 on the topics "notifications" and
#   "notifications_luks"; oslo.messaging publishes them to exchange "openstack" with
#   routing keys <topic>.<priority> and declares a durable queue of that name on first use.
# - One backend "ceph": cinder.volume.drivers.rbd.RBDDriver, pool volumes, user cinder,
#   a fixed rbd_secret_uuid.
# - Glance (CINDER_GLANCE): glance-api alone, one process, sqlite, the file store, no
#   authentication (a paste pipeline of Glance's own factories with its unauthenticated
#   context, glance/api/middleware/context.py:160-170: every caller is an admin). Cinder
#   talks to it without a token (auth_strategy is not keystone: cinder/image/glance.py).
# - [nova] points at a closed port: Cinder's calls to Nova fail and are logged (see there).
# - Key manager: Cinder's ConfKeyManager with a fixed key made for DIR, so that Cinder's own
#   encrypted volume types work without Barbican.
# - sqlite database, state, locks, logs (DIR/log/cinder-*.log and *.out) all in DIR.
#   One API worker. API on 127.0.0.1 only. No quotas (volumes, snapshots, gigabytes).
# - The services run from python3-cinder's entry points through tests/lib/cinder_launch.py,
#   which applies the Debian 12 read_deleted workaround and makes sqlite transactions wait
#   for the write lock rather than fail (both described there) first.
# - Ready means: the API answers, os-services lists cinder-volume HOST@ceph as up, and
#   the scheduler knows the pool HOST@ceph#ceph (scheduler-stats/get_pools); before that
#   a new volume would end in error. About 10 s here (4 s of it the database creation).
#   HOST is the fixed name rbd-luks-test (publisher_id volume.rbd-luks-test@ceph...).
#   With CINDER_BACKUP, also os-services lists cinder-backup HOST as up (before that
#   POST /backups answers "Service cinder-backup could not be found").
# - cinder-backup (and cinder-volume, for a generic migration's copy) reads and writes volumes through os-brick's RBD connector without a
#   local attach (a librbd image wrapped as a file, os_brick/initiator/linuxrbd.py), which
#   takes the Ceph key from /etc/ceph/<cluster>.client.<user>.keyring
#   (os_brick/initiator/connectors/rbd.py:77-93): Cinder has passed no keyring in the
#   connection since Victoria. The launcher points that one lookup at the test
#   cluster's directory (CINDER_LAUNCH_KEYRING_DIR, the directory of CEPH_CONF), so that
#   nothing is written to /etc/ceph.
# - Each service runs under setsid: its pid file holds a session leader. The API and the
#   volume service fork workers (oslo.service's process launcher); stop sends SIGTERM to the
#   leader, which stops its workers, and after 20 s SIGKILL to whatever is left of its
#   process group, each pid checked first to be this DIR's launcher.

_ci_log() { echo "cinder: $*" >&2; }

_ci_lib=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

# Debian's interpreter, the one python3-cinder is installed for (a python3 earlier in PATH,
# e.g. from pyenv, would not find it).
_ci_python=${CINDER_PYTHON:-/usr/bin/python3}

# The fixed test value; the one in a real deployment is the libvirt secret of the Ceph user.
_ci_secret_uuid=5c2b0f64-9f2e-4d0c-8a5e-2b7d1c3e4f60

_ci_absdir() {
    local d=$1
    [[ -n $d ]] || { _ci_log "missing DIR argument"; return 2; }
    [[ $d == /* ]] || d="$PWD/$d"
    realpath -m -- "$d"
}

_ci_used_ports() {
    local f
    for f in /proc/net/tcp /proc/net/tcp6; do
        [[ -r $f ]] || continue
        awk 'NR > 1 { split($2, a, ":"); print a[2] }' "$f"
    done | while read -r hex; do echo $((16#$hex)); done | sort -un
}

# One port in 40100-44999: above the blocks ceph-cluster.sh and rabbitmq.sh pick from.
_ci_pick_port() {
    local used p try
    used=" $(_ci_used_ports | tr '\n' ' ') "
    for ((try = 0; try < 50; try++)); do
        p=$((40100 + RANDOM % 4900))
        if [[ $used != *" $p "* ]]; then
            CI_PORT=$p
            return 0
        fi
    done
    _ci_log "no free port found in 40100-44999"
    return 1
}

# True if PID is alive and runs cinder_launch.py with this DIR's cinder.conf.
_ci_pid_is_ours() {
    local pid=$1 dir=$2 args=() a launcher=0 conf=0
    [[ $pid =~ ^[0-9]+$ ]] || return 1
    mapfile -d '' -t args 2>/dev/null < "/proc/$pid/cmdline" || return 1
    for a in "${args[@]}"; do
        [[ ${a##*/} == cinder_launch.py ]] && launcher=1
        [[ $a == "$dir/cinder.conf" || $a == "$dir/glance-api.conf" ]] && conf=1
    done
    ((launcher && conf))
}

# True while PID exists and is not a zombie (PID 1 here may not reap).
_ci_pid_running() {
    local stat
    stat=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
    stat=${stat##*) }
    [[ ${stat%% *} != Z ]]
}

# The live processes in process group PGID that are this DIR's launcher.
_ci_group_pids() {
    local pgid=$1 dir=$2 p stat fields
    for p in /proc/[0-9]*; do
        stat=$(cat "$p/stat" 2>/dev/null) || continue
        fields=${stat##*) }
        # After the comm field: state ppid pgrp ...
        read -r _ _ pg _ <<< "$fields"
        [[ $pg == "$pgid" ]] || continue
        _ci_pid_running "${p#/proc/}" || continue
        _ci_pid_is_ours "${p#/proc/}" "$dir" && echo "${p#/proc/}"
    done
}

# cinder-backup's [DEFAULT] options, none without CINDER_BACKUP. The posix driver's
# defaults otherwise: 1999994880-byte files (one per chunk), zlib.
_ci_backup_conf() {
    [[ -n ${CINDER_BACKUP:-} ]] || return 0
    echo "backup_driver = cinder.backup.drivers.posix.PosixBackupDriver"
    echo "backup_posix_path = $1/backup"
}

# An RBD backend's section: NAME (also its volume_backend_name) on POOL, as client.cinder
# of the test cluster; DIR for the conversion dir.
_ci_rbd_backend() {
    cat <<EOF2
[$1]
volume_driver = cinder.volume.drivers.rbd.RBDDriver
volume_backend_name = $1
rbd_pool = $2
rbd_user = cinder
rbd_ceph_conf = $CEPH_CONF
rbd_secret_uuid = $_ci_secret_uuid
rados_connect_timeout = 20
image_conversion_dir = $3/state/conversion
EOF2
}

# The [ceph2] section when CINDER_SECOND_POOL is set: the [ceph] backend's settings on
# another pool.
_ci_second_backend() {
    [[ -n ${CINDER_SECOND_POOL:-} ]] || return 0
    echo
    _ci_rbd_backend ceph2 "$CINDER_SECOND_POOL" "$1"
}

# The backend's max_over_subscription_ratio, none without CINDER_MAX_OVER_SUBSCRIPTION_RATIO.
_ci_oversubscription_conf() {
    [[ -n ${CINDER_MAX_OVER_SUBSCRIPTION_RATIO:-} ]] || return 0
    echo "max_over_subscription_ratio = $CINDER_MAX_OVER_SUBSCRIPTION_RATIO"
}

_ci_write_conf() {
    local dir=$1 password url fixed_key
    password=$(cat "$AMQP_PASSWORD_FILE") || return 1
    url=$(python3 -c 'import sys, urllib.parse as u
q = lambda s: u.quote(s, safe="")
user, password, host, port, vhost = sys.argv[1:]
vhost = "" if vhost == "/" else q(vhost)
print("rabbit://%s:%s@%s:%s/%s" % (q(user), q(password), host, port, vhost))' \
        "$AMQP_USER" "$password" "$AMQP_HOST" "$AMQP_PORT" "${AMQP_VHOST:-/}") || return 1
    fixed_key=$(head -c 32 /dev/urandom | od -An -v -tx1 | tr -d ' \n') || return 1
    (umask 077 && cat > "$dir/cinder.conf") <<EOF
# Made by tests/lib/cinder.sh for a private test Cinder; everything lives in this dir.
[DEFAULT]
host = $CI_HOST
my_ip = 127.0.0.1
state_path = $dir/state
debug = $([[ ${CINDER_DEBUG:-no} == yes ]] && echo true || echo false)
use_stderr = false
auth_strategy = noauth_include_project_id
project_id_regex = [0-9a-zA-Z_-]+
api_paste_config = $dir/api-paste.ini
osapi_volume_listen = 127.0.0.1
osapi_volume_listen_port = $CI_PORT
osapi_volume_workers = 1
transport_url = $url
enabled_backends = ceph${CINDER_SECOND_POOL:+,ceph2}
rootwrap_config = $dir/rootwrap.conf
# The scheduler places volumes only on backends whose capabilities it has heard. The
# volume service announces them once at start-up, before it listens, and the scheduler
# asks for them once when it starts listening: if the two cross, the next announcement
# is the periodic one (60 s by default). Make that come sooner.
periodic_interval = 5
periodic_fuzzy_delay = 0
backend_stats_polling_interval = 10
# No quotas: a test makes more than the default 10 volumes and 10 snapshots of project
# admin (cinder/quota.py:36-41); a negative limit is none (cinder/db/sqlalchemy/api.py:1706-1712).
quota_volumes = -1
quota_snapshots = -1
quota_gigabytes = -1
$(_ci_backup_conf "$dir")
$([[ -n ${CINDER_GLANCE:-} ]] && echo "glance_api_servers = http://127.0.0.1:$CI_GLANCE_PORT")

[database]
connection = sqlite:///$dir/cinder.sqlite

[oslo_concurrency]
lock_path = $dir/lock

[coordination]
backend_url = file://$dir/coordination

[oslo_messaging_notifications]
driver = messagingv2
topics = notifications,notifications_luks

[oslo_messaging_rabbit]
# The test broker's exchange "openstack" is durable; declaring it otherwise fails.
amqp_durable_queues = true

# No Nova here: what Cinder tells Nova (the volume-extended event after an extend of an
# attached volume, cinder/volume/manager.py:2985-2989) goes to a port nothing listens on,
# so the call fails inside its try and is only logged (cinder/compute/nova.py:152-162), as
# with a Nova that is down. Without an address the client cannot even be built there
# (:101-105 and :72-81: no service catalog with noauth) and the extend would end before its
# volume.resize.end. The tests play Nova's part through tests/lib/nova_harness.py.
[nova]
token_auth_url = http://127.0.0.1:9/v3

# Cinder's own encrypted volume types work without Barbican (for baselines).
[key_manager]
backend = cinder.keymgr.conf_key_mgr.ConfKeyManager
fixed_key = $fixed_key

$(_ci_rbd_backend ceph volumes "$dir")
$(_ci_oversubscription_conf)
$(_ci_second_backend "$dir")
EOF
}

# Glance's API for CINDER_GLANCE: its conf and a paste pipeline with no authentication.
_ci_write_glance() {
    local dir=$1
    mkdir -p -- "$dir/glance/images" || return 1
    cat > "$dir/glance-api.conf" <<EOF
# Made by tests/lib/cinder.sh for a private test Glance; everything lives in this dir.
[DEFAULT]
bind_host = 127.0.0.1
bind_port = $CI_GLANCE_PORT
# 0: the API serves from the launcher's own process (no forked workers).
workers = 0
use_stderr = false
debug = $([[ ${CINDER_DEBUG:-no} == yes ]] && echo true || echo false)

[database]
connection = sqlite:///$dir/glance/glance.sqlite

[glance_store]
stores = file
default_store = file
filesystem_store_datadir = $dir/glance/images

[oslo_concurrency]
lock_path = $dir/lock

[paste_deploy]
config_file = $dir/glance-api-paste.ini
EOF
    cat > "$dir/glance-api-paste.ini" <<'EOF'
# Written by tests/lib/cinder.sh: Glance's v2 API with its unauthenticated context.
[pipeline:glance-api]
pipeline = versionnegotiation unauthenticated-context rootapp

[composite:rootapp]
paste.composite_factory = glance.api:root_app_factory
/: apiversions
/v2: apiv2app

[app:apiversions]
paste.app_factory = glance.api.versions:create_resource

[app:apiv2app]
paste.app_factory = glance.api.v2.router:API.factory

[filter:versionnegotiation]
paste.filter_factory = glance.api.middleware.version_negotiation:VersionNegotiationFilter.factory

[filter:unauthenticated-context]
paste.filter_factory = glance.api.middleware.context:UnauthenticatedContextMiddleware.factory
EOF
}

# The v3 API behind the no-auth middleware that takes the project from the URL; the
# factories are Cinder's own, the pipeline keyed on auth_strategy as Cinder expects.
_ci_write_paste() {
    cat > "$1/api-paste.ini" <<'EOF'
# Written by tests/lib/cinder.sh: only what auth_strategy = noauth_include_project_id needs.
[composite:osapi_volume]
use = call:cinder.api:root_app_factory
/: versions
/v3: v3

[composite:v3]
use = call:cinder.api.middleware.auth:pipeline_factory
noauth_include_project_id = request_id faultwrap noauth_include_project_id apiv3

[filter:request_id]
paste.filter_factory = oslo_middleware.request_id:RequestId.factory

[filter:faultwrap]
paste.filter_factory = cinder.api.middleware.fault:FaultWrapper.factory

[filter:noauth_include_project_id]
paste.filter_factory = cinder.api.middleware.auth:NoAuthMiddlewareIncludeProjectID.factory

[app:apiv3]
paste.app_factory = cinder.api.v3.router:APIRouter.factory

[pipeline:versions]
pipeline = request_id faultwrap apiversions

[app:apiversions]
paste.app_factory = cinder.api.versions:Versions.factory
EOF
}

# Start SERVICE (api, scheduler, volume, backup) in its own session, without our
# descriptors.
_ci_spawn() {
    local dir=$1 service=$2
    (
        for fd in /proc/"$BASHPID"/fd/*; do
            fd=${fd##*/}
            if ((fd > 2)); then exec {fd}>&-; fi
        done
        cd "$dir" || exit 1
        if [[ $service == backup || $service == volume ]]; then
            CINDER_LAUNCH_KEYRING_DIR=$(dirname -- "$CEPH_CONF") || exit 1
            export CINDER_LAUNCH_KEYRING_DIR
        fi
        local conf=$dir/cinder.conf log=$dir/log/cinder-$service.log
        if [[ $service == glance ]]; then conf=$dir/glance-api.conf log=$dir/log/glance-api.log; fi
        exec setsid "$_ci_python" "$_ci_lib/cinder_launch.py" "$service" \
            --config-file "$conf" --log-file "$log" \
            < /dev/null >> "$dir/log/$service.out" 2>&1
    ) &
    echo $! > "$dir/$service.pid"
}

_ci_dump_logs() {
    local dir=$1 f
    for f in "$dir"/log/*.out "$dir"/log/cinder-*.log; do
        [[ -s $f ]] || continue
        echo "----- tail of $f -----" >&2
        tail -n 25 "$f" >&2
    done
}

# GET PATH on the API, body on stdout; fails on an HTTP error or no answer.
_ci_get() { _ci_get_from "$CI_PORT" "$1"; }

# GET PATH on 127.0.0.1:PORT (Cinder's API or Glance's), body on stdout.
_ci_get_from() {
    python3 - "http://127.0.0.1:$1$2" <<'EOF'
import sys, urllib.request
req = urllib.request.Request(sys.argv[1], headers={
    "X-Auth-Token": "admin:admin", "Accept": "application/json"})
with urllib.request.urlopen(req, timeout=10) as r:
    sys.stdout.write(r.read().decode())
EOF
}

# True if os-services lists BINARY on HOST as up.
_ci_service_up() {
    local services
    services=$(_ci_get "/v3/admin/os-services?binary=$1" 2>/dev/null) || return 1
    python3 -c 'import json, sys
s = [x for x in json.loads(sys.argv[1])["services"]
     if x["host"] == sys.argv[2] and x["state"] == "up"]
sys.exit(0 if s else 1)' "$services" "$2"
}

# Ready: the API answers, cinder-volume HOST@ceph is up (and cinder-backup HOST, when it
# runs), and the scheduler has heard of its pool (before that a new volume would be
# refused by the scheduler).
_ci_ready() {
    local pools
    if [[ -n ${CINDER_GLANCE:-} ]]; then
        _ci_get_from "$CI_GLANCE_PORT" /v2/images >/dev/null 2>&1 || return 1
    fi
    _ci_service_up cinder-volume "$CI_HOST@ceph" || return 1
    if [[ -n ${CINDER_BACKUP:-} ]]; then
        _ci_service_up cinder-backup "$CI_HOST" || return 1
    fi
    if [[ -n ${CINDER_SECOND_POOL:-} ]]; then
        _ci_service_up cinder-volume "$CI_HOST@ceph2" || return 1
    fi
    pools=$(_ci_get /v3/admin/scheduler-stats/get_pools 2>/dev/null) || return 1
    [[ $pools == *"\"$CI_HOST@ceph#ceph\""* ]] || return 1
    [[ -z ${CINDER_SECOND_POOL:-} || $pools == *"\"$CI_HOST@ceph2#ceph2\""* ]]
}

_ci_start() {
    local dir i s deadline started services
    dir=$(_ci_absdir "${1:-}") || return 2
    local v
    for v in CEPH_CONF AMQP_HOST AMQP_PORT AMQP_USER AMQP_PASSWORD_FILE; do
        [[ -n ${!v:-} ]] || { _ci_log "$v is not set"; return 2; }
    done
    [[ -f $CEPH_CONF ]] || { _ci_log "no ceph conf at $CEPH_CONF"; return 2; }
    [[ -r $AMQP_PASSWORD_FILE ]] || { _ci_log "cannot read $AMQP_PASSWORD_FILE"; return 2; }
    case ${CINDER_BACKUP:-} in
        '' | posix) ;;
        *) _ci_log "CINDER_BACKUP=$CINDER_BACKUP: only posix is known"; return 2 ;;
    esac
    case ${CINDER_GLANCE:-} in
        '') ;;
        file)
            if ! "$_ci_python" -c 'import glance.cmd.api, glance_store' 2>/dev/null; then
                _ci_log "python3-glance is not installed for $_ci_python"
                return 2
            fi
            ;;
        *) _ci_log "CINDER_GLANCE=$CINDER_GLANCE: only file is known"; return 2 ;;
    esac
    if [[ -n ${CINDER_MAX_OVER_SUBSCRIPTION_RATIO:-} &&
        ! $CINDER_MAX_OVER_SUBSCRIPTION_RATIO =~ ^([0-9]+|[0-9]*\.[0-9]+)$ ]]; then
        _ci_log "CINDER_MAX_OVER_SUBSCRIPTION_RATIO=$CINDER_MAX_OVER_SUBSCRIPTION_RATIO: not a number"
        return 2
    fi
    if [[ -d $dir && -n $(ls -A -- "$dir") ]]; then _ci_log "$dir is not empty"; return 2; fi
    if ! "$_ci_python" -c 'import cinder.volume.drivers.rbd' 2>/dev/null; then
        _ci_log "python3-cinder (with python3-rbd) is not installed for $_ci_python"
        return 2
    fi
    started=$(date +%s)
    mkdir -p -- "$dir/log" "$dir/state/conversion" "$dir/lock" "$dir/coordination" || return 1
    services="scheduler volume api"
    if [[ -n ${CINDER_BACKUP:-} ]]; then
        mkdir -p -- "$dir/backup" || return 1
        services="$services backup"
    fi
    chmod 700 "$dir" || return 1
    CI_HOST=rbd-luks-test
    if [[ -n ${CINDER_GLANCE:-} ]]; then
        _ci_pick_port || return 1
        CI_GLANCE_PORT=$CI_PORT
        services="glance $services"
    fi
    for ((i = 0; i < 10; i++)); do
        _ci_pick_port || return 1
        [[ $CI_PORT != "${CI_GLANCE_PORT:-}" ]] && break
    done
    echo "CI_PORT=$CI_PORT CI_HOST=$CI_HOST CI_GLANCE_PORT=${CI_GLANCE_PORT:-}" > "$dir/ports"
    _ci_write_conf "$dir" || return 1
    if [[ -n ${CINDER_GLANCE:-} ]]; then _ci_write_glance "$dir" || return 1; fi
    _ci_write_paste "$dir" || return 1
    # Only referenced (privileged helpers are never needed by the RBD driver's paths used
    # here); an empty file keeps Cinder away from /etc/cinder.
    : > "$dir/rootwrap.conf"

    CI_STARTING=$dir
    trap '(($? == 0)) || { _ci_dump_logs "$CI_STARTING"; _ci_stop "$CI_STARTING"; }' EXIT
    if ! timeout -s KILL 120 "$_ci_python" "$_ci_lib/cinder_launch.py" manage \
            --config-file "$dir/cinder.conf" --log-file "$dir/log/cinder-manage.log" \
            db sync >> "$dir/log/manage.out" 2>&1; then
        _ci_log "cinder-manage db sync failed"
        return 1
    fi
    if [[ -n ${CINDER_GLANCE:-} ]] && ! timeout -s KILL 120 "$_ci_python" "$_ci_lib/cinder_launch.py" \
            glance-manage --config-file "$dir/glance-api.conf" \
            --log-file "$dir/log/glance-manage.log" db sync >> "$dir/log/glance-manage.out" 2>&1; then
        _ci_log "glance-manage db sync failed"
        return 1
    fi
    # The scheduler first: it then usually hears the volume service's first announcement.
    for s in $services; do _ci_spawn "$dir" "$s"; done
    deadline=$(($(date +%s) + ${CINDER_START_TIMEOUT:-120}))
    until _ci_ready; do
        for s in $services; do
            _ci_pid_running "$(cat "$dir/$s.pid")" || { _ci_log "cinder-$s exited"; return 1; }
        done
        if (($(date +%s) >= deadline)); then
            _ci_log "not ready within ${CINDER_START_TIMEOUT:-120} s"
            return 1
        fi
        sleep 0.5
    done
    trap - EXIT
    _ci_log "Cinder up in $dir after $(($(date +%s) - started)) s (API 127.0.0.1:$CI_PORT)"
    echo "CINDER_URL=http://127.0.0.1:$CI_PORT/v3/admin"
    echo "CINDER_DIR=$dir"
    echo "CINDER_HOST=$CI_HOST"
    echo "CINDER_RBD_SECRET_UUID=$_ci_secret_uuid"
    if [[ -n ${CINDER_BACKUP:-} ]]; then echo "CINDER_BACKUP_DIR=$dir/backup"; fi
    if [[ -n ${CINDER_GLANCE:-} ]]; then echo "GLANCE_URL=http://127.0.0.1:$CI_GLANCE_PORT"; fi
}

# SIGTERM to each leader; SIGKILL to what is left of its group after 20 s. A service
# that has no pid file (cinder-backup when it was not asked for) is passed over.
_ci_stop() {
    local dir s pid i left
    dir=$(_ci_absdir "${1:-}") || return 2
    [[ -d $dir ]] || return 0
    for s in api scheduler volume backup glance; do
        pid=$(cat "$dir/$s.pid" 2>/dev/null || true)
        [[ -n $pid ]] || continue
        _ci_pid_is_ours "$pid" "$dir" && kill -TERM "$pid" 2>/dev/null
    done
    for s in api scheduler volume backup glance; do
        pid=$(cat "$dir/$s.pid" 2>/dev/null || true)
        [[ $pid =~ ^[0-9]+$ ]] || { rm -f -- "$dir/$s.pid"; continue; }
        for ((i = 0; i < 200; i++)); do
            [[ -z $(_ci_group_pids "$pid" "$dir") ]] && break
            sleep 0.1
        done
        left=$(_ci_group_pids "$pid" "$dir")
        if [[ -n $left ]]; then
            _ci_log "cinder-$s ($left) still running 20 s after SIGTERM, sending SIGKILL"
            # shellcheck disable=SC2086
            kill -KILL $left 2>/dev/null
            for ((i = 0; i < 50; i++)); do
                [[ -z $(_ci_group_pids "$pid" "$dir") ]] && break
                sleep 0.1
            done
        fi
        rm -f -- "$dir/$s.pid"
    done
    return 0
}

# Public functions: each runs in a subshell so that strict mode and exit stay inside.
cinder_start() ( set -euo pipefail; _ci_start "$@" )
cinder_stop()  ( set -euo pipefail; _ci_stop "$@" )

if [[ ${BASH_SOURCE[0]} == "$0" ]]; then
    set -euo pipefail
    usage="usage: $0 start|stop DIR"
    [[ $# -eq 2 ]] || { echo "$usage" >&2; exit 2; }
    case $1 in
        start) cinder_start "$2" ;;
        stop)  cinder_stop "$2" ;;
        *) echo "$usage" >&2; exit 2 ;;
    esac
fi
