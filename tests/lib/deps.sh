#!/usr/bin/env bash
# Install the Debian packages a task needs, and nothing when they are all present.
#
#   tests/lib/deps.sh [build|test|openstack|demo|musl|container|ansible|all]   (default: all)
#   tests/lib/deps.sh --list GROUP    print the group's packages, install nothing
#
# Idempotent and cheap on the second run: apt-get only runs when dpkg says a package
# is missing, so CI and developers can call it unconditionally before building or testing.
set -euo pipefail

# Compiler, pkg-config and the -dev packages the agent links against.
# libvirt-daemon: the unit tests open libvirt's embedded secret driver.
BUILD_PKGS=(gcc make pkg-config librbd-dev librados-dev libcryptsetup-dev libssl-dev
            libinih-dev libjson-c-dev libvirt-dev librabbitmq-dev libvirt-daemon)

# What tests/lib/ceph-cluster.sh and the tests drive: a private mon+OSD, the rbd/ceph
# CLIs, qemu-img/qemu-io with the rbd block driver (qemu-block-extra) and cryptsetup as
# independent judges of the LUKS header. coreutils gives timeout, util-linux setsid,
# procps ps/pgrep for checking that nothing is left running. A private libvirtd (the
# monolithic daemon, with its secret and qemu drivers), virsh, and qemu-system-x86 for
# TCG guests that open LUKS volumes over RBD; xxd and script (bsdutils) for key tests.
# A private RabbitMQ broker (tests/lib/rabbitmq.sh), amqp-publish and openssl (test
# TLS certificates) for the feeder's tests. sasl2-bin (saslpasswd2) and
# libsasl2-modules (DIGEST-MD5, SCRAM) for a libvirtd asking for SASL, as Kolla's does.
TEST_PKGS=(ceph-mon ceph-osd ceph-common qemu-utils qemu-block-extra cryptsetup-bin
           python3 coreutils util-linux procps libvirt-daemon libvirt-daemon-system
           libvirt-clients qemu-system-x86 xxd bsdutils rabbitmq-server amqp-tools openssl
           clang libclang-rt-14-dev valgrind sasl2-bin libsasl2-modules)

# The real OpenStack code the tests judge the agent by (tests/lib/cinder.sh,
# tests/lib/nova_harness.py): Cinder's services with the RBD driver (python3-rbd,
# python3-rados; ceph-mgr for its pool stats), Nova's libvirt driver with
# python3-libvirt and os-brick; Glance's API with its file store (python3-glance,
# python3-glance-store) for volumes from images and uploads to images.
OPENSTACK_PKGS=(python3-cinder python3-nova python3-os-brick python3-libvirt python3-rbd
                python3-rados ceph-mgr python3-glance python3-glance-store)

# The demo builds the agent and boots the same cluster as the tests.
DEMO_PKGS=("${BUILD_PKGS[@]}" "${TEST_PKGS[@]}")

# make musl-check: musl-gcc, and what tests/musl/deps.sh builds json-c with
# (cmake; dpkg-dev unpacks the source package); file tells a static binary.
MUSL_PKGS=(musl-tools cmake dpkg-dev file binutils)

# make image and the container tests: podman (runc: crun refuses some hosts'
# cgroup setups), buildah, debootstrap for the project's own base image.
CONTAINER_PKGS=(podman runc buildah debootstrap)

# The Ansible role's lint, syntax check and localhost run; Debian's ansible
# brings the containers.podman and community.docker collections.
ANSIBLE_PKGS=(ansible ansible-lint)

usage() {
    echo "usage: $0 [build|test|openstack|demo|musl|container|ansible|all]" >&2
    exit 2
}

list_only=no
if [[ ${1:-} == --list ]]; then
    list_only=yes
    shift
fi
group=${1:-all}
[[ $# -le 1 ]] || usage
case $group in
    build) wanted=("${BUILD_PKGS[@]}") ;;
    test)  wanted=("${TEST_PKGS[@]}" "${OPENSTACK_PKGS[@]}") ;;
    openstack) wanted=("${OPENSTACK_PKGS[@]}") ;;
    demo)  wanted=("${DEMO_PKGS[@]}") ;;
    musl)  wanted=("${MUSL_PKGS[@]}") ;;
    container) wanted=("${CONTAINER_PKGS[@]}") ;;
    ansible) wanted=("${ANSIBLE_PKGS[@]}") ;;
    all)   wanted=("${BUILD_PKGS[@]}" "${TEST_PKGS[@]}" "${OPENSTACK_PKGS[@]}" "${MUSL_PKGS[@]}"
                   "${CONTAINER_PKGS[@]}"
                   "${ANSIBLE_PKGS[@]}") ;;
    -h|--help) usage ;;
    *) usage ;;
esac

# De-duplicate (all = build + test overlap is possible in future edits) keeping order.
declare -A seen=()
pkgs=()
for p in "${wanted[@]}"; do
    [[ -n ${seen[$p]:-} ]] && continue
    seen[$p]=1
    pkgs+=("$p")
done

# --list GROUP: the packages the group installs, one a line (for checks).
if [[ $list_only == yes ]]; then
    printf '%s\n' "${pkgs[@]}"
    exit 0
fi

missing=()
for p in "${pkgs[@]}"; do
    # An unknown package makes dpkg-query fail; that simply counts as missing.
    status=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
    [[ $status == "install ok installed" ]] || missing+=("$p")
done

if [[ ${#missing[@]} -eq 0 ]]; then
    echo "deps ($group): all ${#pkgs[@]} packages present"
    exit 0
fi

if [[ $(id -u) -ne 0 ]]; then
    echo "deps ($group): missing packages: ${missing[*]}" >&2
    echo "deps ($group): not root, cannot install them; run as root or install them with:" >&2
    echo "  sudo apt-get install -y --no-install-recommends ${missing[*]}" >&2
    exit 1
fi

# apt's chatter goes to stderr so that stdout stays the one summary line.
apt-get update >&2
DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${missing[@]}" >&2
echo "deps ($group): installed ${missing[*]}"
