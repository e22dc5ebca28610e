# libvirt_remote: the compute role over the transports Kolla's nova-compute
# uses to reach nova_libvirt (nova.conf.d/libvirt.conf.j2: qemu+tcp, or
# qemu+tls with libvirt_tls), against a private libvirtd listening on
# 127.0.0.1 over TCP and over TLS with a CA made here; and next to a cephx
# secret that Kolla (or TripleO) defines itself.
#
# Checked: over TCP and over TLS the agent defines its static cephx secret
# with the keyring's key and gives a volume a placeholder (`secrets
# provision`); a client certificate from another CA is refused, with the URI
# in the message, and nothing is defined. Kolla's shape of the cephx secret
# (its secret.xml.j2 and <uuid>.base64 in /etc/libvirt/secrets, merged back
# at every nova_libvirt start): with the same UUID, usage and value the
# agent counts it as present and leaves its definition byte for byte as it
# was, across libvirtd restarts; with another value it says so (FILE:LINE of
# the [secret:] section, "different value") and changes nothing.
# run.sh: serial (compute agents read the whole volume index)
. "$(dirname "$0")/../lib/testlib.sh"
. "$(dirname "$0")/../lib/libvirt.sh"

lvdir=$T_TMP/lv
sasldir=$T_TMP/lv-sasl
agent_pid=
cleanup() {
    [ -n "$agent_pid" ] && kill "$agent_pid" 2>/dev/null
    libvirt_stop "$lvdir" >/dev/null 2>&1
    libvirt_stop "$sasldir" >/dev/null 2>&1
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

# --- a test CA, the server's certificate (IP 127.0.0.1), a client's; a rogue CA's client ---
pki=$T_TMP/pki
mkdir -p "$pki/server" "$pki/client" "$pki/rogue"
ca() { # DIR NAME: a self-signed CA in DIR/cakey.pem, DIR/cacert.pem
    openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=$2" \
        -keyout "$1/cakey.pem" -out "$1/cacert.pem" 2>>"$T_TMP/openssl.log"
}
leaf() { # CADIR KEY CERT CN [SAN]
    local ext=$T_TMP/ext.cnf
    printf 'basicConstraints=CA:FALSE\n%s\n' "${5:+subjectAltName=$5}" >"$ext"
    openssl req -newkey rsa:2048 -nodes -subj "/CN=$4" -keyout "$2" -out "$2.csr" 2>>"$T_TMP/openssl.log" &&
        openssl x509 -req -in "$2.csr" -CA "$1/cacert.pem" -CAkey "$1/cakey.pem" -CAcreateserial \
            -days 2 -extfile "$ext" -out "$3" 2>>"$T_TMP/openssl.log"
}
mkdir -p "$pki/ca" "$pki/rogueca"
ok=0
ca "$pki/ca" rla-test-ca && ca "$pki/rogueca" rla-rogue-ca &&
    leaf "$pki/ca" "$pki/server/serverkey.pem" "$pki/server/servercert.pem" 127.0.0.1 "IP:127.0.0.1" &&
    leaf "$pki/ca" "$pki/client/clientkey.pem" "$pki/client/clientcert.pem" rbd-luks-agent &&
    leaf "$pki/rogueca" "$pki/rogue/clientkey.pem" "$pki/rogue/clientcert.pem" rbd-luks-agent && ok=1
cp "$pki/ca/cacert.pem" "$pki/server/" 2>/dev/null
cp "$pki/ca/cacert.pem" "$pki/client/" 2>/dev/null
cp "$pki/ca/cacert.pem" "$pki/rogue/" 2>/dev/null
chmod 0600 "$pki"/*/*key.pem 2>/dev/null
check_eq "a test CA and certificates are made (openssl)" 1 "$ok"

TCP_PORT=$(free_port)
TLS_PORT=$(free_port)
out=$(LIBVIRT_TCP_PORT=$TCP_PORT LIBVIRT_TLS_PORT=$TLS_PORT LIBVIRT_TLS_DIR=$pki/server \
    libvirt_start "$lvdir" 2>"$T_TMP/lv-start.err")
if [ $? != 0 ]; then
    fail "private libvirtd starts, listening on TCP and TLS" "$(tail -c 600 "$T_TMP/lv-start.err" | tr '\n' ' ')"
    exit 0
fi
UNIX_URI=${out#LIBVIRT_URI=}
TCP_URI=qemu+tcp://127.0.0.1:$TCP_PORT/system
TLS_URI="qemu+tls://127.0.0.1:$TLS_PORT/system?pkipath=$pki/client"
ROGUE_URI="qemu+tls://127.0.0.1:$TLS_PORT/system?pkipath=$pki/rogue"
vsh() { timeout -s KILL 60 virsh -q -c "$UNIX_URI" "$@"; }
check "virsh reaches the libvirtd over TCP" timeout -s KILL 30 virsh -q -c "$TCP_URI" version
check "virsh reaches it over TLS with the test CA's client certificate" \
    timeout -s KILL 30 virsh -q -c "$TLS_URI" version

keyring=$CEPH_DIR/ceph.client.cinder.keyring
cephx_b64=$(awk '$1 == "key" { print $3 }' "$keyring")
TYPE=lvr-type-$$
# compute_ini DIR URI SECRET_NAME UUID USAGE_NAME: a compute agent's config.
compute_ini() {
    mkdir -p "$1/state"
    : >"$1/events.jsonl"
    cat >"$1/agent.ini" <<INI
[agent]
role = compute
hook_file = $1/events.jsonl
state_dir = $1/state
poll_interval_ms = 100
[compute]
uri = $2
host = lvr-host-1
types = $TYPE
reconcile_interval_s = 10
gc_interval_s = 0
[secret:$3]
uuid = $4
usage = ceph
usage_name = $5
keyring = $keyring
entity = client.cinder
[ceph]
conf = $CEPH_CONF
client = cinder
pool = $POOL
[keys]
provider = file
directory = $1/keys
[retry]
initial_ms = 100
max_ms = 1000
give_up_after_s = 10
INI
    mkdir -p "$1/keys"
    chmod 0700 "$1/keys"
}
value_of() { vsh secret-get-value "$1" 2>/dev/null; }
value_is() { [ "$(value_of "$1")" = "$2" ]; }
start_agent() { # DIR
    "$AGENT" -c "$1/agent.ini" run >>"$1/agent.log" 2>&1 &
    agent_pid=$!
}
stop_agent() {
    kill -TERM "$agent_pid" 2>/dev/null
    wait "$agent_pid" 2>/dev/null
    agent_pid=
}
placeholder_of() { # DIR VOLUME: the volume's secret is the agent's placeholder
    vsh secret-list 2>/dev/null | awk -v v="$2" '$2 == "volume" && $3 == v' | grep -q . &&
        "$AGENT" -c "$1/agent.ini" secrets list 2>/dev/null | grep "$2" | grep -q placeholder
}

# --- over TCP and over TLS ------------------------------------------------------------------
for transport in tcp tls; do
    d=$T_TMP/$transport
    uuid=$(new_uuid)
    uri=$TCP_URI
    [ $transport = tls ] && uri=$TLS_URI
    compute_ini "$d" "$uri" "ceph-$transport" "$uuid" "client.cinder $transport secret"
    check "$transport: the config passes check-config" "$AGENT" -c "$d/agent.ini" check-config
    start_agent "$d"
    check "$transport: the agent defines the cephx secret with the keyring's key" \
        wait_for 20 value_is "$uuid" "$cephx_b64"
    check "$transport: the agent says where it connected" grep -q "connected to libvirt at qemu+$transport://127.0.0.1" "$d/agent.log"
    stop_agent
    v=$(new_uuid)
    "$AGENT" -c "$d/agent.ini" secrets provision "$v" >"$d/prov.out" 2>&1
    check "$transport: secrets provision of a volume the index does not know: a placeholder" \
        grep -q "^$v placeholder: " "$d/prov.out"
    check "$transport: and libvirt holds it, the agent's placeholder" placeholder_of "$d" "$v"
    "$AGENT" -c "$d/agent.ini" secrets remove "$v" >/dev/null 2>&1
done

# A client certificate from another CA: refused by the server, said clearly, nothing defined.
d=$T_TMP/rogue
compute_ini "$d" "$ROGUE_URI" ceph-rogue "$(new_uuid)" "client.cinder rogue secret"
v=$(new_uuid)
"$AGENT" -c "$d/agent.ini" secrets provision "$v" >"$d/prov.out" 2>&1
rc=$?
check "tls with another CA's client certificate: provision fails" test "$rc" -ne 0
check "the message names the URI" grep -qF "qemu+tls://127.0.0.1:$TLS_PORT" "$d/prov.out"
check "and nothing was defined for the volume" bash -c "timeout 30 virsh -q -c '$UNIX_URI' secret-list >'$d/list.out' && ! grep -q '$v' '$d/list.out'"

# --- next to Kolla's own cephx secret ---------------------------------------------------------
# Kolla-Ansible's nova-cell role writes secret.xml.j2 and <uuid>.base64 into
# nova_libvirt's config and nova-libvirt.json.j2 merges them into
# /etc/libvirt/secrets at every start: here, the private libvirtd's secrets dir.
KOLLA_UUID=$(new_uuid)
kolla_files() { # VALUE
    cat >"$lvdir/etc/secrets/$KOLLA_UUID.xml" <<XML
<secret ephemeral='no' private='no'>
  <uuid>$KOLLA_UUID</uuid>
  <usage type='ceph'>
    <name>client.nova secret</name>
  </usage>
</secret>
XML
    printf '%s' "$1" >"$lvdir/etc/secrets/$KOLLA_UUID.base64"
    chmod 0600 "$lvdir/etc/secrets/$KOLLA_UUID".*
}
restart_libvirtd() {
    libvirt_restart_libvirtd "$lvdir" >>"$T_TMP/lv-restart.log" 2>&1
}
mkdir -p "$lvdir/etc/secrets"
kolla_files "$cephx_b64"
restart_libvirtd
check "libvirtd loads Kolla's secret from its files" value_is "$KOLLA_UUID" "$cephx_b64"
vsh secret-dumpxml "$KOLLA_UUID" >"$T_TMP/kolla-before.xml"
d=$T_TMP/kolla
compute_ini "$d" "$TCP_URI" ceph-nova "$KOLLA_UUID" "client.nova secret"
sed -i 's/^\[agent\]$/[agent]\nlog_level = debug/' "$d/agent.ini"
checked() { [ "$(grep -c 'static secrets checked' "$d/agent.log")" -ge "$1" ]; }
start_agent "$d"
check "the agent checks its static secrets (debug log)" wait_for 20 checked 1
kill -HUP "$agent_pid"
check "and again on SIGHUP" wait_for 20 checked 2
vsh secret-dumpxml "$KOLLA_UUID" >"$T_TMP/kolla-after.xml"
check "the same UUID, usage and value: Kolla's definition is left byte for byte" \
    cmp -s "$T_TMP/kolla-before.xml" "$T_TMP/kolla-after.xml"
check "its value is still the key" value_is "$KOLLA_UUID" "$cephx_b64"
check_eq "no error about it in the agent's log" "" "$(grep -E ' error ' "$d/agent.log" | grep "$KOLLA_UUID")"
# A redeploy: Kolla writes its files again and nova_libvirt restarts.
kolla_files "$cephx_b64"
restart_libvirtd
check "after a nova_libvirt restart the agent reconnects" \
    wait_for 30 bash -c "[ \$(grep -c 'connected to libvirt at' '$d/agent.log') -ge 2 ]"
kill -HUP "$agent_pid"
check "and checks again" wait_for 20 checked 3
vsh secret-dumpxml "$KOLLA_UUID" >"$T_TMP/kolla-after2.xml"
check "Kolla's definition is still byte for byte its own" cmp -s "$T_TMP/kolla-before.xml" "$T_TMP/kolla-after2.xml"
check_eq "still no error about it" "" "$(grep -E ' error ' "$d/agent.log" | grep "$KOLLA_UUID")"
# Kolla's value differs from the agent's keyring: reported, not fought over.
other=AQAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA==
kolla_files "$other"
restart_libvirtd
line=$(grep -n '^\[secret:ceph-nova\]' "$d/agent.ini" | cut -d: -f1)
differs() { grep -E " error .*$d/agent.ini:$line: .*$KOLLA_UUID.*different value" "$d/agent.log"; }
kill -HUP "$agent_pid" 2>/dev/null
check "another value: the agent reports it with FILE:LINE and 'different value'" wait_for 30 differs
check "and leaves Kolla's value" value_is "$KOLLA_UUID" "$other"
vsh secret-dumpxml "$KOLLA_UUID" >"$T_TMP/kolla-after3.xml"
check "and Kolla's definition" cmp -s "$T_TMP/kolla-before.xml" "$T_TMP/kolla-after3.xml"
stop_agent
check "no cephx key in the agents' logs" bash -c "! grep -rqF '$cephx_b64' '$T_TMP/tcp/agent.log' '$T_TMP/tls/agent.log' '$d/agent.log'"

# --- SASL login, as Kolla's libvirt_enable_sasl ---------------------------------------------
SASL_TCP_PORT=$(free_port)
SASL_TLS_PORT=$(free_port)
out=$(LIBVIRT_TCP_PORT=$SASL_TCP_PORT LIBVIRT_TLS_PORT=$SASL_TLS_PORT LIBVIRT_TLS_DIR=$pki/server \
    LIBVIRT_SASL_MECH=DIGEST-MD5 libvirt_start "$sasldir" 2>"$T_TMP/lv-sasl-start.err")
if [ $? != 0 ]; then
    fail "a private libvirtd asking for SASL (DIGEST-MD5) starts" "$(tail -c 600 "$T_TMP/lv-sasl-start.err" | tr '\n' ' ')"
    exit 0
fi
SASL_UNIX_URI=${out#LIBVIRT_URI=}
SASL_TCP_URI=qemu+tcp://127.0.0.1:$SASL_TCP_PORT/system
SASL_TLS_URI="qemu+tls://127.0.0.1:$SASL_TLS_PORT/system?pkipath=$pki/client"
sasl_password="sasl-pw-$$-$RANDOM$RANDOM"
printf '%s' "$sasl_password" | libvirt_sasl_user "$sasldir" nova
check_eq "the sasldb has the user nova (saslpasswd2)" 0 $?
svsh() { timeout -s KILL 60 virsh -q -c "$SASL_UNIX_URI" "$@"; }
sasl_value_is() { [ "$(svsh secret-get-value "$1" 2>/dev/null)" = "$2" ]; }

d=$T_TMP/sasl
uuid=$(new_uuid)
compute_ini "$d" "$SASL_TCP_URI" ceph-sasl "$uuid" "client.cinder sasl secret"
v=$(new_uuid)
"$AGENT" -c "$d/agent.ini" secrets provision "$v" >"$d/nologin.out" 2>&1
rc=$?
check "no login: provision fails" test "$rc" -ne 0
check "and says the daemon asks for a SASL login and which keys give one" \
    grep -qF "cannot connect to libvirt at $SASL_TCP_URI (it asks for a SASL login: set [compute] sasl_user and sasl_password_file)" "$d/nologin.out"

# The login keys go right after uri.
printf 'wrong-%s\n' "$sasl_password" >"$d/sasl.pass"
chmod 0600 "$d/sasl.pass"
sed -i "s|^uri = .*|&\nsasl_user = nova\nsasl_password_file = $d/sasl.pass|" "$d/agent.ini"
"$AGENT" -c "$d/agent.ini" secrets provision "$v" >"$d/wrong.out" 2>&1
rc=$?
check "a wrong password: provision fails" test "$rc" -ne 0
check "the message names the URI and the user" \
    grep -qF "cannot log in to libvirt at $SASL_TCP_URI as nova" "$d/wrong.out"
check "and nothing was defined for the volume" bash -c "svsh() { timeout 30 virsh -q -c '$SASL_UNIX_URI' \"\$@\"; }; svsh secret-list >'$d/list.out' && ! grep -q '$v' '$d/list.out'"

chmod 0644 "$d/sasl.pass"
"$AGENT" -c "$d/agent.ini" check-config >"$d/check.out" 2>&1
rc=$?
check "a password file others can read: check-config fails" test "$rc" -ne 0
pline=$(grep -n '^sasl_password_file' "$d/agent.ini" | cut -d: -f1)
check "naming FILE:LINE of sasl_password_file" \
    grep -qF "$d/agent.ini:$pline: password file $d/sasl.pass is accessible by group or others (mode 0644); chmod 600 it" "$d/check.out"

# Kolla's password as an operator writes it: with a trailing newline.
printf '%s\n' "$sasl_password" >"$d/sasl.pass"
chmod 0600 "$d/sasl.pass"
check "with the right password file the config passes check-config" "$AGENT" -c "$d/agent.ini" check-config
start_agent "$d"
check "tcp + DIGEST-MD5: the agent logs in and defines the cephx secret with the keyring's key" \
    wait_for 20 sasl_value_is "$uuid" "$cephx_b64"
check "its log says where it connected" grep -qF "connected to libvirt at $SASL_TCP_URI" "$d/agent.log"
check "the password is not in its argv or environment" \
    bash -c "! tr '\0' '\n' </proc/$agent_pid/cmdline | grep -qF '$sasl_password' && ! tr '\0' '\n' </proc/$agent_pid/environ | grep -qF '$sasl_password'"
stop_agent
"$AGENT" -c "$d/agent.ini" secrets provision "$v" >"$d/prov.out" 2>&1
check "secrets provision logs in too: a placeholder" grep -q "^$v placeholder: " "$d/prov.out"
check "and libvirt holds it" bash -c "timeout 30 virsh -q -c '$SASL_UNIX_URI' secret-list | awk -v v='$v' '\$2 == \"volume\" && \$3 == v' | grep -q ."

# Kolla with libvirt_tls: SCRAM-SHA-256 over TLS (the same daemon, restarted).
sed -i 's/^mech_list: .*/mech_list: SCRAM-SHA-256/' "$sasldir/etc/sasl2/libvirt.conf"
libvirt_restart_libvirtd "$sasldir" >>"$T_TMP/lv-sasl-restart.log" 2>&1
check_eq "libvirtd restarts with mech_list SCRAM-SHA-256" 0 $?
# SCRAM has no SASL security layer, which libvirt insists on over plain TCP: the
# TCP login that worked now fails, so the daemon really runs with SCRAM only.
"$AGENT" -c "$d/agent.ini" secrets provision "$(new_uuid)" >"$d/scram-tcp.out" 2>&1
check "after it, the TCP login that worked with DIGEST-MD5 is refused" \
    grep -qF "cannot log in to libvirt at $SASL_TCP_URI as nova" "$d/scram-tcp.out"
d2=$T_TMP/sasl-tls
uuid2=$(new_uuid)
compute_ini "$d2" "$SASL_TLS_URI" ceph-sasl-tls "$uuid2" "client.cinder sasl tls secret"
cp "$d/sasl.pass" "$d2/sasl.pass"
sed -i "s|^uri = .*|&\nsasl_user = nova\nsasl_password_file = $d2/sasl.pass|" "$d2/agent.ini"
start_agent "$d2"
check "tls + SCRAM-SHA-256: the agent logs in and defines the cephx secret" \
    wait_for 20 sasl_value_is "$uuid2" "$cephx_b64"
stop_agent
check "the password is in none of the agents' logs or outputs" \
    bash -c "! grep -rqF '$sasl_password' '$d'/*.log '$d'/*.out '$d2'/*.log"
