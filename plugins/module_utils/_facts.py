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
    utc_iso,
)

SUBSETS = ('identity', 'firmware', 'applications', 'peripherals', 'battery', 'sensors', 'disk', 'uptime',
           'maintenance', 'journal', 'records', 'daemon')
# Subsets that ask the daemon (the others read files only).
DAEMON_SUBSETS = ('peripherals', 'battery', 'sensors', 'maintenance', 'journal', 'daemon')
# Subsets that need the model description.
MODEL_SUBSETS = ('identity', 'peripherals', 'battery', 'sensors')


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


def peripherals_from(model, status, daemon_error=None):
    """``{device: {present, ok, detail, ...state keys}}`` from the model plus the daemon's live hardware."""
    declared = (model or {}).get('peripherals') or {}
    hardware = (status or {}).get('hardware') or {}
    names = [d for d in DEVICES if d in declared or d in hardware]
    names += sorted(d for d in set(declared) | set(hardware) if d not in names)
    result = {}
    for name in names:
        entry = {'present': bool(declared.get(name, False)), 'ok': None, 'detail': None}
        live = hardware.get(name)
        if isinstance(live, dict):
            entry.update(live)
        elif status is None and entry['present']:
            entry['detail'] = 'unknown: %s' % (daemon_error or 'posd is not running')
        result[name] = entry
    return result


def journal_from(status):
    journal = dict((status or {}).get('journal') or {})
    batch = journal.get('open_batch') or {}
    return {
        'transactions_today': journal.get('transactions_today'),
        'unsettled_batches': journal.get('unsettled_batches'),
        'unsettled_count': journal.get('unsettled_count'),
        'unsettled_amount_minor': journal.get('unsettled_amount_minor'),
        'currency': journal.get('currency') or (batch.get('currency') if isinstance(batch, dict) else None),
        'last_transaction': journal.get('last_transaction'),
        'open_batch': batch or None,
        'source': 'daemon',
    }


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

    status = None
    daemon_error = None
    if any(s in wanted for s in DAEMON_SUBSETS):
        try:
            status = platform.status()
        except TerminalError as exc:
            daemon_error = exc
            warnings.append(f'{exc}; facts from the daemon (peripherals, journal, live maintenance state) are '
                            'missing or read from files')

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
        peripherals = peripherals_from(model, status, daemon_error and daemon_error.message)
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
        if status is not None and isinstance(status.get('maintenance'), dict):
            live = status['maintenance']
            enabled = bool(live.get('enabled'))
            facts['maintenance'] = {'enabled': enabled, 'since': live.get('since') if enabled else None,
                                    'message': (live.get('message') or None) if enabled else None,
                                    'source': 'daemon'}
        else:
            persisted = attempt('maintenance', platform.maintenance)
            if persisted is not None:
                persisted['source'] = 'file'
            facts['maintenance'] = persisted
    if 'journal' in wanted:
        if status is not None:
            facts['journal'] = journal_from(status)
        else:
            journal = attempt('journal', platform.journal)
            if journal is not None:
                journal['source'] = 'journal_db'
            facts['journal'] = journal
    if 'records' in wanted:
        facts['records'] = attempt('records', platform.records)
    if 'daemon' in wanted:
        if status is not None:
            facts['daemon'] = {'running': True, 'version': status.get('version'), 'slot': status.get('slot'),
                               'pid': status.get('pid'), 'started': status.get('started'), 'error': None}
        else:
            facts['daemon'] = {'running': False, 'version': None, 'slot': None, 'pid': None, 'started': None,
                               'error': str(daemon_error) if daemon_error else None}
    facts['subsets'] = wanted
    facts['collected_at'] = utc_iso()
    return facts, warnings
