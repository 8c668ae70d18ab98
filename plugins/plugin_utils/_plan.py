# Copyright (c) posfleet developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The decision for one terminal now: which tiers are due, which run and which are deferred (window, holiday,
blackout, notice, settled batch), their steps, the emergency override."""

from __future__ import annotations

import datetime

from ansible_collections.posfleet.terminals.plugins.plugin_utils._calendar import (
    calendar_reasons,
    day_info,
    next_window,
    store_calendar,
    window_day,
    window_of,
)
from ansible_collections.posfleet.terminals.plugins.plugin_utils._tier_ledger import last_success, notice_for
from ansible_collections.posfleet.terminals.plugins.plugin_utils._tiers import (
    covered_by,
    cycle_start,
    expand_steps,
    normalise_tiers,
    step_key,
)
from ansible_collections.posfleet.terminals.plugins.plugin_utils._times import (
    UTC,
    TimetableError,
    iso,
    local_iso,
    parse_time,
)


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
            key = step_key(step["role"], step["tasks_from"], step["options"])
            if key not in step_ids:
                step_ids[key] = len(steps)
                steps.append(dict(step, run_tier=name, id=len(steps)))
    records = sorted(set(run) | {inc for inc, by in covered.items() if by in run}, key=lambda n: list(tiers).index(n))
    # The steps each recorded tier needs (an included tier's steps run under the tier that covers it): a tier is
    # a success only when every one of them ran and passed.
    tier_steps = {name: [step_ids[step_key(s["role"], s["tasks_from"], s["options"])]
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
