# Copyright (c) posfleet developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The ledger's files: check mode, write, check again, write again (community.crypto's sequence); the merge by
entry time; two processes writing one copy at once (the terminal's, the controller's cache) lose nothing; a crash
before the rename leaves the old file."""

from __future__ import annotations

import contextlib
import json
import multiprocessing
import os
import subprocess
import sys

import pytest

from ansible_collections.posfleet.terminals.plugins.module_utils import _io, _ledger
from ansible_collections.posfleet.terminals.plugins.plugin_utils import _runrecord

DOC = {"host": "t1", "tiers": {"daily": {"last_success": "2026-10-07T19:10:00Z"}}}


def test_check_run_check_run(tmp_path):
    path = str(tmp_path / "var" / "lib" / "posfleet" / "ledger.json")
    assert _ledger.write(path, DOC, check_mode=True) == (True, None, DOC)
    assert not os.path.exists(os.path.dirname(path))  # check mode writes nothing, not even the lock file
    assert _ledger.write(path, DOC) == (True, None, DOC)
    assert _ledger.write(path, DOC, check_mode=True) == (False, DOC, DOC)
    assert _ledger.write(path, DOC) == (False, DOC, DOC)
    with open(path, encoding="utf-8") as handle:
        assert json.load(handle) == DOC
    assert os.stat(path).st_mode & 0o777 == 0o644
    assert sorted(os.listdir(os.path.dirname(path))) == [".posfleet.lock", "ledger.json"]


def test_update_and_malformed(tmp_path):
    path = str(tmp_path / "ledger.json")
    with open(path, "w", encoding="utf-8") as handle:
        handle.write("{not json")
    assert _ledger.read(path) is None
    changed, before, dummy = _ledger.write(path, DOC)
    assert changed and before is None
    newer = dict(DOC, updated="x")
    assert _ledger.write(path, newer) == (True, DOC, newer)


def attempt(at, result="ok", error=None):
    entry = {"last_attempt": at, "last_result": result, "last_error": error}
    if result == "ok":
        entry["last_success"] = at
    return entry


OLD = {
    "host": "t1", "updated": "2026-10-05T01:10:00Z",
    "tiers": {"daily": attempt("2026-10-05T01:10:00Z"),
              "weekly": dict(attempt("2026-10-01T01:10:00Z", "failed", "acquirer down"),
                             last_success="2026-09-22T01:10:00Z")},
    "notices": [{"window_start": "2026-10-05T01:00:00Z", "sent_at": "2026-10-01T08:00:00Z"}],
    "overrides": [{"reason": "CHG-1", "at": "2026-10-01T01:10:00Z", "tiers": ["weekly"]}],
}
# Another run (or controller) that started from an older copy: it retried weekly, was deferred for daily.
NEW = {
    "host": "t1", "updated": "2026-10-07T19:10:00Z",
    "tiers": {"weekly": attempt("2026-10-07T19:10:00Z"),
              "daily": dict(attempt("2026-10-01T01:10:00Z"), last_deferred="2026-10-07T19:10:00Z",
                            last_deferred_reason="outside the window")},
    "notices": [{"window_start": "2026-10-08T01:00:00Z", "sent_at": "2026-10-07T08:00:00Z"},
                {"window_start": "2026-10-05T01:00:00Z", "sent_at": "2026-09-30T08:00:00Z"}],
    "overrides": [{"reason": "CHG-2", "at": "2026-10-07T19:20:00Z", "tiers": ["weekly"]}],
}


@pytest.mark.parametrize("first, second", [(OLD, NEW), (NEW, OLD)])
def test_merge_keeps_each_event_where_it_is_newer(first, second):
    merged = _ledger.merge(first, second)
    assert merged["tiers"]["daily"] == dict(attempt("2026-10-05T01:10:00Z"), last_deferred="2026-10-07T19:10:00Z",
                                            last_deferred_reason="outside the window")
    assert merged["tiers"]["weekly"] == attempt("2026-10-07T19:10:00Z")
    assert [n["sent_at"] for n in merged["notices"]] == ["2026-10-01T08:00:00Z", "2026-10-07T08:00:00Z"]
    assert [o["reason"] for o in merged["overrides"]] == ["CHG-1", "CHG-2"]
    assert merged["updated"] == "2026-10-07T19:10:00Z"


@pytest.mark.parametrize("ledger", [OLD, NEW, {}, {"host": "t1"}])
def test_merge_is_idempotent(ledger):
    assert _ledger.merge(ledger, ledger) == _ledger.merge(None, _ledger.merge(ledger, ledger))
    assert _ledger.merge(_ledger.merge(OLD, NEW), ledger) == _ledger.merge(_ledger.merge(OLD, NEW), ledger)
    assert _ledger.merge(OLD, OLD) == OLD


def test_merge_takes_a_partial_attempt_whole():
    # A tier done in part, then whole: the later attempt has no missing steps, and the merge must not bring the
    # earlier attempt's list back, in either order of the copies.
    partial = {"tiers": {"weekly": {"last_attempt": "2026-10-05T01:10:00Z", "last_result": "partial",
                                    "missing_steps": ["application updates"]}}}
    whole = {"tiers": {"weekly": {"last_attempt": "2026-10-12T01:10:00Z", "last_result": "ok",
                                  "last_success": "2026-10-12T01:10:00Z"}}}
    for merged in (_ledger.merge(partial, whole), _ledger.merge(whole, partial)):
        assert merged["tiers"]["weekly"]["last_result"] == "ok"
        assert "missing_steps" not in merged["tiers"]["weekly"]
    later_partial = {"tiers": {"weekly": dict(partial["tiers"]["weekly"], last_attempt="2026-10-19T01:10:00Z")}}
    assert _ledger.merge(whole, later_partial)["tiers"]["weekly"]["missing_steps"] == ["application updates"]


def test_merge_trims_notices_and_overrides():
    many = {"notices": [{"window_start": f"w{i:03}", "sent_at": f"2026-10-{i % 28 + 1:02}T00:00:{i % 60:02}Z"}
                        for i in range(60)]}
    assert len(_ledger.merge(many, {})["notices"]) == _ledger.NOTICES_KEPT


def _terminal_write(path, entry):
    _ledger.write(path, entry, merge_with_current=True)


def _cache_write(path, entry):
    _runrecord.update_json(path, lambda current: _ledger.merge(current, entry))


def _record_tiers(write, path, writer, count, start):
    """One run: ``count`` tiers of its own, each recorded from a copy read before the other run wrote (as a run
    plans from the ledger it read at its start, then records)."""
    start.wait()
    for i in range(count):
        write(path, {"host": "t1", "tiers": {f"{writer}-{i}": attempt(f"2026-10-07T19:{i % 60:02}:00Z")}})


def two_runs_at_once(write, path, count=80):
    """Two processes recording ``count`` tiers each into ``path`` at the same time; the tiers found after."""
    context = multiprocessing.get_context("fork")
    start = context.Event()
    writers = [context.Process(target=_record_tiers, args=(write, path, name, count, start)) for name in ("a", "b")]
    for writer in writers:
        writer.start()
    start.set()
    for writer in writers:
        writer.join(60)
        assert writer.exitcode == 0
    return sorted((_ledger.read(path) or {}).get("tiers") or {})


@pytest.mark.parametrize("write", [_terminal_write, _cache_write], ids=["terminal", "controller-cache"])
def test_two_processes_writing_at_once_lose_no_entry(tmp_path, write):
    path = str(tmp_path / "ledger" / "t1.json")
    assert two_runs_at_once(write, path) == sorted(f"{name}-{i}" for name in ("a", "b") for i in range(80))
    assert sorted(os.listdir(tmp_path / "ledger")) == [".posfleet.lock", "t1.json"]


def test_the_lock_is_what_keeps_them(tmp_path, monkeypatch):
    """The same two writers without the lock lose entries (so the test above can fail)."""
    monkeypatch.setattr(_io, "locked", lambda path, **kwargs: contextlib.nullcontext())
    assert len(two_runs_at_once(_terminal_write, str(tmp_path / "ledger.json"))) < 160


CRASH = """
import os, sys
sys.path[:0] = {path!r}
from ansible_collections.posfleet.terminals.plugins.module_utils import _ledger
os.replace = lambda src, dst: os._exit(9)  # the power goes between the fsync of the new file and the rename
_ledger.write({target!r}, {{"host": "t1", "tiers": {{}}, "updated": "new"}}, merge_with_current=True)
"""


def test_a_crash_before_the_rename_leaves_the_old_file(tmp_path):
    target = str(tmp_path / "ledger.json")
    _ledger.write(target, DOC)
    crashed = subprocess.run([sys.executable, "-c", CRASH.format(path=sys.path, target=target)], check=False)
    assert crashed.returncode == 9
    assert _ledger.read(target) == DOC
    # The next write takes the lock the dead process held (the kernel released it) and succeeds.
    assert _ledger.write(target, dict(DOC, updated="next"), merge_with_current=True)[0]
    assert _ledger.read(target)["updated"] == "next"


def test_a_lock_held_too_long_is_an_error_naming_it(tmp_path):
    target = str(tmp_path / "ledger.json")
    with _io.locked(target):
        child = subprocess.run([sys.executable, "-c", f"import sys; sys.path[:0] = {sys.path!r}\n"
                                "from ansible_collections.posfleet.terminals.plugins.module_utils import _io\n"
                                f"with _io.locked({target!r}, timeout=0.3): pass"],
                               capture_output=True, text=True, check=False)
    assert child.returncode != 0
    assert ".posfleet.lock held by another run" in child.stderr
