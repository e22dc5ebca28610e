#!/usr/bin/env bash
# A private RabbitMQ broker for tests, with all of its state in one dir.
#
#   tests/lib/rabbitmq.sh start DIR          boot it with a user, its password and the
#                                            topic exchange "openstack"; prints AMQP_* lines
#   tests/lib/rabbitmq.sh stop DIR           stop the broker and its epmd, by PID; idempotent
#   tests/lib/rabbitmq.sh stop-broker DIR    stop only the broker (an outage); its data stays
#   tests/lib/rabbitmq.sh start-broker DIR   start it again on the same ports and data; prints
#                                            the AMQP_* lines again
#   tests/lib/rabbitmq.sh ctl DIR ARGS...    run rabbitmqctl ARGS against it
#
#   . tests/lib/rabbitmq.sh                  defines rabbitmq_start DIR, rabbitmq_stop DIR,
#                                            rabbitmq_stop_broker DIR, rabbitmq_start_broker
#                                            DIR, rabbitmq_ctl DIR ARGS...; runs nothing
#
# Printed, one per line, for eval:  AMQP_HOST=127.0.0.1 AMQP_PORT=N AMQP_VHOST=/
# AMQP_USER=feeder AMQP_PASSWORD_FILE=DIR/password (mode 0600, no newline)
# AMQP_EXCHANGE=openstack (topic, durable: it and its bindings survive stop-broker)
# AMQPS_PORT=N (TLS; the certificate names localhost and 127.0.0.1)
# AMQP_CA_FILE=DIR/tls/ca.pem (the test CA that signed it).
#
# How it stays private. /usr/sbin/rabbitmq-server and rabbitmqctl are wrappers that switch
# to the rabbitmq user and its /var/lib/rabbitmq, so the scripts under /usr/lib/rabbitmq/bin
# run directly instead, with HOME (the Erlang cookie), the node name (unique per DIR), the
# mnesia, log, pid, plugins, config and env files all in DIR; AMQP on 127.0.0.1 and a
# private port; Erlang distribution and epmd on private ports bound to 127.0.0.1. epmd
# outlives the broker, so stop stops it too (epmd -kill on its port, then by PID). Every
# wait is bounded; a broker that ignores SIGTERM for 30 s gets SIGKILL.

_rq_log() { echo "rabbitmq: $*" >&2; }

_rq_lib=/usr/lib/rabbitmq/bin

_rq_absdir() {
    local d=$1
    [[ -n $d ]] || { _rq_log "missing DIR argument"; return 2; }
    [[ $d == /* ]] || d="$PWD/$d"
    realpath -m -- "$d"
}

# The environment of DIR's node: every variable the server and the CLI read.
_rq_env() {
    local dir=$1
    [[ -f $dir/ports ]] || { _rq_log "no broker in $dir"; return 1; }
    # shellcheck disable=SC1091
    . "$dir/ports"
    export HOME=$dir
    export RABBITMQ_NODENAME=$RQ_NODENAME
    export RABBITMQ_NODE_IP_ADDRESS=127.0.0.1
    export RABBITMQ_NODE_PORT=$RQ_AMQP_PORT
    export RABBITMQ_DIST_PORT=$RQ_DIST_PORT
    export ERL_EPMD_PORT=$RQ_EPMD_PORT
    export ERL_EPMD_ADDRESS=127.0.0.1
    export RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS="-kernel inet_dist_use_interface {127,0,0,1}"
    export RABBITMQ_MNESIA_BASE=$dir/mnesia
    export RABBITMQ_LOG_BASE=$dir/log
    export RABBITMQ_PID_FILE=$dir/rabbit.pid
    export RABBITMQ_ENABLED_PLUGINS_FILE=$dir/enabled_plugins
    export RABBITMQ_CONFIG_FILE=$dir/rabbitmq.conf
    export RABBITMQ_CONF_ENV_FILE=$dir/rabbitmq-env.conf
    export RABBITMQ_ADVANCED_CONFIG_FILE=$dir/advanced.config
}

_rq_ctl() { timeout -s KILL 90 "$_rq_lib/rabbitmqctl" "$@"; }

# Ports in use on this host, from /proc.
_rq_used_ports() {
    local f
    for f in /proc/net/tcp /proc/net/tcp6; do
        [[ -r $f ]] || continue
        awk 'NR > 1 { split($2, a, ":"); print a[2] }' "$f"
    done | while read -r hex; do echo $((16#$hex)); done | sort -un
}

# AMQP = B, distribution = B+1, epmd = B+2, AMQPS = B+3; the CLI tools take a port
# from B+10001..B+10011 (distribution port + 10000..10010).
_rq_pick_ports() {
    local used base p ok try
    used=" $(_rq_used_ports | tr '\n' ' ') "
    for ((try = 0; try < 50; try++)); do
        base=$((20000 + (RANDOM % 2500) * 4))
        ok=1
        for p in $(seq "$base" $((base + 3))) $(seq $((base + 10001)) $((base + 10011))); do
            if [[ $used == *" $p "* ]]; then ok=0; break; fi
        done
        if ((ok)); then
            RQ_PORT=$base
            return 0
        fi
    done
    _rq_log "no free ports found in 20000-39999"
    return 1
}

# True if PID is a beam.smp started by us for DIR (its -home argument is DIR).
_rq_pid_is_ours() {
    local pid=$1 dir=$2 args=() i
    [[ $pid =~ ^[0-9]+$ ]] || return 1
    mapfile -d '' -t args 2>/dev/null < "/proc/$pid/cmdline" || return 1
    ((${#args[@]} > 0)) || return 1
    [[ ${args[0]##*/} == beam.smp ]] || return 1
    for ((i = 0; i + 1 < ${#args[@]}; i++)); do
        [[ ${args[i]} == -home && ${args[i + 1]} == "$dir" ]] && return 0
    done
    return 1
}

_rq_pid_running() {
    local stat
    stat=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
    stat=${stat##*) }
    [[ ${stat%% *} != Z ]]
}

# epmd processes serving our private port (the port is in their environment).
_rq_epmd_pids() {
    local port=$1 p
    for p in /proc/[0-9]*; do
        [[ $(cat "$p/comm" 2>/dev/null) == epmd ]] || continue
        _rq_pid_running "${p#/proc/}" || continue
        grep -qzx "ERL_EPMD_PORT=$port" "$p/environ" 2>/dev/null && echo "${p#/proc/}"
    done
}

# What the broker imports at every boot (as rabbitmqctl import_definitions would, without
# a CLI round trip of about a second per item): the user feeder with its password's salted
# SHA-256 (RabbitMQ's scheme: base64(salt + sha256(salt + password))), its permissions on
# /, and the exchange oslo.messaging would declare (amqp-tools cannot declare exchanges).
# With definitions imported at boot RabbitMQ makes no guest user.
_rq_write_definitions() {
    local dir=$1
    (umask 077 && python3 - "$dir/password" > "$dir/definitions.json") <<'EOF'
import base64, hashlib, json, os, sys
password = open(sys.argv[1], "rb").read()
salt = os.urandom(4)
json.dump({
    "vhosts": [{"name": "/"}],
    "users": [{"name": "feeder", "tags": [],
               "hashing_algorithm": "rabbit_password_hashing_sha256",
               "password_hash": base64.b64encode(
                   salt + hashlib.sha256(salt + password).digest()).decode()}],
    "permissions": [{"user": "feeder", "vhost": "/", "configure": ".*", "write": ".*",
                     "read": ".*"}],
    "exchanges": [{"name": "openstack", "vhost": "/", "type": "topic", "durable": True,
                   "auto_delete": False, "internal": False, "arguments": {}}],
}, sys.stdout)
EOF
}

_rq_print_env() {
    local dir=$1
    echo "AMQP_HOST=127.0.0.1"
    echo "AMQP_PORT=$RQ_AMQP_PORT"
    echo "AMQP_VHOST=/"
    echo "AMQP_USER=feeder"
    echo "AMQP_PASSWORD_FILE=$dir/password"
    echo "AMQP_EXCHANGE=openstack"
    echo "AMQPS_PORT=$RQ_AMQPS_PORT"
    echo "AMQP_CA_FILE=$dir/tls/ca.pem"
}

# A test CA and a server certificate for localhost / 127.0.0.1 (EC P-256, 2 days).
_rq_make_certs() {
    local t=$1/tls
    mkdir -p "$t" && chmod 700 "$t" || return 1
    {
        openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
            -keyout "$t/ca.key" -out "$t/ca.pem" -days 2 -subj /CN=rbd-luks-agent-test-ca &&
        openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
            -keyout "$t/server.key" -out "$t/server.csr" -subj /CN=localhost &&
        printf 'subjectAltName = DNS:localhost, IP:127.0.0.1\n' > "$t/server.ext" &&
        openssl x509 -req -in "$t/server.csr" -CA "$t/ca.pem" -CAkey "$t/ca.key" \
            -CAcreateserial -out "$t/server.pem" -days 2 -extfile "$t/server.ext"
    } >> "$1/setup.log" 2>&1 || { _rq_log "cannot make the test certificates"; return 1; }
}

_rq_dump_logs() {
    local dir=$1 f
    for f in "$dir/setup.log" "$dir/server.out" "$dir"/log/*.log; do
        [[ -s $f ]] || continue
        echo "----- tail of $f -----" >&2
        tail -n 20 "$f" >&2
    done
}

# Starts the server in its own session, without our file descriptors, and waits until
# it runs the rabbit application.
_rq_boot() {
    local dir=$1 i pid
    rm -f "$dir/rabbit.pid"
    (
        for fd in /proc/"$BASHPID"/fd/*; do
            fd=${fd##*/}
            if ((fd > 2)); then exec {fd}>&-; fi
        done
        exec setsid "$_rq_lib/rabbitmq-server" < /dev/null >> "$dir/server.out" 2>&1
    ) &
    echo $! > "$dir/server.pid"
    for ((i = 0; i < 600; i++)); do
        pid=$(cat "$dir/rabbit.pid" 2>/dev/null || true)
        _rq_pid_is_ours "$pid" "$dir" && break
        _rq_pid_running "$(cat "$dir/server.pid")" || { _rq_log "rabbitmq-server exited"; return 1; }
        sleep 0.1
    done
    _rq_pid_is_ours "$pid" "$dir" || { _rq_log "no pid file within 60 s"; return 1; }
    _rq_ctl wait "$dir/rabbit.pid" --timeout 60 >> "$dir/setup.log" 2>&1 || return 1
    _rq_ctl await_startup --timeout 60 >> "$dir/setup.log" 2>&1 || return 1
}

# The imported exchange, as the CLI sees it (retried: a loaded host can be slow to answer).
_rq_wait_exchange() {
    local dir=$1 i
    for ((i = 0; i < 10; i++)); do
        if _rq_ctl list_exchanges -q name type > "$dir/exchanges" 2>> "$dir/setup.log" &&
           grep -q '^openstack[[:space:]]topic$' "$dir/exchanges"; then
            return 0
        fi
        sleep 0.5
    done
    _rq_log "exchange openstack missing; rabbitmqctl list_exchanges said:"
    cat "$dir/exchanges" >&2
    return 1
}

_rq_start() {
    local dir
    dir=$(_rq_absdir "${1:-}") || return 2
    if [[ -d $dir && -n $(ls -A -- "$dir") ]]; then _rq_log "$dir is not empty"; return 2; fi
    mkdir -p -- "$dir/log" "$dir/mnesia" || return 1
    chmod 700 "$dir" || return 1
    _rq_pick_ports || return 1
    cat > "$dir/ports" <<EOF
RQ_NODENAME=rlt-$(printf %s "$dir" | md5sum | cut -c1-10)@localhost
RQ_AMQP_PORT=$RQ_PORT
RQ_DIST_PORT=$((RQ_PORT + 1))
RQ_EPMD_PORT=$((RQ_PORT + 2))
RQ_AMQPS_PORT=$((RQ_PORT + 3))
EOF
    echo '[].' > "$dir/enabled_plugins"
    : > "$dir/rabbitmq-env.conf"
    (umask 077 && head -c 18 /dev/urandom | od -An -tx1 | tr -d ' \n' > "$dir/password") \
        || return 1
    _rq_write_definitions "$dir" || return 1
    _rq_make_certs "$dir" || return 1
    cat > "$dir/rabbitmq.conf" <<EOF
log.console = false
log.file.level = info
load_definitions = $dir/definitions.json
listeners.ssl.local = 127.0.0.1:$((RQ_PORT + 3))
ssl_options.cacertfile = $dir/tls/ca.pem
ssl_options.certfile = $dir/tls/server.pem
ssl_options.keyfile = $dir/tls/server.key
ssl_options.verify = verify_none
ssl_options.fail_if_no_peer_cert = false
EOF
    _rq_env "$dir" || return 1
    RQ_STARTING=$dir
    trap '(($? == 0)) || { _rq_dump_logs "$RQ_STARTING"; _rq_stop "$RQ_STARTING"; }' EXIT
    _rq_boot "$dir" || return 1
    _rq_wait_exchange "$dir" || return 1
    trap - EXIT
    _rq_log "broker up in $dir (AMQP 127.0.0.1:$RQ_AMQP_PORT, node $RABBITMQ_NODENAME)"
    _rq_print_env "$dir"
}

# SIGTERM (RabbitMQ shuts down cleanly and saves durable queues), SIGKILL after 30 s.
_rq_stop_broker() {
    local dir pid i
    dir=$(_rq_absdir "${1:-}") || return 2
    [[ -d $dir ]] || return 0
    pid=$(cat "$dir/rabbit.pid" 2>/dev/null || true)
    if _rq_pid_is_ours "$pid" "$dir"; then
        kill -TERM "$pid" 2>/dev/null || true
        for ((i = 0; i < 300; i++)); do
            _rq_pid_running "$pid" || break
            sleep 0.1
        done
        if _rq_pid_running "$pid"; then
            _rq_log "pid $pid ignored SIGTERM for 30 s, sending SIGKILL"
            kill -KILL "$pid" 2>/dev/null || true
            for ((i = 0; i < 50; i++)); do _rq_pid_running "$pid" || break; sleep 0.1; done
        fi
    fi
    rm -f -- "$dir/rabbit.pid"
    return 0
}

_rq_stop() {
    local dir pid i
    dir=$(_rq_absdir "${1:-}") || return 2
    [[ -f $dir/ports ]] || return 0
    _rq_stop_broker "$dir"
    # shellcheck disable=SC1091
    . "$dir/ports"
    ERL_EPMD_PORT=$RQ_EPMD_PORT timeout -s KILL 10 epmd -kill > /dev/null 2>&1 || true
    for ((i = 0; i < 50; i++)); do
        [[ -z $(_rq_epmd_pids "$RQ_EPMD_PORT") ]] && break
        sleep 0.1
    done
    for pid in $(_rq_epmd_pids "$RQ_EPMD_PORT"); do
        _rq_pid_running "$pid" && kill -KILL "$pid" 2>/dev/null
    done
    return 0
}

_rq_start_broker() {
    local dir
    dir=$(_rq_absdir "${1:-}") || return 2
    _rq_env "$dir" || return 1
    if _rq_pid_is_ours "$(cat "$dir/rabbit.pid" 2>/dev/null)" "$dir"; then
        _rq_log "broker already running"
    elif ! _rq_boot "$dir"; then
        _rq_dump_logs "$dir"
        _rq_stop_broker "$dir"
        return 1
    fi
    _rq_print_env "$dir"
}

_rq_run_ctl() {
    local dir
    dir=$(_rq_absdir "${1:-}") || return 2
    shift
    _rq_env "$dir" || return 1
    _rq_ctl "$@"
}

# Public functions: each runs in a subshell so that strict mode and exit stay inside.
rabbitmq_start()        ( set -euo pipefail; _rq_start "$@" )
rabbitmq_stop()         ( set -euo pipefail; _rq_stop "$@" )
rabbitmq_stop_broker()  ( set -euo pipefail; _rq_stop_broker "$@" )
rabbitmq_start_broker() ( set -euo pipefail; _rq_start_broker "$@" )
rabbitmq_ctl()          ( set -euo pipefail; _rq_run_ctl "$@" )

if [[ ${BASH_SOURCE[0]} == "$0" ]]; then
    set -euo pipefail
    usage="usage: $0 start|stop|stop-broker|start-broker DIR | ctl DIR ARGS..."
    [[ $# -ge 2 ]] || { echo "$usage" >&2; exit 2; }
    cmd=$1
    shift
    case $cmd in
        start)        [[ $# -eq 1 ]] || { echo "$usage" >&2; exit 2; }; rabbitmq_start "$1" ;;
        stop)         [[ $# -eq 1 ]] || { echo "$usage" >&2; exit 2; }; rabbitmq_stop "$1" ;;
        stop-broker)  [[ $# -eq 1 ]] || { echo "$usage" >&2; exit 2; }; rabbitmq_stop_broker "$1" ;;
        start-broker) [[ $# -eq 1 ]] || { echo "$usage" >&2; exit 2; }; rabbitmq_start_broker "$1" ;;
        ctl)          rabbitmq_ctl "$@" ;;
        *) echo "$usage" >&2; exit 2 ;;
    esac
fi
