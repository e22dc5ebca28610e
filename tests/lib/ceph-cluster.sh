#!/usr/bin/env bash
# A private one-monitor, one-OSD Ceph cluster for tests, with all of its state in one dir.
#
#   tests/lib/ceph-cluster.sh start DIR      boot it; prints CEPH_CONF=DIR/ceph.conf
#   tests/lib/ceph-cluster.sh stop DIR       stop the daemons listed in DIR/*.pid
#   tests/lib/ceph-cluster.sh stop-osd DIR   stop only the OSD (for fault tests)
#   tests/lib/ceph-cluster.sh start-osd DIR  start it again and wait until it is up
#   tests/lib/ceph-cluster.sh start-mgr DIR  add one ceph-mgr (mgr.x) to the running cluster
#                                            and wait until it is active (stop stops it too)
#   tests/lib/ceph-cluster.sh stop-mgr DIR   stop only the mgr
#
#   . tests/lib/ceph-cluster.sh              defines ceph_cluster_start DIR,
#                                            ceph_cluster_stop DIR, ceph_cluster_stop_osd DIR,
#                                            ceph_cluster_start_osd DIR,
#                                            ceph_cluster_start_mgr DIR,
#                                            ceph_cluster_stop_mgr DIR; nothing else
#
# The mgr is optional: start boots none (clients that only do I/O need none, and a mon
# without one is quicker to boot). Add it when a client wants pool statistics, as
# `ceph df` and Cinder's RBD driver do. It binds in the same private port range, keeps
# its keyring (DIR/ceph.mgr.x.keyring), data, log and admin socket in DIR, and only
# the modules Ceph always loads run (the restful API is disabled before it starts), with
# devicehealth's monitoring off: it would otherwise create a pool of its own
# (device_health_metrics). A test that adds the mgr to a shared cluster should stop it
# again (stop-mgr) for the tests after it.
#
# Clients: --conf DIR/ceph.conf --id admin (all caps) or --id cinder (profile rbd on the
# pool "volumes"); keyrings are DIR/ceph.client.{admin,cinder}.keyring.
# Environment: CEPH_MEMSTORE_BYTES (default 3 GiB) is the OSD's capacity. Memstore keeps
# everything in RAM (about 2.2 x the bytes stored) and a full memstore OSD blocks writers
# forever, so keep test data small.
# CEPH_OBJECTSTORE=bluestore (opt-in; default memstore) gives the OSD a BlueStore on a
# file instead, DIR/osd/block, created by ceph-osd --mkfs (bluestore block create) with
# CEPH_BLUESTORE_BYTES (default 20 GiB) as its size: sparse, so it takes disk only for
# what is written, and stop removes nothing (the dir goes with DIR). For benchmarks that
# store more than RAM holds; the file system under DIR must accept O_DIRECT (not tmpfs).
#
# Memstore and OSD restarts: memstore only writes its contents to DIR/osd when the store
# is unmounted cleanly. Ceph 16 defaults to "osd fast shutdown", which _exit()s on SIGTERM
# without unmounting, so a restarted OSD would come back empty (not even its superblock).
# We set "osd fast shutdown = false": SIGTERM then unmounts and saves the store, and
# stop-osd/start-osd are a real stop and restart that keep the data. Only a SIGKILL (what
# stop does after 10 s of waiting) loses it. To simulate a hung rather than a dead OSD,
# SIGSTOP/SIGCONT the pid in DIR/osd.pid yourself: the monitor keeps it "up" (there is
# no peer OSD to report it) and client I/O just stalls until SIGCONT or the client's
# "rados osd op timeout" (30 s) expires.
#
# Everything (conf, keyrings, mon store, OSD data, logs, admin sockets, pid files) lives
# in DIR; nothing is written elsewhere, so several clusters can run side by side.

# ---------------------------------------------------------------------------------------
# Internal helpers. They run inside the subshells of the public functions, so set -e,
# traps and exit never leak into a shell that sourced this file.

_cc_log() { echo "ceph-cluster: $*" >&2; }

# Run a setup command with its output in the setup log. Callers add "|| return 1":
# bash ignores set -e inside functions called from if/||/&& (also in a caller's
# "if ceph_cluster_start ...", even in our subshell), so every step checks explicitly.
_cc_q() {
    "$@" >> "$CC_SETUP_LOG" 2>&1 && return 0
    _cc_log "failed: $*"
    return 1
}

# Resolve DIR to an absolute path: the daemons chdir to / and ceph.conf must not depend
# on the caller's cwd.
_cc_absdir() {
    local d=$1
    [[ -n $d ]] || { _cc_log "missing DIR argument"; return 2; }
    [[ $d == /* ]] || d="$PWD/$d"
    # Collapse . and .. without requiring the dir to exist (it may be created later).
    realpath -m -- "$d"
}

# Per-cluster paths. Globals on purpose: every command works on exactly one DIR.
_cc_paths() {
    CC_DIR=$1
    CC_CONF="$CC_DIR/ceph.conf"
    CC_LOGDIR="$CC_DIR/log"
    CC_SETUP_LOG="$CC_LOGDIR/setup.log"
}

# Client commands without a mgr can hang forever (e.g. waiting for a mon or an OSD that
# is not there); SIGKILL because the python ceph CLI can ignore SIGTERM while blocked.
_cc_ceph() { timeout -s KILL 30 ceph --conf "$CC_CONF" --id admin "$@"; }
_cc_rbd()  { timeout -s KILL 30 rbd --conf "$CC_CONF" --id admin "$@"; }

# True if PID is alive and is a ceph-mon/ceph-osd of *this* cluster: pid files can be
# stale and the pid reused, and we must never signal anything else (matching argv[0]
# and the exact --conf argument, so clients run with the same conf never match).
_cc_pid_is_ours() {
    local pid=$1 a args=()
    [[ $pid =~ ^[0-9]+$ ]] || return 1
    mapfile -d '' -t args 2>/dev/null < "/proc/$pid/cmdline" || return 1
    ((${#args[@]} > 0)) || return 1
    [[ ${args[0]##*/} == ceph-mon || ${args[0]##*/} == ceph-osd ||
       ${args[0]##*/} == ceph-mgr ]] || return 1
    for a in "${args[@]}"; do
        [[ $a == "$CC_CONF" ]] && return 0
    done
    return 1
}

# True while PID exists and is not a zombie. Used after _cc_pid_is_ours has matched
# (an exiting process loses its cmdline before it has closed its sockets), and while
# waiting for a daemon we just spawned: until our forked subshell has exec'd it, the
# pid's cmdline is still bash's, so _cc_pid_is_ours would call it dead.
_cc_pid_running() {
    local stat
    stat=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
    stat=${stat##*) }
    [[ ${stat%% *} != Z ]]
}

# Stop the daemon whose pid is in FILE: SIGTERM, wait up to 10 s, then SIGKILL.
_cc_stop_pidfile() {
    local file=$1 pid i
    [[ -f $file ]] || return 0
    pid=$(head -n1 "$file" 2>/dev/null || true)
    if _cc_pid_is_ours "$pid"; then
        kill -TERM "$pid" 2>/dev/null || true
        for ((i = 0; i < 100; i++)); do
            _cc_pid_running "$pid" || break
            sleep 0.1
        done
        if _cc_pid_running "$pid"; then
            _cc_log "pid $pid ($file) ignored SIGTERM for 10 s, sending SIGKILL"
            kill -KILL "$pid" 2>/dev/null || true
            for ((i = 0; i < 50; i++)); do
                _cc_pid_running "$pid" || break
                sleep 0.1
            done
        fi
    fi
    rm -f -- "$file"
}

# Print the end of the logs that explain a failed start.
_cc_dump_logs() {
    local f
    for f in "$CC_SETUP_LOG" "$CC_LOGDIR"/mon.a.log "$CC_LOGDIR"/mon.a.out \
             "$CC_LOGDIR"/osd.0.log "$CC_LOGDIR"/osd.0.out \
             "$CC_LOGDIR"/mgr.x.log "$CC_LOGDIR"/mgr.x.out; do
        [[ -s $f ]] || continue
        echo "----- tail of $f -----" >&2
        tail -n 30 "$f" >&2
    done
}

# Ports in use on this host (any state), from /proc so that no extra tool is needed.
_cc_used_ports() {
    local f
    for f in /proc/net/tcp /proc/net/tcp6; do
        [[ -r $f ]] || continue
        # Column 2 is local_address as HEXIP:HEXPORT.
        awk 'NR > 1 { split($2, a, ":"); print a[2] }' "$f"
    done | while read -r hex; do echo $((16#$hex)); done | sort -un
}

# Pick a block of 32 ports in 20000-39999 that nobody uses: the mon listens on P (msgr2)
# and P+1 (msgr1); the OSD binds its 4 messengers x 2 protocols in P+2..P+21. Random
# blocks keep concurrent starts apart; a collision anyway makes the mon fail to bind,
# which start detects and retries with another block.
_cc_pick_ports() {
    local used base p ok try
    used=" $(_cc_used_ports | tr '\n' ' ') "
    for ((try = 0; try < 50; try++)); do
        base=$((20000 + (RANDOM % 625) * 32))
        ok=1
        for ((p = base; p < base + 32; p++)); do
            if [[ $used == *" $p "* ]]; then ok=0; break; fi
        done
        if ((ok)); then
            CC_PORT=$base
            return 0
        fi
    done
    _cc_log "no free port block found in 20000-39999"
    return 1
}

# The [osd] lines of the object store CEPH_OBJECTSTORE names (checked by _cc_start).
_cc_objectstore_conf() {
    if [[ ${CEPH_OBJECTSTORE:-memstore} == bluestore ]]; then
        cat <<EOF
osd objectstore = bluestore
# No block path: mkfs creates the file osd/block (a path there would become a symlink to
# itself).
bluestore block create = true
bluestore block size = ${CEPH_BLUESTORE_BYTES:-21474836480}
# No separate DB or WAL device: both live on the block file.
bluestore block db create = false
bluestore block wal create = false
EOF
    else
        cat <<EOF
osd objectstore = memstore
memstore device bytes = $1
EOF
    fi
}

_cc_write_conf() {
    local fsid=$1 bytes=$2 p=$CC_PORT
    cat > "$CC_CONF" <<EOF
# Private test cluster made by tests/lib/ceph-cluster.sh; everything lives in this dir.
[global]
fsid = $fsid
mon host = [v2:127.0.0.1:$p,v1:127.0.0.1:$((p + 1))]
# Without these the OSD binds 0.0.0.0 and the default 6800-7300 range, which collides
# with other clusters on the host.
public addr = 127.0.0.1
cluster addr = 127.0.0.1
ms bind ipv6 = false
ms bind port min = $((p + 2))
ms bind port max = $((p + 21))
auth cluster required = cephx
auth service required = cephx
auth client required = cephx
auth allow insecure global id reclaim = false
# \$name expands per entity: client.admin and client.cinder find their own keyrings.
keyring = $CC_DIR/ceph.\$name.keyring
run dir = $CC_DIR/run
crash dir = $CC_DIR/crash
# One OSD: replicate nothing, place across OSDs (type 0) rather than hosts.
osd pool default size = 1
osd pool default min size = 1
osd pool default pg num = 8
osd pool default pgp num = 8
osd pool default pg autoscale mode = off
osd crush chooseleaf type = 0
mon allow pool size one = true
mon allow pool delete = true
mon warn on pool no redundancy = false
# There is no ceph-mgr; without this the mon raises MGR_DOWN after 120 s.
mon mgr mkfs grace = 315360000
# Fault tests stop the only OSD; it must not be marked out (0 = never).
mon osd down out interval = 0
mon warn on osd down out interval zero = false
# Clients fail fast instead of hanging forever on a dead mon or OSD.
client mount timeout = 15
rados mon op timeout = 15
rados osd op timeout = 30

[mon]
mon data = $CC_DIR/mon
# Its port is fixed: one bind attempt, then start picks another port block (the default
# retries for 10 s).
ms bind retry count = 1
keyring = \$mon_data/keyring
log file = $CC_LOGDIR/\$name.log
mon cluster log file = $CC_LOGDIR/cluster.log
admin socket = $CC_DIR/run/\$name.asok

[osd]
osd data = $CC_DIR/osd
keyring = \$osd_data/keyring
$(_cc_objectstore_conf "$bytes")
# The minimum Ceph accepts; memstore does not size caches from it anyway.
osd memory target = 939524096
# A clean shutdown saves memstore to disk so that a restarted OSD keeps its data.
osd fast shutdown = false
# A client killed with SIGKILL keeps librbd's exclusive lock until its watch
# times out (default 30 s); kill tests restart agents at once, so let it go
# sooner. Live clients ping every 5 s, well inside this.
osd client watch timeout = 12
log file = $CC_LOGDIR/\$name.log
admin socket = $CC_DIR/run/\$name.asok
EOF
}

# Start a daemon in the foreground (-f) in its own session. It gets none of our file
# descriptors: a caller doing $(ceph-cluster.sh start DIR), or a test runner reading
# an inherited pipe (bats uses fd 3), would otherwise wait for the daemon to exit.
# The subshell execs setsid, which execs the daemon without forking (a background job
# is not a process group leader), so $! is the daemon's pid, with no daemonize fork to
# chase. The daemon also writes (and on clean exit removes) the same pid file.
_cc_spawn() {
    local name=$1 pidfile=$2; shift 2
    (
        for fd in /proc/"$BASHPID"/fd/*; do
            fd=${fd##*/}
            if ((fd > 2)); then exec {fd}>&-; fi
        done
        exec setsid "$@" -f --conf "$CC_CONF" --pid-file "$pidfile" \
            < /dev/null >> "$CC_LOGDIR/$name.out" 2>&1
    ) &
    echo $! > "$pidfile"
}

_cc_wait_osd_up() {
    local i
    for ((i = 0; i < 60; i++)); do
        _cc_pid_running "$(cat "$CC_DIR/osd.pid" 2>/dev/null)" \
            || { _cc_log "ceph-osd exited"; return 1; }
        if _cc_ceph osd stat -f json 2>>"$CC_SETUP_LOG" | grep -q '"num_up_osds":1[,}]'; then
            return 0
        fi
        sleep 0.5
    done
    _cc_log "OSD did not come up within 30 s"
    return 1
}

_cc_start_osd_daemon() {
    _cc_spawn osd.0 "$CC_DIR/osd.pid" ceph-osd -i 0 || return 1
    _cc_wait_osd_up
}

# Make the mon store and start the mon; returns 3 if its port was taken meanwhile.
_cc_boot_mon() {
    local fsid=$1 bytes=$2 i
    rm -rf -- "$CC_DIR/mon" "$CC_DIR/monmap" "$CC_LOGDIR/mon.a.log" "$CC_LOGDIR/mon.a.out"
    _cc_pick_ports || return 1
    _cc_write_conf "$fsid" "$bytes" || return 1
    _cc_q monmaptool --create --clobber --fsid "$fsid" \
        --addv a "[v2:127.0.0.1:$CC_PORT,v1:127.0.0.1:$((CC_PORT + 1))]" \
        "$CC_DIR/monmap" || return 1
    _cc_q ceph-mon --conf "$CC_CONF" --mkfs -i a --monmap "$CC_DIR/monmap" \
        --keyring "$CC_DIR/bootstrap.keyring" || return 1
    _cc_spawn mon.a "$CC_DIR/mon.pid" ceph-mon -i a || return 1
    for ((i = 0; i < 40; i++)); do
        if ! _cc_pid_running "$(cat "$CC_DIR/mon.pid" 2>/dev/null)"; then
            if grep -qs 'Address already in use' "$CC_LOGDIR/mon.a.log" "$CC_LOGDIR/mon.a.out"; then
                return 3
            fi
            _cc_log "ceph-mon exited"
            return 1
        fi
        # The admin socket, not a client: a client would wait "client mount timeout"
        # for a mon that is still starting or has just failed.
        if timeout -s KILL 10 ceph --admin-daemon "$CC_DIR/run/mon.a.asok" mon_status \
                2>/dev/null | grep -q '"state": "leader"'; then
            return 0
        fi
        sleep 0.25
    done
    _cc_log "ceph-mon did not become leader within 10 s"
    return 1
}

_cc_on_start_exit() {
    local rc=$1
    ((rc == 0)) && return 0
    _cc_log "start of $CC_DIR failed (rc=$rc)"
    _cc_dump_logs
    _cc_stop_pidfile "$CC_DIR/osd.pid"
    _cc_stop_pidfile "$CC_DIR/mon.pid"
}

_cc_start() {
    local dir bytes fsid osd_uuid osd_key i rc
    dir=$(_cc_absdir "${1:-}") || return 2
    _cc_paths "$dir"
    bytes=${CEPH_MEMSTORE_BYTES:-3221225472}
    [[ $bytes =~ ^[0-9]+$ ]] || { _cc_log "CEPH_MEMSTORE_BYTES must be a byte count"; return 2; }
    case ${CEPH_OBJECTSTORE:-memstore} in
        memstore) ;;
        bluestore)
            [[ ${CEPH_BLUESTORE_BYTES:-21474836480} =~ ^[0-9]+$ ]] ||
                { _cc_log "CEPH_BLUESTORE_BYTES must be a byte count"; return 2; } ;;
        *) _cc_log "CEPH_OBJECTSTORE must be memstore or bluestore"; return 2 ;;
    esac
    # ceph.conf has no quoting, and admin sockets are AF_UNIX (108 bytes max).
    if [[ $dir =~ [[:space:]\;\#\$=\'\"\\] ]]; then
        _cc_log "DIR must not contain spaces or any of ;#\$=\\'\": $dir"; return 2
    fi
    if ((${#dir} > 80)); then
        _cc_log "DIR path too long for admin sockets (max 80 chars): $dir"; return 2
    fi
    if [[ -e $dir && ! -d $dir ]]; then
        _cc_log "$dir exists and is not a directory"; return 2
    fi
    if [[ -d $dir && -n $(ls -A -- "$dir") ]]; then
        _cc_log "$dir is not empty"; return 2
    fi
    mkdir -p -- "$dir" || return 1
    # Keys and data are private to the caller.
    chmod 700 "$dir" || return 1
    mkdir -p "$CC_LOGDIR" "$dir/run" "$dir/crash" "$dir/osd" || return 1

    trap '_cc_on_start_exit $?' EXIT

    fsid=$(cat /proc/sys/kernel/random/uuid) || return 1
    osd_uuid=$(cat /proc/sys/kernel/random/uuid) || return 1

    # Keys: the mon. key and client.admin go into the mon store at mkfs time.
    _cc_q ceph-authtool --create-keyring "$dir/ceph.client.admin.keyring" --gen-key \
        -n client.admin --cap mon 'allow *' --cap osd 'allow *' --cap mds 'allow *' \
        --cap mgr 'allow *' || return 1
    _cc_q ceph-authtool --create-keyring "$dir/bootstrap.keyring" --gen-key -n mon. \
        --cap mon 'allow *' || return 1
    _cc_q ceph-authtool "$dir/bootstrap.keyring" \
        --import-keyring "$dir/ceph.client.admin.keyring" || return 1
    _cc_q ceph-authtool --create-keyring "$dir/osd/keyring" --gen-key -n osd.0 || return 1
    chmod 600 "$dir"/*.keyring "$dir/osd/keyring" || return 1

    for ((i = 1; ; i++)); do
        rc=0
        _cc_boot_mon "$fsid" "$bytes" || rc=$?
        ((rc == 0)) && break
        if ((rc == 3 && i < 3)); then
            _cc_log "mon port $CC_PORT was taken meanwhile, retrying with another one"
            continue
        fi
        return 1
    done

    # Register osd.0 with its key, then make and start it.
    osd_key=$(ceph-authtool "$dir/osd/keyring" -p -n osd.0) || return 1
    printf '{"cephx_secret": "%s"}\n' "$osd_key" > "$dir/osd-new.json" || return 1
    _cc_q _cc_ceph osd new "$osd_uuid" 0 -i "$dir/osd-new.json" || return 1
    rm -f "$dir/osd-new.json"
    _cc_q ceph-osd --conf "$CC_CONF" -i 0 --mkfs --osd-uuid "$osd_uuid" --no-mon-config \
        || return 1
    _cc_start_osd_daemon || return 1

    _cc_q _cc_ceph osd pool create volumes 8 8 replicated || return 1
    _cc_q _cc_rbd pool init volumes || return 1
    _cc_q _cc_ceph auth get-or-create client.cinder \
        mon 'profile rbd' osd 'profile rbd pool=volumes' \
        -o "$dir/ceph.client.cinder.keyring" || return 1
    chmod 600 "$dir/ceph.client.cinder.keyring" || return 1

    # Without a mgr there are no PG stats to wait on; a real image create/remove as the
    # cinder user proves the pool is writable and the user's caps work.
    for ((i = 0; ; i++)); do
        if timeout -s KILL 30 rbd --conf "$CC_CONF" --id cinder -p volumes \
                create --size 4M ceph-cluster-probe >> "$CC_SETUP_LOG" 2>&1 &&
           timeout -s KILL 30 rbd --conf "$CC_CONF" --id cinder -p volumes \
                rm --no-progress ceph-cluster-probe >> "$CC_SETUP_LOG" 2>&1; then
            break
        fi
        if ((i >= 60)); then
            _cc_log "pool volumes not writable after 60 tries"
            return 1
        fi
        sleep 1
    done

    trap - EXIT
    _cc_log "cluster up in $dir (mon 127.0.0.1:$CC_PORT, OSD ports $((CC_PORT + 2))-$((CC_PORT + 21)))"
    echo "CEPH_CONF=$CC_CONF"
}

_cc_stop() {
    local dir f
    dir=$(_cc_absdir "${1:-}") || return 2
    _cc_paths "$dir"
    [[ -d $dir ]] || return 0
    # OSD first so that it can still tell the mon it is going away.
    _cc_stop_pidfile "$dir/osd.pid"
    for f in "$dir"/*.pid; do
        [[ -e $f ]] && _cc_stop_pidfile "$f"
    done
    return 0
}

_cc_stop_osd() {
    local dir
    dir=$(_cc_absdir "${1:-}") || return 2
    _cc_paths "$dir"
    _cc_stop_pidfile "$dir/osd.pid"
}

_cc_start_osd() {
    local dir
    dir=$(_cc_absdir "${1:-}") || return 2
    _cc_paths "$dir"
    [[ -f $CC_CONF ]] || { _cc_log "no cluster in $dir"; return 1; }
    if _cc_pid_is_ours "$(cat "$dir/osd.pid" 2>/dev/null)"; then
        _cc_log "OSD already running"
        return 0
    fi
    if ! _cc_start_osd_daemon; then
        _cc_dump_logs
        return 1
    fi
}

# True once the mon's MgrMap names an active mgr that is available.
_cc_mgr_available() {
    _cc_ceph mgr stat -f json 2>>"$CC_SETUP_LOG" | grep -q '"available": *true'
}

_cc_start_mgr() {
    local dir i
    dir=$(_cc_absdir "${1:-}") || return 2
    _cc_paths "$dir"
    [[ -f $CC_CONF ]] || { _cc_log "no cluster in $dir"; return 1; }
    if ! _cc_pid_is_ours "$(cat "$dir/mon.pid" 2>/dev/null)"; then
        _cc_log "no mon running in $dir"
        return 1
    fi
    if _cc_pid_is_ours "$(cat "$dir/mgr.pid" 2>/dev/null)"; then
        _cc_log "mgr already running"
        return 0
    fi
    mkdir -p "$dir/mgr" || return 1
    _cc_q _cc_ceph auth get-or-create mgr.x mon 'allow profile mgr' osd 'allow *' \
        mds 'allow *' -o "$dir/ceph.mgr.x.keyring" || return 1
    chmod 600 "$dir/ceph.mgr.x.keyring" || return 1
    # restful is on by default; it would only serve with a certificate, but nothing
    # here needs it.
    _cc_q _cc_ceph mgr module disable restful || return 1
    # Not known to the mon until a mgr has reported its modules, hence --force.
    _cc_q _cc_ceph config set mgr mgr/devicehealth/enable_monitoring false --force || return 1
    _cc_spawn mgr.x "$dir/mgr.pid" ceph-mgr -i x --mgr-data "$dir/mgr" \
        --log-file "$CC_LOGDIR/mgr.x.log" --admin-socket "$dir/run/mgr.x.asok" || return 1
    for ((i = 0; i < 120; i++)); do
        _cc_pid_running "$(cat "$dir/mgr.pid" 2>/dev/null)" \
            || { _cc_log "ceph-mgr exited"; _cc_dump_logs; return 1; }
        # ceph df answers from the mgr's PG statistics: wait for the first report too.
        if _cc_mgr_available && _cc_ceph df -f json 2>>"$CC_SETUP_LOG" |
                grep -q '"name": *"volumes"'; then
            _cc_log "mgr.x active in $dir"
            return 0
        fi
        sleep 0.5
    done
    _cc_log "ceph-mgr not available within 60 s"
    _cc_dump_logs
    _cc_stop_pidfile "$dir/mgr.pid"
    return 1
}

_cc_stop_mgr() {
    local dir
    dir=$(_cc_absdir "${1:-}") || return 2
    _cc_paths "$dir"
    _cc_stop_pidfile "$dir/mgr.pid"
}

# ---------------------------------------------------------------------------------------
# Public functions: each runs in a subshell so that strict mode and exit stay inside.

ceph_cluster_start()     ( set -euo pipefail; _cc_start "$@" )
ceph_cluster_stop()      ( set -euo pipefail; _cc_stop "$@" )
ceph_cluster_stop_osd()  ( set -euo pipefail; _cc_stop_osd "$@" )
ceph_cluster_start_osd() ( set -euo pipefail; _cc_start_osd "$@" )
ceph_cluster_start_mgr() ( set -euo pipefail; _cc_start_mgr "$@" )
ceph_cluster_stop_mgr()  ( set -euo pipefail; _cc_stop_mgr "$@" )

if [[ ${BASH_SOURCE[0]} == "$0" ]]; then
    set -euo pipefail
    usage="usage: $0 start|stop|stop-osd|start-osd|start-mgr|stop-mgr DIR"
    [[ $# -eq 2 ]] || { echo "$usage" >&2; exit 2; }
    case $1 in
        start)     ceph_cluster_start "$2" ;;
        stop)      ceph_cluster_stop "$2" ;;
        stop-osd)  ceph_cluster_stop_osd "$2" ;;
        start-osd) ceph_cluster_start_osd "$2" ;;
        start-mgr) ceph_cluster_start_mgr "$2" ;;
        stop-mgr)  ceph_cluster_stop_mgr "$2" ;;
        *) echo "$usage" >&2; exit 2 ;;
    esac
fi
