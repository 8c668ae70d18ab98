"""The benchmarks' own fleet of reference terminals: the generated inventory and playbooks/demo_fleet.yml.

Containers NAME-HOST, SSH on 127.0.0.1 at the port each host is given, keys and known_hosts under
DIRECTORY/state. Imported by tests/bench/daily_bench.py and tests/bench/firmware_bench.py (run from the
repository root: the script's directory is on sys.path).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
TIMEZONE = "Asia/Shanghai"
FIRMWARE = "2.3.1"  # what every bench terminal runs when it is made


def write_group_vars(directory, name):
    """group_vars for a fleet named ``name`` (its docker network NAME-net, its state under DIRECTORY/state)."""
    os.makedirs(os.path.join(directory, "group_vars"), exist_ok=True)
    with open(os.path.join(directory, "group_vars", "all.yml"), "w") as handle:
        json.dump({"posfleet_demo_name": name, "posfleet_demo_network": f"{name}-net",
                   "posfleet_demo_state_dir": os.path.join(directory, "state")}, handle)
    shutil.copy(os.path.join(ROOT, "inventories", "demo", "group_vars", "terminals.yml"),
                os.path.join(directory, "group_vars", "terminals.yml"))


def write_hosts(path, hosts, groups=None):
    """An inventory at ``path``: ``hosts`` ``[(host, store, model, port)]`` in groups store_<store> under
    ``terminals``, and the extra ``groups`` ``{group: [host]}``."""
    stores = {}
    for host, store, model, port in hosts:
        group = stores.setdefault(f"store_{store}", {"vars": {"posfleet_store": store, "posfleet_timezone": TIMEZONE},
                                                     "hosts": {}})
        group["hosts"][host] = {"ansible_port": port, "posfleet_demo_model": model, "posfleet_demo_firmware": FIRMWARE}
    inventory = {"terminals": {"children": stores}}
    for group, members in (groups or {}).items():
        inventory[group] = {"hosts": {host: {} for host in members}}
    with open(path, "w") as handle:
        json.dump(inventory, handle, indent=1)
    return path


def demo_fleet(inventory, state, log=None):
    """playbooks/demo_fleet.yml with posfleet_demo_state=``state`` (present, absent); its output into ``log``
    (kept when given). A failure ends the benchmark with the output's tail."""
    with open(log or os.devnull, "w+") as out:
        proc = subprocess.run(["ansible-playbook", "-i", inventory, os.path.join(ROOT, "playbooks", "demo_fleet.yml"),
                               "-e", f"posfleet_demo_state={state}"], cwd=ROOT, stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, text=True, check=False)
        out.write(proc.stdout)
    if proc.returncode:
        sys.stderr.write(proc.stdout[-4000:])
        sys.exit(f"demo_fleet.yml {state} exited {proc.returncode}")


def write_report(name, report):
    """The bench's figures as results/bench/<name>.json (the README's tables are copied from them)."""
    out = os.path.join(ROOT, "results", "bench")
    os.makedirs(out, exist_ok=True)
    with open(os.path.join(out, f"{name}.json"), "w") as handle:
        json.dump(report, handle, indent=2)
