# Copyright (c) posfleet developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""What the collection's action plugins share.

Private to the collection (leading underscore): it may change without notice.
"""

from __future__ import annotations

import os

from ansible_collections.posfleet.terminals.plugins.module_utils._ranges import range_problem


def private_options_message(task_args, host, concern):
    """The failure message when a task sets options that only the action plugin sets (their names start with
    ``_``), or ``None``."""
    private = sorted(key for key in task_args if key.startswith('_'))
    if not private:
        return None
    return (f'terminal {host}: {concern}: {", ".join(private)} are set by the action plugin. Fix: remove them from '
            'the task')


def repository_options_problem(args, ranges, host, concern):
    """The failure message of a task on a restic repository whose options are wrong (a range, no repository or
    no password), or ``None``."""
    problem = range_problem({key: args[key] for key in ranges}, ranges)
    if problem:
        return f'terminal {host}: options: {problem[0]}. Fix: {problem[1]}'
    for option in ('repository', 'repository_password'):
        if not args[option]:
            return (f'terminal {host}: {concern}: {option} is required. Fix: give it (the password from an Ansible '
                    'Vault variable)')
    return None


class ModuleFailed(Exception):
    """A module stage answered failed or unreachable; ``answer`` is its result, returned to the task as it is."""

    def __init__(self, answer):
        super().__init__(answer.get('msg'))
        self.answer = answer


def run_module(action, module, task_vars, args):
    """The answer of ``module`` run with ``args`` on the action's host; ModuleFailed when it failed."""
    answer = action._execute_module(module_name=module, module_args=args, task_vars=task_vars)
    if answer.get('failed') or answer.get('unreachable'):
        raise ModuleFailed(answer)
    return answer


def spool_file(action, spool_name, file_name):
    """A file's path in a spool of a fixed name beside the run's tmp directory on the terminal: the next run finds
    and removes what a killed one left there (an archive holds a copy of the journal)."""
    tmpdir = action._make_tmp_path()
    shell = action._connection._shell
    return shell.join_path(shell.join_path(os.path.dirname(tmpdir.rstrip('/')), spool_name), file_name)


def task_args(action, host, concern, argument_spec, **constraints):
    """``(args, failure)`` of the action's task: its options validated against ``argument_spec``, and ``failure``
    the message of a task that sets the plugin's private options (or ``None``)."""
    private = private_options_message(action._task.args, host, concern)
    if private:
        return None, private
    dummy, args = action.validate_argument_spec(argument_spec=argument_spec, **constraints)
    return args, None


def repository_task_args(action, host, concern, argument_spec, ranges):
    """``(args, failure)`` of a task on a restic repository: ``task_args``, then ``repository_options_problem``."""
    args, failure = task_args(action, host, concern, argument_spec)
    return args, failure or repository_options_problem(args, ranges, host, concern)


def default_dir(name):
    """A work directory on the controller when a task gives none: ``~/.cache/posfleet/<name>`` of the user running
    Ansible."""
    return os.path.join(os.path.expanduser('~'), '.cache', 'posfleet', name)
