# container_role: the Ansible role (ansible/roles/rbd-luks-agent) run for
# real against this machine, the way an operator runs it, with podman as the
# container engine:
#   - the image localhost/rbd-luks-agent:VERSION from the private container
#     storage CONTAINER_STORAGE_ROOT / CONTAINER_STORAGE_RUNROOT (default
#     build/container/storage and runroot, where container_image.sh builds
#     it; driver CONTAINER_STORAGE_DRIVER or the one the storage holds); not
#     there: FAIL, nothing is built or pulled here;
#   - every directory in T_TMP (config dirs, the operator's files), nothing
#     in /etc/kolla; the one-node Ceph cluster run.sh booted (CEPH_DIR) and
#     a private RabbitMQ broker started here (tests/lib/rabbitmq.sh);
#   - the volume agent and its feeder as containers, then the compute side's
#     files (no libvirtd here).
# Checked first, without the image: ansible-lint (production profile) and
# --syntax-check are clean, the README's variable table is current. Then: a
# first run changes things; the rendered INI files pass check-config (the
# host's agent on copies with host paths, and inside the container); a second
# identical run changes nothing; the containers run and pass their
# healthchecks; a notification published to RabbitMQ goes through the feeder
# container and the shared state volume to the agent container, which formats
# the volume; a changed variable restarts the agent with the new file; stop
# stops them. At the end it removes the containers and volume it made, by
# name, and stops the broker.
# run.sh: side lane (after container_image, whose image it runs; no libvirtd, no index rebuild)
. "$(dirname "$0")/../lib/testlib.sh"
root=$(cd "$(dirname "$0")/../.." && pwd)
VERSION=$(sed -n 's/^VERSION *:\{0,1\}= *//p' "$root/Makefile" | head -n1)
IMAGE=localhost/rbd-luks-agent:$VERSION
CONTAINERS=(rbd_luks_agent_volume rbd_luks_agent_volume_feeder rbd_luks_agent_compute rbd_luks_agent_compute_feeder)
STATE_VOLUME=rbd_luks_agent_it_volume_state
LOGS_VOLUME=rbd_luks_agent_it_logs
RABBITMQ_SH=$root/tests/lib/rabbitmq.sh
BROKER=$T_TMP/broker

# --- the Ansible files themselves -----------------------------------------------------------
check "ansible-lint (profile production) is clean" \
    bash -c "cd '$root/ansible' && ANSIBLE_LOCAL_TEMP='$T_TMP/ansible-tmp' ANSIBLE_HOME='$T_TMP/ansible-home' timeout -s KILL 300 ansible-lint --nocolor"
for pb in site.yml localhost.yml; do
    inv=inventory.ini
    [ "$pb" = localhost.yml ] && inv=localhost.ini
    check "ansible-playbook --syntax-check examples/$pb" \
        bash -c "cd '$root/ansible' && ANSIBLE_LOCAL_TEMP='$T_TMP/ansible-tmp' ANSIBLE_HOME='$T_TMP/ansible-home' ansible-playbook --syntax-check -i examples/$inv examples/$pb"
done
check "ansible/README.md's variable table matches the defaults" "$root/ansible/tools/vars-table.py" --check
check "TripleO templates parse and every get_param/get_attr resolves" "$root/ansible/tools/check-tripleo.py"

# --- private container storage ------------------------------------------------------------
# The one container_image.sh builds the image into (same defaults, same driver choice).
SROOT=$(realpath -m "${CONTAINER_STORAGE_ROOT:-$root/build/container/storage}")
SRUN=$(realpath -m "${CONTAINER_STORAGE_RUNROOT:-$root/build/container/runroot}")
driver=${CONTAINER_STORAGE_DRIVER:-}
if [ -z "$driver" ]; then
    for d in overlay vfs; do [ -d "$SROOT/$d-images" ] && { driver=$d; break; }; done
fi
if [ -z "$driver" ]; then
    fail "image $IMAGE is in the container storage" "no images under $SROOT: build it first (container_image.sh or container/build-image.sh --root $SROOT --runroot $SRUN)"
    exit 0
fi
cat >"$T_TMP/storage.conf" <<CONF
[storage]
driver = "$driver"
graphroot = "$SROOT"
runroot = "$SRUN"
CONF
export CONTAINERS_STORAGE_CONF=$T_TMP/storage.conf
pm() { timeout -s KILL 120 podman "$@" 2>>"$T_TMP/podman.err"; }
if ! pm image exists "$IMAGE"; then
    fail "image $IMAGE is in the container storage" "not found in $SROOT ($driver): build it first (container_image.sh does)"
    exit 0
fi
pass "image $IMAGE is in the container storage"
if [ ! -f "$CEPH_CONF" ]; then
    fail "a Ceph cluster is running" "no $CEPH_CONF: run this through tests/integration/run.sh, which boots one"
    exit 0
fi

remove_ours() {
    local c
    for c in "${CONTAINERS[@]}"; do
        pm container exists "$c" && pm rm -f -t 5 "$c" >/dev/null
    done
    pm volume exists "$STATE_VOLUME" && pm volume rm -f "$STATE_VOLUME" >/dev/null
    pm volume exists "$LOGS_VOLUME" && pm volume rm -f "$LOGS_VOLUME" >/dev/null
    return 0
}
# A run killed half way leaves these names behind; they are this test's.
remove_ours
trap 'remove_ours; "$RABBITMQ_SH" stop "$BROKER" >/dev/null 2>&1' EXIT

if ! broker_env=$("$RABBITMQ_SH" start "$BROKER" 2>"$T_TMP/broker-start.log"); then
    fail "RabbitMQ broker starts" "$(tail -c 600 "$T_TMP/broker-start.log" | tr '\n' ' ')"
    exit 0
fi
eval "$broker_env"
(umask 077 && printf 'username:%s\npassword:%s\n' "$AMQP_USER" "$(cat "$AMQP_PASSWORD_FILE")" \
    >"$T_TMP/authfile")

# --- the operator's side: Kolla's node_custom_config layout ------------------------------
custom=$T_TMP/kolla-config
config=$T_TMP/etc-kolla
mkdir -p "$custom/cinder/cinder-volume" "$custom/nova" "$custom/rbd-luks-agent" "$config"
# A client's ceph.conf: the cluster's own names paths of its temp dir.
{
    echo "[global]"
    grep -E '^(fsid|mon host|auth (cluster|service|client) required|client mount timeout|rados mon op timeout|rados osd op timeout) = ' "$CEPH_CONF"
} >"$custom/cinder/ceph.conf"
cp "$custom/cinder/ceph.conf" "$custom/nova/ceph.conf"
cp "$CEPH_DIR/ceph.client.cinder.keyring" "$custom/cinder/cinder-volume/ceph.client.cinder.keyring"
cp "$CEPH_DIR/ceph.client.cinder.keyring" "$custom/nova/ceph.client.cinder.keyring"
head -c 32 /dev/urandom >"$custom/rbd-luks-agent/kek-1.bin"
chmod 600 "$custom/rbd-luks-agent/kek-1.bin" "$custom/nova/ceph.client.cinder.keyring" \
    "$custom/cinder/cinder-volume/ceph.client.cinder.keyring"

cat >"$T_TMP/vars.yml" <<VARS
rbd_luks_agent_container_engine: podman
rbd_luks_agent_tag: "$VERSION"
rbd_luks_agent_container_engine_env:
  CONTAINERS_STORAGE_CONF: "$T_TMP/storage.conf"
rbd_luks_agent_container_runtime: runc
rbd_luks_agent_dimensions:
  ulimits:
    nofile: {soft: 20000, hard: 20000}
    nproc: {soft: 32768, hard: 32768}
# below the host's hard limit: an engine may lower a limit without privilege
rbd_luks_agent_memlock_bytes: 4194304
rbd_luks_agent_config_directory: "$config"
rbd_luks_agent_custom_config_directory: "$custom"
rbd_luks_agent_config_owner: root
rbd_luks_agent_volume_state_volume: $STATE_VOLUME
rbd_luks_agent_logs_volume: $LOGS_VOLUME
rbd_luks_agent_compute_enabled: false
rbd_luks_agent_luks_iterations: 1000
rbd_luks_agent_retry_max_ms: 2000
rbd_luks_agent_healthcheck_start_period: 2
rbd_luks_agent_health_interval: 2
rbd_luks_agent_amqp_host: "$AMQP_HOST"
rbd_luks_agent_amqp_port: $AMQP_PORT
rbd_luks_agent_amqp_user: "$AMQP_USER"
rbd_luks_agent_amqp_password: "$(cat "$AMQP_PASSWORD_FILE")"
rbd_luks_agent_amqp_exchange: "$AMQP_EXCHANGE"
rbd_luks_agent_amqp_heartbeat_s: 10
VARS

# play LOG [ansible-playbook args...]: runs examples/localhost.yml; rc in PLAY_RC.
play() {
    local log=$1
    shift
    (cd "$root/ansible" && ANSIBLE_NOCOLOR=1 ANSIBLE_LOCAL_TEMP=$T_TMP/ansible-tmp \
        ANSIBLE_REMOTE_TEMP=$T_TMP/ansible-tmp ANSIBLE_HOME=$T_TMP/ansible-home \
        timeout -s KILL 600 ansible-playbook -i examples/localhost.ini examples/localhost.yml \
        -e "@$T_TMP/vars.yml" "$@") >"$T_TMP/$log" 2>&1
    PLAY_RC=$?
}
# recap LOG FIELD: that field of localhost's PLAY RECAP line.
recap() { sed -n "s/^localhost *:.* $2=\([0-9]*\).*/\1/p" "$T_TMP/$1" | tail -n 1; }

# --- a first run ----------------------------------------------------------------------------
play deploy1.log
check_eq "first run succeeds" 0 "$PLAY_RC"
[ "$PLAY_RC" = 0 ] || tail -n 40 "$T_TMP/deploy1.log"
check "first run changes things" test "$(recap deploy1.log changed)" -gt 0
check_eq "first run: no failed task" 0 "$(recap deploy1.log failed)"

vdir=$config/rbd-luks-agent-volume
fdir=$config/rbd-luks-agent-volume-feeder
check "config dir has config.json, INI, ceph.conf, keyring, KEK" \
    test -f "$vdir/config.json" -a -f "$vdir/rbd-luks-agent.ini" -a -f "$vdir/ceph.conf" \
    -a -f "$vdir/ceph.client.cinder.keyring" -a -f "$vdir/kek-1.bin"
check_eq "the KEK on the host is 0600, the container user's" "600 42700" "$(stat -c '%a %u' "$vdir/kek-1.bin")"
check "the feeder's dir has the password and no KEK or keyring" \
    test -f "$fdir/amqp.password" -a ! -e "$fdir/kek-1.bin" -a ! -e "$fdir/ceph.client.cinder.keyring"
check "the agent's INI has no [amqp], the feeder's has" \
    bash -c "! grep -q '^\[amqp\]' '$vdir/rbd-luks-agent.ini' && grep -q '^\[amqp\]' '$fdir/rbd-luks-agent.ini'"
check "config.json is JSON that runs the agent" \
    python3 -c "import json,sys; c=json.load(open(sys.argv[1])); assert c['command'].endswith(' run'), c" "$vdir/config.json"

# --- the rendered INI files pass check-config ------------------------------------------------
# The host's agent on copies whose container paths point at the same files here.
mkdir -p "$T_TMP/host-state"
host_view() { # RENDERED_INI SERVICE_DIR OUT
    sed -e "s|/etc/ceph/|$2/|" -e "s|/etc/rbd-luks-agent/kek/|$2/|" \
        -e "s|/etc/rbd-luks-agent/amqp.password|$2/amqp.password|" \
        -e "s|/etc/rbd-luks-agent/libvirt-sasl.password|$2/libvirt-sasl.password|" \
        -e "s|/var/lib/rbd-luks-agent|$T_TMP/host-state|" "$1" >"$3"
}
host_view "$vdir/rbd-luks-agent.ini" "$vdir" "$T_TMP/volume-host.ini"
check "rendered volume INI passes check-config (host agent)" \
    bash -c "'$AGENT' -c '$T_TMP/volume-host.ini' check-config | grep -q ': OK (role volume'"
host_view "$fdir/rbd-luks-agent.ini" "$fdir" "$T_TMP/feeder-host.ini"
# The feeder's file names the agent's Ceph and KEK paths too (feed does not read them).
sed -i -e "s|^conf = .*|conf = $vdir/ceph.conf|" -e "s|^kek_file = .*|kek_file = $vdir/kek-1.bin|" "$T_TMP/feeder-host.ini"
check "rendered feeder INI (with [amqp]) passes check-config (host agent)" \
    bash -c "'$AGENT' -c '$T_TMP/feeder-host.ini' check-config | grep -q ': OK (role volume'"

# Inside the container, where the paths are the real ones, once kolla-start
# has copied the files (the KEK comes last).
for _ in $(seq 1 50); do pm exec rbd_luks_agent_volume test -f /etc/rbd-luks-agent/kek/kek-1.bin && break; sleep 0.2; done
check "check-config passes inside the volume container" \
    bash -c "podman exec rbd_luks_agent_volume rbd-luks-agent -c /etc/rbd-luks-agent/rbd-luks-agent.ini check-config | grep -q ': OK (role volume'"
check "the copied KEK in the container is 0600, the agent's" \
    bash -c "[ \"\$(podman exec rbd_luks_agent_volume stat -c '%a %U' /etc/rbd-luks-agent/kek/kek-1.bin)\" = '600 rbd-luks-agent' ]"
play validate.log -e kolla_action=config_validate
check_eq "kolla_action=config_validate (check-config in the containers) passes" 0 "$PLAY_RC"

# Logs in the logs volume (Kolla's kolla_logs), where fluentd and logrotate look.
check "the volume agent logs to /var/log/kolla/rbd-luks-agent/rbd-luks-agent-volume.log" \
    bash -c "for _ in \$(seq 1 50); do podman exec rbd_luks_agent_volume test -s /var/log/kolla/rbd-luks-agent/rbd-luks-agent-volume.log && exit 0; sleep 0.2; done; exit 1"
check "the feeder logs to rbd-luks-agent-volume-feeder.log in the same directory" \
    bash -c "for _ in \$(seq 1 50); do podman exec rbd_luks_agent_volume_feeder test -s /var/log/kolla/rbd-luks-agent/rbd-luks-agent-volume-feeder.log && exit 0; sleep 0.2; done; exit 1"
# The directory inherits the setgid bit and group kolla of /var/log/kolla (2775, as in
# Kolla's base image, see container/Dockerfile), so the files are group kolla too.
check_eq "the log directory is 2755 group kolla, the log file 0644, the agent's, group kolla" \
    "2755 kolla 644 rbd-luks-agent kolla" \
    "$(pm exec rbd_luks_agent_volume stat -c '%a %G' /var/log/kolla/rbd-luks-agent) $(pm exec rbd_luks_agent_volume stat -c '%a %U %G' /var/log/kolla/rbd-luks-agent/rbd-luks-agent-volume.log)"

# --- a second identical run changes nothing -------------------------------------------------
volume_id=$(pm inspect -f '{{.Id}}' rbd_luks_agent_volume)
play deploy2.log
check_eq "second run succeeds" 0 "$PLAY_RC"
check_eq "second identical run: changed=0" 0 "$(recap deploy2.log changed)"
[ "$(recap deploy2.log changed)" = 0 ] || grep -B3 '^changed:' "$T_TMP/deploy2.log" | tail -n 30
check_eq "second run kept the container" "$volume_id" "$(pm inspect -f '{{.Id}}' rbd_luks_agent_volume)"

# --- running and healthy ----------------------------------------------------------------------
for c in rbd_luks_agent_volume rbd_luks_agent_volume_feeder; do
    check "$c is running (podman ps)" \
        bash -c "podman ps --format '{{.Names}}' | grep -qx $c"
done
check_eq "the volume agent runs with runc" runc "$(pm inspect -f '{{.OCIRuntime}}' rbd_luks_agent_volume)"
check "the volume agent has the ulimits (dimensions' and the memlock added)" \
    bash -c "podman exec rbd_luks_agent_volume cat /proc/1/limits >'$T_TMP/limits' &&
        grep -Eq '^Max open files +20000 +20000 ' '$T_TMP/limits' &&
        grep -Eq '^Max processes +32768 +32768 ' '$T_TMP/limits' &&
        grep -Eq '^Max locked memory +4194304 +4194304 ' '$T_TMP/limits'"
# healthy CONTAINER: podman healthcheck run passes within 30 s.
healthy() {
    for _ in $(seq 1 60); do
        pm healthcheck run "$1" >/dev/null && return 0
        sleep 0.5
    done
    return 1
}
if pm exec rbd_luks_agent_volume rbd-luks-agent --help 2>/dev/null | grep -qw health; then
    check "podman healthcheck run rbd_luks_agent_volume passes" healthy rbd_luks_agent_volume
    check "podman healthcheck run rbd_luks_agent_volume_feeder passes (connected to RabbitMQ)" \
        healthy rbd_luks_agent_volume_feeder
else
    fail "the image's agent has a health command" "rbd-luks-agent --help in the image lists no health"
fi

# The whole volume side in containers: Cinder's notification, published to
# RabbitMQ, reaches the agent through the feeder and the shared state volume.
id=$(new_uuid)
rbd_ create --size 1024 "volume-$id"
event_json "$id" 1 | tr -d '\n' >"$T_TMP/event.json"
check "the notification is published to RabbitMQ" \
    bash -c "timeout -s KILL 20 amqp-publish --server '$AMQP_HOST' --port '$AMQP_PORT' --authfile '$T_TMP/authfile' \
        -e '$AMQP_EXCHANGE' -r notifications_luks.info -p <'$T_TMP/event.json'"
outcome=
for _ in $(seq 1 60); do
    outcome=$(pm exec rbd_luks_agent_volume cat /var/lib/rbd-luks-agent/results.jsonl 2>/dev/null |
        grep "\"$id\"" | sed -n 's/.*"outcome": *"\([a-z]*\)".*/\1/p' | tail -n 1)
    [ -n "$outcome" ] && break
    sleep 0.5
done
check_eq "RabbitMQ -> feeder container -> agent container: the volume is formatted" formatted "$outcome"
check "the agent's log file names the volume" \
    bash -c "podman exec rbd_luks_agent_volume grep -q '$id' /var/log/kolla/rbd-luks-agent/rbd-luks-agent-volume.log"
check "its image metadata says formatted" \
    bash -c "rbd --conf '$CEPH_CONF' --id admin -p '$POOL' image-meta get volume-$id rbd-luks-agent.state | grep -q '^formatted'"
check "keys verify (in the container): the key opens the keyslot" \
    bash -c "podman exec rbd_luks_agent_volume rbd-luks-agent -c /etc/rbd-luks-agent/rbd-luks-agent.ini keys verify $id"
rbd_ rm --no-progress "volume-$id" >/dev/null 2>&1

# --- a changed variable: a new file, the container recreated once, as Kolla does ------------
# (kolla_set_configs --check in the running container says 1; Kolla's compare_config.)
feeder_id=$(pm inspect -f '{{.Id}}' rbd_luks_agent_volume_feeder)
play reconfigure.log -e kolla_action=reconfigure -e rbd_luks_agent_log_level=debug
check_eq "reconfigure with log_level=debug succeeds" 0 "$PLAY_RC"
check "reconfigure recreated the volume agent (a new container id)" \
    test "$(pm inspect -f '{{.Id}}' rbd_luks_agent_volume)" != "$volume_id"
check_eq "and the feeder, whose INI changed too" "true" \
    "$([ "$(pm inspect -f '{{.Id}}' rbd_luks_agent_volume_feeder)" != "$feeder_id" ] && echo true)"
check "the new agent reads log_level = debug" \
    bash -c "podman exec rbd_luks_agent_volume grep -qx 'log_level = debug' /etc/rbd-luks-agent/rbd-luks-agent.ini"
check_eq "kolla_set_configs --check in it: 0, in place" 0 \
    "$(pm exec --user root rbd_luks_agent_volume /usr/local/bin/kolla_set_configs --check >/dev/null 2>&1; echo $?)"
volume_id=$(pm inspect -f '{{.Id}}' rbd_luks_agent_volume)
play reconfigure2.log -e kolla_action=reconfigure -e rbd_luks_agent_log_level=debug
check_eq "the same reconfigure again: changed=0" 0 "$(recap reconfigure2.log changed)"
check_eq "and the container recreated only once" "$volume_id" "$(pm inspect -f '{{.Id}}' rbd_luks_agent_volume)"

# --- the compute side's files (no libvirtd here: kolla_action=config writes files only) ----
play compute.log -e kolla_action=config -e rbd_luks_agent_compute_enabled=true
check_eq "kolla_action=config for the compute services succeeds" 0 "$PLAY_RC"
check "kolla_action=config created no compute container" \
    bash -c "! podman container exists rbd_luks_agent_compute"
cdir=$config/rbd-luks-agent-compute
host_view "$cdir/rbd-luks-agent.ini" "$cdir" "$T_TMP/compute-host.ini"
check "rendered compute INI passes check-config (host agent)" \
    bash -c "'$AGENT' -c '$T_TMP/compute-host.ini' check-config | grep -q ': OK (role compute'"
check "the compute INI has the cephx secret and the feeder a queue of its own" \
    bash -c "grep -q '^\[secret:ceph-cinder\]' '$cdir/rbd-luks-agent.ini' && grep -q '^queue = rbd-luks-agent.compute.localhost' '$config/rbd-luks-agent-compute-feeder/rbd-luks-agent.ini'"

check "without SASL the compute INI has no login and no password file is written" \
    bash -c "! grep -q '^sasl_' '$cdir/rbd-luks-agent.ini' && ! test -e '$cdir/libvirt-sasl.password'"

# Kolla's default libvirt_enable_sasl: the login from libvirt_sasl_authname/_password.
play sasl.log -e kolla_action=config -e rbd_luks_agent_compute_enabled=true \
    -e libvirt_enable_sasl=true -e libvirt_sasl_authname=nova -e libvirt_sasl_password=sasl-pw-$$
check_eq "with libvirt_enable_sasl: kolla_action=config succeeds" 0 "$PLAY_RC"
check "the compute INI logs in as libvirt_sasl_authname with the password file" \
    bash -c "grep -qx 'sasl_user = nova' '$cdir/rbd-luks-agent.ini' && grep -qx 'sasl_password_file = /etc/rbd-luks-agent/libvirt-sasl.password' '$cdir/rbd-luks-agent.ini'"
check_eq "the password file holds libvirt_sasl_password, 0600, the container user's" \
    "sasl-pw-$$ 600 42700" \
    "$(cat "$cdir/libvirt-sasl.password") $(stat -c '%a %u' "$cdir/libvirt-sasl.password")"
check "config.json copies it to the INI's path, 0600" \
    python3 -c "import json,sys; f=[x for x in json.load(open('$cdir/config.json'))['config_files'] if x['dest']=='/etc/rbd-luks-agent/libvirt-sasl.password']; sys.exit(not (f and f[0]['perm']=='0600' and f[0]['source'].endswith('/libvirt-sasl.password')))"
host_view "$cdir/rbd-luks-agent.ini" "$cdir" "$T_TMP/compute-sasl-host.ini"
check "the rendered compute INI with the login passes check-config (host agent)" \
    bash -c "'$AGENT' -c '$T_TMP/compute-sasl-host.ini' check-config | grep -q ': OK (role compute'"
check "no password in the play's output" bash -c "! grep -q 'sasl-pw-$$' '$T_TMP/sasl.log'"
play sasl-nopw.log -e kolla_action=precheck -e rbd_luks_agent_compute_enabled=true \
    -e libvirt_enable_sasl=true -e libvirt_sasl_password=
check "with libvirt_enable_sasl and no password: precheck fails" test "$PLAY_RC" -ne 0
check "and says which password to set" \
    grep -q 'rbd_luks_agent_compute_sasl_password is empty: set it (in Kolla-Ansible, libvirt_sasl_password' "$T_TMP/sasl-nopw.log"
play nosasl.log -e kolla_action=config -e rbd_luks_agent_compute_enabled=true
check "SASL off again: the login leaves the compute INI, and its password file the host" \
    bash -c "[ $PLAY_RC = 0 ] && ! grep -q '^sasl_' '$cdir/rbd-luks-agent.ini' && ! test -e '$cdir/libvirt-sasl.password'"

# --- TripleO's step 1: the configuration without the Ceph files ---------------------------
# tripleo_ceph_client writes them only at step 2; with rbd_luks_agent_ceph_files_copy false
# (what the TripleO templates set) the role neither needs nor copies them.
play nocephcopy.log -e kolla_action=config -e rbd_luks_agent_ceph_files_copy=false \
    -e rbd_luks_agent_config_directory="$T_TMP/etc-step1" \
    -e rbd_luks_agent_volume_ceph_conf_src=/nonexistent/ceph.conf \
    -e rbd_luks_agent_volume_ceph_keyring_src=/nonexistent/ceph.client.cinder.keyring
check_eq "config without the Ceph files (TripleO step 1) succeeds" 0 "$PLAY_RC"
check "it wrote the INI and copied no Ceph file" \
    bash -c "test -f '$T_TMP/etc-step1/rbd-luks-agent-volume/rbd-luks-agent.ini' && ! ls '$T_TMP/etc-step1/rbd-luks-agent-volume' | grep -q '^ceph'"

# --- the kolla engine outside a Kolla-Ansible tree: a clear failure, nothing touched -----------
ids_before=$(pm inspect -f '{{.Id}}' rbd_luks_agent_volume rbd_luks_agent_volume_feeder | tr '\n' ' ')
play kolla-outside.log -e rbd_luks_agent_container_engine=kolla
check "engine kolla without Kolla-Ansible's library: the play fails" test "$PLAY_RC" -ne 0
check "and says that neither kolla_container nor kolla_docker is there" \
    grep -q '"msg": "rbd_luks_agent_container_engine is kolla, but neither kolla_container nor kolla_docker is in ' "$T_TMP/kolla-outside.log"
check_eq "and no container was touched" "$ids_before" \
    "$(pm inspect -f '{{.Id}}' rbd_luks_agent_volume rbd_luks_agent_volume_feeder | tr '\n' ' ')"

# --- stop -------------------------------------------------------------------------------------
# Kolla's skip_stop_containers: the containers it names keep running.
play skipstop.log -e kolla_action=stop -e '{"skip_stop_containers": ["rbd_luks_agent_volume_feeder"]}'
check_eq "kolla_action=stop with skip_stop_containers succeeds" 0 "$PLAY_RC"
check_eq "it stopped the volume agent" false "$(pm inspect -f '{{.State.Running}}' rbd_luks_agent_volume)"
check_eq "and left the feeder it names running" true "$(pm inspect -f '{{.State.Running}}' rbd_luks_agent_volume_feeder)"
play stop.log -e kolla_action=stop
check_eq "kolla_action=stop succeeds" 0 "$PLAY_RC"
check "kolla_action=stop changed something" test "$(recap stop.log changed)" -gt 0
for c in rbd_luks_agent_volume rbd_luks_agent_volume_feeder; do
    check "$c is stopped" bash -c "[ \"\$(podman inspect -f '{{.State.Running}}' $c)\" = false ]"
done
play stop2.log -e kolla_action=stop
check_eq "stopping again: changed=0" 0 "$(recap stop2.log changed)"

# --- deploy after stop: running again, the same containers ----------------------------------
play deploy3.log
check_eq "deploy after stop succeeds" 0 "$PLAY_RC"
for c in rbd_luks_agent_volume rbd_luks_agent_volume_feeder; do
    check_eq "$c runs again" true "$(pm inspect -f '{{.State.Running}}' "$c")"
done
check_eq "deploy after stop kept the volume container" "$volume_id" "$(pm inspect -f '{{.Id}}' rbd_luks_agent_volume)"

remove_ours
check "the test's containers are gone" \
    bash -c "! podman ps -a --format '{{.Names}}' | grep -q '^rbd_luks_agent_'"
check "the image is still there" pm image exists "$IMAGE"
