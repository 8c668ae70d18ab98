# Copyright (c) posfleet developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Merchant notices (texts, outbox, apprise delivery to a local webhook), grouping, run records, summary."""

from __future__ import annotations

import http.server
import json
import threading

import pytest

from ansible_collections.posfleet.terminals.plugins.plugin_utils import (
    _maintenance_report,
    _notice,
    _notice_due,
    _tier_ledger,
)

NOTICE = {"window_start": "2026-10-07T18:00:00Z", "window_end": "2026-10-07T21:00:00Z", "timezone": "Asia/Shanghai",
          "window_start_local": "2026-10-08T02:00:00+08:00", "window_end_local": "2026-10-08T05:00:00+08:00",
          "tiers": [{"tier": "weekly", "description": "Connections, application updates, data backup",
                     "duration_minutes": 20}], "duration_minutes": 20}


def test_zh_cn_text():
    title, body = _notice.render("zh-CN", "南京路店", NOTICE, ["sh01-t100-01", "sh01-m200-01"])
    assert title == "【收款终端维护通知】南京路店 2026-10-08 02:00–05:00"
    assert "2026年10月08日 02:00 至 05:00（Asia/Shanghai 当地时间）" in body
    assert "2 台收款终端" in body and "约 20 分钟" in body
    assert "\u201c功能维护中\u201d" in body and "每周维护" in body and "结算" in body
    assert "sh01-m200-01, sh01-t100-01" in body


def test_english_text():
    title, body = _notice.render("en", "sh01", NOTICE, ["sh01-t100-01"])
    assert title == "POS terminal maintenance: sh01, 2026-10-08 02:00-05:00 Asia/Shanghai"
    assert "Thursday 08 October 2026 between 02:00 and 05:00 local time" in body
    assert "Under maintenance" in body and "about 20 minutes" in body and "settle the day's batch" in body


def test_german_text():
    berlin = dict(NOTICE, timezone="Europe/Berlin", window_start_local="2026-10-05T02:00:00+02:00",
                  window_end_local="2026-10-05T05:00:00+02:00")
    title, body = _notice.render("de", "ber01", berlin, ["ber01-t100-01", "ber01-m200-01"])
    assert title == "Wartung Ihrer Kartenterminals: ber01, 05.10.2026 02:00–05:00 Uhr (Europe/Berlin)"
    assert "am Montag, 5. Oktober 2026 zwischen 02:00 und 05:00 Uhr Ortszeit (Europe/Berlin)" in body
    assert "Ihre 2 Kartenterminal(s)" in body and "etwa 20 Minuten" in body and "Wöchentliche Wartung" in body
    assert "\u201eIn Wartung\u201c" in body and "Tagesabschluss" in body
    assert "Betroffene Terminals: ber01-m200-01, ber01-t100-01" in body


def test_an_admins_template_replaces_the_collections(tmp_path):
    (tmp_path / "notice.en.j2").write_text(
        "Maintenance {{ merchant }} {{ start.strftime('%H:%M') }}\n\n{{ terminals | join(' ') }}: "
        "{{ tiers | map(attribute='tier') | join(',') }} ({{ duration_minutes }} min)\n", encoding="utf-8")
    title, body = _notice.render("en", "sh01", NOTICE, ["b", "a"], str(tmp_path))
    assert (title, body) == ("Maintenance sh01 02:00", "a b: weekly (20 min)\n")
    # A language the admin's directory has no template for comes from the collection.
    assert _notice.render("de", "sh01", NOTICE, ["a"], str(tmp_path))[0].startswith("Wartung Ihrer Kartenterminals")


def test_a_missing_or_broken_template_is_an_error(tmp_path):
    with pytest.raises(_notice.NoticeTemplateError, match=r"no notice template notice\.fr\.j2 in .*Fix: add it"):
        _notice.render("fr", "sh01", NOTICE, ["a"])
    (tmp_path / "notice.en.j2").write_text("{{ no_such_variable }}\n", encoding="utf-8")
    with pytest.raises(_notice.NoticeTemplateError, match=r"notice\.en\.j2: 'no_such_variable' is undefined"):
        _notice.render("en", "sh01", NOTICE, ["a"], str(tmp_path))
    with pytest.raises(_notice.NoticeTemplateError, match="not a language tag"):
        _notice.render("../en", "sh01", NOTICE, ["a"])


def test_outbox(tmp_path):
    name = _notice.outbox_name("sh 01", NOTICE["window_start"], "zh-CN")
    assert name == "sh_01-20261007T180000Z.zh-CN.txt"
    path = _notice.write_outbox(str(tmp_path / "outbox"), name, "T", "B\n")
    with open(path, encoding="utf-8") as handle:
        assert handle.read() == "Subject: T\n\nB\n"
    assert (tmp_path / "outbox" / name).stat().st_mode & 0o777 == 0o640


@pytest.fixture
def webhook():
    received = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802 - the http.server API
            length = int(self.headers.get("Content-Length", 0))
            received.append(json.loads(self.rfile.read(length)))
            self.send_response(200)
            self.end_headers()

        def log_message(self, *args):
            pass

    server = http.server.HTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"json://127.0.0.1:{server.server_port}/notices", received
    server.shutdown()


def test_apprise_delivery_to_a_webhook(webhook):
    pytest.importorskip("apprise")
    url, received = webhook
    title, body = _notice.render("en", "sh01", NOTICE, ["sh01-t100-01"])
    ok, channels = _notice.send([url], title, body)
    assert ok and channels == 1
    assert received[0]["title"] == title and "Under maintenance" in received[0]["message"]


def test_apprise_failure_is_reported():
    pytest.importorskip("apprise")
    ok, channels = _notice.send(["json://127.0.0.1:9/closed"], "t", "b")
    assert not ok and channels == 1
    ok, channels = _notice.send(["notascheme://x"], "t", "b")
    assert not ok and channels == 0


def test_notice_groups_one_per_store_and_window():
    other = dict(NOTICE, tiers=[{"tier": "monthly", "description": "Full", "duration_minutes": 40}],
                 duration_minutes=40)
    groups = _notice_due.notice_groups([
        {"host": "b", "store": "sh01", "merchant": "M", "notice": NOTICE},
        {"host": "a", "store": "sh01", "merchant": "M", "notice": other},
        {"host": "c", "store": "sh01", "merchant": "M", "notice": None},
        {"host": "d", "store": "ber01", "merchant": "B", "notice": dict(NOTICE, window_start="x")},
    ])
    assert [(g["store"], g["terminals"]) for g in groups] == [("ber01", ["d"]), ("sh01", ["a", "b"])]
    assert [t["tier"] for t in groups[1]["notice"]["tiers"]] == ["weekly", "monthly"]
    assert groups[1]["notice"]["duration_minutes"] == 60
    assert NOTICE["duration_minutes"] == 20 and len(NOTICE["tiers"]) == 1   # inputs untouched


def test_records_and_summary():
    plan = {"now": "2026-10-07T19:10:00Z", "status": "partial", "run": ["daily"], "due": [{"tier": "daily"}],
            "deferred": [{"tier": "weekly", "codes": ["unsettled"], "reason": "3 approved transaction(s) unsettled",
                          "next_window_start": "2026-10-08T18:00:00Z",
                          "next_window_start_local": "2026-10-09T02:00:00+08:00"},
                         {"tier": "monthly", "codes": ["unsettled"], "reason": "3 approved transaction(s) unsettled",
                          "next_window_start": "2026-10-08T18:00:00Z",
                          "next_window_start_local": "2026-10-09T02:00:00+08:00"}],
            "skipped_steps": ["step settlement check of tier daily skipped: role x is not installed yet"]}
    ok = _maintenance_report.host_record("sh01-t100-01", "R1", plan, {"daily": "ok"}, store="sh01")
    assert ok["status"] == "partial" and ok["ran"] == ["daily"]
    bad = _maintenance_report.host_record("sh01-t100-02", "R1", dict(plan, deferred=[]), {"daily": "selftest: printer"})
    assert bad["status"] == "failed" and bad["failed"] == {"daily": "selftest: printer"} and bad["ran"] == []
    summary = _maintenance_report.fleet_summary([ok, bad], run_id="R1",
                                                expected=["sh01-t100-01", "sh01-t100-02", "sh01-m200-01"])
    assert summary["counts"] == {"partial": 1, "failed": 1, "unreachable": 1}
    text = summary["text"]
    assert "sh01-t100-01: weekly, monthly deferred (unsettled): 3 approved transaction(s) unsettled; next window " \
           "2026-10-09T02:00:00+08:00" in text
    assert "daily FAILED: selftest: printer (retried in the next window)" in text
    assert ("sh01-m200-01: no record of this run: the terminal was unreachable (or the run ended before it); "
            "due tiers stay due") in text
    assert "Steps skipped (role not installed yet):" in text


def test_a_tier_with_steps_missing_is_reported_partial():
    plan = {"now": "2026-10-05T01:10:00Z", "status": "run", "run": ["daily", "weekly"], "covered": {},
            "due": [{"tier": "daily"}, {"tier": "weekly"}], "deferred": [],
            "steps": [{"id": 0, "tier": "daily", "run_tier": "daily", "name": "facts", "available": True},
                      {"id": 1, "tier": "weekly", "run_tier": "weekly", "name": "connections", "available": True},
                      {"id": 2, "tier": "weekly", "run_tier": "weekly", "name": "application updates",
                       "available": False, "notice": "step application updates of tier weekly skipped: role "
                                                     "posfleet.terminals.software is not installed yet"}],
            "tier_steps": {"daily": [0], "weekly": [1, 2]}}
    outcomes = _tier_ledger.tier_outcomes(plan, {}, [0, 1])
    rec = _maintenance_report.host_record("ber01-m200-01", "R1", plan, outcomes, store="ber01")
    assert rec["status"] == "partial" and rec["ran"] == ["daily", "weekly"] and rec["failed"] == {}
    assert rec["partial"] == {"weekly": [plan["steps"][2]["notice"]]}
    text = _maintenance_report.fleet_summary([rec], run_id="R1")["text"]
    assert ("ber01-m200-01: weekly PARTIAL: step application updates of tier weekly skipped: role "
            "posfleet.terminals.software is not installed yet (not a success: the tier stays due") in text
    every_step = _tier_ledger.tier_outcomes(plan, {}, [0, 1, 2])
    assert _maintenance_report.host_record("ber01-m200-01", "R1", plan, every_step)["status"] == "partial"
    done = dict(plan, steps=[dict(s, available=True) for s in plan["steps"]])
    every_step = _tier_ledger.tier_outcomes(done, {}, [0, 1, 2])
    assert _maintenance_report.host_record("ber01-m200-01", "R1", done, every_step)["status"] == "run"
