#!/usr/bin/env bash
# Start an update (the command after --), watch the terminal's real state from inside the container until the
# window opens, then kill: the terminal (docker kill, power on again at once) or the controller's run (SIGKILL of
# ansible-playbook and of every process it started, as a crashed AWX job's container takes them all). Prints key=value lines: what was
# seen when the window opened (the state at the kill) and the run's exit code.
#   kill_in_window.sh CONTAINER terminal|controller transfer|staging|switch|gate OLD_BOOT_ID SLOT LOG -- CMD...
# SLOT is the slot the update stages (the inactive one); OLD_BOOT_ID the boot id before the update.
set -uo pipefail
container=$1 kill=$2 window=$3 old_boot=$4 slot=$5 log=$6
shift 7
"$@" >"$log" 2>&1 </dev/null &
run=$!

# shellcheck source=kill_run.sh
source "$(dirname "${BASH_SOURCE[0]}")/kill_run.sh"

# One Python loop inside the terminal polls every 20 ms and prints the state when the window is open (exit 0), or
# gives up at the deadline (exit 3); a reboot of the terminal ends it, and it starts again in the new boot. It reads the files themselves: no code of the collection is involved.
probe=$(cat <<'PROBE'
import glob, json, os, signal, sys, time
window, slot, old_boot = sys.argv[1:4]  # then the deadline (epoch seconds) and the kill
cache = '/var/lib/posfleet/firmware-cache'

def env():
    try:
        with open('/var/lib/posboot/env.json') as handle:
            return json.load(handle)
    except (OSError, ValueError):  # being replaced, or the terminal going down
        return {}

def gate_state():
    """(self-test seen, training transaction answered) in the current boot's posd log."""
    selftest = answered = False
    try:
        with open('/var/log/posd/posd.log', errors='replace') as handle:
            for line in handle:
                if ' started from slot ' in line:
                    selftest = answered = False
                elif 'selftest:' in line:
                    selftest = True
                elif 'test transaction' in line:
                    answered = True
    except OSError:
        pass
    return selftest, answered

deadline = float(sys.argv[4])
freeze = sys.argv[5] == 'terminal'  # the terminal is killed once the window is open
while time.time() < deadline:
    e = env()
    ua, boot = e.get('upgrade_available'), e.get('boot_id')
    trial = ua == 1 and boot and boot != old_boot
    seen = None
    if window == 'transfer':
        # the pieces put so far wait in the connection user's spool until the install stage takes them in
        pieces = glob.glob('/home/*/.ansible/tmp/posfleet-firmware-spool/*.piece') \
            + glob.glob('/root/.ansible/tmp/posfleet-firmware-spool/*.piece')
        if len(pieces) >= 2:
            objects = os.listdir(cache + '/objects') if os.path.isdir(cache + '/objects') else []
            seen = f'seen_pieces={len(pieces)} seen_objects={len(objects)}'
    elif window == 'staging':
        found = glob.glob(f'/slots/.{slot}.staging-*')
        if found:
            files = sum(len(names) for dummy, dirs, names in os.walk(found[0]))
            seen = f'seen_staging={found[0]} seen_files={files}'
    elif window == 'switch':
        if trial:
            seen = f'seen_boot={boot} seen_slot={e.get("active_slot")}'
    elif window == 'gate':
        selftest, answered = gate_state()
        if trial and selftest and not answered:
            seen = f'seen_boot={boot} seen_slot={e.get("active_slot")} seen_selftest=1 seen_tx=0'
    if seen:
        if freeze:
            # A power cut is instant: stop every process of the terminal where it stands, so that the update does
            # not run on (a fast machine finishes the staging) in the moment docker kill takes to arrive.
            for pid in (int(name) for name in os.listdir('/proc') if name.isdigit()):
                if pid not in (1, os.getpid()):
                    try:
                        os.kill(pid, signal.SIGSTOP)
                    except OSError:
                        pass
        print(f'{seen} seen_ua={ua}', flush=True)
        sys.exit(0)
    time.sleep(0.02)
print('seen_timeout=1')
sys.exit(3)
PROBE
)
deadline=$(( $(date +%s) + 600 ))  # generous: a loaded CI machine is slow
found=false
while [ "$(date +%s)" -lt "$deadline" ] && kill -0 "$run" 2>/dev/null; do
  docker exec "$container" python3 -c "$probe" "$window" "$slot" "$old_boot" "$deadline" "$kill"
  case $? in
    0) found=true; break ;;
    3) break ;;
    *) sleep 0.2 ;;  # the terminal is rebooting
  esac
done
if $found; then
  if [ "$kill" = terminal ]; then
    docker kill "$container" >/dev/null && echo killed=terminal
    sleep 1
    docker start "$container" >/dev/null
  else
    kill_run "$run" && echo killed=controller
  fi
fi
wait "$run"
echo "rc=$?"
