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
import re
import shutil
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

# restic stores the journal copy in segments of this size (one blob each: restic's chunks are 512 KiB at least), so
# that a page SQLite rewrites in the middle of the file costs one segment in the next snapshot, not a whole chunk of
# about 1 MiB; an append costs only the last segments.
JOURNAL_SEGMENT_BYTES = 256 * 1024
SEGMENTS_SUFFIX = '.segments'
_SEGMENT_RE = re.compile(r'[0-9]{6}')


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


def split_journal(dest, manifest):
    """Replace the journal copy under ``dest`` by ``<journal>.segments/000000 ...`` (JOURNAL_SEGMENT_BYTES each, mode
    0600, one fixed mtime: an unchanged segment is the same file to restic in every snapshot)."""
    journal = journal_path(dest, manifest)
    segments = journal + SEGMENTS_SUFFIX
    os.makedirs(segments, mode=0o700)
    with open(journal, 'rb') as source:
        for index, data in enumerate(iter(lambda: source.read(JOURNAL_SEGMENT_BYTES), b'')):
            path = os.path.join(segments, f'{index:06d}')
            with open(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), 'wb') as handle:
                handle.write(data)
            os.utime(path, (0, 0))
    os.unlink(journal)


def join_journal(dest, manifest):
    """Put a journal stored in segments (``split_journal``) back together under ``dest``; nothing to do for a
    snapshot that holds it whole."""
    journal = journal_path(dest, manifest)
    segments = journal + SEGMENTS_SUFFIX
    if not os.path.isdir(segments):
        return
    names = sorted(os.listdir(segments))
    if names != [f'{index:06d}' for index in range(len(names))] or not all(map(_SEGMENT_RE.fullmatch, names)):
        raise BackupError(f'the journal\'s segments in the snapshot are not 000000 to {len(names) - 1:06d}',
                          'restore another snapshot; run restic check on the repository')
    with open(os.open(journal, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), 'wb') as handle:
        for name in names:
            with open(os.path.join(segments, name), 'rb') as source:
                shutil.copyfileobj(source, handle)
    shutil.rmtree(segments)


def check_copy(dest, fix):
    """The manifest of the copy under ``dest``, once every file in it has its sha256 and the journal passes
    ``PRAGMA integrity_check``; BackupError (with ``fix``) otherwise. A journal stored in segments is put back
    together first."""
    try:
        with open(os.path.join(dest, MANIFEST), encoding='utf-8') as handle:
            manifest = json.load(handle)
        journal = journal_path(dest, manifest)
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
        raise BackupError(f'the backup has no readable manifest ({exc})', fix) from None
    try:
        join_journal(dest, manifest)
    except OSError as exc:
        raise BackupError(f'the journal cannot be put together from its segments ({exc.strerror or exc})',
                          f'{fix}; check the free space where the copy is') from None
    try:
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
