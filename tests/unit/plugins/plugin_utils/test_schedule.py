# Copyright (c) posfleet developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The crontab, the systemd timers and the AWX RRULEs rendered from one timetable start at the same instants."""

from __future__ import annotations

import datetime
import os
import re
import shutil
import subprocess

import pytest
import yaml
from dateutil import rrule as dateutil_rrule

from ansible_collections.posfleet.terminals.plugins.plugin_utils import _schedule as sc
from ansible_collections.posfleet.terminals.plugins.plugin_utils import _times

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))))
with open(os.path.join(REPO, "roles", "timetable", "defaults", "main.yml"), encoding="utf-8") as _handle:
    TIERS = yaml.safe_load(_handle)["posfleet_timetable_tiers"]
ZONES = {"Asia/Shanghai": "store_sh01", "Europe/Berlin": ["store_ber01", "store_ber02"]}
ITEMS = sc.entries(TIERS, ZONES)
UTC = datetime.timezone.utc
# Bases just before Berlin's two DST changes of 2026 and an ordinary day.
BASES = [datetime.datetime(2026, 3, 27, 12, 0, tzinfo=UTC), datetime.datetime(2026, 10, 23, 12, 0, tzinfo=UTC),
         datetime.datetime(2026, 11, 21, 21, 0, tzinfo=UTC)]
COUNT = 5


def cron_runs(text, name, after, count):
    """Next runs of the crontab line whose log file names ``name`` (CRON_TZ semantics of cronie)."""
    current_tz = "UTC"
    for line in text.splitlines():
        if line.startswith("CRON_TZ="):
            current_tz = line.split("=", 1)[1]
        elif line and not line.startswith("#") and name + ".log" in line:
            minute, hour, dom, month, dow = line.split()[:5]
            assert (dom, month, dow) == ("*", "*", "*")
            tz = _times.zone(current_tz)
            runs, day = [], after.astimezone(tz).date() - datetime.timedelta(days=1)
            while len(runs) < count:
                when = _times.at_local(day, datetime.time(int(hour), int(minute)), tz)
                if when > after:
                    runs.append(when)
                day += datetime.timedelta(days=1)
            return runs
    raise AssertionError(f"no crontab line for {name}")


def timer_calendar(files, name):
    match = re.search(r"^OnCalendar=(.+)$", files[name + ".timer"], re.M)
    return match.group(1)


def systemd_runs_parsed(expr, after, count):
    match = re.fullmatch(r"\*-\*-\* (\d\d):(\d\d):00 (\S+)", expr)
    tz = _times.zone(match.group(3))
    runs, day = [], after.astimezone(tz).date() - datetime.timedelta(days=1)
    while len(runs) < count:
        when = _times.at_local(day, datetime.time(int(match.group(1)), int(match.group(2))), tz)
        if when > after:
            runs.append(when)
        day += datetime.timedelta(days=1)
    return runs


def systemd_runs_analyze(expr, after, count):
    out = subprocess.run(["systemd-analyze", "calendar", f"--iterations={count}",
                          f"--base-time={after:%Y-%m-%d %H:%M:%S} UTC", expr],
                         check=True, capture_output=True, text=True, env=dict(os.environ, TZ="UTC")).stdout
    stamps = re.findall(r"(?:Next elapse|Iter\. #\d+): \w{3} (\d{4}-\d\d-\d\d \d\d:\d\d:\d\d) UTC", out)
    return [datetime.datetime.strptime(s, "%Y-%m-%d %H:%M:%S").replace(tzinfo=UTC) for s in stamps]


def awx_runs(text, name, after, count):
    doc = yaml.safe_load(text)
    schedules = [t["awx.awx.schedule"] for t in doc[0]["tasks"] if "awx.awx.schedule" in t]
    (schedule,) = [s for s in schedules if s["name"] == name]
    rule = dateutil_rrule.rrulestr(schedule["rrule"].replace(" RRULE:", "\nRRULE:"))
    runs, when = [], after
    while len(runs) < count:
        when = rule.after(when)
        runs.append(when)
    return runs


@pytest.mark.parametrize("entry", ITEMS, ids=[e["name"] for e in ITEMS])
@pytest.mark.parametrize("base", BASES, ids=["march-dst", "october-dst", "november"])
def test_three_exports_give_the_same_next_runs(entry, base):
    expected = [t.astimezone(UTC) for t in sc.next_runs(entry, base, COUNT)]
    cron = sc.crontab(ITEMS, "/opt/posfleet", "inventories/prod/hosts.yml")
    units = sc.systemd(ITEMS, "/opt/posfleet", "inventories/prod/hosts.yml")
    awx = sc.awx(ITEMS)
    assert [t.astimezone(UTC) for t in cron_runs(cron, entry["name"], base, COUNT)] == expected
    expr = timer_calendar(units, entry["name"])
    assert [t.astimezone(UTC) for t in systemd_runs_parsed(expr, base, COUNT)] == expected
    if shutil.which("systemd-analyze"):
        assert systemd_runs_analyze(expr, base, COUNT) == expected
    assert [t.astimezone(UTC) for t in awx_runs(awx, entry["name"], base, COUNT)] == expected


def test_berlin_jobs_keep_local_time_across_dst():
    (entry,) = [e for e in ITEMS if e["tier"] == "daily" and e["timezone"] == "Europe/Berlin"]
    runs = [t.astimezone(UTC).strftime("%m-%d %H:%M") for t in sc.next_runs(entry, BASES[0], 3)]
    assert runs == ["03-28 02:00", "03-29 01:00", "03-30 01:00"]


def test_one_entry_per_tier_and_zone_with_limits():
    assert len(ITEMS) == len(TIERS) * len(ZONES)
    berlin = [e for e in ITEMS if e["timezone"] == "Europe/Berlin"]
    assert {e["limit"] for e in berlin} == {"store_ber01,store_ber02"}
    assert [e["tier"] for e in berlin] == ["daily", "weekly", "monthly", "quarterly", "annual"]


def test_awx_playbook_shape():
    doc = yaml.safe_load(sc.awx(ITEMS, scm_url="https://git.example/posfleet.git"))
    modules = [next(k for k in t if k.startswith("awx.awx.")) for t in doc[0]["tasks"]]
    assert modules[:3] == ["awx.awx.project", "awx.awx.inventory", "awx.awx.inventory_source"]
    assert modules.count("awx.awx.job_template") == len(TIERS)
    assert modules.count("awx.awx.schedule") == len(ITEMS)
    templates = [t["awx.awx.job_template"] for t in doc[0]["tasks"] if "awx.awx.job_template" in t]
    assert {t["playbook"] for t in templates} == {"playbooks/maintain.yml"}
    assert [t["extra_vars"]["posfleet_timetable_only"] for t in templates] == [[tier] for tier in TIERS]
    schedule = [t["awx.awx.schedule"] for t in doc[0]["tasks"] if "awx.awx.schedule" in t][0]
    assert schedule["rrule"].startswith("DTSTART;TZID=")


def test_systemd_units_pair_up():
    units = sc.systemd(ITEMS, "/opt/posfleet", "inventories/prod/hosts.yml")
    for entry in ITEMS:
        assert f"Unit={entry['name']}.service" in units[entry["name"] + ".timer"]
        assert "--limit" in units[entry["name"] + ".service"]
        assert "Persistent=true" in units[entry["name"] + ".timer"]


def test_bad_zones():
    with pytest.raises(_times.TimetableError, match="no store time zones"):
        sc.entries(TIERS, {})
    with pytest.raises(_times.TimetableError, match="unknown time zone"):
        sc.entries(TIERS, {"Nowhere/City": "x"})
