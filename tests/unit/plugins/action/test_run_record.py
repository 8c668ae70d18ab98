"""The run_record action: naming the run, a host record and the fleet files, on the controller only."""

from __future__ import annotations

import json

import pytest
from ansible.parsing.dataloader import DataLoader
from ansible.playbook.play_context import PlayContext
from ansible.playbook.task import Task
from ansible.plugins.loader import connection_loader, init_plugin_loader
from ansible.template import Templar

from ansible_collections.posfleet.terminals.plugins.action.run_record import ActionModule


@pytest.fixture(scope="module", autouse=True)
def _plugins():
    init_plugin_loader()


def action(args, check_mode=False):
    task = Task.load({"action": "posfleet.terminals.run_record", "args": args})
    task.check_mode = check_mode
    loader = DataLoader()
    context = PlayContext()
    connection = connection_loader.get("local", context)  # never used: the action makes no connection
    return ActionModule(task, connection, context, loader, Templar(loader=loader), None)


def test_run_names_the_run_once_and_keeps_given_values(tmp_path, monkeypatch):
    monkeypatch.setenv("POSFLEET_RESULTS_DIR", str(tmp_path))
    facts = action({"scope": "run"}).run(task_vars={})["ansible_facts"]
    assert facts["posfleet_results_dir"] == str(tmp_path) and facts["posfleet_run_id"].endswith("Z")
    given = action({"scope": "run"}).run(task_vars={"posfleet_run_id": "AWX-7"})["ansible_facts"]
    assert given["posfleet_run_id"] == "AWX-7"


@pytest.mark.parametrize("concern, subdir, files", [
    ("health", "daily", ["fleet.json", "hosts", "report.html", "summary.txt"]),
    ("maintenance", "maintain", ["fleet.json", "hosts", "summary.txt"]),
    ("audit", "audit", ["fleet.json", "hosts", "junit.xml", "summary.txt"]),
])
def test_host_record_then_fleet_files(tmp_path, concern, subdir, files):
    task_vars = {"inventory_hostname": "t1", "posfleet_results_dir": str(tmp_path), "posfleet_run_id": "R1",
                 "ansible_play_hosts_all": ["t1", "t2"]}
    host = action({"scope": "host", "concern": concern, "error": "boom"}).run(task_vars=task_vars)
    assert not host.get("failed") and host["changed"] is False
    record = json.loads((tmp_path / subdir / "hosts" / "t1.json").read_text())
    assert record["run_id"] == "R1" and record["error"] == "boom" and record["status"] == "error"
    fleet = action({"scope": "fleet", "concern": concern}).run(task_vars=task_vars)
    assert fleet["unreachable"] == ["t2"] and fleet["terminals"] == 2 and "t2" in fleet["msg"]
    assert sorted(p.name for p in (tmp_path / subdir).iterdir()) == files


def test_check_mode_writes_nothing(tmp_path):
    task_vars = {"inventory_hostname": "t1", "posfleet_results_dir": str(tmp_path), "posfleet_run_id": "R1"}
    result = action({"scope": "host", "concern": "health"}, check_mode=True).run(task_vars=task_vars)
    assert result["record"]["host"] == "t1" and not tmp_path.joinpath("daily").exists()


def test_without_a_run_id_says_what_to_do(tmp_path):
    result = action({"scope": "host", "concern": "health"}).run(
        task_vars={"inventory_hostname": "t1", "posfleet_results_dir": str(tmp_path)})
    assert result["failed"] and "t1: run record: no run id. Fix: run posfleet.terminals.run_record" in result["msg"]
