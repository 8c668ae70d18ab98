# Copyright (c) posfleet developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The platform contract, run for every registered platform (``PLATFORMS``).

A vendor's platform is done when it passes this file. To add one: register the class in
``plugins/module_utils/_platform/__init__.py``, then add a builder to ``TERMINALS`` below that makes a healthy
terminal of that platform under ``tmp_path`` (files, and a fake of its daemon when ``live``).

To add a case for a new contract method (``@abstract`` in ``Platform``): add one ``Case`` to ``CASES`` with the
call's arguments and the return shape documented in ``base.py``; for the reference terminal, add what its posd
answers to ``POSD_ANSWERS``. ``test_every_contract_method_has_a_case`` fails until that is done.

The write side runs on the same temporary tree: the builder also returns the inputs a write needs on that
terminal (``Arg`` names them: its inactive slot, a firmware bundle, a managed user, ...). Where a write needs
what a tree cannot give (a running daemon when ``live`` is false, the terminal's own PAM stack), its case checks
the documented error path instead (``raises``): a TerminalError naming the terminal and the fix, nothing changed.
The same writes run against a real terminal container in tests/images/platform_write.py.
"""

from __future__ import annotations

import copy
import json
import os
import shutil
import subprocess
import time
import uuid

import pytest
from terminal_tree import (
    HARDWARE,
    USER,
    USER_HASH,
    ed25519_line,
    install_slot,
    lock_out,
    make_firmware,
    make_journal,
    write_accounts,
    write_json,
)

from ansible_collections.posfleet.terminals.plugins.module_utils._platform import (
    PLATFORMS,
    RECORD_KEYS,
    Platform,
    TerminalError,
    contract_methods,
    load_platform,
    slots,
    unimplemented,
)
from ansible_collections.posfleet.terminals.plugins.module_utils._time import utc_iso

# -------------------------------------------------------------------------------------------------- shapes

NONE = type(None)
ANY = object()
OPTIONAL = 'optional'


class Dict:
    """A dict with exactly these keys (``optional`` ones may be missing; ``extra`` allows more)."""

    def __init__(self, fields, optional=(), extra=False):
        self.fields, self.optional, self.extra = fields, set(optional), extra


class DictOf:
    """A dict with str keys whose values all have one shape."""

    def __init__(self, value):
        self.value = value


class ListOf:
    def __init__(self, item):
        self.item = item


class OneOf:
    def __init__(self, *values):
        self.values = values


class Either:
    """One of several shapes (``None`` or a dict, ...)."""

    def __init__(self, *shapes):
        self.shapes = shapes


def check_shape(value, shape, where='result'):
    """Raise AssertionError naming the first place where ``value`` does not have ``shape``."""
    if shape is ANY:
        return
    if isinstance(shape, OneOf):
        assert any(value is v or (type(value) is type(v) and value == v) for v in shape.values), \
            f'{where}: {value!r} is not one of {shape.values}'
    elif isinstance(shape, Either):
        errors = []
        for option in shape.shapes:
            try:
                check_shape(value, option, where)
                return
            except AssertionError as exc:
                errors.append(str(exc))
        raise AssertionError(' / '.join(errors))
    elif isinstance(shape, Dict):
        assert isinstance(value, dict), f'{where}: expected a dict, got {type(value).__name__}'
        missing = set(shape.fields) - set(value) - shape.optional
        assert not missing, f'{where}: missing keys {sorted(missing)}'
        extra = set(value) - set(shape.fields)
        assert shape.extra or not extra, f'{where}: undocumented keys {sorted(extra)}'
        for key, sub in shape.fields.items():
            if key in value:
                check_shape(value[key], sub, f'{where}.{key}')
    elif isinstance(shape, DictOf):
        assert isinstance(value, dict), f'{where}: expected a dict, got {type(value).__name__}'
        for key, item in value.items():
            assert isinstance(key, str), f'{where}: key {key!r} is not a str'
            check_shape(item, shape.value, f'{where}.{key}')
    elif isinstance(shape, ListOf):
        assert isinstance(value, list), f'{where}: expected a list, got {type(value).__name__}'
        for index, item in enumerate(value):
            check_shape(item, shape.item, f'{where}[{index}]')
    else:
        types = shape if isinstance(shape, tuple) else (shape,)
        if bool not in types:  # bool is an int subclass: an int field must not hold True
            assert not isinstance(value, bool), f'{where}: {value!r} is a bool, expected {types}'
        assert isinstance(value, types), f'{where}: {value!r} is not {" or ".join(t.__name__ for t in types)}'


STR = (str, NONE)
INT = (int, NONE)
TIME = (str, int, float, NONE)
DEVICE_STATE = Dict({'present': bool, 'ok': (bool, NONE), 'detail': STR}, optional=('ok', 'detail'), extra=True)
BOOT = {'active_slot': str, 'inactive_slot': STR, 'state': OneOf('committed', 'pending_trial'),
        'upgrade_available': int, 'bootcount': int, 'bootlimit': int}
TIMINGS = ('connect_ms', 'handshake_ms', 'response_ms')
TEXTS = ('auth_code', 'tls_version', 'cipher', 'stage', 'error', 'fix')
TRANSACTION = Dict(dict({'ok': bool, 'approved': (bool, NONE)}, **dict.fromkeys(TIMINGS, (int, float, NONE)),
                        **dict.fromkeys(TEXTS, STR)), optional=('approved',) + TIMINGS + TEXTS, extra=True)
MAINTENANCE = Dict({'enabled': bool, 'since': TIME, 'message': STR, 'in_flight': INT, 'source': str,
                    'expires': (float, NONE), 'holder': STR, 'lease_remaining': (float, NONE), 'stale': bool})

# ---------------------------------------------------------------------------------------------------- cases


class Arg:
    """An argument that depends on the terminal (its inactive slot, a bundle staged beside it, ...): the value the
    platform's builder in ``TERMINALS`` gives for ``name``."""

    def __init__(self, name):
        self.name = name

    @staticmethod
    def resolve(value, inputs):
        if isinstance(value, list):  # a list of paths, ...
            return [Arg.resolve(item, inputs) for item in value]
        return inputs[value.name] if isinstance(value, Arg) else value


class Case:
    """One call of a contract method on a healthy terminal and the shape of its answer.

    ``live``: the terminal's daemon runs (False: it is down, and the method must still answer as documented).
    ``raises``: the call must fail with a TerminalError that names the terminal and the fix, and change nothing
    (``shape`` is then None). ``after``: the steps that bring the terminal into the state this case needs, in
    order: Cases (their calls), or names of callables among the builder's inputs (``boot``: the boot loader
    boots the terminal once, as a reboot would).
    """

    def __init__(self, method, shape, args=(), kwargs=None, live=True, name=None, raises=False, after=()):
        self.method, self.shape, self.args, self.kwargs, self.live = method, shape, args, kwargs or {}, live
        self.raises, self.after = raises, after
        self.id = name or method

    def call(self, platform, inputs):
        args = [Arg.resolve(value, inputs) for value in self.args]
        kwargs = {key: Arg.resolve(value, inputs) for key, value in self.kwargs.items()}
        return getattr(platform, self.method)(*args, **kwargs)


START_TRIAL = Case('start_trial', Dict({'changed': bool, 'slot': str, 'fallback_slot': STR, 'trial_deadline': STR,
                                        'reboot_required': bool}), args=(Arg('inactive_slot'), 600))
COMMIT = Dict({'changed': bool, 'slot': str, 'version': STR})
ROLLBACK = Dict({'changed': bool, 'active_slot': str, 'reason': STR, 'reboot_required': bool})

INSTALLED = Dict({'changed': bool, 'installed': DictOf(str), 'previous': DictOf(STR), 'kept': ListOf(str)})
INSTALL = Case('install_packages', INSTALLED, args=([Arg('deb')],))
ROLLED_BACK = Dict({'changed': bool, 'installed': DictOf(STR)})
PACKAGE_CACHE = Dict({'path': str, 'free_bytes': int, 'debs': ListOf(Dict({
    'file': str, 'package': str, 'version': str, 'architecture': str, 'sha256': str, 'size': int}))})

CASES = [
    Case('identity', Dict({'terminal_id': str, 'serial': STR, 'model': STR, 'store': STR, 'timezone': str,
                           'platform': str})),
    Case('model', Dict({'model': STR, 'hardware_revision': STR, 'vendor': STR, 'description': STR,
                        'peripherals': DictOf(bool)})),
    Case('firmware', Dict({'active_slot': str, 'inactive_slot': STR, 'active_version': STR,
                           'slots': DictOf(Dict({'version': STR, 'present': bool, 'models': (list, NONE),
                                                 'security_version': INT})),
                           'bootenv': Dict({'upgrade_available': int, 'bootcount': int, 'bootlimit': int}),
                           'state': OneOf('committed', 'pending_trial'), 'last_fallback': ANY,
                           'last_fallback_reason': STR, 'security_version': int})),
    Case('boot_state', Dict(dict(BOOT, last_boot=(float, NONE), boots=INT, last_fallback=ANY))),
    Case('applications', ListOf(Dict({'name': str, 'version': STR, 'error': str}, optional=('error',)))),
    Case('installed_software', Dict({'firmware': STR, 'applications': DictOf(str)})),
    Case('records', Dict(dict.fromkeys(RECORD_KEYS, STR), extra=True)),
    Case('disk', ListOf(Dict({'path': str, 'total_bytes': int, 'free_bytes': int, 'used_bytes': int,
                              'used_pct': float}))),
    Case('uptime', Dict({'boot_time': STR, 'uptime_seconds': INT, 'boots': INT})),
    Case('acquirer', Dict({'host': STR, 'port': INT, 'verify': (bool, NONE), 'ca_file': STR, 'min_tls': STR,
                           'source': str})),
    Case('compliance_paths', Dict({'journal_files': ListOf(str), 'app_log_dir': STR, 'app_logs': ListOf(str),
                                   'acquirer_config': STR, 'software_dirs': ListOf(str),
                                   'integrity_paths': ListOf(str), 'card_data_paths': ListOf(str),
                                   'services_dir': STR, 'identity_file': str})),
    Case('journal_masking', Either(Dict({'total': int, 'unmasked': int}), NONE),
         args=('[0-9][0-9][0-9][0-9][0-9][0-9]*[*]*[0-9][0-9][0-9][0-9]', 10)),
    Case('daemon_info', Dict({'running': bool, 'version': STR, 'slot': STR, 'pid': INT, 'started': TIME,
                              'error': STR})),
    Case('daemon_info', Dict({'running': OneOf(False), 'version': NONE, 'slot': NONE, 'pid': NONE,
                              'started': NONE, 'error': str}), live=False, name='daemon_info-down'),
    Case('peripherals', DictOf(DEVICE_STATE)),
    Case('journal_summary', Dict({'transactions_today': INT, 'last_transaction': STR, 'unsettled_batches': INT,
                                  'unsettled_count': INT, 'unsettled_amount_minor': INT, 'currency': STR,
                                  'open_batch': (dict, NONE), 'source': str})),
    Case('journal_summary', Dict({'transactions_today': INT, 'last_transaction': STR, 'unsettled_batches': INT,
                                  'unsettled_count': INT, 'unsettled_amount_minor': INT, 'currency': STR,
                                  'open_batch': (dict, NONE), 'source': str}), live=False,
         name='journal_summary-down'),
    Case('maintenance_state', MAINTENANCE),
    Case('maintenance_state', MAINTENANCE, kwargs={'live': True}, name='maintenance_state-live'),
    Case('maintenance_state', MAINTENANCE, live=False, name='maintenance_state-down'),
    Case('selftest', Dict({'devices': ListOf(Dict({'device': str, 'present': bool, 'ok': (bool, NONE),
                                                   'latency_ms': (int, float, NONE), 'detail': STR}, extra=True)),
                           'receipt_printed': (bool, NONE)}), kwargs={'print_receipt': False}),
    Case('test_transaction', TRANSACTION, kwargs={'timeout': 1}),
    Case('maintenance_enter', Dict({'changed': bool, 'drained': bool, 'in_flight': int, 'since': TIME,
                                    'message': STR, 'expires': TIME, 'holder': STR}, extra=True),
         args=('Under maintenance', 1, 60, 'run-1')),
    Case('maintenance_renew', Dict({'renewed': bool, 'expires': TIME, 'holder': STR}), args=(60, 'run-1')),
    Case('maintenance_leave', Dict({'changed': bool, 'out_of_service_seconds': (int, float, NONE)}, extra=True)),
    Case('settle', Dict({'batch_id': STR, 'count': int, 'amount_minor': int, 'currency': STR}, extra=True)),

    # write side: firmware
    Case('hold_update_lock', Dict({'lock': str, 'holder': str, 'waited_s': float}), args=('contract test', 5)),
    Case('backup_sources', Dict({'journal': str, 'paths': ListOf(str)})),
    Case('boot_id', str),
    Case('stage_slot', Dict({'changed': bool, 'slot': str, 'version': str, 'files': int}),
         args=(Arg('inactive_slot'), Arg('bundle'), Arg('manifest'))),
    START_TRIAL,
    Case('commit_slot', COMMIT),
    # A trial commits once the terminal has booted into it ('boot'; a real reboot: tests/images/platform_write.py).
    Case('commit_slot', COMMIT, after=(START_TRIAL, 'boot'), name='commit_slot-trial'),
    Case('commit_slot', None, after=(START_TRIAL,), raises=True, name='commit_slot-before-the-trial-boot'),
    Case('rollback_slot', ROLLBACK, args=('contract test',)),
    Case('rollback_slot', ROLLBACK, args=('contract test',), after=(START_TRIAL,), name='rollback_slot-trial'),
    Case('rollback_slot', ROLLBACK, args=('contract test',), after=(START_TRIAL, 'boot'),
         name='rollback_slot-booted-trial'),
    Case('firmware_content', Dict({'held': DictOf(int), 'partial': DictOf(int), 'free_bytes': int})),
    Case('receive_content', Dict({'sha256': str, 'received': int, 'complete': bool}),
         args=(Arg('content_sha256'), Arg('content_size'), 0, Arg('content_chunk'))),
    Case('assemble_content', Dict({'path': str, 'files': int, 'bytes': int}),
         args=(Arg('content_files'), Arg('assemble_dest'))),
    Case('prune_content', Dict({'changed': bool, 'removed': int, 'bytes': int}), args=((),)),
    # journal
    Case('snapshot_journal', Dict({'path': str, 'bytes': int, 'sha256': str, 'integrity': OneOf('ok'),
                                   'transactions': int, 'batches': int, 'max_id': INT,
                                   'settled_last': STR}),
         args=(Arg('snapshot_dest'),)),
    Case('transactions_since', Dict({'count': int, 'max_id': INT}), args=('2020-01-02T00:00:00Z',)),
    Case('transactions_since', Dict({'count': int, 'max_id': INT}), args=(None,), live=False,
         name='transactions_since-all-down'),
    Case('transactions_since', None, args=('yesterday',), raises=True, name='transactions_since-not-a-time'),
    Case('restore_files', Dict({'changed': bool, 'restored': ListOf(str), 'unchanged': ListOf(str),
                                'kept': DictOf(str)}), args=(Arg('files_staging'), Arg('files_manifest'))),
    Case('restore_files', None, args=(Arg('files_staging'), Arg('files_evil_manifest')), raises=True,
         name='restore_files-a-path-no-backup-holds'),
    Case('quiesce_journal', Dict({'changed': bool, 'quiesced': bool, 'since': TIME, 'resume_by': TIME}),
         args=(1, 60)),
    Case('quiesce_journal', None, args=(1, 60), live=False, raises=True, name='quiesce_journal-down'),
    Case('resume_journal', Dict({'changed': bool, 'quiesced': bool, 'quiesced_seconds': (int, float, NONE)})),
    Case('resume_journal', None, live=False, raises=True, name='resume_journal-down'),
    Case('restore_journal', Dict({'changed': bool, 'path': str, 'sha256': str, 'transactions': int,
                                  'batches': int}), args=(Arg('journal_backup'),)),
    Case('restore_journal', None, args=(Arg('journal_backup'),), live=False, raises=True,
         name='restore_journal-down'),
    # accounts
    Case('accounts', ListOf(Dict({'user': str, 'uid': int, 'gid': int, 'home': str, 'shell': str, 'system': bool,
                                  'password': OneOf('hash', 'locked', 'no_login', 'empty', None),
                                  'last_change': STR, 'min_days': INT, 'max_days': INT, 'warn_days': INT,
                                  'inactive_days': INT, 'expires': STR}))),
    Case('set_password_hash', Dict({'changed': bool, 'user': str}), args=(Arg('user'), Arg('password_hash'))),
    # A real answer needs the terminal's PAM stack (tests/images/platform_write.py); the tree has the lockout.
    Case('verify_password', None, args=(Arg('locked_out_user'), 'not-the-password'), raises=True,
         name='verify_password-locked-out'),
    Case('password_methods', ListOf(OneOf('yescrypt', 'sha512_crypt'))),
    Case('password_hash_index', INT, args=(Arg('user'), ['$6$other-salt$' + 'y' * 86, Arg('password_hash')])),
    Case('password_is_one_of', bool, args=(Arg('user'), ['vendor-default-1', '123456'])),
    Case('set_password_aging', Dict({'changed': bool, 'user': str}), args=(Arg('user'), 90, 14)),
    Case('set_password_aging', None, args=(Arg('user'), 90, 91), raises=True, name='set_password_aging-warn-too-long'),
    Case('authorized_keys', ListOf(Dict({'type': str, 'fingerprint': str, 'comment': STR, 'options': STR,
                                         'line': str})), args=(Arg('user'),)),
    Case('set_authorized_keys', Dict({'changed': bool, 'user': str, 'count': int, 'fingerprints': ListOf(str)}),
         args=(Arg('user'), Arg('keys'))),
    # records
    Case('write_record', Dict({'changed': bool, 'key': OneOf(*RECORD_KEYS), 'value': STR, 'previous': STR}),
         args=('last_audit', 1795000000)),
    # packages
    Case('packages', DictOf(Dict({'version': STR, 'status': str})), args=(['posfleet-contract', 'dpkg'],)),
    Case('package_cache', PACKAGE_CACHE),
    INSTALL,
    Case('install_packages', INSTALLED, args=([Arg('deb')],), after=(INSTALL,), name='install_packages-again'),
    Case('install_packages', None, args=([Arg('not_a_deb')],), raises=True, name='install_packages-not-a-deb'),
    # apt reaches a repository and installs into the real root: tests/images/platform_write.py, Molecule software.
    Case('apt_install', None, args=({'posfleet-contract': '1.0'}, 'deb http://repo.invalid/ ./'), raises=True,
         name='apt_install-in-a-tree'),
    Case('rollback_packages', ROLLED_BACK, args=({'posfleet-contract': None},)),
    Case('rollback_packages', ROLLED_BACK, args=({'posfleet-contract': None},), after=(INSTALL,),
         name='rollback_packages-installed'),
]

# What the reference terminal's posd answers after ``status`` for each action (status answers the reads).
POSD_ANSWERS = {
    'selftest': {'ok': True, 'receipt_printed': False, 'devices': [
        dict(HARDWARE[d], device=d, latency_ms=5) for d in HARDWARE]},
    'test_transaction': {'ok': True, 'approved': True, 'auth_code': 'A1', 'connect_ms': 1, 'handshake_ms': 2,
                         'response_ms': 3},
    'maintenance_enter': {'ok': True, 'changed': True, 'drained': True, 'in_flight': 0, 'since': 1700000000,
                          'message': 'Under maintenance', 'expires': 1700000060, 'holder': 'run-1'},
    'maintenance_renew': {'ok': True, 'changed': False, 'renewed': True, 'since': 1700000000, 'expires': 1700000060,
                          'holder': 'run-1'},
    'maintenance_leave': {'ok': True, 'changed': True, 'out_of_service_seconds': 42.0},
    'settle': {'ok': True, 'batch_id': 'B2', 'count': 2, 'amount_minor': 2000, 'currency': 'CNY'},
    'quiesce_journal': {'ok': True, 'changed': True, 'quiesced': True, 'since': 1700000000, 'resume_by': 1700000900},
    'resume_journal': {'ok': True, 'changed': True, 'quiesced': False, 'quiesced_seconds': 0.2},
}
POSD_ANSWERS['restore_journal'] = [POSD_ANSWERS['quiesce_journal'], POSD_ANSWERS['resume_journal']]


def reference_write_inputs(root, tmp_path):
    """Make the reference tree ready for every write and return the inputs the write cases name (``Arg``)."""
    install_slot(root, 'a', '2.3.1')  # active
    install_slot(root, 'b', '2.2.0')  # inactive, bootable: a trial can start
    bundle = str(tmp_path / 'bundle')
    manifest = make_firmware(bundle, '2.4.0')
    write_accounts(root)
    key, dummy = ed25519_line(b'contract', 'tech@posfleet')
    write_json(root, f'/home/{USER}/.ssh/authorized_keys', key + '\n')
    lock_out(root, 'posadmin')
    backup = str(tmp_path / 'backup.db')
    make_journal(backup, '2020-01-01')
    # A backup's files as restore_files gets them: the acquirer link, its mode and owner, under a staging tree.
    files_staging = str(tmp_path / 'files-backup')
    acquirer = write_json(files_staging, '/etc/posfleet/acquirer.json', {'host': '127.0.0.1', 'port': 8443})
    entry = {'sha256': slots.file_sha256(acquirer), 'size': os.path.getsize(acquirer), 'mode': '0644',
             'uid': os.getuid(), 'gid': os.getgid()}

    def boot():  # what posboot writes when it boots (sbin/posboot): a trial boot counts one attempt
        path = os.path.join(str(root), 'var/lib/posboot/env.json')
        with open(path, encoding='utf-8') as handle:
            env = json.load(handle)
        env.update(boots=env.get('boots', 0) + 1, last_boot=int(time.time()) + 1, boot_id=uuid.uuid4().hex,
                   bootcount=env.get('bootcount', 0) + (1 if env.get('upgrade_available') else 0))
        write_json(root, '/var/lib/posboot/env.json', env)

    chunk = str(tmp_path / 'chunk')
    with open(chunk, 'wb') as handle:
        handle.write(b'a cached firmware file\n')
    slot_a = install_slot(root, 'a', '2.3.1')
    content_files = {rel: {'sha256': digest, 'mode': '0755'} for rel, digest in slot_a['files'].items()}

    return {'boot': boot, 'inactive_slot': 'b', 'bundle': bundle, 'manifest': manifest,
            **package_inputs(root, tmp_path),
            'content_sha256': slots.file_sha256(chunk), 'content_size': os.path.getsize(chunk), 'content_chunk': chunk,
            'content_files': content_files, 'assemble_dest': str(tmp_path / 'assembled'),
            'snapshot_dest': str(tmp_path / 'snap.db'),
            'journal_backup': backup, 'files_staging': files_staging,
            'files_manifest': {'/etc/posfleet/acquirer.json': entry}, 'files_evil_manifest': {'/etc/shadow': entry},
            'user': USER, 'password_hash': USER_HASH, 'locked_out_user': 'posadmin',
            'keys': [key, ed25519_line(b'second', 'backup')[0]]}


def package_inputs(root, tmp_path):
    """An empty dpkg database in the tree (``dpkg --root``) and a .deb built with dpkg-deb, when the machine has it."""
    admin = os.path.join(str(root), 'var/lib/dpkg')
    for sub in ('info', 'updates'):
        os.makedirs(os.path.join(admin, sub), exist_ok=True)
    for name in ('status', 'available'):
        open(os.path.join(admin, name), 'a').close()
    not_a_deb = str(tmp_path / 'not-a.deb')
    with open(not_a_deb, 'w') as handle:
        handle.write('plain text\n')
    if not shutil.which('dpkg-deb'):
        return {'deb': None, 'not_a_deb': not_a_deb}
    tree = tmp_path / 'pkg'
    write_json(str(tree), '/opt/posapps/contract/manifest.json', {'name': 'contract', 'version': '1.0'})
    write_json(str(tree), '/DEBIAN/control', 'Package: posfleet-contract\nVersion: 1.0\nArchitecture: all\n'
               'Maintainer: posfleet <dev@posfleet.invalid>\nDescription: contract test package\n')
    deb = str(tmp_path / 'posfleet-contract_1.0_all.deb')
    subprocess.run(['dpkg-deb', '--root-owner-group', '--build', str(tree), deb], check=True,
                   stdout=subprocess.DEVNULL)
    return {'deb': deb, 'not_a_deb': not_a_deb}


def reference_terminal(request, method, live):
    root = request.getfixturevalue('terminal_root')
    make_journal(os.path.join(str(root), 'var/lib/posd/journal.db'), utc_iso()[:10])
    inputs = reference_write_inputs(root, request.getfixturevalue('tmp_path'))
    if not live:
        return load_platform(root=str(root)), inputs  # no socket in the tree: posd is down
    status = {'ok': True, 'version': '2.3.1', 'slot': 'a', 'pid': 42, 'started': 1700000000, 'in_flight': 0,
              'maintenance': {'enabled': False, 'since': None, 'message': None},
              'hardware': copy.deepcopy(HARDWARE),
              'journal': {'transactions_today': 2, 'last_transaction': '2026-11-20T09:59:55Z',
                          'unsettled_batches': 1, 'unsettled_count': 2, 'unsettled_amount_minor': 2000,
                          'open_batch': {'batch_id': 'B2', 'count': 2, 'amount_minor': 2000, 'currency': 'CNY'}}}
    answers = POSD_ANSWERS.get(method, status)
    server = request.getfixturevalue('fake_posd')(*(answers if isinstance(answers, list) else [answers]))
    platform = load_platform(root=str(root), socket_path=server.path)

    def release():  # a file-only method never asks posd: take the answer so the fake stops at once
        if not server.requests:
            platform.daemon.call('status', check=False)

    request.addfinalizer(release)
    return platform, inputs


# Platform name -> builder(request, method, live) of a healthy terminal of that platform: ``(platform, inputs)``,
# ``inputs`` the values of the ``Arg`` names the write cases use.
TERMINALS = {
    'posfleet-reference': reference_terminal,
}

# ---------------------------------------------------------------------------------------------------- tests

PLATFORM_NAMES = sorted(PLATFORMS)


def test_every_registered_platform_has_a_test_terminal():
    assert sorted(TERMINALS) == PLATFORM_NAMES


def test_every_contract_method_has_a_case():
    assert sorted(contract_methods()) == sorted({case.method for case in CASES})


@pytest.mark.parametrize('method', contract_methods())
def test_every_contract_method_documents_its_answer(method):
    """The docstring in base.py is the contract a vendor implements: it must give the answer's shape."""
    doc = getattr(Platform, method).__doc__ or ''
    assert '``' in doc and any(word in doc for word in ('{', '[', '``str``', '``bool``')), doc


@pytest.mark.parametrize('name', PLATFORM_NAMES)
def test_platform_implements_the_whole_contract(name):
    cls = PLATFORMS[name]
    assert issubclass(cls, Platform)
    assert cls.name == name
    assert unimplemented(cls) == []


@pytest.mark.parametrize('case', CASES, ids=[case.id for case in CASES])
@pytest.mark.parametrize('name', PLATFORM_NAMES)
def test_contract(request, name, case):
    platform, inputs = TERMINALS[name](request, case.method, case.live)
    if 'package' in case.method and not shutil.which('dpkg'):
        pytest.skip('the package cases need dpkg and dpkg-deb on the test machine')
    for step in case.after:
        if isinstance(step, Case):
            step.call(platform, inputs)
        else:
            inputs[step]()
    if not case.raises:
        check_shape(case.call(platform, inputs), case.shape, f'{name}.{case.method}()')
        return
    before = tree_state(platform.root)
    with pytest.raises(TerminalError) as info:
        case.call(platform, inputs)
    assert str(info.value).startswith(f'terminal {platform.terminal_id}: ') and info.value.fix
    assert tree_state(platform.root) == before, f'{name}.{case.method}() failed but changed the terminal'


def tree_state(root):
    """Every file under ``root`` with its content, and every directory: what "nothing changed" compares."""
    state = {}
    for directory, dirs, files in os.walk(root):
        for entry in dirs:
            state[os.path.join(directory, entry)] = None
        for entry in files:
            with open(os.path.join(directory, entry), 'rb') as handle:
                state[os.path.join(directory, entry)] = handle.read()
    return state


@pytest.mark.parametrize('name', PLATFORM_NAMES)
def test_live_maintenance_state_raises_when_the_daemon_is_down(request, name):
    platform, dummy = TERMINALS[name](request, 'maintenance_state', False)
    with pytest.raises(TerminalError) as info:
        platform.maintenance_state(live=True)
    assert platform.terminal_id in str(info.value) and 'Fix:' in str(info.value)


@pytest.mark.parametrize('method', contract_methods())
def test_a_method_a_platform_does_not_implement_is_a_clear_error(method):
    class Partial(Platform):
        name = 'acme-x9'

    case = next(case for case in CASES if case.method == method)
    with pytest.raises(TerminalError) as info:
        getattr(Partial({'terminal_id': 'X1'}), method)(*case.args, **case.kwargs)
    assert info.value.step == method
    assert str(info.value).startswith(f"terminal X1: {method}: platform 'acme-x9' does not implement {method}()")
    assert 'plugins/module_utils/_platform/' in info.value.fix


def test_the_shape_checker_catches_mistakes():
    shape = Dict({'a': int, 'b': STR})
    check_shape({'a': 1, 'b': None}, shape)
    for bad in ({'a': 1}, {'a': True, 'b': None}, {'a': 1, 'b': None, 'c': 3}, {'a': '1', 'b': None}):
        with pytest.raises(AssertionError):
            check_shape(bad, shape)
