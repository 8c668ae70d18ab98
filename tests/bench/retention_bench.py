#!/usr/bin/env python
"""Retention benchmark: the monthly retention step of a fleet, a restic prune and check for every terminal against
one of each for the fleet (posfleet_backup_prune_interval_hours and posfleet_backup_check_reuse_hours 0 against 24).

Measured side by side in one run, alternated round by round, on one local restic repository on the controller
that holds TERMINALS terminals' snapshots (SNAPSHOTS each, weekly, of a JOURNAL_BYTES journal that changes a little
between them): the wall time of tests/bench/retention_step.yml (ansible-playbook, the role's retention entry point
for each terminal, FORKS side by side) and how many prunes and checks ran. Each run starts from a copy of the
repository and an empty controller cache, so neither finds the other's check. Writes results/bench/retention.json.

No terminal is needed: retention runs on the controller. Usage (from the repository root, after
`source scripts/lib.sh && ensure_venv && ensure_collection_path`):
    python tests/bench/retention_bench.py [--rounds 2] [--terminals 12] [--keep] [--workdir DIR]
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

import _fleet

ROOT = _fleet.ROOT
STEP = os.path.join(ROOT, "tests", "bench", "retention_step.yml")
SNAPSHOTS = 4
JOURNAL_BYTES = 4 * 1024 * 1024
FORKS = 5
PASSWORD = "retention-bench-repository"


def restic(repo, password_file, *args, cwd=None):
    subprocess.run(["restic", "--no-cache", "-q", "-r", repo, "--password-file", password_file, *args], cwd=cwd,
                   check=True, stdout=subprocess.DEVNULL)


def make_repository(work, terminals):
    """The fleet's repository: each terminal's journal (random bytes, a few KiB of it new each week), backed up
    weekly over the last SNAPSHOTS weeks, tagged settled=none (nothing held)."""
    repo, password_file = os.path.join(work, "repo"), os.path.join(work, "repository.pass")
    with open(password_file, "w") as handle:
        handle.write(PASSWORD)
    restic(repo, password_file, "init")
    now = datetime.datetime.now(datetime.timezone.utc)
    source = os.path.join(work, "source")
    for index in range(terminals):
        terminal = f"BENCH-T{index + 1:03d}"
        os.makedirs(source, exist_ok=True)
        journal = bytearray(os.urandom(JOURNAL_BYTES))
        for week in range(SNAPSHOTS):
            journal[-8192:] = os.urandom(8192)
            journal += os.urandom(16384)
            with open(os.path.join(source, "journal.db"), "wb") as handle:
                handle.write(journal)
            taken = now - datetime.timedelta(weeks=SNAPSHOTS - week)
            restic(repo, password_file, "backup", "--host", terminal, "--tag", f"terminal_id={terminal}", "--tag",
                   "settled=none", "--time", taken.strftime("%Y-%m-%d %H:%M:%S"), "journal.db", cwd=source)
    return repo


def write_inventory(work, terminals):
    inventory = {"terminals": {"hosts": {f"bench-t{index + 1:03d}": {} for index in range(terminals)},
                               "vars": {"ansible_connection": "local", "ansible_python_interpreter": sys.executable}}}
    path = os.path.join(work, "hosts.json")
    with open(path, "w") as handle:
        json.dump(inventory, handle)
    return path


def run_step(work, inventory, repo, label, hours):
    """One run of the step on a fresh copy of the repository with an empty controller cache (HOME): wall time and
    the checks that ran."""
    run_dir = tempfile.mkdtemp(prefix=f"{label}-", dir=work)
    copy = os.path.join(run_dir, "repo")
    shutil.copytree(repo, copy)
    home, out = os.path.join(run_dir, "home"), os.path.join(run_dir, "out")
    os.makedirs(home)
    os.makedirs(out)
    variables = os.path.join(run_dir, "vars.json")
    with open(variables, "w") as handle:
        json.dump({"posfleet_backup_repository": copy, "posfleet_backup_password": PASSWORD, "bench_out": out,
                   "posfleet_backup_check_reuse_hours": hours, "posfleet_backup_prune_interval_hours": hours,
                   "posfleet_backup_keep_daily": 1,
                   "posfleet_backup_keep_weekly": 2, "posfleet_backup_keep_monthly": 0,
                   "posfleet_backup_keep_yearly": 0}, handle)
    env = dict(os.environ, HOME=home, ANSIBLE_FORKS=str(FORKS), ANSIBLE_NOCOLOR="1")
    started = time.monotonic()
    proc = subprocess.run(["ansible-playbook", "-i", inventory, STEP, "-e", f"@{variables}"], cwd=ROOT, env=env,
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, check=False)
    wall = time.monotonic() - started
    if proc.returncode:
        sys.stderr.write(proc.stdout[-4000:])
        sys.exit(f"{label}: ansible-playbook exited {proc.returncode}")
    results = []
    for name in sorted(os.listdir(out)):
        with open(os.path.join(out, name)) as handle:
            results.append(json.load(handle))
    shutil.rmtree(run_dir)
    return {"wall_s": wall, "checks": sum(1 for result in results if not result["check_reused"]),
            "prunes": sum(1 for result in results if result["pruned"]),
            "forgotten": sum(result["forgotten"] for result in results), "terminals": len(results)}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--terminals", type=int, default=12)
    parser.add_argument("--keep", action="store_true", help="keep the work directory")
    parser.add_argument("--workdir")
    options = parser.parse_args()
    work = options.workdir or tempfile.mkdtemp(prefix="retention-bench-")
    os.makedirs(work, exist_ok=True)
    try:
        made = time.monotonic()
        repo = make_repository(work, options.terminals)
        print(f"repository: {options.terminals} terminals x {SNAPSHOTS} snapshots "
              f"({time.monotonic() - made:.0f} s to make)", flush=True)
        inventory = write_inventory(work, options.terminals)
        runs = {"each": [], "shared": []}
        for round_index in range(options.rounds):
            order = [("each", 0), ("shared", 24)]
            for label, hours in order if round_index % 2 == 0 else reversed(order):
                result = run_step(work, inventory, repo, label, hours)
                runs[label].append(result)
                print(f"round {round_index + 1} {label}: {result['wall_s']:.1f} s, {result['prunes']} prunes, "
                      f"{result['checks']} checks, "
                      f"{result['forgotten']} snapshots forgotten", flush=True)
        each = statistics.median(run["wall_s"] for run in runs["each"])
        shared = statistics.median(run["wall_s"] for run in runs["shared"])
        report = {"terminals": options.terminals, "snapshots_per_terminal": SNAPSHOTS, "forks": FORKS,
                  "rounds": options.rounds, "each_checks_s": round(each, 1), "one_check_s": round(shared, 1),
                  "one_check_over_each": round(shared / each, 3),
                  "checks_each": runs["each"][0]["checks"], "checks_shared": runs["shared"][0]["checks"],
                  "prunes_each": runs["each"][0]["prunes"], "prunes_shared": runs["shared"][0]["prunes"],
                  "forgotten": runs["shared"][0]["forgotten"]}
        _fleet.write_report("retention", report)
        print(json.dumps(report, indent=2))
    finally:
        if not options.keep:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
