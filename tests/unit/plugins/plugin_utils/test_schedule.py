# Copyright (c) posfleet developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The schedule exports: systemd timers, the crontab for Debian's cron and the AWX RRULEs rendered from one
timetable start at the same instants, inside the stores' windows across the DST changes, and the notify job
gets every notice out at least the lead time ahead."""

from __future__ import annotations

import datetime
import os
import random
import re
import shutil
import subprocess

import pytest
import yaml
from dateutil import rrule as dateutil_rrule

from ansible_collections.posfleet.terminals.plugins.plugin_utils import (
    _calendar,
    _notice_due,
    _plan,
    _tier_ledger,
    _tiers,
    _times,
)
from ansible_collections.posfleet.terminals.plugins.plugin_utils import _schedule as sc

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
YEARS = (2026, 2027)
# The store calendars of the demo: Berlin with its holidays, Shanghai with China's.
CALENDARS = {"Europe/Berlin": {"timezone": "Europe/Berlin", "country": "DE", "subdiv": "BE"},
             "Asia/Shanghai": {"timezone": "Asia/Shanghai", "country": "CN"}}
SYSTEMD_ANALYZE = shutil.which("systemd-analyze")
NEEDS_SYSTEMD = "systemd-analyze is missing: install the Debian package systemd (scripts/lib.sh ensure_system_packages)"


# ---------------------------------------------------------------- a cron matcher (Debian's cron, no CRON_TZ)

CRON_LINE = re.compile(r"^(\d+) (\d+) \* \* \* (.*)$")
GUARD = re.compile(r'^case "\$\(TZ=(\S+) date \+\\%H:\\%M\)" in ([0-9:|]+)\) (.*);; esac$')


def cron_lines(text, name):
    """``(minute, hour, zone, accepted store-local times)`` of the crontab lines of the job ``name``."""
    found = []
    for line in text.splitlines():
        match = CRON_LINE.match(line)
        if match and f"/{name}.log " in match.group(3):
            guard = GUARD.match(match.group(3))
            assert guard, line
            found.append((int(match.group(1)), int(match.group(2)), guard.group(1), set(guard.group(2).split("|"))))
    assert found, f"no crontab line for {name}"
    return found


def cron_fires(lines, controller, first, last):
    """The instants the lines start a job between the aware ``first`` and ``last``, as Debian's cron does in the
    controller's zone ``controller``: each day at the line's wall time (the first of a repeated hour; a time
    the clock skips runs at the jump), then the line's guard reads the store's wall clock."""
    tz = _times.zone(controller)
    minute_step = datetime.timedelta(minutes=1)
    fires = []
    day = first.astimezone(tz).date() - datetime.timedelta(days=1)
    while day <= last.astimezone(tz).date():
        for minute, hour, store_zone, accepted in lines:
            wall = datetime.datetime.combine(day, datetime.time(hour, minute))
            when = wall.replace(tzinfo=tz, fold=0).astimezone(UTC)
            if when.astimezone(tz).replace(tzinfo=None) != wall:
                # Skipped by the controller's DST change: cron runs it at the jump.
                while (when - minute_step).astimezone(tz).utcoffset() == when.astimezone(tz).utcoffset():
                    when -= minute_step
            if first <= when < last and when.astimezone(_times.zone(store_zone)).strftime("%H:%M") in accepted:
                fires.append(when)
        day += datetime.timedelta(days=1)
    return sorted(fires)


def in_window(when, timezone):
    cal = _calendar.store_calendar(CALENDARS[timezone])
    start, end = _calendar.window_of(_calendar.window_day(when, cal), cal)
    return start <= when < end


DST_RANGES = [(datetime.datetime(2026, 3, 1, tzinfo=UTC), datetime.datetime(2026, 4, 10, tzinfo=UTC)),
              (datetime.datetime(2026, 10, 15, tzinfo=UTC), datetime.datetime(2026, 11, 10, tzinfo=UTC))]
# A tier starting inside Berlin's DST gap (02:00-03:00 on the last Sunday of March).
GAP_TIERS = {"nightly": {"description": "Nightly inside the DST gap", "every": "day", "start": "02:30"}}


@pytest.mark.parametrize("controller", ["UTC", "America/New_York", "Asia/Shanghai"])
@pytest.mark.parametrize("tiers", [TIERS, GAP_TIERS], ids=["default-tiers", "start-in-dst-gap"])
def test_cron_lines_fire_at_the_store_local_start_inside_the_window_across_dst(controller, tiers):
    items = [e for e in sc.entries(tiers, {"Europe/Berlin": "store_ber01"}) if e["kind"] == "tier"]
    text = sc.crontab(items, "/opt/posfleet", "inventories/prod/hosts.yml", controller_timezone=controller,
                      years=YEARS)
    assert "\nCRON_TZ=" not in text
    for entry in items:
        lines = cron_lines(text, entry["name"])
        # Berlin and New York change on different dates, Shanghai never: two lines except for Berlin on Berlin.
        assert len({(h, m) for m, h, _z, _a in lines}) == 2
        for first, last in DST_RANGES:
            fires = cron_fires(lines, controller, first, last)
            expected = [t.astimezone(UTC) for t in sc.next_runs(entry, first, 60) if t < last]
            assert all(in_window(t, "Europe/Berlin") for t in fires)
            if tiers is GAP_TIERS:
                # Accepted at 02:30 and 03:30 (03:30 is the start on the gap night): extra runs at 03:30 on
                # summer nights and at the second 02:30 of the October night, all inside the window (the next
                # test shows the ledger makes them no-ops).
                assert set(expected) <= set(fires)
                continue
            assert fires == expected, entry["name"]
            # One start a night, on every night of the range.
            nights = [_calendar.window_day(t, _calendar.store_calendar(CALENDARS["Europe/Berlin"])) for t in fires]
            assert len(nights) == len(set(nights)) >= (last - first).days - 1


def test_cron_converts_to_the_controller_zone():
    (entry,) = [e for e in ITEMS if e["name"] == "posfleet-weekly-europe-berlin"]
    utc = cron_lines(sc.crontab([entry], "/opt/p", "inv.yml", controller_timezone="UTC", years=YEARS), entry["name"])
    assert sorted((h, m) for m, h, _z, _a in utc) == [(1, 15), (2, 15)]
    ny = cron_lines(sc.crontab([entry], "/opt/p", "inv.yml", controller_timezone="America/New_York", years=YEARS),
                    entry["name"])
    # 03:15 Berlin is 21:15 New York most of the year, 22:15 in the weeks the two zones' DST dates differ.
    assert sorted((h, m) for m, h, _z, _a in ny) == [(21, 15), (22, 15)]
    same = sc.crontab([entry], "/opt/p", "inv.yml", controller_timezone="Europe/Berlin", years=YEARS)
    assert [(h, m) for m, h, _z, _a in cron_lines(same, entry["name"])] == [(3, 15)]


def test_the_window_gate_and_the_ledger_make_the_extra_run_of_a_gap_start_a_no_op():
    """The start inside the DST gap is accepted at 02:30 and 03:30: on summer nights both lines run; the
    second finds the tier done (not due), so the tier runs once a night, inside the window."""
    items = [e for e in sc.entries(GAP_TIERS, {"Europe/Berlin": "store_ber01"}) if e["kind"] == "tier"]
    lines = cron_lines(sc.crontab(items, "/o", "i.yml", controller_timezone="UTC", years=YEARS), items[0]["name"])
    accepted = set().union(*(a for _m, _h, _z, a in lines))
    assert {"02:30", "03:30"} <= accepted
    cal = CALENDARS["Europe/Berlin"]
    ledger, ran = {}, []
    first, last = DST_RANGES[0]
    # Every minute either line's guard lets through, as the wall clock in Berlin allows it (both lines, any night).
    for when in cron_fires([(m, h, z, a | {"03:30"}) for m, h, z, a in lines], "UTC", first, last):
        decision = _plan.plan("ber01-t1", GAP_TIERS, calendar=cal, ledger=ledger, now=when)
        assert not (decision["run"] and not decision["window"]["open"])
        if decision["run"]:
            ran.append(when)
            ledger = _tier_ledger.record(ledger, "ber01-t1", decision, now=when)
    nights = [_calendar.window_day(t, _calendar.store_calendar(cal)) for t in ran]
    assert len(nights) == len(set(nights))
    holidays = {d for d in (first.date() + datetime.timedelta(days=n) for n in range((last - first).days))
                if _calendar.calendar_reasons(d, _calendar.store_calendar(cal))}
    assert len(nights) >= (last - first).days - len(holidays) - 2


def test_the_guard_runs_in_a_real_shell():
    """The guard of a line, with cron's escaped percent undone, runs in /bin/sh and decides by the store's real
    clock now."""
    (entry,) = [e for e in ITEMS if e["name"] == "posfleet-daily-europe-berlin"]
    now_berlin = datetime.datetime.now(_times.zone("Europe/Berlin"))
    entry = dict(entry, hour=now_berlin.hour, minute=now_berlin.minute)
    line = next(x for x in sc.crontab([entry], "/", "i.yml", controller_timezone="UTC", years=YEARS).splitlines()
                if CRON_LINE.match(x))
    command = CRON_LINE.match(line).group(3).replace("\\%", "%")
    command = re.sub(r"\) cd .*;; esac$", ") echo ran;; esac", command)
    out = subprocess.run(["/bin/sh", "-c", command], check=True, capture_output=True, text=True).stdout
    assert out == "ran\n"
    other = command.replace(f"{now_berlin:%H:%M}|", "99:99|")
    assert subprocess.run(["/bin/sh", "-c", re.sub(r"in [0-9:|]+\)", "in 99:99)", other)], check=True,
                          capture_output=True, text=True).stdout == ""


# ---------------------------------------------------------------- the notice job and its lead time

@pytest.mark.parametrize(("window", "lead", "expected"), [("02:00", 24, "20:00"), ("02:00", 48, "20:00"),
                                                          ("23:00", 24, "17:00"), ("02:00", 12.5, "07:30")])
def test_notify_time(window, lead, expected):
    assert f"{sc.notify_time(window, lead):%H:%M}" == expected


def test_every_export_has_the_notify_job_per_zone():
    notify = [e for e in ITEMS if e["kind"] == "notify"]
    assert [(e["timezone"], e["limit"], e["hour"]) for e in notify] == [
        ("Asia/Shanghai", "store_sh01", 20), ("Europe/Berlin", "store_ber01,store_ber02", 20)]
    cron = sc.crontab(ITEMS, "/opt/p", "inv.yml", controller_timezone="UTC", years=YEARS)
    assert "posfleet.terminals.notify --limit store_sh01 " in cron
    units = sc.systemd(ITEMS, "/opt/p", "inv.yml")
    assert "posfleet.terminals.notify" in units["posfleet-notify-europe-berlin.service"]
    assert "OnCalendar=*-*-* 20:00:00 Europe/Berlin" in units["posfleet-notify-europe-berlin.timer"]
    doc = yaml.safe_load(sc.awx(ITEMS))
    templates = {t["awx.awx.job_template"]["name"]: t["awx.awx.job_template"] for t in doc[0]["tasks"]
                 if "awx.awx.job_template" in t}
    assert templates["posfleet notify"]["playbook"] == "playbooks/notify.yml"
    assert templates["posfleet notify"]["job_slice_count"] == 1


def test_stores_of_one_zone_with_other_windows_get_their_own_notify_time():
    hosts = [{"host": "a", "timezone": "Europe/Berlin", "limit": "store_a", "window_start": "02:00"},
             {"host": "b", "timezone": "Europe/Berlin", "limit": "store_b", "window_start": "22:00",
              "notice_lead_hours": 48}]
    items = sc.entries(TIERS, sc.zones_from_hosts(hosts), notices=sc.notices_from_hosts(hosts))
    notify = {e["name"]: (e["hour"], e["limit"]) for e in items if e["kind"] == "notify"}
    assert notify == {"posfleet-notify-europe-berlin-1600": (16, "store_b"),
                      "posfleet-notify-europe-berlin-2000": (20, "store_a")}


def notice_fires(source, timezone, first, last):
    """The starts of the notify job of ``timezone`` between ``first`` and ``last``: its systemd timer (the
    store's zone) or the crontab on a controller in another zone."""
    (entry,) = [e for e in ITEMS if e["kind"] == "notify" and e["timezone"] == timezone]
    if source == "systemd":
        return [t.astimezone(UTC) for t in sc.next_runs(entry, first, 400) if t < last]
    text = sc.crontab([entry], "/opt/p", "inv.yml", controller_timezone=source, years=YEARS)
    return cron_fires(cron_lines(text, entry["name"]), source, first, last)


# The shipped tiers that interrupt trading, as they run: weekly and monthly, each succeeding in its window.
INTERRUPTING = {name: dict(TIERS[name], steps=[]) for name in ("weekly", "monthly")}


@pytest.mark.parametrize("timezone", ["Europe/Berlin", "Asia/Shanghai"])
@pytest.mark.parametrize("source", ["systemd", "UTC", "America/New_York"])
def test_the_notify_job_gets_every_notice_out_in_time_for_a_year(timezone, source):
    """A year of notify runs (each late by up to four hours 59, at random: the slack notify_time promises) and
    maintenance runs at 03:15 every night: no tier that interrupts trading is ever deferred for lack of a
    notice, each runs in the first usable window of its cycle, and every notice went out >= 24 h ahead."""
    first = datetime.datetime(2026, 1, 3, tzinfo=UTC)
    last = datetime.datetime(2027, 1, 3, tzinfo=UTC)
    cal = CALENDARS[timezone]
    store = _calendar.store_calendar(cal)
    jitter = random.Random(9)
    events = [(fire + datetime.timedelta(minutes=jitter.randint(0, 299)), "notify")
              for fire in notice_fires(source, timezone, first, last)]
    events += [(_times.at_local(first.date() + datetime.timedelta(days=n), datetime.time(3, 15), store["tz"]),
                "maintain") for n in range(3, 360)]
    ledger, ran = {"tiers": {name: {"last_success": _times.iso(first)} for name in INTERRUPTING}}, []
    for now, kind in sorted(events):
        if kind == "notify":
            notice = _notice_due.upcoming("t1", INTERRUPTING, calendar=cal, ledger=ledger, now=now,
                                          notice_lead_hours=24)
            if notice:
                ledger = _tier_ledger.record_notice(ledger, "t1", {"window_start": notice["window_start"],
                                                                   "sent_at": _times.iso(now),
                                                                   "tiers": [t["tier"] for t in notice["tiers"]]})
            continue
        decision = _plan.plan("t1", INTERRUPTING, calendar=cal, ledger=ledger, now=now, journal={"unsettled_count": 0})
        assert not [d for d in decision["deferred"] if "notice" in d["codes"]], decision["deferred"]
        ledger = _tier_ledger.record(ledger, "t1", decision, now=now)
        ran += [(tier, _calendar.window_day(now, store)) for tier in decision["run"]]
    for tier, day in ran:
        # The first usable window of the tier's cycle: no usable day between the cycle start and the run.
        begin = _tiers.cycle_start(_tiers.normalise_tiers(INTERRUPTING)[tier], day)
        skipped = [begin + datetime.timedelta(days=n) for n in range((day - begin).days)]
        assert all(_calendar.calendar_reasons(d, store) for d in skipped), (tier, day)
    assert sum(1 for tier, _day in ran if tier == "weekly") >= 48
    assert sum(1 for tier, _day in ran if tier == "monthly") >= 11


# ---------------------------------------------------------------- systemd

def timer_calendar(files, name):
    match = re.search(r"^OnCalendar=(.+)$", files[name + ".timer"], re.M)
    return match.group(1)


def systemd_runs_analyze(expr, after, count):
    assert SYSTEMD_ANALYZE, NEEDS_SYSTEMD
    out = subprocess.run([SYSTEMD_ANALYZE, "calendar", f"--iterations={count}",
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
def test_timers_awx_and_cron_give_the_same_next_runs(entry, base):
    expected = [t.astimezone(UTC) for t in sc.next_runs(entry, base, COUNT)]
    units = sc.systemd(ITEMS, "/opt/posfleet", "inventories/prod/hosts.yml")
    assert systemd_runs_analyze(timer_calendar(units, entry["name"]), base, COUNT) == expected
    assert [t.astimezone(UTC) for t in awx_runs(sc.awx(ITEMS), entry["name"], base, COUNT)] == expected
    cron = sc.crontab(ITEMS, "/opt/posfleet", "inventories/prod/hosts.yml", controller_timezone="America/New_York",
                      years=YEARS)
    fires = cron_fires(cron_lines(cron, entry["name"]), "America/New_York", base + datetime.timedelta(minutes=1),
                       expected[-1] + datetime.timedelta(minutes=1))
    assert fires == expected


def test_berlin_jobs_keep_local_time_across_dst():
    (entry,) = [e for e in ITEMS if e["tier"] == "daily" and e["timezone"] == "Europe/Berlin"]
    runs = [t.astimezone(UTC).strftime("%m-%d %H:%M") for t in sc.next_runs(entry, BASES[0], 3)]
    assert runs == ["03-28 02:00", "03-29 01:00", "03-30 01:00"]


def render_units(tmp_path, **kwargs):
    playbook = shutil.which("ansible-playbook")
    units = sc.systemd(ITEMS, str(tmp_path), "inventories/prod/hosts.yml", playbook, **kwargs)
    paths = []
    for name, content in units.items():
        (tmp_path / name).write_text(content, encoding="utf-8")
        paths.append(str(tmp_path / name))
    return units, paths


def test_systemd_analyze_verify_passes_on_every_unit(tmp_path):
    assert SYSTEMD_ANALYZE, NEEDS_SYSTEMD
    units, paths = render_units(tmp_path, environment={"POSFLEET_DATA_DIR": "/var/lib/posfleet/timetable"},
                                vault_password_file="/etc/posfleet/vault-password")
    assert len(paths) == 2 * len(ITEMS)
    result = subprocess.run([SYSTEMD_ANALYZE, "verify", "--man=no", *paths], capture_output=True, text=True,
                            check=False)
    assert result.returncode == 0 and not result.stderr.strip(), result.stderr
    # verify does fail on a broken unit (the check above is not empty).
    broken = tmp_path / "broken.service"
    broken.write_text(units["posfleet-daily-europe-berlin.service"].replace("ExecStart=/", "ExecStart=relative/"))
    assert subprocess.run([SYSTEMD_ANALYZE, "verify", "--man=no", str(broken)], capture_output=True,
                          check=False).returncode != 0


def test_units_run_as_the_service_user_without_secrets():
    units = sc.systemd(ITEMS, "/opt/posfleet", "inventories/prod/hosts.yml", "/opt/posfleet/venv/bin/ansible-playbook",
                       user="posfleet", environment={"POSFLEET_DATA_DIR": "/var/lib/posfleet/timetable"},
                       vault_password_file="/etc/posfleet/vault-password")
    for entry in ITEMS:
        service = units[entry["name"] + ".service"]
        assert "\nUser=posfleet\n" in service and "\nWorkingDirectory=/opt/posfleet\n" in service
        assert "LoadCredential=vault-password:/etc/posfleet/vault-password" in service
        assert "ANSIBLE_VAULT_PASSWORD_FILE=%d/vault-password" in service
        assert "vault-pass" not in service.split("ExecStart=")[1]
        timer = units[entry["name"] + ".timer"]
        assert f"Unit={entry['name']}.service" in timer and "Persistent=true" in timer
        assert f" {entry['timezone']}\n" in timer
    assert sc.sysusers() == ('# The account the posfleet timers run as: its home holds ~/.ssh (key and known_hosts of '
                             'the fleet).\nu posfleet - "posfleet maintenance timetable" /var/lib/posfleet '
                             '/usr/sbin/nologin\n')


@pytest.mark.parametrize("environment", [{"ANSIBLE_VAULT_PASSWORD": "x"}, {"API_TOKEN": "x"}, {"lower": "x"},
                                         {"POSFLEET_X": "a b"}, {"POSFLEET_X": "$HOME"}])
def test_environment_without_secrets_or_injection(environment):
    with pytest.raises(_times.TimetableError, match="environment variable"):
        sc.systemd(ITEMS, "/opt/posfleet", "inv.yml", environment=environment)


# ---------------------------------------------------------------- AWX

def test_one_entry_per_tier_and_zone_with_limits():
    assert len(ITEMS) == (len(TIERS) + 1) * len(ZONES)
    berlin = [e for e in ITEMS if e["timezone"] == "Europe/Berlin"]
    assert {e["limit"] for e in berlin} == {"store_ber01,store_ber02"}
    assert [e["tier"] for e in berlin] == ["daily", "weekly", "monthly", "quarterly", "annual", "notify"]


def awx_doc(**kwargs):
    return yaml.safe_load(sc.awx(ITEMS, scm_url="https://git.example/posfleet.git", ee_image="ee.example/pf:1",
                                 job_slice_count=3, **kwargs))


def test_awx_playbook_shape():
    doc = awx_doc()
    modules = [next(k for k in t if k.startswith(("awx.awx.", "ansible.builtin."))) for t in doc[0]["tasks"]]
    assert modules[:7] == ["ansible.builtin.assert", "awx.awx.credential", "awx.awx.credential",
                           "awx.awx.execution_environment", "awx.awx.project", "awx.awx.inventory",
                           "awx.awx.inventory_source"]
    assert modules.count("awx.awx.job_template") == len(TIERS) + 1
    assert modules.count("awx.awx.schedule") == len(ITEMS)
    templates = [t["awx.awx.job_template"] for t in doc[0]["tasks"] if "awx.awx.job_template" in t]
    assert [t["extra_vars"]["posfleet_timetable_only"] for t in templates if "extra_vars" in t] == [[t] for t in TIERS]
    for template in templates:
        assert template["credentials"] == ["posfleet terminals machine", "posfleet terminals vault"]
        assert template["execution_environment"] == "posfleet terminals execution environment"
    assert {t["job_slice_count"] for t in templates if t["playbook"] == "playbooks/maintain.yml"} == {
        "{{ posfleet_awx_job_slice_count }}"}
    assert doc[0]["vars"]["posfleet_awx_job_slice_count"] == 3
    assert doc[0]["vars"]["posfleet_awx_ee_image"] == "ee.example/pf:1"
    schedule = [t["awx.awx.schedule"] for t in doc[0]["tasks"] if "awx.awx.schedule" in t][0]
    assert schedule["rrule"].startswith("DTSTART;TZID=")


def test_awx_credentials_come_from_variables_and_are_not_logged():
    doc = awx_doc()
    credentials = [t for t in doc[0]["tasks"] if "awx.awx.credential" in t]
    for task in credentials:
        assert task["no_log"] is True
        for value in task["awx.awx.credential"]["inputs"].values():
            assert value.startswith("{{ ") or value in ("sudo", "root")
    machine = credentials[0]["awx.awx.credential"]
    assert machine["credential_type"] == "Machine" and machine["inputs"]["become_method"] == "sudo"
    assert credentials[1]["awx.awx.credential"]["credential_type"] == "Vault"


@pytest.mark.parametrize(("fleet", "per_slice", "fixed", "expected"), [(3, 200, 0, 1), (401, 200, 0, 3),
                                                                       (5000, 500, 0, 10), (10, 200, 4, 4)])
def test_slice_count(fleet, per_slice, fixed, expected):
    assert sc.slice_count(fleet, per_slice, fixed) == expected


def test_requirements_hold_this_collection_and_its_dependencies():
    with open(os.path.join(REPO, "galaxy.yml"), encoding="utf-8") as handle:
        galaxy = yaml.safe_load(handle)
    listed = yaml.safe_load(sc.requirements())["collections"]
    assert listed[0] == {"name": "posfleet.terminals", "version": galaxy["version"]}
    assert {c["name"] for c in listed[1:]} == set(galaxy["dependencies"])
    assert yaml.safe_load(sc.requirements("https://git.example/posfleet.git"))["collections"][0]["type"] == "git"
    assert yaml.safe_load(sc.requirements("https://x.example/pf-1.tar.gz"))["collections"][0]["type"] == "url"


def test_the_awx_playbook_passes_syntax_check_and_ansible_lint(tmp_path):
    """With the virtualenv's awx.awx collection: ansible-playbook --syntax-check, and ansible-lint's
    production profile."""
    (tmp_path / "posfleet_awx.yml").write_text(sc.awx(ITEMS, scm_url="https://git.example/p.git", ee_image="e:1"))
    (tmp_path / "collections").mkdir()
    (tmp_path / "collections" / "requirements.yml").write_text(sc.requirements())
    env = dict(os.environ, ANSIBLE_NOCOLOR="1")
    subprocess.run(["ansible-playbook", "--syntax-check", "posfleet_awx.yml"], cwd=tmp_path, env=env, check=True,
                   capture_output=True)
    lint = subprocess.run(["ansible-lint", "--offline", "--profile", "production", "posfleet_awx.yml"],
                          cwd=tmp_path, env=env, capture_output=True, text=True, check=False)
    assert lint.returncode == 0, lint.stdout + lint.stderr


def test_bad_zones():
    with pytest.raises(_times.TimetableError, match="no store time zones"):
        sc.entries(TIERS, {})
    with pytest.raises(_times.TimetableError, match="unknown time zone"):
        sc.entries(TIERS, {"Nowhere/City": "x"})
    with pytest.raises(_times.TimetableError, match="the name of the notice job"):
        sc.entries({"notify": {"start": "03:00"}}, {"Europe/Berlin": "x"})
