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

import datetime
import os
import re
import shutil
import tarfile
import time

from ansible.plugins.action import ActionBase

from ansible_collections.posfleet.terminals.plugins.module_utils._backup import (
    BACKUP_RANGES,
    FILES_PREFIX,
    JOURNAL_PREFIX,
    MANIFEST,
    SPOOL_NAME,
    get_backup_argument_spec,
)
from ansible_collections.posfleet.terminals.plugins.plugin_utils import _action, _restic
from ansible_collections.posfleet.terminals.plugins.plugin_utils._backup_copy import BackupError, check_copy

MODULE = 'posfleet.terminals.backup'
ARCHIVE_NAME = 'posfleet-backup.tar'


class _ModuleFailed(Exception):
    def __init__(self, answer):
        super().__init__(answer.get('msg'))
        self.answer = answer


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


def unpack(archive, dest):
    """Unpack the terminal's archive into ``dest`` (new, 0700) and check it against its manifest: only regular
    files and directories under journal/ and files/, each file's sha256 as the manifest says, the journal's
    integrity. Returns the manifest. A terminal is not trusted: nothing else is written."""
    shutil.rmtree(dest, ignore_errors=True)
    os.makedirs(dest, mode=0o700)
    try:
        with tarfile.open(archive) as tar:
            members = tar.getmembers()
            for member in members:
                name = member.name
                top = name.split('/', 1)[0]
                if not (member.isfile() or member.isdir()) or top not in (JOURNAL_PREFIX, FILES_PREFIX, MANIFEST) \
                        or name.startswith('/') or '..' in name.split('/'):
                    raise BackupError(f'the archive holds {name!r}, which a backup never holds',
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
        private = _action.private_options_message(self._task.args, host, 'backup')
        if private:
            return dict(result, failed=True, msg=private)
        dummy, args = self.validate_argument_spec(argument_spec=get_backup_argument_spec())
        problem = _action.repository_options_problem(args, BACKUP_RANGES, host, 'backup')
        if problem:
            return dict(result, failed=True, step='options', msg=problem)
        started = time.monotonic()
        home = os.path.expanduser('~')
        work_root = args['work_dir'] or os.path.join(home, '.cache', 'posfleet', 'backup')
        cache_dir = args['cache_dir'] or _restic.default_cache_dir()
        base = {'changed': False, 'terminal_id': host, 'snapshot_id': None, 'short_id': None,
                'repository': _restic.shown_location(args['repository']), 'tags': [], 'files': 0,
                'bytes_read': 0, 'bytes_added': 0, 'archive_bytes': 0, 'journal_rows': 0,
                'journal_last_txn_id': None, 'journal_batches': 0, 'settled_last': None, 'left_out': [],
                'stale_removed': [], 'checked': None, 'duration_s': 0.0}
        try:
            base['tags'] = snapshot_tags('{terminal_id}', args['store'], args['reason'], args['tags'])
            location = _restic.with_credentials(args['repository'], args['repository_user'],
                                                args['repository_user_password'])
        except (BackupError, _restic.ResticError) as exc:
            return dict(result, **base, failed=True, msg=f'terminal {host}: backup: {exc.message}. Fix: {exc.fix}')
        if self._task.check_mode:
            return dict(result, **dict(base, changed=True), msg='check mode: the backup would be taken')
        try:
            result.update(base)
            result.update(self._backup(task_vars, args, location, work_root, cache_dir, result))
        except (BackupError, _restic.ResticError) as exc:
            result.update(failed=True, msg=f'terminal {result["terminal_id"]}: backup: {exc.message}. Fix: {exc.fix}')
        finally:
            self._remove_tmp_path(self._connection._shell.tmpdir)
        result['duration_s'] = round(time.monotonic() - started, 1)
        return result

    def _module(self, task_vars, **args):
        answer = self._execute_module(module_name=MODULE, module_args=args, task_vars=task_vars)
        if answer.get('failed') or answer.get('unreachable'):
            raise _ModuleFailed(answer)
        return answer

    def _backup(self, task_vars, args, location, work_root, cache_dir, result):
        tmpdir = self._make_tmp_path()
        # A spool of a fixed name beside the run's tmp directory: the next run finds and removes what a killed one
        # left there (an archive holds a copy of the journal).
        spool = self._connection._shell.join_path(os.path.dirname(tmpdir.rstrip('/')), SPOOL_NAME)
        remote = self._connection._shell.join_path(spool, ARCHIVE_NAME)
        try:
            collected = self._module(task_vars, _stage='collect', _archive=remote)
        except _ModuleFailed as exc:
            return exc.answer
        terminal_id = collected['terminal_id']
        result.update(terminal_id=terminal_id, archive_bytes=collected['bytes'],
                      left_out=collected['left_out'], stale_removed=collected['stale'])
        os.makedirs(work_root, mode=0o700, exist_ok=True)
        os.chmod(work_root, 0o700)
        local_archive = os.path.join(work_root, f'{terminal_id}.tar')
        staging = os.path.join(work_root, terminal_id)
        try:
            self._connection.fetch_file(remote, local_archive)
            os.chmod(local_archive, 0o600)
            manifest = unpack(local_archive, staging)
            os.unlink(local_archive)
            journal = manifest['journal']
            tags = snapshot_tags(terminal_id, args['store'], args['reason'],
                                 [settled_tag(journal.get('settled_last'))] + args['tags'])
            result.update(tags=tags, journal_rows=journal['transactions'], journal_last_txn_id=journal['max_id'],
                          journal_batches=journal['batches'], settled_last=journal.get('settled_last'))
            repository = _restic.Repository(location, args['repository_password'], cache_dir,
                                            timeout=args['timeout'],
                                            lock_wait=_restic.LOCK_WAIT)
            repository.init_if_missing()
            repository.unlock()  # the stale lock of a killed run (only locks whose process is gone)
            stored = repository.backup(staging, host=terminal_id, tags=tags)
            result.update(changed=True, snapshot_id=stored['snapshot_id'], short_id=stored['short_id'],
                          files=stored['files'], bytes_read=stored['bytes_read'], bytes_added=stored['bytes_added'])
            if args['verify']:
                try:
                    repository.check()
                except _restic.ResticError:
                    result['checked'] = False
                    raise
                result['checked'] = True
        finally:
            shutil.rmtree(staging, ignore_errors=True)
            if os.path.exists(local_archive):
                os.unlink(local_archive)
        try:
            finished = self._module(task_vars, _stage='finish', _archive=remote)
        except _ModuleFailed as exc:
            answer = exc.answer
            return {'failed': True, 'msg': f'{answer.get("msg")} (the snapshot {stored["short_id"]} is stored; only '
                    'the record on the terminal is missing)'}
        return {'last_backup': finished['last_backup']}
