# shellcheck shell=bash
# Sourced by the kill scripts (update_faults, backup): kill_run PID kills the process tree of PID, as a crashed AWX
# job's container takes them all. Not its process group: ansible's workers start sessions of their own (setsid),
# so a group kill leaves the worker of the running task alive, and it finishes the task by itself.
tree() {
  local child
  for child in $(ps -o pid= --ppid "$1"); do echo "$child"; tree "$child"; done
}
kill_run() {
  local root=$1 pids=() pass
  for pass in 1 2 3; do  # stopped first, so that none forks a new one while the tree is read
    mapfile -t pids < <(echo "$root"; tree "$root")
    kill -STOP "${pids[@]}" 2>/dev/null
  done
  kill -KILL "${pids[@]}" 2>/dev/null
  echo "killed_pids=${#pids[@]} stop_passes=$pass"
}
