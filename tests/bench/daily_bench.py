#!/usr/bin/env python
"""Daily tier benchmark: playbooks/daily.yml against the same checks written as plain builtin tasks.

Runs both playbooks against the demo fleet, alternating, ROUNDS times each, in one run on one machine, and
prints the wall time of each, the ratio, and the SSH round trips per terminal (counted by an ssh wrapper:
with pipelining every module run is one ssh invocation). Writes results/bench/daily.json.

Usage (from the repository root, demo fleet running: bash scripts/demo.sh):
    python tests/bench/daily_bench.py [--rounds 3] [--limit PATTERN]
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BENCH = os.path.join(ROOT, "tests", "bench")
PLAYBOOKS = {
    "collection (daily.yml)": os.path.join(ROOT, "playbooks", "daily.yml"),
    "naive builtin tasks": os.path.join(BENCH, "naive_daily.yml"),
}


def run(playbook, limit, results_dir):
    """One playbook run with fresh SSH control connections; returns (seconds, ssh calls per port, rc)."""
    with tempfile.TemporaryDirectory() as tmp:
        log = os.path.join(tmp, "ssh.log")
        env = dict(
            os.environ,
            ANSIBLE_SSH_EXECUTABLE=os.path.join(BENCH, "ssh-count"),
            ANSIBLE_SSH_CONTROL_PATH_DIR=os.path.join(tmp, "cp"),
            POSFLEET_SSH_LOG=log,
            POSFLEET_RESULTS_DIR=results_dir,
        )
        cmd = ["ansible-playbook", playbook]
        if limit:
            cmd += ["--limit", limit]
        start = time.monotonic()
        proc = subprocess.run(cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                              check=False)
        seconds = time.monotonic() - start
        calls = collections.Counter()
        if os.path.exists(log):
            with open(log) as handle:
                calls.update(line.strip() for line in handle if line.strip())
        if proc.returncode:
            sys.stderr.write(proc.stdout[-4000:])
        return seconds, calls, proc.returncode


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--limit", default="")
    args = parser.parse_args()

    results_dir = tempfile.mkdtemp(prefix="posfleet-bench-")
    times = {name: [] for name in PLAYBOOKS}
    trips = {}
    for _round in range(args.rounds):
        for name, playbook in PLAYBOOKS.items():  # alternate, so that drift on the machine hits both alike
            seconds, calls, rc = run(playbook, args.limit, results_dir)
            if rc:
                sys.exit(f"{name}: ansible-playbook exited {rc}")
            times[name].append(seconds)
            trips[name] = calls

    ours, naive = PLAYBOOKS
    report = {"rounds": args.rounds, "playbooks": {}}
    print(f"{'playbook':<26} {'median s':>9} {'min s':>7} {'terminals':>10} {'round trips/terminal':>21}")
    for name in PLAYBOOKS:
        per_host = trips[name]
        hosts = len(per_host)
        per_terminal = max(per_host.values()) if per_host else 0
        report["playbooks"][name] = {
            "seconds": times[name],
            "median_seconds": statistics.median(times[name]),
            "terminals": hosts,
            "round_trips_per_terminal": per_terminal,
        }
        print(f"{name:<26} {statistics.median(times[name]):>9.1f} {min(times[name]):>7.1f} {hosts:>10} "
              f"{per_terminal:>21}")
    ratio = statistics.median(times[naive]) / statistics.median(times[ours])
    trip_ratio = report["playbooks"][naive]["round_trips_per_terminal"] / max(
        1, report["playbooks"][ours]["round_trips_per_terminal"])
    report["wall_time_ratio_naive_over_ours"] = round(ratio, 2)
    report["round_trip_ratio_naive_over_ours"] = round(trip_ratio, 2)
    print(f"naive / collection: wall time x{ratio:.2f}, round trips x{trip_ratio:.1f}")
    out = os.path.join(ROOT, "results", "bench")
    os.makedirs(out, exist_ok=True)
    with open(os.path.join(out, "daily.json"), "w") as handle:
        json.dump(report, handle, indent=2)


if __name__ == "__main__":
    main()
