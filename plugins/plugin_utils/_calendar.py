# Copyright (c) posfleet developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""A store's maintenance calendar: its off-peak window, public holidays and holiday breaks, blackout days."""

from __future__ import annotations

import datetime
import functools

from ansible_collections.posfleet.terminals.plugins.plugin_utils._times import (
    TimetableError,
    as_date,
    at_local,
    clock,
    zone,
)

try:
    import holidays as _holidays
except ImportError:  # pragma: no cover - reported when a store needs it
    _holidays = None


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


TRUE_WORDS = ("true", "yes", "on", "1")
FALSE_WORDS = ("false", "no", "off", "0")


def switch(value, name):
    """A yes/no setting as a bool; ``-e name=false`` arrives as the string "false", which is not true."""
    if isinstance(value, bool):
        return value
    word = str(value).strip().lower()
    if word in TRUE_WORDS or word in FALSE_WORDS:
        return word in TRUE_WORDS
    raise TimetableError(f"{name} must be true or false, not {value!r}. Fix: set it to true or false")


def store_calendar(calendar):
    """Fill in the defaults of a store's calendar and check it."""
    cal = dict(DEFAULT_CALENDAR)
    cal.update({k: v for k, v in (calendar or {}).items() if v is not None})
    cal["tz"] = zone(cal["timezone"])
    cal["start"] = clock(cal["window_start"], "window_start")
    cal["end"] = clock(cal["window_end"], "window_end")
    for name in ("holiday_breaks", "settlement_gate"):
        cal[name] = switch(cal[name], name)
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
