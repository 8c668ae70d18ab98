# Copyright (c) posfleet developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Maintenance windows, holidays, notice, payment gate and ledger catch-up, with fixed clocks."""

from __future__ import annotations

import datetime
import os

import pytest
import yaml

from ansible_collections.posfleet.terminals.plugins.plugin_utils import (
    _calendar,
    _notice_due,
    _plan,
    _step_roles,
    _tier_ledger,
    _tiers,
    _times,
)

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))))
with open(os.path.join(REPO, "roles", "timetable", "defaults", "main.yml"), encoding="utf-8") as _handle:
    DEFAULT_TIERS = yaml.safe_load(_handle)["posfleet_timetable_tiers"]

SHANGHAI = {"timezone": "Asia/Shanghai", "country": "CN"}
BERLIN = {"timezone": "Europe/Berlin", "country": "DE", "subdiv": "BE"}
ALL_DONE = "2026-01-01T00:00:00Z"


def ledger(**last):
    return {"tiers": {t: {"last_success": v} for t, v in last.items()}}


def done_except(*due, when="2026-12-31T00:00:00Z"):
    """A ledger where every default tier succeeded at ``when`` except the ones named."""
    return ledger(**{t: when for t in DEFAULT_TIERS if t not in due})


def run(now, calendar=None, led=None, **kw):
    calendar = calendar or SHANGHAI
    kw.setdefault("resolve", _step_roles.resolve_role)
    return _plan.plan("t1", DEFAULT_TIERS, calendar=calendar, ledger=led, now=now, **kw)


# ---------------------------------------------------------------- calendar


@pytest.mark.parametrize("day, holiday", [
    ("2026-02-17", "Chinese New Year (Spring Festival)"),   # Spring Festival
    ("2026-02-15", "holiday break"),                        # the Sunday that opens the Spring Festival break
    ("2026-10-01", "National Day"),
    ("2026-10-04", "holiday break"),                        # the Sunday inside the National Day week
    ("2026-10-07", "Day off (substituted from 10/10/2026)"),
])
def test_cn_holidays(day, holiday):
    info = _calendar.day_info(datetime.date.fromisoformat(day), _calendar.store_calendar(SHANGHAI))
    assert holiday in info["holiday"]


@pytest.mark.parametrize("day", ["2026-09-20", "2026-02-14", "2026-10-10"])
def test_cn_adjusted_working_weekend_day_is_not_a_holiday(day):
    info = _calendar.day_info(datetime.date.fromisoformat(day), _calendar.store_calendar(SHANGHAI))
    assert info["holiday"] is None
    assert info["working_day"] and info["adjusted_working_day"]


def test_plain_weekend_is_not_a_holiday():
    info = _calendar.day_info(datetime.date(2026, 11, 22), _calendar.store_calendar(SHANGHAI))
    assert info["holiday"] is None and not info["working_day"] and not info["adjusted_working_day"]


def test_adjusted_working_sunday_window_is_open():
    # Sunday 2026-09-20 03:10 in Shanghai is a working day: the daily tier runs.
    result = run("2026-09-20T03:10:00+08:00", led=done_except("daily"))
    assert result["run"] == ["daily"] and result["deferred"] == []
    assert result["day"]["adjusted_working_day"] is True


def test_spring_festival_defers_to_first_window_after_the_break():
    result = run("2026-02-18T03:10:00+08:00", led=done_except("daily"))
    assert result["run"] == [] and result["status"] == "deferred"
    (item,) = result["deferred"]
    assert item["codes"] == ["holiday"] and "Spring Festival" in item["reason"]
    # Break is 15-23 February; the 24th (Tuesday) is the first working day.
    assert item["next_window_start"] == "2026-02-23T18:00:00Z"
    assert item["next_window_start_local"] == "2026-02-24T02:00:00+08:00"


def test_national_day_defers_monthly_to_october_8():
    result = run("2026-10-01T03:10:00+08:00", led=done_except("daily", "monthly"), journal={"unsettled_count": 0})
    assert [d["tier"] for d in result["deferred"]] == ["daily", "monthly"]
    assert all(d["next_window_start_local"] == "2026-10-08T02:00:00+08:00" for d in result["deferred"])


def test_outside_window():
    result = run("2026-11-24T10:00:00+08:00", led=done_except("daily"))
    (item,) = result["deferred"]
    assert item["codes"] == ["outside_window"]
    assert item["next_window_start_local"] == "2026-11-25T02:00:00+08:00"


def test_store_blackout():
    cal = dict(SHANGHAI, blackouts=[{"from": "2026-11-10", "to": "2026-11-11", "reason": "Double 11 promotion"}])
    result = run("2026-11-11T03:00:00+08:00", calendar=cal, led=done_except("daily"))
    assert result["deferred"][0]["codes"] == ["blackout"]
    assert "Double 11" in result["deferred"][0]["reason"]
    assert result["deferred"][0]["next_window_start_local"] == "2026-11-12T02:00:00+08:00"


# ---------------------------------------------------------------- DST


def test_berlin_window_on_spring_forward_day():
    cal = _calendar.store_calendar(BERLIN)
    start, end = _calendar.window_of(datetime.date(2026, 3, 29), cal)
    # 02:00 does not exist that night: the window opens at 03:00 CEST and is two hours long.
    assert _times.iso(start) == "2026-03-29T01:00:00Z" and start.isoformat() == "2026-03-29T03:00:00+02:00"
    assert _times.iso(end) == "2026-03-29T03:00:00Z"


def test_berlin_window_on_fall_back_day():
    cal = _calendar.store_calendar(BERLIN)
    start, end = _calendar.window_of(datetime.date(2026, 10, 25), cal)
    assert _times.iso(start) == "2026-10-25T00:00:00Z"   # 02:00 CEST, the first 02:00
    assert _times.iso(end) == "2026-10-25T04:00:00Z"     # 05:00 CET: four hours that night


@pytest.mark.parametrize("now, open_", [
    ("2026-03-28T01:30:00Z", True),    # 02:30 CET, Saturday before the change
    ("2026-03-29T00:30:00Z", False),   # 01:30 CET on the change night, before 02:00 (which is skipped)
    ("2026-03-29T01:30:00Z", True),    # 03:30 CEST
    ("2026-03-30T00:30:00Z", True),    # 02:30 CEST, after the change: same wall time, one hour earlier UTC
    ("2026-03-30T03:30:00Z", False),   # 05:30 CEST
])
def test_berlin_window_across_dst(now, open_):
    result = run(now, calendar=BERLIN, led=done_except("daily"))
    assert result["window"]["open"] is open_
    assert result["run"] == (["daily"] if open_ else [])


def test_berlin_next_window_across_spring_forward():
    result = run("2026-03-28T05:00:00Z", calendar=BERLIN, led=done_except("daily"))
    assert result["deferred"][0]["next_window_start"] == "2026-03-29T01:00:00Z"


def test_good_friday_in_berlin():
    result = run("2026-04-03T01:30:00Z", calendar=BERLIN, led=done_except("daily"))
    assert "Good Friday" in result["deferred"][0]["reason"]
    # Easter weekend and Easter Monday are the break; Tuesday 7 April 02:00 CEST.
    assert result["deferred"][0]["next_window_start"] == "2026-04-07T00:00:00Z"


# ---------------------------------------------------------------- notice and payment gate

WINDOW_TUE = "2026-11-24T02:00:00+08:00"   # Tuesday: weekly cycle starts
NOW_TUE = "2026-11-24T03:15:00+08:00"


def with_notice(led, sent_at, window=WINDOW_TUE):
    led = dict(led)
    led["notices"] = [{"window_start": window, "sent_at": sent_at, "tiers": ["weekly"]}]
    return led


def test_weekly_without_notice_is_deferred_daily_runs():
    result = run(NOW_TUE, led=done_except("daily", "weekly"), journal={"unsettled_count": 0})
    assert result["run"] == ["daily"] and result["status"] == "partial"
    (item,) = result["deferred"]
    assert item["tier"] == "weekly" and item["codes"] == ["notice"]
    # A notice sent now gives the merchant 24 h: the window of Wednesday is too soon, Thursday's is the next.
    assert item["next_window_start_local"] == "2026-11-26T02:00:00+08:00"


@pytest.mark.parametrize("sent_at, ok", [
    ("2026-11-23T02:00:00+08:00", True),    # exactly 24 h before the window
    ("2026-11-22T12:00:00Z", True),
    ("2026-11-23T02:00:01+08:00", False),   # one second short
    ("2026-11-23T18:00:00Z", False),
])
def test_notice_lead_time(sent_at, ok):
    led = with_notice(done_except("daily", "weekly"), sent_at)
    result = run(NOW_TUE, led=led, journal={"unsettled_count": 0})
    assert ("weekly" in result["run"]) is ok
    if not ok:
        assert "less than 24 h" in result["deferred"][0]["reason"]


def test_notice_lead_time_is_configurable():
    led = with_notice(done_except("daily", "weekly"), "2026-11-23T20:00:00+08:00")
    assert "weekly" in run(NOW_TUE, led=led, journal={"unsettled_count": 0}, notice_lead_hours=6)["run"]


def test_unsettled_batch_defers_interrupting_tiers_only():
    led = with_notice(done_except("daily", "weekly"), "2026-11-22T00:00:00Z")
    journal = {"unsettled_count": 12, "unsettled_batches": 1, "open_batch": {"batch_id": "B20261123-0001"}}
    result = run(NOW_TUE, led=led, journal=journal)
    assert result["run"] == ["daily"]
    assert result["deferred"][0]["codes"] == ["unsettled"]
    assert "B20261123-0001" in result["deferred"][0]["reason"]
    assert result["deferred"][0]["next_window_start_local"] == "2026-11-25T02:00:00+08:00"


@pytest.mark.parametrize("journal", [
    {},  # facts gathered, journal subset missing
    {"unsettled_count": None, "source": "daemon"},  # posd closed the journal (backup, restore)
    {"unsettled_count": "unknown"},
    {"unsettled_count": -1},
    {"unsettled_count": True},
    "not a summary",
])
def test_unknown_batch_defers_interrupting_tiers(journal):
    led = with_notice(done_except("daily", "weekly"), "2026-11-22T00:00:00Z")
    result = run(NOW_TUE, led=led, journal=journal)
    assert result["run"] == ["daily"]
    assert [d["tier"] for d in result["deferred"]] == ["weekly"]
    assert result["deferred"][0]["codes"] == ["unsettled"]
    assert "nothing is known about the terminal's batch" in result["deferred"][0]["reason"]


def test_first_decision_before_the_terminal_is_read_leaves_the_gate_to_the_second():
    led = with_notice(done_except("daily", "weekly"), "2026-11-22T00:00:00Z")
    assert run(NOW_TUE, led=led)["run"] == ["daily", "weekly"]  # journal None: not read yet


@pytest.mark.parametrize("journal, reason", [
    ({"unsettled_count": 0}, None),
    ({"unsettled_count": "0"}, None),
    ({"unsettled_count": 2}, "2 approved transaction(s)"),
    ({"unsettled_count": None}, "nothing is known"),
    (None, "nothing is known"),
])
def test_settlement_reason(journal, reason):
    why = _plan.settlement_reason(journal)
    assert (why is None) if reason is None else (reason in why)


def test_settlement_gate_can_be_off_per_store():
    led = with_notice(done_except("daily", "weekly"), "2026-11-22T00:00:00Z")
    result = run(NOW_TUE, calendar=dict(SHANGHAI, settlement_gate=False), led=led, journal={"unsettled_count": 3})
    assert result["run"] == ["daily", "weekly"]
    assert result["interrupts_trading"] is True


def test_emergency_override_runs_and_records():
    result = run("2026-10-02T11:00:00+08:00", led=done_except("weekly"), journal={"unsettled_count": 4},
                 override_reason="acquirer key compromise, change ticket CHG-1234")
    assert result["run"] == ["weekly"] and result["deferred"] == []
    assert result["override"]["reason"].startswith("acquirer key compromise")
    assert any("National Day" in b for b in result["override"]["bypassed"])
    assert any("unsettled" in b for b in result["override"]["bypassed"])
    new = _tier_ledger.record({}, "t1", result, now="2026-10-02T03:05:00Z")
    assert new["overrides"][0]["tiers"] == ["weekly"]
    assert new["overrides"][0]["reason"].startswith("acquirer key compromise")


def test_blank_override_reason_is_no_override():
    result = run("2026-10-02T11:00:00+08:00", led=done_except("weekly"), override_reason="  ")
    assert result["run"] == [] and result["override"] is None


# ---------------------------------------------------------------- ledger and catch-up


def test_new_terminal_everything_due_annual_covers_the_rest():
    led = with_notice({}, "2026-11-20T00:00:00Z")
    result = run(NOW_TUE, led=led, journal={"unsettled_count": 0})
    assert [d["tier"] for d in result["due"]] == ["daily", "weekly", "monthly", "quarterly", "annual"]
    assert result["run"] == ["annual"]
    assert result["covered"] == {"daily": "annual", "weekly": "annual", "monthly": "annual", "quarterly": "annual"}
    roles = [s["role"].split(".")[-1] for s in result["steps"]]
    assert roles[:2] == ["facts", "selftest"]
    # The daily self-test (report only) and the weekly connection check (fails on critical) both run.
    assert [s["options"]["posfleet_selftest_fail_on"] for s in result["steps"] if s["role"].endswith("selftest")] \
        == ["never", "critical"]
    assert roles.count("facts") == 1               # identical steps run once
    missing = {s["role"].split(".")[-1] for s in result["steps"] if not s["available"]}
    assert "diagnostics" in missing
    assert not {"firmware", "software", "backup"} & missing  # roles/firmware, roles/software and roles/backup exist
    assert all("is not installed yet" in n for n in result["skipped_steps"])
    # A role that exists without the tasks file the step names is skipped too, with the file in the notice.
    assert any("tasks file keys of role posfleet.terminals." in n for n in result["skipped_steps"])
    # Only the daily and weekly tiers have every step's role: the others are partial, not a success, and stay due.
    new = _tier_ledger.record({}, "t1", result, results={"annual": "ok"}, now="2026-11-23T19:15:00Z")
    assert {t: e["last_result"] for t, e in new["tiers"].items()} == {
        "daily": "ok", "weekly": "ok", "monthly": "partial", "quarterly": "partial", "annual": "partial"}
    assert {t for t, e in new["tiers"].items() if "last_success" in e} == {"daily", "weekly"}
    assert any("diagnostics is not installed yet" in n for n in new["tiers"]["monthly"]["missing_steps"])
    assert new["tiers"]["weekly"]["covered_by"] == "annual"
    again = run("2026-11-24T03:40:00+08:00", led=new, journal={"unsettled_count": 0})
    assert [d["tier"] for d in again["due"]] == ["monthly", "quarterly", "annual"]  # the weekly tier was done


def test_every_step_ran_and_passed_is_a_success():
    led = with_notice({}, "2026-11-20T00:00:00Z")
    result = run(NOW_TUE, led=led, journal={"unsettled_count": 0}, resolve=lambda role, tasks_from: True)
    everything = [s["id"] for s in result["steps"]]
    outcomes = _tier_ledger.tier_outcomes(result, {}, everything)
    assert {t: o["result"] for t, o in outcomes.items()} == dict.fromkeys(DEFAULT_TIERS, "ok")
    new = _tier_ledger.record({}, "t1", result, results=outcomes, now="2026-11-23T19:15:00Z")
    assert {t: e["last_success"] for t, e in new["tiers"].items()} \
        == dict.fromkeys(DEFAULT_TIERS, "2026-11-23T19:15:00Z")
    assert run("2026-11-24T03:40:00+08:00", led=new, journal={"unsettled_count": 0})["due"] == []


def test_a_step_that_did_not_run_makes_its_tier_partial():
    led = with_notice(done_except("daily", "weekly"), "2026-11-22T00:00:00Z")
    result = run(NOW_TUE, led=led, journal={"unsettled_count": 0}, resolve=lambda role, tasks_from: True)
    skipped = [s for s in result["steps"] if s["tier"] == "weekly" and s["name"] == "data backup"][0]
    ran = [s["id"] for s in result["steps"] if s is not skipped]
    outcomes = _tier_ledger.tier_outcomes(result, {}, ran)
    assert outcomes["daily"] == {"result": "ok", "error": None, "missing": []}
    assert outcomes["weekly"] == {"result": "partial", "error": None,
                                  "missing": ["step data backup of tier weekly did not run"]}
    new = _tier_ledger.record(led, "t1", result, results=outcomes, now="2026-11-23T19:15:00Z")
    assert new["tiers"]["weekly"]["last_result"] == "partial"
    assert "last_success" not in new["tiers"]["weekly"]
    again = run("2026-11-24T03:40:00+08:00", led=new, journal={"unsettled_count": 0},
                resolve=lambda role, tasks_from: True)
    assert [d["tier"] for d in again["due"]] == ["weekly"]
    # A failure outranks missing steps; the tier the failed one covers is not recorded at all.
    failed = _tier_ledger.tier_outcomes(result, {"weekly": "software: apt held"}, ran)
    assert failed["weekly"] == {"result": "failed", "error": "software: apt held", "missing": []}
    # Once every step ran, the partial tier is a success.
    every_step = _tier_ledger.tier_outcomes(again, {}, [s["id"] for s in again["steps"]])
    done = _tier_ledger.record(new, "t1", again, results=every_step, now="2026-11-23T19:40:00Z")
    assert done["tiers"]["weekly"]["last_result"] == "ok" and "missing_steps" not in done["tiers"]["weekly"]


def test_catch_up_after_offline_nights():
    # Weekly last ran two Tuesdays ago; the terminal was off on Tuesday: Wednesday night catches up.
    led = with_notice(ledger(daily="2026-11-23T19:05:00Z", weekly="2026-11-16T19:20:00Z", monthly=ALL_DONE.replace(
        "01-01", "11-01"), quarterly="2026-10-15T19:00:00Z", annual="2026-03-10T20:00:00Z"),
        "2026-11-23T00:00:00Z", window="2026-11-25T02:00:00+08:00")
    result = run("2026-11-25T03:20:00+08:00", led=led, journal={"unsettled_count": 0})
    assert [d["tier"] for d in result["due"]] == ["daily", "weekly"]
    weekly = [d for d in result["due"] if d["tier"] == "weekly"][0]
    assert weekly["cycle_start"] == "2026-11-24" and weekly["overdue_days"] == 1
    assert result["run"] == ["daily", "weekly"]


def test_failed_tier_stays_due_and_is_retried():
    led = done_except("daily", "weekly")
    led["tiers"]["weekly"] = {"last_success": "2026-11-17T19:20:00Z"}
    led = with_notice(led, "2026-11-22T00:00:00Z")
    result = run(NOW_TUE, led=led, journal={"unsettled_count": 0})
    new = _tier_ledger.record(led, "t1", result, results={"daily": "ok", "weekly": "backup: restic failed"},
                              now="2026-11-23T19:15:00Z")
    assert new["tiers"]["weekly"]["last_result"] == "failed"
    assert new["tiers"]["weekly"]["last_success"] == "2026-11-17T19:20:00Z"
    assert new["tiers"]["daily"]["last_success"] == "2026-11-23T19:15:00Z"
    again = run("2026-11-25T03:15:00+08:00", led=with_notice(new, "2026-11-23T00:00:00Z",
                                                             window="2026-11-25T02:00:00+08:00"),
                journal={"unsettled_count": 0})
    assert again["run"] == ["daily", "weekly"]


def test_same_window_second_run_is_idle():
    led = with_notice(done_except("daily", "weekly"), "2026-11-22T00:00:00Z")
    every_role = {"resolve": lambda role, tasks_from: True}
    first = run(NOW_TUE, led=led, journal={"unsettled_count": 0}, **every_role)
    new = _tier_ledger.record(led, "t1", first, now="2026-11-23T19:15:00Z")
    second = run("2026-11-24T03:40:00+08:00", led=new, journal={"unsettled_count": 0}, **every_role)
    assert second["status"] == "idle" and second["run"] == [] and second["due"] == []


def test_deferred_is_recorded_without_success():
    result = run("2026-10-01T03:10:00+08:00", led=done_except("daily"))
    new = _tier_ledger.record(done_except("daily"), "t1", result, now="2026-09-30T19:10:00Z")
    assert "last_success" not in new["tiers"]["daily"]
    assert "National Day" in new["tiers"]["daily"]["last_deferred_reason"]


@pytest.mark.parametrize("tier, day, start", [
    ({"every": "week", "weekday": "tue"}, "2026-11-23", "2026-11-17"),
    ({"every": "week", "weekday": "tue"}, "2026-11-24", "2026-11-24"),
    ({"every": "month", "day": 1}, "2026-10-08", "2026-10-01"),
    ({"every": "month", "day": 15}, "2026-01-03", "2025-12-15"),
    ({"every": "quarter", "month": 1, "day": 15}, "2026-11-24", "2026-10-15"),
    ({"every": "quarter", "month": 2, "day": 1}, "2026-01-20", "2025-11-01"),
    ({"every": "year", "month": 3, "day": 10}, "2026-03-09", "2025-03-10"),
])
def test_cycle_start(tier, day, start):
    norm = _tiers.normalise_tiers({"x": tier})["x"]
    assert _tiers.cycle_start(norm, datetime.date.fromisoformat(day)).isoformat() == start


def test_window_across_midnight_belongs_to_its_start_day():
    cal = dict(SHANGHAI, window_start="23:00", window_end="02:00")
    led = ledger(**dict.fromkeys(DEFAULT_TIERS, "2026-11-22T15:30:00Z"))   # 23:30 on the 22nd
    result = _plan.plan("t1", DEFAULT_TIERS, calendar=cal, ledger=led, now="2026-11-23T01:30:00+08:00")
    assert result["window"]["open"] and result["status"] == "idle"   # still the window of the 22nd


# ---------------------------------------------------------------- notices to send


def test_upcoming_notice_skips_holidays_and_lists_interrupting_tiers():
    led = done_except("daily", "weekly")
    notice = _notice_due.upcoming("t1", DEFAULT_TIERS, calendar=SHANGHAI, ledger=led, now="2026-09-29T20:00:00+08:00")
    # Next window at least 24 h away avoiding the National Day week: 8 October; weekly is due then.
    assert notice["window_start_local"] == "2026-10-08T02:00:00+08:00"
    assert [t["tier"] for t in notice["tiers"]] == ["weekly", "monthly"] or \
        [t["tier"] for t in notice["tiers"]] == ["weekly"]
    assert notice["duration_minutes"] >= 20


def test_no_notice_when_nothing_interrupting_is_due():
    led = done_except("daily")
    assert _notice_due.upcoming("t1", DEFAULT_TIERS, calendar=SHANGHAI, ledger=led,
                                now="2026-11-10T12:00:00+08:00") is None


def test_no_second_notice_while_one_is_pending():
    led = done_except("daily", "weekly")
    led["notices"] = [{"window_start": "2026-10-07T18:00:00Z", "sent_at": "2026-10-03T02:00:00Z",
                       "tiers": ["weekly"]}]
    assert _notice_due.upcoming("t1", DEFAULT_TIERS, calendar=SHANGHAI, ledger=led,
                                now="2026-10-07T10:00:00+08:00") is None
    # Once that window has passed without the tier succeeding, a new notice is due.
    again = _notice_due.upcoming("t1", DEFAULT_TIERS, calendar=SHANGHAI, ledger=led, now="2026-10-08T10:00:00+08:00")
    assert again["window_start_local"] == "2026-10-10T02:00:00+08:00"   # 24 h from now: Saturday's window


def test_holiday_deferral_points_to_the_announced_window():
    # Holiday night with a notice already sent for the first window after the break: that is the next window.
    led = done_except("weekly")
    led["notices"] = [{"window_start": "2026-10-07T18:00:00Z", "sent_at": "2026-10-03T02:00:00Z",
                       "tiers": ["weekly"]}]
    result = run("2026-10-06T03:00:00+08:00", led=led, journal={"unsettled_count": 0})
    (item,) = result["deferred"]
    assert item["codes"] == ["holiday"]                 # the notice is not asked on a night that is not usable
    assert item["next_window_start_local"] == "2026-10-08T02:00:00+08:00"
    # Without the notice, the next usable window is the first one a notice sent now can still announce.
    result = run("2026-10-07T03:00:00+08:00", led=done_except("weekly"), journal={"unsettled_count": 0})
    assert result["deferred"][0]["next_window_start_local"] == "2026-10-09T02:00:00+08:00"


def test_record_notice_replaces_same_window():
    led = _tier_ledger.record_notice({}, "t1", {"window_start": "a", "sent_at": "1"})
    led = _tier_ledger.record_notice(led, "t1", {"window_start": "a", "sent_at": "2"})
    assert led["notices"] == [{"window_start": "a", "sent_at": "2"}]


# ---------------------------------------------------------------- bad input


@pytest.mark.parametrize("kwargs, message", [
    ({"now": "2026-11-24T03:00:00"}, "no UTC offset"),
    ({"now": "tomorrow"}, "not an ISO 8601"),
    ({"calendar": {"timezone": "Mars/Olympus"}}, "unknown time zone"),
    ({"calendar": {"timezone": "UTC", "window_start": "25:00"}}, "not a time of day"),
    ({"calendar": {"timezone": "UTC", "country": "XX"}}, "no calendar for country"),
    ({"only": ["hourly"]}, "unknown tier"),
])
def test_bad_input(kwargs, message):
    kwargs.setdefault("now", "2026-11-24T03:00:00+08:00")
    with pytest.raises(_times.TimetableError, match=message):
        _plan.plan("t1", DEFAULT_TIERS, **kwargs)


def test_bad_timetable():
    with pytest.raises(_times.TimetableError, match="every must be"):
        _tiers.normalise_tiers({"x": {"every": "fortnight"}})
    with pytest.raises(_times.TimetableError, match="includes unknown tier"):
        _tiers.normalise_tiers({"x": {"includes": ["y"]}})
    with pytest.raises(_times.TimetableError, match="needs a role"):
        _tiers.normalise_tiers({"x": {"steps": [{"name": "no role"}]}})


SWITCH_WORDS = [(False, False), ("false", False), ("False", False), ("no", False), ("0", False), (True, True),
                ("true", True), ("yes", True)]


@pytest.mark.parametrize("word, expected", SWITCH_WORDS)
def test_calendar_switches_read_words_from_the_command_line(word, expected):
    # -e posfleet_timetable_settlement_gate=false arrives as the string "false": it must not read as true.
    assert _calendar.store_calendar({"settlement_gate": word})["settlement_gate"] is expected
    assert _calendar.store_calendar({"holiday_breaks": word})["holiday_breaks"] is expected


def test_calendar_switch_refuses_other_words():
    with pytest.raises(_times.TimetableError, match="settlement_gate must be true or false, not 'sometimes'"):
        _calendar.store_calendar({"settlement_gate": "sometimes"})


# ---------------------------------------------------------------- step roles


def test_resolve_role_finds_this_collections_roles_and_tasks_files():
    assert _step_roles.resolve_role("posfleet.terminals.selftest")
    assert _step_roles.resolve_role("posfleet.terminals.pci_baseline", "audit")
    assert not _step_roles.resolve_role("posfleet.terminals.credentials", "keys")     # no such role yet
    assert not _step_roles.resolve_role("posfleet.terminals.selftest", "no_such_tasks_file")
    assert not _step_roles.resolve_role("selftest")                                # not a FQCN


def test_resolve_role_finds_another_installed_collection(tmp_path, monkeypatch):
    tasks = tmp_path / "ansible_collections" / "acme" / "tools" / "roles" / "probe" / "tasks"
    tasks.mkdir(parents=True)
    (tasks / "main.yml").write_text("---\n[]\n", encoding="utf-8")
    monkeypatch.syspath_prepend(str(tmp_path))
    assert _step_roles.resolve_role("acme.tools.probe")
    assert not _step_roles.resolve_role("acme.tools.other")
    assert not _step_roles.resolve_role("acme.missing.probe")
    assert not _step_roles.resolve_role("nobody.nothing.probe")
