"""The run-record layer: records, roll-up, unreachable hosts, run naming, writers, atomic files (pure logic)."""

from __future__ import annotations

import datetime
import json
import os
import xml.etree.ElementTree as ET

import pytest

from ansible_collections.posfleet.terminals.plugins.plugin_utils import _runrecord as rr


def test_record_carries_who_when_what_changed_and_versions():
    record = rr.host_record("t1", "R1", "run", changed=["daily"], versions_before={"firmware": "2.2.0"},
                            versions_after={"firmware": "2.3.1"}, user="awx-alice", store="sh01")
    assert record["who"] == "awx-alice" and record["store"] == "sh01"
    assert record["changed"] == ["daily"]
    assert record["versions"] == {"before": {"firmware": "2.2.0"}, "after": {"firmware": "2.3.1"}}
    datetime.datetime.strptime(record["recorded_at"], rr.TIME_FORMAT)


def test_rollup_keeps_this_run_latest_record_per_host_and_lists_the_unreachable():
    records = [
        rr.host_record("b", "R2", "healthy", recorded_at="2026-01-01T00:00:01Z"),
        rr.host_record("b", "R2", "error", error="x", recorded_at="2026-01-01T00:00:02Z"),  # a rerun
        rr.host_record("a", "R2", "healthy"),
        rr.host_record("c", "R1", "healthy"),  # an older run
        {"no": "host"},
    ]
    fleet = rr.rollup(records, run_id="R2", expected=["a", "b", "c", "d"])
    assert [h["host"] for h in fleet["hosts"]] == ["a", "b"]
    assert fleet["hosts"][1]["status"] == "error"
    assert fleet["unreachable"] == ["c", "d"]
    assert fleet["counts"] == {"healthy": 1, "error": 1, "unreachable": 2}
    assert fleet["terminals"] == 4
    assert rr.as_fleet(fleet) is fleet


def test_resolve_run_once_in_one_format():
    run = rr.resolve_run(environ={})
    assert run["posfleet_results_dir"] == "results"
    datetime.datetime.strptime(run["posfleet_run_id"], rr.RUN_ID_FORMAT)
    assert rr.resolve_run(environ={"POSFLEET_RESULTS_DIR": "/srv/r"})["posfleet_results_dir"] == "/srv/r"
    assert rr.resolve_run("/x", "AWX-42", environ={"POSFLEET_RESULTS_DIR": "/srv/r"}) == {
        "posfleet_results_dir": "/x", "posfleet_run_id": "AWX-42"}
    stamp = datetime.datetime(2026, 10, 7, 3, 4, 5, tzinfo=datetime.timezone(datetime.timedelta(hours=8)))
    assert rr.new_run_id(stamp) == "20261006T190405Z"


def test_records_are_written_atomically_and_read_back(tmp_path):
    record = rr.host_record("t1", "R1", "healthy")
    path = rr.write_host_record(str(tmp_path), record)
    assert path == str(tmp_path / "hosts" / "t1.json")
    assert oct(os.stat(path).st_mode & 0o777) == "0o640"
    assert json.loads((tmp_path / "hosts" / "t1.json").read_text()) == record
    rr.write_host_record(str(tmp_path), dict(record, status="error"))
    assert [r["status"] for r in rr.read_records(str(tmp_path))] == ["error"]
    assert sorted(os.listdir(tmp_path / "hosts")) == [".posfleet.lock", "t1.json"]  # no temp file left


def test_unreadable_record_names_the_file(tmp_path):
    (tmp_path / "hosts").mkdir()
    (tmp_path / "hosts" / "t1.json").write_text("{")
    with pytest.raises(rr.RunRecordError, match=r"t1\.json.*Fix: remove or repair"):
        rr.read_records(str(tmp_path))


def test_write_into_an_unwritable_place_says_what_to_fix(tmp_path):
    (tmp_path / "file").write_text("")
    with pytest.raises(rr.RunRecordError, match="Fix: make .* writable"):
        rr.atomic_write(str(tmp_path / "file" / "x.json"), "{}")


def test_json_writer_matches_to_nice_json():
    assert rr.to_json({"b": 1, "a": [1]}) == '{\n    "a": [\n        1\n    ],\n    "b": 1\n}\n'


def test_text_report_aligns_columns_and_skips_empty_sections():
    text = rr.text_report("T", ("NAME", "N"), [("long-name", 1), ("x", None)], [("Empty", []), ("Notes", ["n"])],
                          align="lr")
    assert text.splitlines() == ["T", "NAME       N", "long-name  1", "x          -", "", "Notes:", "  - n"]


def test_html_report_escapes_the_title_and_draws_the_chart():
    fleet = rr.rollup([rr.host_record("a", "R", "healthy")], "R", ["a", "b"])
    page = rr.html_report("<b>x</b>", fleet, ("host",), [["a"]], ["<i>ok</i>"])
    assert "<title>&lt;b&gt;x&lt;/b&gt;</title>" in page
    assert "<title>1 unreachable</title>" in page and "<li><i>ok</i></li>" in page


def test_junit_counts_each_outcome():
    root = ET.fromstring(rr.junit_report("n", [("h", [
        {"classname": "h", "name": "a", "outcome": "pass", "text": "ok"},
        {"classname": "h", "name": "b", "outcome": "failure", "message": "m", "type": "high", "text": "fix"},
        {"classname": "h", "name": "c", "outcome": "error", "message": "e"},
        {"classname": "h", "name": "d", "outcome": "skipped", "message": "s"},
    ])]))
    assert (root.get("tests"), root.get("failures"), root.get("errors"), root.get("skipped")) == ("4", "1", "1", "1")
    assert root.find("testsuite/testcase/failure").text == "fix"


def test_update_json_unchanged_is_not_written_and_reports_before_and_after(tmp_path):
    path = str(tmp_path / "doc.json")
    assert rr.update_json(path, lambda current: {"a": 1}) == (None, {"a": 1})
    assert oct(os.stat(path).st_mode & 0o777) == "0o640"
    mtime = os.stat(path).st_mtime_ns
    assert rr.update_json(path, dict) == ({"a": 1}, {"a": 1})
    assert os.stat(path).st_mtime_ns == mtime


def test_atomic_write_takes_the_files_lock(tmp_path):
    """Another run's writer waits for the lock; one held past the timeout is an error that says what to do, and
    the file keeps its content."""
    from ansible_collections.posfleet.terminals.plugins.module_utils import _io

    path = str(tmp_path / "outbox" / "n.txt")
    rr.atomic_write(path, "old")
    with _io.locked(path):
        pid = os.fork()
        if pid == 0:  # another run, while this one holds the lock
            _io.LOCK_TIMEOUT = 0.2
            try:
                rr.atomic_write(path, "new")
            except rr.RunRecordError as exc:
                os._exit(0 if "Fix: wait for the other run to end" in str(exc) else 2)
            os._exit(1)
        dummy, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    with open(path, encoding="utf-8") as handle:
        assert handle.read() == "old"
