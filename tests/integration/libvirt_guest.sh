# Proof, with virsh only, of what the compute role must provide: a private
# libvirtd (tests/lib/libvirt.sh) given a cephx secret and a volume secret
# the way Nova/Kolla define them starts a TCG guest whose virtio disk is a
# LUKS volume on RBD, sees exactly the LUKS payload size, survives a
# libvirtd restart, and refuses to start with a wrong passphrase.
# run.sh: side lane (a private libvirtd; the volume role only)
. "$(dirname "$0")/../lib/testlib.sh"
. "$(dirname "$0")/../lib/libvirt.sh"

lvdir=$T_TMP/lv
vol=$(new_uuid)
img=volume-$vol
dom=lvguest-${vol%%-*}
timing() { echo "   timing: $1 $2 ms"; }
# running PID: alive and not a zombie (daemonized processes are reaped by init late).
running() {
    local st
    st=$(awk '{ print $3 }' "/proc/$1/stat" 2>/dev/null) || return 1
    [ -n "$st" ] && [ "$st" != Z ]
}
not_running() { ! running "$1"; }

# The host's libvirt dirs, to prove the private daemons leave them alone.
host_libvirt_state() {
    local p
    for p in /etc/libvirt /run/libvirt /var/lib/libvirt /var/log/libvirt /var/cache/libvirt; do
        if [ -e "$p" ]; then
            find "$p" -printf '%p %y %m %s %T@\n' 2>/dev/null | sort
        else
            echo "$p absent"
        fi
    done
}
host_libvirt_state >"$T_TMP/host-before"

cleanup() {
    libvirt_stop "$lvdir" >/dev/null 2>&1
    rbd_ rm --no-progress "$img" >/dev/null 2>&1
}
trap cleanup EXIT

# --- the private libvirtd ---------------------------------------------------
t0=$(ms)
out=$(libvirt_start "$lvdir" 2>"$T_TMP/lv-start.err")
rc=$?
timing "libvirtd first start (virtlogd + libvirtd + qemu capability probe)" $(($(ms) - t0))
if [ "$rc" != 0 ]; then
    # Nothing below can work; say why (e.g. libvirt-daemon-system or
    # qemu-system-x86 not installed) instead of failing every check.
    fail "private libvirtd starts" "$(tail -c 600 "$T_TMP/lv-start.err" | tr '\n' ' ')"
    exit 0
fi
pass "private libvirtd starts"
URI=${out#LIBVIRT_URI=}
check_eq "start prints the socket URI" \
    "LIBVIRT_URI=qemu+unix:///system?socket=$lvdir/sock/libvirt-sock" "$out"
check "virsh answers on the private socket" vsh version
check "no default network or other objects" \
    bash -c "[ -z \"\$(timeout -s KILL 30 virsh -q -c '$URI' net-list --all --name)\" ]"

# --- a LUKS volume straight into RBD, as Cinder's qemu-img path does ---------
pass=$T_TMP/pass
head -c 32 /dev/urandom | od -An -v -tx1 | tr -d ' \n' >"$pass"
created=no
for try in 1 2 3 4 5; do
    if timeout -s KILL 120 qemu-img create -f luks --object "secret,id=sec0,file=$pass" \
        -o key-secret=sec0,cipher-alg=aes-256,cipher-mode=xts,ivgen-alg=plain64 \
        "rbd:$POOL/$img:conf=$CEPH_CONF:id=admin" 1G >>"$T_TMP/qemu-img.log" 2>&1; then
        created=yes
        break
    fi
    # A failed create can leave a 0-byte image behind; the next try needs it gone.
    rbd_ rm --no-progress "$img" >>"$T_TMP/qemu-img.log" 2>&1
    sleep 1
done
echo "   qemu-img create -f luks: $try tries"
check_eq "qemu-img create -f luks into rbd" yes "$created"

# --- secrets as Nova/Kolla define them ---------------------------------------
cephx_uuid=$(new_uuid)
vol_uuid=$(new_uuid)
keyring=$CEPH_DIR/ceph.client.cinder.keyring
awk '$1 == "key" { print $3 }' "$keyring" | tr -d '\n' >"$T_TMP/cephx.b64"
cat >"$T_TMP/cephx-secret.xml" <<EOF
<secret ephemeral='no' private='no'>
  <uuid>$cephx_uuid</uuid>
  <usage type='ceph'><name>client.cinder secret</name></usage>
</secret>
EOF
cat >"$T_TMP/vol-secret.xml" <<EOF
<secret ephemeral='no' private='no'>
  <uuid>$vol_uuid</uuid>
  <usage type='volume'><volume>$vol</volume></usage>
</secret>
EOF
check "define the cephx secret" vsh secret-define "$T_TMP/cephx-secret.xml"
# --file without --plain base64-decodes: libvirt keeps the raw key bytes, and so
# stores exactly the keyring's base64 text (what Kolla's <uuid>.base64 files hold).
check "set the cephx secret from the keyring's base64 key" \
    vsh secret-set-value "$cephx_uuid" --file "$T_TMP/cephx.b64"
check_eq "libvirt stores the raw cephx key (its .base64 is the keyring's key)" \
    "$(cat "$T_TMP/cephx.b64")" "$(tr -d '\n' <"$lvdir/etc/secrets/$cephx_uuid.base64")"
check "define the volume secret" vsh secret-define "$T_TMP/vol-secret.xml"
check "set the volume secret to the hex passphrase (plain)" \
    vsh secret-set-value "$vol_uuid" --file "$pass" --plain
check_eq "volume secret value is the passphrase text" \
    "$(cat "$pass")" "$(vsh secret-get-value "$vol_uuid" | base64 -d)"
check "secret-list shows usage 'volume <volume id>' (Nova's find_secret)" \
    bash -c "timeout -s KILL 30 virsh -q -c '$URI' secret-list | grep -q '$vol_uuid *volume $vol\$'"

# --- the guest ---------------------------------------------------------------
v2port=$(libvirt_ceph_mon_port "$CEPH_CONF" v2)
v1port=$(libvirt_ceph_mon_port "$CEPH_CONF" v1)
libvirt_luks_rbd_domain_xml "$dom" "$POOL" "$img" 127.0.0.1 "$v2port" cinder \
    "$cephx_uuid" "$vol_uuid" >"$T_TMP/domain.xml"
check "define the domain" vsh define "$T_TMP/domain.xml"

t0=$(ms)
vsh start --paused "$dom" >"$T_TMP/start1.out" 2>&1
rc=$?
timing "domain start --paused (includes the LUKS keyslot's PBKDF2, about 2 s)" $(($(ms) - t0))
check_eq "start --paused with the right secrets" 0 "$rc"
check_eq "domain is paused" paused "$(vsh domstate "$dom")"
capacity() { vsh domblkinfo "$dom" vda | awk '$1 == "Capacity:" { print $2 }'; }
check_eq "guest sees exactly the 1 GiB LUKS payload" "$GIB" "$(capacity)"
qpid=$(cat "$lvdir/run/qemu/$dom.pid" 2>/dev/null)
check "qemu runs, pid file in DIR/run/qemu" running "$qpid"
check "qemu got the disk as a luks node on an rbd node" \
    bash -c "tr '\0' '\n' </proc/$qpid/cmdline | grep -q '\"driver\":\"luks\",\"key-secret\"' &&
             tr '\0' '\n' </proc/$qpid/cmdline | grep -q '\"driver\":\"rbd\",\"pool\":\"$POOL\",\"image\":\"$img\"'"

t0=$(ms)
libvirt_restart_libvirtd "$lvdir" 2>>"$T_TMP/lv-restart.err"
rc=$?
timing "libvirtd kill -9 + restart until it answers" $(($(ms) - t0))
check_eq "libvirtd restarts in the same namespace" 0 "$rc"
check_eq "domain still paused after the libvirtd restart" paused "$(vsh domstate "$dom")"
check_eq "same qemu process after the restart" "$qpid" "$(cat "$lvdir/run/qemu/$dom.pid" 2>/dev/null)"
check_eq "capacity still exact after the restart" "$GIB" "$(capacity)"
check "destroy" vsh destroy "$dom"
check_eq "domain is shut off" "shut off" "$(vsh domstate "$dom")"
check "qemu is gone" not_running "$qpid"

# The mon's msgr1 port works in <host> as well (see libvirt_ceph_mon_port).
libvirt_luks_rbd_domain_xml "$dom-v1" "$POOL" "$img" 127.0.0.1 "$v1port" cinder \
    "$cephx_uuid" "$vol_uuid" >"$T_TMP/domain-v1.xml"
check "define a domain using the msgr1 port" vsh define "$T_TMP/domain-v1.xml"
check "it starts too" vsh start --paused "$dom-v1"
check_eq "and sees 1 GiB" "$GIB" "$(vsh domblkinfo "$dom-v1" vda | awk '$1 == "Capacity:" { print $2 }')"
check "destroy it" vsh destroy "$dom-v1"

# --- a wrong passphrase -------------------------------------------------------
printf '%064d' 0 >"$T_TMP/wrong"
check "set a wrong passphrase" vsh secret-set-value "$vol_uuid" --file "$T_TMP/wrong" --plain
vsh start --paused "$dom" >"$T_TMP/start-wrong.out" 2>&1
check_eq "start fails with the wrong passphrase" 1 "$?"
check "the error says the keyslot did not unlock" \
    grep -q "Invalid password, cannot unlock any keyslot" "$T_TMP/start-wrong.out"
check_eq "domain stays shut off" "shut off" "$(vsh domstate "$dom")"
check "the right passphrase again" vsh secret-set-value "$vol_uuid" --file "$pass" --plain
check "then it starts again" vsh start --paused "$dom"

# --- everything stops ---------------------------------------------------------
pids=
for f in "$lvdir/holder.pid" "$lvdir/virtlogd.pid" "$lvdir/libvirtd.pid" "$lvdir/run/qemu/$dom.pid"; do
    pids="$pids $(head -n1 "$f" 2>/dev/null)"
done
check "stop" libvirt_stop "$lvdir"
alive() { # none of the pids left (zombies aside), nor any process with DIR in its argv
    local p
    for p in $pids; do
        running "$p" && { echo "pid $p still running"; return 1; }
    done
    ! pgrep -af -- "$lvdir/"
}
check "no libvirtd, virtlogd, qemu or holder of this DIR left (pids$pids)" alive
check "stop again is a no-op" libvirt_stop "$lvdir"
host_libvirt_state >"$T_TMP/host-after"
check "host's /etc/libvirt, /run/libvirt, /var/{lib,log,cache}/libvirt untouched" \
    cmp -s "$T_TMP/host-before" "$T_TMP/host-after"
