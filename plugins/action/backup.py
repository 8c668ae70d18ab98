# Copyright (c) posfleet developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Controller side of ``posfleet.terminals.backup`` (documentation: plugins/modules/backup.py).

The module collects one archive on the terminal (the journal's online-backup copy, the platform's files, a
manifest); this plugin fetches it, checks it, unpacks it into a work directory of its own and stores it with
restic (``plugin_utils/_restic.py``), then lets the terminal record ``last_backup``. No secret is sent to the
terminal: the module gets only the archive's path.
"""

from __future__ import annotations

import contextlib
import datetime
import os
import re
import shutil
import tarfile
import time

from ansible.errors import AnsibleError
from ansible.plugins.action import ActionBase

from ansible_collections.posfleet.terminals.plugins.module_utils._backup import (
    BACKUP_RANGES,
    SPOOL_NAME,
    foreign_member,
    get_backup_argument_spec,
)
from ansible_collections.posfleet.terminals.plugins.plugin_utils import _action, _restic
from ansible_collections.posfleet.terminals.plugins.plugin_utils._backup_copy import (
    BackupError,
    check_copy,
    split_journal,
)

MODULE = 'posfleet.terminals.backup'
ARCHIVE_NAME = 'posfleet-backup.tar'


def snapshot_tags(terminal_id, store, reason, extra):
    tags = [f'terminal_id={terminal_id}'] + ([f'store={store}'] if store else []) + [f'reason={reason}'] + list(extra)
    for tag in tags:
        if not tag or ',' in tag or any(ch.isspace() for ch in tag):
            raise BackupError(f'the tag {tag!r} holds a comma or a space (restic separates tags with commas)',
                              'use tags without commas and spaces')
    return tags


def settled_tag(settled_last):
    """The snapshot's ``settled=`` tag, which retention reads: the UTC date of the newest settlement record the
    backup holds, ``none`` when it holds none, ``unknown`` when the terminal's value is not a time (retention then
    treats the snapshot as holding a settlement as young as itself)."""
    if settled_last is None:
        return 'settled=none'
    match = re.match(r'(\d{4}-\d{2}-\d{2})(?:[T ]|$)', str(settled_last))
    try:
        return f'settled={datetime.date.fromisoformat(match.group(1)).isoformat()}'
    except (AttributeError, ValueError):
        return 'settled=unknown'


def room_for(work_root, needed):
    """BackupError naming the fix when the controller's disk under ``work_root`` has less than ``needed`` bytes
    free (a full disk is a clear refusal before anything is written, not a half-written archive)."""
    free = shutil.disk_usage(work_root).free
    if free < needed:
        raise BackupError(f'the controller has {free} bytes free in {work_root}, the backup needs {needed} there '
                          '(no space left on device)',
                          'free space on the controller, or give work_dir on a disk with room; nothing was stored')


def unpack(archive, dest):
    """Unpack the terminal's archive into ``dest`` (new, 0700) and check it against its manifest: only regular
    files and directories under journal/ and files/, each file's sha256 as the manifest says, the journal's
    integrity. Returns the manifest. A terminal is not trusted: nothing else is written."""
    shutil.rmtree(dest, ignore_errors=True)
    os.makedirs(dest, mode=0o700)
    try:
        with tarfile.open(archive) as tar:
            members = tar.getmembers()
            foreign = foreign_member(members)
            if foreign is not None:
                raise BackupError(f'the archive holds {foreign!r}, which a backup never holds',
                                  'check the terminal: its backup module or platform was changed')
            tar.extractall(dest, members=members, filter='data')
    except (tarfile.TarError, OSError) as exc:
        raise BackupError(f'the archive from the terminal cannot be read ({exc})', 'run the backup again') from None
    return check_copy(dest, 'run the backup again')


class ActionModule(ActionBase):
    TRANSFERS_FILES = True

    def run(self, tmp=None, task_vars=None):
        result = super().run(tmp, task_vars)
        del tmp
        task_vars = task_vars or {}
        host = task_vars.get('inventory_hostname')
        args, problem = _action.repository_task_args(self, host, 'backup', get_backup_argument_spec(), BACKUP_RANGES)
        if problem:
            return dict(result, failed=True, step='options', msg=problem)
        started = time.monotonic()
        work_root = args['work_dir'] or _action.default_dir('backup')
        base = {'changed': False, 'terminal_id': host, 'snapshot_id': None, 'short_id': None,
                'repository': _restic.shown_location(args['repository']), 'tags': [], 'files': 0,
                'bytes_read': 0, 'bytes_added': 0, 'archive_bytes': 0, 'journal_rows': 0,
                'journal_last_txn_id': None, 'journal_batches': 0, 'settled_last': None, 'left_out': [],
                'stale_removed': [], 'checked': None, 'taken': False, 'duration_s': 0.0}
        try:
            base['tags'] = snapshot_tags('{terminal_id}', args['store'], args['reason'], args['tags'])
            repository = _restic.repository_of(args)
        except (BackupError, _restic.ResticError) as exc:
            return dict(result, **base, failed=True, msg=f'terminal {host}: backup: {exc.message}. Fix: {exc.fix}')
        if self._task.check_mode:
            return dict(result, **dict(base, changed=True), msg='check mode: the backup would be taken' + (
                ' if the journal holds a settlement newer than the last backup' if args['only_new_settlement']
                else ''))
        try:
            result.update(base)
            result.update(self._backup(task_vars, args, repository, work_root, result))
        except (BackupError, _restic.ResticError) as exc:
            result.update(failed=True, msg=f'terminal {result["terminal_id"]}: backup: {exc.message}. Fix: {exc.fix}')
        finally:
            self._remove_tmp_path(self._connection._shell.tmpdir)
        result['duration_s'] = round(time.monotonic() - started, 1)
        return result

    def _backup(self, task_vars, args, repository, work_root, result):
        remote = _action.spool_file(self, SPOOL_NAME, ARCHIVE_NAME)
        try:
            collected = _action.run_module(self, MODULE, task_vars, {
                '_stage': 'collect', '_archive': remote, 'only_new_settlement': args['only_new_settlement']})
        except _action.ModuleFailed as exc:
            return exc.answer
        terminal_id = collected['terminal_id']
        result.update(terminal_id=terminal_id, archive_bytes=collected['bytes'],
                      left_out=collected['left_out'], stale_removed=collected['stale'])
        if not collected['taken']:
            journal = collected['journal']
            return {'journal_rows': journal['transactions'], 'journal_last_txn_id': journal['max_id'],
                    'journal_batches': journal['batches'], 'settled_last': journal['settled_last'],
                    'last_backup': collected['last_backup'],
                    'msg': f'terminal {terminal_id}: no settlement since the last backup '
                           f'({collected["last_backup"]}; the newest was made {journal["settled_last"] or "never"}): '
                           'nothing to back up'}
        os.makedirs(work_root, mode=0o700, exist_ok=True)
        os.chmod(work_root, 0o700)
        local_archive = os.path.join(work_root, f'{terminal_id}.tar')
        staging = os.path.join(work_root, terminal_id)
        try:
            room_for(work_root, 2 * collected['bytes'])  # the archive, then its unpacked copy
            try:
                self._connection.fetch_file(remote, local_archive)
                os.chmod(local_archive, 0o600)
                manifest = unpack(local_archive, staging)
            except (AnsibleError, BackupError):
                room_for(work_root, 2 * collected['bytes'])  # the disk filled while the archive came in
                raise
            os.unlink(local_archive)
            split_journal(staging, manifest)
            journal = manifest['journal']
            tags = snapshot_tags(terminal_id, args['store'], args['reason'],
                                 [settled_tag(journal.get('settled_last'))] + args['tags'])
            result.update(tags=tags, journal_rows=journal['transactions'], journal_last_txn_id=journal['max_id'],
                          journal_batches=journal['batches'], settled_last=journal.get('settled_last'))
            repository.init_if_missing()
            repository.unlock()  # the stale lock of a killed run (only locks whose process is gone)
            stored = repository.backup(staging, host=terminal_id, tags=tags)
            result.update(changed=True, taken=True, snapshot_id=stored['snapshot_id'], short_id=stored['short_id'],
                          files=len(manifest['files']) + 2, bytes_read=stored['bytes_read'],
                          bytes_added=stored['bytes_added'])
            if args['verify']:
                try:
                    repository.check()
                except _restic.ResticError:
                    result['checked'] = False
                    raise
                result['checked'] = True
        except Exception:
            # The archive holds a copy of the journal: not left on the terminal by a failed backup (a killed run's
            # is removed by the next one).
            with contextlib.suppress(Exception):
                self._execute_module(module_name=MODULE, module_args={'_stage': 'discard', '_archive': remote},
                                     task_vars=task_vars)
            raise
        finally:
            shutil.rmtree(staging, ignore_errors=True)
            if os.path.exists(local_archive):
                os.unlink(local_archive)
        try:
            finish = {'_stage': 'finish', '_archive': remote, '_recorded_at': str(collected['created'])}
            finished = _action.run_module(self, MODULE, task_vars, finish)
        except _action.ModuleFailed as exc:
            answer = exc.answer
            return {'failed': True, 'msg': f'{answer.get("msg")} (the snapshot {stored["short_id"]} is stored; only '
                    'the record on the terminal is missing)'}
        return {'last_backup': finished['last_backup']}
