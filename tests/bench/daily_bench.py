#!/usr/bin/env python
"""Daily tier benchmark: controller CPU per terminal of playbooks/daily.yml against two naive sides.

The sides, run alternating in one run on one machine, ROUNDS times each, at each fleet size:
  - collection: playbooks/daily.yml (facts + selftest modules, the record written by run_record in the
    controller process);
  - naive builtin tasks: tests/bench/naive_daily.yml (one builtin task per file, command and probe);
  - naive shell: tests/bench/naive_shell_daily.yml (the same checks as ONE shell task per terminal, the record
    written the usual way, with copy delegated to localhost, and the fleet file from the records).

Controller CPU is user+sys of the ansible-playbook process tree (os.wait4: every worker and module process it
reaped), printed per terminal; "ssh masters" is the CPU of the ControlPersist master connections, which detach
from the tree (read from /proc before they are closed). Round trips per terminal are counted by an ssh
wrapper (with pipelining every module run is one ssh exec). Every run starts with fresh SSH connections, as a
daily run does. Writes results/bench/daily.json.

By default the benchmark makes its own fleet of reference terminal containers (playbooks/demo_fleet.yml with a
generated inventory: containers NAME-bench-NN, SSH on 127.0.0.1 ports PORT..PORT+N-1) and removes it at the end.
Usage (from the repository root, images built by tests/images/build.sh):
    python tests/bench/daily_bench.py [--terminals 6,24] [--rounds 3] [--name posfleet] [--port 24001]
        [--keep] [--workdir DIR]
"""

from __future__ import annotations

import argparse
import collections
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

import _fleet

ROOT = _fleet.ROOT
BENCH = os.path.join(ROOT, "tests", "bench")
PLAYBOOKS = {
    "collection (daily.yml)": os.path.join(ROOT, "playbooks", "daily.yml"),
    "naive builtin tasks": os.path.join(BENCH, "naive_daily.yml"),
    "naive one shell task": os.path.join(BENCH, "naive_shell_daily.yml"),
}
OURS = "collection (daily.yml)"
WRITES_RECORDS = (OURS, "naive one shell task")
MODELS = ("t100", "m200")
TERMINALS_PER_STORE = 6
CLK_TCK = os.sysconf("SC_CLK_TCK")


def host_name(index):
    return f"bench-{index + 1:02d}"


def write_inventory(directory, name, port, sizes):
    """hosts-<size>.yml for each size (the first terminals of the largest fleet) and the group vars."""
    _fleet.write_group_vars(directory, name)
    paths = {}
    for count in sizes:
        hosts = [(host_name(i), f"s{i // TERMINALS_PER_STORE + 1:02d}", MODELS[i % 2], port + i) for i in range(count)]
        paths[count] = _fleet.write_hosts(os.path.join(directory, f"hosts-{count}.yml"), hosts)
    return paths


def fleet(inventory, state):
    _fleet.demo_fleet(inventory, state)


def ssh_masters_cpu(control_dir):
    """CPU seconds of the ssh ControlPersist masters of this run; closes them (processes this run started)."""
    seconds = 0.0
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as handle:
                cmdline = handle.read().decode(errors="replace")
            if control_dir not in cmdline:
                continue
            with open(f"/proc/{pid}/stat") as handle:
                fields = handle.read().rsplit(")", 1)[1].split()
            seconds += (int(fields[11]) + int(fields[12])) / CLK_TCK  # utime, stime
            os.kill(int(pid), 15)
        except (OSError, ValueError, IndexError):
            continue
    return seconds


def run(playbook, inventory, results_dir):
    """One run with fresh SSH connections: (wall s, tree CPU s, ssh masters CPU s, ssh calls per port, rc)."""
    with tempfile.TemporaryDirectory(prefix="daily-bench-") as tmp:
        log = os.path.join(tmp, "ssh.log")
        control_dir = os.path.join(tmp, "cp")
        env = dict(
            os.environ,
            ANSIBLE_SSH_EXECUTABLE=os.path.join(BENCH, "ssh-count"),
            ANSIBLE_SSH_CONTROL_PATH_DIR=control_dir,
            POSFLEET_SSH_LOG=log,
            POSFLEET_RESULTS_DIR=results_dir,
        )
        start = time.monotonic()
        with open(os.path.join(tmp, "out"), "w+") as out:
            proc = subprocess.Popen(["ansible-playbook", "-i", inventory, playbook], cwd=ROOT, env=env, stdout=out,
                                    stderr=subprocess.STDOUT)
            _pid, status, usage = os.wait4(proc.pid, 0)
            seconds = time.monotonic() - start
            rc = os.waitstatus_to_exitcode(status)
            proc.returncode = rc
            if rc:
                out.seek(0)
                sys.stderr.write(out.read()[-4000:])
        masters = ssh_masters_cpu(control_dir)
        calls = collections.Counter()
        if os.path.exists(log):
            with open(log) as handle:
                calls.update(line.strip() for line in handle if line.strip())
        return seconds, usage.ru_utime + usage.ru_stime, masters, calls, rc


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--terminals", default="6,24", help="fleet sizes, comma separated")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--name", default="posfleet", help="container name prefix")
    parser.add_argument("--port", type=int, default=24001, help="first SSH port on 127.0.0.1")
    parser.add_argument("--keep", action="store_true", help="leave the fleet running")
    parser.add_argument("--workdir", help="keep the generated inventory and key pair here (reused by the next run)")
    args = parser.parse_args()
    sizes = sorted({int(n) for n in args.terminals.split(",")})

    work = args.workdir or tempfile.mkdtemp(prefix=f"{args.name}-bench-")
    inventories = write_inventory(work, args.name, args.port, sizes)
    print(f"starting {sizes[-1]} terminals ({args.name}-bench-NN, ports {args.port}-{args.port + sizes[-1] - 1})",
          flush=True)
    fleet(inventories[sizes[-1]], "present")
    samples = {(size, name): [] for size in sizes for name in PLAYBOOKS}
    trips = {}
    try:
        for round_no in range(args.rounds):
            for size in sizes:
                for name, playbook in PLAYBOOKS.items():  # alternate, so that drift on the machine hits all alike
                    results_dir = tempfile.mkdtemp(prefix="results-", dir=work)
                    wall, cpu, masters, calls, rc = run(playbook, inventories[size], results_dir)
                    if rc:
                        sys.exit(f"{name} at {size} terminals: ansible-playbook exited {rc}")
                    hosts_dir = os.path.join(results_dir, "daily", "hosts")
                    records = len(os.listdir(hosts_dir)) if os.path.isdir(hosts_dir) else 0
                    if name in WRITES_RECORDS and records != size:
                        sys.exit(f"{name} at {size} terminals wrote {records} records")
                    samples[(size, name)].append((wall, cpu, masters))
                    trips[(size, name)] = max(calls.values()) if calls else 0
                    print(f"round {round_no + 1} {size:>3} terminals {name:<24} wall {wall:6.1f} s  "
                          f"CPU {cpu:6.1f} s  ssh masters {masters:5.1f} s", flush=True)
    finally:
        if not args.keep:
            fleet(inventories[sizes[-1]], "absent")
            if not args.workdir:
                shutil.rmtree(work, ignore_errors=True)

    report = {"rounds": args.rounds, "sizes": sizes, "runs": []}
    print()
    print(f"{'terminals':>9} {'playbook':<24} {'wall s':>7} {'CPU s':>7} {'CPU s/terminal':>15} "
          f"{'+ssh masters':>13} {'round trips':>12} {'CPU vs ours':>12}")
    for size in sizes:
        ours_cpu = statistics.median(s[1] for s in samples[(size, OURS)])
        for name in PLAYBOOKS:
            wall = statistics.median(s[0] for s in samples[(size, name)])
            cpu = statistics.median(s[1] for s in samples[(size, name)])
            masters = statistics.median(s[2] for s in samples[(size, name)])
            entry = {"terminals": size, "playbook": name, "samples": samples[(size, name)],
                     "median_wall_seconds": round(wall, 2), "median_cpu_seconds": round(cpu, 2),
                     "cpu_seconds_per_terminal": round(cpu / size, 3),
                     "ssh_master_cpu_seconds_per_terminal": round(masters / size, 3),
                     "round_trips_per_terminal": trips[(size, name)],
                     "cpu_ratio_over_ours": round(cpu / ours_cpu, 2)}
            report["runs"].append(entry)
            print(f"{size:>9} {name:<24} {wall:>7.1f} {cpu:>7.1f} {cpu / size:>15.2f} {masters / size:>13.2f} "
                  f"{trips[(size, name)]:>12} {'x%.2f' % (cpu / ours_cpu):>12}")
    if len(sizes) > 1:
        lo, hi = sizes[0], sizes[-1]
        print(f"\nmarginal controller CPU per added terminal ({lo} -> {hi}), median of {args.rounds} rounds:")
        report["marginal_cpu_seconds_per_terminal"] = {}
        for name in PLAYBOOKS:
            slope = (statistics.median(s[1] for s in samples[(hi, name)])
                     - statistics.median(s[1] for s in samples[(lo, name)])) / (hi - lo)
            report["marginal_cpu_seconds_per_terminal"][name] = round(slope, 3)
            print(f"  {name:<24} {slope:.2f} s")
    _fleet.write_report("daily", report)


if __name__ == "__main__":
    main()
