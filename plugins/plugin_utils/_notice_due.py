# Copyright (c) posfleet developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Which maintenance window a merchant must be told of now, and one notice per store and window."""

from __future__ import annotations

import datetime

from ansible_collections.posfleet.terminals.plugins.plugin_utils._calendar import next_window, store_calendar
from ansible_collections.posfleet.terminals.plugins.plugin_utils._plan import due_tiers
from ansible_collections.posfleet.terminals.plugins.plugin_utils._tiers import covered_by, normalise_tiers
from ansible_collections.posfleet.terminals.plugins.plugin_utils._times import (
    UTC,
    TimetableError,
    iso,
    local_iso,
    parse_time,
)


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
