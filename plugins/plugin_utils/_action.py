# Copyright (c) posfleet developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""What the collection's action plugins share.

Private to the collection (leading underscore): it may change without notice.
"""

from __future__ import annotations

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
