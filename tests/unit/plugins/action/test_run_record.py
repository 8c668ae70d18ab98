"""The run_record action: naming the run, a host record and the fleet files, on the controller only."""

from __future__ import annotations

import json

import pytest


@pytest.fixture
def action(make_action):
    """A factory of run_record actions."""
    return lambda args, check_mode=False: make_action("run_record", args, check_mode)


def test_run_names_the_run_once_and_keeps_given_values(action, tmp_path, monkeypatch):
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
def test_host_record_then_fleet_files(action, tmp_path, concern, subdir, files):
    task_vars = {"inventory_hostname": "t1", "posfleet_results_dir": str(tmp_path), "posfleet_run_id": "R1",
                 "ansible_play_hosts_all": ["t1", "t2"]}
    host = action({"scope": "host", "concern": concern, "error": "boom"}).run(task_vars=task_vars)
    assert not host.get("failed") and host["changed"] is False
    record = json.loads((tmp_path / subdir / "hosts" / "t1.json").read_text())
    assert record["run_id"] == "R1" and record["error"] == "boom" and record["status"] == "error"
    fleet = action({"scope": "fleet", "concern": concern}).run(task_vars=task_vars)
    assert fleet["unreachable_hosts"] == ["t2"] and fleet["terminals"] == 2 and "t2" in fleet["msg"]
    assert "unreachable" not in fleet  # Ansible would mark the task's host unreachable
    assert sorted(p.name for p in (tmp_path / subdir).iterdir() if p.name != ".posfleet.lock") == files


@pytest.mark.parametrize("concern, subdir", [("health", "daily"), ("maintenance", "maintain"), ("audit", "audit")])
def test_a_run_that_ends_early_never_leaves_the_previous_runs_files(action, tmp_path, concern, subdir):
    """Every terminal of the play unreachable: the play ends before its roll-up. The files must then say that no
    terminal reported to this run, not show the previous run's outcome as this one's."""
    play = {"inventory_hostname": "t1", "posfleet_results_dir": str(tmp_path), "ansible_play_hosts_all": ["t1", "t2"]}
    previous = dict(play, posfleet_run_id="R1")
    for host in ("t1", "t2"):
        action({"scope": "host", "concern": concern}).run(task_vars=dict(previous, inventory_hostname=host))
    action({"scope": "fleet", "concern": concern}).run(task_vars=previous)
    assert "R1" in (tmp_path / subdir / "summary.txt").read_text()

    started = action({"scope": "run", "concern": concern}).run(task_vars=dict(play, posfleet_run_id="R2"))
    assert not started.get("failed") and started["files"]
    fleet = json.loads((tmp_path / subdir / "fleet.json").read_text())
    assert fleet["run_id"] == "R2" and fleet["unreachable"] == ["t1", "t2"] and fleet["terminals"] == 2
    summary = (tmp_path / subdir / "summary.txt").read_text()
    assert "R2" in summary and "R1" not in summary


def test_naming_a_run_in_check_mode_writes_no_fleet_files(action, tmp_path):
    task_vars = {"inventory_hostname": "t1", "posfleet_results_dir": str(tmp_path), "posfleet_run_id": "R1",
                 "ansible_play_hosts_all": ["t1"]}
    result = action({"scope": "run", "concern": "health"}, check_mode=True).run(task_vars=task_vars)
    assert "files" not in result and not tmp_path.joinpath("daily").exists()


def test_check_mode_writes_nothing(action, tmp_path):
    task_vars = {"inventory_hostname": "t1", "posfleet_results_dir": str(tmp_path), "posfleet_run_id": "R1"}
    result = action({"scope": "host", "concern": "health"}, check_mode=True).run(task_vars=task_vars)
    assert result["record"]["host"] == "t1" and not tmp_path.joinpath("daily").exists()


def test_without_a_run_id_says_what_to_do(action, tmp_path):
    result = action({"scope": "host", "concern": "health"}).run(
        task_vars={"inventory_hostname": "t1", "posfleet_results_dir": str(tmp_path)})
    assert result["failed"] and "t1: run record: no run id. Fix: run posfleet.terminals.run_record" in result["msg"]


HOSTILE = "T1\nFORGED  ROW\r\x1b[2J\x00<script>alert(1)</script>{{ 7 * 7 }}"


def test_fleet_files_survive_a_hostile_terminal(action, tmp_path):
    """A terminal whose identity and state hold newlines, control characters, markup, Jinja and NaN: every file
    the action writes stays what it claims to be."""
    import xml.etree.ElementTree as ET

    def refuse(token):
        raise ValueError(f"JSON holds {token}")

    facts = {"identity": {"terminal_id": HOSTILE, "store": HOSTILE, "model": HOSTILE},
             "peripherals": {"printer": {"paper_pct": float("nan")}}, "battery": {"charge_pct": float("-inf")}}
    selftest = {"healthy": False, "checks": [{"name": "printer", "status": "fail", "reason": HOSTILE}]}
    audit = {"terminal_id": HOSTILE, "summary": {"compliant": False, "score": 0.0},
             "controls": [{"id": "poi_inventory", "status": status, "evidence": HOSTILE, "pci_dss": [HOSTILE]}
                          for status in ("pass", "fail", "error")]}
    for host in ("t1", "t2"):
        task_vars = {"inventory_hostname": host, "posfleet_results_dir": str(tmp_path), "posfleet_run_id": "R1",
                     "ansible_play_hosts_all": ["t1", "t2"]}
        action({"scope": "host", "concern": "health", "data": {"facts": facts, "selftest": selftest}}).run(
            task_vars=task_vars)
        action({"scope": "host", "concern": "audit", "data": {"audit": audit}}).run(task_vars=task_vars)
    for concern in ("health", "audit"):
        result = action({"scope": "fleet", "concern": concern}).run(task_vars=task_vars)
        assert not result.get("failed"), result
    daily, evidence = tmp_path / "daily", tmp_path / "audit"
    for path in (daily / "fleet.json", evidence / "fleet.json", daily / "hosts" / "t1.json"):
        json.loads(path.read_text(), parse_constant=refuse)
    summary = (daily / "summary.txt").read_text()
    assert summary.split("\n").index("") == 1 + 1 + 2  # title, header, one row per terminal
    assert not any(c in summary for c in "\r\x1b\x00") and "{{ 7 * 7 }}" in summary
    assert "<script>" not in (daily / "report.html").read_text()
    junit = ET.fromstring((evidence / "junit.xml").read_text())
    assert len(junit.findall(".//testcase")) == 2 * 3
