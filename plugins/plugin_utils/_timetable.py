# Copyright (c) posfleet developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Controller-side maintenance timetable: tiers as data, windows, holidays, notice, ledger and schedules.

Everything takes "now" as an argument (an aware datetime or an ISO 8601 string), so the logic is tested with
fixed clocks and a playbook can be run "as if" at another date (``posfleet_now``).

Times in the ledger are UTC ISO 8601 (``2026-11-24T19:15:00Z``); windows are in the store's local time.
"""

from __future__ import annotations

import datetime
import functools
import json
import os
import re

from ansible_collections.posfleet.terminals.plugins.plugin_utils import _runrecord

try:
    from zoneinfo import ZoneInfo
except ImportError:  # pragma: no cover - Python < 3.9 is not a supported controller
    ZoneInfo = None

try:
    import holidays as _holidays
except ImportError:  # pragma: no cover - reported when a store needs it
    _holidays = None

UTC = datetime.timezone.utc
PERIODS = ("day", "week", "month", "quarter", "year")
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
TIER_ORDER = ("daily", "weekly", "monthly", "quarterly", "annual")
CALENDAR_HORIZON_DAYS = 400

DEFAULT_CALENDAR = {
    "timezone": "UTC",
    "window_start": "02:00",
    "window_end": "05:00",
    "country": "CN",
    "subdiv": None,
    "holiday_breaks": True,
    "blackouts": [],
    "settlement_gate": True,
}


OK, PARTIAL, FAILED = "ok", "partial", "failed"  # a tier's outcome in a run


class TimetableError(ValueError):
    """A timetable, calendar or ledger that cannot be used as given."""


# ---------------------------------------------------------------- time helpers

def parse_time(value, name="time"):
    """An aware datetime from an aware datetime or an ISO 8601 string (``Z`` accepted)."""
    if isinstance(value, datetime.datetime):
        result = value
    elif isinstance(value, str) and value.strip():
        text = value.strip()
        if text.endswith("Z"):
            text = text[:-1] + "+00:00"
        try:
            result = datetime.datetime.fromisoformat(text)
        except ValueError:
            raise TimetableError(f"{name} {value!r} is not an ISO 8601 date and time") from None
    else:
        raise TimetableError(f"{name} {value!r} is not an ISO 8601 date and time")
    if result.tzinfo is None:
        raise TimetableError(f"{name} {value!r} has no UTC offset (write it as 2026-11-24T03:00:00+08:00 or ...Z)")
    return result


def iso(value):
    """UTC ISO 8601 with a Z, or None."""
    if value is None:
        return None
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def local_iso(value, tz):
    return value.astimezone(tz).isoformat()


def zone(name):
    if ZoneInfo is None:  # pragma: no cover
        raise TimetableError("the zoneinfo module (Python >= 3.9) is needed for store time zones")
    try:
        return ZoneInfo(name)
    except Exception:
        raise TimetableError(f"unknown time zone {name!r} (use an IANA name such as Asia/Shanghai)") from None


def clock(value, name):
    match = re.fullmatch(r"([01]?\d|2[0-3]):([0-5]\d)", str(value).strip())
    if not match:
        raise TimetableError(f"{name} {value!r} is not a time of day HH:MM")
    return datetime.time(int(match.group(1)), int(match.group(2)))


def at_local(day, time_of_day, tz):
    """The instant the wall clock in ``tz`` shows ``time_of_day`` on ``day``.

    A time the DST change skips (02:30 in Berlin on the last Sunday of March) is moved forward by the gap
    (03:30 CEST); a time that happens twice (the October change) is the first one.
    """
    naive = datetime.datetime.combine(day, time_of_day)
    # Round trip through UTC: a nonexistent wall time comes back moved forward by the gap.
    back = naive.replace(tzinfo=tz, fold=0).astimezone(UTC).astimezone(tz)
    # (PEP 495: fold=0 in a gap uses the offset before the change, which lands after the gap.)
    return back


def as_date(value, name="date"):
    if isinstance(value, datetime.date) and not isinstance(value, datetime.datetime):
        return value
    try:
        return datetime.date.fromisoformat(str(value).strip())
    except ValueError:
        raise TimetableError(f"{name} {value!r} is not a date YYYY-MM-DD") from None


# ---------------------------------------------------------------- store calendar

def store_calendar(calendar):
    """Fill in the defaults of a store's calendar and check it."""
    cal = dict(DEFAULT_CALENDAR)
    cal.update({k: v for k, v in (calendar or {}).items() if v is not None})
    cal["tz"] = zone(cal["timezone"])
    cal["start"] = clock(cal["window_start"], "window_start")
    cal["end"] = clock(cal["window_end"], "window_end")
    if cal["start"] == cal["end"]:
        raise TimetableError("window_start and window_end are the same time: the window would be empty")
    blackouts = []
    for entry in cal.get("blackouts") or []:
        if isinstance(entry, dict):
            first = as_date(entry.get("from") or entry.get("date"), "blackout from")
            last = as_date(entry.get("to") or entry.get("from") or entry.get("date"), "blackout to")
            reason = str(entry.get("reason") or "store blackout")
        else:
            first = last = as_date(entry, "blackout date")
            reason = "store blackout"
        if last < first:
            raise TimetableError(f"blackout {first}..{last} ends before it starts")
        blackouts.append((first, last, reason))
    cal["_blackouts"] = blackouts
    return cal


@functools.lru_cache(maxsize=64)
def _holiday_table(country, subdiv, year):
    if not country:
        return None
    if _holidays is None:
        raise TimetableError("the Python package 'holidays' is needed for holiday calendars (pip install holidays)")
    try:
        return _holidays.country_holidays(country, subdiv=subdiv or None, years=[year - 1, year, year + 1])
    except NotImplementedError:
        raise TimetableError(f"the holidays library has no calendar for country {country!r}") from None
    except Exception as exc:
        raise TimetableError(f"holiday calendar {country}/{subdiv}: {exc}") from None


def day_info(day, cal):
    """What kind of day ``day`` is for a store: public holiday, holiday break, adjusted working day."""
    table = _holiday_table(cal.get("country"), cal.get("subdiv"), day.year)
    info = {"date": day.isoformat(), "holiday": None, "working_day": day.weekday() < 5, "adjusted_working_day": False}
    if table is None:
        return info
    name = table.get(day)
    working = table.is_working_day(day)
    info["working_day"] = bool(working)
    info["adjusted_working_day"] = bool(working and day.weekday() >= 5)
    if name:
        info["holiday"] = name
    elif not working and cal.get("holiday_breaks", True):
        # A weekend day joined to a public holiday through days off belongs to the holiday break (the
        # Sunday inside the National Day week, the Saturday after the Dragon Boat Friday).
        for step in (-1, 1):
            probe = day + datetime.timedelta(days=step)
            for _attempt in range(10):
                other = table.get(probe)
                if other:
                    info["holiday"] = f"{other} (holiday break)"
                    break
                if table.is_working_day(probe):
                    break
                probe += datetime.timedelta(days=step)
            if info["holiday"]:
                break
    return info


def calendar_reasons(day, cal):
    """Why the window of ``day`` may not be used (public holiday, store blackout), as (code, text) pairs."""
    reasons = []
    info = day_info(day, cal)
    if info["holiday"]:
        reasons.append(("holiday", f"{day.isoformat()} is a public holiday in {cal.get('country')}: {info['holiday']}"))
    for first, last, why in cal["_blackouts"]:
        if first <= day <= last:
            reasons.append(("blackout", f"{day.isoformat()} is a store blackout day: {why}"))
    return reasons


def window_of(day, cal):
    """The (start, end) of the maintenance window that opens on ``day`` (local), as aware datetimes."""
    tz = cal["tz"]
    start = at_local(day, cal["start"], tz)
    end_day = day + datetime.timedelta(days=1) if cal["end"] <= cal["start"] else day
    end = at_local(end_day, cal["end"], tz)
    return start, end


def window_day(when, cal):
    """The local date whose window ``when`` belongs to (the previous day past midnight of a window that
    crosses midnight)."""
    local = when.astimezone(cal["tz"])
    if cal["end"] <= cal["start"] and local.time() < cal["end"]:
        return local.date() - datetime.timedelta(days=1)
    return local.date()


def next_window(cal, after, lead=None):
    """The first window that starts at or after ``after`` (and at or after ``after + lead``) on a day that is
    neither a holiday nor a blackout day. Returns (start, end) or (None, None)."""
    earliest = after + (lead or datetime.timedelta(0))
    day = window_day(earliest, cal) - datetime.timedelta(days=1)
    for _attempt in range(CALENDAR_HORIZON_DAYS):
        day += datetime.timedelta(days=1)
        start, end = window_of(day, cal)
        if start < earliest:
            continue
        if not calendar_reasons(day, cal):
            return start, end
    return None, None


# ---------------------------------------------------------------- tiers and the ledger

def _weekday(value):
    text = str(value).strip().lower()[:3]
    if text not in WEEKDAYS:
        raise TimetableError(f"weekday {value!r} is not one of {', '.join(WEEKDAYS)}")
    return WEEKDAYS.index(text)


def normalise_tiers(tiers):
    """Check the timetable and return {name: tier} in the timetable's order (daily first)."""
    if not isinstance(tiers, dict) or not tiers:
        raise TimetableError("the timetable (posfleet_timetable_tiers) must be a non-empty mapping of tiers")
    result = {}
    order = sorted(tiers, key=lambda n: (TIER_ORDER.index(n) if n in TIER_ORDER else len(TIER_ORDER), n))
    for name in order:
        tier = dict(tiers[name] or {})
        every = tier.get("every", "day")
        if every not in PERIODS:
            raise TimetableError(f"tier {name}: every must be one of {', '.join(PERIODS)}, not {every!r}")
        tier["every"] = every
        tier["weekday"] = _weekday(tier.get("weekday", "mon"))
        tier["day"] = int(tier.get("day", 1))
        tier["month"] = int(tier.get("month", 1))
        if not 1 <= tier["day"] <= 28:
            raise TimetableError(f"tier {name}: day must be 1..28 (a day every month has), not {tier['day']}")
        if not 1 <= tier["month"] <= (3 if every == "quarter" else 12):
            raise TimetableError(f"tier {name}: month {tier['month']} is out of range for every: {every}")
        tier["interrupts_trading"] = bool(tier.get("interrupts_trading", False))
        tier["duration_minutes"] = int(tier.get("duration_minutes", 30))
        tier["includes"] = list(tier.get("includes") or [])
        tier["steps"] = list(tier.get("steps") or [])
        tier["start"] = clock(tier.get("start", "03:00"), f"tier {name} start").strftime("%H:%M")
        tier["description"] = str(tier.get("description") or name)
        for step in tier["steps"]:
            if not isinstance(step, dict) or not step.get("role"):
                raise TimetableError(f"tier {name}: every step needs a role, got {step!r}")
        result[name] = tier
    for name, tier in result.items():
        for inc in tier["includes"]:
            if inc not in result or inc == name:
                raise TimetableError(f"tier {name} includes unknown tier {inc!r}")
    return result


def cycle_start(tier, day):
    """The local date on which the tier's current cycle began (on or before ``day``)."""
    every = tier["every"]
    if every == "day":
        return day
    if every == "week":
        return day - datetime.timedelta(days=(day.weekday() - tier["weekday"]) % 7)
    if every == "month":
        candidate = day.replace(day=tier["day"])
        if candidate > day:
            month = day.month - 1 or 12
            candidate = candidate.replace(year=day.year - (day.month == 1), month=month)
        return candidate
    months = [m + tier["month"] - 1 for m in (1, 4, 7, 10)] if every == "quarter" else [tier["month"]]
    for year in (day.year, day.year - 1):
        for month in sorted(months, reverse=True):
            candidate = datetime.date(year, month, tier["day"])
            if candidate <= day:
                return candidate
    raise TimetableError("no cycle start found")  # pragma: no cover


def last_success(ledger, tier_name):
    entry = ((ledger or {}).get("tiers") or {}).get(tier_name) or {}
    value = entry.get("last_success")
    return parse_time(value, f"ledger {tier_name}.last_success") if value else None


def due_tiers(tiers, ledger, now, cal):
    """Tiers whose current cycle has no successful run yet, with the cycle start; catch-up is built in: a
    cycle stays due until a run of it succeeds."""
    day = window_day(now, cal)
    result = []
    for name, tier in tiers.items():
        start = cycle_start(tier, day)
        last = last_success(ledger, name)
        if last is None or window_day(last, cal) < start:
            result.append({"tier": name, "cycle_start": start.isoformat(),
                           "last_success": iso(last), "overdue_days": (day - start).days})
    return result


def _step_key(role, tasks_from, options):
    role = role if "." in role else f"posfleet.terminals.{role}"
    return role, tasks_from or "main", json.dumps(options or {}, sort_keys=True, default=str)


def expand_steps(tiers, name, resolve=None, _seen=None):
    """The steps of a tier with the steps of the tiers it includes first; a step identical to an earlier one
    (same role, tasks file and options) runs once."""
    seen = _seen if _seen is not None else set()
    steps = []
    tier = tiers[name]
    for inc in tier["includes"]:
        steps.extend(expand_steps(tiers, inc, resolve, seen))
    for step in tier["steps"]:
        key = _step_key(step["role"], step.get("tasks_from"), step.get("options"))
        if key in seen:
            continue
        seen.add(key)
        role = step["role"] if "." in step["role"] else f"posfleet.terminals.{step['role']}"
        tasks_from = step.get("tasks_from") or "main"
        available = resolve(role, tasks_from) if resolve else True
        what = f"role {role}" if tasks_from == "main" else f"tasks file {tasks_from} of role {role}"
        steps.append({"tier": name, "name": str(step.get("name") or step["role"]), "role": role,
                      "tasks_from": tasks_from, "options": dict(step.get("options") or {}),
                      "available": bool(available),
                      "notice": None if available else
                      f"step {step.get('name') or step['role']} of tier {name} skipped: {what} is not "
                      "installed yet"})
    return steps


def covered_by(tiers, name):
    """Every tier that ``name`` includes, directly or not."""
    result = set()
    for inc in tiers[name]["includes"]:
        result.add(inc)
        result |= covered_by(tiers, inc)
    return result


def notice_for(ledger, start):
    """The notice recorded for the window starting at ``start``, or None."""
    for notice in reversed((ledger or {}).get("notices") or []):
        try:
            if parse_time(notice.get("window_start"), "notice window_start") == start:
                return notice
        except TimetableError:
            continue
    return None


def known_count(value):
    """``value`` as a count (a non-negative int, or its decimal string), or None when it is not one."""
    if isinstance(value, bool):
        return None
    if isinstance(value, str) and value.strip().isdigit():
        return int(value)
    return value if isinstance(value, int) and value >= 0 else None


def settlement_reason(journal):
    """Why the terminal's trading day is not settled, or None when it is.

    Nothing known is not settled (fail closed): a journal summary that is missing, not a mapping, or whose
    ``unsettled_count`` is not a count (posd closed the journal for a backup, or it could not be read) defers
    the tiers that interrupt trading, with that reason."""
    count = known_count(journal.get("unsettled_count")) if isinstance(journal, dict) else None
    if count is None:
        source = journal.get("source") if isinstance(journal, dict) else None
        return ("nothing is known about the terminal's batch (its journal summary"
                + (f" from {source}" if source else "") + " has no unsettled count), so it cannot be shown "
                "settled: check that posd is running and its journal is open, then run again")
    if count == 0:
        return None
    batch = (journal.get("open_batch") or {}).get("batch_id") or "?"
    return (f"{count} approved transaction(s) in {journal.get('unsettled_batches') or 1} unsettled batch(es) "
            f"(latest {batch}): settle the day's batch before maintenance interrupts trading")


# ---------------------------------------------------------------- the decision for one terminal

def plan(host, tiers, calendar=None, ledger=None, now=None, journal=None, notice_lead_hours=24,
         override_reason=None, only=None, resolve=None):
    """What a maintenance run does for one terminal now: tiers to run, tiers deferred (with the reason and
    the next window start), steps (with roles not installed yet marked), and the override if any."""
    now = parse_time(now, "now") if now is not None else datetime.datetime.now(UTC)
    tiers = normalise_tiers(tiers)
    cal = store_calendar(calendar)
    tz = cal["tz"]
    lead = datetime.timedelta(hours=float(notice_lead_hours))
    if only:
        unknown = [t for t in only if t not in tiers]
        if unknown:
            raise TimetableError(f"unknown tier(s) {', '.join(unknown)}; the timetable has {', '.join(tiers)}")

    due = due_tiers(tiers, ledger, now, cal)
    due_names = [d["tier"] for d in due if not only or d["tier"] in only]
    day = window_day(now, cal)
    start, end = window_of(day, cal)
    in_window = start <= now < end
    gates = []  # (code, text) applying to every candidate tier
    if not in_window:
        gates.append(("outside_window", f"outside the maintenance window ({cal['window_start']}-{cal['window_end']} "
                                        f"{cal['timezone']}); local time is {now.astimezone(tz):%Y-%m-%d %H:%M}"))
    gates.extend(calendar_reasons(day, cal))
    override = None
    if override_reason is not None and str(override_reason).strip():
        override = {"reason": str(override_reason).strip(), "at": iso(now),
                    "bypassed": [text for _code, text in gates]}

    after = end if in_window else now
    nxt_start, _nxt_end = next_window(cal, after)
    notice = notice_for(ledger, start)
    run, deferred = [], []
    for name in due_names:
        tier = tiers[name]
        reasons = list(gates)
        next_start = nxt_start
        # Notice and settlement concern this window: only asked when the calendar allows the window at all.
        if tier["interrupts_trading"] and (not gates or override is not None):
            if notice is None:
                reasons.append(("notice", f"no merchant notice was sent for the window starting "
                                          f"{start.astimezone(tz):%Y-%m-%d %H:%M %Z} (run playbooks/notify.yml)"))
            elif parse_time(notice.get("sent_at"), "notice sent_at") > start - lead:
                reasons.append(("notice", f"the merchant notice was sent {notice.get('sent_at')}, less than "
                                          f"{float(notice_lead_hours):g} h before the window"))
            if any(code == "notice" for code, _t in reasons):
                # Notice sent now: the first usable window at least the lead time away.
                next_start = next_window(cal, now, lead)[0]
            # journal None: the terminal was not read yet (the role's first decision); it decides again with the
            # facts' journal, where a missing summary is {} and defers.
            if cal.get("settlement_gate", True) and journal is not None:
                why = settlement_reason(journal)
                if why:
                    reasons.append(("unsettled", why))
        elif tier["interrupts_trading"] and nxt_start is not None:
            # The next usable window needs its notice in time too, unless one was already sent for it.
            sent = notice_for(ledger, nxt_start)
            if sent is None or parse_time(sent.get("sent_at"), "notice sent_at") > nxt_start - lead:
                next_start = next_window(cal, max(now, nxt_start - lead), lead)[0]
        if reasons and override is None:
            deferred.append({"tier": name, "codes": [c for c, _t in reasons], "reasons": [t for _c, t in reasons],
                             "reason": "; ".join(t for _c, t in reasons),
                             "next_window_start": iso(next_start),
                             "next_window_start_local": local_iso(next_start, tz) if next_start else None})
        else:
            if reasons:
                override["bypassed"] = sorted(set(override["bypassed"]) | {t for _c, t in reasons})
            run.append(name)

    # A tier that runs and includes other tiers that would run covers them ("annual = everything above").
    covered = {}
    for name in run:
        for inc in covered_by(tiers, name):
            if inc in run:
                covered[inc] = name
    run = [n for n in run if n not in covered]
    steps = []
    step_ids = {}  # step key -> id (its place in ``steps``)
    for name in run:
        for step in expand_steps(tiers, name, resolve):
            key = _step_key(step["role"], step["tasks_from"], step["options"])
            if key not in step_ids:
                step_ids[key] = len(steps)
                steps.append(dict(step, run_tier=name, id=len(steps)))
    records = sorted(set(run) | {inc for inc, by in covered.items() if by in run}, key=lambda n: list(tiers).index(n))
    # The steps each recorded tier needs (an included tier's steps run under the tier that covers it): a tier is
    # a success only when every one of them ran and passed.
    tier_steps = {name: [step_ids[_step_key(s["role"], s["tasks_from"], s["options"])]
                         for s in expand_steps(tiers, name)] for name in records}
    if run and deferred:
        status = "partial"
    elif run:
        status = "run"
    elif deferred:
        status = "deferred"
    else:
        status = "idle"
    return {
        "host": host,
        "now": iso(now),
        "local_now": local_iso(now, tz),
        "timezone": cal["timezone"],
        "window": {"start": iso(start), "end": iso(end), "start_local": local_iso(start, tz),
                   "end_local": local_iso(end, tz), "open": in_window},
        "day": day_info(day, cal),
        "due": due,
        "covered": covered,
        "run": run,
        "records": records,
        "tier_steps": tier_steps,
        "interrupts_trading": any(tiers[n]["interrupts_trading"] for n in run),
        "deferred": deferred,
        "status": status,
        "override": override if run else None,
        "steps": steps,
        "skipped_steps": [s["notice"] for s in steps if not s["available"]],
    }


def _recorded_tiers(plan_result):
    """(tier, the run tier it ran under) for every tier a run records: the tiers that ran and those they cover."""
    run = plan_result.get("run") or []
    covered = plan_result.get("covered") or {}
    return [(name, name) for name in run] + [(inc, by) for inc, by in covered.items() if by in run]


def tier_outcomes(plan_result, failures=None, ran=None):
    """The outcome of every tier a run records, {tier: {result, error, missing}}: ``failed`` (with the error) when
    a step of the run tier failed, ``partial`` (with the steps missing) when one of its steps has no role yet or
    did not run, ``ok`` only when every one of its steps ran and passed. A tier covered by a failed tier is left
    out (nothing is known of it). ``failures``: {run tier: error}; ``ran``: the ids of the steps that ran to the
    end (None: every available step)."""
    failures = {k: v for k, v in (failures or {}).items() if v != OK}
    steps = {s.get("id", index): s for index, s in enumerate(plan_result.get("steps") or [])}
    ran_ids = None if ran is None else {int(i) for i in ran}
    tier_steps = plan_result.get("tier_steps") or {}
    result = {}
    for name, by in _recorded_tiers(plan_result):
        if by in failures:
            if name == by:
                result[name] = {"result": FAILED, "error": str(failures[by]), "missing": []}
            continue
        ids = tier_steps[name] if name in tier_steps else [i for i, s in steps.items() if s.get("run_tier") == name]
        missing = []
        for step_id in ids:
            step = steps[step_id]
            if not step.get("available", True):
                missing.append(step["notice"])
            elif ran_ids is not None and step_id not in ran_ids:
                missing.append(f"step {step['name']} of tier {step['tier']} did not run")
        result[name] = {"result": PARTIAL if missing else OK, "error": None, "missing": missing}
    return result


def _as_outcomes(plan_result, results):
    """``results`` as ``tier_outcomes`` gives them: already so, or {run tier: "ok" or the error}."""
    results = results or {}
    if results and all(isinstance(v, dict) for v in results.values()):
        return results
    return tier_outcomes(plan_result, results)


def record(ledger, host, plan_result, results=None, now=None):
    """The ledger after a run: last success only for tiers whose every step ran and succeeded (and the tiers
    they cover); last attempt and outcome (ok, partial with the steps missing, failed with the error) for every
    tier that ran, last deferral for every tier deferred; overrides kept. ``results``: ``tier_outcomes``, or
    {run tier: "ok" or the error} (steps without a role still make their tier partial)."""
    now = parse_time(now, "now") if now is not None else datetime.datetime.now(UTC)
    ledger = dict(ledger or {})
    ledger["host"] = host
    tiers = {k: dict(v) for k, v in (ledger.get("tiers") or {}).items()}
    covered = plan_result.get("covered") or {}
    for name, outcome in _as_outcomes(plan_result, results).items():
        entry = tiers.setdefault(name, {})
        entry["last_attempt"] = iso(now)
        entry["last_result"] = outcome["result"]
        entry["last_error"] = outcome.get("error")
        if outcome["result"] == PARTIAL:
            entry["missing_steps"] = list(outcome.get("missing") or [])
        else:
            entry.pop("missing_steps", None)
        if name in covered:
            entry["covered_by"] = covered[name]
        if outcome["result"] == OK:
            entry["last_success"] = iso(now)
    for item in plan_result.get("deferred") or []:
        entry = tiers.setdefault(item["tier"], {})
        entry["last_deferred"] = iso(now)
        entry["last_deferred_reason"] = item["reason"]
    ledger["tiers"] = tiers
    if plan_result.get("override") and plan_result.get("run"):
        overrides = list(ledger.get("overrides") or [])
        overrides.append(dict(plan_result["override"], tiers=plan_result["run"]))
        ledger["overrides"] = overrides[-50:]
    ledger["updated"] = iso(now)
    return ledger


def record_notice(ledger, host, notice, keep=20):
    ledger = dict(ledger or {})
    ledger["host"] = host
    notices = [n for n in (ledger.get("notices") or []) if n.get("window_start") != notice.get("window_start")]
    notices.append(dict(notice))
    ledger["notices"] = notices[-keep:]
    return ledger


def upcoming(host, tiers, calendar=None, ledger=None, now=None, notice_lead_hours=24):
    """The next window that needs a merchant notice sent now: the first usable window at least the lead time
    away, and the tiers that interrupt trading and will be due then. None when nothing needs a notice."""
    now = parse_time(now, "now") if now is not None else datetime.datetime.now(UTC)
    norm = normalise_tiers(tiers)
    cal = store_calendar(calendar)
    start, end = next_window(cal, now, datetime.timedelta(hours=float(notice_lead_hours)))
    if start is None:
        return None
    due = [d["tier"] for d in due_tiers(norm, ledger, start, cal) if norm[d["tier"]]["interrupts_trading"]]
    # Tiers already announced for a window still ahead need no second notice (unless that window passes).
    for notice in (ledger or {}).get("notices") or []:
        try:
            pending = parse_time(notice.get("window_start"), "notice window_start") > now
        except TimetableError:
            continue
        if pending:
            due = [n for n in due if n not in (notice.get("tiers") or [])]
    covered = {inc for name in due for inc in covered_by(norm, name)}
    due = [n for n in due if n not in covered]
    if not due:
        return None
    return {"host": host, "window_start": iso(start), "window_end": iso(end), "timezone": cal["timezone"],
            "window_start_local": local_iso(start, cal["tz"]), "window_end_local": local_iso(end, cal["tz"]),
            "tiers": [{"tier": n, "description": norm[n]["description"],
                       "duration_minutes": norm[n]["duration_minutes"]} for n in due],
            "duration_minutes": sum(norm[n]["duration_minutes"] for n in due)}


def _has_tasks(role_dir, tasks_from):
    return any(os.path.isfile(os.path.join(role_dir, "tasks", tasks_from + ext)) for ext in ("", ".yml", ".yaml"))


def resolve_role(fqcn, tasks_from="main"):
    """True when the role ``fqcn`` (namespace.collection.role) and its tasks file are installed on the
    controller."""
    try:
        from ansible.utils.collection_loader._collection_finder import _get_collection_role_path
    except ImportError:  # pragma: no cover
        return True
    try:
        found = _get_collection_role_path(fqcn)
    except Exception:
        return False
    return bool(found) and _has_tasks(found[1], tasks_from)


def roles_dir_resolver(roles_dir):
    """A resolver for this collection's roles, from its roles directory (tests, and a fallback)."""
    def resolve(fqcn, tasks_from="main"):
        return _has_tasks(os.path.join(roles_dir, fqcn.split(".")[-1]), tasks_from)
    return resolve


def host_record(host, run_id, plan_result=None, outcomes=None, error=None, store=None, user=None):
    """One terminal's record of a maintenance run (for results/maintain/hosts/<host>.json): the tiers that ran
    are what the run changed; a tier with steps missing is ``partial`` (and so is the terminal, unless a tier
    failed)."""
    plan_result = plan_result or {}
    outcomes = _as_outcomes(plan_result, outcomes)
    failed = {t: o["error"] for t, o in outcomes.items() if o["result"] == FAILED}
    partial = {t: o["missing"] for t, o in outcomes.items() if o["result"] == PARTIAL}
    if error and not plan_result:
        status = "error"
    elif failed or error:
        status = "failed"
    elif partial:
        status = "partial"
    else:
        status = plan_result.get("status") or "unknown"
    ran = [t for t in plan_result.get("run") or [] if t not in failed]
    return _runrecord.host_record(
        host, run_id, status, error=error, changed=ran, user=user, store=store,
        now=plan_result.get("now"), local_now=plan_result.get("local_now"),
        timezone=plan_result.get("timezone"), window=plan_result.get("window"),
        due=[d["tier"] for d in plan_result.get("due") or []],
        ran=ran,
        covered=plan_result.get("covered") or {},
        failed=failed,
        partial=partial,
        deferred=[{k: d.get(k) for k in ("tier", "codes", "reason", "next_window_start",
                                         "next_window_start_local")} for d in plan_result.get("deferred") or []],
        skipped_steps=plan_result.get("skipped_steps") or [],
        override=plan_result.get("override"),
    )


def fleet_summary(records, run_id="", expected=None):
    """The fleet roll-up of a maintenance run (``_runrecord.rollup``), with ``hosts`` holding a placeholder
    record for every unreachable terminal, and ``text``, the summary for people."""
    fleet = _runrecord.as_fleet(records, run_id=run_id, expected=expected)
    current = sorted(list(fleet["hosts"]) + [
        _runrecord.unreachable_record(host, fleet["run_id"], ran=[], deferred=[], failed={}, partial={},
                                      skipped_steps=[])
        for host in fleet["unreachable"]], key=lambda r: r["host"])
    rows, details = [], []
    for rec in current:
        rows.append((rec["host"], rec["status"], ",".join(rec.get("ran") or []) or "-",
                     ",".join(d["tier"] for d in rec.get("deferred") or []) or "-"))
        grouped = {}
        for item in rec.get("deferred") or []:
            key = (item["reason"], item.get("next_window_start_local"), ", ".join(item["codes"]))
            grouped.setdefault(key, []).append(item["tier"])
        for (reason, nxt, codes), names in grouped.items():
            details.append(f"{rec['host']}: {', '.join(names)} deferred ({codes}): {reason}; "
                           f"next window {nxt or 'none within a year'}")
        for tier, why in (rec.get("failed") or {}).items():
            details.append(f"{rec['host']}: {tier} FAILED: {why} (retried in the next window)")
        for tier, missing in (rec.get("partial") or {}).items():
            details.append(f"{rec['host']}: {tier} PARTIAL: {'; '.join(missing)} (not a success: the tier stays "
                           "due and runs again in the next window)")
        if rec.get("override"):
            details.append(f"{rec['host']}: emergency override: {rec['override']['reason']}")
        if rec["status"] == _runrecord.UNREACHABLE:
            details.append(f"{rec['host']}: {rec.get('error')}; due tiers stay due")
        elif rec["status"] == "error":
            details.append(f"{rec['host']}: {rec.get('error')}")
    skipped = sorted({n for rec in current for n in rec.get("skipped_steps") or []})
    title = (f"Maintenance run {fleet['run_id']}: {fleet['terminals']} terminals, "
             f"{_runrecord.counts_line(fleet['counts'])}")
    text = _runrecord.text_report(title, ("HOST", "STATUS", "RAN", "DEFERRED"), rows,
                                  [("Details", details), ("Steps skipped (role not installed yet)", skipped)])
    return dict(fleet, hosts=current, text=text)


def notice_groups(entries):
    """One notice per store and window from the terminals' notices ({host, store, merchant, notice});
    terminals without a notice (None) are left out; the tiers of the group are the union of theirs."""
    groups = {}
    for entry in entries or []:
        if not isinstance(entry, dict) or not entry.get("notice"):
            continue
        notice = entry["notice"]
        key = (entry.get("store") or entry["host"], notice["window_start"])
        if key not in groups:
            groups[key] = {"store": key[0], "merchant": entry.get("merchant") or key[0],
                           "terminals": [],
                           "notice": dict(notice, tiers=list(notice["tiers"]))}
        group = groups[key]
        group["terminals"].append(entry["host"])
        known = {t["tier"] for t in group["notice"]["tiers"]}
        for tier in notice["tiers"]:
            if tier["tier"] not in known:
                group["notice"]["tiers"].append(tier)
                group["notice"]["duration_minutes"] += tier["duration_minutes"]
    return [dict(g, terminals=sorted(g["terminals"])) for _k, g in sorted(groups.items())]
