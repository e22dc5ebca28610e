#!/bin/bash
# Runs the role's engine decisions inside a real Kolla-Ansible tree (a
# checkout or release archive of openstack/kolla-ansible, which this
# project does not ship): the role is copied into TREE/ansible/roles, and a
# play there loads Kolla's group_vars, globals.yml and passwords.yml, runs
# the role's validate.yml and prints what the role decided: the container
# module, the memlock ulimit name, the healthcheck, the compute URI and its
# SASL login, and the RabbitMQ login. A second run without docker_registry_password in
# passwords.yml must stop with the role's message.
#
#   ansible/tools/kolla-tree-check.sh TREE [ENGINE]     ENGINE: docker (default) or podman
#
# Prints one "kolla-tree: NAME=VALUE" line per decision; exit 1 on a failed run.
# Nothing outside TREE and a temp dir is written; no container is touched.
set -euo pipefail

tree=$(cd "${1:?usage: kolla-tree-check.sh TREE [docker|podman]}" && pwd)
engine=${2:-docker}
here=$(cd "$(dirname "$0")/.." && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

rm -rf "$tree/ansible/roles/rbd-luks-agent"
cp -r "$here/roles/rbd-luks-agent" "$tree/ansible/roles/"
cat >"$tree/ansible/rbd-luks-agent-tree-check.yml" <<'YML'
---
- name: What the rbd-luks-agent role decides in this Kolla-Ansible tree
  hosts: localhost
  connection: local
  gather_facts: true
  tasks:
    - name: The role's checks
      ansible.builtin.include_role:
        name: rbd-luks-agent
        tasks_from: validate.yml
        public: true
    - name: What it decided
      ansible.builtin.debug:
        msg:
          - "kolla-tree: engine={{ rbd_luks_agent_container_engine }}"
          - "kolla-tree: module={{ rbd_luks_agent_kolla_module }}"
          - "kolla-tree: tasks=container-{{ rbd_luks_agent_engine_tasks }}.yml"
          - "kolla-tree: memlock={{ rbd_luks_agent_memlock_dimensions.ulimits.keys() | list | first }}"
          - "kolla-tree: healthcheck_test={{ rbd_luks_agent_healthcheck.test }}"
          - "kolla-tree: compute_uri={{ rbd_luks_agent_compute_uri }}"
          - "kolla-tree: amqp={{ rbd_luks_agent_amqp_user }}@{{ rbd_luks_agent_amqp_vhost }}:{{ rbd_luks_agent_amqp_port }} tls={{ rbd_luks_agent_amqp_tls }}"
          - "kolla-tree: logs_volume={{ rbd_luks_agent_logs_volume }}"
          - "kolla-tree: compute_sasl={{ rbd_luks_agent_compute_sasl | bool }} user={{ rbd_luks_agent_compute_sasl_user }} password_given={{ rbd_luks_agent_compute_sasl_password | length > 0 }}"
YML
# passwords.yml as kolla-genpwd would leave it, with a value for each key.
python3 - "$tree/etc/kolla/passwords.yml" "$tmp/passwords.yml" <<'PY'
import sys, yaml
keys = yaml.safe_load(open(sys.argv[1])) or {}
out = {k: ("x" if v is None else v) for k, v in keys.items()}
yaml.safe_dump(out, open(sys.argv[2], "w"))
PY
grep -v '^docker_registry_password:' "$tmp/passwords.yml" >"$tmp/passwords-nodocker.yml"

play() { # PASSWORDS LOG
    (cd "$tree/ansible" && PYTHONPATH=$tree PBR_VERSION=0.0.0 ANSIBLE_LOCAL_TEMP=$tmp/lt ANSIBLE_HOME=$tmp/ah \
        ANSIBLE_NOCOLOR=1 ANSIBLE_LIBRARY=$tree/ansible/library \
        ANSIBLE_ACTION_PLUGINS=$tree/ansible/action_plugins ANSIBLE_FILTER_PLUGINS=$tree/ansible/filter_plugins \
        ANSIBLE_MODULE_UTILS=$tree/ansible/module_utils \
        timeout -s KILL 300 ansible-playbook -i localhost, rbd-luks-agent-tree-check.yml \
        -e @"$tree/etc/kolla/globals.yml" -e @"$1" \
        -e kolla_container_engine="$engine" -e kolla_internal_vip_address=127.0.0.1 \
        -e network_interface=lo -e rbd_luks_agent_compute_enabled=false) >"$2" 2>&1
}
rc=0
if play "$tmp/passwords.yml" "$tmp/run.log"; then
    grep -o 'kolla-tree: [^"]*' "$tmp/run.log"
else
    echo "kolla-tree: the play failed:"; tail -n 30 "$tmp/run.log"; rc=1
fi
if play "$tmp/passwords-nodocker.yml" "$tmp/nodocker.log"; then
    echo "kolla-tree: without docker_registry_password the play did not stop"; rc=1
elif grep -q '"msg": "rbd_luks_agent_container_engine is kolla, but docker_common_options does not template' "$tmp/nodocker.log"; then
    echo "kolla-tree: without docker_registry_password: stopped with the role's message"
else
    echo "kolla-tree: without docker_registry_password: failed otherwise:"; tail -n 15 "$tmp/nodocker.log"; rc=1
fi
rm -f "$tree/ansible/rbd-luks-agent-tree-check.yml"
rm -rf "$tree/ansible/roles/rbd-luks-agent"
exit $rc
