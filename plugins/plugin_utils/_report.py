# Copyright (c) posfleet developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The health report's own content: what a terminal's health record holds, and how the text summary and the
HTML page show it. Records, roll-up and writers are the run-record layer's (``_runrecord``).
"""

from __future__ import annotations

import time

from ansible_collections.posfleet.terminals.plugins.module_utils._time import parse_time, utc_iso
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


def _when(value):
    """A terminal's epoch as UTC ISO 8601 for a sentence; ``?`` when it is not a usable time (NaN, absurd)."""
    epoch = parse_time(value)
    try:
        return "?" if epoch is None else utc_iso(epoch)
    except (ValueError, OverflowError, OSError):
        return "?"


def maintenance_view(facts, release=None):
    """What a health record says of maintenance mode: ``{enabled, stale, holder, since, expires, released,
    out_of_service_seconds}``. ``stale`` (the terminal's own verdict: in maintenance mode that no run holds) makes
    the terminal unhealthy; ``release`` is the registered result of returning it to service, when the run did."""
    state = _get(facts, "maintenance", default=None) or {}
    release = release or {}
    enabled = bool(state.get("enabled"))
    released = bool(release.get("changed"))
    return {"enabled": enabled, "stale": enabled and bool(state.get("stale")), "holder": state.get("holder"),
            "since": state.get("since"), "expires": state.get("expires"), "released": released,
            "out_of_service_seconds": release.get("out_of_service_seconds") if released else None}


def maintenance_problem(maintenance):
    """The finding of a terminal in maintenance mode: ``fail`` when stale (it refuses payments and no run will
    end it), ``warn`` while a run holds it; ``None`` when it is serving."""
    if not maintenance.get("enabled"):
        return None
    since, expires = _when(maintenance.get("since")), _when(maintenance.get("expires"))
    if not maintenance.get("stale"):
        return {"name": "maintenance", "status": "warn", "consumable": False,
                "reason": f"in maintenance mode since {since}, held by {maintenance.get('holder')} until {expires}"}
    holder = maintenance.get("holder")
    end = parse_time(maintenance.get("expires"))
    lease = "no lease" if end is None else f"lease {'ended' if end <= time.time() else 'until'} {expires}"
    reason = (f"refusing payments: in maintenance mode since {since} with no run holding it "
              f"({'holder ' + holder if holder else 'no holder'}, {lease})")
    if maintenance.get("released"):
        reason += (f"; returned to service by this run after {_cell(maintenance.get('out_of_service_seconds'))} s "
                   "out of service")
    else:
        reason += ("; return it to service: posfleet.terminals.maintenance_mode state=disabled, or "
                   "posfleet.terminals.daily with posfleet_daily_release_stale_maintenance=true")
    return {"name": "maintenance", "status": "fail", "consumable": False, "reason": reason}


def host_report(host, run_id, facts=None, selftest=None, error=None, user=None, maintenance_release=None):
    """The health record of one terminal, with stable keys. A read-only run (the versions before and after are
    the same) that changed nothing, unless it returned a terminal in stale maintenance mode to service
    (``maintenance_release``, the registered result of doing so)."""
    facts = facts or {}
    selftest = selftest or {}
    checks = selftest.get("checks") or []
    problems = [c for c in checks if c.get("status") in ("fail", "warn")]
    maintenance = maintenance_view(facts, maintenance_release)
    finding = maintenance_problem(maintenance)
    if error:
        status = "error"
    elif maintenance["stale"]:
        status = "unhealthy"  # whatever the self-test says: it takes no payment and no run will end that
    elif not selftest:
        status = "unknown"
    else:
        status = "healthy" if selftest.get("healthy") and not problems and not finding else (
            "unhealthy" if not selftest.get("healthy") else "attention")
    versions = _versions(facts)
    changed = ["maintenance: returned to service from stale maintenance mode"] if maintenance["released"] else []
    return rr.host_record(
        host, run_id, status, error=error, changed=changed, versions_before=versions, versions_after=versions,
        user=user,
        terminal_id=_get(facts, "identity", "terminal_id"),
        store=_get(facts, "identity", "store"),
        model=_get(facts, "identity", "model"),
        serial=_get(facts, "identity", "serial"),
        firmware=_active_firmware(facts),
        firmware_state=_get(facts, "firmware", "state"),
        maintenance=maintenance,
        journal=_get(facts, "journal", default={}),
        recovery_point=_get(facts, "recovery_point"),
        consumables={
            "paper_pct": _get(facts, "peripherals", "printer", "paper_pct"),
            "printer_head_wear_km": _get(facts, "peripherals", "printer", "head_wear_km"),
            "battery_charge_pct": _get(facts, "battery", "charge_pct"),
            "battery_health_pct": _get(facts, "battery", "health_pct"),
        },
        checks=checks,
        problems=([finding] if finding else []) + [
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


def maintenance_cell(record):
    """The maintenance column: ``-`` serving, ``on`` while a run holds it, ``STALE`` (``, released`` when this run
    returned it to service)."""
    maintenance = record.get("maintenance")
    if not isinstance(maintenance, dict) or not maintenance.get("enabled"):
        return "-"
    if not maintenance.get("stale"):
        return "on"
    return "STALE, released" if maintenance.get("released") else "STALE"


def _attention(fleet):
    """(host, error or None, problem or None) of everything that needs attention."""
    for r in fleet.get("hosts", []):
        if r.get("error"):
            yield r, r["error"], None
        for p in r.get("problems") or []:
            yield r, None, p


def recovery_cell(record):
    """The recovery point of a health record, for people: how many transactions a restore from the terminal's
    last backup could lose, and when that backup was taken (``-`` when unknown)."""
    point = record.get("recovery_point")
    if not isinstance(point, dict) or point.get("transactions") is None:
        return "-"
    when = point.get("last_backup")
    return f"{point['transactions']} since {str(when)[:16].replace('T', ' ')}" if when else \
        f"{point['transactions']} (never backed up)"


def fleet_summary(fleet):
    """A fixed-width text summary of a fleet health record, for people."""
    fleet = rr.as_fleet(fleet)
    header = ("HOST", "STORE", "MODEL", "FIRMWARE", "STATUS", "MAINT", "PAPER", "BATTERY", "TXN TODAY",
              "NOT BACKED UP")
    rows = []
    for r in fleet.get("hosts", []):
        consumables = r.get("consumables") or {}
        battery = consumables.get("battery_charge_pct")
        health = consumables.get("battery_health_pct")
        rows.append((
            r.get("host") or "-", _cell(r.get("store")), _cell(r.get("model")), _cell(r.get("firmware")),
            str(r.get("status", "-")).upper() if r.get("status") != "healthy" else "healthy",
            maintenance_cell(r),
            _cell(consumables.get("paper_pct"), "%"),
            "-" if battery is None else f"{battery}% (health {_cell(health, '%')})",
            _cell((r.get("journal") or {}).get("transactions_today")),
            recovery_cell(r),
        ))
    rows += [(host, "-", "-", "-", "UNREACHABLE", "-", "-", "-", "-", "-") for host in fleet.get("unreachable", [])]
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


def _maintenance_html(record):
    cell = maintenance_cell(record)
    if cell.startswith("STALE"):
        return rr.badge(cell.lower(), CHECK_COLOURS["fail"])
    return _esc(cell)


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
            rr.badge(r.get("status", "unknown")), _maintenance_html(r), _bar(paper, paper_colour),
            f"{_bar(battery, '#2e7d32')}{health_note}",
            _esc((r.get("journal") or {}).get("transactions_today")), _esc(recovery_cell(r)),
            _check_strip(r.get("checks") or []),
        ])
    rows += [[_esc(host), rr.badge(rr.UNREACHABLE), "no result from this run"] + [""] * 8
             for host in fleet.get("unreachable", [])]
    attention = []
    for r, error, p in _attention(fleet):
        if error:
            attention.append(f"<b>{_esc(r['host'])}</b>: error: {_esc(error)}")
        else:
            status = p.get("status")
            attention.append(f"<b>{_esc(r['host'])}</b>: {rr.badge(status, CHECK_COLOURS.get(status))} "
                             f"{_esc(p.get('name'))}: {_esc(p.get('reason'))}")
    header = ("terminal", "store", "model", "firmware", "status", "maintenance", "paper", "battery", "txn today",
              "not backed up", "checks")
    return rr.html_report(title, fleet, header, rows, attention)
