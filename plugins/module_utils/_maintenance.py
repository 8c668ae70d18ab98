# Copyright (c) posfleet developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Maintenance mode for ``posfleet.terminals.maintenance_mode``: compare, then (unless checking) act.

Private to the collection (leading underscore): it may change without notice.
"""

from __future__ import annotations

from ansible_collections.posfleet.terminals.plugins.module_utils._platform import as_int
from ansible_collections.posfleet.terminals.plugins.module_utils._time import seconds_since

DEFAULT_MESSAGES = {
    'zh-CN': '功能维护中',
    'en': 'Under maintenance',
}


def get_maintenance_mode_argument_spec():
    """The options of ``posfleet.terminals.maintenance_mode`` with their defaults: the one copy, read by the
    module, by ``run()`` for what its caller leaves out, and checked against the module's DOCUMENTATION by a
    unit test."""
    return {
        'state': {'type': 'str', 'required': True, 'choices': ['enabled', 'disabled']},
        'screen_message': {'type': 'str'},
        'language': {'type': 'str', 'default': 'zh-CN', 'choices': list(DEFAULT_MESSAGES)},
        'drain_timeout': {'type': 'int', 'default': 30},
    }


def _default(name):
    return get_maintenance_mode_argument_spec()[name]['default']


def default_message(language):
    return DEFAULT_MESSAGES.get(language) or DEFAULT_MESSAGES[_default('language')]


def view(state):
    """The comparable part of a maintenance state (also the diff): ``{enabled, message}``."""
    enabled = bool((state or {}).get('enabled'))
    return {'enabled': enabled, 'message': (state or {}).get('message') if enabled else None}


def run(platform, state, message=None, language=None, drain_timeout=None, check_mode=False):
    """Bring maintenance mode to ``state`` (``enabled``/``disabled``); ``None`` takes the module's default.

    Returns ``(result, warnings)``; the result has ``changed``, ``diff`` (before/after) and the state.
    Raises TerminalError when the daemon cannot be asked (the state cannot be known or changed without it).
    """
    if language is None:
        language = _default('language')
    if drain_timeout is None:
        drain_timeout = _default('drain_timeout')
    if message is None:
        message = default_message(language)
    current = platform.maintenance_state(live=True)
    before = view(current)
    in_flight = as_int(current.get('in_flight'), 0)
    warnings = []
    result = {
        'terminal_id': platform.terminal_id,
        'enabled': before['enabled'],
        'message': before['message'],
        'since': current.get('since') if before['enabled'] else None,
        'in_flight': in_flight,
        'drained': None,
        'out_of_service_seconds': None,
    }

    if state == 'enabled':
        after = {'enabled': True, 'message': message}
        changed = before != after
        result.update(enabled=True, message=message)
        if check_mode:
            result['drained'] = in_flight == 0
        elif changed or in_flight:
            # Also when nothing changes but transactions are still in flight: enter again to wait for them.
            answer = platform.maintenance_enter(message, drain_timeout)
            in_flight = as_int(answer.get('in_flight'), 0)
            result.update(drained=bool(answer.get('drained', in_flight == 0)), in_flight=in_flight,
                          since=answer.get('since', result['since']),
                          message=answer.get('message') or message)
        else:
            result['drained'] = True
        if result['drained'] is False and not check_mode:
            warnings.append(f'terminal {platform.terminal_id}: maintenance_enter: {in_flight} transaction(s) still in '
                            f'flight after {drain_timeout}s; new transactions are refused, but work on the terminal '
                            'may interrupt the ones in flight')
    else:
        after = {'enabled': False, 'message': None}
        changed = before['enabled']
        result.update(enabled=False, message=None, since=None, drained=None)
        if not changed:
            result['out_of_service_seconds'] = 0.0
        elif check_mode:
            result['out_of_service_seconds'] = seconds_since(current.get('since'))
        else:
            answer = platform.maintenance_leave()
            result['out_of_service_seconds'] = answer.get('out_of_service_seconds')
    result['changed'] = bool(changed)
    result['diff'] = {'before': before, 'after': after}
    return result, warnings
