#!/usr/bin/env bash
# The main job on the embedded demo fleet: build the terminal images when missing, start the six demo
# terminals, run the daily maintenance over SSH, print the fleet summary and write the results as JSON.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
setup_all
cd "$POSFLEET_ROOT" || exit 1
export POSFLEET_RESULTS_DIR=${POSFLEET_RESULTS_DIR:-$POSFLEET_ROOT/results}
log "starting the demo fleet (inventories/demo)"
ansible-playbook playbooks/demo_fleet.yml
log "running the daily maintenance"
ansible-playbook playbooks/daily.yml "$@"
log "results: $POSFLEET_RESULTS_DIR/daily (per-host JSON, fleet.json, summary.txt)"
