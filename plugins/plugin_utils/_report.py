# Copyright (c) posfleet developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The health report's own content: what a terminal's health record holds, and how the text summary and the
HTML page show it. Records, roll-up and writers are the run-record layer's (``_runrecord``).
"""

from __future__ import annotations

from ansible_collections.posfleet.terminals.plugins.module_utils._untrusted import finite, shown
from ansible_collections.posfleet.terminals.plugins.plugin_utils import _runrecord as rr
from ansible_collections.posfleet.terminals.plugins.plugin_utils._runrecord import esc as _esc

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


def _versions(facts):
    versions = {"firmware": _active_firmware(facts)}
    for app in _get(facts, "applications", default=[]) or []:
        if isinstance(app, dict) and app.get("name"):
            versions[app["name"]] = app.get("version")
    return {k: v for k, v in versions.items() if v}


def host_report(host, run_id, facts=None, selftest=None, error=None, user=None):
    """The health record of one terminal, with stable keys (a read-only run: the versions before and after
    are the same, nothing changed)."""
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
    versions = _versions(facts)
    return rr.host_record(
        host, run_id, status, error=error, versions_before=versions, versions_after=versions, user=user,
        terminal_id=_get(facts, "identity", "terminal_id"),
        store=_get(facts, "identity", "store"),
        model=_get(facts, "identity", "model"),
        serial=_get(facts, "identity", "serial"),
        firmware=_active_firmware(facts),
        firmware_state=_get(facts, "firmware", "state"),
        maintenance=bool(_get(facts, "maintenance", "enabled", default=False)),
        journal=_get(facts, "journal", default={}),
        consumables={
            "paper_pct": _get(facts, "peripherals", "printer", "paper_pct"),
            "printer_head_wear_km": _get(facts, "peripherals", "printer", "head_wear_km"),
            "battery_charge_pct": _get(facts, "battery", "charge_pct"),
            "battery_health_pct": _get(facts, "battery", "health_pct"),
        },
        checks=checks,
        problems=[
            {"name": c.get("name"), "status": c.get("status"), "reason": c.get("reason"),
             "consumable": c.get("name") in CONSUMABLE_CHECKS}
            for c in problems
        ],
        summary=selftest.get("summary") or {},
    )


def fleet_report(reports, run_id="", expected=None):
    """The fleet record of one run's health records (``_runrecord.rollup``)."""
    return rr.rollup(reports, run_id=run_id, expected=expected)


def _cell(value, suffix=""):
    return "-" if value is None else f"{value}{suffix}"


def _attention(fleet):
    """(host, error or None, problem or None) of everything that needs attention."""
    for r in fleet.get("hosts", []):
        if r.get("error"):
            yield r, r["error"], None
        for p in r.get("problems") or []:
            yield r, None, p


def fleet_summary(fleet):
    """A fixed-width text summary of a fleet health record, for people."""
    fleet = rr.as_fleet(fleet)
    header = ("HOST", "STORE", "MODEL", "FIRMWARE", "STATUS", "PAPER", "BATTERY", "TXN TODAY")
    rows = []
    for r in fleet.get("hosts", []):
        consumables = r.get("consumables") or {}
        battery = consumables.get("battery_charge_pct")
        health = consumables.get("battery_health_pct")
        rows.append((
            r.get("host") or "-", _cell(r.get("store")), _cell(r.get("model")), _cell(r.get("firmware")),
            str(r.get("status", "-")).upper() if r.get("status") != "healthy" else "healthy",
            _cell(consumables.get("paper_pct"), "%"),
            "-" if battery is None else f"{battery}% (health {_cell(health, '%')})",
            _cell((r.get("journal") or {}).get("transactions_today")),
        ))
    rows += [(host, "-", "-", "-", "UNREACHABLE", "-", "-", "-") for host in fleet.get("unreachable", [])]
    attention = []
    for r, error, p in _attention(fleet):
        if error:
            attention.append(f"{r['host']}: error: {error}")
        else:
            kind = "consumable" if p.get("consumable") else p.get("status")
            attention.append(f"{r['host']}: {p.get('name')} {p.get('status')} ({kind}): {p.get('reason')}")
    title = "Fleet run {}: {} terminals, {}".format(
        fleet.get("run_id") or "-", fleet.get("terminals", 0), rr.counts_line(fleet.get("counts")))
    return rr.text_report(title, header, rows, [("Needs attention", attention)])


# --- HTML -------------------------------------------------------------------------------------------------

CHECK_COLOURS = {"pass": "#2e7d32", "warn": "#f9a825", "fail": "#c62828", "not_applicable": "#bdbdbd"}


def _bar(pct, colour, width=120):
    """A horizontal gauge for a percentage (paper, battery); a value that is not a finite number is shown as such,
    without a gauge."""
    if pct is None:
        return "-"
    if finite(pct) is None:
        return f"<span class='sub'>not a number: {_esc(shown(pct))}</span>"
    filled = max(0.0, min(100.0, float(pct))) * width / 100
    return (f'<svg width="{width + 40}" height="14" role="img" aria-label="{_esc(pct)}%">'
            f'<rect width="{width}" height="12" rx="3" fill="#eceff1"/>'
            f'<rect width="{filled:.1f}" height="12" rx="3" fill="{colour}"/>'
            f'<text x="{width + 4}" y="11" font-size="11">{_esc(pct)}%</text></svg>')


def _check_strip(checks):
    cells = []
    for c in checks:
        colour = CHECK_COLOURS.get(c.get("status"), "#757575")
        cells.append(f'<span class="chk" style="background:{colour}" title="{_esc(c.get("name"))}: '
                     f'{_esc(c.get("status"))} - {_esc(c.get("reason"))}"></span>')
    return "".join(cells)


def fleet_html(fleet, title="POS fleet report"):
    """A self-contained HTML page of a fleet health record: status chart, one row per terminal, what needs
    attention."""
    fleet = rr.as_fleet(fleet)
    rows = []
    for r in fleet.get("hosts", []):
        consumables = r.get("consumables") or {}
        paper, battery = consumables.get("paper_pct"), consumables.get("battery_charge_pct")
        health = consumables.get("battery_health_pct")
        health_note = "" if health is None else f"<div class='sub'>health {_esc(health)}%</div>"
        level = finite(paper) or 0
        paper_colour = "#c62828" if level < 5 else "#f9a825" if level < 20 else "#1565c0"
        rows.append([
            f"{_esc(r.get('host'))}<div class='sub'>{_esc(r.get('terminal_id'))}</div>",
            _esc(r.get("store")), _esc(r.get("model")), _esc(r.get("firmware")),
            rr.badge(r.get("status", "unknown")), _bar(paper, paper_colour),
            f"{_bar(battery, '#2e7d32')}{health_note}",
            _esc((r.get("journal") or {}).get("transactions_today")), _check_strip(r.get("checks") or []),
        ])
    rows += [[_esc(host), rr.badge(rr.UNREACHABLE), "no result from this run"] + [""] * 6
             for host in fleet.get("unreachable", [])]
    attention = []
    for r, error, p in _attention(fleet):
        if error:
            attention.append(f"<b>{_esc(r['host'])}</b>: error: {_esc(error)}")
        else:
            status = p.get("status")
            attention.append(f"<b>{_esc(r['host'])}</b>: {rr.badge(status, CHECK_COLOURS.get(status))} "
                             f"{_esc(p.get('name'))}: {_esc(p.get('reason'))}")
    header = ("terminal", "store", "model", "firmware", "status", "paper", "battery", "txn today", "checks")
    return rr.html_report(title, fleet, header, rows, attention)
