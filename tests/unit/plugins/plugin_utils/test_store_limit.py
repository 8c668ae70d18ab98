# Copyright (c) posfleet developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The store limit: batches that never take a store's last serving terminal out of service."""

from __future__ import annotations

import os

import pytest
import yaml

from ansible_collections.posfleet.terminals.plugins.plugin_utils import _plan, _tier_ledger
from ansible_collections.posfleet.terminals.plugins.plugin_utils import _store_limit as sl

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))))
with open(os.path.join(REPO, "roles", "timetable", "defaults", "main.yml"), encoding="utf-8") as _handle:
    TIERS = yaml.safe_load(_handle)["posfleet_timetable_tiers"]
BERLIN = {"timezone": "Europe/Berlin", "country": "DE", "subdiv": "BE"}


def row(host, store="s1", takes_out=True, out=False, limit=None, override=False):
    return {"host": host, "store": store, "takes_out": takes_out, "out": out, "limit": limit, "override": override}


def batch_of(result):
    return {h: e["batch"] for h, e in result["hosts"].items()}


@pytest.mark.parametrize("size, limit, expected", [
    (2, None, [["a"], ["b"]]),                     # default: all but one, the other one trading
    (3, None, [["a", "b"], ["c"]]),
    (4, 1, [["a"], ["b"], ["c"], ["d"]]),
    (4, 2, [["a", "b"], ["c", "d"]]),
    (3, 5, [["a", "b"], ["c"]]),                   # a limit above the store never takes the last one out
    (1, None, [["a"]]),                            # one terminal: worked on, the window gate decides when
])
def test_batches_by_store_size_and_limit(size, limit, expected):
    rows = [row(h, limit=limit) for h in "abcd"[:size]]
    assert sl.layout(rows)["batches"] == expected


def test_at_every_batch_a_terminal_of_each_store_serves():
    rows = [row(f"{s}-{i}", store=s) for s in ("s1", "s2", "s3") for i in range(int(s[1]) + 1)]
    result = sl.layout(rows)
    for batch in result["batches"]:
        for store, info in result["stores"].items():
            out = [h for h in batch if result["hosts"][h]["store"] == store]
            assert len(out) <= info["terminals"] - 1 or info["terminals"] == 1
    assert sorted(h for b in result["batches"] for h in b) == sorted(r["host"] for r in rows)
    # Stores go side by side (2, 3 and 4 terminals: 1, 2 and 3 per batch): two batches, not the sum.
    assert len(result["batches"]) == 2


def test_sorted_by_name_whatever_the_order_given():
    rows = [row("rs01-t100-01"), row("rs01-m200-01")]
    assert sl.layout(rows)["batches"] == [["rs01-m200-01"], ["rs01-t100-01"]]


def test_unreachable_terminal_counts_as_out_and_the_last_one_serving_waits():
    rows = [row("a", takes_out=False, out=True), row("b")]
    result = sl.layout(rows)
    assert result["batches"] == []
    assert result["hosts"]["b"]["batch"] is None
    assert result["hosts"]["b"]["deferred"].startswith("store limit: store s1 has 1 of its 2 terminals serving (a ")
    assert result["stores"]["s1"] == {"terminals": 2, "serving": 1, "limit": 1, "per_batch": 0}


def test_out_terminals_reduce_the_batch_size():
    rows = [row("a", takes_out=False, out=True), row("b"), row("c"), row("d")]
    assert sl.layout(rows)["batches"] == [["b", "c"], ["d"]]


def test_a_terminal_already_out_of_service_goes_first_without_using_capacity():
    rows = [row("a", out=True), row("b"), row("c")]
    assert batch_of(sl.layout(rows)) == {"a": 0, "b": 0, "c": 1}


def test_terminals_not_taken_out_stay_serving_and_outside_the_batches():
    rows = [row("a", takes_out=False), row("b"), row("c")]
    result = sl.layout(rows)
    assert result["batches"] == [["b", "c"]]
    assert result["hosts"]["a"] == {"store": "s1", "batch": None, "deferred": None}


def test_terminals_without_a_store_are_each_a_store_of_their_own():
    result = sl.layout([row("x", store=None), row("y", store="")])
    assert result["batches"] == [["x", "y"]]
    assert set(result["stores"]) == {"(x)", "(y)"}


def test_emergency_override_takes_the_last_one_serving_alone():
    rows = [row("a", takes_out=False, out=True), row("b", override=True), row("c", override=True, out=True)]
    result = sl.layout(rows)
    assert batch_of(result) == {"a": None, "b": 0, "c": 0}
    rows = [row("a", takes_out=False, out=True), row("b", override=True), row("c", override=True)]
    assert sl.layout(rows)["batches"] == [["b"], ["c"]]


@pytest.mark.parametrize("value", [0, -1, "0", "two", 1.5, True, [1]])
def test_bad_limit_is_refused_with_the_store_and_the_fix(value):
    with pytest.raises(sl.StoreLimitError, match=r"^store s1: posfleet_store_max_out_of_service is .* Fix: "):
        sl.layout([row("a", limit=value), row("b", limit=value)])


@pytest.mark.parametrize("value, expected", [(None, None), ("", None), (" ", None), (1, 1), ("3", 3), (7, 7)])
def test_limit_values(value, expected):
    assert sl.limit_value("s1", value) == expected


def test_a_limit_that_differs_within_a_store_is_refused():
    with pytest.raises(sl.StoreLimitError, match=r"^store s1: .* differs between its terminals .* Fix: set it once"):
        sl.layout([row("a", limit=1), row("b", limit=2)])


def test_a_row_without_host_is_refused():
    with pytest.raises(sl.StoreLimitError):
        sl.layout([{"store": "s1"}])


def test_waiting_on_earlier_batches_of_the_same_store_only():
    result = sl.layout([row("a"), row("b"), row("c"), row("x", store="s2"), row("y", store="s2")])
    assert sl.waiting_on(result, "a", []) == []
    assert sl.waiting_on(result, "c", ["a"]) == ["b"]
    assert sl.waiting_on(result, "c", ["a", "b"]) == []
    assert sl.waiting_on(result, "y", ["a"]) == ["x"]
    assert sl.waiting_on(result, "nobody", []) == []


def weekly_plan():
    ledger = {"notices": [{"window_start": "2026-11-24T01:00:00Z", "sent_at": "2026-11-22T10:00:00Z"}]}
    # Tuesday 24 November 2026, 03:20 in Berlin: daily and weekly due and allowed.
    plan = _plan.plan("rs01-t100-01", TIERS, calendar=BERLIN, ledger=ledger, now="2026-11-24T03:20:00+01:00",
                      journal={"unsettled_count": 0}, only=["daily", "weekly"])
    assert plan["run"] == ["daily", "weekly"] and plan["interrupts_trading"], plan
    return plan


def test_defer_plan_keeps_what_does_not_interrupt_trading():
    plan = weekly_plan()
    result = sl.defer_plan(plan, TIERS, "store limit: no", calendar=BERLIN)
    assert result["run"] == ["daily"]
    assert not result["interrupts_trading"]
    assert {s["run_tier"] for s in result["steps"]} == {"daily"}
    assert result["status"] == "partial"
    weekly = [d for d in result["deferred"] if d["tier"] == "weekly"]
    assert weekly[0]["codes"] == ["store_limit"] and weekly[0]["reason"] == "store limit: no"
    # The next window after this one: Wednesday 02:00 in Berlin.
    assert weekly[0]["next_window_start_local"] == "2026-11-25T02:00:00+01:00"
    assert plan["run"] == ["daily", "weekly"]  # the input is not changed
    # The ledger keeps weekly due: deferred, no success recorded.
    ledger = _tier_ledger.record({}, "rs01-t100-01", result, now="2026-11-24T03:21:00+01:00")
    assert "last_success" not in ledger["tiers"]["weekly"]
    assert ledger["tiers"]["weekly"]["last_deferred_reason"] == "store limit: no"


def test_defer_plan_everything_and_covered_tiers():
    plan = weekly_plan()
    result = sl.defer_plan(plan, TIERS, "waiting", calendar=BERLIN, everything=True)
    assert result["run"] == [] and result["steps"] == [] and result["status"] == "deferred"
    assert [d["tier"] for d in result["deferred"]] == ["daily", "weekly"]
    covering = dict(plan, run=["annual"], covered={"daily": "annual", "weekly": "annual"})
    result = sl.defer_plan(covering, TIERS, "waiting", calendar=BERLIN)
    assert result["run"] == [] and result["covered"] == {} and result["records"] == []
    assert [d["tier"] for d in result["deferred"]] == ["daily", "weekly", "annual"]


def test_defer_plan_without_interrupting_tiers_is_unchanged():
    plan = dict(weekly_plan(), run=["daily"], interrupts_trading=False)
    assert sl.defer_plan(plan, TIERS, "x", calendar=BERLIN) == plan


def test_filter_counts_terminals_without_row_or_unreachable_as_out():
    from ansible_collections.posfleet.terminals.plugins.filter import store_limit as flt
    rows = [dict(row("a"), host="a"), dict(row("b"), host="b"), dict(row("c"), host="c")]
    # d never wrote a row (it failed earlier), c became unreachable after writing one.
    result = flt.store_batches(["a", "b", "c", "d"], rows, reachable=["a", "b"], stores={"d": "s1"})
    assert result["stores"]["s1"] == {"terminals": 4, "serving": 2, "limit": 3, "per_batch": 1}
    assert result["batches"] == [["a"], ["b"]]
    assert result["hosts"]["c"]["batch"] is None


def test_filter_in_serial_waves_counts_other_waves_as_serving():
    from ansible_collections.posfleet.terminals.plugins.filter import store_limit as flt
    # A store of three in serial waves: a's row is left from the first wave, c's wave has not started, b is worked on
    # now. Without the batch, c (no row) would count as out of service and a would be taken out again.
    rows = [dict(row("a"), host="a"), dict(row("b"), host="b")]
    result = flt.store_batches(["a", "b", "c"], rows, reachable=["a", "b", "c"], stores={"c": "s1"}, batch=["b"])
    assert result["stores"]["s1"]["serving"] == 3
    assert result["batches"] == [["b"]]
    assert result["hosts"]["a"]["batch"] is None
    # A terminal of another wave that is gone counts as out.
    gone = flt.store_batches(["a", "b", "c"], rows, reachable=["a", "b"], stores={"c": "s1"}, batch=["b"])
    assert gone["stores"]["s1"]["serving"] == 2 and gone["batches"] == [["b"]]
