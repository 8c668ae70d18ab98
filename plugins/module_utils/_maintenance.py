# Copyright (c) posfleet developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Maintenance mode for ``posfleet.terminals.maintenance_mode``: compare, then (unless checking) act.

Private to the collection (leading underscore): it may change without notice.
"""

from __future__ import annotations

from ansible_collections.posfleet.terminals.plugins.module_utils._platform import (
    DEFAULT_MAINTENANCE_LEASE,
    MAINTENANCE_LEASE_RANGE,
    MAX_MAINTENANCE_HOLDER,
    TerminalError,
    as_int,
)
from ansible_collections.posfleet.terminals.plugins.module_utils._ranges import Range
from ansible_collections.posfleet.terminals.plugins.module_utils._ranges import check_ranges as check_option_ranges
from ansible_collections.posfleet.terminals.plugins.module_utils._time import seconds_since

DEFAULT_MESSAGES = {
    'zh-CN': '功能维护中',
    'en': 'Under maintenance',
    'de': 'In Wartung',
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
        'lease': {'type': 'int', 'default': DEFAULT_MAINTENANCE_LEASE},
        'holder': {'type': 'str'},
    }


# The allowed range of each numeric option (``_ranges``): what the reference terminal accepts, and what keeps a
# timeout inside what a socket can wait for.
MAINTENANCE_MODE_RANGES = {
    'drain_timeout': Range(0, 3600, 'seconds'),
    'lease': Range(*MAINTENANCE_LEASE_RANGE, 'seconds'),
}


def check_ranges(terminal_id, drain_timeout, lease, holder=None):
    """Refuse numbers the terminal (or the socket under it) cannot honour, before anything is sent: a
    TerminalError naming the option, the range and the fix."""
    check_option_ranges({'drain_timeout': drain_timeout, 'lease': lease}, MAINTENANCE_MODE_RANGES, terminal_id,
                        step='maintenance_mode')
    if holder is not None and (len(holder) > MAX_MAINTENANCE_HOLDER or not holder.isprintable()):
        raise TerminalError('maintenance_mode', f'holder must be printable and at most {MAX_MAINTENANCE_HOLDER} '
                            'characters; nothing was changed', 'pass the run id (posfleet_run_id) as holder',
                            terminal_id)


def _default(name):
    return get_maintenance_mode_argument_spec()[name]['default']


def default_message(language):
    return DEFAULT_MESSAGES.get(language) or DEFAULT_MESSAGES[_default('language')]


def lease_keys(state):
    """The lease part of a maintenance state or answer: ``{expires, holder}``."""
    return {'expires': (state or {}).get('expires'), 'holder': (state or {}).get('holder')}


def view(state):
    """The comparable part of a maintenance state (also the diff): ``{enabled, message}``."""
    enabled = bool((state or {}).get('enabled'))
    return {'enabled': enabled, 'message': (state or {}).get('message') if enabled else None}


def run(platform, state, message=None, language=None, drain_timeout=None, check_mode=False, lease=None,
        holder=None):
    """Bring maintenance mode to ``state`` (``enabled``/``disabled``); ``None`` takes the module's default.

    Enabled, it is a lease of ``lease`` seconds held by ``holder``: enabling again renews it, which is not a
    change (the screen and the refusal of sales stay as they are).
    Returns ``(result, warnings)``; the result has ``changed``, ``diff`` (before/after) and the state.
    Raises TerminalError when the daemon cannot be asked (the state cannot be known or changed without it).
    """
    if language is None:
        language = _default('language')
    if drain_timeout is None:
        drain_timeout = _default('drain_timeout')
    if lease is None:
        lease = _default('lease')
    if message is None:
        message = default_message(language)
    check_ranges(platform.terminal_id, drain_timeout, lease, holder)
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
        'stale': bool(current.get('stale')),
        'renewed': False,
    }
    result.update(lease_keys(current))

    if state == 'enabled':
        after = {'enabled': True, 'message': message}
        changed = before != after
        result.update(enabled=True, message=message)
        renewal = None
        if check_mode:
            result['drained'] = in_flight == 0
        elif not changed and not in_flight:
            renewal = platform.maintenance_renew(lease, holder)
        if renewal is not None and renewal.get('renewed'):
            result.update(drained=True, renewed=True, **lease_keys(renewal))
        elif not check_mode:
            if renewal is not None:
                changed = True  # the lease ran out between the read and the renewal: this enters again
            # Entering, or again: transactions still in flight (wait for them), or the lease ran out just now.
            answer = platform.maintenance_enter(message, drain_timeout, lease, holder)
            in_flight = as_int(answer.get('in_flight'), 0)
            result.update(drained=bool(answer.get('drained', in_flight == 0)), in_flight=in_flight,
                          since=answer.get('since', result['since']),
                          message=answer.get('message') or message, renewed=not changed, **lease_keys(answer))
        if not check_mode:
            result['stale'] = not result['holder'] or result['expires'] is None
        if result['drained'] is False and not check_mode:
            warnings.append(f'terminal {platform.terminal_id}: maintenance_enter: {in_flight} transaction(s) still in '
                            f'flight after {drain_timeout}s; new transactions are refused, but work on the terminal '
                            'may interrupt the ones in flight')
    else:
        after = {'enabled': False, 'message': None}
        changed = before['enabled']
        result.update(enabled=False, message=None, since=None, drained=None, expires=None, holder=None,
                      stale=False)
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
