# Copyright (c) posfleet developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""A backup's copy on the controller (``journal/``, ``files/``, ``backup.json``, as ``module_utils/_backup``
writes it): checked against its manifest before restic stores it and after restic restores it (restore and
the restore drill).

Private to the collection (leading underscore): it may change without notice.
"""

from __future__ import annotations

import json
import os
import sqlite3

from ansible_collections.posfleet.terminals.plugins.module_utils._backup import (
    FILES_PREFIX,
    JOURNAL_PREFIX,
    MANIFEST,
    get_repository_argument_spec,
)
from ansible_collections.posfleet.terminals.plugins.module_utils._io import file_sha256
from ansible_collections.posfleet.terminals.plugins.module_utils._ranges import Range

# The options of posfleet.terminals.restore_drill (its action plugin validates them).
DRILL_ARGUMENT_SPEC = dict(get_repository_argument_spec(), terminal_id={'type': 'str'}, scratch_dir={'type': 'path'},
                           max_age_hours={'type': 'int', 'default': 0})
DRILL_RANGES = {'timeout': Range(1, 86400, 'seconds'), 'max_age_hours': Range(0, 100000, 'hours')}


class BackupError(Exception):
    def __init__(self, message, fix):
        super().__init__(message)
        self.message, self.fix = message, fix


def _sha256(path):
    try:
        return file_sha256(path)
    except OSError:
        return None


def journal_path(dest, manifest):
    return os.path.join(dest, JOURNAL_PREFIX, str(manifest['journal']['path']).lstrip('/'))


def copy_root(tree, snapshot):
    """Where restic put a snapshot's contents under ``tree``: it recreates the backed-up directory's path (the
    backup's staging directory on the controller) under the target."""
    paths = snapshot.get('paths') or []
    if len(paths) == 1:
        candidate = os.path.join(tree, paths[0].lstrip('/'))
        if os.path.isdir(candidate):
            return candidate
    return tree


def check_copy(dest, fix):
    """The manifest of the copy under ``dest``, once every file in it has its sha256 and the journal passes
    ``PRAGMA integrity_check``; BackupError (with ``fix``) otherwise."""
    try:
        with open(os.path.join(dest, MANIFEST), encoding='utf-8') as handle:
            manifest = json.load(handle)
        journal = journal_path(dest, manifest)
        expected = dict({manifest['journal']['path']: manifest['journal']['sha256']},
                        **{path: entry['sha256'] for path, entry in manifest['files'].items()})
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
        raise BackupError(f'the backup has no readable manifest ({exc})', fix) from None
    for path, digest in expected.items():
        local = journal if path == manifest['journal']['path'] else os.path.join(dest, FILES_PREFIX, path.lstrip('/'))
        if _sha256(local) != digest:
            raise BackupError(f'{path} in the backup does not match its sha256 in the terminal\'s manifest',
                              f'{fix}; if it persists, check the link to the terminal')
    db = sqlite3.connect(f'file:{journal}?mode=ro', uri=True)
    try:
        integrity = db.execute('PRAGMA integrity_check').fetchone()[0]
    finally:
        db.close()
    if integrity != 'ok':
        raise BackupError(f'the journal copy fails its integrity check ({integrity})', fix)
    return manifest
