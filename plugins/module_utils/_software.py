# Copyright (c) posfleet developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Debian packages for ``posfleet.terminals.software``: plan (what changes, what is refused), then install
through the platform, gate on the terminal's health, and roll back when the gate fails.

The same ``Update`` answers check mode, the diff, the action plugin's question (which .deb files must be sent)
and the real run, so they never disagree (community.crypto's backend pattern).

Private to the collection (leading underscore): it may change without notice.
Target-side code: Python >= 3.9 standard library only.
"""

from __future__ import annotations

import os
import time

from ansible_collections.posfleet.terminals.plugins.module_utils import _update_preconditions, _version
from ansible_collections.posfleet.terminals.plugins.module_utils._io import file_sha256
from ansible_collections.posfleet.terminals.plugins.module_utils._platform import TerminalError
from ansible_collections.posfleet.terminals.plugins.module_utils._ranges import Range, check_ranges
from ansible_collections.posfleet.terminals.plugins.module_utils._update_gate import health_gate

STEP = 'software'
# Free space the cache must keep beyond the packages themselves (dpkg unpacks beside the old files).
SPACE_FACTOR = 3
SPACE_MARGIN = 16 * 1024 * 1024


def get_software_argument_spec():
    """The options of ``posfleet.terminals.software``: the one copy, read by the module, by its action plugin and
    checked against the module's DOCUMENTATION by a unit test. The ``_`` options are the action plugin's own."""
    return {
        'packages': {'type': 'list', 'elements': 'dict', 'required': True, 'options': {
            'name': {'type': 'str', 'required': True},
            'version': {'type': 'str', 'required': True},
            'deb': {'type': 'path'},
        }},
        'repository': {'type': 'str'},
        'repository_key': {'type': 'str', 'no_log': False},  # a public key: no secret
        'allow_downgrade': {'type': 'bool', 'default': False},
        'settlement_override_reason': {'type': 'str'},
        'min_battery_pct': {'type': 'int', 'default': 40},  # the firmware module's default
        'health_gate': {'type': 'bool', 'default': True},
        'transaction_timeout': {'type': 'int', 'default': 10},
        # Set by the action plugin: {name: {sha256, path}} of each .deb to install; ``path`` None when the
        # terminal's package cache holds that sha256 already (nothing was sent).
        '_debs': {'type': 'dict'},
        # Set by the action plugin: answer what to send (the cache's holdings) instead of installing.
        '_plan': {'type': 'bool'},
    }


# The spec's constraints, shared by the module and its action plugin.
SOFTWARE_CONSTRAINTS = {'required_by': {'repository_key': 'repository'}}

SOFTWARE_RANGES = {
    'min_battery_pct': Range(0, 100, '%'),
    'transaction_timeout': Range(1, 120, 'seconds'),
}


def problem_of_packages(packages, repository):
    """What is wrong with the ``packages`` option (``None``: nothing): versions, duplicates, ``deb`` per source."""
    names = [p['name'] for p in packages]
    if not packages:
        return 'packages is empty', 'list the packages to install, each with its name and version'
    if len(set(names)) != len(names):
        return f'a package is listed twice ({", ".join(sorted(names))})', 'list each package once'
    for package in packages:
        try:
            _version.parse(package['version'])
        except ValueError as exc:
            return f'{package["name"]}: {exc}', 'give a Debian version, e.g. 7.1.1'
        if repository and package.get('deb'):
            return (f'{package["name"]} has a deb although a repository is given',
                    'either push .deb files (deb per package) or install from the repository')
    return None


class Update:
    """One software update of one terminal: ``plan()`` reads and judges, ``apply()`` changes."""

    def __init__(self, platform, params):
        self.platform = platform
        self.p = params
        self.wanted = {pkg['name']: pkg['version'] for pkg in params['packages']}
        self.installed = None
        self.todo = {}
        self.settlement_override = None  # the override reason the update goes ahead under (plan() sets it)
        self.debs = {}  # name -> path on the terminal of the .deb to install (files mode)
        # Without a repository, a package given without its deb comes from the terminal's package cache.
        self.from_cache = set() if params['repository'] else {
            pkg['name'] for pkg in params['packages'] if not pkg.get('deb')}

    def error(self, message, fix):
        return TerminalError(STEP, message, fix, self.platform.terminal_id)

    def check_input(self):
        """Refuse bad options before the terminal is read (or anything is written, the update lock included)."""
        p = self.p
        check_ranges({key: p[key] for key in SOFTWARE_RANGES}, SOFTWARE_RANGES, self.platform.terminal_id)
        problem = problem_of_packages(p['packages'], p['repository'])
        if problem:
            raise self.error(*problem)

    def plan(self):
        """Read the terminal and refuse what must not happen: ``(todo, refusal)``; ``todo`` is ``{name: version}``
        of the packages that change, ``refusal`` a TerminalError (``None`` when the update may go ahead)."""
        self.check_input()
        self.installed = self.platform.packages(list(self.wanted))
        self.todo = {name: version for name, version in self.wanted.items()
                     if self.installed[name] != {'version': version, 'status': 'installed'}}
        if not self.todo:
            return {}, None
        return self.todo, self.refusal()

    def refusal(self):
        """Every rule the update breaks, as one TerminalError, or ``None``: a downgrade, then the preconditions
        of every update (``_update_preconditions``: maintenance mode, the open batch, the battery of a mobile
        terminal). Free space is judged where the sizes are known (``space_refusal``)."""
        found = []
        for name, version in sorted(self.todo.items()):
            old = self.installed[name]['version']
            if old and not self.p['allow_downgrade'] and _version.compare(version, old) < 0:
                found.append(self.error(f'{name} {version} is older than the installed {old} (a downgrade)',
                                        'install a newer version, or set allow_downgrade: true'))
        for name in sorted(self.from_cache & set(self.todo)):
            if cached_deb(self.platform, name, self.todo[name]) is None:
                found.append(self.error(
                    f'{name} {self.todo[name]} has no deb and the package cache holds no .deb of it',
                    "give the package's deb (the .deb of that version on the controller) or a repository"))
        facts = _update_preconditions.read_facts(self.platform)
        self.settlement_override = _update_preconditions.settlement_override(facts, self.p)
        found += _update_preconditions.problems(facts, self.p, STEP, self.platform.terminal_id)
        return _update_preconditions.refusal(found, STEP, self.platform.terminal_id)

    def space_refusal(self, need_bytes):
        """The free-space problem of installing packages of ``need_bytes`` (a TerminalError), or ``None``."""
        free = self.platform.package_cache()['free_bytes']
        return _update_preconditions.space_problem(free, need_bytes * SPACE_FACTOR + SPACE_MARGIN, STEP,
                                                   self.platform.terminal_id)

    def gate(self):
        if not self.p['health_gate']:
            return {'ok': True, 'reason': None, 'checks': [], 'daemon_version': None}
        return health_gate(self.platform, transaction_timeout=self.p['transaction_timeout'])

    def apply(self):
        """Install ``todo``, gate, roll back on failure: the result keys that ``run()`` does not set."""
        p = self.p
        previous = {name: self.installed[name]['version'] for name in self.todo}
        started = time.monotonic()
        downloaded = {'downloaded_bytes': 0, 'downloaded_files': 0}
        failure = None
        try:
            if p['repository']:
                answer = self.platform.apt_install(self.todo, p['repository'], key=p['repository_key'],
                                                   allow_downgrade=p['allow_downgrade'])
                downloaded = {key: answer[key] for key in downloaded}
            else:
                self.platform.install_packages([self.debs[name] for name in sorted(self.todo)],
                                               allow_downgrade=p['allow_downgrade'])
        except TerminalError as exc:
            after = self.platform.packages(list(self.todo))
            if after == {name: self.installed[name] for name in self.todo}:
                raise  # refused before any change (not a .deb, a version the repository lacks, ...)
            failure = f'install failed: {exc.message}'
        gate = None
        if failure is None:
            gate = self.gate()
            if not gate['ok']:
                failure = f'health gate failed after the install: {gate["reason"]}'
        result = {'health': None if gate is None else {k: gate[k] for k in ('ok', 'reason', 'daemon_version')},
                  'rolled_back': False, 'reason': None, 'old_version_serves': None, **downloaded}
        if failure:
            result.update(self.rollback(previous, failure))
        result['out_of_service_s'] = round(time.monotonic() - started, 1)
        result['versions'] = {name: v['version'] for name, v in self.platform.packages(list(self.wanted)).items()}
        return result

    def rollback(self, previous, failure):
        """Back to ``previous``, then the gate again: the terminal must serve on the old versions."""
        try:
            self.platform.rollback_packages(previous)
        except TerminalError as exc:
            return {'rolled_back': False, 'old_version_serves': False,
                    'reason': f'{failure}; the rollback failed too: {exc}',
                    'fix': 'repair the packages by hand (dpkg --audit) before the terminal returns to service'}
        after = self.gate()
        if not after['ok']:
            return {'rolled_back': True, 'old_version_serves': False,
                    'reason': f'{failure}; rolled back, but the terminal does not pass the '
                    f'health gate on the previous versions either: {after["reason"]}',
                    'fix': 'check the terminal (posfleet.terminals.selftest) before it returns to service'}
        return {'rolled_back': True, 'reason': failure, 'old_version_serves': True,
                'fix': 'fix the package (its self-test or maintainer scripts), then roll out a new version'}


def run(platform, params, check_mode=False):
    """The module's result (without ``failed``) and the failure message (``None`` when the task should not fail)."""
    started = time.monotonic()
    update = Update(platform, params)
    if not (check_mode or params['_plan']):
        update.check_input()
        # No other update step of this terminal runs between what the plan reads and the install.
        platform.hold_update_lock('software install')
    todo, refusal = update.plan()
    if refusal:
        raise refusal
    previous = {name: (update.installed[name]['version']) for name in update.wanted}
    result = {
        'terminal_id': platform.terminal_id,
        'changed': bool(todo),
        'source': 'repository' if params['repository'] else 'files',
        'previous_versions': previous,
        'versions': dict(update.wanted) if todo else previous,
        'bytes_transferred': 0,
        'files_transferred': 0,
        'rolled_back': False,
        'reason': None,
        'old_version_serves': None,
        'health': None,
        'settlement_override_reason': update.settlement_override,
        'out_of_service_s': 0.0,
        'diff': {'before': previous, 'after': dict(update.wanted)},
    }
    if params['_plan']:
        cache = platform.package_cache()
        result['plan'] = {'todo': todo, 'held': sorted({deb['sha256'] for deb in cache['debs']}),
                          'free_bytes': cache['free_bytes']}
    if not todo or check_mode or params['_plan']:
        result['duration_s'] = round(time.monotonic() - started, 1)
        return result, None
    if not params['repository']:
        update.debs = received_debs(platform, todo, params['_debs'] or {}, update.from_cache)
        space = update.space_refusal(sum(os.path.getsize(path) for path in update.debs.values()))
    else:
        space = update.space_refusal(0)
    if space:
        raise space
    applied = update.apply()
    fix = applied.pop('fix', None)
    downloaded = (applied.pop('downloaded_bytes'), applied.pop('downloaded_files'))
    result.update(applied)
    if params['repository']:  # with pushed files the action plugin counts what it sent
        result['bytes_transferred'], result['files_transferred'] = downloaded
    result['duration_s'] = round(time.monotonic() - started, 1)
    message = None
    if result['reason']:
        message = f'terminal {platform.terminal_id}: {STEP}: {result["reason"]}. Fix: {fix}'
    return result, message


def cached_deb(platform, name, version):
    """``{file, sha256, ...}`` of the .deb of ``name`` ``version`` in the terminal's package cache, or ``None``."""
    return next((deb for deb in platform.package_cache()['debs']
                 if deb['package'] == name and deb['version'] == version), None)


def received_debs(platform, todo, sent, from_cache=()):
    """``{name: path}`` of the .deb of each package in ``todo``: the file the controller sent, whose sha256 the
    terminal checks here, or the cache's copy of that sha256 when nothing had to be sent; for a package in
    ``from_cache`` (given without a deb), the cache's .deb of that version, checked against the sha256 the cache
    recorded when it kept it."""
    held = {deb['sha256']: deb['file'] for deb in platform.package_cache()['debs']}
    paths = {}
    for name in sorted(todo):
        entry = sent.get(name)
        if name in from_cache:
            kept = cached_deb(platform, name, todo[name])
            if kept is None:
                raise TerminalError(STEP, f'the package cache no longer holds the .deb of {name} {todo[name]}',
                                    "give the package's deb (the .deb of that version on the controller)",
                                    platform.terminal_id)
            entry = {'sha256': kept['sha256'], 'path': kept['file']}
        if not isinstance(entry, dict) or not entry.get('sha256'):
            raise TerminalError(STEP, f'no .deb was sent for {name}',
                                'run the module through its action plugin (posfleet.terminals.software)',
                                platform.terminal_id)
        path = entry.get('path') or held.get(entry['sha256'])
        if path is None:
            raise TerminalError(STEP, f'the package cache no longer holds the .deb of {name} (sha256 '
                                f'{entry["sha256"][:12]}...)', 'run again: it is then sent', platform.terminal_id)
        try:
            digest = file_sha256(path)
        except OSError as exc:
            raise TerminalError(STEP, f'cannot read the .deb of {name} at {path} ({exc.strerror or exc})',
                                'run again (the upload may have been interrupted)', platform.terminal_id) from None
        if digest != entry['sha256']:
            raise TerminalError(STEP, f'the .deb of {name} that arrived has sha256 {digest[:12]}..., the controller '
                                f'sent {entry["sha256"][:12]}...; nothing was changed',
                                'run again; if it persists, check the link to the terminal', platform.terminal_id)
        paths[name] = path
    return paths
