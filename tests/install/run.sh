#!/usr/bin/env bash
# Install from the artifact, as docs/getting-started.md tells an admin to: build the collection, install the
# tarball into an EMPTY collections directory, and run posfleet.terminals.daily from a project of its own (its
# own ansible.cfg and inventory, not this checkout) against two reference terminals made by
# posfleet.terminals.demo_fleet from the installed collection.
# Containers, network and volume are named <name>-* (default install-*), SSH on 127.0.0.1:<port>, <port>+1
# (default 22600); POSFLEET_INSTALL_NAME and POSFLEET_INSTALL_PORT change them. Everything is removed at exit.
# shellcheck source=SCRIPTDIR/../../scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/../../scripts/lib.sh"
ensure_docker
ensure_venv
ensure_images >/dev/null

NAME=${POSFLEET_INSTALL_NAME:-install}
PORT=${POSFLEET_INSTALL_PORT:-22600}
WORK=$(mktemp -d /tmp/posfleet-install.XXXXXX)
HOSTS=(sh01-t100-01 ber01-m200-01)

fail() { echo "tests/install: $*" >&2; exit 1; }

remove_fleet() {
  # By label, so that it also works when the installed collection (its demo_fleet playbook) does not.
  docker ps -aq --filter "label=posfleet.demo=$NAME" | xargs -r docker rm -f >/dev/null
  docker network rm "$NAME-net" >/dev/null 2>&1 || true
  docker volume rm "$NAME-ca" >/dev/null 2>&1 || true
}
cleanup() { remove_fleet; rm -rf "$WORK"; }
trap cleanup EXIT
remove_fleet  # what an interrupted earlier run left

# Nothing of the caller's Ansible set-up (ensure_collection_path points at this checkout) reaches the project.
while read -r var; do unset "$var"; done < <(compgen -e | grep -E '^(ANSIBLE_|POSFLEET_(RESULTS|DATA)_DIR$)' || true)

log "build the collection and install the tarball into an empty directory"
ansible-galaxy collection build --output-path "$WORK/dist" "$POSFLEET_ROOT" >/dev/null
tarballs=("$WORK"/dist/posfleet-terminals-*.tar.gz)
if [ ${#tarballs[@]} -ne 1 ] || [ ! -f "${tarballs[0]}" ]; then
  fail "ansible-galaxy collection build made no single tarball: ${tarballs[*]}"
fi
mkdir "$WORK/collections"
# The dependencies (community.docker, community.crypto, awx.awx) come from the venv's `ansible` package.
DEPENDENCIES=$(python3 -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
[ -d "$DEPENDENCIES/ansible_collections/community/docker" ] || fail "no community.docker under $DEPENDENCIES"
export ANSIBLE_COLLECTIONS_PATH="$WORK/collections:$DEPENDENCIES"
ansible-galaxy collection install --offline -p "$WORK/collections" "${tarballs[0]}" >/dev/null
INSTALLED=$WORK/collections/ansible_collections/posfleet/terminals
[ -f "$INSTALLED/MANIFEST.json" ] || fail "the tarball did not install into $INSTALLED"
# What a run of this checkout leaves must not have been installed (test_artifact.py lists the tarball itself).
for leftover in results .cache .pytest_cache .ruff_cache .venv ansible.cfg; do
  [ ! -e "$INSTALLED/$leftover" ] || fail "the installed collection holds $leftover"
done

log "a project of its own: ansible.cfg, inventory, results"
PROJECT=$WORK/project
mkdir -p "$PROJECT/inventory/group_vars"
cat >"$PROJECT/ansible.cfg" <<EOF
[defaults]
inventory = inventory/hosts.yml
collections_path = $ANSIBLE_COLLECTIONS_PATH
forks = 10
interpreter_python = auto_silent
retry_files_enabled = false

[ssh_connection]
pipelining = true
ssh_args = -o ControlMaster=auto -o ControlPersist=30s
EOF
cat >"$PROJECT/inventory/hosts.yml" <<EOF
---
terminals:
  children:
    store_sh01:
      vars: {posfleet_store: sh01, posfleet_timezone: Asia/Shanghai}
      hosts:
        ${HOSTS[0]}: {ansible_port: $PORT, posfleet_demo_model: t100, posfleet_demo_firmware: 2.3.1}
    store_ber01:
      vars: {posfleet_store: ber01, posfleet_timezone: Europe/Berlin}
      hosts:
        ${HOSTS[1]}: {ansible_port: $((PORT + 1)), posfleet_demo_model: m200, posfleet_demo_firmware: 2.2.0}
EOF
cat >"$PROJECT/inventory/group_vars/all.yml" <<EOF
---
posfleet_demo_name: $NAME
posfleet_demo_network: $NAME-net
posfleet_demo_state_dir: $WORK/state
EOF
cat >"$PROJECT/inventory/group_vars/terminals.yml" <<'EOF'
---
ansible_host: 127.0.0.1
ansible_user: posadmin
ansible_python_interpreter: /usr/bin/python3
ansible_ssh_private_key_file: "{{ posfleet_demo_state_dir }}/id_ed25519"
ansible_ssh_common_args: >-
  -o UserKnownHostsFile={{ posfleet_demo_state_dir }}/known_hosts
  -o StrictHostKeyChecking=yes -o IdentitiesOnly=yes
EOF
cd "$PROJECT" || exit 1

# The project sees posfleet.terminals in the temporary install only: not this checkout, not twice.
listing=$(ansible-galaxy collection list posfleet.terminals --format json)
paths=$(python3 -c 'import json, sys; print("\n".join(p for p, c in json.loads(sys.argv[1]).items() if "posfleet.terminals" in c))' "$listing")
[ "$paths" = "$WORK/collections/ansible_collections" ] || fail "posfleet.terminals is found in: ${paths:-nowhere} (only $WORK/collections/ansible_collections expected)"

log "start the terminals (posfleet.terminals.demo_fleet) and run posfleet.terminals.daily"
installed_at=$SECONDS
ansible-playbook posfleet.terminals.demo_fleet >"$WORK/demo_fleet.log" 2>&1 || { cat "$WORK/demo_fleet.log"; fail "demo_fleet failed"; }
fleet_at=$SECONDS
ansible-playbook posfleet.terminals.daily >"$WORK/daily.log" 2>&1 || { cat "$WORK/daily.log"; fail "daily failed"; }
daily_at=$SECONDS

# Every terminal reported, in the project's own results directory (the default: results/ where it runs).
RESULTS=$PROJECT/results/daily
for file in fleet.json summary.txt report.html; do
  [ -s "$RESULTS/$file" ] || fail "daily wrote no $RESULTS/$file"
done
python3 - "$RESULTS" "${HOSTS[@]}" <<'EOF'
import json
import sys
from pathlib import Path

results, hosts = Path(sys.argv[1]), sorted(sys.argv[2:])
fleet = json.loads((results / 'fleet.json').read_text())
reported = {record['host']: record for record in fleet['hosts']}
if sorted(reported) != hosts:
    sys.exit(f'tests/install: fleet.json reports {sorted(reported)}, expected {hosts}')
for host in hosts:
    record = json.loads((results / 'hosts' / f'{host}.json').read_text())
    # Checked by the terminal itself: its own id answered, in this run, with a health status.
    if (record['run_id'], record['terminal_id'], record['status']) != (fleet['run_id'], host.upper(), reported[host]['status']) \
            or record['status'] not in ('healthy', 'attention', 'unhealthy'):
        sys.exit(f'tests/install: {host}: {record["terminal_id"]} status {record["status"]} in run {record["run_id"]} '
                 f'(fleet run {fleet["run_id"]}): {record.get("error")}')
EOF
[ ! -e "$INSTALLED/results" ] || fail "daily wrote results into the installed collection"
log "ok: built, installed into an empty directory and run from a project of its own: ${HOSTS[*]} reported" \
  "(set-up, build and install ${installed_at} s, terminals $((fleet_at - installed_at)) s, daily $((daily_at - fleet_at)) s)"
