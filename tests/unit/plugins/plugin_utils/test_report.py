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


HEALTHY = {"checks": [check("printer", "pass")], "healthy": True}
HELD = {"enabled": True, "since": 1796000000.5, "message": "m", "expires": 1796000900.5, "holder": "run-7",
        "stale": False, "source": "daemon"}
STALE = dict(HELD, holder=None, stale=True)
RELEASED = {"changed": True, "out_of_service_seconds": 4260.2}


@pytest.mark.parametrize(
    "maintenance, release, status, cell",
    [
        ({"enabled": False, "stale": False}, None, "healthy", "-"),
        (HELD, None, "attention", "on"),  # a run holds it: worth a look, not a fault
        (STALE, None, "unhealthy", "STALE"),  # refusing payments and no run will end it
        (dict(HELD, stale=True), None, "unhealthy", "STALE"),  # its lease ran out and it is still on
        (STALE, RELEASED, "unhealthy", "STALE, released"),
        ({"enabled": False, "stale": True}, None, "healthy", "-"),  # serving: nothing is stale
    ],
)
def test_maintenance_in_the_host_record_and_the_reports(maintenance, release, status, cell):
    record = host_report("a", "r", dict(FACTS, maintenance=maintenance), HEALTHY, maintenance_release=release)
    assert record["status"] == status
    assert record["maintenance"]["stale"] is (status == "unhealthy")
    fleet = fleet_report([record], "r", ["a"])
    lines = fleet_summary(fleet).splitlines()
    header = lines[1].split()
    assert header[5] == "MAINT"
    assert lines[2][lines[1].index("MAINT"):].split("  ")[0].strip() == cell
    page = fleet_html(fleet)
    assert "<th>maintenance</th>" in page
    if cell.startswith("STALE"):
        assert record["problems"][0]["name"] == "maintenance" and record["problems"][0]["status"] == "fail"
        assert "a: maintenance fail (fail): refusing payments: in maintenance mode since 2026-11-30" in "\n".join(lines)
        assert cell.lower() + "</span>" in page
    assert record["changed"] == (["maintenance: returned to service from stale maintenance mode"] if release else [])


def test_stale_maintenance_names_the_fix_or_what_the_run_did():
    record = host_report("a", "r", dict(FACTS, maintenance=STALE), HEALTHY)
    reason = record["problems"][0]["reason"]
    assert "no holder, lease ended 2026-11-30T" in reason and "posfleet_daily_release_stale_maintenance" in reason
    released = host_report("a", "r", dict(FACTS, maintenance=STALE), HEALTHY, maintenance_release=RELEASED)
    assert released["problems"][0]["reason"].endswith("returned to service by this run after 4260.2 s out of service")
    assert released["maintenance"]["out_of_service_seconds"] == 4260.2


def test_stale_maintenance_with_a_lease_still_running_says_until():
    facts = dict(FACTS, maintenance=dict(STALE, expires=4102444800.0))  # 2100-01-01: held by nobody all the same
    reason = host_report("a", "r", facts, HEALTHY)["problems"][0]["reason"]
    assert "(no holder, lease until 2100-01-01T00:00:00Z)" in reason


def test_maintenance_with_times_that_are_not_times_still_reports():
    facts = dict(FACTS, maintenance=dict(STALE, since=float("nan"), expires=float("-inf")))
    record = host_report("a", "r", facts, HEALTHY)
    assert record["status"] == "unhealthy"
    assert "in maintenance mode since ? with no run holding it" in record["problems"][0]["reason"]
    assert "STALE" in fleet_summary(fleet_report([record], "r", ["a"]))


def test_the_recovery_point_is_in_the_record_and_the_fleet_summary():
    from ansible_collections.posfleet.terminals.plugins.plugin_utils import _report

    backed = _report.host_report('sh01-t100-01', 'r1', facts={
        'recovery_point': {'last_backup': '2026-11-20T02:10:00Z', 'transactions': 12}})
    never = _report.host_report('sh01-t100-02', 'r1', facts={
        'recovery_point': {'last_backup': None, 'transactions': 40}})
    unknown = _report.host_report('sh01-t100-03', 'r1', facts={})
    assert backed['recovery_point'] == {'last_backup': '2026-11-20T02:10:00Z', 'transactions': 12}
    assert _report.recovery_cell(backed) == '12 since 2026-11-20 02:10'
    assert _report.recovery_cell(never) == '40 (never backed up)' and _report.recovery_cell(unknown) == '-'
    text = _report.fleet_summary(_report.fleet_report([backed, never, unknown], run_id='r1'))
    assert 'NOT BACKED UP' in text and '12 since 2026-11-20 02:10' in text and '40 (never backed up)' in text
    assert '12 since 2026-11-20 02:10' in _report.fleet_html(_report.fleet_report([backed], run_id='r1'))
