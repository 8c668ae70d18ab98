# Copyright (c) posfleet developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Target side of the maintenance ledger mirror: one JSON document written atomically (stdlib only)."""

from __future__ import annotations

import json

from ansible_collections.posfleet.terminals.plugins.module_utils._io import atomic_write_json


def read(path):
    """The document at ``path`` or None when missing or unreadable as JSON."""
    try:
        with open(path, encoding='utf-8') as handle:
            return json.load(handle)
    except (OSError, ValueError):
        return None


def write(path, data, mode=0o644, check_mode=False):
    """Write ``data`` as JSON to ``path`` when it differs. Returns (changed, before)."""
    before = read(path)
    changed = before != data
    if not changed or check_mode:
        return changed, before
    atomic_write_json(path, data, mode=mode)
    return True, before
