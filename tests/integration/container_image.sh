# container_image: the container image (container/Dockerfile), built with
# container/build-image.sh and run with podman against the one-node Ceph
# cluster run.sh booted.
#
# Storage: the image is built into private container storage,
# CONTAINER_STORAGE_ROOT / CONTAINER_STORAGE_RUNROOT, by default
# build/container/storage and build/container/runroot of this checkout: it
# outlives the test's work dir, so a second run is a warm build (seconds)
# and container_role.sh finds localhost/rbd-luks-agent:VERSION there.
# The storage driver is CONTAINER_STORAGE_DRIVER, else the one the storage
# already holds images of, else overlay (build-image.sh decides the same way).
# The image is left there; nothing else in that storage is touched.
#
# Checked: the image's metadata (user, healthcheck, command, version and
# kolla_version labels) and size; the binary is make static's
# (check-static.sh on a copy taken out of the image); --version; who the agent runs as (uid 42700, group kolla); no
# compiler, no -dev package, empty apt lists, no key or keyring in the image;
# check-config on a mounted config (and FILE:LINE on a broken one); the
# volume role formatting a volume with run --once (results.jsonl and
# cryptsetup/qemu on the host, as ceph_format.sh checks); kolla-start
# without config.json (runs the agent on the default config); the Kolla
# path: config.json copies the INI, the KEK and the Ceph files with
# owner/perm, then runs the agent, which formats volumes present at start and
# appended later; `podman healthcheck run`; kolla_set_configs --check as
# root in the running container (0 in place, 1 after a changed source file,
# 1 after a changed mode); podman stop ends it with exit 0. TripleO's shape:
# config.json and sources 0600 root's, Ceph files from a src-ceph mount, the
# container started as root: the agent formats and runs as uid 42700; a
# service user that is root is refused.
#
# Permissions: the container runs as uid 42700 with the host's uids (no user
# namespace, as Kolla runs it). Files mounted into it are this test's own
# copies, chowned on the host: 42700 for what the agent itself reads and
# writes (state dir, key dir, Ceph files, config), root:42400 (group kolla)
# mode 0640 for the Kolla sources, which kolla-start reads through its
# supplementary group. Not podman's :U, which chowns the source tree
# itself (it would take the shared cluster's keyring away from root), and
# not --userns, which would make the ids on the host differ from Kolla's.
#
# Containers are named rla-it-<pid>-<what> and removed by those names at the
# end; no other container is touched.
# run.sh: side lane (podman and its own volumes; no compute agent, no index rebuild)
. "$(dirname "$0")/../lib/testlib.sh"
root=$(cd "$(dirname "$0")/../.." && pwd)
VERSION=$(sed -n 's/^VERSION *:\{0,1\}= *//p' "$root/Makefile" | head -n1)
IMAGE=localhost/rbd-luks-agent:$VERSION
AGENT_UID=42700
KOLLA_GID=42400
PREFIX=rla-it-$$
CONF_IN=/etc/rbd-luks-agent/rbd-luks-agent.ini

# Absolute: podman records the paths in its database and refuses another
# spelling of them later.
SROOT=$(realpath -m "${CONTAINER_STORAGE_ROOT:-$root/build/container/storage}")
SRUN=$(realpath -m "${CONTAINER_STORAGE_RUNROOT:-$root/build/container/runroot}")
driver=${CONTAINER_STORAGE_DRIVER:-}
if [ -z "$driver" ]; then
    driver=overlay
    for d in overlay vfs; do [ -d "$SROOT/$d-images" ] && { driver=$d; break; }; done
fi
export CONTAINER_STORAGE_DRIVER=$driver

if [ ! -f "$CEPH_CONF" ]; then
    fail "a Ceph cluster is running" "no $CEPH_CONF: run this through tests/integration/run.sh"
    exit 0
fi
if ! command -v podman >/dev/null 2>&1; then
    fail "podman is installed" "run tests/lib/deps.sh container"
    exit 0
fi

# podman on the private storage, bounded; its own complaints to podman.err.
pod() {
    timeout -s KILL "${POD_TIMEOUT:-120}" podman --root "$SROOT" --runroot "$SRUN" \
        --storage-driver "$driver" "$@" 2>>"$T_TMP/podman.err"
}
# Like pod, but stderr stays with the caller (an agent's messages).
pod2() {
    timeout -s KILL "${POD_TIMEOUT:-120}" podman --root "$SROOT" --runroot "$SRUN" \
        --storage-driver "$driver" "$@"
}
# runc (crun refuses this host's cgroup setup), the limits podman needs
# here, the host network (the cluster listens on 127.0.0.1).
RUNOPTS=(--runtime runc --ulimit nofile=20000:20000 --ulimit nproc=32768:32768 --network host)
NAMES=()
cleanup() {
    local n
    for n in "${NAMES[@]}"; do
        POD_TIMEOUT=60 pod rm -f -t 2 --ignore "$n" >/dev/null
    done
}
trap cleanup EXIT
# once NAME ARGS...: a one-shot container (no healthcheck timer: there is no
# systemd), removed when it ends; stdout and stderr are the agent's.
once() {
    local name=$PREFIX-$1
    shift
    NAMES+=("$name")
    pod2 run --rm --name "$name" --no-healthcheck "${RUNOPTS[@]}" "$@"
}
WAIT_FOR_POLL=0.5 # wait_for (testlib.sh) polls every 0.5 s here
formatted() { [ "$(result_count "$1" "$2" formatted)" = 1 ]; }

# --- build ---------------------------------------------------------------------------
echo "   building $IMAGE into $SROOT ($driver)"
t0=$SECONDS
if timeout -s KILL 2400 "$root/container/build-image.sh" --root "$SROOT" --runroot "$SRUN" \
        --tag "$IMAGE" >"$T_TMP/build.out" 2>"$T_TMP/build.log"; then
    pass "the image builds (build-image.sh)"
else
    fail "the image builds (build-image.sh)" "$(tail -n 15 "$T_TMP/build.log" | tr '\n' ' ')"
    exit 0
fi
echo "   image built in $((SECONDS - t0)) s: $(grep '^build-image: image' "$T_TMP/build.log" | cut -d: -f2-)"

# --- the image's metadata ------------------------------------------------------------
inspect() { pod image inspect --format "$1" "$IMAGE"; }
check_eq "image user is rbd-luks-agent" rbd-luks-agent "$(inspect '{{.Config.User}}')"
check_eq "image command is kolla_start" "[kolla_start]" "$(inspect '{{.Config.Cmd}}')"
check_eq "image has the healthcheck" \
    "[CMD /usr/bin/rbd-luks-agent -c $CONF_IN health]" "$(inspect '{{.HealthCheck.Test}}')"
check_eq "image version label" "$VERSION" "$(inspect '{{index .Config.Labels "org.opencontainers.image.version"}}')"
check_eq "image kolla_version label (kolla-ansible destroy finds it)" "$VERSION" "$(inspect '{{index .Config.Labels "kolla_version"}}')"
size=$(inspect '{{.Size}}')
echo "   runtime image size: $((size / 1000000)) MB ($size bytes)"
check "runtime image under 300 MB" test "${size:-999999999}" -lt 300000000

# --- the binary is make static's --------------------------------------------------------
NAMES+=("$PREFIX-copy")
pod create --name "$PREFIX-copy" "$IMAGE" >/dev/null &&
    pod cp "$PREFIX-copy:/usr/bin/rbd-luks-agent" "$T_TMP/image-agent"
pod rm -f "$PREFIX-copy" >/dev/null
check "the image's agent is the static build (check-static.sh: only librbd, librados, libcryptsetup, libvirt dynamic)" \
    "$root/tests/lib/check-static.sh" "$T_TMP/image-agent"

# --- what is inside ------------------------------------------------------------------
check_eq "--version inside is the agent's" "$("$AGENT" --version 2>&1)" \
    "$(once version "$IMAGE" rbd-luks-agent --version 2>&1)"
# shellcheck disable=SC2016
once inside "$IMAGE" sh -c '
    echo "uid=$(id -u) gid=$(id -g) user=$(id -un) groups=$(id -G)"
    for c in gcc cc c++ g++ cpp clang make ld as; do command -v "$c" >/dev/null && echo "compiler=$c"; done
    dpkg-query -W -f "\${Package}\n" |
        grep -E "^(gcc|cpp|g\+\+|clang|tcc|binutils|make)(-[0-9.]+)?$|-dev$" | sed "s/^/devpkg=/"
    echo "lists=$(ls -A /var/lib/apt/lists | wc -l) debs=$(find /var/cache/apt -name "*.deb" | wc -l)"
    for p in libinih1 librabbitmq4; do dpkg-query -W -f "\${Status}" "$p" 2>/dev/null | grep -q "ok installed" && echo "linkedin=$p"; done
    for m in digestmd5 scram; do ls /usr/lib/*/sasl2/lib$m.so* >/dev/null 2>&1 && echo "sasl=$m"; done
    find / -xdev -type f \( -name "*.keyring" -o -name "*.key" -o -name "kek*" -o -name "*.pem" \) \
        -not -path "/proc/*" -not -path "/usr/share/*" 2>/dev/null | sed "s/^/secret=/"
    echo "confdirs=$(find /etc/rbd-luks-agent/keys /etc/rbd-luks-agent/kek /etc/ceph -mindepth 1 | wc -l)"
' >"$T_TMP/inside.out" 2>&1
get() { sed -n "s/^$1=//p" "$T_TMP/inside.out" | tr '\n' ' ' | sed 's/ $//'; }
check_eq "runs as uid $AGENT_UID, gid $AGENT_UID, not root" "uid=$AGENT_UID gid=$AGENT_UID user=rbd-luks-agent" \
    "$(grep -o '^uid=[0-9]* gid=[0-9]* user=[^ ]*' "$T_TMP/inside.out")"
check "supplementary group kolla ($KOLLA_GID)" grep -q "^uid=.*groups=.*\b$KOLLA_GID\b" "$T_TMP/inside.out"
check_eq "no compiler in the runtime image" "" "$(get compiler)"
check_eq "no compiler or -dev package installed" "" "$(get devpkg)"
check_eq "apt lists empty, no .deb kept" "lists=0 debs=0" "$(grep '^lists=' "$T_TMP/inside.out")"
check_eq "no package for what the static build links in (libinih1, librabbitmq4)" "" "$(get linkedin)"
check_eq "the SASL mechanisms Kolla's libvirt asks for are there (DIGEST-MD5, SCRAM: libsasl2-modules)" \
    "digestmd5 scram" "$(get sasl)"
check_eq "no key, KEK, keyring or PEM in the image" "" "$(get secret)"
check_eq "key, KEK and /etc/ceph dirs empty" "confdirs=0" "$(grep '^confdirs=' "$T_TMP/inside.out")"

# --- host-side files for the containers ----------------------------------------------------
# A client-only ceph.conf: the cluster's [global] without its host paths, the
# keyring where Kolla puts it (/etc/ceph/ceph.client.<user>.keyring).
client_ceph_conf() {
    awk '/^\[/ && $0 != "[global]" { exit }
         /^(keyring|run dir|crash dir) *=/ { next }
         { print }' "$CEPH_CONF"
    # shellcheck disable=SC2016 # $name is ceph.conf's metavariable
    echo 'keyring = /etc/ceph/ceph.$name.keyring'
}
# container_ini FILE PROVIDER-LINES...: an agent config with the image's paths.
container_ini() {
    local out=$1
    shift
    {
        cat <<INI
[agent]
role = volume
hook_file = /var/lib/rbd-luks-agent/events.jsonl
state_dir = /var/lib/rbd-luks-agent
log_level = info
workers = 2
poll_interval_ms = 50
[ceph]
conf = /etc/ceph/ceph.conf
client = cinder
pool = $POOL
timeout_s = 20
[volume]
types = *
[keys]
INI
        printf '%s\n' "$@"
        cat <<INI
[luks]
iterations = 1000
[retry]
initial_ms = 100
max_ms = 1000
give_up_after_s = 20
INI
    } >"$out"
}

# The volume role with mounted files: owned by the agent's uid.
vol=$T_TMP/vol
mkdir -p "$vol/ceph" "$vol/keys" "$vol/state"
client_ceph_conf >"$vol/ceph/ceph.conf"
cp "$CEPH_DIR/ceph.client.cinder.keyring" "$vol/ceph/"
container_ini "$vol/agent.ini" "provider = file" "directory = /etc/rbd-luks-agent/keys"
: >"$vol/state/events.jsonl"
chmod 0750 "$vol/ceph" "$vol/state"
chmod 0700 "$vol/keys"
chmod 0600 "$vol/ceph/ceph.client.cinder.keyring" "$vol/agent.ini"
chmod 0644 "$vol/ceph/ceph.conf"
VMOUNTS=(-v "$vol/ceph:/etc/ceph:ro" -v "$vol/keys:/etc/rbd-luks-agent/keys:ro"
         -v "$vol/state:/var/lib/rbd-luks-agent")
VOLUME=("${VMOUNTS[@]}" -v "$vol/agent.ini:$CONF_IN:ro")
own() { chown -R "$AGENT_UID:$AGENT_UID" "$@"; }
own "$vol/ceph" "$vol/keys" "$vol/state" "$vol/agent.ini"

# --- check-config ---------------------------------------------------------------------
once config "${VOLUME[@]}" "$IMAGE" rbd-luks-agent check-config >"$T_TMP/cc.out" 2>&1
rc=$?
check_eq "check-config on a mounted config: exit 0" 0 "$rc"
check "check-config on a mounted config: OK" grep -q ": OK" "$T_TMP/cc.out"
cp -p "$vol/agent.ini" "$vol/broken.ini"
sed -i 's/^workers = .*/workers = lots/' "$vol/broken.ini"
bad_line=$(grep -n '^workers = lots' "$vol/broken.ini" | cut -d: -f1)
once badconfig "${VMOUNTS[@]}" -v "$vol/broken.ini:$CONF_IN:ro" "$IMAGE" rbd-luks-agent check-config \
    >"$T_TMP/bad.out" 2>&1
rc=$?
check_eq "check-config on a broken config: exit 1" 1 "$rc"
check "check-config names FILE:LINE of the problem" grep -q "^$CONF_IN:$bad_line: " "$T_TMP/bad.out"

# --- the volume role: run --once --------------------------------------------------------
a=$(new_uuid)
KEY_DIR=$vol/keys new_volume "$vol" "$a" 1
own "$vol/keys"
event_json "$a" 1 >>"$vol/state/events.jsonl"
POD_TIMEOUT=300 once once "${VOLUME[@]}" "$IMAGE" rbd-luks-agent -c "$CONF_IN" run --once \
    >"$T_TMP/once.log" 2>&1
rc=$?
check_eq "run --once in the container: exit 0" 0 "$rc"
check_eq "results.jsonl: formatted" 1 "$(result_count "$vol/state" "$a" formatted)"
check_eq "state files are the agent user's" "$AGENT_UID" "$(stat -c %u "$vol/state/results.jsonl" 2>&1)"

size_of() { qemu-img info --output=json --object "secret,id=s0,file=$2" --image-opts "$(luks_opts "$1")" | python3 -c 'import json,sys; print(json.load(sys.stdin)["virtual-size"])'; }
opens() { # ID PASSFILE: cryptsetup and qemu open the header with the passphrase
    local id=$1 pass=$2
    head_bytes "$id" 4 "$T_TMP/hdr-$id.bin"
    check "$id: cryptsetup opens the header with the passphrase" \
        cryptsetup luksOpen --test-passphrase --key-file "$pass" "$T_TMP/hdr-$id.bin"
    check_eq "$id: qemu opens it, exactly 1 GiB" "$GIB" "$(size_of "$id" "$pass" 2>&1)"
}
opens "$a" "$(KEY_DIR=$vol/keys passphrase_file "$vol" "$a")"

# --- kolla-start without config.json: the agent on the default config ----------------------
# The commands another change adds; until the image's agent has them their
# checks are skipped (said so, not counted).
once help "$IMAGE" rbd-luks-agent --help >"$T_TMP/help.out" 2>&1
have_cmd() { grep -q "^  $1\b" "$T_TMP/help.out"; }
if have_cmd kolla-start; then
    b=$(new_uuid)
    KEY_DIR=$vol/keys new_volume "$vol" "$b" 1
    own "$vol/keys"
    event_json "$b" 1 >>"$vol/state/events.jsonl"
    NAMES+=("$PREFIX-default")
    pod run -d --name "$PREFIX-default" --no-healthcheck "${RUNOPTS[@]}" "${VOLUME[@]}" "$IMAGE" >/dev/null
    check "kolla_start without config.json runs the agent: volume formatted" \
        wait_for 60 formatted "$vol/state" "$b"
    pod stop -t 15 "$PREFIX-default" >/dev/null
    check_eq "it stops on podman stop with exit 0" 0 "$(pod inspect --format '{{.State.ExitCode}}' "$PREFIX-default")"
    pod2 logs "$PREFIX-default" >"$T_TMP/default.log" 2>&1
    opens "$b" "$(KEY_DIR=$vol/keys passphrase_file "$vol" "$b")"
else
    echo "   SKIP kolla-start checks: the image's agent has no kolla-start command yet"
fi

# --- the Kolla path: config.json ------------------------------------------------------------
if have_cmd kolla-start; then
    k=$T_TMP/kolla
    mkdir -p "$k/config_files" "$k/state"
    cf=$k/config_files
    client_ceph_conf >"$cf/ceph.conf"
    cp "$CEPH_DIR/ceph.client.cinder.keyring" "$cf/"
    head -c 32 /dev/urandom >"$cf/kek-1.bin"
    container_ini "$cf/rbd-luks-agent.ini" "provider = metadata" "kek_id = kek-1" \
        "kek_file = /etc/rbd-luks-agent/kek/kek-1.bin"
    # Health refreshed every second: stale after 3 x 1 + 5 s.
    sed -i 's/^\[agent\]$/[agent]\nhealth_interval = 1/' "$cf/rbd-luks-agent.ini"
    cat >"$cf/config.json" <<'JSON'
{
    "command": "rbd-luks-agent -c /etc/rbd-luks-agent/rbd-luks-agent.ini run",
    "config_files": [
        {"source": "/var/lib/kolla/config_files/rbd-luks-agent.ini",
         "dest": "/etc/rbd-luks-agent/rbd-luks-agent.ini", "owner": "rbd-luks-agent", "perm": "0600"},
        {"source": "/var/lib/kolla/config_files/kek-1.bin",
         "dest": "/etc/rbd-luks-agent/kek/kek-1.bin", "owner": "rbd-luks-agent", "perm": "0600"},
        {"source": "/var/lib/kolla/config_files/ceph.conf",
         "dest": "/etc/ceph/ceph.conf", "owner": "rbd-luks-agent", "perm": "0600"},
        {"source": "/var/lib/kolla/config_files/ceph.client.cinder.keyring",
         "dest": "/etc/ceph/ceph.client.cinder.keyring", "owner": "rbd-luks-agent", "perm": "0600"}
    ]
}
JSON
    # As Kolla-Ansible leaves /etc/kolla/<service>: root's, readable by group kolla.
    chown -R "root:$KOLLA_GID" "$cf"
    chmod 0750 "$cf"
    chmod 0640 "$cf"/*
    : >"$k/state/events.jsonl"
    own "$k/state"
    chmod 0750 "$k/state"
    # The host's view for checking: the same KEK, the host's cluster paths.
    cp "$cf/kek-1.bin" "$T_TMP/kek-host.bin"
    chown root:root "$T_TMP/kek-host.bin"
    chmod 0600 "$T_TMP/kek-host.bin"
    mkdir -p "$T_TMP/hostview"
    : >"$T_TMP/hostview/events.jsonl"
    sed -e "s|^hook_file = .*|hook_file = $T_TMP/hostview/events.jsonl|" \
        -e "s|^state_dir = .*|state_dir = $T_TMP/hostview|" \
        -e "s|^conf = .*|conf = $CEPH_CONF|" \
        -e "s|^kek_file = .*|kek_file = $T_TMP/kek-host.bin|" "$cf/rbd-luks-agent.ini" >"$T_TMP/hostview.ini"
    host_pass() { # ID -> passphrase file, unwrapped by the host's agent
        "$AGENT" -c "$T_TMP/hostview.ini" keys passphrase "$1" >"$T_TMP/kpass-$1" 2>>"$T_TMP/hostview.log"
        echo "$T_TMP/kpass-$1"
    }

    c1=$(new_uuid) c2=$(new_uuid)
    rbd_ create --size 1024 "volume-$c1"
    rbd_ create --size 1024 "volume-$c2"
    event_json "$c1" 1 >>"$k/state/events.jsonl"
    kname=$PREFIX-kolla
    NAMES+=("$kname")
    # The image's own command (kolla_start) and healthcheck; no timer (no systemd).
    pod run -d --name "$kname" "${RUNOPTS[@]}" -e KOLLA_CONFIG_STRATEGY=COPY_ALWAYS \
        -v "$cf:/var/lib/kolla/config_files:ro" -v "$k/state:/var/lib/rbd-luks-agent" \
        "$IMAGE" >/dev/null
    check "kolla: the agent formats a volume present at start" wait_for 60 formatted "$k/state" "$c1"
    check_eq "kolla: the container runs" true "$(pod inspect --format '{{.State.Running}}' "$kname")"
    for f in /etc/rbd-luks-agent/kek/kek-1.bin /etc/rbd-luks-agent/rbd-luks-agent.ini \
             /etc/ceph/ceph.client.cinder.keyring; do
        check_eq "kolla: $f copied 0600 rbd-luks-agent" "600 rbd-luks-agent:rbd-luks-agent" \
            "$(pod exec "$kname" stat -c '%a %U:%G' "$f" 2>&1)"
    done
    check "kolla: the copied KEK is the source's" \
        bash -c "[ \"\$(podman --root '$SROOT' --runroot '$SRUN' --storage-driver '$driver' exec '$kname' od -An -tx1 /etc/rbd-luks-agent/kek/kek-1.bin)\" = \"\$(od -An -tx1 '$cf/kek-1.bin')\" ]"
    if have_cmd health; then
        healthy() { pod healthcheck run "$kname" >/dev/null; }
        unhealthy() { ! healthy; }
        check "kolla: podman healthcheck run passes" wait_for 30 healthy
        # A stuck agent (stopped by the host) must turn the check unhealthy.
        pid=$(pod inspect --format '{{.State.Pid}}' "$kname")
        if [ "${pid:-0}" -gt 1 ] && kill -STOP "$pid"; then
            check "kolla: healthcheck fails while the agent is stuck" wait_for 20 unhealthy
            kill -CONT "$pid"
            check "kolla: and passes again once it runs" wait_for 20 healthy
        else
            fail "kolla: the agent's pid" "podman inspect gave '$pid'"
        fi
    else
        fail "kolla: healthcheck" "the image's agent has no health command"
    fi
    event_json "$c2" 1 >>"$k/state/events.jsonl"
    check "kolla: the agent formats a volume whose event comes later" wait_for 60 formatted "$k/state" "$c2"
    # kolla-ansible's compare_container: kolla_set_configs --check as root in
    # the running container; 0 = in place, 1 = would change (recreate).
    setcheck() { pod2 exec -u root "$kname" /usr/local/bin/kolla_set_configs --check >"$T_TMP/setcheck.out" 2>&1; echo $?; }
    check_eq "kolla_set_configs --check after the deploy: exit 0" 0 "$(setcheck)"
    cp -p "$cf/rbd-luks-agent.ini" "$T_TMP/ini.orig"
    echo "# changed by the operator" >>"$cf/rbd-luks-agent.ini"
    check_eq "kolla_set_configs --check after a changed config file: exit 1" 1 "$(setcheck)"
    check "it names the file that differs" grep -q "rbd-luks-agent.ini" "$T_TMP/setcheck.out"
    cp -p "$T_TMP/ini.orig" "$cf/rbd-luks-agent.ini"
    check_eq "kolla_set_configs --check with the file as it was: exit 0" 0 "$(setcheck)"
    pod exec -u root "$kname" chmod 0640 /etc/rbd-luks-agent/kek/kek-1.bin
    check_eq "kolla_set_configs --check after a changed mode: exit 1" 1 "$(setcheck)"
    check "it names the mode" grep -q "kek-1.bin.*mode\|mode.*kek-1.bin" "$T_TMP/setcheck.out"
    pod exec -u root "$kname" chmod 0600 /etc/rbd-luks-agent/kek/kek-1.bin
    check_eq "kolla_set_configs --check with the mode back: exit 0" 0 "$(setcheck)"
    pod stop -t 15 "$kname" >/dev/null
    check_eq "kolla: podman stop ends the agent with exit 0" 0 "$(pod inspect --format '{{.State.ExitCode}}' "$kname")"
    pod2 logs "$kname" >"$T_TMP/kolla.log" 2>&1
    p1=$(host_pass "$c1")
    p2=$(host_pass "$c2")
    opens "$c1" "$p1"
    opens "$c2" "$p2"
    check "kolla: no passphrase in the container's log" bash -c "! grep -qF -f '$p1' '$T_TMP/kolla.log' && ! grep -qF -f '$p2' '$T_TMP/kolla.log'"

    # COPY_ONCE: the first start copies and leaves the marker; a restart of
    # the same container copies nothing and still runs the agent.
    oname=$PREFIX-once
    NAMES+=("$oname")
    pod run -d --name "$oname" "${RUNOPTS[@]}" -e KOLLA_CONFIG_STRATEGY=COPY_ONCE \
        -v "$cf:/var/lib/kolla/config_files:ro" -v "$k/state:/var/lib/rbd-luks-agent" \
        "$IMAGE" >/dev/null
    c3=$(new_uuid)
    rbd_ create --size 1024 "volume-$c3"
    event_json "$c3" 1 >>"$k/state/events.jsonl"
    check "COPY_ONCE: the agent runs and formats" wait_for 60 formatted "$k/state" "$c3"
    check "COPY_ONCE: the marker is left in the container" pod exec "$oname" test -f /var/lib/kolla/.configured
    pod restart -t 15 "$oname" >/dev/null
    marker_seen() { pod2 logs "$oname" 2>&1 | grep -q "COPY_ONCE: .* exists"; }
    check "COPY_ONCE: a restart skips the copy" wait_for 30 marker_seen
    check_eq "COPY_ONCE: and runs the agent again" true "$(pod inspect --format '{{.State.Running}}' "$oname")"
    pod stop -t 15 "$oname" >/dev/null

    # TripleO's shape: tripleo_container_configs writes config.json 0600
    # root's, the sources are root's too, the Ceph files come from a mount of
    # CephConfigPath (src-ceph); the container starts as root (user: root)
    # and kolla_start drops to the agent's user before running it.
    t=$T_TMP/tripleo
    mkdir -p "$t/src" "$t/ceph" "$t/state"
    cp "$cf/rbd-luks-agent.ini" "$cf/kek-1.bin" "$t/src/"
    cp "$cf/ceph.conf" "$cf/ceph.client.cinder.keyring" "$t/ceph/"
    sed -e 's#/var/lib/kolla/config_files/ceph#/var/lib/kolla/config_files/src-ceph/ceph#' \
        -e 's#/var/lib/kolla/config_files/rbd-luks-agent.ini#/var/lib/kolla/config_files/src/rbd-luks-agent.ini#' \
        -e 's#/var/lib/kolla/config_files/kek-1.bin#/var/lib/kolla/config_files/src/kek-1.bin#' \
        "$cf/config.json" >"$t/config.json"
    chown -R root:root "$t/src" "$t/ceph" "$t/config.json"
    chmod 0600 "$t/config.json" "$t/src"/* "$t/ceph"/*
    chmod 0700 "$t/src" "$t/ceph"
    : >"$t/state/events.jsonl"
    own "$t/state"
    chmod 0700 "$t/state"
    tname=$PREFIX-tripleo
    NAMES+=("$tname")
    c4=$(new_uuid)
    rbd_ create --size 1024 "volume-$c4"
    event_json "$c4" 1 >>"$t/state/events.jsonl"
    pod run -d --name "$tname" --user root "${RUNOPTS[@]}" -e KOLLA_CONFIG_STRATEGY=COPY_ALWAYS \
        -v "$t/config.json:/var/lib/kolla/config_files/config.json:ro" \
        -v "$t/src:/var/lib/kolla/config_files/src:ro" \
        -v "$t/ceph:/var/lib/kolla/config_files/src-ceph:ro" \
        -v "$t/state:/var/lib/rbd-luks-agent" "$IMAGE" >/dev/null
    check "tripleo: config.json 0600 root's, started as root: the agent formats" \
        wait_for 60 formatted "$t/state" "$c4"
    pod exec "$tname" cat /proc/1/status >"$T_TMP/tripleo-status" 2>&1
    check_eq "tripleo: the agent (pid 1) runs as uid $AGENT_UID (real, effective, saved, fs)" \
        "$AGENT_UID $AGENT_UID $AGENT_UID $AGENT_UID" "$(awk '$1 == "Uid:" { print $2, $3, $4, $5 }' "$T_TMP/tripleo-status")"
    check_eq "tripleo: and gid $AGENT_UID, groups $KOLLA_GID $AGENT_UID" "$AGENT_UID $AGENT_UID|$KOLLA_GID $AGENT_UID" \
        "$(awk '$1 == "Gid:" { print $2, $3 }' "$T_TMP/tripleo-status")|$(awk '$1 == "Groups:" { for (i = 2; i <= NF; i++) print $i }' "$T_TMP/tripleo-status" | sort -n | tr '\n' ' ' | sed 's/ $//')"
    check_eq "tripleo: the keyring from src-ceph copied 0600 rbd-luks-agent" "600 rbd-luks-agent" \
        "$(pod exec "$tname" stat -c '%a %U' /etc/ceph/ceph.client.cinder.keyring 2>&1)"
    check_eq "tripleo: kolla_set_configs --check as root: exit 0" 0 \
        "$(pod2 exec -u root "$tname" /usr/local/bin/kolla_set_configs --check >/dev/null 2>&1; echo $?)"
    pod stop -t 15 "$tname" >/dev/null
    pod2 logs "$tname" >"$T_TMP/tripleo.log" 2>&1
    check "tripleo: kolla_start says it dropped root" grep -q "running as rbd-luks-agent (uid $AGENT_UID" "$T_TMP/tripleo.log"
    check_eq "tripleo: podman stop ends it with exit 0" 0 "$(pod inspect --format '{{.State.ExitCode}}' "$tname")"
    opens "$c4" "$(host_pass "$c4")"
    # A service user that is root is refused, not run.
    once asroot --user root -e RBD_LUKS_AGENT_USER=root \
        -v "$t/config.json:/var/lib/kolla/config_files/config.json:ro" \
        -v "$t/src:/var/lib/kolla/config_files/src:ro" \
        -v "$t/ceph:/var/lib/kolla/config_files/src-ceph:ro" \
        -v "$t/state:/var/lib/rbd-luks-agent" "$IMAGE" >"$T_TMP/asroot.log" 2>&1
    rc=$?
    check_eq "RBD_LUKS_AGENT_USER=root: kolla_start refuses (exit 1)" 1 "$rc"
    check "and says the agent does not run as root" grep -q "does not run as root" "$T_TMP/asroot.log"
else
    fail "kolla: config.json" "the image's agent has no kolla-start command"
fi
