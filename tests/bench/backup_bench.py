#!/usr/bin/env python
"""Backup benchmark: what a backup adds, how long it takes against a plain tar over ssh, restore and drill times.

Measured side by side in one run, on one machine, on one reference terminal whose journal is grown to JOURNAL_ROWS
transactions and which keeps its synthetic sales going:
  1. bytes_added of the first backup into a new restic repository, and of each incremental one after ROUNDS-1
     batches of NEW_ROWS (2%) new transactions: the ratio incremental/first (goal <= 0.1); also what the repository
     grew by on disk (restic compresses; its bytes_added counts the new data before compression);
  2. the wall time of each backup (the module, ansible-playbook included) against `tar -cf -` of the same paths over
     ssh to the controller (same key, known_hosts and port; written to a file, then removed), alternated round by
     round: the ratio backup/tar;
  3. the recovery point: the transactions the terminal committed while the backup ran that the snapshot does not
     hold (the snapshot is one instant of the journal, taken at the start), against what the terminal's facts
     (and so the daily fleet report's NOT BACKED UP column) say a restore from that backup could lose;
  4. the restore of the latest snapshot onto the terminal (restore in maintenance mode: its wall time, the time
     out of service) and the restore drill on the controller.
Writes results/bench/backup.json.

The benchmark makes its own terminal (playbooks/demo_fleet.yml with a generated inventory: container
NAME-bkbench-01, SSH on 127.0.0.1:PORT) and removes it at the end. Usage (from the repository root, after
`source scripts/lib.sh && ensure_venv && ensure_collection_path`, images built by tests/images/build.sh):
    python tests/bench/backup_bench.py [--rounds 3] [--name bkbench] [--port 2970] [--keep] [--workdir DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

import _fleet

ROOT = _fleet.ROOT
STEP = os.path.join(ROOT, "tests", "bench", "backup_step.yml")
HOST = "bkbench-01"
JOURNAL_ROWS = 200000
NEW_ROWS = JOURNAL_ROWS // 50  # 2% new transactions between backups
LOG_BYTES = 8 * 1024 * 1024
PATHS = ["var/lib/posd/journal.db", "etc/posfleet", "var/lib/posfleet/records.json", "var/log/posd"]
GOALS = {"incremental_over_first": 0.1}
GROW = """
import sqlite3, sys
db = sqlite3.connect('/var/lib/posd/journal.db', timeout=30)
# History in a settled batch of its own (what weeks of trading leave in the journal).
batch = 'bench-history'
db.execute("insert or ignore into batches values (?, '2026-11-01T00:00:00Z', '2026-11-01T23:00:00Z')", (batch,))
rows = [('2026-11-01T10:00:00Z', batch, '622848******%04d' % (i % 10000), 100 + i % 5000, 'CNY', 'approved',
         'A%05d' % (i % 100000), 0) for i in range(int(sys.argv[1]))]
db.executemany('insert into transactions (ts, batch_id, pan_masked, amount_minor, currency, status, auth_code, '
               'training) values (?, ?, ?, ?, ?, ?, ?, ?)', rows)
db.commit()
"""
COUNT = "import sqlite3; print(sqlite3.connect('file:/var/lib/posd/journal.db?mode=ro', uri=True)" \
        ".execute('select count(*) from transactions').fetchone()[0])"


def docker_exec(container, *argv):
    proc = subprocess.run(["docker", "exec", container, *argv], check=False, capture_output=True, text=True)
    if proc.returncode:
        sys.exit(f"docker exec {container} {argv[0]} exited {proc.returncode}: {proc.stderr[-2000:]}")
    return proc.stdout


def step(inventory, vars_file, name, work, label):
    out = os.path.join(work, f"{label}.json")
    log = os.path.join(work, f"{label}.log")
    start = time.monotonic()
    with open(log, "w") as handle:
        proc = subprocess.run(["ansible-playbook", "-i", inventory, STEP, "-e", f"@{vars_file}", "-e",
                               f"bk_bench_host={HOST}", "-e", f"bk_bench_step={name}", "-e", f"bk_bench_out={out}"],
                              cwd=ROOT, stdout=handle, stderr=subprocess.STDOUT, check=False)
    wall = time.monotonic() - start
    if proc.returncode:
        with open(log, errors="replace") as handle:
            sys.stderr.write("".join(handle.readlines()[-40:]))
        sys.exit(f"{label}: ansible-playbook exited {proc.returncode}")
    with open(out) as handle:
        return json.load(handle), wall


def stored_bytes(directory):
    """The bytes a local restic repository takes on disk (its files: packs compressed, indexes, snapshots)."""
    return sum(os.path.getsize(os.path.join(top, name)) for top, dummy, names in os.walk(directory) for name in names)


def tar_over_ssh(state, port, work):
    """Wall seconds and bytes of `sudo tar -cf - PATHS` on the terminal, read over ssh into a file."""
    target = os.path.join(work, "tar-over-ssh.tar")
    start = time.monotonic()
    with open(target, "wb") as handle:
        subprocess.run(["ssh", "-i", os.path.join(state, "id_ed25519"), "-o",
                        f"UserKnownHostsFile={os.path.join(state, 'known_hosts')}", "-o", "StrictHostKeyChecking=yes",
                        "-o", "IdentitiesOnly=yes", "-p", str(port), "posadmin@127.0.0.1",
                        "sudo tar -C / -cf - " + " ".join(PATHS)], stdout=handle, check=True)
    wall = time.monotonic() - start
    size = os.path.getsize(target)
    os.unlink(target)
    return wall, size


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--name", default="bkbench")
    parser.add_argument("--port", type=int, default=2970)
    parser.add_argument("--keep", action="store_true", help="keep the terminal and the work directory")
    parser.add_argument("--workdir")
    args = parser.parse_args()
    work = args.workdir or tempfile.mkdtemp(prefix="backup-bench-")
    os.makedirs(work, exist_ok=True)
    _fleet.write_group_vars(work, args.name)
    inventory = _fleet.write_hosts(os.path.join(work, "hosts.yml"), [(HOST, "s01", "t100", args.port)])
    container = f"{args.name}-{HOST}"
    vars_file = os.path.join(work, "vars.json")
    with open(os.open(vars_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "w") as handle:
        json.dump({"bk_bench_repository": os.path.join(work, "repo"), "bk_bench_password": secrets.token_hex(16)},
                  handle)
    _fleet.demo_fleet(inventory, "present", log=os.path.join(work, "fleet-present.log"))
    try:
        docker_exec(container, "python3", "-c", GROW, str(JOURNAL_ROWS))
        docker_exec(container, "sh", "-c", f"seq 1 {LOG_BYTES // 40} | sed 's/^/posd: sale approved auth=/' "
                                           "> /var/log/posd/history.log")
        backups, tars = [], []
        for index in range(args.rounds):
            if index:
                docker_exec(container, "python3", "-c", GROW, str(NEW_ROWS))
            tars.append(tar_over_ssh(os.path.join(work, "state"), args.port, work))
            stored_before = stored_bytes(os.path.join(work, "repo"))
            result, wall = step(inventory, vars_file, "backup", work, f"backup-{index}")
            stored = stored_bytes(os.path.join(work, "repo")) - stored_before
            rows_after = int(docker_exec(container, "python3", "-c", COUNT))
            facts, dummy = step(inventory, vars_file, "facts", work, f"facts-{index}")
            rows_reported = int(docker_exec(container, "python3", "-c", COUNT))
            backups.append({"reported_at_risk": (facts.get("recovery_point") or {}).get("transactions"),
                            "missed_rows_at_report": rows_reported - result["journal_rows"],
                            "wall_s": round(wall, 2), "duration_s": result["duration_s"],
                            "bytes_added": result["bytes_added"], "bytes_read": result["bytes_read"],
                            "repository_growth": stored,
                            "journal_rows": result["journal_rows"], "rows_after": rows_after,
                            "missed_rows": rows_after - result["journal_rows"]})
        restored, restore_wall = step(inventory, vars_file, "restore", work, "restore")
        drill, drill_wall = step(inventory, vars_file, "drill", work, "drill")
    finally:
        if not args.keep:
            _fleet.demo_fleet(inventory, "absent", log=os.path.join(work, "fleet-absent.log"))
    first, increments = backups[0], backups[1:]
    incremental = statistics.mean(b["bytes_added"] for b in increments) if increments else None
    report = {
        "journal_rows": first["journal_rows"], "log_bytes": LOG_BYTES, "rounds": args.rounds,
        "backups": backups, "tar_over_ssh": [{"wall_s": round(w, 2), "bytes": b} for w, b in tars],
        "first_bytes_added": first["bytes_added"], "incremental_bytes_added": incremental,
        "incremental_over_first": round(incremental / first["bytes_added"], 4) if increments else None,
        # restic 0.14's bytes_added counts new data before compression; what the repository grew by on disk:
        "first_repository_growth": first["repository_growth"],
        "incremental_repository_growth": statistics.mean(b["repository_growth"] for b in increments)
        if increments else None,
        "backup_wall_s_median": statistics.median(b["wall_s"] for b in backups),
        "tar_over_ssh_wall_s_median": round(statistics.median(w for w, dummy in tars), 2),
        "missed_rows_max": max(b["missed_rows"] for b in backups),
        # What the fleet report says a restore could lose never falls short of what it would lose.
        "reported_covers_missed": all((b["reported_at_risk"] or 0) >= b["missed_rows"] for b in backups),
        "restore_wall_s": round(restore_wall, 2), "restore_module_s": restored.get("restore", {}).get("duration_s"),
        "restore_out_of_service_s": restored.get("out_of_service_s"),
        "drill_wall_s": round(drill_wall, 2), "drill_s": drill.get("duration_s"), "drill_passed": drill.get("passed"),
        "goals": GOALS,
    }
    if increments:
        report["incremental_over_first_stored"] = round(
            report["incremental_repository_growth"] / first["repository_growth"], 4)
    report["backup_over_tar"] = round(report["backup_wall_s_median"] / report["tar_over_ssh_wall_s_median"], 2)
    _fleet.write_report("backup", report)
    print(json.dumps(report, indent=1))
    if not args.keep:
        shutil.rmtree(work, ignore_errors=True)
    ok = report["incremental_over_first"] is None or report["incremental_over_first"] <= GOALS["incremental_over_first"]
    sys.exit(0 if ok and report["drill_passed"] else 1)


if __name__ == "__main__":
    main()
