"""tests/fixtures/firmware/make_bundles.yml, for real: ansible-playbook runs firmware_bundle on this controller
into a temporary directory (twice: the second run changes nothing), then each fixture bundle gets the verdict the
firmware tests rely on (about 10 s: two runs that hash 20 MB bundles)."""

from __future__ import annotations

import datetime
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from ansible_collections.posfleet.terminals.plugins.plugin_utils import _bundle

ROOT = Path(__file__).resolve().parents[2]
PLAYBOOK = ROOT / "tests" / "fixtures" / "firmware" / "make_bundles.yml"
T100 = {"model": "t100", "hardware_revision": "A", "active_version": "2.3.1", "security_version": 0}
M200 = {"model": "m200", "hardware_revision": "B", "active_version": "2.3.1", "security_version": 0}


@pytest.fixture(scope="module")
def fixtures(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("firmware-fixtures")
    playbook = shutil.which("ansible-playbook", path=str(Path(sys.executable).parent)) or shutil.which(
        "ansible-playbook")
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=str(ROOT / ".cache" / "collections"), ANSIBLE_NOCOLOR="1",
               ANSIBLE_STDOUT_CALLBACK="default", ANSIBLE_LOCALHOST_WARNING="false",
               ANSIBLE_INVENTORY_UNPARSED_WARNING="false")
    # No inventory: the implicit localhost runs its modules with this Python, as a user's run would.
    argv = [playbook, str(PLAYBOOK), "-e", f"posfleet_fixture_dir={tmp}"]
    runs = [subprocess.run(argv, env=env, capture_output=True, text=True, check=False) for dummy in range(2)]
    for run in runs:
        assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-2000:]
    return tmp, runs


def recap(run):
    return {key: int(value) for key, value in re.findall(r"(ok|changed|failed)=(\d+)", run.stdout)}


def bundle(tmp, name):
    return _bundle.read_bundle(str(tmp / "bundles" / f"{name}.posfw"))


def trusted(tmp, revoked=()):
    return _bundle.load_trust([str(tmp / "keys" / "trusted.pub")], revoked)


def test_second_run_changes_nothing(fixtures):
    dummy, (first, second) = fixtures
    assert recap(first)["changed"] == 4  # payloads, key pairs, bundles, tampered (one task each)
    assert recap(second)["changed"] == 0 and recap(second)["failed"] == 0


def test_keys(fixtures):
    tmp, dummy = fixtures
    private = tmp / "keys" / "trusted.key"
    assert oct(private.stat().st_mode & 0o777) == "0o600"
    assert b"ENCRYPTED PRIVATE KEY" in private.read_bytes()
    assert b"ENCRYPTED" not in (tmp / "keys" / "untrusted.key").read_bytes()
    assert _bundle.key_id((tmp / "keys" / "trusted.pub").read_bytes()) != _bundle.key_id(
        (tmp / "keys" / "untrusted.pub").read_bytes())


@pytest.mark.parametrize("name, version", [("good-2.4.0", "2.4.0"), ("minor-2.4.1", "2.4.1"),
                                           ("selftest-2.4.0", "2.4.0"), ("crash-2.4.0", "2.4.0"),
                                           ("downgrade-2.2.9", "2.2.9"), ("feature-2.4.0", "2.4.0")])
def test_good_bundles_verify_and_fit_both_models(fixtures, name, version):
    tmp, dummy = fixtures
    found = bundle(tmp, name)
    manifest = _bundle.verify(found, trusted(tmp))
    assert manifest["version"] == version and 20 * 10 ** 6 < found.size < 25 * 10 ** 6
    allow = name.startswith("downgrade")
    assert _bundle.target_problems(manifest, T100, allow_downgrade=allow) == []
    assert _bundle.target_problems(manifest, M200, allow_downgrade=allow) == []
    # the key may be revoked
    with pytest.raises(_bundle.BundleError, match="revoked"):
        _bundle.verify(found, trusted(tmp, revoked=[manifest["key_id"]]))


def test_minor_changes_5_percent_of_the_files(fixtures):
    tmp, dummy = fixtures
    good, minor = bundle(tmp, "good-2.4.0").files(), bundle(tmp, "minor-2.4.1").files()
    assert sorted(good) == sorted(minor) and len(good) == 42
    changed = sorted(rel for rel in good if good[rel]["sha256"] != minor[rel]["sha256"])
    assert changed == ["lib/07.bin", "lib/23.bin"]
    assert sum(minor[rel]["size"] for rel in changed) / sum(e["size"] for e in minor.values()) < 0.15


@pytest.mark.parametrize("name, defect", [("selftest-2.4.0", {"selftest_fail": "card_reader"}),
                                          ("crash-2.4.0", {"crash_after_s": 5})])
def test_defect_bundles_ship_their_defect(fixtures, name, defect):
    tmp, dummy = fixtures
    with bundle(tmp, name).open_payload("etc/defects.json") as handle:
        assert json.load(handle) == defect
    assert "etc/defects.json" not in bundle(tmp, "good-2.4.0").files()


def test_other_model_is_refused_for_the_reference_models(fixtures):
    tmp, dummy = fixtures
    manifest = _bundle.verify(bundle(tmp, "other-model-2.4.0"), trusted(tmp))
    assert manifest["models"] == ["x900"]
    for terminal in (T100, M200):
        (problem,) = _bundle.target_problems(manifest, terminal)
        assert f"is for models x900, not {terminal['model']}" in problem


def test_downgrade_is_refused_unless_allowed_and_never_below_the_floor(fixtures):
    tmp, dummy = fixtures
    manifest = bundle(tmp, "downgrade-2.2.9").manifest
    (problem,) = _bundle.target_problems(manifest, T100)
    assert "a downgrade" in problem
    after_good = dict(T100, active_version="2.4.0", security_version=1)
    (problem,) = _bundle.target_problems(manifest, after_good, allow_downgrade=True)
    assert "below the terminal's floor 1" in problem


def test_tampered_untrusted_expired_are_refused(fixtures):
    tmp, dummy = fixtures
    tampered = bundle(tmp, "tampered")
    assert tampered.manifest == bundle(tmp, "good-2.4.0").manifest
    with pytest.raises(_bundle.BundleError, match="does not match its sha256 in the signed manifest"):
        _bundle.verify(tampered, trusted(tmp))
    untrusted = bundle(tmp, "untrusted")
    with pytest.raises(_bundle.BundleError, match="not among the trusted keys"):
        _bundle.verify(untrusted, trusted(tmp))
    _bundle.verify(untrusted, _bundle.load_trust([str(tmp / "keys" / "untrusted.pub")]))  # only the trust is wrong
    expired = bundle(tmp, "expired")
    with pytest.raises(_bundle.BundleError, match="expired at 2025-01-31T00:00:00Z"):
        _bundle.verify(expired, trusted(tmp))
    _bundle.verify(expired, trusted(tmp), now=datetime.datetime(2025, 1, 15, tzinfo=datetime.timezone.utc))


def test_feature_release_keeps_the_security_version_so_it_can_be_reverted(fixtures):
    tmp, dummy = fixtures
    assert bundle(tmp, "feature-2.4.0").manifest["security_version"] == 0
    assert bundle(tmp, "good-2.4.0").manifest["security_version"] == 1
