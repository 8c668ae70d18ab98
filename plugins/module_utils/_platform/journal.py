# Copyright (c) posfleet developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Copies of a SQLite transaction journal: a consistent snapshot of a live database (SQLite's online backup
API), and the checks a file must pass before it may replace the journal.

Private to the collection; Python >= 3.9 standard library only.
"""

from __future__ import annotations

import os
import sqlite3

from ansible_collections.posfleet.terminals.plugins.module_utils._io import fsync_path
from ansible_collections.posfleet.terminals.plugins.module_utils._platform.slots import file_sha256

SQLITE_MAGIC = b'SQLite format 3\x00'
# The tables and columns a file must have to be a posd journal.
JOURNAL_COLUMNS = {
    'transactions': {'id', 'ts', 'batch_id', 'pan_masked', 'amount_minor', 'currency', 'status', 'auth_code',
                     'training'},
    'batches': {'batch_id', 'opened', 'settled'},
}


def describe(path):
    """``{integrity, transactions, batches, max_id, settled_last}`` of a journal file, opened read only;
    ``settled_last``: when the newest settlement it records was made (the ``settled`` text, ISO 8601 UTC), or None."""
    conn = sqlite3.connect(f'file:{path}?mode=ro', uri=True, timeout=10)
    try:
        integrity = conn.execute('PRAGMA integrity_check').fetchone()[0]
        transactions, max_id = conn.execute('SELECT count(*), max(id) FROM transactions').fetchone()
        batches, settled_last = conn.execute('SELECT count(*), max(settled) FROM batches').fetchone()
    finally:
        conn.close()
    return {'integrity': integrity, 'transactions': transactions, 'batches': batches, 'max_id': max_id,
            'settled_last': settled_last}


def transactions_since(path, since):
    """``{count, max_id}`` of the transactions in the journal at ``path`` (opened read only) whose ``ts`` (ISO 8601
    UTC text, as posd writes it) is ``since`` or later; every transaction when ``since`` is None."""
    conn = sqlite3.connect(f'file:{path}?mode=ro', uri=True, timeout=10)
    try:
        if since is None:
            return dict(zip(('count', 'max_id'), conn.execute('SELECT count(*), max(id) FROM transactions').fetchone()))
        return dict(zip(('count', 'max_id'), conn.execute(
            'SELECT count(*), max(id) FROM transactions WHERE ts >= ?', (since,)).fetchone()))
    finally:
        conn.close()


def journal_problems(path):
    """Why ``path`` is not a usable journal (``[]``: it is one): SQLite header, integrity, tables, columns."""
    try:
        with open(path, 'rb') as handle:
            header = handle.read(len(SQLITE_MAGIC))
    except OSError as exc:
        return [f'cannot read it ({exc.strerror or exc})']
    if header != SQLITE_MAGIC:
        return ['it is not a SQLite database']
    problems = []
    try:
        conn = sqlite3.connect(f'file:{path}?mode=ro', uri=True, timeout=10)
        try:
            integrity = [row[0] for row in conn.execute('PRAGMA integrity_check')]
            if integrity != ['ok']:
                problems.append('integrity check failed: ' + '; '.join(integrity[:3]))
            for table, wanted in JOURNAL_COLUMNS.items():
                have = {row[1] for row in conn.execute(f'PRAGMA table_info({table})')}
                if not have:
                    problems.append(f'it has no {table} table')
                elif not wanted <= have:
                    problems.append(f'its {table} table lacks ' + ', '.join(sorted(wanted - have)))
        finally:
            conn.close()
    except sqlite3.Error as exc:
        problems.append(f'SQLite cannot read it ({exc})')
    return problems


def snapshot(source, dest, mode=0o600):
    """Copy the live database ``source`` to ``dest`` with the online backup API; returns ``describe`` + size.

    The copy is taken in one step inside a read transaction, so it is the state of one instant even while the
    daemon keeps committing (WAL readers do not block writers). It lands in a temp file beside ``dest``, is
    switched to rollback-journal mode (a single self-contained file), checked, fsynced and renamed.
    """
    directory = os.path.dirname(os.path.abspath(dest))
    tmp = os.path.join(directory, f'.{os.path.basename(dest)}.{os.getpid()}.tmp')
    for leftover in (tmp, tmp + '-journal'):
        if os.path.exists(leftover):
            os.unlink(leftover)
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    os.close(fd)
    try:
        src = sqlite3.connect(source, timeout=10)
        try:
            dst = sqlite3.connect(tmp)
            try:
                src.backup(dst)
                dst.execute('PRAGMA journal_mode=DELETE')
            finally:
                dst.close()
        finally:
            src.close()
        info = describe(tmp)
        if info['integrity'] != 'ok':
            raise sqlite3.DatabaseError(f'the snapshot failed its integrity check: {info["integrity"]}')
        os.chmod(tmp, mode)
        fsync_path(tmp)
        os.rename(tmp, dest)
        fsync_path(directory)
    except BaseException:
        for leftover in (tmp, tmp + '-journal'):
            if os.path.exists(leftover):
                os.unlink(leftover)
        raise
    info.update(path=dest, bytes=os.path.getsize(dest), sha256=file_sha256(dest))
    return info
