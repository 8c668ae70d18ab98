# Copyright (c) posfleet developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Terminal side of ``posfleet.terminals.restore``: a backup archive (as ``_backup.collect`` writes it, rebuilt
on the controller from the restic snapshot) put back onto the terminal.

``inspect`` says who the terminal is and what its journal holds, so the controller picks the snapshot and refuses
the wrong one before anything is sent. ``apply`` unpacks the archive into its spool, checks every file against the
manifest, refuses a journal that would drop transactions the terminal has and the snapshot has not, and outside
maintenance mode; then the platform puts the journal back (quiesced around the switch) and the files, and the
live journal is read back: integrity, row count and last transaction id must be the snapshot's.

Private to the collection (leading underscore): it may change without notice.
"""

from __future__ import annotations

import json
import os
import shutil
import tarfile
import tempfile

from ansible_collections.posfleet.terminals.plugins.module_utils._backup import (
    FILES_PREFIX,
    JOURNAL_PREFIX,
    MANIFEST,
    foreign_member,
    get_repository_argument_spec,
    open_spool,
)
from ansible_collections.posfleet.terminals.plugins.module_utils._io import file_sha256
from ansible_collections.posfleet.terminals.plugins.module_utils._platform import TerminalError
from ansible_collections.posfleet.terminals.plugins.module_utils._ranges import Range

STEP = 'restore'
SPOOL_NAME = 'posfleet-restore'
RESTORE_RANGES = {'timeout': Range(1, 86400, 'seconds')}


def get_restore_argument_spec():
    """The options of ``posfleet.terminals.restore`` (action plugin and module; the module gets the ``_`` ones)."""
    return dict(get_repository_argument_spec(), **{
        'snapshot': {'type': 'str', 'default': 'latest'},
        'terminal_id': {'type': 'str'},
        'replacement': {'type': 'bool', 'default': False},
        'discard_newer': {'type': 'bool', 'default': False},
        'work_dir': {'type': 'path'},
        '_stage': {'type': 'str', 'choices': ['inspect', 'apply']},
        '_archive': {'type': 'str'},
    })


def _live_journal(platform, spool):
    """``snapshot_journal`` of the live journal into ``spool`` (removed after): what the terminal holds now."""
    copy = os.path.join(spool, 'live.db')
    try:
        return platform.snapshot_journal(copy)
    finally:
        if os.path.exists(copy):
            os.unlink(copy)


def inspect(platform, spool):
    open_spool(spool, SPOOL_NAME)
    live = _live_journal(platform, spool)
    state = platform.maintenance_state()
    return {'terminal_id': platform.terminal_id, 'journal_rows': live['transactions'],
            'journal_last_txn_id': live['max_id'], 'maintenance': bool(state.get('enabled'))}


def _unpack(platform, archive, dest):
    """The archive's manifest, its members under ``dest``, each checked against it (nothing else is extracted)."""
    try:
        with tarfile.open(archive) as tar:
            members = tar.getmembers()
            foreign = foreign_member(members)
            if foreign is not None:
                raise TerminalError(STEP, f'the archive holds {foreign!r}, which a backup never holds',
                                    'restore from a snapshot that posfleet.terminals.backup took', platform.terminal_id)
            for member in members:  # by hand: the terminal's Python may predate extractall's filter
                target = os.path.join(dest, member.name)
                if member.isdir():
                    os.makedirs(target, mode=0o700, exist_ok=True)
                    continue
                os.makedirs(os.path.dirname(target), mode=0o700, exist_ok=True)
                with tar.extractfile(member) as source, open(target, 'wb') as handle:
                    shutil.copyfileobj(source, handle)
                os.chmod(target, member.mode & 0o777)
        with open(os.path.join(dest, MANIFEST), encoding='utf-8') as handle:
            manifest = json.load(handle)
        journal = os.path.join(dest, JOURNAL_PREFIX, str(manifest['journal']['path']).lstrip('/'))
        if file_sha256(journal) != manifest['journal']['sha256']:
            raise TerminalError(STEP, 'the journal in the archive does not match its sha256',
                                'run the restore again (the transfer was damaged)', platform.terminal_id)
    except (tarfile.TarError, OSError, ValueError, KeyError, TypeError) as exc:
        raise TerminalError(STEP, f'the archive cannot be read ({exc})', 'run the restore again',
                            platform.terminal_id) from None
    return manifest, journal


def apply(platform, archive, replacement=False, discard_newer=False, check_mode=False):
    """Put the backup in ``archive`` back. Returns ``{changed, journal: {...}, files: {...}, snapshot_terminal_id}``;
    raises TerminalError with nothing changed when the archive is not sound or the restore would lose data."""
    spool = os.path.dirname(os.path.abspath(archive))
    work = tempfile.mkdtemp(prefix='.posfleet-restore-', dir=spool)
    try:
        manifest, journal_copy = _unpack(platform, archive, work)
        wanted = manifest['journal']
        source_id = manifest.get('terminal_id')
        if source_id != platform.terminal_id and not replacement:
            raise TerminalError(STEP, f'the snapshot is of terminal {source_id}, not of this one',
                                f'set replacement: true to make this terminal {source_id}\'s replacement, or '
                                'restore a snapshot of this terminal', platform.terminal_id)
        if not check_mode and not platform.maintenance_state(live=True).get('enabled'):
            raise TerminalError(STEP, 'the terminal is not in maintenance mode (a restore must not race sales)',
                                'enter maintenance mode first (playbooks/restore.yml does)', platform.terminal_id)
        live = _live_journal(platform, spool)
        lost = (live['max_id'] or 0) - (wanted['max_id'] or 0)
        if source_id != platform.terminal_id:
            if live['transactions'] and not discard_newer:
                raise TerminalError(STEP, f'this terminal\'s journal holds {live["transactions"]} transactions of its '
                                    f'own (up to id {live["max_id"]}); taking over {source_id} replaces them',
                                    'settle and archive them first, or set discard_newer: true if they are not '
                                    'needed', platform.terminal_id)
        elif lost > 0 and not discard_newer and live['sha256'] != wanted['sha256']:
            raise TerminalError(STEP, f'the terminal\'s journal goes up to transaction {live["max_id"]}, the '
                                f'snapshot\'s to {wanted["max_id"]}: restoring it would drop up to {lost} '
                                'transactions', 'restore a newer snapshot, or set discard_newer: true if those '
                                'transactions are known to be lost anyway', platform.terminal_id)
        files_dir = os.path.join(work, FILES_PREFIX)
        journal_same = live['sha256'] == wanted['sha256'] or source_id == platform.terminal_id and (
            live['max_id'] == wanted['max_id'] and live['transactions'] == wanted['transactions']
            and live.get('settled_last') == wanted.get('settled_last') and live['batches'] == wanted['batches'])
        # Every file is checked (and what would change said) before the journal is touched.
        files_result = platform.restore_files(files_dir, manifest.get('files') or {}, check_mode=True)
        if check_mode:
            return {'changed': not journal_same or files_result['changed'], 'snapshot_terminal_id': source_id,
                    'journal': {'changed': not journal_same, 'transactions': wanted['transactions'],
                                'max_id': wanted['max_id']}, 'files': files_result}
        # The files first: the daemon reads the identity again when the journal switch resumes it.
        files_result = platform.restore_files(files_dir, manifest.get('files') or {})
        journal_result = platform.restore_journal(journal_copy) if not journal_same else {'changed': False}
        after = _live_journal(platform, spool)
        if after['integrity'] != 'ok' or after['transactions'] != wanted['transactions'] \
                or after['max_id'] != wanted['max_id']:
            raise TerminalError(STEP, f'the restored journal reads {after["transactions"]} transactions up to '
                                f'{after["max_id"]} (integrity {after["integrity"]}), the snapshot '
                                f'{wanted["transactions"]} up to {wanted["max_id"]}',
                                'check the terminal\'s daemon log and run the restore again', platform.terminal_id)
        return {'changed': bool(journal_result.get('changed') or files_result['changed']),
                'snapshot_terminal_id': source_id,
                'journal': {'changed': bool(journal_result.get('changed')), 'transactions': after['transactions'],
                            'max_id': after['max_id'], 'integrity': after['integrity'], 'sha256': after['sha256']},
                'files': files_result}
    finally:
        shutil.rmtree(work, ignore_errors=True)
        if os.path.exists(archive):
            os.unlink(archive)
