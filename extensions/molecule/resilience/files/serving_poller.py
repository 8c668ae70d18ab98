"""Poll terminals' POS service every --interval seconds and write one line per round to --log: the time, then
per container 1 (in maintenance mode: not trading), 0 (serving) or ? (no answer). Runs until --stop exists or
--max-seconds passed.

The state is the terminal daemon's own maintenance record (/var/lib/posd/maintenance.json, written by posd on
every change before it answers), read on the controller through the container's root (/proc/<pid>/root), out
of band: a `docker exec posctl status` takes 0.4 to 2 s on a loaded machine, too slow for 0.2 s rounds.

    python3 serving_poller.py --log FILE --stop FILE [--interval 0.2] [--max-seconds 600] CONTAINER...
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import subprocess
import time

STATE = "var/lib/posd/maintenance.json"


def root_of(container):
    pid = subprocess.run(["docker", "inspect", "-f", "{{.State.Pid}}", container], capture_output=True, text=True,
                         check=False).stdout.strip()
    return f"/proc/{pid}/root" if pid and pid != "0" else None


GONE = "gone"  # the container's root is not there: it stopped or restarted (another PID)


def state(root, attempts=3):
    """1, 0 or ? for the terminal under ``root`` (GONE when its root is not there). A file that cannot be read
    is read again at once: a round must not wait for ``docker inspect`` (seconds on a loaded machine) unless
    the container really restarted."""
    for attempt in range(attempts):
        if not os.path.isdir(os.path.join(root, os.path.dirname(STATE))):
            return GONE
        try:
            with open(os.path.join(root, STATE), encoding="utf-8") as handle:
                return "1" if json.load(handle)["enabled"] else "0"
        except FileNotFoundError:
            return "0"  # posd's rule: no record yet is a terminal that was never put under maintenance
        except (OSError, ValueError, KeyError, TypeError):
            if attempt + 1 < attempts:
                time.sleep(0.01)
    return "?"


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--log", required=True)
    parser.add_argument("--stop", required=True)
    parser.add_argument("--interval", type=float, default=0.2)
    parser.add_argument("--max-seconds", type=float, default=600)
    parser.add_argument("containers", nargs="+")
    opts = parser.parse_args()
    # The instrument goes first on a loaded machine (root may raise its priority): a round that waits for the CPU
    # is a blind spot in the evidence.
    with contextlib.suppress(OSError):
        os.nice(-10)
    started = time.monotonic()
    roots = {name: root_of(name) for name in opts.containers}
    with open(opts.log, "w", encoding="utf-8") as log:
        log.write("# time " + " ".join(opts.containers) + "\n")
        while not os.path.exists(opts.stop) and time.monotonic() - started < opts.max_seconds:
            tick = time.monotonic()
            states = []
            for name in opts.containers:
                value = state(roots[name]) if roots[name] else GONE
                if value == GONE:  # stopped or restarted: look for its new PID (slow: docker inspect)
                    roots[name] = root_of(name)
                    value = "?"
                states.append(value)
            log.write(f"{time.time():.2f} " + " ".join(states) + "\n")
            log.flush()
            time.sleep(max(0.0, opts.interval - (time.monotonic() - tick)))


if __name__ == "__main__":
    main()
