# Copyright (c) posfleet developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The records of a restore drill run: one per terminal (what ``posfleet.terminals.restore_drill`` found), and the
fleet's roll-up with its text summary (results/drill/).

Private to the collection (leading underscore): it may change without notice.
"""

from __future__ import annotations

from ansible_collections.posfleet.terminals.plugins.plugin_utils import _runrecord

PASSED = "passed"
FAILED = "failed"


def host_record(host, run_id, drill=None, error=None, user=None):
    """One terminal's drill record: ``passed`` only when the drill ran and found no problem; a drill that could
    not run (no repository configured, the task failed before the drill) is ``failed`` with the ``error``."""
    drill = drill or {}
    problems = list(drill.get("problems") or [])
    if error and not problems:
        problems = [error]
    status = PASSED if drill.get("passed") and not problems else FAILED
    scan = drill.get("pan_scan") or {}
    return _runrecord.host_record(
        host, run_id, status, error=None if status == PASSED else "; ".join(problems) or "the drill did not run",
        user=user,
        terminal_id=drill.get("terminal_id") or host,
        snapshot_id=drill.get("snapshot_id"),
        snapshot_time=drill.get("snapshot_time"),
        age_hours=drill.get("age_hours"),
        journal_rows=drill.get("journal_rows"),
        recorded_rows=drill.get("recorded_rows"),
        journal_last_txn_id=drill.get("journal_last_txn_id"),
        recorded_last_txn_id=drill.get("recorded_last_txn_id"),
        pan_count=scan.get("pan_count"),
        sad_count=scan.get("sad_count"),
        pan_where=list(scan.get("where") or []),
        restore_s=drill.get("restore_s"),
        duration_s=drill.get("duration_s"),
        problems=problems,
    )


def _shown(value, missing="-"):
    return missing if value is None else str(value)


def fleet_summary(records, run_id="", expected=None):
    """The fleet roll-up of a drill run (``_runrecord.rollup``) with ``text``: a row per terminal and, under
    Problems, each failed terminal's reasons; a terminal that left no record is unreachable (not drilled)."""
    fleet = _runrecord.as_fleet(records, run_id=run_id, expected=expected)
    current = sorted(list(fleet["hosts"]) + [_runrecord.unreachable_record(host, fleet["run_id"], problems=[])
                                             for host in fleet["unreachable"]], key=lambda r: r["host"])
    rows, problems = [], []
    for rec in current:
        rows.append((rec["host"], rec["status"], (rec.get("snapshot_id") or "-")[:8], _shown(rec.get("age_hours")),
                     f'{_shown(rec.get("journal_rows"), "?")}/{_shown(rec.get("recorded_rows"), "?")}',
                     _shown(rec.get("pan_count")), _shown(rec.get("restore_s"))))
        if rec["status"] != PASSED:
            problems += [f"{rec['host']}: {reason}" for reason in rec.get("problems") or [rec.get("error")]]
    title = (f"Restore drill {fleet['run_id']}: {fleet['terminals']} terminals, "
             f"{_runrecord.counts_line(fleet['counts'])}")
    text = _runrecord.text_report(title, ("HOST", "STATUS", "SNAPSHOT", "AGE_H", "ROWS", "PANS", "RESTORE_S"), rows,
                                  [("Problems", problems)])
    return dict(fleet, hosts=current, text=text, passed=not problems and bool(current))
