# Copyright (c) posfleet developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The reference terminal's A/B slots and boot environment: the ONE definition of a bootable slot and of a
valid boot environment, shared by the collection and by the terminal's boot loader.

``tests/images/build.sh`` copies this file into the terminal image (``/usr/lib/posfleet/python/posfleet_slots.py``)
and PID 1 (``/sbin/posboot``) imports it, so the slot the platform stages and the slot the boot loader agrees
to boot are judged by the same code. Therefore: standard library only, no imports from the collection, no
I/O besides reading a slot directory.

Private to the collection (leading underscore of the package): it may change without notice.
"""

from __future__ import annotations

import hashlib
import json
import os
import re

SLOTS = ('a', 'b')
VERSION_RE = re.compile(r'[0-9A-Za-z][0-9A-Za-z.+~-]{0,63}')
# Keys of the boot environment and what a fresh terminal starts with.
DEFAULT_ENV = {
    'active_slot': 'a', 'upgrade_available': 0, 'bootcount': 0, 'bootlimit': 3, 'last_boot': None,
    'last_fallback': None, 'last_fallback_reason': None, 'boots': 0, 'boot_id': None,
    'trial_started': None, 'trial_deadline': None, 'trial_boots': None,
}
EPOCH_KEYS = ('last_boot', 'last_fallback', 'trial_started', 'trial_deadline')
TEXT_KEYS = ('last_fallback_reason', 'boot_id')


def other_slot(slot):
    return 'b' if slot == 'a' else 'a'


def file_sha256(path):
    digest = hashlib.sha256()
    with open(path, 'rb') as handle:
        for block in iter(lambda: handle.read(1 << 16), b''):
            digest.update(block)
    return digest.hexdigest()


def manifest_problems(manifest):
    """What is wrong with a firmware manifest ``{version, models, files: {relpath: sha256}}`` (``[]``: nothing)."""
    if not isinstance(manifest, dict):
        return ['the manifest is not a JSON object']
    problems = []
    version = manifest.get('version')
    if not isinstance(version, str) or not VERSION_RE.fullmatch(version):
        problems.append(f'manifest version {version!r} is not a version string')
    models = manifest.get('models')
    if not isinstance(models, list) or not models or not all(isinstance(m, str) for m in models):
        problems.append('manifest "models" must be a non-empty list of model names')
    files = manifest.get('files')
    if not isinstance(files, dict) or 'bin/posd' not in files:
        problems.append('manifest "files" must map relative paths to sha256 and include bin/posd')
        return problems
    for rel, digest in sorted(files.items()):
        parts = rel.split('/')
        if rel.startswith('/') or '..' in parts or '' in parts or rel in ('VERSION', 'manifest.json'):
            problems.append(f'manifest names an unsafe or reserved path {rel!r}')
        if not isinstance(digest, str) or not re.fullmatch(r'[0-9a-f]{64}', digest):
            problems.append(f'manifest sha256 of {rel!r} is not 64 hex digits')
    return problems


def slot_problems(slot_dir):
    """Why the slot directory cannot boot (``[]``: it is bootable).

    Bootable means: ``VERSION`` names a version, ``manifest.json`` is a valid manifest of that same version,
    every file it lists is there with its sha256, and ``bin/posd`` is executable.
    """
    try:
        with open(os.path.join(slot_dir, 'VERSION'), encoding='utf-8') as handle:
            version = handle.read().strip()
    except OSError:
        return ['no VERSION file']
    try:
        with open(os.path.join(slot_dir, 'manifest.json'), encoding='utf-8') as handle:
            manifest = json.load(handle)
    except OSError:
        return ['no manifest.json']
    except ValueError as exc:
        return [f'manifest.json is not valid JSON ({exc})']
    problems = manifest_problems(manifest)
    if problems:
        return problems
    if manifest['version'] != version:
        problems.append(f'VERSION says {version!r} but manifest.json says {manifest["version"]!r}')
    for rel, digest in sorted(manifest['files'].items()):
        path = os.path.join(slot_dir, rel)
        try:
            actual = file_sha256(path)
        except OSError:
            problems.append(f'{rel} is missing')
            continue
        if actual != digest:
            problems.append(f'{rel} does not match its sha256 in manifest.json')
    if not os.access(os.path.join(slot_dir, 'bin/posd'), os.X_OK):
        problems.append('bin/posd is not executable')
    return problems


def slot_bootable(slot_dir):
    return not slot_problems(slot_dir)


def validate_env(env):
    """Problems of a boot environment (``[]``: valid); an environment with problems is never written."""
    errors = []
    if env.get('active_slot') not in SLOTS:
        errors.append('active_slot must be one of ' + ', '.join(SLOTS))
    if env.get('upgrade_available') not in (0, 1) or isinstance(env.get('upgrade_available'), bool):
        errors.append('upgrade_available must be 0 or 1')
    for key, low, nullable in (('bootcount', 0, False), ('bootlimit', 1, False), ('boots', 0, False),
                               ('trial_boots', 0, True)):
        value = env.get(key)
        if value is None and nullable:
            continue
        if not isinstance(value, int) or isinstance(value, bool) or value < low:
            errors.append(f'{key} must be an integer >= {low}' + (' or null' if nullable else ''))
    for key in EPOCH_KEYS:
        value = env.get(key)
        if value is not None and (not isinstance(value, int) or isinstance(value, bool)):
            errors.append(f'{key} must be an epoch integer or null')
    for key in TEXT_KEYS:
        value = env.get(key)
        if value is not None and not isinstance(value, str):
            errors.append(f'{key} must be a string or null')
    return errors


def with_defaults(env):
    merged = dict(DEFAULT_ENV)
    merged.update(env)
    return merged


def trial_expired(env, now):
    """The reason to end a pending trial that nobody committed in time, or ``None``."""
    deadline = env.get('trial_deadline')
    if env.get('upgrade_available') != 1 or deadline is None or now < deadline:
        return None
    started = env.get('trial_started')
    allowed = f' ({deadline - started} s)' if isinstance(started, int) else ''
    return f'trial of slot {env.get("active_slot")} was not committed within its deadline{allowed}'


def start_trial(env, slot, now, seconds):
    """Make ``slot`` the trial of ``env`` (in place), ending at ``now + seconds`` unless committed."""
    env.update(active_slot=slot, upgrade_available=1, bootcount=0, trial_started=int(now),
               trial_deadline=int(now) + seconds, trial_boots=env.get('boots') or 0)


def trial_booted(env):
    """Whether the terminal booted since its pending trial started. Counted in boots, not compared in seconds: a
    fast terminal boots, stages and starts a trial within one second."""
    if env.get('trial_boots') is None:  # a trial started before the count was kept
        return (env.get('last_boot') or 0) >= (env.get('trial_started') or 0)
    return (env.get('boots') or 0) > env['trial_boots']


def fall_back(env, now, reason):
    """Switch ``env`` (in place) back to the other slot, keeping the reason; returns the slot it left."""
    old = env['active_slot']
    env.update(active_slot=other_slot(old), upgrade_available=0, bootcount=0, last_fallback=int(now),
               last_fallback_reason=str(reason)[:300], trial_started=None, trial_deadline=None, trial_boots=None)
    return old


def end_trial(env):
    """Commit a pending trial in ``env`` (in place)."""
    env.update(upgrade_available=0, bootcount=0, trial_started=None, trial_deadline=None, trial_boots=None)
