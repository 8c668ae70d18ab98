# Copyright (c) posfleet developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""PCI DSS v4.0.1 controls of a Linux POS terminal, evaluated in one pass over the real operating system.

Each control has a stable ``id`` (also the ``pci_baseline`` role's toggle, ``posfleet_pci_baseline_<id>``), the
PCI DSS requirement IDs it gives evidence for, a severity, a check that returns ``(status, evidence)`` and the
remediation a person (or the role) applies. Statuses: ``pass``, ``fail``, ``not_applicable`` (with the reason),
``error`` (the check could not run; the evidence says why) and ``waived`` (a waiver with a reason and an expiry
date covers a failing control; never counted as a pass).

Private to the collection. Target-side code: Python >= 3.9 standard library only.
"""

from __future__ import annotations

import datetime
import fnmatch
import hashlib
import json
import os
import re
import stat
import time

from ansible_collections.posfleet.terminals.plugins.module_utils._io import atomic_write
from ansible_collections.posfleet.terminals.plugins.module_utils._os import (
    Crypt,
    OsView,
    is_loopback,
    retention_months,
    run_command,
)
from ansible_collections.posfleet.terminals.plugins.module_utils._pan import (
    MAX_SCAN_BYTES,
    MAX_SCAN_SECONDS,
    PAN_SCAN_RANGES,
    random_key,
    scan_paths,
)
from ansible_collections.posfleet.terminals.plugins.module_utils._platform import TerminalError, load_platform
from ansible_collections.posfleet.terminals.plugins.module_utils._ranges import Range, check_ranges
from ansible_collections.posfleet.terminals.plugins.module_utils._time import utc_date, utc_iso
from ansible_collections.posfleet.terminals.plugins.module_utils._version import at_least

# BIN (six digits), at least one '*', last four: what 3.4.1 allows at most.
MASKED_GLOB = '[0-9][0-9][0-9][0-9][0-9][0-9]*[*]*[0-9][0-9][0-9][0-9]'
MAX_STORED_DIGITS = 10  # BIN (6) + last four
STATUSES = ('pass', 'fail', 'not_applicable', 'error', 'waived')
CASHIER_NOTE = ('POS cashier ID exempt from 8.2.8, 8.3.6 and 8.3.7 (notes to the requirements: reaches one card '
                'number at a time for a single transaction)')

DEFAULTS = {
    'automation_account': 'posadmin',
    'cashier_accounts': [],
    'allowed_ports': [22],
    'insecure_ports': [21, 23, 69, 512, 513, 514, 2323],
    'allowed_services': [],
    'approved_versions': {},
    'default_passwords': ['posfleet', 'admin', 'password', '1234', '123456', 'changeme', 'default', 'root',
                          'toor', 'pos'],
    'known_default_hashes': [],
    # Where the OS may hold card data; the platform's own places (compliance_paths()) are added to them.
    'pan_paths': ['/var/log', '/var/tmp', '/tmp', '/home', '/root'],
    # Ansible's own temporary files (module payloads without pipelining) are not the terminal's data.
    'pan_exclude': ['*/.ansible/tmp/*', '/tmp/ansible_*', '/tmp/ansible-*'],
    'allow_test_pans': False,
    # The OS's critical files; the platform's (compliance_paths() integrity_paths) are added to them.
    'fim_paths': ['/etc/passwd', '/etc/shadow', '/etc/group', '/etc/sudoers', '/etc/sudoers.d', '/etc/ssh/sshd_config',
                  '/etc/ssh/sshd_config.d', '/etc/pam.d', '/etc/security', '/etc/login.defs', '/etc/nftables.conf',
                  '/etc/chrony', '/etc/logrotate.d', '/etc/profile.d', '/usr/sbin/sshd', '/usr/local/sbin'],
    'fim_baseline_file': '/var/lib/posfleet/fim-baseline.json',
    'time_servers': [],
    'max_password_age': 90,
    'inactive_days': 90,
    'idle_timeout': 900,
    'min_password_length': 12,
    'lockout_attempts': 10,
    'lockout_seconds': 1800,
    'password_history': 4,
    'log_retention_months': 12,
}


# Filled by @control as this module is imported.
CONTROLS = []


def control_ids():
    """The IDs of the registered controls, in their order."""
    return [spec.id for spec in CONTROLS]


def get_pci_audit_argument_spec():
    """The ``pci_audit`` module's options: the one table of their types and defaults (module, role and the
    module's DOCUMENTATION read it; a unit test holds the documentation to it).

    An option without ``default`` here takes its value from ``DEFAULTS`` (long lists, secrets, and the paths
    to which the platform adds its own) at run time."""
    return {
        # The registered control IDs (filled when this module is imported): a typo is rejected, never a pass.
        'controls': {'type': 'list', 'elements': 'str', 'default': [], 'choices': control_ids()},
        'automation_account': {'type': 'str', 'default': DEFAULTS['automation_account']},
        'cashier_accounts': {'type': 'list', 'elements': 'dict', 'default': [], 'options': {
            'name': {'type': 'str', 'required': True},
            'reason': {'type': 'str', 'required': True},
        }},
        'waivers': {'type': 'list', 'elements': 'dict', 'default': [], 'options': {
            'id': {'type': 'str', 'required': True},
            'reason': {'type': 'str', 'required': True},
            'expires': {'type': 'str', 'required': True},
        }},
        'allowed_ports': {'type': 'list', 'elements': 'int', 'default': list(DEFAULTS['allowed_ports'])},
        'insecure_ports': {'type': 'list', 'elements': 'int', 'default': list(DEFAULTS['insecure_ports'])},
        'allowed_services': {'type': 'list', 'elements': 'str', 'default': []},
        'approved_versions': {'type': 'dict', 'default': {}},
        'default_passwords': {'type': 'list', 'elements': 'str', 'no_log': True},
        'known_default_hashes': {'type': 'list', 'elements': 'str', 'default': [], 'no_log': True},
        'pan_paths': {'type': 'list', 'elements': 'path'},
        'pan_exclude': {'type': 'list', 'elements': 'str', 'default': list(DEFAULTS['pan_exclude'])},
        # The secret of the evidence hashes (HMAC-SHA256); pan_salt is the deprecated name of the salted SHA-256
        # it replaced. A random key per run when not set.
        'pan_hash_key': {'type': 'str', 'no_log': True, 'aliases': ['pan_salt'],
                         'deprecated_aliases': [{'name': 'pan_salt', 'version': '1.0.0',
                                                 'collection_name': 'posfleet.terminals'}]},
        # Budgets of the card number scan: reaching one makes pan_storage and sad_storage an error.
        'pan_max_scan_mb': {'type': 'int', 'default': MAX_SCAN_BYTES // 1000000},
        'pan_max_scan_seconds': {'type': 'int', 'default': MAX_SCAN_SECONDS},
        'allow_test_pans': {'type': 'bool', 'default': DEFAULTS['allow_test_pans']},
        'fim_paths': {'type': 'list', 'elements': 'path'},
        'fim_baseline_file': {'type': 'path', 'default': DEFAULTS['fim_baseline_file']},
        'fim_update': {'type': 'bool', 'default': False},
        'time_servers': {'type': 'list', 'elements': 'str', 'default': []},
        'max_password_age': {'type': 'int', 'default': DEFAULTS['max_password_age'], 'no_log': False},
        'inactive_days': {'type': 'int', 'default': DEFAULTS['inactive_days']},
        'idle_timeout': {'type': 'int', 'default': DEFAULTS['idle_timeout']},
        'min_password_length': {'type': 'int', 'default': DEFAULTS['min_password_length'], 'no_log': False},
        'lockout_attempts': {'type': 'int', 'default': DEFAULTS['lockout_attempts']},
        'lockout_seconds': {'type': 'int', 'default': DEFAULTS['lockout_seconds']},
        'password_history': {'type': 'int', 'default': DEFAULTS['password_history'], 'no_log': False},
        'log_retention_months': {'type': 'int', 'default': DEFAULTS['log_retention_months']},
        'fail_on': {'type': 'str', 'default': 'never', 'choices': ['never', 'fail']},
        'low_priority': {'type': 'bool', 'default': True},
    }


# The allowed range of each numeric option (``_ranges``), checked before anything is read: a negative or zero
# threshold would make a control pass or fail for nothing.
PCI_AUDIT_RANGES = {
    'allowed_ports': Range(1, 65535, ''),
    'insecure_ports': Range(1, 65535, ''),
    'max_password_age': Range(1, 365, 'days'),
    'inactive_days': Range(1, 365, 'days'),
    'idle_timeout': Range(1, 86400, 'seconds'),
    'min_password_length': Range(1, 128, 'characters'),
    'lockout_attempts': Range(1, 100, 'attempts'),
    'lockout_seconds': Range(1, 604800, 'seconds'),
    'password_history': Range(1, 400, 'passwords'),
    'log_retention_months': Range(1, 120, 'months'),
    'pan_max_scan_mb': PAN_SCAN_RANGES['max_scan_mb'],
    'pan_max_scan_seconds': PAN_SCAN_RANGES['max_scan_seconds'],
}


# The options that reach audit() (the others steer the module itself).
AUDIT_OPTIONS = tuple(name for name in get_pci_audit_argument_spec() if name not in ('fim_update', 'fail_on'))


# The controls the pci_baseline role remediates (each behind the toggle posfleet_pci_baseline_<id>).
REMEDIABLE = frozenset((
    'ssh_permit_root_login', 'ssh_password_authentication', 'ssh_permit_empty_passwords',
    'ssh_hostbased_authentication', 'ssh_x11_forwarding', 'ssh_tcp_forwarding', 'ssh_permit_user_environment',
    'ssh_log_level', 'ssh_max_auth_tries', 'ssh_login_grace_time', 'ssh_idle_timeout',
    'password_min_length', 'password_complexity', 'faillock_enabled', 'faillock_deny', 'faillock_unlock_time',
    'pam_no_nullok', 'password_max_days', 'vendor_default_passwords', 'listening_services', 'no_insecure_protocols',
    'enabled_services', 'file_journal', 'file_posd_logs', 'log_retention_posd', 'acquirer_tls_version',
    'pan_storage', 'sad_storage', 'fim_baseline', 'fim_unchanged',
))


class Control:
    def __init__(self, cid, title, pci_dss, severity, remediation, check, remediable):
        self.id = cid
        self.title = title
        self.pci_dss = list(pci_dss)
        self.severity = severity
        self.remediation = remediation
        self.check = check
        self.remediable = cid in REMEDIABLE if remediable is None else remediable

    @property
    def tags(self):
        return ['pci_' + ref.replace('.', '_') for ref in self.pci_dss]


def control(cid, title, pci_dss, severity, remediation, remediable=None):
    def register(fn):
        CONTROLS.append(Control(cid, title, pci_dss, severity, remediation, fn, remediable))
        return fn
    return register


class Context:
    """What the checks share: the OS view, the options and results computed once (PAN scan, FIM)."""

    def __init__(self, os_view, opts, platform, now=None):
        self.os = os_view
        self.opts = opts
        self.platform = platform
        self.paths = platform.compliance_paths()  # the platform's files the controls judge
        self.now = time.time() if now is None else now
        self.pan = None
        self.fim = None
        self.sshd_read = False
        self.daemon = None  # OsView.sshd_daemon() once an SSH control was judged

    def pan_result(self):
        if self.pan is None:
            self.pan = scan_paths([self.os.path(p) for p in self.opts['pan_paths']],
                                  self.opts.get('pan_hash_key') or random_key(),
                                  exclude=[self.os.path(p) for p in self.opts['pan_exclude']],
                                  allow_test_pans=self.opts['allow_test_pans'],
                                  max_bytes=self.opts.get('pan_max_scan_mb', MAX_SCAN_BYTES // 1000000) * 1000000,
                                  max_seconds=self.opts.get('pan_max_scan_seconds', MAX_SCAN_SECONDS))
            for key in ('findings', 'sad_findings', 'errors', 'skipped_paths'):
                for entry in self.pan[key]:
                    entry['path'] = self.os.unroot(entry['path'])
        return self.pan

    def sshd(self):
        values = self.os.sshd()
        if values is None:
            raise NotApplicable('sshd is not installed')
        self.sshd_read = True  # the verdict then also depends on what the running daemon read (evaluate)
        return values


class NotApplicable(Exception):
    pass


def _fmt_mode(mode):
    return f'0{mode:03o}'


# -- SSH (2.2.7, 8.2.2, 8.2.8, 8.3.x) --------------------------------------------------------------------------

def _ssh_equals(key, wanted):
    def check(ctx):
        value = ctx.sshd().get(key, '')
        ok = value.lower() in wanted
        return ('pass' if ok else 'fail'), f'sshd -T: {key} {value or "(unset)"}'
    return check


control('ssh_permit_root_login', 'SSH root login disabled', ['2.2.7', '8.2.2'], 'high',
        'Set PermitRootLogin no in sshd (role toggle posfleet_pci_baseline_ssh_permit_root_login)')(
    _ssh_equals('permitrootlogin', ('no',)))
control('ssh_password_authentication', 'SSH password authentication disabled (key only)', ['8.3.1', '2.2.7'],
        'high', 'Set PasswordAuthentication no after the automation account\'s key login is verified '
        '(role toggle posfleet_pci_baseline_ssh_password_authentication)')(
    _ssh_equals('passwordauthentication', ('no',)))
control('ssh_permit_empty_passwords', 'SSH refuses empty passwords', ['8.3.1'], 'high',
        'Set PermitEmptyPasswords no in sshd')(_ssh_equals('permitemptypasswords', ('no',)))
control('ssh_hostbased_authentication', 'SSH host-based authentication and rhosts disabled', ['8.3.1'], 'medium',
        'Set HostbasedAuthentication no and IgnoreRhosts yes in sshd')(
    lambda ctx: (('pass' if ctx.sshd().get('hostbasedauthentication') == 'no' and
                  ctx.sshd().get('ignorerhosts') == 'yes' else 'fail'),
                 f"sshd -T: hostbasedauthentication {ctx.sshd().get('hostbasedauthentication')}, "
                 f"ignorerhosts {ctx.sshd().get('ignorerhosts')}"))
control('ssh_x11_forwarding', 'SSH X11 forwarding disabled', ['2.2.4'], 'low',
        'Set X11Forwarding no in sshd')(_ssh_equals('x11forwarding', ('no',)))
control('ssh_tcp_forwarding', 'SSH TCP forwarding disabled', ['1.3.2', '2.2.4'], 'medium',
        'Set AllowTcpForwarding no in sshd')(_ssh_equals('allowtcpforwarding', ('no',)))
control('ssh_permit_user_environment', 'SSH ignores user environment files', ['2.2.6'], 'low',
        'Set PermitUserEnvironment no in sshd')(_ssh_equals('permituserenvironment', ('no',)))
control('ssh_log_level', 'SSH logs logins (LogLevel INFO or VERBOSE)', ['10.2.1'], 'medium',
        'Set LogLevel VERBOSE in sshd')(_ssh_equals('loglevel', ('info', 'verbose')))


@control('ssh_max_auth_tries', 'SSH allows at most 4 authentication attempts per connection', ['8.3.4'], 'medium',
         'Set MaxAuthTries 4 in sshd')
def _ssh_max_auth_tries(ctx):
    value = int(ctx.sshd().get('maxauthtries', '6'))
    return ('pass' if value <= 4 else 'fail'), f'sshd -T: maxauthtries {value} (at most 4)'


@control('ssh_login_grace_time', 'SSH login grace time at most 60 s', ['2.2.6'], 'low',
         'Set LoginGraceTime 30 in sshd')
def _ssh_login_grace(ctx):
    value = int(ctx.sshd().get('logingracetime', '120'))
    return ('pass' if 0 < value <= 60 else 'fail'), f'sshd -T: logingracetime {value} (1-60 s)'


@control('ssh_idle_timeout', 'Idle SSH sessions end within 15 minutes', ['8.2.8'], 'high',
         'Set ClientAliveInterval 300 and ClientAliveCountMax 3 in sshd')
def _ssh_idle(ctx):
    interval = int(ctx.sshd().get('clientaliveinterval', '0'))
    count = int(ctx.sshd().get('clientalivecountmax', '3'))
    limit = ctx.opts['idle_timeout']
    total = interval * max(count, 1)
    ok = interval > 0 and total <= limit
    return ('pass' if ok else 'fail'), (f'sshd -T: clientaliveinterval {interval} x clientalivecountmax {count} = '
                                        f'{total} s (1-{limit} s)')


WEAK_SSH = re.compile(r'(cbc|3des|arcfour|blowfish|cast128|hmac-md5|diffie-hellman-group1-|group14-sha1|'
                      r'group-exchange-sha1|^ssh-dss$)')


@control('ssh_strong_crypto', 'SSH offers only strong ciphers, MACs and key exchanges', ['2.2.7', '4.2.1'],
         'medium', 'Remove CBC, 3DES, arcfour, MD5 and SHA-1 key exchange algorithms from Ciphers/MACs/KexAlgorithms')
def _ssh_crypto(ctx):
    weak = []
    for key in ('ciphers', 'macs', 'kexalgorithms', 'hostkeyalgorithms'):
        for algorithm in ctx.sshd().get(key, '').split(','):
            if algorithm and WEAK_SSH.search(algorithm):
                weak.append(algorithm)
    if weak:
        return 'fail', 'weak algorithms offered: ' + ', '.join(sorted(set(weak)))
    return 'pass', 'sshd -T: no CBC, 3DES, arcfour, MD5 or SHA-1 key exchange offered'


# -- passwords and PAM (8.3.x) -------------------------------------------------------------------------------

def _pwquality(ctx):
    conf = dict(ctx.os.security_conf('pwquality'))
    for entry in ctx.os.pam_module('common-password', 'pam_pwquality.so', 'password'):
        conf.update(dict(entry[3].items()))
    return conf


@control('pam_pwquality', 'Password quality enforced by pam_pwquality', ['8.3.6'], 'high',
         'Add "password requisite pam_pwquality.so retry=3" to /etc/pam.d/common-password')
def _pam_pwquality(ctx):
    if ctx.os.pam_module('common-password', 'pam_pwquality.so', 'password'):
        return 'pass', 'pam_pwquality.so is in /etc/pam.d/common-password'
    return 'fail', 'pam_pwquality.so is not in /etc/pam.d/common-password'


@control('password_min_length', 'Passwords have at least 12 characters', ['8.3.6'], 'high',
         'Set minlen = 12 in /etc/security/pwquality.conf (role toggle posfleet_pci_baseline_password_min_length)')
def _password_min_length(ctx):
    value = int(_pwquality(ctx).get('minlen', 8))
    wanted = ctx.opts['min_password_length']
    return ('pass' if value >= wanted else 'fail'), f'pwquality minlen = {value} (at least {wanted})'


@control('password_complexity', 'Passwords mix numeric and alphabetic characters', ['8.3.6'], 'medium',
         'Set minclass = 3 (or dcredit = -1 and lcredit = -1) in /etc/security/pwquality.conf')
def _password_complexity(ctx):
    conf = _pwquality(ctx)
    minclass = int(conf.get('minclass', 0))
    credits_ = {k: int(conf.get(k, 0)) for k in ('dcredit', 'lcredit', 'ucredit')}
    ok = minclass >= 2 or (credits_['dcredit'] < 0 and (credits_['lcredit'] < 0 or credits_['ucredit'] < 0))
    return ('pass' if ok else 'fail'), (f'pwquality minclass = {minclass}, dcredit = {credits_["dcredit"]}, '
                                        f'lcredit = {credits_["lcredit"]}, ucredit = {credits_["ucredit"]}')


@control('password_history', 'Passwords differ from the last four', ['8.3.7'], 'medium',
         'Add "password required pam_pwhistory.so remember=4 use_authtok" to /etc/pam.d/common-password')
def _password_history(ctx):
    remember = 0
    for entry in ctx.os.pam_module('common-password', 'pam_pwhistory.so', 'password'):
        remember = max(remember, int(entry[3].get('remember', 10) if entry[3].get('remember') is not True else 10))
    for entry in ctx.os.pam_module('common-password', 'pam_unix.so', 'password'):
        if entry[3].get('remember') not in (None, True):
            remember = max(remember, int(entry[3]['remember']))
    wanted = ctx.opts['password_history']
    return ('pass' if remember >= wanted else 'fail'), f'password history remembers {remember} (at least {wanted})'


def _faillock_conf(ctx):
    conf = dict(ctx.os.security_conf('faillock'))
    entries = ctx.os.pam_module('common-auth', 'pam_faillock.so', 'auth')
    for entry in entries:
        conf.update({k: v for k, v in entry[3].items() if k in ('deny', 'unlock_time', 'fail_interval')})
    return conf, entries


@control('faillock_enabled', 'Accounts lock after repeated failed logins (pam_faillock)', ['8.3.4'], 'high',
         'Put pam_faillock.so preauth/authfail in /etc/pam.d/common-auth and pam_faillock.so in common-account '
         '(role toggle posfleet_pci_baseline_faillock_enabled)')
def _faillock_enabled(ctx):
    entries = _faillock_conf(ctx)[1]
    kinds = {next((a for a in ('preauth', 'authfail', 'authsucc') if a in e[3]), '') for e in entries}
    account = ctx.os.pam_module('common-account', 'pam_faillock.so', 'account')
    if {'preauth', 'authfail'} <= kinds and account:
        return 'pass', 'pam_faillock.so preauth and authfail in common-auth, and in common-account'
    where = 'common-account' if kinds >= {'preauth', 'authfail'} else 'common-auth (preauth/authfail)'
    return 'fail', f'pam_faillock.so is missing from {where}'


@control('faillock_deny', 'Lockout after at most 10 failed attempts', ['8.3.4'], 'high',
         'Set deny = 6 in /etc/security/faillock.conf')
def _faillock_deny(ctx):
    conf, entries = _faillock_conf(ctx)
    deny = int(conf.get('deny', 3))
    wanted = ctx.opts['lockout_attempts']
    if not entries:
        return 'fail', f'faillock deny = {deny}, but pam_faillock.so is not in common-auth (not enforced)'
    return ('pass' if 0 < deny <= wanted else 'fail'), f'faillock deny = {deny} (1-{wanted})'


@control('faillock_unlock_time', 'Locked accounts stay locked at least 30 minutes', ['8.3.4'], 'high',
         'Set unlock_time = 1800 in /etc/security/faillock.conf')
def _faillock_unlock(ctx):
    conf, entries = _faillock_conf(ctx)
    unlock = int(conf.get('unlock_time', 600))
    wanted = ctx.opts['lockout_seconds']
    ok = unlock == 0 or unlock >= wanted
    if not entries:
        return 'fail', f'faillock unlock_time = {unlock}, but pam_faillock.so is not in common-auth (not enforced)'
    return ('pass' if ok else 'fail'), f'faillock unlock_time = {unlock} s (0 = until reset, or at least {wanted})'


@control('pam_no_nullok', 'PAM refuses empty passwords (no nullok)', ['8.3.1'], 'high',
         'Remove nullok from pam_unix.so in /etc/pam.d/common-auth (role toggle posfleet_pci_baseline_pam_no_nullok)')
def _pam_nullok(ctx):
    bad = [e for e in ctx.os.pam_module('common-auth', 'pam_unix.so') if 'nullok' in e[3] or 'nullok_secure' in e[3]]
    if bad:
        return 'fail', 'pam_unix.so nullok in /etc/pam.d/common-auth'
    return 'pass', 'pam_unix.so without nullok in /etc/pam.d/common-auth'


@control('password_max_days', 'New accounts must change passwords at least every 90 days', ['8.3.9'], 'medium',
         'Set PASS_MAX_DAYS 90 in /etc/login.defs')
def _pass_max_days(ctx):
    value = int(ctx.os.login_defs().get('pass_max_days', 99999))
    wanted = ctx.opts['max_password_age']
    return ('pass' if value <= wanted else 'fail'), f'/etc/login.defs PASS_MAX_DAYS {value} (at most {wanted})'


def _password_accounts(ctx):
    shadow = ctx.os.shadow()
    return {name: entry for name, entry in shadow.items() if entry['hash'] and entry['hash'][0] not in '!*'}


@control('password_aging_accounts', 'Every account with a password expires it within 90 days', ['8.3.9'], 'medium',
         'chage -M 90 <account> for each account listed')
def _shadow_aging(ctx):
    wanted = ctx.opts['max_password_age']
    bad = [f"{n} (max {e['max']})" for n, e in sorted(_password_accounts(ctx).items())
           if e['max'] is None or e['max'] <= 0 or e['max'] > wanted]
    if bad:
        return 'fail', f'password max age above {wanted} days: ' + ', '.join(bad)
    return 'pass', f'all {len(_password_accounts(ctx))} password accounts expire within {wanted} days'


STRONG_HASHES = ('$y$', '$gy$', '$7$', '$6$', '$5$', '$2b$', '$2y$')


@control('password_hashing', 'Passwords stored with a strong one-way hash', ['8.3.2'], 'high',
         'Set ENCRYPT_METHOD YESCRYPT (or SHA512) in /etc/login.defs and change the passwords listed')
def _hashing(ctx):
    method = ctx.os.login_defs().get('encrypt_method', 'DES').upper()
    weak = sorted(n for n, e in _password_accounts(ctx).items() if not e['hash'].startswith(STRONG_HASHES))
    if method not in ('YESCRYPT', 'SHA512', 'SHA256', 'BCRYPT', 'GOST_YESCRYPT') or weak:
        return 'fail', f'ENCRYPT_METHOD {method}; weak hashes: {", ".join(weak) or "none"}'
    return 'pass', f'ENCRYPT_METHOD {method}; every stored password uses a strong hash'


@control('no_empty_passwords', 'No account has an empty password', ['8.3.1'], 'high',
         'passwd -l <account> for each account listed')
def _empty(ctx):
    bad = sorted(n for n, e in ctx.os.shadow().items() if e['hash'] == '')
    return ('fail', 'empty password: ' + ', '.join(bad)) if bad else ('pass', 'no empty password field in /etc/shadow')


@control('vendor_default_passwords', 'No account keeps a vendor default password', ['2.2.2'], 'critical',
         'Lock or change the password of each account listed (role toggle '
         'posfleet_pci_baseline_vendor_default_passwords locks it; rotate it with the credentials role)')
def _vendor_defaults(ctx):
    crypt = Crypt()
    accounts = _password_accounts(ctx)
    known = set(ctx.opts['known_default_hashes'])
    found = sorted(n for n, e in accounts.items() if e['hash'] in known)
    if ctx.opts['default_passwords']:
        if not crypt.available:
            raise RuntimeError('libcrypt is not available to compare password hashes')
        for name, entry in sorted(accounts.items()):
            if name not in found and any(crypt.matches(pw, entry['hash']) for pw in ctx.opts['default_passwords']):
                found.append(name)
    checked = f'{len(accounts)} password accounts against {len(ctx.opts["default_passwords"])} default ' \
              f'passwords and {len(known)} known default hashes'
    if found:
        return 'fail', f'vendor default password on: {", ".join(sorted(found))} ({checked})', {
            'accounts': sorted(found)}
    return 'pass', f'no default password ({checked})'


@control('inactive_accounts', 'No interactive account unused for more than 90 days', ['8.2.6'], 'medium',
         'Lock (usermod -L) or remove the accounts listed')
def _inactive(ctx):
    limit = ctx.opts['inactive_days'] * 86400
    shadow = ctx.os.shadow()
    stale = []
    for account in ctx.os.interactive_accounts():
        entry = shadow.get(account['name'])
        if entry is None or entry['hash'].startswith('!') or account['name'] == 'root' and entry['hash'] == '*':
            continue
        if entry['expire'] is not None and entry['expire'] * 86400 < ctx.now:
            continue
        last = max(ctx.os.lastlog(account['uid']) or 0, (entry['lastchg'] or 0) * 86400)
        if ctx.now - last > limit:
            stale.append(f"{account['name']} ({int((ctx.now - last) // 86400)} days)")
    if stale:
        return 'fail', f"unused for more than {ctx.opts['inactive_days']} days: " + ', '.join(stale)
    return 'pass', f'every interactive account was used or changed within {ctx.opts["inactive_days"]} days'


@control('unique_ids', 'Every account has a unique ID; only root has UID 0', ['8.2.1'], 'high',
         'Give each account listed its own UID')
def _unique(ctx):
    seen = {}
    for account in ctx.os.passwd():
        seen.setdefault(account['uid'], []).append(account['name'])
    dup = {uid: names for uid, names in seen.items() if len(names) > 1}
    root = [n for n in seen.get(0, []) if n != 'root']
    if dup or root:
        return 'fail', f'shared UIDs: {dup}; UID 0 besides root: {root}'
    return 'pass', f'{len(ctx.os.passwd())} accounts, all UIDs unique, UID 0 is root only'


@control('sudo_nopasswd', 'Only the automation account may use sudo without a password', ['7.2.1', '7.2.2'],
         'high', 'Remove NOPASSWD from the sudoers rules listed')
def _sudo_nopasswd(ctx):
    auto = ctx.opts['automation_account']
    bad = [f'{path}: {line}' for path, line in ctx.os.sudoers()
           if 'NOPASSWD' in line and line.split()[0] != auto]
    if bad:
        return 'fail', 'NOPASSWD rules for other accounts: ' + '; '.join(bad)
    return 'pass', f'NOPASSWD only for {auto}'


@control('sudo_members', 'Administrative groups hold only the accounts that need them', ['7.2.1', '7.2.2'],
         'medium', 'Remove the accounts listed from the sudo/admin/wheel groups')
def _sudo_members(ctx):
    auto = ctx.opts['automation_account']
    groups = ctx.os.groups()
    extra = sorted({m for g in ('sudo', 'admin', 'wheel') for m in groups.get(g, {}).get('members', []) if m != auto})
    if extra:
        return 'fail', 'members of sudo/admin/wheel besides the automation account: ' + ', '.join(extra)
    return 'pass', f'sudo/admin/wheel members: {auto} or nobody'


@control('shell_idle_timeout', 'Idle shells end within 15 minutes (readonly TMOUT)', ['8.2.8'], 'high',
         'Put "TMOUT=900; readonly TMOUT; export TMOUT" in /etc/profile.d/tmout.sh')
def _tmout(ctx):
    limit = ctx.opts['idle_timeout']
    value, readonly, where = None, False, None
    for path in ['/etc/profile', '/etc/bash.bashrc'] + ctx.os.glob('/etc/profile.d/*.sh'):
        text = ctx.os.read(path) or ''
        for line in text.splitlines():
            line = line.split('#', 1)[0]
            match = re.search(r'\bTMOUT=(\d+)', line)
            if match:
                value, where = int(match.group(1)), path
            if re.search(r'\b(readonly|declare\s+-r|typeset\s+-r)\b.*\bTMOUT\b', line):
                readonly = True
    if value is None:
        return 'fail', 'TMOUT is not set in /etc/profile, /etc/bash.bashrc or /etc/profile.d'
    ok = 0 < value <= limit and readonly
    return ('pass' if ok else 'fail'), (f'TMOUT={value} in {where}, {"readonly" if readonly else "not readonly"} '
                                        f'(1-{limit} s, readonly)')


@control('cashier_exemption', 'POS cashier accounts (exemption of 8.2.8, 8.3.6, 8.3.7)', ['8.2.8', '8.3.6', '8.3.7'],
         'medium', 'A cashier account must not administer the terminal: no sudo, no admin groups, no SSH keys',
         remediable=False)
def _cashier(ctx):
    cashiers = ctx.opts['cashier_accounts']
    if not cashiers:
        raise NotApplicable('no POS cashier accounts are configured (option cashier_accounts)')
    passwd = {a['name']: a for a in ctx.os.passwd()}
    groups = ctx.os.groups()
    problems, exempt = [], []
    for entry in cashiers:
        name = entry['name']
        if name not in passwd:
            problems.append(f'{name}: no such account')
            continue
        admin = [g for g in ('sudo', 'admin', 'wheel', 'adm', 'root') if name in groups.get(g, {}).get('members', [])]
        if passwd[name]['uid'] == 0:
            admin.append('uid 0')
        if any(line.split()[0] == name for _path, line in ctx.os.sudoers()):
            admin.append('sudoers')
        if ctx.os.exists(os.path.join(passwd[name]['home'], '.ssh/authorized_keys')):
            admin.append('SSH authorized_keys')
        if admin:
            problems.append(f'{name}: {", ".join(admin)}')
        else:
            exempt.append(f"{name} ({entry.get('reason') or 'cashier ID'})")
    if problems:
        return 'fail', 'the cashier exemption does not hold: ' + '; '.join(problems)
    raise NotApplicable(f'{CASHIER_NOTE}: ' + ', '.join(exempt))


# -- network (1.2.1, 1.3.x, 2.2.4, 2.2.7) ----------------------------------------------------------------------

@control('listening_services', 'Only necessary services listen on the network', ['2.2.4'], 'high',
         'Disable the services listening on the ports listed (role toggle posfleet_pci_baseline_listening_services)')
def _listening(ctx):
    allowed = set(ctx.opts['allowed_ports'])
    sockets = [s for s in ctx.os.listening() if not is_loopback(s['address'])]
    extra = sorted({f"{s['proto']}/{s['port']}" for s in sockets if s['port'] not in allowed})
    seen = sorted({f"{s['proto']}/{s['port']}" for s in sockets})
    if extra:
        return 'fail', f'unexpected listeners: {", ".join(extra)} (allowed: {sorted(allowed)}; listening: {seen})'
    return 'pass', f'listening (not loopback): {", ".join(seen) or "nothing"}'


@control('no_insecure_protocols', 'No clear-text administration protocols (telnet, FTP, rsh, TFTP)', ['2.2.7'],
         'critical', 'Remove the clear-text service (role toggle posfleet_pci_baseline_listening_services)')
def _insecure(ctx):
    insecure = set(ctx.opts['insecure_ports'])
    bad = sorted({f"{s['proto']}/{s['port']} on {s['address']}" for s in ctx.os.listening()
                  if s['port'] in insecure})
    if bad:
        return 'fail', 'clear-text service listening: ' + ', '.join(bad)
    return 'pass', f'nothing listens on {sorted(insecure)}'


@control('enabled_services', 'Only necessary services start at boot', ['2.2.4'], 'medium',
         'Disable the services listed (role toggle posfleet_pci_baseline_listening_services)')
def _enabled(ctx):
    mechanism, names = ctx.os.enabled_services()
    if mechanism is None:
        raise NotApplicable('no service manager configuration found')
    allowed = set(ctx.opts['allowed_services'])
    if mechanism == 'systemd':
        allowed |= {'ssh', 'sshd', 'cron', 'chrony', 'nftables', 'systemd-journald', 'rsyslog', 'logrotate'}
    extra = sorted(set(names) - allowed)
    if extra:
        return 'fail', f'{mechanism}: unexpected services enabled: {", ".join(extra)}', {
            'mechanism': mechanism, 'services': extra}
    return 'pass', f'{mechanism}: enabled services {names or "none"} all allowed'


def _nft(ctx):
    chains = ctx.os.nft_chains()
    if chains is None:
        return None
    return {c['hook']: c for c in chains.values() if c['hook']}


@control('firewall_ruleset', 'A firewall ruleset is installed for boot', ['1.2.1'], 'high',
         'Install /etc/nftables.conf with input, forward and output base chains')
def _fw_present(ctx):
    hooks = _nft(ctx)
    if hooks is None:
        return 'fail', '/etc/nftables.conf does not exist'
    missing = [h for h in ('input', 'forward', 'output') if h not in hooks]
    if missing:
        return 'fail', f'/etc/nftables.conf has no base chain for: {", ".join(missing)}'
    return 'pass', '/etc/nftables.conf has input, forward and output base chains'


def _fw_policy(hook):
    def check(ctx):
        hooks = _nft(ctx) or {}
        if hook not in hooks:
            return 'fail', f'no {hook} base chain in /etc/nftables.conf'
        policy = hooks[hook]['policy']
        return ('pass' if policy == 'drop' else 'fail'), f'{hook} chain policy {policy} (drop)'
    return check


control('firewall_input_deny', 'Inbound traffic denied by default', ['1.3.1'], 'high',
        'Set "policy drop" on the input chain of /etc/nftables.conf')(_fw_policy('input'))
control('firewall_output_deny', 'Outbound traffic denied by default', ['1.3.2'], 'high',
        'Set "policy drop" on the output chain of /etc/nftables.conf')(_fw_policy('output'))
control('firewall_forward_deny', 'Forwarded traffic denied by default', ['1.3.1', '1.3.2'], 'medium',
        'Set "policy drop" on the forward chain of /etc/nftables.conf')(_fw_policy('forward'))


@control('firewall_inbound_ports', 'Inbound rules accept only the allowed ports', ['1.3.1'], 'high',
         'Remove the accept rules for the ports listed from the input chain')
def _fw_ports(ctx):
    hooks = _nft(ctx) or {}
    if 'input' not in hooks:
        return 'fail', 'no input base chain in /etc/nftables.conf'
    allowed = set(ctx.opts['allowed_ports'])
    opened = set()
    for rule in hooks['input']['rules']:
        if 'accept' not in rule:
            continue
        for match in re.finditer(r'dport\s+(\{[^}]*\}|\S+)', rule):
            opened |= {int(p) for p in re.findall(r'\d+', match.group(1))}
    extra = sorted(opened - allowed)
    if extra:
        return 'fail', f'input chain accepts ports {extra} beyond {sorted(allowed)}'
    return 'pass', f'input chain accepts ports {sorted(opened)}'


# -- files (2.2.6, 3.5.1, 7.2.1, 8.3.2, 10.3.x) ---------------------------------------------------------------

def _mode_check(paths, max_mode, owner_root=True, dir_mode=None):
    """``paths``: a list, or ``ctx -> list`` for the platform's files (``ctx.paths``)."""
    def check(ctx):
        bad, seen = [], []
        patterns = paths(ctx) if callable(paths) else paths
        if not patterns:
            raise NotApplicable(f'platform {ctx.platform.name} has no such files')
        for pattern in patterns:
            for path in ctx.os.glob(pattern) if any(c in pattern for c in '*?[') else [pattern]:
                info = ctx.os.file_mode(path)
                if info is None or info['link']:
                    continue
                limit = dir_mode if info['dir'] and dir_mode is not None else max_mode
                seen.append(f"{path} {_fmt_mode(info['mode'])}")
                if info['mode'] & ~limit or (owner_root and info['uid'] != 0):
                    bad.append(f"{path} {_fmt_mode(info['mode'])} uid {info['uid']}")
        if not seen:
            raise NotApplicable(f'none of {", ".join(patterns)} exists')
        if bad:
            return 'fail', f'more open than {_fmt_mode(max_mode)} or not owned by root: ' + ', '.join(bad)
        return 'pass', ', '.join(seen)
    return check


control('file_shadow', '/etc/shadow readable by root and shadow only', ['8.3.2'], 'high',
        'chmod 0640 /etc/shadow; chown root:shadow /etc/shadow')(_mode_check(['/etc/shadow'], 0o640))
control('file_passwd', '/etc/passwd and /etc/group writable by root only', ['7.2.1'], 'medium',
        'chmod 0644 /etc/passwd /etc/group')(_mode_check(['/etc/passwd', '/etc/group'], 0o644))
control('file_sshd_config', 'sshd configuration writable by root only', ['2.2.6'], 'medium',
        'chmod 0644 /etc/ssh/sshd_config; chown root /etc/ssh/sshd_config')(
    _mode_check(['/etc/ssh/sshd_config', '/etc/ssh/sshd_config.d/*'], 0o644, dir_mode=0o755))
control('file_ssh_host_keys', 'SSH host private keys readable by root only', ['2.2.7', '4.2.1'], 'high',
        'chmod 0600 /etc/ssh/ssh_host_*_key')(_mode_check(['/etc/ssh/ssh_host_*_key'], 0o600))
control('file_sudoers', 'sudoers files readable by root only', ['7.2.1'], 'medium',
        'chmod 0440 /etc/sudoers /etc/sudoers.d/*')(_mode_check(['/etc/sudoers', '/etc/sudoers.d/*'], 0o440))
control('file_journal', 'Transaction journal readable by root only', ['3.5.1', '7.2.1'], 'high',
        'chmod 0600 the journal database and its -wal/-shm files (role toggle posfleet_pci_baseline_file_journal)')(
    _mode_check(lambda ctx: ctx.paths['journal_files'], 0o600))
control('file_posd_logs', 'Payment application logs not world-readable', ['10.3.1', '10.3.2'], 'medium',
        'chmod 0750 the payment application\'s log directory and 0640 its files (role toggle '
        'posfleet_pci_baseline_file_posd_logs)')(
    _mode_check(lambda ctx: [ctx.paths['app_log_dir'], ctx.paths['app_log_dir'] + '/*'] if ctx.paths['app_log_dir']
                else [], 0o640, dir_mode=0o750))
control('file_auth_log', 'Authentication logs not world-readable', ['10.3.1', '10.3.2'], 'medium',
        'chmod 0640 /var/log/auth.log')(_mode_check(['/var/log/auth.log', '/var/log/secure'], 0o640))
control('file_acquirer_config', 'Acquirer link configuration writable by root only', ['4.2.1', '2.2.6'],
        'medium', 'chmod 0644 the acquirer link configuration; chown root')(
    _mode_check(lambda ctx: [ctx.paths['acquirer_config']] if ctx.paths['acquirer_config'] else [], 0o644))


@control('no_world_writable', 'No world-writable files among system and payment software', ['2.2.6', '11.5.2'],
         'high', 'chmod o-w the files listed')
def _world_writable(ctx):
    bad = []
    tops = ['/etc', '/usr/local/sbin', '/usr/local/bin', '/sbin', '/usr/sbin'] + list(ctx.paths['software_dirs'])
    for top in tops:
        base = ctx.os.path(top)
        for directory, dirs, files in os.walk(base):
            for name in dirs + files:
                full = os.path.join(directory, name)
                try:
                    info = os.lstat(full)
                except OSError:
                    continue
                if stat.S_ISLNK(info.st_mode):
                    continue
                if info.st_mode & 0o002 and not (stat.S_ISDIR(info.st_mode) and info.st_mode & 0o1000):
                    bad.append(ctx.os.unroot(full))
    if bad:
        return 'fail', f'{len(bad)} world-writable: ' + ', '.join(sorted(bad)[:10])
    return 'pass', f'no world-writable file in {", ".join(tops)}'


# -- logging and time (10.2.1, 10.5.1, 10.6.x) ------------------------------------------------------------------

def _logrotate_for(ctx, path):
    months = None
    where = None
    for file_, patterns, directives in ctx.os.logrotate_blocks():
        if any(_glob_match(path, p) for p in patterns):
            months, where = retention_months(directives), file_
    return months, where


def _glob_match(path, pattern):
    return fnmatch.fnmatch(path, pattern)


def _retention(paths):
    def check(ctx):
        wanted = ctx.opts['log_retention_months']
        results, bad = [], []
        targets = paths(ctx) if callable(paths) else paths
        if not targets:
            raise NotApplicable(f'platform {ctx.platform.name} keeps no such log')
        for path in targets:
            months, where = _logrotate_for(ctx, path)
            if months is None:
                bad.append(f'{path}: no logrotate rule (kept until the disk fills, then lost)')
            elif months < wanted:
                bad.append(f'{path}: {months} months in {where}')
            else:
                results.append(f'{path}: {months} months ({where})')
        if bad:
            return 'fail', f'retention under {wanted} months: ' + '; '.join(bad)
        return 'pass', '; '.join(results)
    return check


control('log_retention_posd', 'Payment application logs kept at least 12 months', ['10.5.1'], 'medium',
        'Rotate the payment application\'s logs daily with rotate 365 (role toggle '
        'posfleet_pci_baseline_log_retention_posd)')(
    _retention(lambda ctx: ctx.paths['app_logs']))
control('log_retention_auth', 'Authentication logs kept at least 12 months', ['10.5.1'], 'medium',
        'Rotate /var/log/auth.log weekly with rotate 52 (or more)')(_retention(['/var/log/auth.log']))


@control('journald_retention', 'systemd journal persistent and kept at least 12 months', ['10.5.1'], 'medium',
         'Set Storage=persistent and MaxRetentionSec=1year (or unset) in /etc/systemd/journald.conf')
def _journald(ctx):
    if not (ctx.os.exists('/lib/systemd/systemd-journald') or ctx.os.exists('/usr/lib/systemd/systemd-journald')):
        raise NotApplicable('systemd-journald is not installed (logs go to files under /var/log)')
    conf = {}
    for path in ['/etc/systemd/journald.conf'] + ctx.os.glob('/etc/systemd/journald.conf.d/*.conf'):
        for line in (ctx.os.read(path) or '').splitlines():
            key, sep, value = line.strip().partition('=')
            if sep and not key.startswith('#'):
                conf[key.strip()] = value.strip()
    storage = conf.get('Storage', 'auto')
    persistent = storage == 'persistent' or (storage == 'auto' and ctx.os.exists('/var/log/journal'))
    retention = conf.get('MaxRetentionSec', '0')
    short = retention not in ('0', '') and not re.match(r'^(1y|1year|[2-9]\d*y|\d{8,})', retention)
    ok = persistent and not short
    return ('pass' if ok else 'fail'), f'journald Storage={storage}, MaxRetentionSec={retention}'


@control('audit_log_active', 'Authentication events are logged', ['10.2.1', '10.2.1.1'], 'high',
         'Make sshd log to /var/log/auth.log (or keep a persistent journal)')
def _audit_log(ctx):
    for path in ('/var/log/auth.log', '/var/log/secure'):
        info = ctx.os.lstat(path)
        if info is not None and info.st_size > 0:
            return 'pass', f'{path}: {info.st_size} bytes, last written {int((ctx.now - info.st_mtime) // 60)} min ago'
    if ctx.os.exists('/var/log/journal'):
        return 'pass', 'persistent systemd journal in /var/log/journal'
    return 'fail', 'no authentication log (/var/log/auth.log empty or missing, no persistent journal)'


def _time_sources(ctx):
    sources = []
    for path in ['/etc/chrony/chrony.conf'] + ctx.os.glob('/etc/chrony/conf.d/*.conf') + \
            ctx.os.glob('/etc/chrony/sources.d/*.sources'):
        for line in (ctx.os.read(path) or '').splitlines():
            parts = line.split('#', 1)[0].split()
            if len(parts) >= 2 and parts[0] in ('server', 'pool', 'peer'):
                sources.append((parts[0], parts[1], path))
    for path in ['/etc/systemd/timesyncd.conf'] + ctx.os.glob('/etc/systemd/timesyncd.conf.d/*.conf'):
        for line in (ctx.os.read(path) or '').splitlines():
            key, sep, value = line.strip().partition('=')
            if sep and key.strip() == 'NTP':
                sources.extend(('server', host, path) for host in value.split())
    return sources


@control('time_sync', 'Time synchronization configured', ['10.6.1'], 'high',
         'Configure chrony (or systemd-timesyncd) with the designated time servers')
def _time_sync(ctx):
    sources = _time_sources(ctx)
    if not sources:
        return 'fail', 'no NTP source in chrony or systemd-timesyncd configuration'
    return 'pass', 'time sources: ' + ', '.join(f'{kind} {host}' for kind, host, _p in sources)


@control('time_designated_servers', 'Time comes only from designated servers', ['10.6.2'], 'medium',
         'Replace public pools with the designated time servers')
def _time_designated(ctx):
    sources = _time_sources(ctx)
    if not sources:
        return 'fail', 'no time source configured'
    designated = set(ctx.opts['time_servers'])
    if designated:
        bad = [h for _k, h, _p in sources if h not in designated]
    else:
        bad = [h for k, h, _p in sources if k == 'pool' or h.endswith('pool.ntp.org')]
    if bad:
        return 'fail', 'not designated: ' + ', '.join(bad)
    return 'pass', 'sources: ' + ', '.join(h for _k, h, _p in sources)


control('time_config_protected', 'Time configuration writable by root only', ['10.6.3'], 'low',
        'chmod 0644 /etc/chrony/chrony.conf; chown root')(
    _mode_check(['/etc/chrony/chrony.conf', '/etc/systemd/timesyncd.conf'], 0o644))


# -- acquirer link (4.2.1) ---------------------------------------------------------------------------------

def _acquirer(ctx):
    try:
        return ctx.platform.acquirer()
    except TerminalError as exc:
        if 'does not exist' in exc.message:
            raise NotApplicable(f'{exc.message} (no acquirer link on this host)') from None
        raise


@control('acquirer_tls_version', 'Card data to the acquirer only over TLS 1.2 or later', ['4.2.1'], 'critical',
         'Set "min_tls": "1.2" in the acquirer link configuration (role toggle '
         'posfleet_pci_baseline_acquirer_tls_version)')
def _acq_tls(ctx):
    conf = _acquirer(ctx)
    value = str(conf.get('min_tls') or '1.0')
    try:
        ok = tuple(int(p) for p in value.split('.')) >= (1, 2)
    except ValueError:
        ok = False
    return ('pass' if ok else 'fail'), f'{conf["source"]}: min_tls {value} (1.2 or later)'


@control('acquirer_tls_verify', 'The acquirer\'s certificate is verified against a trusted CA', ['4.2.1'], 'critical',
         'Set "verify": true and a ca_file in the acquirer link configuration')
def _acq_verify(ctx):
    conf = _acquirer(ctx)
    ca = conf.get('ca_file')
    ok = conf.get('verify') is True and bool(ca) and ctx.os.exists(ca)
    return ('pass' if ok else 'fail'), (f'verify {conf.get("verify")}, ca_file {ca} '
                                        f'({"present" if ca and ctx.os.exists(ca) else "missing"})')


# -- software and integrity (6.3.3, 11.5.2, 5.3.2) ------------------------------------------------------------

def installed_versions(ctx):
    """``{name: version}``: Debian packages, then the platform's applications and ``firmware``."""
    versions = dict(ctx.os.dpkg_versions())
    software = ctx.platform.installed_software()
    versions.update({name: str(version) for name, version in software['applications'].items()})
    if software['firmware']:
        versions['firmware'] = software['firmware']
    return versions


@control('approved_versions', 'Installed software at or above the approved (patched) versions', ['6.3.3'], 'high',
         'Update the packages, applications or firmware listed', remediable=False)
def _approved(ctx):
    approved = ctx.opts['approved_versions']
    if not approved:
        raise NotApplicable('no approved-versions list given (option approved_versions)')
    installed = installed_versions(ctx)
    bad, good, unknown = [], [], []
    for name, minimum in sorted(approved.items()):
        have = installed.get(name)
        if have is None:
            continue
        try:
            ok = at_least(str(have), str(minimum))
        except ValueError as exc:  # not proven approved: a failure, with the reason
            unknown.append(f'{name} {have} (approved {minimum}): {exc}')
            continue
        (good if ok else bad).append(f'{name} {have} (approved {minimum})')
    if bad or unknown:
        parts = (['below the approved version: ' + ', '.join(bad)] if bad else []) + \
            (['not comparable as Debian versions: ' + '; '.join(unknown)] if unknown else [])
        return 'fail', '; '.join(parts)
    return 'pass', f'{len(good)} components at or above the approved version'


def fim_snapshot(ctx):
    """``{path: {sha256, mode, uid, gid, size}}`` of the critical files."""
    files = {}
    for top in ctx.opts['fim_paths']:
        base = ctx.os.path(top)
        if os.path.isdir(base) and not os.path.islink(base):
            paths = []
            for directory, dirs, names in os.walk(base):
                dirs.sort()
                paths.extend(os.path.join(directory, n) for n in sorted(names))
        else:
            paths = [base]
        for full in paths:
            try:
                info = os.lstat(full)
            except OSError:
                continue
            entry = {'mode': _fmt_mode(stat.S_IMODE(info.st_mode)), 'uid': info.st_uid, 'gid': info.st_gid,
                     'size': info.st_size}
            if stat.S_ISREG(info.st_mode):
                digest = hashlib.sha256()
                with open(full, 'rb') as handle:
                    for block in iter(lambda h=handle: h.read(1 << 20), b''):
                        digest.update(block)
                entry['sha256'] = digest.hexdigest()
            elif stat.S_ISLNK(info.st_mode):
                entry['link'] = os.readlink(full)
            else:
                continue
            files[ctx.os.unroot(full)] = entry
    return files


def fim_compare(baseline, current):
    old, new = baseline.get('files', {}), current
    return {
        'added': sorted(set(new) - set(old)),
        'removed': sorted(set(old) - set(new)),
        'modified': sorted(p for p in set(old) & set(new) if old[p] != new[p]),
    }


def _fim_state(ctx):
    if ctx.fim is None:
        path = ctx.opts['fim_baseline_file']
        text = ctx.os.read(path)
        baseline = None
        if text is not None:
            try:
                baseline = json.loads(text)
            except ValueError:
                baseline = {'invalid': True}
        current = fim_snapshot(ctx)
        ctx.fim = {'baseline': baseline, 'current': current,
                   'changes': fim_compare(baseline or {}, current) if baseline and 'files' in baseline else None}
    return ctx.fim


@control('fim_baseline', 'A change-detection baseline of critical files exists', ['11.5.2'], 'high',
         'Record the baseline (role toggle posfleet_pci_baseline_fim_baseline, or pci_audit fim_update=true)')
def _fim_baseline(ctx):
    state = _fim_state(ctx)
    baseline = state['baseline']
    if baseline is None:
        return 'fail', f'no baseline at {ctx.opts["fim_baseline_file"]}'
    if 'files' not in baseline:
        return 'fail', f'{ctx.opts["fim_baseline_file"]} is not a valid baseline'
    return 'pass', f"baseline of {len(baseline['files'])} files recorded {baseline.get('recorded', '?')}"


@control('fim_unchanged', 'Critical files unchanged since the baseline', ['11.5.2'], 'high',
         'Review the changed files; when the change is authorised, record a new baseline')
def _fim_changes(ctx):
    state = _fim_state(ctx)
    changes = state['changes']
    if changes is None:
        return 'fail', 'no baseline to compare with'
    count = sum(len(v) for v in changes.values())
    if count:
        parts = [f'{k}: {", ".join(v[:5])}{" ..." if len(v) > 5 else ""}' for k, v in changes.items() if v]
        return 'fail', f'{count} changes since the baseline - ' + '; '.join(parts)
    return 'pass', f'{len(state["current"])} files match the baseline'


@control('anti_malware', 'Anti-malware or a documented evaluation that it is not needed', ['5.3.2', '5.2.3'], 'low',
         'Install the platform\'s anti-malware, or keep the periodic evaluation (5.2.3) documented', remediable=False)
def _anti_malware(ctx):
    for path in ('/usr/bin/clamscan', '/usr/sbin/clamd', '/opt/microsoft/mdatp', '/opt/sophos-spl'):
        if ctx.os.exists(path):
            return 'pass', f'anti-malware present: {path}'
    raise NotApplicable('no anti-malware for this embedded platform: the terminal runs a fixed, allowlisted set '
                        'of services with change detection (11.5.2); evaluate periodically per 5.2.3')


@control('poi_inventory', 'The terminal reports make, model, serial and location', ['9.5.1.1', '12.5.1'], 'low',
         'Re-provision the terminal identity (/etc/posfleet/terminal.json)', remediable=False)
def _poi(ctx):
    data = ctx.platform.identity()
    missing = [k for k in ('terminal_id', 'serial', 'model', 'store') if not data.get(k)]
    if missing:
        return 'fail', 'identity lacks: ' + ', '.join(missing)
    return 'pass', f"{data['terminal_id']}: model {data['model']}, serial {data['serial']}, store {data['store']}"


# -- card data (3.3.1, 3.4.1, 3.5.1) ---------------------------------------------------------------------------

@control('pan_storage', 'No card number stored in the clear', ['3.5.1', '3.4.1'], 'critical',
         'Delete or truncate the files listed and turn off the logging that wrote them (role toggle '
         'posfleet_pci_baseline_pan_storage purges them from the configured log directories)')
def _pan(ctx):
    result = ctx.pan_result()
    summary = f"{result['files_scanned']} files, {result['bytes_scanned']} bytes scanned"
    if result['pan_count']:
        where = sorted({f"{f['path']} ({f['masked']})" for f in result['findings']})
        incomplete = _scan_incomplete(result)
        more = f'; besides, {incomplete}' if incomplete else ''
        return 'fail', f"{result['pan_count']} card numbers in: {', '.join(where[:5])} ({summary}){more}"
    incomplete = _scan_incomplete(result)
    if incomplete:
        return 'error', f'{incomplete} ({summary}): nothing found is not a pass'
    return 'pass', f'no card number found ({summary})'


def _scan_incomplete(result):
    """Why the card number scan cannot vouch for what it did not find (``None`` when it can): a budget reached,
    paths not read (or only as raw bytes), or no file scanned at all."""
    reasons = []
    if result['stop_reason']:
        reasons.append(f"scan stopped early: {result['stop_reason']}")
    if result['errors']:
        listed = ', '.join(f"{e['path']} ({e['error']})" for e in result['errors'][:3])
        reasons.append(f"{len(result['errors'])} path(s) not fully read: {listed}")
    if not result['files_scanned']:
        reasons.append('0 files scanned (check pan_paths and become: true)')
    return '; '.join(reasons) or None


@control('sad_storage', 'No sensitive authentication data kept (track data, CVV, PIN block)', ['3.3.1'], 'critical',
         'Delete the files listed and turn off the debug logging that wrote them (role toggle '
         'posfleet_pci_baseline_pan_storage)')
def _sad(ctx):
    result = ctx.pan_result()
    if result['sad_count']:
        where = sorted({f"{f['path']}:{f['line']} ({f['kind']})" if 'line' in f else f['path']
                        for f in result['sad_findings']})
        return 'fail', f"{result['sad_count']} hits in: {', '.join(where[:5])}"
    incomplete = _scan_incomplete(result)
    if incomplete:
        return 'error', f'{incomplete}: nothing found is not a pass'
    return 'pass', 'no track data, CVV or PIN block found'


@control('journal_masked', 'The transaction journal keeps only masked card numbers', ['3.4.1'], 'high',
         'Fix the payment application so it stores BIN and last four only', remediable=False)
def _journal_masked(ctx):
    masking = ctx.platform.journal_masking(MASKED_GLOB, MAX_STORED_DIGITS)
    if masking is None:
        raise NotApplicable(f'platform {ctx.platform.name}: no transaction journal on this terminal')
    total, unmasked = masking['total'], masking['unmasked']
    if unmasked:
        return 'fail', f'{unmasked} of {total} transactions hold more than BIN and last four'
    return 'pass', f'{total} transactions, all masked (at most first six and last four)'


# -- evaluation --------------------------------------------------------------------------------------------

def waiver_state(waiver, today):
    """``(active, note)`` of a waiver ``{id, reason, expires}`` on ``today`` (a date)."""
    try:
        expires = datetime.date.fromisoformat(str(waiver['expires']))
    except ValueError:
        return False, f"waiver for {waiver['id']} has an invalid expiry date {waiver['expires']!r}"
    if expires < today:
        return False, f"waiver expired on {expires.isoformat()} ({waiver['reason']})"
    return True, f"waived until {expires.isoformat()}: {waiver['reason']}"


def default_pan_paths(platform=None):
    """Where card data may land when a site names no paths: the OS's places, plus the platform's own."""
    paths = list(DEFAULTS['pan_paths'])
    if platform is not None:
        paths += [p for p in platform.compliance_paths()['card_data_paths'] if p not in paths]
    return paths


def options_with_defaults(opts, platform=None):
    """``opts`` over ``DEFAULTS``; the platform's own places are added to the OS's PAN and FIM paths when those
    are the defaults (a site that lists its paths gets exactly those)."""
    options = dict(DEFAULTS)
    options.update({k: v for k, v in opts.items() if v is not None})
    if platform is not None:
        paths = platform.compliance_paths()
        for key, extra in (('pan_paths', 'card_data_paths'), ('fim_paths', 'integrity_paths')):
            if opts.get(key) is None:
                options[key] = list(options[key]) + [p for p in paths[extra] if p not in options[key]]
    return options


def running_sshd_verdict(daemon, status, evidence):
    """A control judged from ``sshd -T`` (the files) holds for the running daemon only if it read those files: a
    daemon that runs an older configuration fails it, whatever the files say (an interrupted remediation
    installed them and never reloaded). ``daemon``: ``OsView.sshd_daemon()``."""
    if not daemon or not daemon['stale'] or status not in ('pass', 'fail'):
        return status, evidence
    return 'fail', (f"the running sshd (pid {daemon['pid']}) read its configuration at {daemon['loaded_at']}, "
                    f"before {daemon['newest_config']} changed at {daemon['config_changed_at']}: sshd -T shows "
                    f"the files, not what the daemon enforces (files: {evidence}). Fix: reload sshd (SIGHUP to "
                    "the listener) or re-run the posfleet.terminals.pci_baseline role")


def _judge(ctx, spec):
    """``(status, evidence, details)`` of one control; a control read from sshd's files also answers for the
    running daemon."""
    ctx.sshd_read = False
    outcome = spec.check(ctx)
    status, evidence = outcome[0], outcome[1]
    if ctx.sshd_read:
        try:
            daemon = ctx.os.sshd_daemon()
        except (OSError, ValueError) as exc:
            return 'error', (f'cannot tell which configuration the running sshd read ({exc}), so the files '
                             f'({evidence}) may not be what it enforces'), None
        ctx.daemon = daemon
        status, evidence = running_sshd_verdict(daemon, status, evidence)
    return status, evidence, outcome[2] if len(outcome) > 2 else None


def evaluate(ctx, only=None):
    """Run the controls in ``ctx``; returns ``(controls, summary)``."""
    options = ctx.opts
    today = utc_date(ctx.now)
    waivers = {w['id']: w for w in options.get('waivers') or []}
    results = []
    for spec in CONTROLS:
        if only and spec.id not in only:
            continue
        details = None
        try:
            status, evidence, details = _judge(ctx, spec)
        except NotApplicable as exc:
            status, evidence = 'not_applicable', str(exc)
        except PermissionError as exc:
            status, evidence = 'error', f'permission denied reading {exc.filename}: run with become: true'
        except Exception as exc:  # a check that cannot run must not hide the others
            status, evidence = 'error', f'{type(exc).__name__}: {exc}'
        entry = {'id': spec.id, 'title': spec.title, 'pci_dss': spec.pci_dss, 'severity': spec.severity,
                 'status': status, 'evidence': evidence, 'remediation': spec.remediation,
                 'remediable': spec.remediable}
        if details:
            entry['details'] = details
        waiver = waivers.get(spec.id)
        if waiver is not None and status in ('fail', 'error'):
            active, note = waiver_state(waiver, today)
            if active:
                entry['status'] = 'waived'
                entry['waiver'] = {'reason': waiver['reason'], 'expires': str(waiver['expires'])}
            entry['evidence'] = f'{evidence} [{note}]'
        results.append(entry)
    return results, summarize(results)


def summarize(results):
    summary = dict.fromkeys(STATUSES, 0)
    for entry in results:
        summary[entry['status']] += 1
    judged = summary['pass'] + summary['fail'] + summary['error'] + summary['waived']
    summary['total'] = len(results)
    # Nothing judged (no control selected, or all not applicable) is no evidence: never compliant.
    summary['score'] = round(100.0 * summary['pass'] / judged, 1) if judged else 0.0
    summary['compliant'] = bool(judged) and summary['fail'] == 0 and summary['error'] == 0
    return summary


def _digest(document):
    return hashlib.sha256(json.dumps(document, sort_keys=True).encode('utf-8')).hexdigest()


def record_fim_baseline(ctx, check_mode=False):
    """Write the current snapshot as the baseline when it differs; returns ``(changed, sha256 of the baseline)``."""
    state = _fim_state(ctx)
    changes = state['changes']
    if changes is not None and not any(changes.values()):
        return False, _digest(state['baseline'])
    document = {'recorded': utc_iso(ctx.now), 'files': state['current']}
    if check_mode:
        return True, _digest(document)
    atomic_write(ctx.os.path(ctx.opts['fim_baseline_file']), json.dumps(document, sort_keys=True), mode=0o600)
    state['baseline'] = document
    state['changes'] = {'added': [], 'removed': [], 'modified': []}
    return True, _digest(document)


def audit(opts, root='/', runner=None, now=None, fim_update=False, check_mode=False, platform=None):
    """The whole audit: ``result`` dict for the module (``changed`` only when the FIM baseline is (re)written).

    ``platform`` (default: the terminal's, from its identity file under ``root``) answers for the platform's
    own files; the operating system is read directly."""
    started = time.monotonic()
    if platform is None:
        platform = load_platform(root=root)
    services_dir = platform.compliance_paths()['services_dir']
    os_view = OsView(root, runner or run_command, boot_services=(platform.name, services_dir) if services_dir else None)
    ctx = Context(os_view, options_with_defaults(opts, platform), platform, now)
    check_ranges(ctx.opts, PCI_AUDIT_RANGES, platform.terminal_id)
    unknown = [cid for cid in ctx.opts.get('controls') or [] if cid not in control_ids()]
    if unknown:
        raise TerminalError('options', f'unknown control ID(s) {", ".join(unknown)}',
                            'use the IDs of posfleet.terminals.pci_audit\'s controls (ansible-doc lists them)',
                            platform.terminal_id)
    changed = False
    if fim_update:
        changed = record_fim_baseline(ctx, check_mode)[0]
    controls, summary = evaluate(ctx, only=ctx.opts.get('controls') or None)
    result = {'controls': controls, 'summary': summary, 'changed': changed,
              'duration_ms': int(round((time.monotonic() - started) * 1000))}
    if ctx.pan is not None:
        result['pan_scan'] = {k: ctx.pan[k] for k in ('complete', 'stop_reason', 'budget', 'files_scanned',
                                                      'bytes_scanned', 'sparse_bytes_skipped', 'duration_ms',
                                                      'throughput_mbps', 'pan_count', 'sad_count', 'findings',
                                                      'sad_findings', 'errors', 'skipped_paths')}
    if ctx.daemon is not None:  # an SSH control was judged: which configuration the running daemon read
        result['sshd'] = ctx.daemon
    if ctx.fim is not None:
        baseline = ctx.fim['baseline']
        result['fim'] = {'baseline_sha256': _digest(baseline) if baseline else None,
                         'recorded': (baseline or {}).get('recorded'), 'files': len(ctx.fim['current']),
                         'changes': ctx.fim['changes']}
    return result
