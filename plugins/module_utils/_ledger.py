# Copyright (c) posfleet developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Target side of the maintenance ledger mirror: one JSON document written atomically (stdlib only)."""

from __future__ import annotations

import json
import os
import tempfile


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
    directory = os.path.dirname(path) or '.'
    os.makedirs(directory, mode=0o755, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix='.ledger-', dir=directory)
    try:
        with os.fdopen(fd, 'w', encoding='utf-8') as handle:
            json.dump(data, handle, indent=2, sort_keys=True)
            handle.write('\n')
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return True, before
