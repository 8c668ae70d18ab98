#!/usr/bin/env bash
# Start a backup (the command after --), wait until it is in its window, then kill:
#   terminal:   the terminal's power (docker kill, on again at once) while the module writes its archive on the
#               terminal (its work files in the spool); every process of the terminal is stopped the moment the
#               window opens, as a power cut is instant;
#   controller: the run's whole process tree (ansible-playbook, its workers, restic) while restic stores it.
# Prints key=value lines: what was seen, the kill, the run's exit code.
#   kill_during_backup.sh CONTAINER terminal|controller LOG -- CMD...
set -uo pipefail
container=$1 kill=$2 log=$3
shift 4
"$@" >"$log" 2>&1 </dev/null &
run=$!
# shellcheck source=../../update_faults/files/kill_run.sh
source "$(dirname "${BASH_SOURCE[0]}")/../../update_faults/files/kill_run.sh"

probe=$(cat <<'PROBE'
import glob, os, signal, sys, time
deadline = time.time() + 300
while time.time() < deadline:
    found = glob.glob('/home/*/.ansible/tmp/posfleet-backup/.posfleet-backup-*') \
        + glob.glob('/home/*/.ansible/tmp/posfleet-backup/*.tmp')
    if found:
        for pid in (int(name) for name in os.listdir('/proc') if name.isdigit()):
            if pid not in (1, os.getpid()):
                try:
                    os.kill(pid, signal.SIGSTOP)
                except OSError:
                    pass
        print(f'seen={os.path.basename(found[0])}', flush=True)
        sys.exit(0)
    time.sleep(0.02)
sys.exit(3)
PROBE
)
found=false
if [ "$kill" = terminal ]; then
  docker exec "$container" python3 -c "$probe" && found=true
  if $found; then
    docker kill "$container" >/dev/null && echo killed=terminal
    sleep 1
    docker start "$container" >/dev/null
  fi
else
  for _ in $(seq 1 3000); do  # 0.1 s each
    if pgrep -f -- ' backup --json ' >/dev/null; then found=true; break; fi
    kill -0 "$run" 2>/dev/null || break
    sleep 0.1
  done
  if $found; then
    echo seen=restic_backup
    kill_run "$run" && echo killed=controller
  fi
fi
$found || echo seen=none
wait "$run"
echo "rc=$?"
