#!/usr/bin/env bash
# The whole test suite: lint, sanity, unit tests, the terminal images, every Molecule scenario.
# Every step runs even when an earlier one failed; the exit code and the last line tell the outcome.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
setup_all
apt_install shellcheck   # ansible-test sanity runs it on the shell scripts
cd "$POSFLEET_ROOT" || exit 1

passed=0 failed=0 failures=()
step() {
  local name=$1; shift
  log "step: $name"
  local start=$SECONDS
  if "$@"; then
    passed=$((passed + 1)); log "ok: $name ($((SECONDS - start)) s)"
  else
    failed=$((failed + 1)); failures+=("$name"); log "FAILED: $name ($((SECONDS - start)) s)"
  fi
}

molecule_scenario() { (cd "$POSFLEET_ROOT/extensions" && molecule test -s "$1"); }

step ruff ruff check .
step yamllint yamllint -s .
step ansible-lint ansible-lint --offline --profile production
step unit python -m pytest -q tests/unit
step sanity bash scripts/sanity.sh
step changelog antsibull-changelog lint
step execution-environment bash scripts/ee-create.sh
step "terminal images smoke" bash tests/images/smoke.sh
step "platform write side" python3 tests/images/platform_write.py --no-build
step "install from the artifact" bash tests/install/run.sh
for scenario in ${POSFLEET_SCENARIOS:-default faults timetable compliance resilience week firmware software rollout update_faults}; do
  step "molecule $scenario" molecule_scenario "$scenario"
done

[ ${#failures[@]} -eq 0 ] || log "failed steps: ${failures[*]}"
echo "steps: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
