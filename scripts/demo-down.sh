#!/usr/bin/env bash
# Tear the demo fleet down: containers, network, CA volume and the generated SSH material.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
ensure_docker
ensure_venv
ensure_collection_path
cd "$POSFLEET_ROOT" || exit 1
ansible-playbook playbooks/demo_fleet.yml -e posfleet_demo_state=absent
