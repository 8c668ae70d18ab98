# Copyright (c) posfleet developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The records of a maintenance run: one per terminal, and the fleet's roll-up with its text summary."""

from __future__ import annotations

from ansible_collections.posfleet.terminals.plugins.plugin_utils import _runrecord
from ansible_collections.posfleet.terminals.plugins.plugin_utils._tier_ledger import (
    FAILED,
    PARTIAL,
    as_outcomes,
)


def host_record(host, run_id, plan_result=None, outcomes=None, error=None, store=None, user=None):
    """One terminal's record of a maintenance run (for results/maintain/hosts/<host>.json): the tiers that ran
    are what the run changed; a tier with steps missing is ``partial`` (and so is the terminal, unless a tier
    failed)."""
    plan_result = plan_result or {}
    outcomes = as_outcomes(plan_result, outcomes)
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
