# Copyright (c) posfleet developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Firmware updates for ``posfleet.terminals.firmware``: the option spec (shared by the module and its action
plugin) and the terminal side of each stage the action plugin drives (inspect, receive, install, gate, recover).

The controller side (``plugins/action/firmware.py``) verifies the bundle, plans the delta, sends the chunks and
reboots; every step that reads or writes the terminal is one call of a stage here, through the platform.

Private to the collection (leading underscore): it may change without notice.
Target-side code: Python >= 3.9 standard library only.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
import time

from ansible_collections.posfleet.terminals.plugins.module_utils import _update_gate, _update_preconditions
from ansible_collections.posfleet.terminals.plugins.module_utils._platform import TerminalError, as_int
from ansible_collections.posfleet.terminals.plugins.module_utils._ranges import Range, check_ranges

STAGES = ('inspect', 'boot_id', 'receive', 'install', 'revert', 'gate', 'recover', 'verify', 'finish')


def get_firmware_argument_spec():
    """The options of ``posfleet.terminals.firmware`` with their defaults: the one copy, read by the module and
    the action plugin (``_stage`` and ``_stage_args`` are private: the action plugin's calls of the module)."""
    return {
        'version': {'type': 'str'},
        'bundle': {'type': 'path'},
        # Public keys and key ids: nothing secret (no_log stated for the sanity test's name heuristic).
        'trusted_keys': {'type': 'list', 'elements': 'str', 'no_log': False},
        'revoked_keys': {'type': 'list', 'elements': 'str', 'default': [], 'no_log': False},
        'revert': {'type': 'bool', 'default': False},
        'allow_downgrade': {'type': 'bool', 'default': False},
        'settlement_override_reason': {'type': 'str'},
        'min_battery_pct': {'type': 'int', 'default': 40},
        'bandwidth_limit_kbps': {'type': 'int', 'default': 0},
        'trial_deadline': {'type': 'int', 'default': 900},
        'reboot_timeout': {'type': 'int', 'default': 180},
        'health_timeout': {'type': 'int', 'default': 90},
        'settle_seconds': {'type': 'int', 'default': 12},
        'transaction_timeout': {'type': 'int', 'default': 10},
        '_stage': {'type': 'str', 'choices': list(STAGES)},
        '_stage_args': {'type': 'dict', 'default': {}},
    }


# An update needs its version, bundle and trust; a revert boots what the terminal holds and needs none of them.
FIRMWARE_REQUIRED_IF = [('revert', False, ('version', 'bundle', 'trusted_keys'))]

FIRMWARE_RANGES = {
    'min_battery_pct': Range(0, 100, '%'),
    'bandwidth_limit_kbps': Range(0, 10 ** 7, 'kbit/s (0: no limit)'),
    'trial_deadline': Range(60, 7 * 86400, 'seconds'),
    'reboot_timeout': Range(10, 3600, 'seconds'),
    'health_timeout': Range(10, 3600, 'seconds'),
    'settle_seconds': Range(0, 600, 'seconds'),
    'transaction_timeout': Range(1, 120, 'seconds'),
}


def check_option_ranges(options, terminal_id=None):
    check_ranges({name: options[name] for name in FIRMWARE_RANGES}, FIRMWARE_RANGES, terminal_id, step='firmware')


def plan_delta(files, held, partial):
    """What a transfer must send: ``files`` (the bundle manifest's ``{rel: {sha256, size, mode}}``) minus what the
    terminal ``held`` (``{sha256: size}``); a file listed twice travels once, and an interrupted one (``partial``:
    ``{sha256: bytes received}``) from where it ended. Returns ``({sha256: (rel, entry)}, bytes to send)``."""
    missing = {}
    for rel, entry in sorted(files.items()):
        if entry['sha256'] not in held:
            missing.setdefault(entry['sha256'], (rel, entry))
    wire = sum(entry['size'] - min(partial.get(sha, 0), entry['size']) for sha, (dummy, entry) in missing.items())
    return missing, wire


def pending_trial_problem(firmware, step, terminal_id=None):
    """The refusal of a change while a trial is pending (``firmware``: ``platform.firmware()``): the one wording of
    it, for the module's stages and the action plugin's refusals."""
    return TerminalError(step, f'a trial of firmware {firmware["active_version"]} in slot {firmware["active_slot"]} '
                         'is pending', 'let it finish (it is committed or falls back by itself), then run again',
                         terminal_id)


def empty_slot_problem(slot, step, terminal_id=None):
    """The refusal of a revert to ``slot`` that holds no firmware: the one wording of it."""
    return TerminalError(step, f'slot {slot} holds no earlier firmware to go back to',
                         'install the version you want from a signed bundle instead', terminal_id)


def inspect(platform):
    """Everything the controller needs to decide, in one round trip."""
    model = platform.model()
    firmware = platform.firmware()
    content = platform.firmware_content()
    daemon = platform.daemon_info()
    preconditions = _update_preconditions.read_facts(platform, model, daemon)
    return {
        'terminal_id': platform.terminal_id,
        'model': model['model'],
        'hardware_revision': model.get('hardware_revision'),
        'firmware': firmware,
        'held': content['held'],
        'partial': content['partial'],
        'free_bytes': content['free_bytes'],
        'daemon': daemon,
        'boot_id': platform.boot_id(),
        **preconditions,  # mobile, maintenance, journal, battery: judged by _update_preconditions.problems
    }


def receive(platform, chunks):
    """Take the chunks the controller put on the terminal: ``[{sha256, size, offset, path}]`` in order."""
    results = []
    for chunk in chunks:
        try:
            results.append(platform.receive_content(chunk['sha256'], chunk['size'], chunk['offset'], chunk['path']))
        finally:
            with contextlib.suppress(OSError):
                os.unlink(chunk['path'])
    return {'received': results}


def install(platform, files, manifest, trial_deadline):
    """Stage the inactive slot from what the terminal holds and start its trial (or find the trial pending)."""
    firmware = platform.firmware()
    active = firmware['active_slot']
    if firmware['state'] == 'pending_trial':
        if firmware['active_version'] != manifest['version']:
            raise pending_trial_problem(firmware, 'install', platform.terminal_id)
        trial = platform.start_trial(active, trial_deadline)  # unchanged: says whether it has booted
        return {'slot': active, 'staged': False, 'trial': trial, 'boot_id': platform.boot_id()}
    slot = firmware['inactive_slot']
    work = tempfile.mkdtemp(prefix='posfleet-firmware-')
    try:
        source = os.path.join(work, 'source')
        platform.assemble_content(files, source)
        staged = platform.stage_slot(slot, source, manifest)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    trial = platform.start_trial(slot, trial_deadline)
    return {'slot': slot, 'staged': staged['changed'], 'trial': trial, 'boot_id': platform.boot_id()}


def revert(platform, trial_deadline):
    """Start a trial of the inactive slot as it is (the firmware the terminal ran before its last update):
    ``{slot, version, trial, boot_id}``. Refused while a trial is pending and when that slot holds no firmware;
    ``start_trial`` refuses a slot that does not boot or is below the security floor."""
    firmware = platform.firmware()
    if firmware['state'] == 'pending_trial':
        raise pending_trial_problem(firmware, 'revert', platform.terminal_id)
    slot = firmware['inactive_slot']
    previous = (firmware.get('slots') or {}).get(slot) or {}
    if not slot or not previous.get('present'):
        raise empty_slot_problem(slot, 'revert', platform.terminal_id)
    trial = platform.start_trial(slot, trial_deadline)
    return {'slot': slot, 'version': previous['version'], 'trial': trial, 'boot_id': platform.boot_id()}


def _wait_for_daemon(platform, settle_seconds, timeout):
    """Wait until the daemon has run ``settle_seconds`` without a restart (a daemon that crashes soon after start
    must not pass the gate in its first seconds); the last ``daemon_info()``."""
    deadline = time.monotonic() + timeout
    pid = None
    steady_since = None
    while True:
        daemon = platform.daemon_info()
        now = time.monotonic()
        if daemon['running'] and daemon.get('pid') == pid:
            if now - steady_since >= settle_seconds:
                return daemon
        elif daemon['running']:
            pid, steady_since = daemon.get('pid'), now
            started = as_int(daemon.get('started'))
            if started is not None:  # already up for a while (the daemon's own start time)
                steady_since = now - max(0.0, time.time() - started)
            continue
        else:
            pid = steady_since = None
        if now >= deadline:
            return daemon
        time.sleep(1)


def gate(platform, expect_version, expect_slot, settle_seconds, timeout, transaction_timeout, commit):
    """After the trial boot: if the terminal fell back by itself, say so; else the health gate, then (``commit``)
    commit the slot. ``{fell_back, gate, committed, firmware}``."""
    firmware = platform.firmware()
    if firmware['active_slot'] != expect_slot or firmware['active_version'] != expect_version:
        return {'fell_back': True, 'gate': None, 'committed': False, 'firmware': firmware,
                'reason': firmware.get('last_fallback_reason') or 'the terminal booted the other slot'}
    daemon = _wait_for_daemon(platform, settle_seconds, timeout)
    if not daemon['running']:
        result = {'ok': False, 'reason': f'the terminal daemon did not start within {timeout} s '
                  f'({daemon.get("error") or "no answer"})', 'checks': [], 'daemon_version': None}
    else:
        result = _update_gate.health_gate(platform, expect_version, expect_slot, transaction_timeout)
    committed = False
    if result['ok'] and commit and firmware['state'] == 'pending_trial':
        committed = platform.commit_slot()['changed']
    return {'fell_back': False, 'gate': result, 'committed': committed, 'firmware': platform.firmware(),
            'reason': result['reason']}


def recover(platform, reason):
    """Make the terminal boot its old slot: end a pending trial (``rollback_slot``); nothing to do when it fell
    back by itself. ``{rolled_back_now, reboot_required, firmware, boot_id}``."""
    firmware = platform.firmware()
    result = {'rolled_back_now': False, 'reboot_required': False}
    if firmware['state'] == 'pending_trial':
        rollback = platform.rollback_slot(reason)
        result = {'rolled_back_now': rollback['changed'], 'reboot_required': rollback['reboot_required']}
    return dict(result, firmware=platform.firmware(), boot_id=platform.boot_id())


def run_stage(platform, stage, args, options):
    if stage == 'inspect':
        return inspect(platform)
    if stage == 'boot_id':
        return {'boot_id': platform.boot_id(), 'firmware': platform.firmware()}
    if stage == 'receive':
        return receive(platform, args.get('chunks') or [])
    if stage == 'install':
        return install(platform, args['files'], args['manifest'], options['trial_deadline'])
    if stage == 'revert':
        return revert(platform, options['trial_deadline'])
    if stage in ('gate', 'verify'):
        return gate(platform, args.get('expect_version'), args.get('expect_slot'), options['settle_seconds'],
                    options['health_timeout'], options['transaction_timeout'], commit=stage == 'gate')
    if stage == 'recover':
        return recover(platform, args.get('reason') or 'the update failed')
    if stage == 'finish':
        return platform.prune_content(args.get('keep') or ())
    raise ValueError(f'unknown stage {stage!r}')
