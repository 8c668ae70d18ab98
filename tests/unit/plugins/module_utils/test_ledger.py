# Copyright (c) posfleet developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The ledger mirror: check mode, write, check again, write again (community.crypto's sequence)."""

from __future__ import annotations

import json
import os

from ansible_collections.posfleet.terminals.plugins.module_utils import _ledger

DOC = {"host": "t1", "tiers": {"daily": {"last_success": "2026-10-07T19:10:00Z"}}}


def test_check_run_check_run(tmp_path):
    path = str(tmp_path / "var" / "lib" / "posfleet" / "ledger.json")
    assert _ledger.write(path, DOC, check_mode=True) == (True, None)
    assert not os.path.exists(path)
    assert _ledger.write(path, DOC) == (True, None)
    assert _ledger.write(path, DOC, check_mode=True) == (False, DOC)
    assert _ledger.write(path, DOC) == (False, DOC)
    with open(path, encoding="utf-8") as handle:
        assert json.load(handle) == DOC
    assert os.stat(path).st_mode & 0o777 == 0o644
    assert [n for n in os.listdir(os.path.dirname(path)) if n.startswith(".ledger-")] == []


def test_update_and_malformed(tmp_path):
    path = str(tmp_path / "ledger.json")
    with open(path, "w", encoding="utf-8") as handle:
        handle.write("{not json")
    assert _ledger.read(path) is None
    changed, before = _ledger.write(path, DOC)
    assert changed and before is None
    newer = dict(DOC, updated="x")
    assert _ledger.write(path, newer) == (True, DOC)
