# Copyright (c) posfleet developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The controller's maintenance ledger of a terminal: each tier's last success, attempt and outcome, the notices
sent, the overrides (its mirror on the terminal is written by ``module_utils/_ledger.py``)."""

from __future__ import annotations

import datetime

from ansible_collections.posfleet.terminals.plugins.module_utils._ledger import NOTICES_KEPT, OVERRIDES_KEPT
from ansible_collections.posfleet.terminals.plugins.plugin_utils._times import (
    UTC,
    TimetableError,
    iso,
    parse_time,
)

OK, PARTIAL, FAILED = "ok", "partial", "failed"  # a tier's outcome in a run


def last_success(ledger, tier_name):
    entry = ((ledger or {}).get("tiers") or {}).get(tier_name) or {}
    value = entry.get("last_success")
    return parse_time(value, f"ledger {tier_name}.last_success") if value else None


def notice_for(ledger, start):
    """The notice recorded for the window starting at ``start``, or None."""
    for notice in reversed((ledger or {}).get("notices") or []):
        try:
            if parse_time(notice.get("window_start"), "notice window_start") == start:
                return notice
        except TimetableError:
            continue
    return None


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


def as_outcomes(plan_result, results):
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
    for name, outcome in as_outcomes(plan_result, results).items():
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
        ledger["overrides"] = overrides[-OVERRIDES_KEPT:]
    ledger["updated"] = iso(now)
    return ledger


def record_notice(ledger, host, notice, keep=NOTICES_KEPT):
    ledger = dict(ledger or {})
    ledger["host"] = host
    notices = [n for n in (ledger.get("notices") or []) if n.get("window_start") != notice.get("window_start")]
    notices.append(dict(notice))
    ledger["notices"] = notices[-keep:]
    return ledger
