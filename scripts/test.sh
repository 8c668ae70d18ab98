#!/usr/bin/env bash
# The whole test suite: lint, sanity, unit tests, the terminal images, every Molecule scenario.
# Every step runs even when an earlier one failed; the exit code and the last line tell the outcome.
# The steps are independent (each scenario has its own containers, network and ports), so POSFLEET_JOBS of
# them (default 2) run side by side, the longest first: most of a scenario's time is spent waiting for
# terminals to reboot and settle, not on the CPU. Each step's output is kept and printed whole when it ends,
# so outputs never interleave. POSFLEET_JOBS=1 runs them one after the other.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
setup_all
apt_install shellcheck   # ansible-test sanity runs it on the shell scripts
cd "$POSFLEET_ROOT" || exit 1

jobs=${POSFLEET_JOBS:-2}
# A step that runs longer than this (seconds) is killed with its whole process group and fails: a hung step
# fails visibly instead of using up CI's time. The longest step takes about 6 minutes on a loaded machine.
step_limit=${POSFLEET_STEP_TIMEOUT:-1500}
# The Molecule scenarios; POSFLEET_SCENARIOS picks some.
scenarios=${POSFLEET_SCENARIOS:-default faults timetable compliance resilience week firmware software rollout update_faults backup}
out=$(mktemp -d /tmp/posfleet-test.XXXXXX)
trap 'rm -rf "$out"' EXIT

# A scenario has fixed container names: the lock keeps two checkouts on one machine from running it at once.
# (A command, not a shell function: the step's time limit runs it.)
molecule_scenario="env --chdir=$POSFLEET_ROOT/extensions flock /tmp/posfleet-molecule-%s.lock molecule test -s %s"

steps=()   # "name|command ..." in the order they start
add() { local name=$1; shift; steps+=("$name|$*"); }
scenario() { case " $scenarios " in *" $1 "*) add "molecule $1" "${molecule_scenario//%s/$1}" ;; esac; }
# Roughly the longest first, a CPU-bound step (sanity, unit, ansible-lint) beside a scenario that mostly waits.
scenario resilience
scenario update_faults
add sanity bash scripts/sanity.sh
scenario week
add unit python -m pytest -q -p no:cacheprovider tests/unit
scenario firmware
scenario rollout
scenario compliance
add ansible-lint ansible-lint --offline --profile production
scenario timetable
scenario software
scenario backup
scenario faults
add "platform write side" python3 tests/images/platform_write.py --no-build
scenario default
add "install from the artifact" bash tests/install/run.sh
add "terminal images smoke" bash tests/images/smoke.sh
add ruff ruff check .
add yamllint yamllint -s .
add changelog antsibull-changelog lint
add execution-environment bash scripts/ee-create.sh
for name in $scenarios; do   # a scenario not placed above runs last
  case " ${steps[*]} " in *"molecule $name|"*) ;; *) add "molecule $name" "${molecule_scenario//%s/$name}" ;; esac
done

run_step() {
  # Run step number $1, keep its output, then print it whole under the output lock.
  local index=$1 name=${steps[$1]%%|*} command=${steps[$1]#*|} start=$SECONDS status rc=0
  # shellcheck disable=SC2086 # the command is a word list written above
  timeout --kill-after=30 "$step_limit" $command >"$out/$index.log" 2>&1 </dev/null || rc=$?
  case $rc in
    0) status=ok ;;
    124 | 137) status=FAILED; echo "posfleet: the step ran longer than ${step_limit} s and was killed" \
      "(POSFLEET_STEP_TIMEOUT sets the limit); the containers then:" >>"$out/$index.log"
      docker ps -a --format '{{.Names}} {{.Status}}' >>"$out/$index.log" 2>&1 ;;
    *) status=FAILED ;;
  esac
  {
    flock 9
    log "step: $name"
    cat "$out/$index.log" >&2
    log "$status: $name ($((SECONDS - start)) s)"
    echo "$status" >"$out/$index.status"
  } 9>"$out/print.lock"
}

lane() {
  # Take the next step nobody took yet, until none is left.
  local index
  while true; do
    index=$({
      flock 8
      local next
      next=$(cat "$out/next" 2>/dev/null || echo 0)
      echo $((next + 1)) >"$out/next"
      echo "$next"
    } 8>"$out/queue.lock")
    [ "$index" -lt ${#steps[@]} ] || return 0
    run_step "$index"
  done
}

log "running ${#steps[@]} steps, $jobs side by side"
lanes=()
for _ in $(seq 1 "$jobs"); do lane & lanes+=($!); done
# The lanes only: a plain wait would also wait for any daemon the set-up started from this shell, forever.
wait "${lanes[@]}"

passed=0 failed=0 failures=()
for index in "${!steps[@]}"; do
  if [ "$(cat "$out/$index.status" 2>/dev/null)" = ok ]; then
    passed=$((passed + 1))
  else
    failed=$((failed + 1)); failures+=("${steps[$index]%%|*}")
  fi
done
[ ${#failures[@]} -eq 0 ] || log "failed steps: ${failures[*]}"
echo "steps: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
