# Copyright (c) posfleet developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Rollout order, wave sizes, error thresholds, revert targets and the fleet summary of update.yml."""

from __future__ import annotations

import pytest

from ansible_collections.posfleet.terminals.plugins.plugin_utils import _rollout as ro


@pytest.mark.parametrize("total,waves,expected", [
    (1, ro.DEFAULT_WAVES, [1]),
    (6, ro.DEFAULT_WAVES, [1, 1, 1, 3]),
    (100, ro.DEFAULT_WAVES, [1, 10, 30, 59]),
    (20, ro.DEFAULT_WAVES, [1, 2, 6, 11]),
    (5, [2], [2, 2, 1]),
    (5, ["50%"], [2, 2, 1]),
    (0, ro.DEFAULT_WAVES, []),
])
def test_wave_sizes_follow_serial(total, waves, expected):
    assert ro.wave_sizes(total, waves) == expected
    assert sum(expected) == total


@pytest.mark.parametrize("bad", [-1, "ten", "150%", True, None])
def test_bad_wave_size_names_the_fix(bad):
    with pytest.raises(ro.RolloutError, match="posfleet_update_waves"):
        ro.wave_sizes(4, [bad])


@pytest.mark.parametrize("wave,size,expected", [(0, 1, 0), (1, 9, 0), (1, 10, 1), (2, 30, 3), (5, 59, 5)])
def test_default_thresholds(wave, size, expected):
    assert ro.allowed_failures(wave, size) == expected


def test_threshold_counts_and_bad_values():
    assert ro.allowed_failures(0, 5, [2]) == 2
    assert ro.allowed_failures(3, 5, ["2"]) == 2
    with pytest.raises(ro.RolloutError, match="posfleet_update_max_failures"):
        ro.allowed_failures(0, 5, ["some"])


def test_order_rings_then_stores_take_turns():
    hosts = ["b2", "a1", "a2", "a3", "b1", "c1", "x9"]
    stores = {"a1": "sa", "a2": "sa", "a3": "sa", "b1": "sb", "b2": "sb", "c1": "sc", "x9": "sx"}
    rings = {"ring_canary": ["c1"], "ring_early": ["a1", "b1", "c1"]}
    assert ro.order(hosts, ro.DEFAULT_RINGS, rings, stores) == ["c1", "a1", "b1", "a2", "b2", "x9", "a3"]
    assert ro.ring_of("c1", ro.DEFAULT_RINGS, rings) == "ring_canary"
    assert ro.ring_of("a3", ro.DEFAULT_RINGS, rings) is None


def test_order_ignores_ring_members_outside_the_play():
    assert ro.order(["a1"], ro.DEFAULT_RINGS, {"ring_canary": ["zz", "a1"]}, {}) == ["a1"]


def test_verdict_counts_failures_not_refusals():
    outcomes = {"h1": {"status": "updated"}, "h2": {"status": "refused", "reason": "battery 12%"},
                "h3": {"status": "rolled_back", "reason": "self-test: card_reader"}}
    result = ro.verdict(1, ["h1", "h2", "h3"], outcomes, [0, "10%"])
    assert result["failed"] == ["h3"] and result["allowed"] == 0 and result["crossed"] is True
    assert result["reasons"]["h3"] == "self-test: card_reader"
    calm = ro.verdict(1, ["h1", "h2"], outcomes, [0, "10%"])
    assert calm["crossed"] is False and calm["failed"] == []


def test_verdict_a_terminal_without_outcome_counts():
    result = ro.verdict(0, ["h1"], {}, [0])
    assert result["crossed"] is True and "no outcome" in result["reasons"]["h1"]


def test_revert_targets_are_the_updated_only():
    outcomes = {"h1": {"status": "updated"}, "h2": {"status": "unchanged"}, "h3": {"status": "rolled_back"},
                "h0": {"status": "updated"}}
    assert ro.revert_targets(outcomes) == ["h0", "h1"]


def test_summary_lists_moves_reasons_and_the_stop():
    outcomes = {"h1": {"status": "reverted", "previous_version": "2.3.1", "version": "2.3.1", "out_of_service_s": 61.5,
                       "reason": "wave 2 crossed its threshold"},
                "h2": {"status": "rolled_back", "previous_version": "2.3.1", "version": "2.3.1",
                       "reason": "health gate: card_reader", "out_of_service_s": 70}}
    verdicts = [ro.verdict(0, ["h1"], {"h1": {"status": "updated"}}), ro.verdict(1, ["h2"], outcomes)]
    result = ro.summary(["h1", "h2", "h3"], outcomes, verdicts, stopped_at=1)
    assert result["counts"]["not_started"] == 1 and result["counts"]["reverted"] == 1
    assert result["text"].splitlines()[0] == ("3 terminals: 1 rolled back, 1 not started, 1 reverted; stopped at "
                                              "wave 2: 1 failed of 1, 0 allowed")
    assert "h2: rolled_back, 2.3.1 -> 2.3.1, 70 s out of service (health gate: card_reader)" in result["text"]


def test_wave_of_matches_the_sizes():
    ordered = [f"h{i}" for i in range(20)]
    waves = [ro.wave_of(h, ordered) for h in ordered]
    assert waves == [0] + [1] * 2 + [2] * 6 + [3] * 11
    assert ro.wave_of("nope", ordered) is None


def test_plan_keeps_a_terminal_of_every_store_serving():
    stores = {"a1": "sa", "a2": "sa", "a3": "sa", "b1": "sb", "b2": "sb", "c1": "sc"}
    ordered = ro.order(list(stores), ro.DEFAULT_RINGS, {}, stores)
    result = ro.plan(ordered, ro.DEFAULT_WAVES, stores)
    assert sum(result["sizes"]) == 6 and sorted(result["order"]) == sorted(stores)
    start = 0
    for size in result["sizes"]:
        wave = result["order"][start:start + size]
        start += size
        for store in ("sa", "sb"):
            serving = [h for h, s in stores.items() if s == store and h not in wave]
            assert serving, (wave, store)
    # The waves as serial runs them give each terminal its wave.
    assert ro.wave_of(result["order"][0], result["order"], result["sizes"]) == 0


def test_plan_honours_a_store_limit_and_single_terminal_stores():
    stores = {"a1": "sa", "a2": "sa", "a3": "sa", "a4": "sa", "z1": "sz"}
    result = ro.plan(sorted(stores), ["100%"], stores, {"sa": 1})
    assert result["sizes"] == [2, 1, 1, 1]
    assert result["order"][:2] == ["a1", "z1"]


def test_the_plan_gives_every_terminal_its_wave_once_as_serial_runs_them():
    from ansible_collections.posfleet.terminals.plugins.filter.rollout import rollout_wave

    stores = {f"h{i}": f"s{i % 4}" for i in range(23)}
    ordered = ro.order(list(stores), ro.DEFAULT_RINGS, {}, stores)
    result = ro.plan(ordered, ro.DEFAULT_WAVES, stores)
    assert set(result["wave_of"]) == set(stores)
    for wave in range(len(result["sizes"])):
        for host in ro.batch(result["order"], result["sizes"], wave):
            assert result["wave_of"][host] == wave == ro.wave_of(host, result["order"], result["sizes"])
            assert rollout_wave(result, host) == wave
    assert rollout_wave(result, "nope") is None
    # A plan without the map (made by hand) is answered the same way.
    bare = {"order": result["order"], "sizes": result["sizes"]}
    assert [rollout_wave(bare, h) for h in result["order"]] == [result["wave_of"][h] for h in result["order"]]
    assert ro.wave_index([], ro.DEFAULT_WAVES) == {}
