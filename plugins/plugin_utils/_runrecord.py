# Copyright (c) posfleet developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The run-record layer on the controller: one record per terminal per run, one fleet roll-up, one writer per
format (JSON, text, HTML, JUnit XML) and one atomic file writer.

Every concern (health report, maintenance timetable, PCI evidence) builds its per-host content in its own file
and hands it to ``host_record``, which adds what every record carries: who ran it, when, what changed and the
versions before and after. The fleet roll-up reads nothing but those per-host records (files on the
controller), so it works under ``--limit`` and across AWX job slices; a host the run targeted that left no
record of the run is reported as unreachable, by ``rollup`` only.

The run is named once per run by ``resolve_run``: ``posfleet_run_id`` in one format (``RUN_ID_FORMAT``, UTC) and
``posfleet_results_dir`` (the variable, else ``$POSFLEET_RESULTS_DIR``, else ``results``).
"""

from __future__ import annotations

import datetime
import getpass
import glob
import html
import json
import os
import xml.etree.ElementTree as ET

from ansible_collections.posfleet.terminals.plugins.module_utils import _io
from ansible_collections.posfleet.terminals.plugins.module_utils._untrusted import json_safe, loads, one_line, xml_text

RUN_ID_FORMAT = "%Y%m%dT%H%M%SZ"
TIME_FORMAT = "%Y-%m-%dT%H:%M:%SZ"
RESULTS_DIR_ENV = "POSFLEET_RESULTS_DIR"
DEFAULT_RESULTS_DIR = "results"
UNREACHABLE = "unreachable"
UNREACHABLE_ERROR = "no record of this run: the terminal was unreachable (or the run ended before it)"


class RunRecordError(Exception):
    """A record or report could not be read or written; the message says which file and what to do."""


def _utcnow():
    return datetime.datetime.now(datetime.timezone.utc)


def new_run_id(now=None):
    """The id of a new run: its UTC start time in ``RUN_ID_FORMAT``."""
    return (now or _utcnow()).astimezone(datetime.timezone.utc).strftime(RUN_ID_FORMAT)


def resolve_run(results_dir=None, run_id=None, environ=None):
    """``{"posfleet_results_dir", "posfleet_run_id"}`` of this run: the values given (inventory, extra vars,
    an AWX job), else ``$POSFLEET_RESULTS_DIR`` or ``results`` and a new run id."""
    environ = os.environ if environ is None else environ
    return {
        "posfleet_results_dir": results_dir or environ.get(RESULTS_DIR_ENV) or DEFAULT_RESULTS_DIR,
        "posfleet_run_id": run_id or new_run_id(),
    }


def who(user=None):
    """Who ran the job: the AWX/AAP user when given, else the controller account."""
    if user:
        return str(user)
    try:
        return getpass.getuser()
    except Exception:  # no passwd entry in some containers
        return os.environ.get("USER") or "unknown"


def host_record(host, run_id, status, error=None, changed=None, versions_before=None, versions_after=None,
                user=None, recorded_at=None, **content):
    """One terminal's record of a run: the common keys, then the concern's own ``content``.

    ``changed`` lists what the run changed on the terminal (empty for a read-only run); ``versions_before`` /
    ``versions_after`` map a component (firmware, a package) to its version; a read-only run passes the same
    versions as before and after.
    """
    record = {
        "host": host,
        "run_id": run_id,
        "recorded_at": recorded_at or _utcnow().strftime(TIME_FORMAT),
        "who": who(user),
        "status": status,
        "error": error or None,
        "changed": list(changed or []),
        "versions": {"before": dict(versions_before or {}), "after": dict(versions_after or {})},
    }
    record.update(content)
    return record


def unreachable_record(host, run_id, **content):
    """The placeholder of a targeted terminal that left no record of the run (no one ran anything on it)."""
    return host_record(host, run_id, UNREACHABLE, error=UNREACHABLE_ERROR, recorded_at="", user="-", **content)


def rollup(records, run_id="", expected=None):
    """The fleet record of one run from per-host records only.

    Keeps the records of ``run_id`` (all when empty), one per host (the latest), sorted by host; every host of
    ``expected`` without a record is listed in ``unreachable`` and counted as such.
    """
    latest = {}
    for record in records or []:
        if not isinstance(record, dict) or not record.get("host"):
            continue
        if run_id and record.get("run_id") != run_id:
            continue
        known = latest.get(record["host"])
        if known is None or (record.get("recorded_at") or "") >= (known.get("recorded_at") or ""):
            latest[record["host"]] = record
    hosts = [latest[name] for name in sorted(latest)]
    missing = sorted(set(expected or []) - set(latest))
    counts = {}
    for record in hosts:
        status = record.get("status") or "unknown"
        counts[status] = counts.get(status, 0) + 1
    if missing:
        counts[UNREACHABLE] = counts.get(UNREACHABLE, 0) + len(missing)
    return {"run_id": run_id, "terminals": len(hosts) + len(missing), "counts": counts, "hosts": hosts,
            "unreachable": missing}


def as_fleet(value, run_id="", expected=None):
    """A fleet record from a fleet record (returned as it is) or a list of per-host records (rolled up)."""
    if isinstance(value, dict) and "hosts" in value and "counts" in value:
        return value
    return rollup(value, run_id=run_id, expected=expected)


def counts_line(counts):
    return ", ".join(f"{n} {s}" for s, n in sorted((counts or {}).items())) or "no results"


# --- files ------------------------------------------------------------------------------------------------

def _failure(path, exc):
    directory = os.path.dirname(os.path.abspath(path))
    if isinstance(exc, TimeoutError):
        return RunRecordError(f"controller: write {path}: {exc.strerror or exc}. Fix: wait for the other run to end, "
                              "or end it (a killed run releases the lock)")
    return RunRecordError(f"controller: write {path}: {exc.strerror or exc}. Fix: make {directory} writable "
                          "by the controller account (posfleet_results_dir)")


def atomic_write(path, text, mode=0o640):
    """Write ``text`` to ``path`` under its directory's lock (``_io.locked``: flock on ``.posfleet.lock`` next to
    it) with the collection's one atomic writer (``module_utils/_io.py``: temp file in the same directory, fsync,
    rename, fsync of the directory), the directory created 0750. The controller's one writer of state and results (run
    records, fleet files, the notice outbox, the ledger cache through ``update_json``); a failure names what to
    fix."""
    try:
        with _io.locked(path, dir_mode=0o750):
            _io.atomic_write(path, text, mode=mode, dir_mode=0o750)
    except OSError as exc:
        raise _failure(path, exc) from None
    return path


def update_json(path, update, mode=0o640):
    """Read-merge-write of the JSON document at ``path`` under its lock: ``update(current)`` (None when the file is
    missing or not a JSON object) returns the new document, written atomically when it differs. So a run that
    read an old copy cannot overwrite what another run wrote meanwhile. Returns ``(before, after)``."""
    try:
        with _io.locked(path, dir_mode=0o750):
            try:
                with open(path, encoding="utf-8") as handle:
                    before = json.load(handle)
            except (FileNotFoundError, ValueError):
                before = None
            before = before if isinstance(before, dict) else None
            after = update(before)
            if after != before:
                _io.atomic_write(path, to_json(after), mode=mode, dir_mode=0o750)
    except OSError as exc:
        raise _failure(path, exc) from None
    return before, after


def records_dir(concern_dir):
    return os.path.join(concern_dir, "hosts")


def host_record_path(concern_dir, host):
    return os.path.join(records_dir(concern_dir), f"{host}.json")


def write_host_record(concern_dir, record):
    """Write a per-host record to ``<concern_dir>/hosts/<host>.json``; returns the path."""
    return atomic_write(host_record_path(concern_dir, record["host"]), to_json(record))


def read_records(concern_dir):
    """Every per-host record under ``<concern_dir>/hosts`` (any run; ``rollup`` keeps one)."""
    records = []
    for path in sorted(glob.glob(os.path.join(records_dir(concern_dir), "*.json"))):
        try:
            with open(path, encoding="utf-8") as handle:
                records.append(loads(handle.read()))  # a NaN an older release wrote reads as the string 'NaN'
        except (OSError, ValueError) as exc:
            raise RunRecordError(f"controller: read {path}: {exc}. Fix: remove or repair the file; the next run "
                                 "writes it again") from None
    return records


# --- writers: one per format ------------------------------------------------------------------------------

def to_json(value):
    """JSON as Ansible's ``to_nice_json`` writes it (sorted keys, 4 spaces), with a final newline. Always valid
    JSON: a non-finite number (JSON has no NaN) is written as null."""
    try:
        text = json.dumps(value, indent=4, sort_keys=True, ensure_ascii=False, allow_nan=False)
    except ValueError:  # a NaN or an infinity somewhere: the copy without them (only then, it costs a walk)
        text = json.dumps(json_safe(value), indent=4, sort_keys=True, ensure_ascii=False, allow_nan=False)
    return text + "\n"


def text_report(title, header, rows, sections=(), align=None):
    """A fixed-width text report: the title line, a table (widths from the cells; ``align`` a string of
    ``l``/``r`` per column), then each ``(heading, lines)`` section that has lines, as a list.

    Every cell and line is made one line (``_untrusted.one_line``): a value from a terminal cannot start a row."""
    cells = [tuple("-" if c is None else one_line(c) for c in row) for row in rows]
    table = [tuple(one_line(c) for c in header)] + cells
    align = align or "l" * len(header)
    widths = [max(len(row[i]) for row in table) for i in range(len(header))]
    lines = [one_line(title)]
    for row in table:
        cells = [cell.rjust(widths[i]) if align[i] == "r" else cell.ljust(widths[i]) for i, cell in enumerate(row)]
        lines.append("  ".join(cells).rstrip())
    for heading, items in sections:
        if items:
            lines += ["", f"{one_line(heading)}:"] + [f"  - {one_line(item)}" for item in items]
    return "\n".join(lines) + "\n"


STATUS_COLOURS = {
    "healthy": "#2e7d32", "compliant": "#2e7d32", "run": "#2e7d32", "idle": "#78909c", "attention": "#f9a825",
    "partial": "#f9a825", "deferred": "#1565c0", "unhealthy": "#c62828", "failed": "#c62828",
    "not_compliant": "#c62828", "error": "#6a1b9a", "unknown": "#757575", UNREACHABLE: "#37474f",
}


def esc(value):
    """Text for HTML (an element or a quoted attribute): markup escaped, control characters made visible."""
    return html.escape("-" if value is None else one_line(value), quote=True)


def badge(status, colour=None):
    return (f"<span class='badge' style='background:{colour or STATUS_COLOURS.get(status, '#757575')}'>"
            f"{esc(status)}</span>")


def _status_chart(counts, total):
    """One stacked bar of the fleet by status, with a legend."""
    width, x, parts, legend = 600, 0.0, [], []
    for status, n in sorted((counts or {}).items()):
        colour = STATUS_COLOURS.get(status, "#757575")
        w = width * n / max(total, 1)
        parts.append(f'<rect x="{x:.1f}" width="{w:.1f}" height="28" fill="{colour}">'
                     f'<title>{esc(n)} {esc(status)}</title></rect>')
        legend.append(f'<span class="dot" style="background:{colour}"></span>{esc(n)} {esc(status)}')
        x += w
    return (f'<svg width="{width}" height="28" role="img" aria-label="terminals by status">{"".join(parts)}</svg>'
            f'<div class="legend">{" ".join(legend)}</div>')


def html_report(title, fleet, header, rows, attention=()):
    """A self-contained HTML page of a fleet record: the status chart, a table (``rows``: lists of cells that
    are already HTML) and the items that need attention (HTML)."""
    head = "".join(f"<th>{esc(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{cell}</td>" for cell in row) + "</tr>" for row in rows)
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{esc(title)}</title>
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
<h1>{esc(title)}</h1>
<div class="meta">run {esc(fleet.get('run_id'))} &middot; {esc(fleet.get('terminals', 0))} terminals</div>
{_status_chart(fleet.get('counts'), fleet.get('terminals', 0))}
<table><thead><tr>{head}</tr></thead><tbody>
{body}
</tbody></table>
<h2 style="font-size:16px;margin-top:22px">Needs attention</h2>
<ul>{"".join(f"<li>{item}</li>" for item in attention) or "<li>nothing</li>"}</ul>
</body></html>
"""


def junit_report(name, suites):
    """JUnit XML from ``[(suite name, [case, ...])]``; a case is a dict with ``classname``, ``name``, ``outcome``
    (``pass``, ``failure``, ``error``, ``skipped``), ``message``, ``type`` and ``text``.

    Always well-formed: ElementTree escapes markup, and the characters XML forbids even escaped (NUL, ESC, ...)
    become visible escapes first (``_untrusted.xml_text``)."""
    root = ET.Element("testsuites", name=xml_text(name))
    totals = dict.fromkeys(("tests", "failures", "errors", "skipped"), 0)
    for suite_name, cases in suites:
        suite = ET.SubElement(root, "testsuite", name=xml_text(suite_name))
        counts = dict.fromkeys(totals, 0)
        for case in cases:
            element = ET.SubElement(suite, "testcase", classname=xml_text(case["classname"]),
                                    name=xml_text(case["name"]))
            counts["tests"] += 1
            outcome = case.get("outcome", "pass")
            if outcome == "pass":
                ET.SubElement(element, "system-out").text = xml_text(case.get("text", ""))
                continue
            attrs = {"message": xml_text(case.get("message", ""))}
            if case.get("type"):
                attrs["type"] = xml_text(case["type"])
            child = ET.SubElement(element, outcome, **attrs)
            if case.get("text"):
                child.text = xml_text(case["text"])
            counts["failures" if outcome == "failure" else "errors" if outcome == "error" else "skipped"] += 1
        for key, value in counts.items():
            suite.set(key, str(value))
            totals[key] += value
    for key, value in totals.items():
        root.set(key, str(value))
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"
