"""The firmware_bundle action on the controller: keypair, bundle and inspect, with check mode, diff and the
up-to-date test (real keys, real bundles in tmp_path)."""

from __future__ import annotations

import json
import os
import stat
import tarfile

import pytest

SECRET = "correct horse battery staple"


@pytest.fixture
def run(make_action):
    """run(args, check_mode=False, diff=False) -> the action's result."""
    def call(args, check_mode=False, diff=False):
        return make_action("firmware_bundle", args, check_mode, diff).run(task_vars={})
    return call


@pytest.fixture
def keypair(tmp_path):
    return {"state": "keypair", "private_key": str(tmp_path / "keys" / "release.key"),
            "public_key": str(tmp_path / "keys" / "release.pub"), "passphrase": SECRET}


@pytest.fixture
def payload(tmp_path):
    root = tmp_path / "payload"
    (root / "bin").mkdir(parents=True)
    (root / "bin" / "posd").write_bytes(b"#!/usr/bin/python3\n")
    (root / "bin" / "posd").chmod(0o755)
    (root / "lib.bin").write_bytes(os.urandom(5000))
    return root


def test_keypair_sequence(run, keypair, tmp_path):
    checked = run(keypair, check_mode=True, diff=True)
    assert checked["changed"] and not os.path.exists(keypair["private_key"])
    assert checked["diff"] == {"before": {"private_key": "absent", "public_key": "absent"},
                               "after": {"private_key": "present", "public_key": "present"}}
    made = run(keypair)
    assert made["changed"] and len(made["key_id"]) == 16
    assert stat.S_IMODE(os.stat(keypair["private_key"]).st_mode) == 0o600
    assert made["public_key_pem"].startswith("-----BEGIN PUBLIC KEY-----")
    assert SECRET not in json.dumps(made)
    with open(keypair["private_key"], "rb") as handle:
        assert handle.read() not in json.dumps(made).encode()
    assert not run(keypair, check_mode=True)["changed"]
    again = run(keypair)
    assert not again["changed"] and again["key_id"] == made["key_id"]
    # a lost public key is written again from the private key, the same key
    os.unlink(keypair["public_key"])
    rewritten = run(keypair)
    assert rewritten["changed"] and rewritten["key_id"] == made["key_id"]
    # force makes a new pair
    assert run(dict(keypair, force=True))["key_id"] != made["key_id"]


def test_keypair_refuses_wrong_passphrase_and_mismatched_public(run, keypair, tmp_path):
    run(keypair)
    wrong = run(dict(keypair, passphrase="nope"))
    assert wrong["failed"] and "passphrase is wrong" in wrong["msg"] and "Fix:" in wrong["msg"]
    other = dict(keypair, private_key=str(tmp_path / "other.key"), public_key=str(tmp_path / "other.pub"))
    run(other)
    mismatched = run(dict(keypair, public_key=other["public_key"]))
    assert mismatched["failed"] and "not the public half" in mismatched["msg"]


def test_bundle_sequence_and_inspect(run, keypair, payload, tmp_path):
    run(keypair)
    dest = str(tmp_path / "out" / "fw-2.4.0.posfw")
    build = {"state": "bundle", "src": str(payload), "dest": dest, "private_key": keypair["private_key"],
             "passphrase": SECRET, "version": "2.4.0", "models": ["t100"], "security_version": 2}
    checked = run(build, check_mode=True, diff=True)
    assert checked["changed"] and not os.path.exists(dest)
    assert checked["diff"]["before"] == {} and checked["diff"]["after"]["version"] == "2.4.0"
    built = run(build)
    assert built["changed"] and os.path.exists(dest) and built["size"] == os.path.getsize(dest)
    assert SECRET not in json.dumps(built)
    assert not run(build, check_mode=True)["changed"]
    same = run(build)
    assert not same["changed"] and same["rebuild_reasons"] == [] and same["sha256"] == built["sha256"]
    # one payload file changed: rebuilt, and the diff shows that file
    (payload / "lib.bin").write_bytes(b"new")
    changed = run(build, diff=True)
    assert changed["changed"] and changed["rebuild_reasons"] == ["files differs"]
    before, after = changed["diff"]["before"]["files"], changed["diff"]["after"]["files"]
    assert before["bin/posd"] == after["bin/posd"] and before["lib.bin"] != after["lib.bin"]
    # another option: rebuilt; force: rebuilt
    assert run(dict(build, models=["t100", "m200"]))["rebuild_reasons"] == ["models differs"]
    assert run(dict(build, models=["t100", "m200"], force=True))["changed"]

    public = keypair["public_key"]
    inspected = run({"state": "inspect", "path": dest, "trusted_keys": [public]})
    assert inspected["verified"] and inspected["problems"] == [] and not inspected["changed"]
    assert inspected["manifest"]["models"] == ["t100", "m200"] and inspected["key_id"] == built["key_id"]
    unverified = run({"state": "inspect", "path": dest})
    assert not unverified["verified"] and not unverified.get("failed") and "no trusted_keys" in unverified["msg"]
    revoked = run({"state": "inspect", "path": dest, "trusted_keys": [public], "revoked_keys": [built["key_id"]]})
    assert not revoked["verified"] and not revoked.get("failed") and "revoked" in revoked["problems"][0]
    refused = run({"state": "inspect", "path": dest, "trusted_keys": [public], "revoked_keys": [built["key_id"]],
                   "verify": True})
    assert refused["failed"] and "revoked" in refused["msg"]


def test_a_damaged_bundle_at_dest_is_rebuilt(run, keypair, payload, tmp_path):
    run(keypair)
    dest = tmp_path / "fw.posfw"
    build = {"state": "bundle", "src": str(payload), "dest": str(dest), "private_key": keypair["private_key"],
             "passphrase": SECRET, "version": "2.4.0", "models": ["t100"]}
    run(build)
    with tarfile.open(dest) as tar:
        last = tar.getmembers()[-1]
    data = bytearray(dest.read_bytes())
    data[last.offset_data] ^= 1
    dest.write_bytes(bytes(data))
    again = run(build)
    assert again["changed"] and "does not match its sha256" in again["rebuild_reasons"][0]


def test_created_pins_an_expired_test_bundle(run, keypair, payload, tmp_path):
    run(keypair)
    build = {"state": "bundle", "src": str(payload), "dest": str(tmp_path / "expired.posfw"),
             "private_key": keypair["private_key"], "passphrase": SECRET, "version": "2.4.0", "models": ["t100"],
             "created": "2025-01-01T00:00:00Z", "valid_days": 30}
    assert run(build)["manifest"]["expires"] == "2025-01-31T00:00:00Z"
    assert not run(build)["changed"]  # expired as asked: up to date
    assert run(dict(build, created="2025-01-02T00:00:00Z"))["rebuild_reasons"] == ["created differs"]
    inspected = run({"state": "inspect", "path": build["dest"], "trusted_keys": [keypair["public_key"]]})
    assert not inspected["verified"] and "expired at" in inspected["problems"][0]
    bad = run(dict(build, created="yesterday"))
    assert bad["failed"] and "not a UTC time" in bad["msg"]


def test_bundle_refusals(run, keypair, payload, tmp_path):
    run(keypair)
    build = {"state": "bundle", "src": str(payload), "dest": str(payload / "in.posfw"),
             "private_key": keypair["private_key"], "passphrase": SECRET, "version": "2.4.0", "models": ["t100"]}
    inside = run(build)
    assert inside["failed"] and "inside its payload directory" in inside["msg"]
    from ansible.errors import AnsibleActionFail
    with pytest.raises(AnsibleActionFail, match="missing: dest, private_key, version, models"):
        run({"state": "bundle", "src": str(payload)})
    not_a_bundle = tmp_path / "x.posfw"
    not_a_bundle.write_text("hello")
    inspected = run({"state": "inspect", "path": str(not_a_bundle)})
    assert inspected["failed"] and "not a readable uncompressed tar" in inspected["msg"]
