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
import json
import os
import re
import shutil
import tempfile
import time

from ansible_collections.posfleet.terminals.plugins.module_utils import _update_gate, _update_preconditions
from ansible_collections.posfleet.terminals.plugins.module_utils._io import file_sha256
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


# Pieces: how the missing payload travels. The controller packs the missing files, in order, into piece files of at
# most a few MiB (many small files in one piece, a large one over several) and puts them into a spool directory
# on the terminal; whichever module call comes next (the install stage, or the next run after an interruption)
# takes them into the content cache. A piece is one header line then the bytes of its segments:
#   posfleet-piece/1 {"segments": [{"sha256", "size", "offset", "length"}, ...]}\n<data of each segment, in order>
# and its file name is NNNNN-<sha256 of the whole piece>.piece (NNNNN: its place in the transfer), so a piece torn
# by a kill is recognised and dropped (at most one piece is lost), and a complete one needs nothing from the run
# that sent it.
PIECE_MAGIC = b'posfleet-piece/1 '
PIECE_NAME_RE = re.compile(r'([0-9]{5})-([0-9a-f]{64})\.piece')
SPOOL_NAME = 'posfleet-firmware-spool'  # under the connection user's remote tmp


def plan_pieces(missing, partial, piece_size):
    """The pieces that carry ``missing`` (``plan_delta``'s ``{sha256: (rel, entry)}``), each file from where the
    terminal's ``partial`` copy ends, in the order of their paths: a list of pieces, each a list of segments
    ``{rel, sha256, size, offset, length}`` of at most ``piece_size`` bytes in all (an empty file is a segment
    of length 0, so that it is taken in too)."""
    if piece_size < 1:
        raise ValueError('piece_size must be positive')
    pieces, current, room = [], [], piece_size
    for sha, (rel, entry) in sorted(missing.items(), key=lambda item: item[1][0]):
        size = entry['size']
        offset = min(partial.get(sha, 0), size)
        while True:
            length = min(size - offset, room)
            current.append({'rel': rel, 'sha256': sha, 'size': size, 'offset': offset, 'length': length})
            offset += length
            room -= length
            if room == 0:
                pieces.append(current)
                current, room = [], piece_size
            if offset >= size:
                break
    if current:
        pieces.append(current)
    return pieces


def piece_header(segments):
    """The header line of a piece holding ``segments`` (their ``rel`` stays on the controller)."""
    listed = [{key: segment[key] for key in ('sha256', 'size', 'offset', 'length')} for segment in segments]
    return PIECE_MAGIC + json.dumps({'segments': listed}, sort_keys=True, separators=(',', ':')).encode() + b'\n'


def piece_name(index, digest):
    return f'{index:05d}-{digest}.piece'


def read_piece_header(handle, file_size):
    """The segments of the piece open in ``handle`` and where its data starts, or ``None`` when the header is not
    one (a foreign or torn file): segments whose lengths add up to the bytes after the header."""
    line = handle.readline(1 << 20)
    if not line.startswith(PIECE_MAGIC) or not line.endswith(b'\n'):
        return None
    try:
        segments = json.loads(line[len(PIECE_MAGIC):])['segments']
        total = 0
        for segment in segments:
            for key in ('size', 'offset', 'length'):
                if not isinstance(segment[key], int) or isinstance(segment[key], bool) or segment[key] < 0:
                    return None
            if not isinstance(segment['sha256'], str) or segment['offset'] + segment['length'] > segment['size']:
                return None
            total += segment['length']
    except (ValueError, KeyError, TypeError):
        return None
    if len(line) + total != file_size:
        return None
    return segments, len(line)


def ingest_spool(platform, spool, remove_spool=True):
    """Take the pieces in the directory ``spool`` into the content cache, in their order, and remove them (and the
    directory once it is empty, when ``remove_spool``): each piece checked against the sha256 in its name (a torn
    one is dropped), each file checked against its sha256 when its last byte arrives (``receive_content``). A
    segment the cache cannot take (a gap left by a dropped piece, a file that does not match its sha256) is
    dropped; the next transfer sends it again. ``{pieces, bytes, dropped: [names], errors: [what went wrong]}``."""
    result = {'pieces': 0, 'bytes': 0, 'dropped': [], 'errors': []}
    try:
        names = sorted(name for name in os.listdir(spool) if PIECE_NAME_RE.fullmatch(name))
    except FileNotFoundError:
        return result
    for name in names:
        path = os.path.join(spool, name)
        try:
            if not os.path.isfile(path) or os.path.islink(path) \
                    or file_sha256(path) != PIECE_NAME_RE.fullmatch(name).group(2):
                result['dropped'].append(name)
                continue
            with open(path, 'rb') as handle:
                parsed = read_piece_header(handle, os.path.getsize(path))
            if parsed is None:
                result['dropped'].append(name)
                continue
            segments, at = parsed
            for segment in segments:
                try:
                    platform.receive_content(segment['sha256'], segment['size'], segment['offset'], path,
                                             chunk_offset=at, length=segment['length'])
                    result['bytes'] += segment['length']
                except TerminalError as exc:
                    result['errors'].append(exc.message)
                at += segment['length']
            result['pieces'] += 1
        finally:
            with contextlib.suppress(OSError):
                os.unlink(path)
    if remove_spool:
        with contextlib.suppress(OSError):
            os.rmdir(spool)  # only when empty: nothing but our pieces is ever removed
    return result


def receive(platform, spool):
    """Take what a transfer left in ``spool`` (after an interruption) into the cache; what the terminal holds now.
    The spool stays: the rest of the transfer is put there next."""
    return {'received': ingest_spool(platform, spool, remove_spool=False), 'content': platform.firmware_content()}


# The install's work directory (the slot's files assembled before staging): posfleet-firmware-assemble-<pid>-*.
WORK_PREFIX = 'posfleet-firmware-assemble-'


def _pid_alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, another user's
        return True
    return True


def clear_stale_work_dirs(base=None):
    """Remove the work directories of installs whose process is gone (a power cut or a kill during the install
    leaves a copy of the whole slot behind, and every later update would add one); the names removed."""
    base = base or tempfile.gettempdir()
    removed = []
    with contextlib.suppress(OSError):
        for name in sorted(os.listdir(base)):
            pid = name[len(WORK_PREFIX):].split('-', 1)[0] if name.startswith(WORK_PREFIX) else ''
            # our own pid: a directory of an earlier boot (ours is made after this)
            if pid.isdigit() and (int(pid) == os.getpid() or not _pid_alive(int(pid))):
                shutil.rmtree(os.path.join(base, name), ignore_errors=True)
                removed.append(name)
    return removed


def install(platform, files, manifest, trial_deadline, spool=None):
    """Take in the pieces the transfer left in ``spool``, stage the inactive slot from what the terminal holds and
    start its trial (or find the trial pending)."""
    if spool:
        received = ingest_spool(platform, spool)
        if received['errors']:  # e.g. a file that does not match its sha256: nothing is staged from it
            raise platform.error('install', received['errors'][0], 'run the update again: what the terminal could not '
                                 'take in is sent again (the slots are unchanged)')
    firmware = platform.firmware()
    active = firmware['active_slot']
    if firmware['state'] == 'pending_trial':
        if firmware['active_version'] != manifest['version']:
            raise pending_trial_problem(firmware, 'install', platform.terminal_id)
        trial = platform.start_trial(active, trial_deadline)  # unchanged: says whether it has booted
        return {'slot': active, 'staged': False, 'trial': trial, 'boot_id': platform.boot_id()}
    slot = firmware['inactive_slot']
    clear_stale_work_dirs()
    work = tempfile.mkdtemp(prefix=f'{WORK_PREFIX}{os.getpid()}-')
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


# The stages that change the terminal: one at a time per terminal (``hold_update_lock``), so that a stage a killed
# run left going on the terminal and the stages of a run that retries the update never interleave.
CHANGING_STAGES = ('receive', 'install', 'revert', 'gate', 'recover', 'finish')


def run_stage(platform, stage, args, options):
    if stage in CHANGING_STAGES:
        platform.hold_update_lock(f'firmware {stage}')
    if stage == 'inspect':
        return inspect(platform)
    if stage == 'boot_id':
        return {'boot_id': platform.boot_id(), 'firmware': platform.firmware()}
    if stage == 'receive':
        return receive(platform, args['spool'])
    if stage == 'install':
        return install(platform, args['files'], args['manifest'], options['trial_deadline'], args.get('spool'))
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
