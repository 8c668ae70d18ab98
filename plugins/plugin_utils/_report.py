# Copyright (c) posfleet developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Controller-side fleet reports: one record per terminal, a fleet roll-up, and a text summary.

Records are built from what a run left per host (facts, self-test result or error), so the roll-up reads
files only and works across AWX job slices.
"""

from __future__ import annotations

import datetime
import html

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


# --- HTML -------------------------------------------------------------------------------------------------

STATUS_COLOURS = {
    "healthy": "#2e7d32", "attention": "#f9a825", "unhealthy": "#c62828",
    "error": "#6a1b9a", "unknown": "#757575", "unreachable": "#37474f",
}
CHECK_COLOURS = {"pass": "#2e7d32", "warn": "#f9a825", "fail": "#c62828", "not_applicable": "#bdbdbd"}


def _esc(value):
    return html.escape("-" if value is None else str(value), quote=True)


def _bar(pct, colour, width=120):
    """A horizontal gauge for a percentage (paper, battery)."""
    if pct is None:
        return "-"
    filled = max(0.0, min(100.0, float(pct))) * width / 100
    return (f'<svg width="{width + 40}" height="14" role="img" aria-label="{_esc(pct)}%">'
            f'<rect width="{width}" height="12" rx="3" fill="#eceff1"/>'
            f'<rect width="{filled:.1f}" height="12" rx="3" fill="{colour}"/>'
            f'<text x="{width + 4}" y="11" font-size="11">{_esc(pct)}%</text></svg>')


def _status_chart(counts, total):
    """One stacked bar of the fleet by status, with a legend."""
    width, x, parts, legend = 600, 0.0, [], []
    for status, colour in STATUS_COLOURS.items():
        n = counts.get(status, 0)
        if not n:
            continue
        w = width * n / max(total, 1)
        parts.append(f'<rect x="{x:.1f}" width="{w:.1f}" height="28" fill="{colour}">'
                     f'<title>{n} {status}</title></rect>')
        legend.append(f'<span class="dot" style="background:{colour}"></span>{n} {status}')
        x += w
    return (f'<svg width="{width}" height="28" role="img" aria-label="terminals by status">{"".join(parts)}</svg>'
            f'<div class="legend">{" ".join(legend)}</div>')


def _check_strip(checks):
    cells = []
    for c in checks:
        colour = CHECK_COLOURS.get(c.get("status"), "#757575")
        cells.append(f'<span class="chk" style="background:{colour}" title="{_esc(c.get("name"))}: '
                     f'{_esc(c.get("status"))} - {_esc(c.get("reason"))}"></span>')
    return "".join(cells)


def fleet_html(fleet, title="POS fleet report"):
    """A self-contained HTML page of a fleet record: status chart, one row per terminal, what needs attention."""
    rows = []
    for r in fleet.get("hosts", []):
        consumables = r.get("consumables") or {}
        paper, battery = consumables.get("paper_pct"), consumables.get("battery_charge_pct")
        status = r.get("status", "unknown")
        health = consumables.get("battery_health_pct")
        health_note = "" if health is None else f"<div class='sub'>health {_esc(health)}%</div>"
        paper_colour = "#c62828" if (paper or 0) < 5 else "#f9a825" if (paper or 0) < 20 else "#1565c0"
        rows.append(
            "<tr>"
            f"<td>{_esc(r.get('host'))}<div class='sub'>{_esc(r.get('terminal_id'))}</div></td>"
            f"<td>{_esc(r.get('store'))}</td><td>{_esc(r.get('model'))}</td><td>{_esc(r.get('firmware'))}</td>"
            f"<td><span class='badge' style='background:{STATUS_COLOURS.get(status, '#757575')}'>"
            f"{_esc(status)}</span></td>"
            f"<td>{_bar(paper, paper_colour)}</td>"
            f"<td>{_bar(battery, '#2e7d32')}{health_note}</td>"
            f"<td>{_esc((r.get('journal') or {}).get('transactions_today'))}</td>"
            f"<td>{_check_strip(r.get('checks') or [])}</td>"
            "</tr>")
    for host in fleet.get("unreachable", []):
        rows.append(f"<tr><td>{_esc(host)}</td><td colspan=4><span class='badge' "
                    f"style='background:{STATUS_COLOURS['unreachable']}'>unreachable</span></td>"
                    "<td colspan=4>no result from this run</td></tr>")
    problems = []
    for r in fleet.get("hosts", []):
        if r.get("error"):
            problems.append(f"<li><b>{_esc(r['host'])}</b>: error: {_esc(r['error'])}</li>")
        for p in r.get("problems") or []:
            problems.append(f"<li><b>{_esc(r['host'])}</b>: <span class='badge' style='background:"
                            f"{CHECK_COLOURS.get(p.get('status'), '#757575')}'>{_esc(p.get('status'))}</span> "
                            f"{_esc(p.get('name'))}: {_esc(p.get('reason'))}</li>")
    counts = fleet.get("counts") or {}
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{_esc(title)}</title>
<style>
body{{font-family:system-ui,-apple-system,"Segoe UI",sans-serif;margin:24px;color:#263238}}
h1{{font-size:22px;margin:0 0 4px}} .meta{{color:#607d8b;margin-bottom:16px}}
table{{border-collapse:collapse;margin-top:18px;width:100%}}
th,td{{text-align:left;padding:6px 10px;border-bottom:1px solid #eceff1;font-size:13px;vertical-align:middle}}
th{{background:#f5f7f8;font-weight:600}} .sub{{color:#78909c;font-size:11px}}
.badge{{color:#fff;border-radius:10px;padding:2px 8px;font-size:12px}}
.legend{{margin-top:6px;font-size:13px}}
.dot{{display:inline-block;width:10px;height:10px;border-radius:5px;margin:0 4px 0 12px}}
.chk{{display:inline-block;width:12px;height:12px;margin-right:2px;border-radius:2px}}
li{{margin:4px 0;font-size:13px}}
</style></head><body>
<h1>{_esc(title)}</h1>
<div class="meta">run {_esc(fleet.get('run_id'))} &middot; {_esc(fleet.get('terminals', 0))} terminals</div>
{_status_chart(counts, fleet.get('terminals', 0))}
<table><thead><tr><th>terminal</th><th>store</th><th>model</th><th>firmware</th><th>status</th><th>paper</th>
<th>battery</th><th>txn today</th><th>checks</th></tr></thead><tbody>
{"".join(rows)}
</tbody></table>
<h2 style="font-size:16px;margin-top:22px">Needs attention</h2>
<ul>{"".join(problems) or "<li>nothing</li>"}</ul>
</body></html>
"""
