# Copyright (c) posfleet developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Controller side of ``posfleet.terminals.restore_drill`` (documentation: plugins/modules/restore_drill.py).

Restores a terminal's latest snapshot into a scratch directory on the controller and proves it can be used: the
manifest's sha256s and the journal's integrity (``_backup_copy.check_copy``), the journal's rows and last
transaction id read from the restored file against what the backup recorded, and a card-number scan of every
restored file (``module_utils/_pan``, the scanner of ``pan_scan``). No connection to the terminal is made.
"""

from __future__ import annotations

import datetime
import os
import shutil
import tempfile
import time

from ansible.plugins.action import ActionBase

from ansible_collections.posfleet.terminals.plugins.module_utils import _pan
from ansible_collections.posfleet.terminals.plugins.module_utils._platform.journal import describe
from ansible_collections.posfleet.terminals.plugins.plugin_utils import _action, _backup_copy, _restic
from ansible_collections.posfleet.terminals.plugins.plugin_utils._backup_copy import (
    BackupError,
    check_copy,
    copy_root,
    journal_path,
)

ARGUMENT_SPEC = _backup_copy.DRILL_ARGUMENT_SPEC
RANGES = _backup_copy.DRILL_RANGES


def latest_of(snapshots, terminal_id):
    """The newest snapshot whose host is ``terminal_id`` (terminal ids compared without case), or None."""
    own = [snap for snap in snapshots if str(snap.get('hostname', '')).lower() == str(terminal_id).lower()]
    return max(own, key=lambda snap: snap.get('time') or '') if own else None


def _age_hours(taken):
    try:
        when = datetime.datetime.fromisoformat(str(taken)[:19]).replace(tzinfo=datetime.timezone.utc)
    except ValueError:
        return None
    return round((datetime.datetime.now(datetime.timezone.utc) - when).total_seconds() / 3600, 1)


class ActionModule(ActionBase):
    TRANSFERS_FILES = False

    def run(self, tmp=None, task_vars=None):
        result = super().run(tmp, task_vars)
        del tmp
        task_vars = task_vars or {}
        host = task_vars.get('inventory_hostname')
        args, problem = _action.repository_task_args(self, host, 'restore drill', ARGUMENT_SPEC, RANGES)
        if problem:
            return dict(result, failed=True, step='options', msg=problem)
        terminal_id = args['terminal_id'] or host
        started = time.monotonic()
        result.update(changed=False, terminal_id=terminal_id, passed=False, problems=[],
                      repository=_restic.shown_location(args['repository']))
        scratch_root = args['scratch_dir'] or _action.default_dir('drill')
        try:
            os.makedirs(scratch_root, mode=0o700, exist_ok=True)
            self._drill(args, terminal_id, scratch_root, result)
        except (BackupError, _restic.ResticError) as exc:
            result['problems'].append(f'{exc.message}. Fix: {exc.fix}')
        except OSError as exc:
            result['problems'].append(f'the scratch directory {scratch_root} cannot be used ({exc.strerror or exc}). '
                                      'Fix: give scratch_dir on a disk with room for one terminal\'s backup')
        result['duration_s'] = round(time.monotonic() - started, 1)
        result['passed'] = not result['problems']
        if result['problems']:
            result.update(failed=True, msg=f'terminal {result["terminal_id"]}: restore drill failed: '
                          + '; '.join(result['problems']))
        return result

    def _drill(self, args, terminal_id, scratch_root, result):
        repository = _restic.repository_of(args)
        snapshot = latest_of(repository.snapshots(), terminal_id)
        if snapshot is None:
            raise BackupError(f'the repository holds no snapshot of terminal {terminal_id}',
                              'check that the terminal is backed up (the weekly data backup step) into this repository')
        result.update(terminal_id=snapshot['hostname'], snapshot_id=snapshot['id'], snapshot_time=snapshot.get('time'),
                      age_hours=_age_hours(snapshot.get('time')))
        if args['max_age_hours'] and (result['age_hours'] is None or result['age_hours'] > args['max_age_hours']):
            result['problems'].append(f'the latest snapshot is {result["age_hours"]} hours old (more than '
                                      f'{args["max_age_hours"]}). Fix: check why the terminal is not backed up')
        scratch = tempfile.mkdtemp(prefix=f'{snapshot["hostname"]}-', dir=scratch_root)
        try:
            restored = repository.restore(snapshot['id'], scratch)
            result['restore_s'] = restored['duration_s']
            root = copy_root(scratch, snapshot)
            manifest = check_copy(root, 'take a new backup of the terminal; run restic check on the repository')
            recorded = manifest['journal']
            described = describe(journal_path(root, manifest))
            rows, last_id = described['transactions'], described['max_id']
            result.update(integrity='ok', journal_rows=rows, journal_last_txn_id=last_id,
                          recorded_rows=recorded['transactions'], recorded_last_txn_id=recorded['max_id'],
                          files=len(manifest['files']) + 1)
            if (rows, last_id) != (recorded['transactions'], recorded['max_id']):
                result['problems'].append(f'the restored journal holds {rows} transactions up to {last_id}, the '
                                          f'backup recorded {recorded["transactions"]} up to {recorded["max_id"]}. '
                                          'Fix: take a new backup and run restic check --read-data')
            scan = _pan.scan_paths([root], _pan.random_key(), max_bytes=0, max_seconds=0)
            result['pan_scan'] = {key: scan[key] for key in ('complete', 'files_scanned', 'bytes_scanned', 'pan_count',
                                                             'sad_count', 'by_brand')}
            result['pan_scan']['where'] = sorted({_shown(finding.get('path', ''), root)
                                                  for finding in scan['findings'] + scan['sad_findings']})
            if scan['pan_count'] or scan['sad_count']:
                result['problems'].append(
                    f'the backup holds {scan["pan_count"]} full card numbers and {scan["sad_count"]} sensitive '
                    f'authentication data in {", ".join(result["pan_scan"]["where"]) or "its files"}. Fix: remove '
                    'them on the terminal (posfleet.terminals.pan_scan finds them), take a new backup, and forget '
                    'the snapshots that hold them (PCI DSS 3.3.1, 3.5.1)')
            elif not scan['complete']:
                result['problems'].append('the card-number scan of the restored files did not complete: '
                                          + '; '.join(error.get('error', '') for error in scan['errors'][:3])
                                          + '. Fix: check the scratch directory')
        finally:
            shutil.rmtree(scratch, ignore_errors=True)


def _shown(path, root):
    """A finding's path as it was on the terminal (``files/var/log/x`` -> ``/var/log/x``)."""
    rel = os.path.relpath(str(path).split(':', 1)[0], root)
    for prefix in ('files/', 'journal/'):
        if rel.startswith(prefix):
            return '/' + rel[len(prefix):]
    return rel
