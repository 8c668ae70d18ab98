# Copyright (c) posfleet developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Controller side of ``posfleet.terminals.backup_retention`` (documentation: plugins/modules/backup_retention.py).

restic's keep policy decides first (``forget --dry-run``); ``plugin_utils/_retention`` then takes back every
snapshot the settlement rule holds; only the rest is forgotten, by id, in one ``restic forget --prune``.
"""

from __future__ import annotations

import datetime
import re
import time

from ansible.plugins.action import ActionBase

from ansible_collections.posfleet.terminals.plugins.module_utils._ranges import range_problem
from ansible_collections.posfleet.terminals.plugins.plugin_utils import _action, _restic, _retention

ARGUMENT_SPEC = _retention.ARGUMENT_SPEC
RANGES = _retention.OPTION_RANGES
KEEP_WITHIN_RE = re.compile(r'(\d+[ymdh])+')
SUBSET_RE = re.compile(r'\d+(\.\d+)?%|\d+/\d+')


class ActionModule(ActionBase):
    TRANSFERS_FILES = False

    def run(self, tmp=None, task_vars=None):
        result = super().run(tmp, task_vars)
        del tmp
        args, private = _action.task_args(self, (task_vars or {}).get('inventory_hostname'), 'backup retention',
                                          ARGUMENT_SPEC)
        if private:
            return dict(result, failed=True, msg=private)
        shown = _restic.shown_location(args['repository'] or '')
        result.update(changed=False, repository=shown, checked=None, check_reused=False, checked_at=None,
                      duration_s=0.0)
        problem = self._option_problem(args)
        if problem:
            return dict(result, failed=True, msg=f'backup retention of {shown or "the repository"}: options: '
                        f'{problem[0]}. Fix: {problem[1]}')
        started = time.monotonic()
        try:
            self._retention(args, result)
        except _restic.ResticError as exc:
            terminals = ', '.join(args['terminal_ids'] or ()) or 'every terminal'
            result.update(failed=True, msg=f'backup retention of {shown} ({terminals}): {exc.message}. Fix: {exc.fix}')
        result['duration_s'] = round(time.monotonic() - started, 1)
        return result

    @staticmethod
    def _option_problem(args):
        for option in ('repository', 'repository_password'):
            if not args[option]:
                return f'{option} is required', 'give it (the password from an Ansible Vault variable)'
        problem = range_problem({key: args[key] for key in RANGES if args[key] is not None}, RANGES)
        if problem:
            return problem
        if not any(args[option] for option in _retention.POLICY_OPTIONS) and not args['keep_within']:
            return ('no keep policy is given, so restic would keep everything',
                    'give at least one of ' + ', '.join(_retention.POLICY_OPTIONS + ('keep_within',)))
        if args['keep_within'] and not KEEP_WITHIN_RE.fullmatch(args['keep_within']):
            return (f'keep_within {args["keep_within"]!r} is not a restic duration',
                    'write it as restic does, e.g. 1y6m, 30d or 12h')
        if args['read_data_subset'] and not SUBSET_RE.fullmatch(args['read_data_subset']):
            return (f'read_data_subset {args["read_data_subset"]!r} is neither a percentage nor n/t',
                    'give e.g. 10% or 1/12')
        return None

    def _retention(self, args, result):
        repository = _restic.repository_of(args)
        policy = {option.replace('_', '-'): args[option] for option in _retention.POLICY_OPTIONS if args[option]}
        if args['keep_within']:
            policy['keep-within'] = args['keep_within']
        today = datetime.datetime.now(datetime.timezone.utc).date()
        years = args['settlement_years']
        hosts = None
        if args['terminal_ids'] is not None:
            # restic matches --host with case; terminal ids are compared without it (an inventory name is lower case)
            wanted = {str(terminal).lower() for terminal in args['terminal_ids']}
            hosts = sorted({snap.get('hostname') for snap in repository.snapshots()
                            if str(snap.get('hostname', '')).lower() in wanted})
        # No snapshot of the terminals given: nothing to decide (no --host at all would mean every terminal).
        plan = repository.forget_plan(policy, hosts) if hosts is None or hosts else []
        decision = _retention.decide(plan, today, years)
        counts = {key: sum(len(entry[key]) for entry in decision['terminals'].values())
                  for key in ('kept', 'held', 'forgotten')}
        result.update(counts, terminals=decision['terminals'], forgotten_ids=decision['forget'],
                      settlement_cutoff=_retention.years_before(today, years).isoformat(), pruned=False,
                      prune_deferred=False, read_data_subset=args['read_data_subset'], changed=bool(decision['forget']))
        if self._task.check_mode:
            return
        if decision['forget']:
            repository.forget(decision['forget'])
            if args['prune']:
                pruned = repository.prune(args['prune_interval_hours'])
                result.update(pruned=pruned['pruned'], prune_deferred=not pruned['pruned'])
        if args['check']:
            result['checked'] = False
            check = repository.check_shared(args['read_data_subset'], args['check_reuse_hours'])
            result.update(checked=True, check_reused=check['reused'], checked_at=check['checked_at'])
