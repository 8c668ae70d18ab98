"""Fleet report records, roll-up, text and HTML (pure logic)."""

from __future__ import annotations

import pytest

from ansible_collections.posfleet.terminals.plugins.plugin_utils._report import (
    fleet_html,
    fleet_report,
    fleet_summary,
    host_report,
)

FACTS = {
    "identity": {"terminal_id": "SH01-T100-01", "store": "sh01", "model": "t100", "serial": "PF1"},
    "firmware": {"active_slot": "a", "slots": {"a": {"version": "2.3.1"}}, "state": "committed"},
    "peripherals": {"printer": {"paper_pct": 3, "head_wear_km": 12.5}},
    "battery": None,
    "maintenance": {"enabled": False},
    "journal": {"transactions_today": 42},
}


def check(name, status, reason="r"):
    return {"name": name, "status": status, "reason": reason, "critical": name == "printer"}


@pytest.mark.parametrize(
    "checks, healthy, error, expected",
    [
        ([check("printer", "pass")], True, None, "healthy"),
        ([check("printer", "pass"), check("battery_health", "warn")], True, None, "attention"),
        ([check("printer", "fail")], False, None, "unhealthy"),
        ([check("printer", "pass")], True, "daemon: not running", "error"),
        (None, None, None, "unknown"),
    ],
)
def test_host_status(checks, healthy, error, expected):
    selftest = {} if checks is None else {"checks": checks, "healthy": healthy}
    assert host_report("h", "run1", FACTS, selftest, error)["status"] == expected


def test_host_record_keys():
    record = host_report("h", "run1", FACTS, {"checks": [check("printer", "fail", "paper at 3%")], "healthy": False})
    assert record["terminal_id"] == "SH01-T100-01"
    assert record["firmware"] == "2.3.1"
    assert record["consumables"]["paper_pct"] == 3
    assert record["consumables"]["battery_charge_pct"] is None
    assert record["problems"] == [{"name": "printer", "status": "fail", "reason": "paper at 3%", "consumable": True}]


def test_host_record_without_facts():
    record = host_report("h", "run1", None, None, "unreachable")
    assert record["firmware"] is None and record["store"] is None and record["status"] == "error"


def test_fleet_keeps_this_run_and_lists_the_missing():
    reports = [
        host_report("b", "run2", FACTS, {"checks": [], "healthy": True}),
        host_report("a", "run2", FACTS, {"checks": [check("printer", "fail")], "healthy": False}),
        host_report("c", "run1", FACTS, {"checks": [], "healthy": True}),  # an older run
    ]
    fleet = fleet_report(reports, run_id="run2", expected=["a", "b", "c", "d"])
    assert [h["host"] for h in fleet["hosts"]] == ["a", "b"]
    assert fleet["unreachable"] == ["c", "d"]
    assert fleet["counts"] == {"healthy": 1, "unhealthy": 1, "unreachable": 2}
    assert fleet["terminals"] == 4


def test_summary_lists_terminals_and_what_needs_attention():
    reports = [host_report("a", "r", FACTS, {"checks": [check("printer", "fail", "paper at 3%")], "healthy": False})]
    text = fleet_summary(fleet_report(reports, "r", ["a", "z"]))
    lines = text.splitlines()
    assert lines[0] == "Fleet run r: 2 terminals, 1 unhealthy, 1 unreachable"
    assert "UNHEALTHY" in lines[2] and "3%" in lines[2]
    assert lines[3].split()[:2] == ["z", "-"] and "UNREACHABLE" in lines[3]
    assert "  - a: printer fail (consumable): paper at 3%" in lines


def test_summary_of_an_empty_run():
    assert fleet_summary(fleet_report([], "r", [])).startswith("Fleet run r: 0 terminals, no results")


def test_html_escapes_and_draws():
    facts = dict(FACTS, identity=dict(FACTS["identity"], store="<script>alert(1)</script>"))
    reports = [host_report("a", "r", facts, {"checks": [check("printer", "fail", "paper <3%>")], "healthy": False})]
    page = fleet_html(fleet_report(reports, "r", ["a", "b"]), title="Daily & nightly")
    assert "<script>" not in page
    assert "&lt;script&gt;" in page and "paper &lt;3%&gt;" in page
    assert "<title>Daily &amp; nightly</title>" in page
    assert page.count("<tr>") == 3  # header, terminal a, unreachable b
    assert 'aria-label="3%"' in page  # the paper gauge
