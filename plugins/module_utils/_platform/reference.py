# Copyright (c) posfleet developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The reference terminal platform (``docs/reference-terminal.md``): JSON files plus the posd control socket.

Every path the reference terminal uses is a class attribute of ``ReferencePlatform``; nothing outside this
file may name one.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import re
import shutil
import socket
import sqlite3
import subprocess
import tarfile
import tempfile
import time

from ansible_collections.posfleet.terminals.plugins.module_utils import _crypt, _os, _untrusted, _version
from ansible_collections.posfleet.terminals.plugins.module_utils._io import atomic_write, fsync_path
from ansible_collections.posfleet.terminals.plugins.module_utils._platform import accounts, journal, pam, slots
from ansible_collections.posfleet.terminals.plugins.module_utils._platform.base import (
    DEFAULT_MAINTENANCE_LEASE,
    DEVICE_NUMBER_KEYS,
    IDENTITY_FILE,
    IDENTITY_IDENTIFIERS,
    RECORD_KEYS,
    Platform,
    TerminalError,
    as_int,
    maintenance_lease,
    read_json,
)
from ansible_collections.posfleet.terminals.plugins.module_utils._time import (
    local_midnight_utc_iso,
    parse_time,
    utc_iso,
)

# Seconds added to a daemon request's own wait (drain, transaction) before the client gives up.
DAEMON_MARGIN = 5.0
DAEMON_TIMEOUT = 10.0
# Numbers in posd's answers (beside the device state keys of DEVICE_NUMBER_KEYS).
JOURNAL_NUMBER_KEYS = ('transactions_today', 'unsettled_batches', 'unsettled_count', 'unsettled_amount_minor')
TRANSACTION_NUMBER_KEYS = ('connect_ms', 'handshake_ms', 'response_ms')
# Debian Policy 5.6.1: lower-case letters, digits, + - . ; at least two characters, starting with a letter or digit.
PACKAGE_NAME_RE = re.compile(r'[a-z0-9][a-z0-9+.-]+')


class DaemonClient:
    """The terminal daemon's control socket: one JSON request line per connection, one JSON answer line."""

    def __init__(self, path, terminal_id=None, log=None, timeout=DAEMON_TIMEOUT):
        self.path = path
        self.terminal_id = terminal_id
        self.log = log
        self.timeout = timeout

    def _error(self, message, fix=None):
        return TerminalError('daemon', message, fix or f'check {self.log}, then reboot the terminal',
                             self.terminal_id)

    def call(self, cmd, args=None, timeout=None, check=True):
        """Send ``{"cmd": cmd, **args}`` and return the answer (a dict); ``timeout`` bounds the whole exchange.

        An answer with ``ok: false`` raises a TerminalError named after ``cmd`` unless ``check`` is false.
        """
        timeout = self.timeout if timeout is None else float(timeout)
        request = dict(args or {})
        request['cmd'] = cmd
        line = (json.dumps(request, sort_keys=True) + '\n').encode('utf-8')
        deadline = time.monotonic() + timeout
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            sock.settimeout(timeout)
            try:
                sock.connect(self.path)
            except FileNotFoundError:
                raise self._error(f'control socket {self.path} does not exist (posd is not running)') from None
            except ConnectionRefusedError:
                raise self._error(f'control socket {self.path} refused the connection (posd is not running)') from None
            except PermissionError:
                raise self._error(f'permission denied on control socket {self.path}',
                                  'run the task with become: true (the socket is root only)') from None
            except socket.timeout:
                raise self._error(f'control socket {self.path} did not accept a connection '
                                  f'within {timeout:g}s') from None
            except OSError as exc:
                raise self._error(f'cannot connect to control socket {self.path} ({exc.strerror or exc})') from None
            try:
                sock.sendall(line)
                answer = self._read_line(sock, deadline, cmd)
            except socket.timeout:
                raise self._error(f'posd did not answer {cmd!r} within {timeout:g}s on {self.path}',
                                  f'check {self.log}; if posd is hung, reboot the terminal') from None
            except OSError as exc:
                raise self._error(f'lost the connection to posd during {cmd!r} ({exc.strerror or exc})') from None
        finally:
            sock.close()
        try:
            data = _untrusted.loads(answer.decode('utf-8'))  # NaN/Infinity become strings: no number check passes
        except (UnicodeDecodeError, ValueError):
            raise self._error(f'posd answered {cmd!r} with a malformed line: {answer[:200]!r}') from None
        if not isinstance(data, dict) or 'ok' not in data:
            raise self._error(f'posd answered {cmd!r} without an "ok" field: {answer[:200]!r}')
        if check and not data.get('ok'):
            raise TerminalError(cmd, data.get('error') or f'posd refused {cmd!r} without saying why',
                                f'check {self.log}', self.terminal_id)
        return data

    def _read_line(self, sock, deadline, cmd):
        chunks = []
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise socket.timeout()
            sock.settimeout(remaining)
            chunk = sock.recv(65536)
            if not chunk:
                break
            chunks.append(chunk)
            if b'\n' in chunk:
                break
        data = b''.join(chunks)
        if not data.strip():
            raise self._error(f'posd closed the connection without answering {cmd!r}')
        return data.split(b'\n', 1)[0]


class ReferencePlatform(Platform):
    """The reference terminal (``docs/reference-terminal.md``): JSON files plus the posd control socket."""

    name = 'posfleet-reference'

    # Where the reference terminal keeps things, relative to the file root (``/`` on a real terminal).
    MODEL_FILE = '/etc/posfleet/model.json'
    ACQUIRER_FILE = '/etc/posfleet/acquirer.json'
    ACQUIRER_CA_DIR = '/etc/posfleet/ca'
    BOOTENV_FILE = '/var/lib/posboot/env.json'
    SLOTS_DIR = '/slots'
    SLOT_NAMES = slots.SLOTS  # the boot loader's own list (slots.py)
    APPS_DIR = '/opt/posapps'
    RECORDS_FILE = '/var/lib/posfleet/records.json'
    MAINTENANCE_FILE = '/var/lib/posd/maintenance.json'
    JOURNAL_DB = '/var/lib/posd/journal.db'
    HW_DIR = '/var/lib/posd/hw'
    DAEMON_DATA_DIR = '/var/lib/posd'
    DAEMON_SOCKET = '/run/posd/posd.sock'
    DAEMON_LOG_DIR = '/var/log/posd'
    DAEMON_LOG = '/var/log/posd/posd.log'
    DISK_PATHS = ('/', '/var/lib/posd')
    BOOT_LOADER = '/sbin/posboot'
    BOOTENV_TOOL = '/usr/sbin/posboot-env'
    SERVICES_DIR = '/etc/posboot/services.d'
    FIRMWARE_STATE_FILE = '/var/lib/posfleet/firmware.json'  # the security version floor
    CONTENT_CACHE_DIR = '/var/lib/posfleet/firmware-cache'  # objects/<sha256>, partial/<sha256>

    def __init__(self, terminal, root='/', socket_path=None, daemon_timeout=DAEMON_TIMEOUT):
        super().__init__(terminal, root)
        self.daemon = DaemonClient(socket_path or self.path(self.DAEMON_SOCKET), self.terminal_id, self.DAEMON_LOG,
                                   daemon_timeout)
        self._status = None  # posd's status answer (or the TerminalError it gave), asked once per run

    def _json(self, path, step, missing=None, fix=None):
        return read_json(self.path(path), step, self.terminal_id, fix=fix, missing=missing)

    # files -----------------------------------------------------------------------------------------

    def _reject(self, step, where, field, problem, fix):
        """The error for a value the terminal holds that is not what it must be (untrusted input)."""
        return self.error(step, f'{where}: "{field}" {problem}', fix)

    def identity(self):
        t = self.terminal
        fix = f're-provision the terminal identity: give it a valid {{field}} in {IDENTITY_FILE}'
        for field in IDENTITY_IDENTIFIERS:
            problem = _untrusted.identifier_problem(t.get(field))
            if problem:
                raise self._reject('identity', IDENTITY_FILE, field, problem, fix.format(field=field))
        problem = _untrusted.timezone_problem(t.get('timezone'))
        if problem:
            raise self._reject('identity', IDENTITY_FILE, 'timezone', problem, fix.format(field='timezone'))
        return {
            'terminal_id': self.terminal_id,
            'serial': t.get('serial'),
            'model': t.get('model'),
            'store': t.get('store'),
            'timezone': t.get('timezone') or 'UTC',
            'platform': t.get('platform') or self.name,
        }

    def model(self):
        data = self._json(self.MODEL_FILE, 'model', fix=f'restore {self.MODEL_FILE} from the terminal image')
        peripherals = data.get('peripherals') or {}
        if not isinstance(peripherals, dict):
            raise self.error('model', f'{self.MODEL_FILE}: "peripherals" is not an object',
                             f'restore {self.MODEL_FILE} from the terminal image')
        problem = _untrusted.identifier_problem(data.get('model'))
        if problem:
            raise self._reject('model', self.MODEL_FILE, 'model', problem,
                               f'restore {self.MODEL_FILE} from the terminal image')
        revision = data.get('hardware_revision')
        if revision is not None:
            problem = _untrusted.identifier_problem(revision)
            if problem:
                raise self._reject('model', self.MODEL_FILE, 'hardware_revision', problem,
                                   f'restore {self.MODEL_FILE} from the terminal image')
        return {
            'model': data.get('model') or self.terminal.get('model'),
            'hardware_revision': revision,
            'vendor': data.get('vendor'),
            'description': data.get('description'),
            'peripherals': {str(k): bool(v) for k, v in peripherals.items()},
        }

    def bootenv(self):
        env = self._json(self.BOOTENV_FILE, 'firmware',
                         fix='run "posboot-env get" on the terminal; restore the boot environment before any upgrade')
        return {
            'active_slot': env.get('active_slot'),
            'upgrade_available': as_int(env.get('upgrade_available'), 0),
            'bootcount': as_int(env.get('bootcount'), 0),
            'bootlimit': as_int(env.get('bootlimit'), 3),
            'last_boot': parse_time(env.get('last_boot')),
            'last_fallback': env.get('last_fallback'),
            'boots': as_int(env.get('boots')),
        }

    def slot(self, name):
        base = self._slot_dir(name)
        info = {'version': None, 'present': False, 'models': None, 'security_version': None}
        try:
            with open(os.path.join(base, 'VERSION'), encoding='utf-8') as handle:
                version = handle.read().strip()
        except OSError:
            return info
        problem = _untrusted.identifier_problem(version or None)
        if problem:
            raise self._reject('firmware', f'{self.SLOTS_DIR}/{name}/VERSION', 'version', problem,
                               f'stage slot {name} again from a signed firmware bundle')
        info['version'] = version or None
        info['present'] = bool(version)
        try:
            manifest = read_json(os.path.join(base, 'manifest.json'), 'firmware', self.terminal_id)
            models = manifest.get('models')
            info['models'] = list(models) if isinstance(models, list) else None
            security = manifest.get('security_version', 0)
            info['security_version'] = security if isinstance(security, int) and not isinstance(security, bool) \
                else None
        except TerminalError:
            pass
        return info

    def boot_state(self):
        env = self.bootenv()
        active = env['active_slot']
        if active not in self.SLOT_NAMES:
            expected = ', '.join(self.SLOT_NAMES)
            raise self.error('firmware',
                             f'{self.BOOTENV_FILE} names active slot {active!r}, expected one of {expected}',
                             'set it with "posboot-env set active_slot=a" (the slot that holds a VERSION)')
        return {
            'active_slot': active,
            'inactive_slot': slots.other_slot(active),
            'state': 'pending_trial' if env['upgrade_available'] else 'committed',
            'upgrade_available': env['upgrade_available'],
            'bootcount': env['bootcount'],
            'bootlimit': env['bootlimit'],
            'last_boot': env['last_boot'],
            'boots': env['boots'],
            'last_fallback': env['last_fallback'],
        }

    def firmware(self):
        boot = self.boot_state()
        slots = {name: self.slot(name) for name in self.SLOT_NAMES}
        return {
            'active_slot': boot['active_slot'],
            'inactive_slot': boot['inactive_slot'],
            'active_version': slots[boot['active_slot']]['version'],
            'slots': slots,
            'bootenv': {key: boot[key] for key in ('upgrade_available', 'bootcount', 'bootlimit')},
            'state': boot['state'],
            'last_fallback': boot['last_fallback'],
            'last_fallback_reason': self._fallback_reason(),
            'security_version': self._security_floor(),
        }

    def _fallback_reason(self):
        reason = self._raw_env().get('last_fallback_reason')
        if not isinstance(reason, str) or not reason:
            return None
        return reason[:300] if reason.isprintable() else ascii(reason)[:300]  # untrusted text: no control bytes

    def installed_software(self):
        try:
            boot = self.boot_state()
        except TerminalError:
            firmware = None  # no readable boot environment: the firmware version is unknown, not an error here
        else:
            firmware = self.slot(boot['active_slot'])['version']
        applications = {app['name']: app['version'] for app in self.applications() if app.get('version')}
        return {'firmware': firmware, 'applications': applications}

    def uptime(self):
        env = self.bootenv()
        last_boot = env['last_boot']
        if last_boot is None:
            return {'boot_time': None, 'uptime_seconds': None, 'boots': env['boots']}
        return {
            'boot_time': utc_iso(last_boot),
            'uptime_seconds': max(0, int(time.time() - last_boot)),
            'boots': env['boots'],
        }

    def applications(self):
        base = self.path(self.APPS_DIR)
        try:
            names = sorted(os.listdir(base))
        except FileNotFoundError:
            return []
        except OSError as exc:
            raise self.error('applications', f'cannot list {self.APPS_DIR} ({exc.strerror or exc})',
                             'run the task with become: true') from None
        apps = []
        for entry in names:
            manifest = os.path.join(base, entry, 'manifest.json')
            if not os.path.isfile(manifest):
                continue
            try:
                data = read_json(manifest, 'applications', self.terminal_id)
            except TerminalError as exc:
                apps.append({'name': entry, 'version': None, 'error': exc.message})
                continue
            name, version = data.get('name') or entry, data.get('version')
            checked = (('name', _untrusted.identifier_problem(name)),
                       ('version', _untrusted.identifier_problem(version)))
            problems = [f'"{key}" {problem}' for key, problem in checked if problem]
            if problems:
                # The application is listed (it is installed) without the values it may not carry.
                apps.append({'name': name if _untrusted.is_identifier(name) else _untrusted.shown(entry),
                             'version': None,
                             'error': f'{self.APPS_DIR}/{_untrusted.shown(entry)}/manifest.json: ' + '; '.join(problems)
                             + ': reinstall the application from its package'})
                continue
            apps.append({'name': name, 'version': version})
        return apps

    def records(self):
        data = self._json(self.RECORDS_FILE, 'records', missing={})
        records = dict.fromkeys(RECORD_KEYS)
        records.update(data)
        return records

    def disk(self):
        return self.disk_usage(self.DISK_PATHS)

    def _maintenance_file(self):
        data = self._json(self.MAINTENANCE_FILE, 'maintenance', missing={})
        return self._maintenance_view(data)

    @staticmethod
    def _maintenance_view(data):
        """posd's maintenance object (status answer or its file) as the contract shapes it, lease included."""
        enabled = bool(data.get('enabled', False))
        return dict({
            'enabled': enabled,
            'since': data.get('since') if enabled else None,
            'message': (data.get('message') or None) if enabled else None,
        }, **maintenance_lease(enabled, data.get('expires'), data.get('holder')))

    def acquirer(self):
        data = self._json(self.ACQUIRER_FILE, 'acquirer', fix=f'restore {self.ACQUIRER_FILE} from the terminal image')
        return {
            'host': data.get('host') or None,
            'port': as_int(data.get('port')),
            'verify': data.get('verify') if isinstance(data.get('verify'), bool) else None,
            'ca_file': data.get('ca_file') or None,
            'min_tls': None if data.get('min_tls') is None else str(data['min_tls']),
            'source': self.ACQUIRER_FILE,
        }

    def compliance_paths(self):
        journal = self.JOURNAL_DB
        return {
            'journal_files': [journal, journal + '-wal', journal + '-shm'],
            'app_log_dir': self.DAEMON_LOG_DIR,
            'app_logs': [self.DAEMON_LOG],
            'acquirer_config': self.ACQUIRER_FILE,
            'software_dirs': [self.SLOTS_DIR, self.APPS_DIR],
            'integrity_paths': [self.ACQUIRER_FILE, self.SERVICES_DIR, self.BOOT_LOADER]
            + [f'{self.SLOTS_DIR}/{name}/bin' for name in self.SLOT_NAMES],
            'card_data_paths': [self.DAEMON_DATA_DIR],
            'services_dir': self.SERVICES_DIR,
            'identity_file': IDENTITY_FILE,
        }

    def journal_masking(self, masked_glob, max_digits):
        import sqlite3

        path = self.path(self.JOURNAL_DB)
        if not os.path.exists(path):
            return None
        try:
            conn = sqlite3.connect(f'file:{path}?mode=ro', uri=True, timeout=5)
            try:
                total, unmasked = conn.execute(
                    'SELECT count(*), coalesce(sum(pan_masked NOT GLOB ? OR length(replace(pan_masked, ?, ?)) > ?), 0) '
                    'FROM transactions', (masked_glob, '*', '', int(max_digits))).fetchone()
            finally:
                conn.close()
        except sqlite3.Error as exc:
            if 'no such table' in str(exc):
                return None
            raise self.error('journal', f'cannot read {self.JOURNAL_DB} ({exc})',
                             'run the task with become: true; restore the journal from the last backup if it is '
                             'corrupt') from None
        return {'total': int(total), 'unmasked': int(unmasked)}

    def _journal_from_db(self):
        """Summary read from the journal database itself (read only), for when posd is not running."""
        import sqlite3

        path = self.path(self.JOURNAL_DB)
        if not os.path.exists(path):
            raise self.error('journal', f'{self.JOURNAL_DB} does not exist',
                             'start posd once so it creates the journal, or restore it from backup')
        if not os.access(path, os.R_OK):
            raise self.error('journal', f'permission denied reading {self.JOURNAL_DB}',
                             'run the task with become: true')
        # "Today" is the terminal's local day, as posd counts it; ts are stored in UTC.
        since = local_midnight_utc_iso()
        try:
            conn = sqlite3.connect(f'file:{path}?mode=ro', uri=True, timeout=5)
            try:
                cur = conn.cursor()
                cur.execute('SELECT count(*) FROM transactions WHERE training = 0 AND ts >= ?', (since,))
                today_count = cur.fetchone()[0]
                cur.execute('SELECT max(ts) FROM transactions WHERE training = 0')
                last = cur.fetchone()[0]
                cur.execute('SELECT count(*) FROM batches WHERE settled IS NULL')
                unsettled_batches = cur.fetchone()[0]
                cur.execute(
                    "SELECT count(*), coalesce(sum(t.amount_minor), 0), max(t.currency) FROM transactions t "
                    "JOIN batches b ON b.batch_id = t.batch_id "
                    "WHERE b.settled IS NULL AND t.training = 0 AND t.status = 'approved'")
                unsettled_count, unsettled_amount, currency = cur.fetchone()
            finally:
                conn.close()
        except sqlite3.Error as exc:
            raise self.error('journal', f'cannot read {self.JOURNAL_DB} ({exc})',
                             'check the disk; restore the journal from the last backup if it is corrupt') from None
        counts, dummy = _untrusted.clean_numbers({
            'transactions_today': today_count, 'unsettled_batches': unsettled_batches,
            'unsettled_count': unsettled_count, 'unsettled_amount_minor': unsettled_amount}, JOURNAL_NUMBER_KEYS)
        return {
            'transactions_today': counts['transactions_today'],
            'last_transaction': last,
            'unsettled_batches': counts['unsettled_batches'],
            'unsettled_count': counts['unsettled_count'],
            'unsettled_amount_minor': counts['unsettled_amount_minor'],
            'currency': currency,
            'open_batch': None,
            'source': 'journal_db',
        }

    # live state ------------------------------------------------------------------------------------

    def live_status(self):
        """posd's ``status`` answer, asked once per run (and again after an action): every live read is one
        snapshot, and a module run costs one request however many reads it makes. A failure is kept too."""
        if self._status is None:
            try:
                self._status = self._strip(self.daemon.call('status'))
            except TerminalError as exc:
                self._status = exc
        if isinstance(self._status, TerminalError):
            raise self._status
        return self._status

    def daemon_info(self):
        try:
            status = self.live_status()
        except TerminalError as exc:
            return {'running': False, 'version': None, 'slot': None, 'pid': None, 'started': None, 'error': str(exc)}
        info = {'running': True, 'version': status.get('version'), 'slot': status.get('slot'),
                'pid': as_int(status.get('pid')), 'started': status.get('started'), 'error': None}
        problems = []
        for key in ('version', 'slot'):
            problem = _untrusted.identifier_problem(info[key])
            if problem:
                problems.append(f'"{key}" {problem}')
                info[key] = None
        if problems:  # running, but what it says about itself cannot be trusted: the daemon check fails
            info['error'] = str(self.error('daemon', 'posd answered status with ' + '; '.join(problems),
                                           f'check {self.DAEMON_LOG}; reinstall the firmware if it persists'))
        return info

    def peripherals(self):
        hardware = self.live_status().get('hardware') or {}
        if not isinstance(hardware, dict):
            raise self.error('daemon', 'posd answered status with a "hardware" that is not an object',
                             f'check {self.DAEMON_LOG}')
        return {str(name): self._clean_device(state) for name, state in hardware.items()
                if isinstance(state, dict) and _untrusted.is_identifier(name)}

    def _clean_device(self, state):
        """A device's live state with every number that is not a finite one rejected: the key is None, the device
        not ok, and the detail says which key holds what (posd itself may call such a state ready)."""
        cleaned, problems = _untrusted.clean_numbers(state, DEVICE_NUMBER_KEYS)
        if problems:
            detail = cleaned.get('detail')
            cleaned['ok'] = False
            cleaned['detail'] = '; '.join([f'posd reported {key} {problem}' for key, problem in problems.items()]
                                          + ([str(detail)] if detail and detail != 'ready' else []))
            cleaned['invalid'] = sorted(problems)
        return cleaned

    def journal_summary(self):
        try:
            status = self.live_status()
        except TerminalError:
            return self._journal_from_db()
        journal, dummy = _untrusted.clean_numbers(status.get('journal'), JOURNAL_NUMBER_KEYS)
        batch = journal.get('open_batch') or {}
        return {
            'transactions_today': journal.get('transactions_today'),
            'last_transaction': journal.get('last_transaction'),
            'unsettled_batches': journal.get('unsettled_batches'),
            'unsettled_count': journal.get('unsettled_count'),
            'unsettled_amount_minor': journal.get('unsettled_amount_minor'),
            'currency': journal.get('currency') or (batch.get('currency') if isinstance(batch, dict) else None),
            'open_batch': batch or None,
            'source': 'daemon',
        }

    def maintenance_state(self, live=False):
        try:
            status = self.live_status()
        except TerminalError:
            if live:
                raise
            return dict(self._maintenance_file(), in_flight=None, source='file')
        current = status.get('maintenance')
        if not isinstance(current, dict):
            if live:
                raise self.error('daemon', 'posd answered status without a "maintenance" object',
                                 f'check {self.DAEMON_LOG}')
            return dict(self._maintenance_file(), in_flight=None, source='file')
        return dict(self._maintenance_view(current), in_flight=as_int(status.get('in_flight'), 0), source='daemon')

    # daemon ----------------------------------------------------------------------------------------

    @staticmethod
    def _strip(answer):
        return {k: v for k, v in answer.items() if k not in ('ok', 'error')}

    def _change(self, cmd, args=None, timeout=None, check=True):
        """A command that changes what posd's status says: the cached status is dropped first."""
        self._status = None
        return self._strip(self.daemon.call(cmd, args, timeout=timeout, check=check))

    def selftest(self, print_receipt=True):
        answer = self.daemon.call('selftest', {'print_receipt': bool(print_receipt)}, timeout=DAEMON_TIMEOUT + 20)
        devices = answer.get('devices')
        if not isinstance(devices, list):
            raise self.error('selftest', 'posd answered selftest without a "devices" list',
                             f'check {self.DAEMON_LOG}')
        devices = [self._clean_device(device) for device in devices if isinstance(device, dict)]
        return {'devices': devices, 'receipt_printed': answer.get('receipt_printed')}

    def test_transaction(self, timeout=10):
        answer = self.daemon.call('test_transaction', {'timeout': timeout}, timeout=timeout + DAEMON_MARGIN,
                                  check=False)
        answer, problems = _untrusted.clean_numbers(answer, TRANSACTION_NUMBER_KEYS)
        if problems and answer.get('ok'):  # an answer whose timings are not numbers is no proof of an approval
            listing = '; '.join(f'{key} {problem}' for key, problem in problems.items())
            answer.update(ok=False, stage='daemon', error='posd answered test_transaction with ' + listing,
                          fix=f'check {self.DAEMON_LOG}; reinstall the firmware if it persists')
        if not answer.get('ok') and not answer.get('fix'):
            stage = answer.get('stage')
            if stage == 'handshake':
                answer['fix'] = (f'check the acquirer CA in {self.ACQUIRER_CA_DIR}, min_tls in {self.ACQUIRER_FILE} '
                                 'and the terminal clock')
            elif stage not in ('link', 'connect', 'response'):
                answer['fix'] = f'check {self.DAEMON_LOG}'
        return answer

    def maintenance_enter(self, message, drain_timeout=30, lease=DEFAULT_MAINTENANCE_LEASE, holder=None):
        return self._change('maintenance_enter', {'message': message, 'drain_timeout': drain_timeout,
                                                  'lease': lease, 'holder': holder},
                            timeout=drain_timeout + DAEMON_MARGIN)

    def maintenance_renew(self, lease=DEFAULT_MAINTENANCE_LEASE, holder=None):
        answer = self._change('maintenance_renew', {'lease': lease, 'holder': holder}, check=False)
        if not answer.get('renewed'):
            return {'renewed': False, 'expires': None, 'holder': None}
        return {'renewed': True, 'expires': answer.get('expires'), 'holder': answer.get('holder')}

    def maintenance_leave(self):
        return self._change('maintenance_leave')

    def settle(self):
        return self._change('settle', timeout=60)

    # write side ------------------------------------------------------------------------------------

    BOOTENV_LOCK = '/var/lib/posboot/env.lock'
    RECORDS_LOCK = '/var/lib/posfleet/records.lock'
    PASSWD_FILE = _os.PASSWD_FILE
    SHADOW_FILE = _os.SHADOW_FILE
    FAILLOCK_CONF = _os.FAILLOCK_CONF
    PAM_SERVICE = 'login'  # the stack a console login goes through: common-auth with pam_faillock
    MIN_TRIAL_SECONDS = 30
    MAX_TRIAL_SECONDS = 7 * 86400

    @contextlib.contextmanager
    def _locked(self, lock_path):
        """The flock the boot loader (``posboot``, ``posboot-env``) also takes: no interleaved read-modify-write."""
        path = self.path(lock_path)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)

    UPDATE_LOCK = '/var/lib/posfleet/update.lock'

    def hold_update_lock(self, holder, wait=300):
        step = 'update_lock'
        if getattr(self, '_update_lock_fd', None) is not None:
            return {'lock': self.UPDATE_LOCK, 'holder': holder, 'waited_s': 0.0}  # this process holds it already
        path = self.path(self.UPDATE_LOCK)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        started = time.monotonic()
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() - started >= wait:
                    other = self._lock_holder(fd)
                    os.close(fd)
                    raise self.error(step, f'another update step holds {self.UPDATE_LOCK} (holder '
                                     f'{_untrusted.shown(other.get("holder", "unknown"))}, pid '
                                     f'{_untrusted.shown(other.get("pid", "unknown"))}) for over {wait} s',
                                     'let the other run finish (a step a killed run left going ends by itself), '
                                     'then run again') from None
                time.sleep(0.5)
        os.ftruncate(fd, 0)
        os.pwrite(fd, json.dumps({'holder': holder, 'pid': os.getpid(), 'since': time.time()}).encode() + b'\n', 0)
        self._update_lock_fd = fd  # held until the process ends: flock releases with its last descriptor
        return {'lock': self.UPDATE_LOCK, 'holder': holder, 'waited_s': round(time.monotonic() - started, 1)}

    @staticmethod
    def _lock_holder(fd):
        """What the update lock's holder wrote into it (``{holder, pid, since}``; ``{}`` when unreadable)."""
        try:
            other = json.loads(os.pread(fd, 4096, 0) or b'{}')
        except (OSError, ValueError):
            return {}
        return other if isinstance(other, dict) else {}

    def _raw_env(self):
        env = self._json(self.BOOTENV_FILE, 'firmware', missing={})
        return slots.with_defaults(env)

    def _save_env(self, env, step):
        problems = slots.validate_env(env)
        if problems:
            raise self.error(step, f'refusing to write an invalid boot environment ({"; ".join(problems)})',
                             f'repair {self.BOOTENV_FILE} with "posboot-env set" first')
        atomic_write(self.path(self.BOOTENV_FILE), json.dumps(env, indent=1, sort_keys=True) + '\n', 0o644)

    def _slot_dir(self, slot):
        return self.path(f'{self.SLOTS_DIR}/{slot}')

    def _check_slot_name(self, slot, step):
        if slot not in self.SLOT_NAMES:
            raise self.error(step, f'there is no slot {slot!r}', 'use one of ' + ', '.join(self.SLOT_NAMES))

    def boot_id(self):
        env = self._raw_env()
        if env.get('boot_id'):
            return env['boot_id']
        # A boot loader older than boot ids: the boot counter and time still change at every boot.
        return f'{env.get("boots")}-{env.get("last_boot")}'

    def stage_slot(self, slot, source_dir, manifest):
        step = 'stage_slot'
        self._check_slot_name(slot, step)
        env = self._raw_env()
        if slot == env['active_slot']:
            raise self.error(step, f'slot {slot} is the active slot (staging writes the inactive slot only)',
                             f'stage slot {slots.other_slot(slot)}')
        if env['upgrade_available'] == 1:
            raise self.error(step, f'a trial of slot {env["active_slot"]} is pending and slot {slot} is its fallback',
                             'commit or roll back the trial first')
        problems = slots.manifest_problems(manifest)
        if problems:
            raise self.error(step, 'the firmware manifest is not valid: ' + '; '.join(problems),
                             'rebuild the firmware bundle')
        security_version = manifest.get('security_version', 0)
        if not isinstance(security_version, int) or isinstance(security_version, bool) or security_version < 0:
            raise self.error(step, f'the manifest\'s security_version {security_version!r} is not an integer >= 0',
                             'rebuild the firmware bundle')
        floor = self._security_floor()
        if security_version < floor:
            raise self.error(step, f'firmware {manifest["version"]} has security version {security_version}, below the '
                             f'terminal\'s floor {floor} (anti-rollback)', 'install firmware of security version '
                             f'{floor} or higher')
        model = self.terminal.get('model')
        if model and model not in manifest['models']:
            raise self.error(step, f'firmware {manifest["version"]} is for models {", ".join(manifest["models"])}, '
                             f'not {model}', f'stage the firmware bundle built for {model}')
        for rel, digest in sorted(manifest['files'].items()):
            try:
                actual = slots.file_sha256(os.path.join(source_dir, rel))
            except OSError as exc:
                raise self.error(step, f'cannot read {rel} from {source_dir} ({exc.strerror or exc})',
                                 'upload the whole firmware bundle again') from None
            if actual != digest:
                raise self.error(step, f'{rel} in {source_dir} does not match its sha256 in the manifest',
                                 'upload the firmware bundle again; if it persists, the bundle is corrupt')
        target = self._slot_dir(slot)
        current = read_json(os.path.join(target, 'manifest.json'), step, self.terminal_id, missing={})
        if current == manifest and not slots.slot_problems(target):
            return {'changed': False, 'slot': slot, 'version': manifest['version'], 'files': len(manifest['files'])}
        base = os.path.dirname(target)
        for leftover in os.listdir(base):  # an earlier stage that was killed half way
            if leftover.startswith((f'.{slot}.staging-', f'.{slot}.old-')):
                shutil.rmtree(os.path.join(base, leftover), ignore_errors=True)
        staging = os.path.join(base, f'.{slot}.staging-{os.getpid()}')
        old = os.path.join(base, f'.{slot}.old-{os.getpid()}')
        try:
            os.mkdir(staging, 0o755)
            for rel in sorted(manifest['files']):
                dest = os.path.join(staging, rel)
                os.makedirs(os.path.dirname(dest), exist_ok=True)
                shutil.copy2(os.path.join(source_dir, rel), dest)
                fsync_path(dest)
            atomic_write(os.path.join(staging, 'manifest.json'), json.dumps(manifest, indent=1, sort_keys=True) + '\n')
            atomic_write(os.path.join(staging, 'VERSION'), manifest['version'] + '\n')
            problems = slots.slot_problems(staging)
            if problems:
                raise self.error(step, f'the staged slot would not boot ({"; ".join(problems)})',
                                 'check that the bundle ships bin/posd as an executable file')
            for directory, _dirs, _files in os.walk(staging):
                fsync_path(directory)
            # The inactive slot is replaced by two renames; the active slot keeps the terminal bootable meanwhile.
            if os.path.lexists(target):
                os.rename(target, old)
            os.rename(staging, target)
            fsync_path(base)
        except OSError as exc:
            raise self.error(step, f'cannot write slot {slot} ({exc.strerror or exc})',
                             f'free space on {self.SLOTS_DIR} and stage again '
                             f'(slot {env["active_slot"]} still boots)') from None
        finally:
            shutil.rmtree(staging, ignore_errors=True)
            shutil.rmtree(old, ignore_errors=True)
        return {'changed': True, 'slot': slot, 'version': manifest['version'], 'files': len(manifest['files'])}

    def start_trial(self, slot, deadline_seconds):
        step = 'start_trial'
        self._check_slot_name(slot, step)
        seconds = as_int(deadline_seconds)
        if seconds is None or not self.MIN_TRIAL_SECONDS <= seconds <= self.MAX_TRIAL_SECONDS:
            raise self.error(step, f'deadline_seconds {deadline_seconds!r} is out of range',
                             f'give {self.MIN_TRIAL_SECONDS} to {self.MAX_TRIAL_SECONDS} seconds')
        with self._locked(self.BOOTENV_LOCK):
            env = self._raw_env()
            if env['upgrade_available'] == 1:
                if env['active_slot'] == slot:
                    return {'changed': False, 'slot': slot, 'fallback_slot': slots.other_slot(slot),
                            'trial_deadline': utc_iso(env['trial_deadline']) if env['trial_deadline'] else None,
                            'reboot_required': not slots.trial_booted(env)}
                raise self.error(step, f'a trial of slot {env["active_slot"]} is already pending',
                                 'commit or roll it back first')
            if slot == env['active_slot']:
                raise self.error(step, f'slot {slot} is already the active slot', 'stage and try the inactive slot')
            problems = slots.slot_problems(self._slot_dir(slot))
            if problems:
                raise self.error(step, f'slot {slot} is not bootable ({"; ".join(problems)})',
                                 f'stage slot {slot} again')
            # A slot below the floor never boots again, also when it is booted back without staging (a revert).
            security, floor = self.slot(slot)['security_version'], self._security_floor()
            if security is None or security < floor:
                raise self.error(step, f'slot {slot} has security version {security}, below the terminal\'s floor '
                                 f'{floor} (anti-rollback)', f'stage firmware of security version {floor} or higher '
                                 f'into slot {slot}')
            now = int(time.time())
            slots.start_trial(env, slot, now, seconds)
            self._save_env(env, step)
        return {'changed': True, 'slot': slot, 'fallback_slot': slots.other_slot(slot),
                'trial_deadline': utc_iso(now + seconds), 'reboot_required': True}

    def commit_slot(self):
        step = 'commit_slot'
        with self._locked(self.BOOTENV_LOCK):
            env = self._raw_env()
            slot = env['active_slot']
            version = self.slot(slot)['version']
            if env['upgrade_available'] != 1:
                self._raise_security_floor(slot, step)  # a commit killed before the floor was raised
                return {'changed': False, 'slot': slot, 'version': version}
            if not slots.trial_booted(env):
                raise self.error(step, f'slot {slot} has not booted since its trial started',
                                 'reboot the terminal, check its health, then commit')
            slots.end_trial(env)
            self._save_env(env, step)
            self._raise_security_floor(slot, step)
        return {'changed': True, 'slot': slot, 'version': version}

    def rollback_slot(self, reason):
        step = 'rollback_slot'
        reason = str(reason or 'rolled back').strip()
        with self._locked(self.BOOTENV_LOCK):
            env = self._raw_env()
            if env['upgrade_available'] != 1:
                return {'changed': False, 'active_slot': env['active_slot'], 'reason': env['last_fallback_reason'],
                        'reboot_required': False}
            booted = slots.trial_booted(env)
            slots.fall_back(env, time.time(), f'rollback: {reason}')
            self._save_env(env, step)
        return {'changed': True, 'active_slot': env['active_slot'], 'reason': env['last_fallback_reason'],
                'reboot_required': booted}

    # firmware: security version floor and content cache

    def _security_floor(self):
        state = self._json(self.FIRMWARE_STATE_FILE, 'firmware', missing={})
        floor = state.get('security_version', 0)
        if not isinstance(floor, int) or isinstance(floor, bool) or floor < 0:
            raise self._reject('firmware', self.FIRMWARE_STATE_FILE, 'security_version', 'is not an integer >= 0',
                               f'restore {self.FIRMWARE_STATE_FILE} (its floor is the highest committed security '
                               'version)')
        return floor

    def _raise_security_floor(self, slot, step):
        """The floor becomes the committed slot's security version when that is higher (never lowered)."""
        manifest = read_json(os.path.join(self._slot_dir(slot), 'manifest.json'), step, self.terminal_id, missing={})
        version = manifest.get('security_version', 0)
        if not isinstance(version, int) or isinstance(version, bool):
            return
        state = self._json(self.FIRMWARE_STATE_FILE, step, missing={})
        if version > self._security_floor():
            state['security_version'] = version
            atomic_write(self.path(self.FIRMWARE_STATE_FILE), json.dumps(state, sort_keys=True) + '\n', 0o644)

    SHA256_RE = re.compile(r'[0-9a-f]{64}')

    def _content_dir(self, kind):
        return os.path.join(self.path(self.CONTENT_CACHE_DIR), kind)

    def _check_sha(self, sha256, step):
        if not isinstance(sha256, str) or not self.SHA256_RE.fullmatch(sha256):
            raise self.error(step, f'{sha256!r} is not a sha256 (64 lowercase hex digits)',
                             'pass the sha256 from the firmware bundle manifest')

    def _slot_holdings(self):
        """``{sha256: path}`` of the slot files that match their slot's manifest (checked, not trusted)."""
        held = {}
        for name in self.SLOT_NAMES:
            base = self._slot_dir(name)
            manifest = read_json(os.path.join(base, 'manifest.json'), 'firmware_content', self.terminal_id,
                                 missing={})
            files = manifest.get('files')
            if not isinstance(files, dict):
                continue
            for rel, digest in sorted(files.items()):
                if not isinstance(digest, str) or digest in held or slots.manifest_problems(
                        {'version': 'x', 'models': ['x'], 'files': {rel: digest, 'bin/posd': '0' * 64}}):
                    continue
                path = os.path.join(base, rel)
                try:
                    if slots.file_sha256(path) == digest:
                        held[digest] = path
                except OSError:
                    continue
        return held

    def _cache_entries(self, kind):
        directory = self._content_dir(kind)
        try:
            names = os.listdir(directory)
        except FileNotFoundError:
            return {}
        except OSError as exc:
            raise self.error('firmware_content', f'cannot list {self.CONTENT_CACHE_DIR} ({exc.strerror or exc})',
                             'run the task with become: true') from None
        return {name: os.path.join(directory, name) for name in names if self.SHA256_RE.fullmatch(name)}

    def firmware_content(self):
        held = {digest: os.path.getsize(path) for digest, path in self._slot_holdings().items()}
        for digest, path in self._cache_entries('objects').items():
            held.setdefault(digest, os.path.getsize(path))
        partial = {digest: os.path.getsize(path) for digest, path in self._cache_entries('partial').items()
                   if digest not in held}
        places = [self.SLOTS_DIR, self.CONTENT_CACHE_DIR if os.path.isdir(self.path(self.CONTENT_CACHE_DIR))
                  else os.path.dirname(self.CONTENT_CACHE_DIR)]
        free = [usage['free_bytes'] for usage in self.disk_usage(places)]
        return {'held': held, 'partial': partial, 'free_bytes': min(free) if free else 0}

    def receive_content(self, sha256, size, offset, chunk_path, chunk_offset=0, length=None):
        step = 'receive_content'
        self._check_sha(sha256, step)
        size, offset = as_int(size), as_int(offset)
        if size is None or size < 0 or offset is None or not 0 <= offset <= size:
            raise self.error(step, f'size {size!r} / offset {offset!r} of {sha256[:12]} are out of range',
                             'pass the size from the bundle manifest and an offset within it')
        chunk_offset = as_int(chunk_offset)
        length = None if length is None else as_int(length)
        if chunk_offset is None or chunk_offset < 0 or (length is not None and not 0 <= length <= size - offset):
            raise self.error(step, f'chunk offset {chunk_offset!r} / length {length!r} of {sha256[:12]} are out of '
                             'range', 'pass where the chunk starts in its file and a length within the object')
        objects, partial_dir = self._content_dir('objects'), self._content_dir('partial')
        final = os.path.join(objects, sha256)
        if os.path.exists(final):
            return {'sha256': sha256, 'received': size, 'complete': True}
        # Each 0700 (makedirs gives the mode to the leaf only).
        for directory in (self.path(self.CONTENT_CACHE_DIR), objects, partial_dir):
            os.makedirs(directory, 0o700, exist_ok=True)
        part = os.path.join(partial_dir, sha256)
        have = os.path.getsize(part) if os.path.exists(part) else 0
        if offset > have:
            raise self.error(step, f'{sha256[:12]}: chunk at {offset} but only {have} bytes were received',
                             f'send from offset {have} (firmware_content() says where each transfer ends)')
        try:
            with open(chunk_path, 'rb') as src, open(part, 'r+b' if have else 'wb') as dest:
                dest.truncate(offset)
                dest.seek(offset)
                src.seek(chunk_offset)
                left = length
                while left is None or left > 0:
                    block = src.read(1 << 20 if left is None else min(1 << 20, left))
                    if not block:
                        break
                    dest.write(block)
                    if left is not None:
                        left -= len(block)
                dest.flush()
                os.fsync(dest.fileno())
            if left:
                os.truncate(part, offset)  # keep only what arrived whole
                raise self.error(step, f'{chunk_path} ends {left} bytes before the chunk of {sha256[:12]} does',
                                 'send the chunk again')
        except OSError as exc:
            raise self.error(step, f'cannot write {sha256[:12]} into {self.CONTENT_CACHE_DIR} ({exc.strerror or exc})',
                             'free space on the terminal and send it again (the slots are unchanged)') from None
        received = os.path.getsize(part)
        if received > size:
            os.unlink(part)
            raise self.error(step, f'{sha256[:12]}: {received} bytes received, more than its size {size}',
                             'send the file again from offset 0')
        if received < size:
            return {'sha256': sha256, 'received': received, 'complete': False}
        if slots.file_sha256(part) != sha256:
            os.unlink(part)
            raise self.error(step, f'the file received as {sha256} does not match that sha256 (discarded)',
                             'send it again; if it persists, the bundle or the link corrupts data')
        os.rename(part, final)
        fsync_path(objects)
        return {'sha256': sha256, 'received': size, 'complete': True}

    def assemble_content(self, files, dest_dir):
        step = 'assemble_content'
        sources = dict(self._slot_holdings())
        sources.update(self._cache_entries('objects'))
        if os.path.lexists(dest_dir):
            raise self.error(step, f'{dest_dir} exists already', 'pass a new directory')
        problems = slots.manifest_problems({'version': 'x', 'models': ['x'],
                                            'files': {rel: (info or {}).get('sha256') for rel, info in files.items()}})
        if problems:
            raise self.error(step, '; '.join(problems), 'rebuild the firmware bundle')
        total = 0
        os.makedirs(dest_dir, 0o700)
        for rel, info in sorted(files.items()):
            digest = info['sha256']
            source = sources.get(digest)
            if source is None:
                shutil.rmtree(dest_dir, ignore_errors=True)
                raise self.error(step, f'{rel} ({digest[:12]}) is neither in a slot nor in the content cache',
                                 'transfer the missing files first (firmware_content() lists what is held)')
            dest = os.path.join(dest_dir, rel)
            os.makedirs(os.path.dirname(dest), 0o755, exist_ok=True)
            shutil.copyfile(source, dest)
            mode = info.get('mode') or '0644'
            os.chmod(dest, int(mode, 8) & 0o777 if isinstance(mode, str) else int(mode) & 0o777)
            total += os.path.getsize(dest)
        return {'path': dest_dir, 'files': len(files), 'bytes': total}

    def prune_content(self, keep=()):
        keep = set(keep)
        removed = size = 0
        for kind in ('objects', 'partial'):
            for digest, path in self._cache_entries(kind).items():
                if digest in keep:
                    continue
                size += os.path.getsize(path)
                os.unlink(path)
                removed += 1
        return {'changed': removed > 0, 'removed': removed, 'bytes': size}

    # journal

    def snapshot_journal(self, dest):
        step = 'snapshot_journal'
        source = self.path(self.JOURNAL_DB)
        if not os.path.exists(source):
            raise self.error(step, f'{self.JOURNAL_DB} does not exist', 'start posd once so that it creates it')
        try:
            return journal.snapshot(source, dest)
        except (OSError, sqlite3.Error) as exc:
            raise self.error(step, f'cannot copy {self.JOURNAL_DB} to {dest} ({exc})',
                             f'check the free space where {dest} lives and that {self.JOURNAL_DB} '
                             'is readable') from None

    def _utc_stamp(self, step, value):
        """``value`` (epoch or ISO 8601) as the UTC text the terminal's files hold; ``None`` stays ``None``."""
        if value is None:
            return None
        epoch = parse_time(value)
        if epoch is None:
            raise self.error(step, f'{value!r} is not a time', 'pass epoch seconds or an ISO 8601 time')
        return utc_iso(epoch)

    def transactions_since(self, since):
        step = 'transactions_since'
        source = self.path(self.JOURNAL_DB)
        stamp = self._utc_stamp(step, since)
        if not os.path.exists(source):
            return {'count': 0, 'max_id': None}  # no journal yet: nothing a restore could lose
        try:
            return journal.transactions_since(source, stamp)
        except sqlite3.Error as exc:
            raise self.error(step, f'cannot read {self.JOURNAL_DB} ({exc})',
                             'check the disk; restore the journal from the last backup if it is corrupt') from None

    def backup_sources(self):
        # The host keys (/etc/ssh) and the accounts stay with the hardware: a replacement terminal has its own.
        return {'journal': self.JOURNAL_DB,
                'paths': [IDENTITY_FILE, self.MODEL_FILE, self.ACQUIRER_FILE, self.ACQUIRER_CA_DIR, self.RECORDS_FILE,
                          self.DAEMON_LOG_DIR]}

    # What stays with the hardware when a backup is put back (a replacement terminal keeps its own).
    HARDWARE_IDENTITY_KEYS = ('serial', 'model')

    def restore_files(self, staging, files, check_mode=False):
        step = 'restore_files'
        roots = [source.rstrip('/') for source in self.backup_sources()['paths']]
        plan = []
        for path in sorted(files):
            entry = files[path]
            if not isinstance(path, str) or not path.startswith('/') or '..' in path.split('/') or not any(
                    path == root or path.startswith(root + '/') for root in roots):
                raise self.error(step, f'the backup holds {path!r}, which is not a file this terminal backs up',
                                 'restore from a snapshot of a posfleet terminal; nothing was written')
            src = os.path.join(staging, path.lstrip('/'))
            if os.path.islink(src) or not os.path.isfile(src) or slots.file_sha256(src) != entry.get('sha256'):
                raise self.error(step, f'{path} in the backup is missing or does not match its sha256',
                                 'restore from another snapshot; nothing was written')
            plan.append((path, src, entry))
        restored, unchanged, kept = [], [], {}
        for path, src, entry in plan:
            if path == self.MODEL_FILE:
                kept[path] = 'the model file belongs to the hardware'
                continue
            if path.startswith(self.DAEMON_LOG_DIR + '/'):
                kept[path] = 'logs stay in the repository: putting them back would drop the newer lines'
                continue
            with open(src, 'rb') as handle:
                data = handle.read()
            if path == IDENTITY_FILE:
                data, kept[path] = self._restored_identity(data, step), 'the serial and model stay the hardware\'s'
            target = self.path(path)
            mode = int(str(entry.get('mode') or '0644'), 8) & 0o7777
            if os.path.isfile(target) and not os.path.islink(target):
                st = os.stat(target)
                with open(target, 'rb') as handle:
                    same = handle.read() == data
                owner = (entry.get('uid'), entry.get('gid'))
                if same and st.st_mode & 0o7777 == mode and (st.st_uid, st.st_gid) == owner:
                    unchanged.append(path)
                    continue
            if check_mode:
                restored.append(path)
                continue
            try:
                atomic_write(target, data, mode)
                if os.geteuid() == 0 and entry.get('uid') is not None:
                    os.chown(target, int(entry['uid']), int(entry.get('gid') or 0))
            except OSError as exc:
                raise self.error(step, f'cannot write {path} ({exc.strerror or exc})',
                                 'run the task with become: true and check the free space') from None
            restored.append(path)
        return {'changed': bool(restored), 'restored': restored, 'unchanged': unchanged, 'kept': kept}

    def _restored_identity(self, data, step):
        try:
            backed_up = json.loads(data.decode('utf-8'))
            if not isinstance(backed_up, dict):
                raise ValueError('not an object')
        except ValueError as exc:
            raise self.error(step, f'the identity in the backup is not JSON ({exc})',
                             'restore from another snapshot; nothing was written') from None
        problem = _untrusted.identifier_problem(backed_up.get('terminal_id'))
        if problem:
            raise self.error(step, f'the identity in the backup: "terminal_id" {problem}',
                             'restore from another snapshot; nothing was written')
        merged = dict(backed_up, **{key: self.terminal.get(key) for key in self.HARDWARE_IDENTITY_KEYS
                                    if key in self.terminal})
        return (json.dumps(merged, ensure_ascii=False) + '\n').encode('utf-8')

    def quiesce_journal(self, drain_timeout=30, resume_after=900):
        return self._change('journal_quiesce', {'drain_timeout': drain_timeout, 'resume_after': resume_after},
                            timeout=drain_timeout + DAEMON_MARGIN)

    def resume_journal(self):
        return self._change('journal_resume')

    def restore_journal(self, src):
        step = 'restore_journal'
        problems = journal.journal_problems(src)
        if problems:
            raise self.error(step, f'{src} is not a transaction journal ({"; ".join(problems)})',
                             'restore from another backup snapshot')
        target = self.path(self.JOURNAL_DB)
        digest = slots.file_sha256(src)
        if os.path.exists(target) and slots.file_sha256(target) == digest:
            info = journal.describe(target)
            return {'changed': False, 'path': self.JOURNAL_DB, 'sha256': digest,
                    'transactions': info['transactions'], 'batches': info['batches']}
        self.quiesce_journal()
        try:
            directory = os.path.dirname(target)
            tmp = os.path.join(directory, f'.{os.path.basename(target)}.restore-{os.getpid()}')
            shutil.copyfile(src, tmp)
            os.chmod(tmp, 0o600)  # cardholder data store: owner only
            fsync_path(tmp)
            # A -wal left beside the old database would be replayed into the new one: never keep it.
            for suffix in ('-wal', '-shm'):
                if os.path.exists(target + suffix):
                    os.unlink(target + suffix)
            os.rename(tmp, target)
            fsync_path(directory)
        except OSError as exc:
            raise self.error(step, f'cannot replace {self.JOURNAL_DB} ({exc.strerror or exc})',
                             'check the free space on /var/lib/posd; the old journal is still in place') from None
        finally:
            self.resume_journal()
        info = journal.describe(target)
        return {'changed': True, 'path': self.JOURNAL_DB, 'sha256': digest, 'transactions': info['transactions'],
                'batches': info['batches']}

    # accounts

    def _read_text(self, path, step):
        try:
            with open(self.path(path), encoding='utf-8') as handle:
                return handle.read()
        except PermissionError:
            raise self.error(step, f'permission denied reading {path}', 'run the task with become: true') from None
        except OSError as exc:
            raise self.error(step, f'cannot read {path} ({exc.strerror or exc})',
                             f'restore {path} from the terminal image') from None

    def _passwd_entry(self, user, step):
        if not isinstance(user, str) or not accounts.USER_RE.fullmatch(user):
            raise self.error(step, f'{user!r} is not a user name', 'give the name of a local account')
        users = accounts.parse_passwd(self._read_text(self.PASSWD_FILE, step))
        if user not in users:
            raise self.error(step, f'there is no account {user!r} on this terminal',
                             'create the account first, or fix the user name')
        return users[user]

    def accounts(self):
        users = accounts.parse_passwd(self._read_text(self.PASSWD_FILE, 'accounts'))
        shadow = accounts.parse_shadow(self._read_text(self.SHADOW_FILE, 'accounts'))
        entries = [accounts.account_entry(name, entry, shadow.get(name)) for name, entry in users.items()]
        return sorted(entries, key=lambda e: (e['uid'], e['user']))

    def set_password_hash(self, user, password_hash):
        step = 'set_password_hash'
        self._passwd_entry(user, step)
        problem = accounts.hash_problem(password_hash)
        if problem:
            raise self.error(step, f'the new password of {user} is refused: {problem}',
                             'pass a hash, e.g. from the password_hash filter')
        fields = self._shadow_fields(user, step)
        if fields and fields[1] == password_hash:
            return {'changed': False, 'user': user}
        if self.root not in ('', '/'):
            raise self.error(step, 'chpasswd only writes the real /etc/shadow', 'run on the terminal itself')
        # The hash goes on stdin: never on a command line or in the environment, where ps could see it.
        result = subprocess.run(['chpasswd', '-e'], input=f'{user}:{password_hash}\n', text=True,
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, check=False)
        if result.returncode != 0:
            raise self.error(step, f'chpasswd failed for {user}: {result.stdout.strip()[:300]}',
                             'run the task with become: true; check /etc/shadow is writable')
        if (self._shadow_fields(user, step) or [None, None])[1] != password_hash:
            raise self.error(step, f'/etc/shadow does not hold the new hash of {user} after chpasswd',
                             'check for a second password database (nsswitch) or a read-only /etc')
        return {'changed': True, 'user': user}

    def verify_password(self, user, password):
        step = 'verify_password'
        self._passwd_entry(user, step)
        settings = pam.faillock_settings(self.path(self.FAILLOCK_CONF))
        tally = pam.tally_path(settings, user, self.root)
        before = pam.read_tally(tally)
        if before and pam.faillock_locked(before, settings):
            raise self.error(step, f'{user} is locked out by pam_faillock '
                             f'({len(pam.faillock_failures(before, settings))} recent failures)',
                             f'find out who failed to log in, then "faillock --user {user} --reset"')
        try:
            ok, _message = pam.pam_authenticate(self.PAM_SERVICE, user, password)
        except OSError as exc:
            raise self.error(step, f'libpam is not usable ({exc})', 'install libpam0g on the terminal') from None
        finally:
            # pam_faillock counted this check (a failure) or reset the tally (a success): put back what the
            # real logins left, so that the check neither locks the account nor erases evidence of attacks.
            after = pam.read_tally(tally)
            if after != before:
                if before is None:
                    os.unlink(tally)
                else:
                    atomic_write(tally, before, 0o600)
        return ok

    def _shadow_fields(self, user, step):
        """``user``'s 9 /etc/shadow fields, or None when the account has no shadow entry."""
        return accounts.parse_shadow(self._read_text(self.SHADOW_FILE, step)).get(user)

    def _stored_password(self, user, step):
        """``user``'s shadow password field ('' when the account has no shadow entry)."""
        self._passwd_entry(user, step)
        return (self._shadow_fields(user, step) or ['', ''])[1]

    def password_methods(self):
        return _crypt.methods()

    def password_hash_index(self, user, hashes):
        stored = self._stored_password(user, 'password_hash_index')
        for index, candidate in enumerate(hashes or ()):
            if isinstance(candidate, str) and candidate and candidate == stored:
                return index
        return None

    def password_is_one_of(self, user, passwords):
        step = 'password_is_one_of'
        stored = self._stored_password(user, step)
        try:
            return any(_crypt.matches(str(password), stored) for password in passwords or ())
        except _crypt.CryptUnavailable as exc:
            raise self.error(step, f'the terminal cannot check a password against its hash ({exc})',
                             'install libcrypt1 (libxcrypt) on the terminal') from None

    def set_password_aging(self, user, max_days, warn_days):
        step = 'set_password_aging'
        self._passwd_entry(user, step)
        for name, value, low in (('max_days', max_days, 1), ('warn_days', warn_days, 0)):
            if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= 99999:
                raise self.error(step, f'{name} {value!r} is not a number of days from {low} to 99999',
                                 f'give {name} as a whole number of days')
        if warn_days > max_days:
            raise self.error(step, f'a warning {warn_days} days ahead of an expiry {max_days} days after a change',
                             'give warn_days no larger than max_days')
        fields = self._shadow_fields(user, step)
        if fields and fields[4] == str(max_days) and fields[5] == str(warn_days):
            return {'changed': False, 'user': user}
        if self.root not in ('', '/'):
            raise self.error(step, 'chage only writes the real /etc/shadow', 'run on the terminal itself')
        result = subprocess.run(['chage', '--maxdays', str(max_days), '--warndays', str(warn_days), user],
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, check=False)
        fields = self._shadow_fields(user, step)
        if result.returncode != 0 or not fields or (fields[4], fields[5]) != (str(max_days), str(warn_days)):
            raise self.error(step, f'chage did not set the aging of {user}: {result.stdout.strip()[:300]}',
                             'run the task with become: true; check /etc/shadow is writable')
        return {'changed': True, 'user': user}

    def _keys_path(self, entry):
        return self.path(os.path.join(entry['home'], '.ssh', 'authorized_keys'))

    def authorized_keys(self, user):
        entry = self._passwd_entry(user, 'authorized_keys')
        try:
            with open(self._keys_path(entry), encoding='utf-8') as handle:
                lines = handle.read().splitlines()
        except FileNotFoundError:
            return []
        except OSError as exc:
            raise self.error('authorized_keys', f'cannot read the authorized keys of {user} ({exc.strerror or exc})',
                             'run the task with become: true') from None
        keys = [accounts.parse_key(line) for line in lines]
        return [{k: v for k, v in key.items() if k != 'blob'} for key in keys if key]

    def set_authorized_keys(self, user, keys):
        step = 'set_authorized_keys'
        entry = self._passwd_entry(user, step)
        parsed = []
        for line in keys:
            key = accounts.parse_key(line) if isinstance(line, str) else None
            if key is None:
                raise self.error(step, f'not an OpenSSH public key line: {str(line)[:60]!r}',
                                 'pass the lines of the .pub files, one key per item')
            if key['line'] not in [k['line'] for k in parsed]:
                parsed.append(key)
        text = ''.join(k['line'] + '\n' for k in parsed)
        path = self._keys_path(entry)
        try:
            with open(path, encoding='utf-8') as handle:
                current = handle.read()
        except OSError:
            current = None
        result = {'changed': current != text, 'user': user, 'count': len(parsed),
                  'fingerprints': [k['fingerprint'] for k in parsed]}
        if current == text:
            return result
        ssh_dir = os.path.dirname(path)
        try:
            if not os.path.isdir(ssh_dir):
                os.mkdir(ssh_dir, 0o700)
                os.chown(ssh_dir, entry['uid'], entry['gid'])
            atomic_write(path, text, 0o600)
            os.chown(path, entry['uid'], entry['gid'])  # sshd's StrictModes: the user's own file, 0600
        except OSError as exc:
            raise self.error(step, f'cannot write the authorized keys of {user} ({exc.strerror or exc})',
                             'run the task with become: true') from None
        return result

    # records

    def write_record(self, key, value):
        step = 'write_record'
        if key not in RECORD_KEYS:
            raise self.error(step, f'{key!r} is not a record key', 'use one of ' + ', '.join(RECORD_KEYS))
        stamp = self._utc_stamp(step, value)
        path = self.path(self.RECORDS_FILE)
        with self._locked(self.RECORDS_LOCK):
            data = self._json(self.RECORDS_FILE, step, missing={})
            previous = data.get(key)
            if previous == stamp and key in data:
                return {'changed': False, 'key': key, 'value': stamp, 'previous': previous}
            data = dict(dict.fromkeys(RECORD_KEYS), **data)
            data[key] = stamp
            try:
                atomic_write(path, json.dumps(data, sort_keys=True) + '\n', 0o644)
            except OSError as exc:
                raise self.error(step, f'cannot write {self.RECORDS_FILE} ({exc.strerror or exc})',
                                 'run the task with become: true') from None
        return {'changed': True, 'key': key, 'value': stamp, 'previous': previous}

    # packages (dpkg and apt; see docs/reference-terminal.md "Packages")

    PACKAGES_DIR = '/var/lib/posfleet/packages'  # debs/, replaced/, apt/, index.json; survives reboots
    PACKAGES_LOCK = '/var/lib/posfleet/packages.lock'
    PACKAGE_KEEP = 3  # .deb files kept per package: the installed version and the two before it
    DPKG_ADMIN_DIR = _os.DPKG_ADMIN_DIR
    DPKG_TIMEOUT = 600
    # dpkg's states in which the package's files are on the terminal (its version is then reported).
    DPKG_PRESENT = ('installed', 'half-configured', 'unpacked', 'half-installed', 'triggers-awaited',
                    'triggers-pending')

    def _packages_dir(self, *parts):
        return self.path(os.path.join(self.PACKAGES_DIR, *parts))

    def _dpkg_root(self):
        """dpkg's options for the file root: the real system, or a test tree (``--root``)."""
        return [] if self.root in ('', '/') else [f'--root={self.root}', '--force-not-root']

    def _run_tool(self, step, argv, fix, timeout=DPKG_TIMEOUT):
        env = dict(os.environ, DEBIAN_FRONTEND='noninteractive', LC_ALL='C')
        try:
            result = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env,
                                    timeout=timeout, check=False)
        except FileNotFoundError:
            raise self.error(step, f'{argv[0]} is not installed', fix) from None
        except subprocess.TimeoutExpired:
            raise self.error(step, f'{argv[0]} did not finish within {timeout}s', fix) from None
        output = result.stdout.decode('utf-8', 'replace')
        if result.returncode != 0:
            tail = ' | '.join(line.strip() for line in output.strip().splitlines()[-6:])
            tool = ' '.join(argv[:2]) if argv[0] == 'apt-get' else argv[0]
            raise self.error(step, f'{tool} failed (exit {result.returncode}): {tail[:900]}', fix)
        return output

    def _check_package_name(self, name, step):
        if not isinstance(name, str) or not PACKAGE_NAME_RE.fullmatch(name):
            raise self.error(step, f'{name!r} is not a Debian package name',
                             'use lower-case letters, digits and "+ - ." (Debian Policy 5.6.1)')

    def _check_version(self, version, step):
        try:
            _version.parse(version)
        except ValueError as exc:
            raise self.error(step, str(exc), 'give a Debian version, e.g. 7.1.1 or 1:2.0-3') from None

    def packages(self, names):
        step = 'packages'
        for name in names:
            self._check_package_name(name, step)
        admin = self.path(self.DPKG_ADMIN_DIR)
        output = self._run_tool(step, ['dpkg-query', f'--admindir={admin}', '-W',
                                       '-f=${Package}\t${Version}\t${db:Status-Status}\n'],
                                'check the dpkg database (dpkg --audit)')
        known = {}
        for line in output.splitlines():
            fields = line.split('\t')
            if len(fields) == 3:
                known[fields[0]] = (fields[1], fields[2])
        answer = {}
        for name in names:
            version, status = known.get(name, (None, 'not-installed'))
            answer[name] = {'version': version if status in self.DPKG_PRESENT and version else None,
                            'status': status or 'not-installed'}
        return answer

    def _deb_info(self, path, step):
        """``{package, version, architecture, sha256, size}`` of the .deb at ``path`` (refused when it is none)."""
        output = self._run_tool(step, ['dpkg-deb', '--field', path, 'Package', 'Version', 'Architecture'],
                                f'{path} is not a Debian package: build it with dpkg-deb --build')
        fields = dict(line.split(': ', 1) for line in output.splitlines() if ': ' in line)
        info = {'package': fields.get('Package', '').strip(), 'version': fields.get('Version', '').strip(),
                'architecture': fields.get('Architecture', '').strip() or 'all'}
        self._check_package_name(info['package'], step)
        self._check_version(info['version'], step)
        info['sha256'] = slots.file_sha256(path)
        info['size'] = os.path.getsize(path)
        return info

    def _cache_index(self):
        index = read_json(self._packages_dir('index.json'), 'package_cache', self.terminal_id, missing={})
        debs = index.get('debs') if isinstance(index.get('debs'), dict) else {}
        # An entry whose file is gone (a hand clean-up) is no rollback: drop it.
        return {name: entry for name, entry in debs.items()
                if isinstance(entry, dict) and os.path.isfile(self._packages_dir('debs', name))}

    def _save_index(self, debs):
        atomic_write(self._packages_dir('index.json'), json.dumps({'debs': debs}, indent=1, sort_keys=True) + '\n',
                     0o644, dir_mode=0o700)

    def package_cache(self):
        where = self._packages_dir()
        while not os.path.isdir(where) and os.path.dirname(where) != where:  # a read creates nothing
            where = os.path.dirname(where)
        st = os.statvfs(where)
        keys = ('package', 'version', 'architecture', 'sha256', 'size')
        debs = [dict({key: entry.get(key) for key in keys}, file=self._packages_dir('debs', name))
                for name, entry in sorted(self._cache_index().items())]
        return {'path': self._packages_dir('debs'), 'free_bytes': st.f_bavail * st.f_frsize, 'debs': debs}

    @staticmethod
    def _deb_name(info):
        return f'{info["package"]}_{info["version"].replace(":", "%3a")}_{info["architecture"]}.deb'

    def _cached(self, index, package, version):
        for name, entry in index.items():
            if entry.get('package') == package and entry.get('version') == version:
                return self._packages_dir('debs', name)
        return None

    def _keep_replaced_files(self, deb, package, step):
        """Before a package is first installed: a tar of the files of its .deb that are already on the terminal
        (owned by no package: an application installed before packages), restored by a rollback to nothing."""
        names = self._run_tool(step, ['dpkg-deb', '--contents', deb], f'rebuild {deb}')
        dest = self._packages_dir('replaced', f'{package}.tar')
        os.makedirs(os.path.dirname(dest), mode=0o700, exist_ok=True)
        tmp = dest + f'.{os.getpid()}'
        with tarfile.open(tmp, 'w') as archive:
            for line in names.splitlines():
                rel = line.split(None, 5)[-1].split(' -> ')[0].lstrip('.').lstrip('/')
                target = self.path('/' + rel)
                if rel and os.path.isfile(target) and not os.path.islink(target):
                    archive.add(target, arcname=rel, recursive=False)
        fsync_path(tmp)
        os.replace(tmp, dest)

    # dpkg's per-package files a rebuilt .deb carries over (maintainer scripts, conffiles list, debconf).
    REPACK_CONTROL_FILES = ('preinst', 'postinst', 'prerm', 'postrm', 'conffiles', 'triggers', 'shlibs', 'symbols',
                            'templates', 'config')

    def _repack(self, index, package, version, step):
        """The .deb of the installed ``package`` rebuilt from the dpkg database and its files on the terminal,
        kept in the cache (``index`` updated): the way back for a package the cache holds no .deb of."""
        admin = self.path(self.DPKG_ADMIN_DIR)
        fix = f'install {package} {version} once from its .deb or the repository, so that it can be rolled back'
        status = self._run_tool(step, ['dpkg-query', f'--admindir={admin}', '--status', package], fix)
        control, skip = [], False
        for line in status.splitlines():
            if line[:1] not in (' ', '\t'):
                skip = line.split(':', 1)[0] in ('Status', 'Config-Version')
            if not skip and line.strip():
                control.append(line)
        arch = next((line.split(':', 1)[1].strip() for line in control if line.startswith('Architecture:')), 'all')
        files = self._run_tool(step, ['dpkg-query', f'--admindir={admin}', '--listfiles', package], fix).splitlines()
        os.makedirs(self._packages_dir('debs'), mode=0o700, exist_ok=True)
        work = tempfile.mkdtemp(prefix='.repack-', dir=self._packages_dir())
        try:
            tree = os.path.join(work, 'tree')
            os.makedirs(os.path.join(tree, 'DEBIAN'))
            # A listed path with listed paths under it is a directory of the package, even where the system made it
            # a symlink (/bin -> usr/bin on a merged /usr).
            parents = {os.path.dirname(path) for path in files}
            for path in files:
                source, dest = self.path(path), os.path.join(tree, path.lstrip('/'))
                if path.strip('/.') == '' or not os.path.lexists(source):
                    continue  # the root, or a file removed by hand: dpkg-repack leaves it out too
                os.makedirs(os.path.dirname(dest), exist_ok=True)
                if os.path.isdir(source) and (path in parents or not os.path.islink(source)):
                    os.makedirs(dest, exist_ok=True)
                    shutil.copystat(source, dest)
                elif os.path.islink(source):
                    os.symlink(os.readlink(source), dest)
                else:
                    shutil.copy2(source, dest)
                if os.geteuid() == 0:
                    st = os.lstat(source)
                    os.lchown(dest, st.st_uid, st.st_gid)
            atomic_write(os.path.join(tree, 'DEBIAN', 'control'), '\n'.join(control) + '\n', 0o644)
            for name in self.REPACK_CONTROL_FILES:
                for stem in (package, f'{package}:{arch}'):
                    source = os.path.join(admin, 'info', f'{stem}.{name}')
                    if os.path.isfile(source):
                        shutil.copy2(source, os.path.join(tree, 'DEBIAN', name))
                        break
            deb = os.path.join(work, 'repacked.deb')
            self._run_tool(step, ['dpkg-deb', '--build', tree, deb], fix)
            info = self._deb_info(deb, step)
            if (info['package'], info['version']) != (package, version):
                raise self.error(step, f'the rebuilt .deb is {info["package"]} {info["version"]}, not {package} '
                                 f'{version}', fix)
            name = self._deb_name(info)
            os.replace(deb, self._packages_dir('debs', name))
        finally:
            shutil.rmtree(work, ignore_errors=True)
        index[name] = {key: info[key] for key in ('package', 'version', 'architecture', 'sha256', 'size')}
        index[name].update(kept_at=time.time(), repacked=True)
        self._save_index(index)
        return self._packages_dir('debs', name)

    def _prune(self, index, keep_files):
        by_package = {}
        for name, entry in index.items():
            by_package.setdefault(entry.get('package'), []).append(name)
        for names in by_package.values():
            names.sort(key=lambda n: index[n].get('kept_at', 0), reverse=True)
            for name in names[self.PACKAGE_KEEP:]:
                if self._packages_dir('debs', name) not in keep_files:
                    with contextlib.suppress(FileNotFoundError):
                        os.unlink(self._packages_dir('debs', name))
                    del index[name]

    def install_packages(self, debs, allow_downgrade=False):
        step = 'install_packages'
        infos = [dict(self._deb_info(path, step), source=path) for path in debs]
        names = [info['package'] for info in infos]
        if len(set(names)) != len(names):
            raise self.error(step, 'two .deb files of one package: ' + ', '.join(sorted(names)),
                             'give one version of each package')
        with self._locked(self.PACKAGES_LOCK):
            index = self._cache_index()
            installed = self.packages(names)
            previous = {info['package']: installed[info['package']]['version'] for info in infos}
            todo = [info for info in infos
                    if installed[info['package']] != {'version': info['version'], 'status': 'installed'}]
            kept = []
            for info in todo:  # every check before the first change
                old = previous[info['package']]
                if old is None:
                    continue
                if not allow_downgrade and _version.compare(info['version'], old) < 0:
                    raise self.error(step, f'{info["package"]} {info["version"]} is older than the installed {old}',
                                     'install a newer version, or allow the downgrade')
                held = self._cached(index, info['package'], old)
                if held is None and old != info['version']:
                    # Installed by other means: rebuild its .deb from what dpkg installed (as dpkg-repack does).
                    held = self._repack(index, info['package'], old, step)
                if held:
                    kept.append(held)
            if not todo:
                return {'changed': False, 'installed': {n: previous[n] for n in names}, 'previous': previous,
                        'kept': []}
            os.makedirs(self._packages_dir('debs'), mode=0o700, exist_ok=True)
            now = time.time()
            targets = []
            for info in todo:
                if previous[info['package']] is None:
                    self._keep_replaced_files(info['source'], info['package'], step)
                name = self._deb_name(info)
                target = self._packages_dir('debs', name)
                if os.path.abspath(info['source']) != target:
                    tmp = target + f'.{os.getpid()}'
                    shutil.copyfile(info['source'], tmp)
                    fsync_path(tmp)
                    os.replace(tmp, target)
                index[name] = {key: info[key] for key in ('package', 'version', 'architecture', 'sha256', 'size')}
                index[name]['kept_at'] = now
                targets.append(target)
            fsync_path(self._packages_dir('debs'))
            for path in kept:  # the previous versions count as the newest but one: never pruned by this install
                index[os.path.basename(path)]['kept_at'] = now - 1
            self._prune(index, set(targets) | set(kept))
            self._save_index(index)
            self._run_tool(step, ['dpkg', *self._dpkg_root(), '--force-confold', '--install', *targets],
                           'see the dpkg output; roll back to the previous versions, then fix the package')
        return {'changed': True, 'installed': {info['package']: info['version'] for info in infos},
                'previous': previous, 'kept': kept}

    def _apt_source(self, source, key):
        """The apt source file for ``source`` (one-line ``deb ...`` or deb822) with ``key`` as its signed-by."""
        text = source.strip()
        apt_dir = self._packages_dir('apt')
        key_file = None
        if key:
            key_file = os.path.join(apt_dir, 'source-key.asc')
            atomic_write(key_file, key.strip() + '\n', 0o644, dir_mode=0o700)
        if text.startswith(('deb ', 'deb\t')):
            if '\n' in text:
                raise self.error('apt_install', 'the apt source has more than one line',
                                 'give one "deb ..." line or one deb822 stanza')
            if key_file and 'signed-by' not in text:
                rest = text[3:].strip()
                if rest.startswith('['):
                    text = f'deb [signed-by={key_file} {rest[1:]}'
                else:
                    text = f'deb [signed-by={key_file}] {rest}'
            return os.path.join(apt_dir, 'source.list'), text + '\n'
        fields = [line.split(':', 1)[0].strip().lower() for line in text.splitlines() if ':' in line]
        if 'types' not in fields or 'uris' not in fields:
            raise self.error('apt_install', 'the apt source is neither a "deb ..." line nor a deb822 stanza with '
                             'Types and URIs', 'see sources.list(5)')
        if key_file and 'signed-by' not in fields:
            text += f'\nSigned-By: {key_file}'
        return os.path.join(apt_dir, 'source.sources'), text + '\n'

    def apt_install(self, pins, source, key=None, allow_downgrade=False):
        step = 'apt_install'
        for name, version in pins.items():
            self._check_package_name(name, step)
            self._check_version(version, step)
        if self.root not in ('', '/'):
            raise self.error(step, 'apt installs into the real root only', 'run on the terminal itself')
        source_file, text = self._apt_source(source, key)
        apt_dir = self._packages_dir('apt')
        for stale in ('source.list', 'source.sources'):
            if os.path.join(apt_dir, stale) != source_file:
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(os.path.join(apt_dir, stale))
        atomic_write(source_file, text, 0o644, dir_mode=0o700)
        download = os.path.join(apt_dir, f'download-{os.getpid()}')
        # Fresh lists at every run: a list fetched under an earlier source or key is never trusted again.
        shutil.rmtree(os.path.join(apt_dir, 'lists'), ignore_errors=True)
        for directory in (os.path.join(apt_dir, 'lists', 'partial'), os.path.join(download, 'partial')):
            os.makedirs(directory, mode=0o700, exist_ok=True)
        # Only this source: its own source file, lists and package cache, none of the terminal's sources.
        options = ['-o', f'Dir::Etc::sourcelist={source_file}', '-o', 'Dir::Etc::sourceparts=-',
                   '-o', f'Dir::State::Lists={os.path.join(apt_dir, "lists")}',
                   '-o', f'Dir::Cache={apt_dir}', '-o', f'Dir::Cache::Archives={download}',
                   '-o', 'APT::Get::List-Cleanup=false', '-q']
        fix = 'check the apt source, its key and that the terminal reaches the repository'
        try:
            self._run_tool(step, ['apt-get', 'update', *options], fix)
            self._run_tool(step, ['apt-get', 'install', '--download-only', '--yes', '--no-install-recommends',
                                  *(['--allow-downgrades'] if allow_downgrade else []), *options,
                                  *[f'{name}={version}' for name, version in sorted(pins.items())]],
                           'check that the repository has these versions (apt-cache policy)')
            debs = sorted(os.path.join(download, name) for name in os.listdir(download) if name.endswith('.deb'))
            result = self.install_packages(debs, allow_downgrade=allow_downgrade) if debs else {
                'changed': False, 'installed': {n: v['version'] for n, v in self.packages(list(pins)).items()},
                'previous': {n: v['version'] for n, v in self.packages(list(pins)).items()}, 'kept': []}
            result['downloaded_bytes'] = sum(os.path.getsize(path) for path in debs)
            result['downloaded_files'] = len(debs)
        finally:
            shutil.rmtree(download, ignore_errors=True)
        return result

    def rollback_packages(self, previous):
        step = 'rollback_packages'
        names = sorted(previous)
        with self._locked(self.PACKAGES_LOCK):
            index = self._cache_index()
            current = self.packages(names)
            reinstall, remove = [], []
            for name in names:
                version = previous[name]
                if version is None:
                    if current[name]['status'] != 'not-installed':
                        remove.append(name)
                    continue
                self._check_version(version, step)
                if current[name] == {'version': version, 'status': 'installed'}:
                    continue
                held = self._cached(index, name, version)
                if held is None:
                    raise self.error(step, f'no .deb of {name} {version} is kept in {self.PACKAGES_DIR}',
                                     f'install {name} {version} from its .deb or the repository')
                reinstall.append(held)
            # The versions rolled away from failed: their .deb files are the first the cache lets go.
            for name in names:
                failed = self._cached(index, name, current[name]['version']) if current[name]['version'] else None
                if failed and (name in remove or current[name]['version'] != previous[name]):
                    index[os.path.basename(failed)]['kept_at'] = 0
            if reinstall or remove:
                self._save_index(index)
            if reinstall:
                self._run_tool(step, ['dpkg', *self._dpkg_root(), '--force-confold', '--force-downgrade',
                                      '--install', *reinstall], 'see the dpkg output (dpkg --audit)')
            if remove:
                self._run_tool(step, ['dpkg', *self._dpkg_root(), '--purge', *remove],
                               'see the dpkg output (dpkg --audit)')
                for name in remove:
                    replaced = self._packages_dir('replaced', f'{name}.tar')
                    if os.path.isfile(replaced):
                        with tarfile.open(replaced) as archive:  # our own tar of regular files, relative names
                            for member in archive.getmembers():
                                if member.isfile() and not member.name.startswith(('/', '..')) \
                                        and '/../' not in member.name:
                                    data = archive.extractfile(member).read()
                                    atomic_write(self.path('/' + member.name), data, member.mode & 0o7777)
        after = self.packages(names)
        return {'changed': bool(reinstall or remove), 'installed': {name: after[name]['version'] for name in names}}
