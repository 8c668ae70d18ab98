"""schedule.yml -e posfleet_timetable_install=systemd, for real: on this controller systemd is not PID 1, so the
install goes to a root directory (posfleet_timetable_install_root), where systemd-sysusers creates the service
user and ``systemctl --root`` enables the timers offline; systemctl then reads the tree as systemd would."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
INVENTORY = """\
terminals:
  vars: {ansible_connection: local}
  children:
    store_ber01:
      vars: {posfleet_store: ber01, posfleet_timezone: Europe/Berlin, posfleet_timetable_country: DE}
      hosts: {ber01-t1: {}, ber01-t2: {}}
"""


def tool(name):
    found = shutil.which(name, path=str(Path(sys.executable).parent)) or shutil.which(name)
    if found is None:
        pytest.fail(f"{name} is missing: install the Debian package systemd (scripts/lib.sh ensure_system_packages) "
                    "and run the suite in the project's virtualenv")
    return found


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("install")
    (tmp / "hosts.yml").write_text(INVENTORY)
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=str(ROOT / ".cache" / "collections"), ANSIBLE_NOCOLOR="1",
               ANSIBLE_STDOUT_CALLBACK="default")
    argv = [tool("ansible-playbook"), "-i", str(tmp / "hosts.yml"), str(ROOT / "playbooks" / "schedule.yml"),
            "-e", f"posfleet_results_dir={tmp / 'results'}", "-e", f"posfleet_timetable_export_dir={tmp / 'out'}",
            "-e", "posfleet_timetable_install=systemd", "-e", f"posfleet_timetable_install_root={tmp / 'root'}",
            "-e", f"posfleet_timetable_export_ansible_playbook={tool('ansible-playbook')}"]
    runs = [subprocess.run(argv, env=env, capture_output=True, text=True, check=False) for dummy in range(2)]
    for run in runs:
        assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-2000:]
    return tmp, runs


def test_units_user_and_enabled_timers(installed):
    tmp, runs = installed
    root = tmp / "root"
    units = sorted(p.name for p in (root / "etc" / "systemd" / "system").glob("posfleet-*"))
    # 5 tiers and the notify job, a service and a timer each (one zone: each run writes every file twice, once
    # exported, once installed, which takes minutes on a loaded machine).
    assert len(units) == 12 and "posfleet-notify-europe-berlin.timer" in units
    assert "posfleet:x:" in (root / "etc" / "passwd").read_text()
    timers = [u for u in units if u.endswith(".timer")]
    states = subprocess.run([tool("systemctl"), f"--root={root}", "is-enabled", *timers], capture_output=True,
                            text=True, check=True).stdout.split()
    assert states == ["enabled"] * len(timers)
    wants = root / "etc" / "systemd" / "system" / "timers.target.wants" / "posfleet-weekly-europe-berlin.timer"
    assert os.readlink(wants) == "/etc/systemd/system/posfleet-weekly-europe-berlin.timer"
    # The installed units are the exported ones, and they verify.
    exported = tmp / "out" / "systemd"
    assert sorted(p.name for p in exported.iterdir()) == units
    verify = subprocess.run([tool("systemd-analyze"), "verify", "--man=no", *(str(exported / u) for u in units)],
                            capture_output=True, text=True, check=False)
    assert verify.returncode == 0, verify.stderr
    # The second run changed nothing.
    assert "changed=0" in runs[1].stdout.split("PLAY RECAP")[-1]
    assert "changed=0" not in runs[0].stdout.split("PLAY RECAP")[-1].splitlines()[1]
