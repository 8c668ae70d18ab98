# Copyright (c) posfleet developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Times of the maintenance timetable: ISO 8601 in and out, store time zones, wall-clock times of day.

Everything takes "now" as an argument (an aware datetime or an ISO 8601 string), so the logic is tested with
fixed clocks and a playbook can be run "as if" at another date (``posfleet_now``). Times in the ledger are
UTC ISO 8601 (``2026-11-24T19:15:00Z``); windows are in the store's local time.
"""

from __future__ import annotations

import datetime
import re

try:
    from zoneinfo import ZoneInfo
except ImportError:  # pragma: no cover - Python < 3.9 is not a supported controller
    ZoneInfo = None


UTC = datetime.timezone.utc


class TimetableError(ValueError):
    """A timetable, calendar or ledger that cannot be used as given."""


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
