# Copyright (c) posfleet developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Controller side of ``posfleet.terminals.restore`` (documentation: plugins/modules/restore.py).

The module says who the terminal is (``inspect``); this plugin picks the snapshot, restores it with restic into a
work directory of its own, checks it against its manifest, packs it as the backup archive it was and sends it;
the module puts it back (``apply``). No secret is sent to the terminal.
"""

from __future__ import annotations

import os
import shutil
import tarfile
import time

from ansible.plugins.action import ActionBase

from ansible_collections.posfleet.terminals.plugins.module_utils._restore import (
    RESTORE_RANGES,
    SPOOL_NAME,
    get_restore_argument_spec,
)
from ansible_collections.posfleet.terminals.plugins.plugin_utils import _action, _restic
from ansible_collections.posfleet.terminals.plugins.plugin_utils._backup_copy import BackupError, check_copy, copy_root

MODULE = 'posfleet.terminals.restore'
ARCHIVE_NAME = 'posfleet-restore.tar'


def pick_snapshot(snapshots, wanted, terminal_id):
    """The snapshot ``wanted`` (``latest`` or an id prefix) among ``snapshots`` of ``terminal_id``."""
    own = [snap for snap in snapshots if snap.get('hostname') == terminal_id]
    if wanted == 'latest':
        if not own:
            raise BackupError(f'the repository holds no snapshot of terminal {terminal_id}',
                              'check terminal_id and the repository, or take a backup first')
        return max(own, key=lambda snap: snap.get('time') or '')
    matches = [snap for snap in snapshots if snap['id'].startswith(str(wanted).lower())]
    if len(matches) != 1:
        raise BackupError(f'{len(matches) or "no"} snapshots match {wanted!r}',
                          'give the full snapshot id (restic snapshots lists them)')
    if matches[0].get('hostname') != terminal_id:
        raise BackupError(f'snapshot {wanted} is of terminal {matches[0].get("hostname")}, not {terminal_id}',
                          'give terminal_id (and replacement: true) to restore another terminal\'s snapshot')
    return matches[0]


class ActionModule(ActionBase):
    TRANSFERS_FILES = True

    def run(self, tmp=None, task_vars=None):
        result = super().run(tmp, task_vars)
        del tmp
        task_vars = task_vars or {}
        host = task_vars.get('inventory_hostname')
        args, problem = _action.repository_task_args(self, host, 'restore', get_restore_argument_spec(),
                                                     RESTORE_RANGES)
        if problem:
            return dict(result, failed=True, step='options', msg=problem)
        started = time.monotonic()
        result.update(changed=False, terminal_id=host, repository=_restic.shown_location(args['repository']))
        try:
            self._restore(task_vars, args, result)
        except _action.ModuleFailed as exc:
            result.update(exc.answer)
        except (BackupError, _restic.ResticError) as exc:
            result.update(failed=True, msg=f'terminal {result["terminal_id"]}: restore: {exc.message}. Fix: {exc.fix}')
        finally:
            self._remove_tmp_path(self._connection._shell.tmpdir)
        result['duration_s'] = round(time.monotonic() - started, 1)
        return result

    def _module(self, task_vars, **args):
        return _action.run_module(self, MODULE, task_vars, args)

    def _restore(self, task_vars, args, result):
        remote = _action.spool_file(self, SPOOL_NAME, ARCHIVE_NAME)
        options = {key: args[key] for key in ('replacement', 'discard_newer')}
        seen = self._module(task_vars, _stage='inspect', _archive=remote, **options)
        own_id = seen['terminal_id']
        result['terminal_id'] = own_id
        whose = args['terminal_id'] or own_id
        if whose != own_id and not args['replacement']:
            raise BackupError(f'terminal_id {whose} is another terminal\'s',
                              f'set replacement: true to make this terminal {whose}\'s replacement')
        repository = _restic.repository_of(args)
        snapshot = pick_snapshot(repository.snapshots(host=whose) if args['snapshot'] == 'latest'
                                 else repository.snapshots(), args['snapshot'], whose)
        result.update(snapshot_id=snapshot['id'], snapshot_time=snapshot.get('time'))
        work_root = args['work_dir'] or _action.default_dir('restore')
        os.makedirs(work_root, mode=0o700, exist_ok=True)
        os.chmod(work_root, 0o700)
        tree = os.path.join(work_root, whose)
        archive = os.path.join(work_root, f'{whose}.tar')
        try:
            shutil.rmtree(tree, ignore_errors=True)
            os.makedirs(tree, mode=0o700)
            repository.restore(snapshot['id'], tree)
            root = copy_root(tree, snapshot)
            check_copy(root, 'restore another snapshot; run restic check on the repository')
            with tarfile.open(archive, 'w', format=tarfile.PAX_FORMAT) as tar:
                for name in sorted(os.listdir(root)):
                    tar.add(os.path.join(root, name), arcname=name)
            os.chmod(archive, 0o600)
            self._transfer_file(archive, remote)
        finally:
            shutil.rmtree(tree, ignore_errors=True)
            if os.path.exists(archive):
                os.unlink(archive)
        done = self._module(task_vars, _stage='apply', _archive=remote, **options)
        result.update(changed=done['changed'], terminal_id=done['snapshot_terminal_id'] if args['replacement']
                      else own_id, journal_rows=done['journal']['transactions'],
                      journal_last_txn_id=done['journal']['max_id'], journal_changed=done['journal']['changed'],
                      files_restored=(done['files'] or {}).get('restored', []),
                      files_kept=(done['files'] or {}).get('kept', {}))
