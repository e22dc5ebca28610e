#!/usr/bin/env bash
# A private libvirtd (and its virtlogd) for tests, with all of its state in one dir.
#
#   tests/lib/libvirt.sh start DIR             boot it; prints LIBVIRT_URI=<uri>
#   tests/lib/libvirt.sh stop DIR              destroy its domains, stop everything it
#                                              started (by recorded PID), idempotent
#   tests/lib/libvirt.sh restart-libvirtd DIR  SIGKILL libvirtd only and start it again
#                                              in the same namespace and config (running
#                                              domains survive, as after a real crash)
#   tests/lib/libvirt.sh uri DIR               print the URI of a started DIR
#   tests/lib/libvirt.sh sasl-user DIR NAME    add NAME to DIR's sasldb (password on
#                                              stdin; LIBVIRT_SASL_MECH, see below)
#
#   . tests/lib/libvirt.sh                     defines libvirt_start DIR, libvirt_stop DIR,
#                                              libvirt_restart_libvirtd DIR, libvirt_uri DIR,
#                                              libvirt_sasl_user DIR NAME,
#                                              libvirt_ceph_mon_port CEPH_CONF [v2|v1] and
#                                              libvirt_luks_rbd_domain_xml ..., and vsh
#                                              (virsh on the test's $URI; plus _lv_*
#                                              helpers); runs nothing
#
# Clients connect with  virsh -c 'qemu+unix:///system?socket=DIR/sock/libvirt-sock'.
#
# Remote transports, as Kolla's nova_libvirt listens (libvirtd.conf.j2): with
# LIBVIRT_TCP_PORT=N at start, libvirtd also listens on 127.0.0.1:N, auth_tcp "none"
# (qemu+tcp://127.0.0.1:N/system); with LIBVIRT_TLS_PORT=N and LIBVIRT_TLS_DIR=D
# (D/cacert.pem, D/servercert.pem, D/serverkey.pem), on 127.0.0.1:N over TLS,
# client certificates checked against the CA, auth_tls "none"
# (qemu+tls://127.0.0.1:N/system?pkipath=CLIENTDIR). restart-libvirtd keeps them.
# With LIBVIRT_SASL_MECH=M (DIGEST-MD5 or SCRAM-SHA-256, Kolla's two: nova-cell's
# libvirt_sasl_mech_list) both remote sockets ask for SASL instead (auth_tcp/auth_tls
# "sasl", as Kolla's libvirt_enable_sasl does) with mech_list M and a sasldb in
# DIR/etc/sasl2/passwd.db; add users with `tests/lib/libvirt.sh sasl-user DIR NAME`
# (password on stdin). Cyrus SASL finds DIR's libvirt.conf by SASL_CONF_PATH, which
# the daemon is started with, so the host's /etc/sasl2 is never read or written.
#
# How the daemons are kept off the host's libvirt. The root libvirtd and virtlogd use
# compiled-in paths (/etc/libvirt, /run/libvirt, /var/lib/libvirt, /var/log/libvirt,
# /var/cache/libvirt), so they run in a private mount namespace in which private dirs
# from DIR are bind-mounted over those paths:
#
#   DIR/etc   -> /etc/libvirt        (a copy of the host's config files, see below)
#   DIR/run   -> /run/libvirt        (virtlogd-sock, qemu/<domain>.pid, status XML)
#   DIR/lib   -> /var/lib/libvirt    (per-domain dirs: qemu monitor socket, master key)
#   DIR/log   -> /var/log/libvirt    (libvirtd.log, virtlogd.log, qemu/<domain>.log)
#   DIR/cache -> /var/cache/libvirt
#
# /run of the namespace is a fresh tmpfs (the host's /run/libvirt need not exist, and
# creating it as a mount point would touch the host), so the daemons also do not see
# the host's /run/dbus or /run/systemd. libvirtd's own sockets are in DIR/sock, which is
# not a bind target: the same path works inside and outside the namespace. Every bind
# source is a real DIR path as well, so DIR/run/qemu/*.pid and the logs can be read from
# outside.
#
# Processes. "start" runs a holder, `unshare --mount ... sleep infinity`, in its own
# session; it owns the namespace for its whole lifetime (DIR/holder.pid). The mounts
# are made with nsenter --mount=/proc/HOLDER/ns/mnt, and so are virtlogd --daemon and
# libvirtd --daemon (pid files DIR/virtlogd.pid, DIR/libvirtd.pid); restart-libvirtd
# enters the same namespace again. qemu is daemonized by libvirtd (its parent is init,
# not libvirtd) and runs in a child namespace libvirt makes for its /dev; its pid is in
# DIR/run/qemu/<domain>.pid.
#
# Identity. A pid from a pid file is signalled only if the process is still ours: it
# has the expected comm and its /proc/PID/mountinfo shows DIR/run mounted on
# /run/libvirt (the line recorded in DIR/ns.sig at start). That holds for the holder,
# both daemons and qemu, and for nothing else on the host, so reused pids and the
# host's own libvirt are never touched. "stop" also sweeps /proc for any process with
# that mount (e.g. a qemu whose pid file is gone) and kills it: never by name.
#
# Config. DIR/etc is a copy of the host's /etc/libvirt *files* (libvirtd.conf,
# qemu.conf, ...) plus nwfilter/; not secrets/, hooks/, or domain/network/pool
# definitions and autostart links. libvirtd.conf and virtlogd.conf are written here;
# qemu.conf gets these settings prepended (libvirt's config reader takes the first
# occurrence of a key): security_driver "none" (no AppArmor profiles under the host's
# /etc/apparmor.d), cgroup_controllers [] (no machine cgroups in the host hierarchy),
# user/group "root" (see the comment there). KVM is not needed: domains are
# type='qemu' (TCG). No network, pool or nwfilter binding is defined, so nothing
# needs dnsmasq or firewall rules (dnsmasq need not even be installed).
#
# Environment: LIBVIRT_LOG_LEVEL (1-4, default 3 = warnings) for DIR/log/libvirtd.log and
# DIR/log/virtlogd.log; qemu's own log is DIR/log/qemu/<domain>.log.

# ---------------------------------------------------------------------------------------
# Internal helpers. They run inside the subshells of the public functions, so set -e,
# traps and exit never leak into a shell that sourced this file.

_lv_log() { echo "libvirt: $*" >&2; }

_lv_absdir() {
    local d=$1
    [[ -n $d ]] || { _lv_log "missing DIR argument"; return 2; }
    [[ $d == /* ]] || d="$PWD/$d"
    realpath -m -- "$d"
}

# The host paths that get a private copy, and the DIR subdir that replaces each.
_LV_BINDS=(
    "etc:/etc/libvirt"
    "run:/run/libvirt"
    "lib:/var/lib/libvirt"
    "log:/var/log/libvirt"
    "cache:/var/cache/libvirt"
)

_lv_paths() {
    LV_DIR=$1
    LV_SOCK="$LV_DIR/sock/libvirt-sock"
    LV_URI="qemu+unix:///system?socket=$LV_SOCK"
    LV_HOLDER_PID="$LV_DIR/holder.pid"
    LV_LIBVIRTD_PID="$LV_DIR/libvirtd.pid"
    LV_VIRTLOGD_PID="$LV_DIR/virtlogd.pid"
    LV_SIG="$LV_DIR/ns.sig"
    LV_SETUP_LOG="$LV_DIR/setup.log"
}

# The listen_* lines of libvirtd.conf (LIBVIRT_TCP_PORT, LIBVIRT_TLS_PORT/_DIR).
_lv_listen_conf() {
    if [[ -n ${LIBVIRT_TCP_PORT:-} || -n ${LIBVIRT_TLS_PORT:-} ]]; then
        echo 'listen_addr = "127.0.0.1"'
    fi
    local auth=none
    [[ -n ${LIBVIRT_SASL_MECH:-} ]] && auth=sasl
    if [[ -n ${LIBVIRT_TCP_PORT:-} ]]; then
        printf 'listen_tcp = 1\ntcp_port = "%s"\nauth_tcp = "%s"\n' "$LIBVIRT_TCP_PORT" "$auth"
    else
        echo 'listen_tcp = 0'
    fi
    if [[ -n ${LIBVIRT_TLS_PORT:-} ]]; then
        printf 'listen_tls = 1\ntls_port = "%s"\nauth_tls = "%s"\n' "$LIBVIRT_TLS_PORT" "$auth"
        printf 'ca_file = "%s/cacert.pem"\ncert_file = "%s/servercert.pem"\nkey_file = "%s/serverkey.pem"\n' \
            "$LIBVIRT_TLS_DIR" "$LIBVIRT_TLS_DIR" "$LIBVIRT_TLS_DIR"
        echo 'tls_no_verify_certificate = 0'
    else
        echo 'listen_tls = 0'
    fi
}

# Cyrus SASL's config for libvirtd (LIBVIRT_SASL_MECH): DIR/etc/sasl2/libvirt.conf.
_lv_sasl_conf() {
    local dir=$1
    [[ -n ${LIBVIRT_SASL_MECH:-} ]] || return 0
    case $LIBVIRT_SASL_MECH in
        DIGEST-MD5 | SCRAM-SHA-256) ;;
        *) _lv_log "LIBVIRT_SASL_MECH: $LIBVIRT_SASL_MECH is not DIGEST-MD5 or SCRAM-SHA-256"; return 1 ;;
    esac
    command -v saslpasswd2 > /dev/null || { _lv_log "LIBVIRT_SASL_MECH needs saslpasswd2 (sasl2-bin)"; return 1; }
    mkdir -p "$dir/etc/sasl2"
    printf 'mech_list: %s\nsasldb_path: %s/etc/sasl2/passwd.db\n' "$LIBVIRT_SASL_MECH" "$dir" \
        > "$dir/etc/sasl2/libvirt.conf"
}

# The environment libvirtd starts with: SASL_CONF_PATH when DIR has a SASL config.
_lv_daemon_env() {
    local dir=$1
    if [[ -f $dir/etc/sasl2/libvirt.conf ]]; then
        echo "SASL_CONF_PATH=$dir/etc/sasl2"
    else
        echo "-uSASL_CONF_PATH"
    fi
}

# sasl-user DIR NAME: add (or replace) NAME in DIR's sasldb, password from stdin.
_lv_sasl_user() {
    local dir name=${2:-}
    dir=$(_lv_absdir "${1:-}") || return 2
    [[ -f $dir/etc/sasl2/libvirt.conf && -n $name ]] || {
        _lv_log "sasl-user: $dir was not started with LIBVIRT_SASL_MECH, or no NAME"; return 2; }
    saslpasswd2 -f "$dir/etc/sasl2/passwd.db" -c -p -a libvirt "$name"
}

# --listen when libvirtd.conf asks for a TCP or TLS socket.
_lv_listen_flag() { grep -qE '^listen_(tcp|tls) = 1' "$1/etc/libvirtd.conf" && echo --listen; }

_lv_virsh() { timeout -s KILL "${_LV_VIRSH_TIMEOUT:-20}" virsh -q -c "$LV_URI" "$@"; }

_lv_pid_running() {
    local stat
    stat=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
    stat=${stat##*) }
    [[ ${stat%% *} != Z ]]
}

# True if PID sees DIR/run mounted on /run/libvirt (our namespace or a child of it).
_lv_pid_in_ns() {
    local pid=$1 sig
    [[ $pid =~ ^[0-9]+$ ]] || return 1
    sig=$(cat "$LV_SIG" 2>/dev/null) || return 1
    [[ -n $sig ]] || return 1
    grep -qF -- "$sig" "/proc/$pid/mountinfo" 2>/dev/null
}

# _lv_pid_is_ours PID COMM: alive, comm is COMM (prefix: comm is cut at 15 chars),
# and in our namespace.
_lv_pid_is_ours() {
    local pid=$1 comm=$2 c
    [[ $pid =~ ^[0-9]+$ ]] || return 1
    _lv_pid_running "$pid" || return 1
    c=$(cat "/proc/$pid/comm" 2>/dev/null) || return 1
    [[ $c == "${comm:0:15}" ]] || return 1
    _lv_pid_in_ns "$pid"
}

# Signal PID with TERM, wait up to 10 s, then KILL and wait up to 5 s.
_lv_kill_pid() {
    local pid=$1 what=$2 i
    kill -TERM "$pid" 2>/dev/null || return 0
    for ((i = 0; i < 100; i++)); do
        _lv_pid_running "$pid" || return 0
        sleep 0.1
    done
    _lv_log "$what (pid $pid) ignored SIGTERM for 10 s, sending SIGKILL"
    kill -KILL "$pid" 2>/dev/null || true
    for ((i = 0; i < 50; i++)); do
        _lv_pid_running "$pid" || return 0
        sleep 0.1
    done
    _lv_log "$what (pid $pid) still there after SIGKILL"
    return 1
}

# _lv_stop_pidfile FILE COMM: stop the process in FILE if it is ours; remove FILE.
_lv_stop_pidfile() {
    local file=$1 comm=$2 pid
    [[ -f $file ]] || return 0
    pid=$(head -n1 "$file" 2>/dev/null || true)
    pid=${pid//[[:space:]]/}
    if _lv_pid_is_ours "$pid" "$comm"; then
        _lv_kill_pid "$pid" "$comm" || true
    fi
    rm -f -- "$file"
}

# Start a daemon inside the namespace without passing on any of our file descriptors
# (a caller doing $(libvirt.sh start DIR) would otherwise wait for the daemon to exit).
# The daemons fork into the background themselves and write their pid file.
_lv_spawn_daemon() {
    local name=$1; shift
    (
        for fd in /proc/"$BASHPID"/fd/*; do
            fd=${fd##*/}
            if ((fd > 2)); then exec {fd}>&-; fi
        done
        exec setsid nsenter --mount="/proc/$(cat "$LV_HOLDER_PID")/ns/mnt" -- "$@" \
            < /dev/null >> "$LV_DIR/log/$name.out" 2>&1
    )
}

# _lv_wait_pidfile FILE COMM: until FILE names a running COMM of ours (max 10 s).
_lv_wait_pidfile() {
    local file=$1 comm=$2 i
    for ((i = 0; i < 100; i++)); do
        _lv_pid_is_ours "$(cat "$file" 2>/dev/null)" "$comm" && return 0
        sleep 0.1
    done
    _lv_log "$comm did not write a valid $file within 10 s"
    return 1
}

# Wait until libvirtd answers on its socket (at most 30 s), then until its qemu driver
# has probed qemu's capabilities (virsh version; at most 30 s more): the first start
# with an empty cache probes every qemu-system-* binary for a few seconds each, and a
# domain start before that would wait for it (and be timed wrongly).
_lv_wait_libvirtd() {
    local i pid
    for ((i = 0; i < 120; i++)); do
        pid=$(cat "$LV_LIBVIRTD_PID" 2>/dev/null || true)
        if ((i > 20)) && ! _lv_pid_is_ours "$pid" libvirtd; then
            _lv_log "libvirtd is not running"
            return 1
        fi
        if [[ -S $LV_SOCK ]] &&
           _LV_VIRSH_TIMEOUT=5 _lv_virsh uri >> "$LV_SETUP_LOG" 2>&1; then
            break
        fi
        sleep 0.25
    done
    ((i < 120)) || { _lv_log "libvirtd did not answer within 30 s"; return 1; }
    _LV_VIRSH_TIMEOUT=30 _lv_virsh version >> "$LV_SETUP_LOG" 2>&1 ||
        { _lv_log "libvirtd's qemu driver did not answer within 30 s"; return 1; }
}

_lv_write_config() {
    local lvl=${LIBVIRT_LOG_LEVEL:-3} f
    [[ $lvl =~ ^[1-4]$ ]] || { _lv_log "LIBVIRT_LOG_LEVEL must be 1 (debug) to 4 (errors)"; return 2; }
    # Config files of the host only: no secrets, hooks, defined objects or autostart.
    mkdir -p "$LV_DIR/etc" || return 1
    chmod 755 "$LV_DIR/etc"
    for f in /etc/libvirt/*; do
        [[ -f $f ]] && { cp -p -- "$f" "$LV_DIR/etc/" || return 1; }
    done
    if [[ -d /etc/libvirt/nwfilter ]]; then
        cp -rp /etc/libvirt/nwfilter "$LV_DIR/etc/" || return 1
    fi

    cat > "$LV_DIR/etc/libvirtd.conf" <<EOF || return 1
# Private test libvirtd made by tests/lib/libvirt.sh; runs in a private mount namespace.
unix_sock_dir = "$LV_DIR/sock"
unix_sock_group = "root"
unix_sock_ro_perms = "0700"
unix_sock_rw_perms = "0700"
unix_sock_admin_perms = "0700"
auth_unix_ro = "none"
auth_unix_rw = "none"
$(_lv_listen_conf)
log_level = $lvl
log_outputs = "$lvl:file:/var/log/libvirt/libvirtd.log"
EOF
    _lv_sasl_conf "$LV_DIR" || return 1
    cat > "$LV_DIR/etc/virtlogd.conf" <<EOF || return 1
# Private test virtlogd made by tests/lib/libvirt.sh; socket /run/libvirt/virtlogd-sock
# inside the namespace, which is $LV_DIR/run/virtlogd-sock.
log_level = $lvl
log_outputs = "$lvl:file:/var/log/libvirt/virtlogd.log"
EOF
    # First occurrence of a key wins in libvirt's config reader: prepend ours.
    {
        cat <<'EOF'
# --- tests/lib/libvirt.sh: these come first and win over any later setting ---
# No AppArmor/SELinux labelling (it would write profiles outside the namespace).
security_driver = "none"
# No cgroups: they live in the host's /sys/fs/cgroup hierarchy.
cgroup_controllers = [ ]
# qemu runs as root. libvirt probes qemu's capabilities with /dev/kvm as root but then
# checks "KVM usable" as this user: where /dev/kvm exists but is root-only (0600), as
# on some CI VMs, the cached capabilities never validate and every lookup (virsh
# version, each domain start) re-probes qemu for seconds. Root also reads a ceph.conf
# in a private 0700 test dir.
user = "root"
group = "root"
# Domains here are TCG and paused; no need to dump guest memory on a crash.
dump_guest_core = 0
stdio_handler = "logd"
# --- the host's qemu.conf follows ---
EOF
        [[ -f /etc/libvirt/qemu.conf ]] && cat /etc/libvirt/qemu.conf
    } > "$LV_DIR/etc/qemu.conf.new" || return 1
    mv -f "$LV_DIR/etc/qemu.conf.new" "$LV_DIR/etc/qemu.conf" || return 1
    chmod 600 "$LV_DIR/etc/qemu.conf"
}

# The namespace: a fresh tmpfs on /run, then every bind. Runs inside it (via nsenter).
# unshare --propagation private has already made / rprivate; doing it again is cheap
# and makes the intent explicit. -n everywhere: without it, mount(8)'s libmount creates
# /run/mount (its utab lock dir) on the host's /run before the tmpfs hides it.
_lv_setup_script() {
    local b
    echo 'set -e'
    echo 'mount -n --make-rprivate /'
    echo 'mount -n -t tmpfs -o mode=755,size=16m,nosuid,nodev libvirt-test-run /run'
    echo 'mkdir -p /run/libvirt /run/lock && chmod 1777 /run/lock'
    for b in "${_LV_BINDS[@]}"; do
        echo "mkdir -p '${b#*:}'"
        echo "mount -n --bind '$LV_DIR/${b%%:*}' '${b#*:}'"
    done
}

_lv_on_start_exit() {
    local rc=$1
    ((rc == 0)) && return 0
    _lv_log "start of $LV_DIR failed (rc=$rc)"
    local f
    for f in "$LV_SETUP_LOG" "$LV_DIR"/log/*.log "$LV_DIR"/log/*.out; do
        [[ -s $f ]] || continue
        echo "----- tail of $f -----" >&2
        tail -n 30 "$f" >&2
    done
    _lv_stop "$LV_DIR" || true
}

_lv_start() {
    local dir holder me ns i b t0 t1
    dir=$(_lv_absdir "${1:-}") || return 2
    _lv_paths "$dir"
    if [[ $dir =~ [[:space:]\;\#\$=\'\"\\\&\?] ]]; then
        _lv_log "DIR must not contain spaces or any of ;#\$=&?\\'\": $dir"; return 2
    fi
    # AF_UNIX paths are limited to 108 bytes: DIR/sock/libvirt-admin-sock.
    if ((${#dir} > 80)); then
        _lv_log "DIR path too long for unix sockets (max 80 chars): $dir"; return 2
    fi
    # Bind targets hide what is under them, and /run is a tmpfs in the namespace.
    for b in "${_LV_BINDS[@]}" x:/run x:/var/run; do
        if [[ $dir/ == "${b#*:}"/* ]]; then
            _lv_log "DIR must not be under ${b#*:}"; return 2
        fi
    done
    if [[ -e $dir && ! -d $dir ]]; then
        _lv_log "$dir exists and is not a directory"; return 2
    fi
    if [[ -d $dir && -n $(ls -A -- "$dir") ]]; then
        _lv_log "$dir is not empty"; return 2
    fi
    for b in libvirtd virtlogd virsh unshare nsenter; do
        command -v "$b" > /dev/null || { _lv_log "$b is needed"; return 1; }
    done
    t0=$(date +%s%N)
    mkdir -p -- "$dir" || return 1
    # Secret values end up in DIR/etc/secrets.
    chmod 700 "$dir" || return 1
    mkdir -p "$dir/sock" "$dir/run" "$dir/lib" "$dir/log" "$dir/cache" || return 1
    chmod 755 "$dir/run" "$dir/lib" "$dir/log" "$dir/cache"
    : > "$LV_SETUP_LOG"

    trap '_lv_on_start_exit $?' EXIT

    _lv_write_config || return 1

    # The holder: a process that only keeps the namespace. setsid and unshare exec
    # without forking, so $! is the pid that ends up running sleep.
    (
        for fd in /proc/"$BASHPID"/fd/*; do
            fd=${fd##*/}
            if ((fd > 2)); then exec {fd}>&-; fi
        done
        exec setsid unshare --mount --propagation private -- sleep infinity \
            < /dev/null >> "$LV_SETUP_LOG" 2>&1
    ) &
    holder=$!
    echo "$holder" > "$LV_HOLDER_PID"
    me=$(readlink /proc/self/ns/mnt)
    for ((i = 0; i < 100; i++)); do
        ns=$(readlink "/proc/$holder/ns/mnt" 2>/dev/null) || ns=
        [[ -n $ns && $ns != "$me" && $(cat "/proc/$holder/comm" 2>/dev/null) == sleep ]] && break
        _lv_pid_running "$holder" || { _lv_log "namespace holder died"; return 1; }
        sleep 0.05
    done
    if [[ -z $ns || $ns == "$me" ]]; then
        _lv_log "namespace holder did not unshare within 5 s"
        kill -KILL "$holder" 2>/dev/null
        return 1
    fi
    if ! _lv_setup_script | nsenter --mount="/proc/$holder/ns/mnt" -- bash \
            >> "$LV_SETUP_LOG" 2>&1; then
        _lv_log "mount setup in the namespace failed"
        kill -KILL "$holder" 2>/dev/null
        return 1
    fi
    # The identity of everything in this namespace (and libvirt's child namespaces):
    # "MAJ:MIN ROOT /run/libvirt" from its mountinfo; fields 3-5.
    awk '$5 == "/run/libvirt" { print " " $3 " " $4 " " $5 " " }' "/proc/$holder/mountinfo" \
        > "$LV_SIG"
    if [[ $(wc -l < "$LV_SIG") != 1 ]] || ! _lv_pid_is_ours "$holder" sleep; then
        _lv_log "cannot identify the namespace (mountinfo of $holder)"
        kill -KILL "$holder" 2>/dev/null
        return 1
    fi

    _lv_spawn_daemon virtlogd virtlogd --daemon --config "$dir/etc/virtlogd.conf" \
        --pid-file "$LV_VIRTLOGD_PID" || { _lv_log "virtlogd failed to start"; return 1; }
    _lv_wait_pidfile "$LV_VIRTLOGD_PID" virtlogd || return 1
    for ((i = 0; i < 100; i++)); do
        [[ -S $dir/run/virtlogd-sock ]] && break
        sleep 0.1
    done
    [[ -S $dir/run/virtlogd-sock ]] || { _lv_log "no virtlogd socket after 10 s"; return 1; }

    # shellcheck disable=SC2046 # no word, or the one word --listen
    _lv_spawn_daemon libvirtd env "$(_lv_daemon_env "$dir")" libvirtd --daemon $(_lv_listen_flag "$dir") --config "$dir/etc/libvirtd.conf" \
        --pid-file "$LV_LIBVIRTD_PID" || { _lv_log "libvirtd failed to start"; return 1; }
    _lv_wait_libvirtd || return 1
    t1=$(date +%s%N)

    trap - EXIT
    _lv_log "libvirtd up in $dir in $(((t1 - t0) / 1000000)) ms (pid $(cat "$LV_LIBVIRTD_PID"), virtlogd $(cat "$LV_VIRTLOGD_PID"), namespace holder $holder)"
    echo "LIBVIRT_URI=$LV_URI"
}

# Pids of every process that sees our DIR/run on /run/libvirt.
_lv_ns_pids() {
    local p pid
    for p in /proc/[0-9]*; do
        pid=${p#/proc/}
        [[ $pid == "$BASHPID" ]] && continue
        _lv_pid_in_ns "$pid" && _lv_pid_running "$pid" && echo "$pid"
    done
    return 0
}

_lv_stop() {
    local dir f pid name
    dir=$(_lv_absdir "${1:-}") || return 2
    _lv_paths "$dir"
    [[ -d $dir ]] || return 0
    [[ -f $LV_SIG ]] || return 0

    # Domains first, while libvirtd can still do it cleanly.
    if _lv_pid_is_ours "$(cat "$LV_LIBVIRTD_PID" 2>/dev/null)" libvirtd &&
       _LV_VIRSH_TIMEOUT=5 _lv_virsh version > /dev/null 2>&1; then
        while read -r name; do
            [[ -n $name ]] || continue
            _LV_VIRSH_TIMEOUT=20 _lv_virsh destroy "$name" > /dev/null 2>&1 ||
                _lv_log "virsh destroy $name failed"
        done < <(_LV_VIRSH_TIMEOUT=10 _lv_virsh list --name 2>/dev/null)
    fi
    # qemu that libvirtd could not (or no longer can) destroy: its pid files.
    for f in "$dir"/run/qemu/*.pid; do
        [[ -f $f ]] || continue
        pid=$(head -n1 "$f" 2>/dev/null || true)
        pid=${pid//[[:space:]]/}
        if _lv_pid_running "$pid" && _lv_pid_in_ns "$pid" &&
           [[ $(cat "/proc/$pid/comm" 2>/dev/null) == qemu-* ]]; then
            _lv_kill_pid "$pid" "qemu" || true
        fi
    done
    _lv_stop_pidfile "$LV_LIBVIRTD_PID" libvirtd
    _lv_stop_pidfile "$LV_VIRTLOGD_PID" virtlogd
    _lv_stop_pidfile "$LV_HOLDER_PID" sleep
    # Anything else still inside the namespace (or libvirt's children of it).
    for pid in $(_lv_ns_pids); do
        _lv_log "stray process $pid ($(cat "/proc/$pid/comm" 2>/dev/null)) in the namespace"
        _lv_kill_pid "$pid" "stray process" || true
    done
    if [[ -n $(_lv_ns_pids) ]]; then
        _lv_log "processes left in the namespace of $dir: $(_lv_ns_pids | tr '\n' ' ')"
        return 1
    fi
    return 0
}

_lv_restart_libvirtd() {
    local dir pid i t0 t1
    dir=$(_lv_absdir "${1:-}") || return 2
    _lv_paths "$dir"
    _lv_pid_is_ours "$(cat "$LV_HOLDER_PID" 2>/dev/null)" sleep ||
        { _lv_log "no running namespace in $dir (start it first)"; return 1; }
    t0=$(date +%s%N)
    pid=$(cat "$LV_LIBVIRTD_PID" 2>/dev/null || true)
    if _lv_pid_is_ours "$pid" libvirtd; then
        kill -KILL "$pid"
        for ((i = 0; i < 100; i++)); do
            _lv_pid_running "$pid" || break
            sleep 0.05
        done
        _lv_pid_running "$pid" && { _lv_log "libvirtd $pid survived SIGKILL"; return 1; }
    fi
    # shellcheck disable=SC2046 # no word, or the one word --listen
    _lv_spawn_daemon libvirtd env "$(_lv_daemon_env "$dir")" libvirtd --daemon $(_lv_listen_flag "$dir") --config "$dir/etc/libvirtd.conf" \
        --pid-file "$LV_LIBVIRTD_PID" || { _lv_log "libvirtd failed to start"; return 1; }
    _lv_wait_libvirtd || return 1
    t1=$(date +%s%N)
    _lv_log "libvirtd restarted in $(((t1 - t0) / 1000000)) ms (pid $(cat "$LV_LIBVIRTD_PID"))"
}

_lv_uri() {
    local dir
    dir=$(_lv_absdir "${1:-}") || return 2
    _lv_paths "$dir"
    echo "$LV_URI"
}

_lv_xml_escape() {
    local s=$1
    s=${s//&/&amp;}; s=${s//</&lt;}; s=${s//>/&gt;}; s=${s//\'/&apos;}; s=${s//\"/&quot;}
    printf '%s' "$s"
}

# ---------------------------------------------------------------------------------------
# Public functions: each runs in a subshell so that strict mode and exit stay inside.

libvirt_start()            ( set -euo pipefail; _lv_start "$@" )
libvirt_stop()             ( set -euo pipefail; _lv_stop "$@" )
libvirt_restart_libvirtd() ( set -euo pipefail; _lv_restart_libvirtd "$@" )
libvirt_uri()              ( set -euo pipefail; _lv_uri "$@" )
libvirt_sasl_user()        ( set -euo pipefail; _lv_sasl_user "$@" )

# vsh VIRSH_ARGS...: virsh -q on $URI (the test sets it from libvirt_start's
# LIBVIRT_URI= line), killed after VSH_TIMEOUT seconds (120 unless the test sets it).
vsh() { timeout -s KILL "${VSH_TIMEOUT:-120}" virsh -q -c "$URI" "$@"; }

# libvirt_ceph_mon_port CEPH_CONF [v2|v1]: the port of the first mon's msgr2 (default)
# or msgr1 address in the "mon host" line of CEPH_CONF (form [v2:IP:P,v1:IP:P2]).
# Either works in <host port>: qemu gives librados mon_host "NAME:PORT" without a v1:/v2:
# prefix, and Ceph (MonMap::_add_ambiguous_addr) turns a bare address on a port other
# than 3300/6789 into two monmap entries, msgr2 and msgr1 on that port, which MonClient
# hunts in parallel; the one that speaks the right protocol wins.
libvirt_ceph_mon_port() (
    set -euo pipefail
    local line proto=${2:-v2}
    [[ $proto == v1 || $proto == v2 ]] || { _lv_log "protocol must be v1 or v2"; return 2; }
    line=$(grep -E '^[[:space:]]*mon[ _]host[[:space:]]*=' "$1" | head -n1) || true
    [[ $line =~ $proto:[^],]*:([0-9]+) ]] ||
        { _lv_log "no $proto address in the mon host line of $1"; return 1; }
    echo "${BASH_REMATCH[1]}"
)

# libvirt_luks_rbd_domain_xml NAME POOL IMAGE MON_HOST MON_PORT CEPH_USER
#                             CEPHX_SECRET_UUID VOLUME_SECRET_UUID
# A minimal TCG domain (64 MiB, no network, no graphics, no serial) with one LUKS disk
# on RBD, shaped as Nova writes it. MON_PORT: see libvirt_ceph_mon_port; CEPH_USER is
# the cephx name without "client.". (libvirt 9.0 also takes <config file='ceph.conf'/>
# in <source> instead of <host>; qemu then reads mon host from that file, which the
# qemu process must be able to read.)
libvirt_luks_rbd_domain_xml() (
    set -euo pipefail
    if (($# != 8)); then
        _lv_log "usage: libvirt_luks_rbd_domain_xml NAME POOL IMAGE MON_HOST MON_PORT CEPH_USER CEPHX_SECRET_UUID VOLUME_SECRET_UUID"
        return 2
    fi
    local name pool image host port user cephx vol
    name=$(_lv_xml_escape "$1"); pool=$(_lv_xml_escape "$2"); image=$(_lv_xml_escape "$3")
    host=$(_lv_xml_escape "$4"); port=$(_lv_xml_escape "$5"); user=$(_lv_xml_escape "$6")
    cephx=$(_lv_xml_escape "$7"); vol=$(_lv_xml_escape "$8")
    cat <<EOF
<domain type='qemu'>
  <name>$name</name>
  <memory unit='MiB'>64</memory>
  <vcpu>1</vcpu>
  <os>
    <type arch='x86_64' machine='pc'>hvm</type>
  </os>
  <on_poweroff>destroy</on_poweroff>
  <on_reboot>destroy</on_reboot>
  <on_crash>destroy</on_crash>
  <devices>
    <disk type='network' device='disk'>
      <driver name='qemu' type='raw'/>
      <source protocol='rbd' name='$pool/$image'>
        <host name='$host' port='$port'/>
      </source>
      <auth username='$user'>
        <secret type='ceph' uuid='$cephx'/>
      </auth>
      <encryption format='luks'>
        <secret type='passphrase' uuid='$vol'/>
      </encryption>
      <target dev='vda' bus='virtio'/>
    </disk>
    <controller type='usb' model='none'/>
    <video>
      <model type='none'/>
    </video>
    <memballoon model='none'/>
  </devices>
</domain>
EOF
)

if [[ ${BASH_SOURCE[0]} == "$0" ]]; then
    set -euo pipefail
    usage="usage: $0 start|stop|restart-libvirtd|uri DIR | sasl-user DIR NAME"
    [[ $# -eq 2 || ($# -eq 3 && $1 == sasl-user) ]] || { echo "$usage" >&2; exit 2; }
    case $1 in
        sasl-user)        libvirt_sasl_user "$2" "$3" ;;
        start)            libvirt_start "$2" ;;
        stop)             libvirt_stop "$2" ;;
        restart-libvirtd) libvirt_restart_libvirtd "$2" ;;
        uri)              libvirt_uri "$2" ;;
        *) echo "$usage" >&2; exit 2 ;;
    esac
fi
