"""State of the scenario's terminals after the daily tier and the maintenance sequence (testinfra)."""

import json
import os

import pytest

RESULTS = os.path.join(os.environ.get("POSFLEET_RESULTS_DIR", ""), "daily")


def test_services_run(host):
    assert host.process.filter(comm="sshd"), "sshd is not running"
    assert any("posd" in p.args for p in host.process.filter(user="root")), "posd is not running"


def test_back_in_service(host):
    state = json.loads(host.file("/var/lib/posd/maintenance.json").content_string)
    assert state["enabled"] is False


JOURNAL_QUERY = """
import sqlite3
db = sqlite3.connect("file:/var/lib/posd/journal.db?mode=ro", uri=True)
print(db.execute("PRAGMA journal_mode").fetchone()[0])
print(db.execute("SELECT count(*) FROM transactions WHERE training = 1").fetchone()[0])
print(db.execute("SELECT count(*) FROM transactions WHERE pan_masked NOT GLOB ?",
                 ("[0-9][0-9][0-9][0-9][0-9][0-9]*[*][0-9][0-9][0-9][0-9]",)).fetchone()[0])
"""


def test_journal_is_wal_with_masked_pans(host):
    mode, training, unmasked = host.check_output("python3 -c %s", JOURNAL_QUERY).split()
    assert mode == "wal"
    assert int(training) >= 2, "the daily self-test (converge + idempotence) sends a training transaction each run"
    assert int(unmasked) == 0, "every stored PAN is BIN + masked middle + last four"


def test_test_receipt_printed(host):
    assert host.file("/var/lib/posd/receipts.log").contains("TEST")


@pytest.mark.parametrize("name", ["fleet.json", "summary.txt"])
def test_fleet_results_written(name):
    assert os.path.getsize(os.path.join(RESULTS, name)) > 0


def test_fleet_record_lists_both_terminals_healthy():
    with open(os.path.join(RESULTS, "fleet.json")) as handle:
        fleet = json.load(handle)
    assert {h["host"]: h["status"] for h in fleet["hosts"]} == {
        "sh01-t100-01": "healthy",
        "ber01-m200-01": "healthy",
    }
    assert fleet["unreachable"] == []
