# Copyright (c) posfleet developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Controller-side fleet reports: one record per terminal, a fleet roll-up, and a text summary.

Records are built from what a run left per host (facts, self-test result or error), so the roll-up reads
files only and works across AWX job slices.
"""

from __future__ import annotations

import datetime

# Checks about wear and supplies: listed apart in the summary because they ask for a visit, not a repair.
CONSUMABLE_CHECKS = ("printer", "printer_head", "battery", "battery_health")


def _get(data, *path, default=None):
    for key in path:
        if not isinstance(data, dict) or key not in data:
            return default
        data = data[key]
    return data


def _active_firmware(facts):
    slot = _get(facts, "firmware", "active_slot")
    return _get(facts, "firmware", "slots", slot or "", "version") if slot else None


def host_report(host, run_id, facts=None, selftest=None, error=None):
    """The result of one terminal's run, with stable keys."""
    facts = facts or {}
    selftest = selftest or {}
    checks = selftest.get("checks") or []
    problems = [c for c in checks if c.get("status") in ("fail", "warn")]
    if error:
        status = "error"
    elif not selftest:
        status = "unknown"
    else:
        status = "healthy" if selftest.get("healthy") and not problems else (
            "unhealthy" if not selftest.get("healthy") else "attention")
    return {
        "host": host,
        "run_id": run_id,
        "recorded_at": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "status": status,
        "error": error,
        "terminal_id": _get(facts, "identity", "terminal_id"),
        "store": _get(facts, "identity", "store"),
        "model": _get(facts, "identity", "model"),
        "serial": _get(facts, "identity", "serial"),
        "firmware": _active_firmware(facts),
        "firmware_state": _get(facts, "firmware", "state"),
        "maintenance": bool(_get(facts, "maintenance", "enabled", default=False)),
        "journal": _get(facts, "journal", default={}),
        "consumables": {
            "paper_pct": _get(facts, "peripherals", "printer", "paper_pct"),
            "printer_head_wear_km": _get(facts, "peripherals", "printer", "head_wear_km"),
            "battery_charge_pct": _get(facts, "battery", "charge_pct"),
            "battery_health_pct": _get(facts, "battery", "health_pct"),
        },
        "checks": checks,
        "problems": [
            {"name": c.get("name"), "status": c.get("status"), "reason": c.get("reason"),
             "consumable": c.get("name") in CONSUMABLE_CHECKS}
            for c in problems
        ],
        "summary": selftest.get("summary") or {},
    }


def fleet_report(reports, run_id="", expected=None):
    """Roll the per-host records of one run up into a fleet record.

    Hosts that were expected but left no record of this run are listed as unreachable.
    """
    current = [r for r in reports if not run_id or r.get("run_id") == run_id]
    current.sort(key=lambda r: r.get("host") or "")
    seen = {r.get("host") for r in current}
    missing = sorted(set(expected or []) - seen)
    counts = {}
    for record in current:
        counts[record["status"]] = counts.get(record["status"], 0) + 1
    if missing:
        counts["unreachable"] = len(missing)
    return {
        "run_id": run_id,
        "terminals": len(current) + len(missing),
        "counts": counts,
        "hosts": current,
        "unreachable": missing,
    }


def _cell(value, suffix=""):
    return "-" if value is None else f"{value}{suffix}"


def fleet_summary(fleet):
    """A fixed-width text summary of a fleet record, for people."""
    header = ("HOST", "STORE", "MODEL", "FIRMWARE", "STATUS", "PAPER", "BATTERY", "TXN TODAY")
    rows = [header]
    for r in fleet.get("hosts", []):
        consumables = r.get("consumables") or {}
        battery = consumables.get("battery_charge_pct")
        health = consumables.get("battery_health_pct")
        rows.append((
            r.get("host") or "-", _cell(r.get("store")), _cell(r.get("model")), _cell(r.get("firmware")),
            r.get("status", "-").upper() if r.get("status") != "healthy" else "healthy",
            _cell(consumables.get("paper_pct"), "%"),
            "-" if battery is None else f"{battery}% (health {_cell(health, '%')})",
            _cell((r.get("journal") or {}).get("transactions_today")),
        ))
    for host in fleet.get("unreachable", []):
        rows.append((host, "-", "-", "-", "UNREACHABLE", "-", "-", "-"))
    widths = [max(len(str(row[i])) for row in rows) for i in range(len(header))]
    lines = ["  ".join(str(cell).ljust(widths[i]) for i, cell in enumerate(row)).rstrip() for row in rows]
    counts = fleet.get("counts") or {}
    lines.insert(0, "Fleet run {}: {} terminals, {}".format(
        fleet.get("run_id") or "-", fleet.get("terminals", 0),
        ", ".join(f"{n} {s}" for s, n in sorted(counts.items())) or "no results"))
    problems = []
    for r in fleet.get("hosts", []):
        if r.get("error"):
            problems.append(f"{r['host']}: error: {r['error']}")
        for p in r.get("problems") or []:
            kind = "consumable" if p.get("consumable") else p.get("status")
            problems.append(f"{r['host']}: {p.get('name')} {p.get('status')} ({kind}): {p.get('reason')}")
    if problems:
        lines.append("")
        lines.append("Needs attention:")
        lines.extend(f"  - {p}" for p in problems)
    return "\n".join(lines) + "\n"
