# Copyright (c) posfleet developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Facts gathering for ``posfleet.terminals.facts``: everything in one pass over a Platform.

Private to the collection (leading underscore): it may change without notice.
"""

from __future__ import annotations

from ansible_collections.posfleet.terminals.plugins.module_utils._platform import (
    DEVICES,
    TerminalError,
)
from ansible_collections.posfleet.terminals.plugins.module_utils._time import utc_iso

SUBSETS = ('identity', 'firmware', 'applications', 'peripherals', 'battery', 'sensors', 'disk', 'uptime',
           'maintenance', 'journal', 'records', 'daemon')
# Subsets that ask the daemon (the others read files only).
DAEMON_SUBSETS = ('peripherals', 'battery', 'sensors', 'maintenance', 'journal', 'daemon')
# Subsets that need the model description.
MODEL_SUBSETS = ('identity', 'peripherals', 'battery', 'sensors')


def get_facts_argument_spec():
    """The options of ``posfleet.terminals.facts``: the one copy, read by the module and checked against its
    DOCUMENTATION by a unit test."""
    choices = ['all'] + list(SUBSETS) + ['!' + s for s in SUBSETS if s != 'identity']
    return {
        'gather_subset': {'type': 'list', 'elements': 'str', 'default': ['all'], 'choices': choices},
    }


def resolve_subsets(requested):
    """``all`` plus names, ``!name`` to exclude; identity is always gathered."""
    requested = list(requested or ['all'])
    include = set()
    exclude = set()
    for item in requested:
        if item == 'all':
            include.update(SUBSETS)
        elif item.startswith('!'):
            exclude.add(item[1:])
        else:
            include.add(item)
    if not include:
        include.update(SUBSETS)
    result = (include - exclude) | {'identity'}
    return [name for name in SUBSETS if name in result]


def peripherals_from(model, hardware, daemon_error=None):
    """``{device: {present, ok, detail, ...state keys}}`` from the model plus the platform's live device state
    (``hardware``: ``Platform.peripherals()``, ``None`` when it could not be read)."""
    declared = (model or {}).get('peripherals') or {}
    live_state = hardware or {}
    names = [d for d in DEVICES if d in declared or d in live_state]
    names += sorted(d for d in set(declared) | set(live_state) if d not in names)
    result = {}
    for name in names:
        entry = {'present': bool(declared.get(name, False)), 'ok': None, 'detail': None}
        live = live_state.get(name)
        if isinstance(live, dict):
            entry.update(live)
        elif hardware is None and entry['present']:
            entry['detail'] = 'unknown: %s' % (daemon_error or 'the live device state could not be read')
        result[name] = entry
    return result


def gather(platform, subsets=None):
    """Return ``(facts, warnings)``. Missing pieces become ``None`` with a warning; nothing raises
    except an unreadable identity (handled by ``load_platform``)."""
    wanted = resolve_subsets(subsets)
    warnings = []
    facts = {}

    def attempt(name, func, default=None):
        try:
            return func()
        except TerminalError as exc:
            warnings.append(str(exc))
            return default

    model = None
    if any(s in wanted for s in MODEL_SUBSETS):
        model = attempt('model', platform.model)

    daemon = None
    if any(s in wanted for s in DAEMON_SUBSETS):
        daemon = platform.daemon_info()
        if not daemon['running']:
            warnings.append(f"{daemon['error']}; facts from the daemon (peripherals, journal, live maintenance "
                            'state) are missing or read from files')

    if 'identity' in wanted:
        identity = platform.identity()
        if model:
            identity['model_description'] = model.get('description')
            identity['vendor'] = model.get('vendor')
        facts['identity'] = identity
    if 'firmware' in wanted:
        facts['firmware'] = attempt('firmware', platform.firmware)
    if 'applications' in wanted:
        facts['applications'] = attempt('applications', platform.applications, [])
    if 'peripherals' in wanted or 'battery' in wanted or 'sensors' in wanted:
        hardware, hardware_error = None, None
        try:
            hardware = platform.peripherals()
        except TerminalError as exc:
            hardware_error = exc.message
            if daemon is None or daemon['running']:  # a down daemon is warned about once, above
                warnings.append(str(exc))
        peripherals = peripherals_from(model, hardware, hardware_error)
        if 'peripherals' in wanted:
            facts['peripherals'] = peripherals
        if 'battery' in wanted:
            battery = peripherals.get('battery')
            facts['battery'] = battery if battery and battery.get('present') else None
        if 'sensors' in wanted:
            sensors = peripherals.get('sensors')
            facts['sensors'] = sensors if sensors and sensors.get('present') else None
    if 'disk' in wanted:
        facts['disk'] = attempt('disk', platform.disk, [])
    if 'uptime' in wanted:
        uptime = attempt('uptime', platform.uptime, {}) or {}
        facts['boot_time'] = uptime.get('boot_time')
        facts['uptime_seconds'] = uptime.get('uptime_seconds')
        facts['boots'] = uptime.get('boots')
    if 'maintenance' in wanted:
        state = attempt('maintenance', platform.maintenance_state)
        facts['maintenance'] = None if state is None else {
            key: state.get(key) for key in ('enabled', 'since', 'message', 'source', 'expires', 'holder', 'stale')}
    if 'journal' in wanted:
        facts['journal'] = attempt('journal', platform.journal_summary)
    if 'records' in wanted:
        facts['records'] = attempt('records', platform.records)
        # The recovery point: what a restore from the last backup could lose (all of it, never backed up).
        last_backup = (facts['records'] or {}).get('last_backup')
        since = None if facts['records'] is None else attempt(
            'recovery point', lambda: platform.transactions_since(last_backup))
        facts['recovery_point'] = None if since is None else {'last_backup': last_backup,
                                                              'transactions': since['count']}
    if 'daemon' in wanted:
        facts['daemon'] = daemon
    facts['subsets'] = wanted
    facts['collected_at'] = utc_iso()
    return facts, warnings
