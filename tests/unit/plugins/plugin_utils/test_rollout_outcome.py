# Copyright (c) posfleet developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The one home of an update's outcome (both roles and update.yml), the package revert and the per-host record."""

from __future__ import annotations

import pytest

from ansible_collections.posfleet.terminals.plugins.plugin_utils import _rollout as ro

PKG = "posfleet-emv-kernel"
TARGET = [{"name": PKG, "version": "7.1.2"}]


@pytest.mark.parametrize("result,kind,status", [
    ({"changed": True, "previous_version": "2.3.1", "version": "2.4.0"}, "firmware", "updated"),
    ({"changed": False, "previous_version": "2.4.0", "version": "2.4.0"}, "firmware", "unchanged"),
    ({"failed": True, "rolled_back": True, "reason": "gate"}, "firmware", "rolled_back"),
    ({"failed": True, "refused": ["model"], "msg": "refused"}, "firmware", "refused"),
    ({"failed": True, "msg": "boom"}, "firmware", "failed"),
    ({"unreachable": True, "msg": "ssh"}, "firmware", "unreachable"),
    ({"changed": True, "previous_versions": {PKG: "7.1.1"}, "versions": {PKG: "7.1.2"}}, "software", "updated"),
    ({"changed": False, "previous_versions": {PKG: "7.1.2"}, "versions": {PKG: "7.1.2"}}, "software", "unchanged"),
    ({"failed": True, "rolled_back": True, "reason": "health gate failed"}, "software", "rolled_back"),
    # The software module refuses by failing before any change, with refused: true.
    ({"failed": True, "refused": True, "msg": "terminal T1: software: the terminal is not in maintenance mode"},
     "software", "refused"),
    ({"failed": True, "msg": "terminal T1: software: the terminal is not in maintenance mode"}, "software", "failed"),
    # A failed rollback carries rolled_back: false and no refused: failed, counted.
    ({"failed": True, "rolled_back": False, "reason": "install failed; the rollback failed too",
      "msg": "terminal T1: software: install failed"}, "software", "failed"),
    ({"failed": True, "msg": "the firmware said nothing was changed"}, "firmware", "failed"),
    (None, "software", "failed"),
])
def test_status_of_each_result(result, kind, status):
    assert ro.outcome(result, kind, TARGET if kind == "software" else "2.4.0")["status"] == status


def test_software_outcome_keeps_both_shapes_of_the_versions():
    found = ro.outcome({"changed": True, "previous_versions": {PKG: None, "b": "1"},
                        "versions": {PKG: "7.1.2", "b": "1"}, "out_of_service_s": 3.1,
                        "bytes_transferred": 526596}, "software", TARGET,
                       {"status": "not_available"})
    assert found["packages_before"] == {PKG: None, "b": "1"}
    assert found["previous_version"] == f"b 1, {PKG} (none)"
    assert found["version"] == f"b 1, {PKG} 7.1.2"
    assert found["target_version"] == f"{PKG} 7.1.2"
    assert (found["out_of_service_s"], found["bytes_transferred"], found["reason"]) == (3.1, 526596, None)
    assert found["backup"] == {"status": "not_available"}
    assert set(ro.OUTCOME_KEYS) - {"wave"} <= set(found)


def test_firmware_outcome_has_the_keys_the_role_wrote():
    found = ro.outcome({"failed": True, "rolled_back": True, "reason": "selftest", "previous_version": "2.3.1",
                        "version": "2.3.1", "out_of_service_s": 30.0}, "firmware", "2.4.0")
    assert found == {"status": "rolled_back", "kind": "firmware", "reason": "selftest", "out_of_service_s": 30.0,
                     "bytes_transferred": None, "backup": None, "previous_version": "2.3.1", "version": "2.3.1",
                     "target_version": "2.4.0"}
    # A failure without a reason of its own gives the task's message.
    assert ro.outcome({"failed": True, "msg": "x"}, "firmware")["reason"] == "x"
    assert ro.outcome({"changed": True, "msg": "all good"}, "firmware")["reason"] is None


def test_unknown_kind_names_the_fix():
    with pytest.raises(ro.RolloutError, match="Fix: give firmware or software"):
        ro.outcome({}, "bios")


def test_software_host_record_lists_the_packages_that_moved():
    outcome = ro.outcome({"changed": True, "previous_versions": {PKG: "7.1.1", "b": "1"},
                          "versions": {PKG: "7.1.2", "b": "1"}}, "software", TARGET)
    record = ro.host_record("t1", "r1", dict(outcome, wave=0))
    assert record["status"] == "updated" and record["changed"] == [PKG]
    assert record["versions"] == {"before": {PKG: "7.1.1", "b": "1"}, "after": {PKG: "7.1.2", "b": "1"}}
    assert record["packages_before"] == {PKG: "7.1.1", "b": "1"} and record["kind"] == "software"
    moved = ro.outcome({"changed": True, "previous_version": "2.3.1", "version": "2.4.0"})
    firmware = ro.host_record("t1", "r1", moved)
    assert firmware["changed"] == ["firmware"] and firmware["versions"]["after"] == {"firmware": "2.4.0"}


def test_revert_from_a_repository_takes_the_old_versions():
    packages = [{"name": PKG, "version": "7.1.2"}, {"name": "b", "version": "2"}, {"name": "c", "version": "1"}]
    plan = ro.revert_packages({PKG: "7.1.1", "b": "2"}, packages, repository="deb http://r/ ./")
    assert plan == {"packages": [{"name": PKG, "version": "7.1.1"}, {"name": "b", "version": "2"}], "problems": []}


def test_revert_cannot_remove_a_new_package_and_takes_a_deb_it_cannot_find_from_the_terminal_cache():
    plan = ro.revert_packages({PKG: None, "b": "1"}, [{"name": PKG, "version": "7.1.2", "deb": "/d/x.deb"},
                                                      {"name": "b", "version": "2", "deb": "/d/b_2_all.deb"}],
                              find_deb=lambda new, name, version: None)
    # b's old .deb is not beside the new one: given without a deb, the module takes it from the terminal's cache.
    assert plan["packages"] == [{"name": "b", "version": "1"}]
    assert len(plan["problems"]) == 1 and "was not installed before the update" in plan["problems"][0]


def test_revert_finds_the_old_deb_beside_the_new_one(tmp_path):
    # Imported here, not at collection: the filter pulls in controller code that changes how modules report warnings.
    from ansible_collections.posfleet.terminals.plugins.filter import rollout as rollout_filter

    old = tmp_path / f"{PKG}_7.1.1_all.deb"
    old.write_bytes(b"x")
    (tmp_path / f"{PKG}_7.1.10_all.deb").write_bytes(b"y")  # another version, not a prefix match
    new = str(tmp_path / f"{PKG}_7.1.2_all.deb")
    plan = rollout_filter.software_revert_packages({PKG: "1:7.1.1"}, [{"name": PKG, "version": "7.1.2", "deb": new}])
    assert plan == {"packages": [{"name": PKG, "version": "1:7.1.1", "deb": str(old)}], "problems": []}
    missing = rollout_filter.software_revert_packages({PKG: "7.0.0"}, [{"name": PKG, "version": "7.1.2", "deb": new}])
    assert missing == {"packages": [{"name": PKG, "version": "7.0.0"}], "problems": []}


def test_deb_file_name_drops_the_epoch():
    assert ro.deb_file_name("p", "2:1.0-1", "amd64") == "p_1.0-1_amd64.deb"
