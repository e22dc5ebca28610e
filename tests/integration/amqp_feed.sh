#!/usr/bin/env bash
# amqp_feed: `rbd-luks-agent feed` against a private RabbitMQ broker (tests/lib/rabbitmq.sh,
# started and stopped here; no Ceph). 1000 notifications, bare and in the oslo.messaging
# envelope, are published with the broker stopped and started once in the middle while
# the feeder holds unacknowledged messages; every one must reach the hook file as a valid
# JSON line, repeated only when the broker redelivered it, with fewer fdatasync calls than
# messages; bodies that cannot be one line go to rejects.jsonl; SIGTERM exits 0 with the
# queue empty. Then TLS: a CA file, OpenSSL's default store, a wrong CA, a wrong name.
. "$(dirname "$0")/../lib/testlib.sh"

here=$(cd "$(dirname "$0")" && pwd)
RABBITMQ_SH="$here/../lib/rabbitmq.sh"
BROKER="$T_TMP/broker"
INI="$T_TMP/agent.ini"
HOOK="$T_TMP/events.jsonl"
LOG="$T_TMP/feed.log"
PUBLISH="$T_TMP/amqp_publish"
QUEUE=rbd-luks-agent-test
FEED_PID=

cleanup() {
    if [ -n "$FEED_PID" ]; then kill -CONT "$FEED_PID" 2>/dev/null; kill -KILL "$FEED_PID" 2>/dev/null; fi
    "$RABBITMQ_SH" stop "$BROKER" >/dev/null 2>&1
}
trap cleanup EXIT



write_ini() { # [EXTRA [amqp] LINES]
    cat >"$INI" <<INI
[agent]
role = volume
hook_file = $HOOK
state_dir = $T_TMP/state
log_level = info
max_line_bytes = 4096
[ceph]
conf = $T_TMP/no-ceph/ceph.conf
client = cinder
pool = volumes
[volume]
types = *
[keys]
provider = file
directory = $T_TMP/keys
[retry]
initial_ms = 100
max_ms = 1000
[amqp]
host = ${AMQP_HOST:-127.0.0.1}
port = ${AMQP_PORT:-5672}
vhost = /
password_file = ${AMQP_PASSWORD_FILE:-$T_TMP/password}
exchange = openstack
queue = $QUEUE
routing_keys = notifications_luks.info, notifications_luks.error
prefetch = 256
heartbeat_s = 10
batch_max = 64
batch_ms = 20
INI
    local line
    for line in "$@"; do echo "$line" >>"$INI"; done
}

mkdir -p "$T_TMP/state" "$T_TMP/keys"
chmod 700 "$T_TMP/keys"

# --- the config: feed needs [amqp] user, but no Ceph ---------------------------------
write_ini
"$AGENT" -c "$INI" feed >"$T_TMP/nouser.out" 2>&1
check_eq "feed without [amqp] user exits 1" 1 $?
check_eq "feed names the missing key" "$INI:19: missing key 'user' in [amqp] (required by feed)" \
    "$(head -n 1 "$T_TMP/nouser.out")"

# --- the broker ------------------------------------------------------------------------
if ! broker_env=$("$RABBITMQ_SH" start "$BROKER" 2>"$T_TMP/broker-start.log"); then
    fail "broker starts" "$(tail -c 600 "$T_TMP/broker-start.log" | tr '\n' ' ')"
    exit 0
fi
pass "broker starts"
eval "$broker_env"
BEAM_PID=$(cat "$BROKER/rabbit.pid")
write_ini "user = $AMQP_USER"
(umask 077 && printf 'username:%s\npassword:%s\n' "$AMQP_USER" "$(cat "$AMQP_PASSWORD_FILE")" \
    >"$T_TMP/authfile")
amqp_publish_one() { # ROUTING_KEY, body on stdin (amqp-tools: one connection per message)
    amqp-publish --server "$AMQP_HOST" --port "$AMQP_PORT" --authfile "$T_TMP/authfile" \
        -e "$AMQP_EXCHANGE" -r "$1" -p
}
check "the test publisher builds" cc -O2 -Wall -Wextra -Werror -o "$PUBLISH" \
    "$here/amqp_publish.c" -lrabbitmq
publish() { # FIRST COUNT
    timeout -s KILL 60 "$PUBLISH" "$AMQP_HOST" "$AMQP_PORT" "$AMQP_USER" \
        "$AMQP_PASSWORD_FILE" "$AMQP_EXCHANGE" notifications_luks.info "$1" "$2"
}

"$AGENT" -c "$INI" check-config >"$T_TMP/check-config.out" 2>&1
check "check-config (all roles' needs) reports the missing Ceph conf" \
    grep -q "ceph conf $T_TMP/no-ceph/ceph.conf does not exist" "$T_TMP/check-config.out"

started=$(date +%s%N)
"$AGENT" -c "$INI" feed 2>"$LOG" &
FEED_PID=$!
check "feed starts without Ceph and consumes" \
    wait_for 20 grep -q "consuming queue '$QUEUE' on 127.0.0.1:$AMQP_PORT" "$LOG"

# --- bodies that are not one line as they are ------------------------------------------
printf '{\n  "message_id": "special-pretty",\n  "payload": {"display_name": "two\\nlines"}\n}\n' |
    amqp_publish_one notifications_luks.info
printf 'not json\nat all' | amqp_publish_one notifications_luks.error
printf '{"message_id": "special-nul\0"}' | amqp_publish_one notifications_luks.info
head -c 5000 /dev/zero | tr '\0' x | amqp_publish_one notifications_luks.info
check "three bodies rejected" wait_for 10 sh -c "[ \$(wc -l < '$T_TMP/state/rejects.jsonl') -ge 3 ]"
check "a multi-line JSON body becomes one compact line" wait_for 10 \
    grep -qxF '{"message_id":"special-pretty","payload":{"display_name":"two\nlines"}}' "$HOOK"
check_eq "rejects: not JSON, NUL byte, oversized (still acknowledged)" \
    "not-json nul size" \
    "$(python3 - "$T_TMP/state/rejects.jsonl" <<'EOF'
import json, sys
kinds = []
for line in open(sys.argv[1]):
    r = json.loads(line)
    assert r["hook_file"] == "amqp:rbd-luks-agent-test", r
    if "is not JSON" in r["reason"]: kinds.append("not-json")
    elif "NUL byte" in r["reason"]: kinds.append("nul")
    elif "exceeds max_line_bytes (4096)" in r["reason"] and r["length"] == 5000: kinds.append("size")
print(" ".join(kinds))
EOF
)"

# --- 1000 notifications across a broker restart ----------------------------------------
# The feeder is paused while the first 500 arrive, so up to prefetch (256) of them sit
# delivered but unacknowledged in its socket when the broker goes down: it writes them
# (no ack possible), and the restarted broker delivers them again, flagged redelivered.
kill -STOP "$FEED_PID"
check "publish 1..500 (confirmed)" publish 1 500
"$RABBITMQ_SH" stop-broker "$BROKER"
check "the broker is down" gone "$BEAM_PID"
kill -CONT "$FEED_PID"
check "the feeder notices the outage" \
    wait_for 10 grep -q "amqp: connection to 127.0.0.1:$AMQP_PORT lost" "$LOG"
sleep 2 # several reconnect attempts while the broker is down
if "$RABBITMQ_SH" start-broker "$BROKER" >"$T_TMP/broker-restart.out" 2>&1; then
    pass "broker starts again"
else
    fail "broker starts again" "$(tail -c 600 "$T_TMP/broker-restart.out" | tr '\n' ' ')"
fi
BEAM_PID=$(cat "$BROKER/rabbit.pid" 2>/dev/null)
check "the feeder reconnects" wait_for 30 grep -q "amqp: connected again to 127.0.0.1:$AMQP_PORT" "$LOG"
check "publish 501..1000 (confirmed)" publish 501 500

summarize() { # the hook file: bad lines, missing ids, repeated lines
    python3 - "$HOOK" <<'EOF'
import collections, json, sys
seen, bad = collections.Counter(), 0
for raw in open(sys.argv[1], "rb"):
    try:
        o = json.loads(raw)
        if "oslo.message" in o:
            o = json.loads(o["oslo.message"])
    except ValueError:
        bad += 1
        continue
    mid = o.get("message_id", "")
    if mid.startswith("amqp-test-"):
        seen[int(mid[len("amqp-test-"):])] += 1
missing = sum(1 for i in range(1, 1001) if not seen[i])
repeats = sum(n - 1 for n in seen.values())
last_repeated = max([i for i, n in seen.items() if n > 1], default=0)
print(f"BAD={bad} MISSING={missing} REPEATS={repeats} LAST_REPEATED={last_repeated}")
EOF
}
all_there() { eval "$(summarize)"; [ "$MISSING" -eq 0 ]; }
check "every id 1..1000 reaches the hook file" wait_for 60 all_there
elapsed_ms=$((($(date +%s%N) - started) / 1000000))

kill -TERM "$FEED_PID"
wait "$FEED_PID"
check_eq "SIGTERM: the feeder exits 0" 0 $?
FEED_PID=

eval "$(summarize)"
check_eq "every line is valid JSON" 0 "$BAD"
check_eq "no id is missing" 0 "$MISSING"
summary=$(grep 'feed stopped:' "$LOG")
received=$(echo "$summary" | sed -n 's/.*: \([0-9]*\) messages received.*/\1/p')
redelivered=$(echo "$summary" | sed -n 's/.*(\([0-9]*\) redelivered).*/\1/p')
syncs=$(echo "$summary" | sed -n 's/.* \([0-9]*\) fdatasync calls.*/\1/p')
echo "   feeder: $summary"
echo "   hook file: $REPEATS repeated lines; 1004 messages and one broker restart in ${elapsed_ms} ms"
check "the outage left messages to redeliver" test "${redelivered:-0}" -gt 0
check "repeated lines only from redeliveries ($REPEATS <= $redelivered)" \
    test "$REPEATS" -le "${redelivered:-0}"
check "only ids in flight at the outage repeat (last repeated: $LAST_REPEATED <= 500)" \
    test "$LAST_REPEATED" -le 500
check "group commit: fewer fdatasync calls ($syncs) than messages ($received)" \
    test "${syncs:-999999}" -lt "${received:-0}"
check_eq "the outage is logged once" 1 "$(grep -c 'lost:' "$LOG")"
check_eq "the reconnect is logged once" 1 "$(grep -c 'connected again' "$LOG")"
check "failed attempts are not logged one by one" \
    test "$(grep -c 'cannot connect' "$LOG")" -le 2
check_eq "the hook file is private" 600 "$(stat -c %a "$HOOK")"
check_eq "the queue is empty: everything acknowledged" "$QUEUE 0 0" \
    "$("$RABBITMQ_SH" ctl "$BROKER" list_queues -q name messages_ready messages_unacknowledged 2>/dev/null |
        awk -v q="$QUEUE" '$1 == q { print $1, $2, $3 }')"

# --- TLS --------------------------------------------------------------------------------
# tls_feeder NAME [KEY=VALUE...]: a feeder of its own (queue and hook file NAME) on the
# broker's TLS port, host ${TLS_HOST:-localhost}; pid in TLS_PID, log in $T_TMP/NAME.log.
tls_feeder() {
    local name=$1
    shift
    sed -e "s|^hook_file = .*|hook_file = $T_TMP/$name.jsonl|" -e "s|^queue = .*|queue = $name|" \
        -e "s|^host = .*|host = ${TLS_HOST:-localhost}|" -e "s|^port = .*|port = $AMQPS_PORT|" \
        "$INI" >"$T_TMP/$name.ini"
    printf '%s\n' tls=yes "$@" | sed 's/=/ = /' >>"$T_TMP/$name.ini"
    "$AGENT" -c "$T_TMP/$name.ini" feed 2>"$T_TMP/$name.log" &
    TLS_PID=$!
}
stop_tls_feeder() { kill -TERM "$TLS_PID"; wait "$TLS_PID"; }

tls_feeder tls-ca "tls_ca_file=$AMQP_CA_FILE"
check "TLS with tls_ca_file: consuming" \
    wait_for 20 grep -q "consuming queue 'tls-ca' on localhost:$AMQPS_PORT vhost '/' over TLS" \
    "$T_TMP/tls-ca.log"
check "publish 2001..2020 (confirmed)" publish 2001 20
check "TLS: 20 lines" wait_for 20 sh -c "[ \$(wc -l < '$T_TMP/tls-ca.jsonl') -eq 20 ]"
stop_tls_feeder
check_eq "TLS: SIGTERM exits 0" 0 $?

SSL_CERT_FILE=$AMQP_CA_FILE tls_feeder tls-default-store
check "TLS without tls_ca_file uses OpenSSL's default store (SSL_CERT_FILE)" \
    wait_for 20 grep -q "consuming queue 'tls-default-store'" "$T_TMP/tls-default-store.log"
stop_tls_feeder

openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 1 \
    -subj /CN=other -keyout /dev/null -out "$T_TMP/other-ca.pem" >/dev/null 2>&1
tls_feeder tls-other-ca "tls_ca_file=$T_TMP/other-ca.pem"
check "TLS: a certificate from another CA is refused" wait_for 20 grep -q \
    "connecting to localhost:$AMQPS_PORT: SSL peer cert verification failed" "$T_TMP/tls-other-ca.log"
stop_tls_feeder
check_eq "SIGTERM while it cannot connect: exit 0" 0 $?

TLS_HOST=127.0.0.1 tls_feeder tls-by-ip "tls_ca_file=$AMQP_CA_FILE"
check "TLS: the host name is verified (rabbitmq-c 0.11 matches DNS names, not IPs)" \
    wait_for 20 grep -q "SSL hostname verification failed" "$T_TMP/tls-by-ip.log"
stop_tls_feeder

# --- an exchange that does not exist (yet) ---------------------------------------------
sed -e "s|^exchange = .*|exchange = nova|" -e "s|^queue = .*|queue = no-exchange|" "$INI" \
    >"$T_TMP/no-exchange.ini"
"$AGENT" -c "$T_TMP/no-exchange.ini" feed 2>"$T_TMP/no-exchange.log" &
TLS_PID=$!
check "a missing exchange is reported, and retried" wait_for 20 grep -q \
    "checking that exchange 'nova' exists: 404 NOT_FOUND - no exchange 'nova' in vhost '/'" \
    "$T_TMP/no-exchange.log"
stop_tls_feeder
check_eq "the feeder never declared it" "" \
    "$("$RABBITMQ_SH" ctl "$BROKER" list_exchanges -q name 2>/dev/null | grep -x nova)"

# --- the broker script stops what it started -------------------------------------------
"$RABBITMQ_SH" stop "$BROKER"
check "stop leaves no beam" gone "${BEAM_PID:-0}"
RQ_EPMD_PORT=
. "$BROKER/ports"
check "stop leaves no epmd on the private port" \
    sh -c "! ERL_EPMD_PORT=$RQ_EPMD_PORT timeout 5 epmd -names >/dev/null 2>&1"
check "stop is idempotent" "$RABBITMQ_SH" stop "$BROKER"
