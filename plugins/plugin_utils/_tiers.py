# Copyright (c) posfleet developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The tiers of the timetable as data: their check, their cycles, their steps (includes expanded, identical
steps once)."""

from __future__ import annotations

import datetime
import json

from ansible_collections.posfleet.terminals.plugins.plugin_utils._times import TimetableError, clock

PERIODS = ("day", "week", "month", "quarter", "year")


WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


TIER_ORDER = ("daily", "weekly", "monthly", "quarterly", "annual")


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


def step_key(role, tasks_from, options):
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
        key = step_key(step["role"], step.get("tasks_from"), step.get("options"))
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
