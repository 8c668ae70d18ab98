# Copyright (c) posfleet developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The target-side platform layer (DESIGN decision 5).

Every module asks a terminal the same questions (who are you, which firmware is in which slot, how are
the peripherals, enter maintenance mode, ...) through a ``Platform``. ``load_platform()`` reads
``/etc/posfleet/terminal.json`` and picks the class from its ``platform`` key, so supporting a vendor's
terminal means adding a class to ``PLATFORMS``, not editing every module.

Private to the collection (leading underscore): it may change without notice.
Target-side code: Python >= 3.9 standard library only.
"""

from __future__ import annotations

import datetime
import json
import os
import socket
import time

# Where the reference terminal keeps things, relative to the file root (``/`` on a real terminal).
TERMINAL_FILE = '/etc/posfleet/terminal.json'
MODEL_FILE = '/etc/posfleet/model.json'
ACQUIRER_FILE = '/etc/posfleet/acquirer.json'
BOOTENV_FILE = '/var/lib/posboot/env.json'
SLOTS_DIR = '/slots'
SLOT_NAMES = ('a', 'b')
APPS_DIR = '/opt/posapps'
RECORDS_FILE = '/var/lib/posfleet/records.json'
MAINTENANCE_FILE = '/var/lib/posd/maintenance.json'
JOURNAL_DB = '/var/lib/posd/journal.db'
HW_DIR = '/var/lib/posd/hw'
DAEMON_SOCKET = '/run/posd/posd.sock'
DAEMON_LOG = '/var/log/posd/posd.log'
DISK_PATHS = ('/', '/var/lib/posd')

DEVICES = ('card_reader', 'scanner', 'printer', 'battery', 'sensors')
RECORD_KEYS = ('last_backup', 'last_credential_rotation', 'last_audit')

# Seconds added to a daemon request's own wait (drain, transaction) before the client gives up.
DAEMON_MARGIN = 5.0
DAEMON_TIMEOUT = 10.0


def _hostname():
    try:
        return socket.gethostname() or 'unknown'
    except Exception:  # pragma: no cover - gethostname does not fail on Linux
        return 'unknown'


def utc_iso(epoch=None):
    """Seconds since the epoch (default: now) as ``2026-11-20T02:10:00Z``."""
    if epoch is None:
        epoch = time.time()
    stamp = datetime.datetime.fromtimestamp(float(epoch), tz=datetime.timezone.utc)
    return stamp.replace(microsecond=0).isoformat().replace('+00:00', 'Z')


def parse_time(value):
    """Epoch seconds (float) from an epoch number or an ISO 8601 string; ``None`` when unknown."""
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return float(value)
    text = str(value).strip()
    if not text:
        return None
    try:
        return float(text)
    except ValueError:
        pass
    if text.endswith('Z'):
        text = text[:-1] + '+00:00'
    try:
        stamp = datetime.datetime.fromisoformat(text)
    except ValueError:
        return None
    if stamp.tzinfo is None:
        stamp = stamp.replace(tzinfo=datetime.timezone.utc)
    return stamp.timestamp()


def as_int(value, default=None):
    """Tolerant int: boot environments written by shell tools hold ``"1"`` as often as ``1``."""
    if value is None or isinstance(value, bool):
        return default if value is None else int(value)
    try:
        return int(value)
    except (TypeError, ValueError):
        try:
            return int(float(value))
        except (TypeError, ValueError):
            return default


class TerminalError(Exception):
    """A failure a person can act on: which terminal, which step, what happened, what to do.

    ``str()`` reads ``terminal <id>: <step>: <message>. Fix: <fix>``.
    """

    def __init__(self, step, message, fix, terminal_id=None):
        self.step = step
        self.message = str(message).rstrip().rstrip('.')
        self.fix = str(fix).rstrip().rstrip('.')
        self.terminal_id = terminal_id
        super().__init__(step, self.message, self.fix)

    @property
    def terminal(self):
        return self.terminal_id or _hostname()

    def __str__(self):
        return f'terminal {self.terminal}: {self.step}: {self.message}. Fix: {self.fix}'

    def to_dict(self):
        return {'terminal_id': self.terminal, 'step': self.step, 'message': self.message, 'fix': self.fix}


def read_json(path, step, terminal_id=None, fix=None, missing=None, expect=dict):
    """Load a JSON document; a missing file returns ``missing`` (or raises when ``missing`` is None)."""
    try:
        with open(path, 'rb') as handle:
            raw = handle.read()
    except FileNotFoundError:
        if missing is not None:
            return missing
        raise TerminalError(step, f'{path} does not exist', fix or f'restore {path} from the terminal image',
                            terminal_id) from None
    except PermissionError:
        raise TerminalError(step, f'permission denied reading {path}', 'run the task with become: true',
                            terminal_id) from None
    except OSError as exc:
        raise TerminalError(step, f'cannot read {path} ({exc.strerror or exc})', fix or 'check the disk',
                            terminal_id) from None
    try:
        data = json.loads(raw.decode('utf-8'))
    except (UnicodeDecodeError, ValueError) as exc:
        raise TerminalError(step, f'{path} is not valid JSON ({exc})',
                            fix or f'restore {path} from the terminal image or re-provision the terminal',
                            terminal_id) from None
    if expect is not None and not isinstance(data, expect):
        raise TerminalError(step, f'{path} holds a JSON {type(data).__name__}, expected an object',
                            fix or f'restore {path} from the terminal image or re-provision the terminal',
                            terminal_id)
    return data


class DaemonClient:
    """The terminal daemon's control socket: one JSON request line per connection, one JSON answer line."""

    def __init__(self, path=DAEMON_SOCKET, terminal_id=None, log=DAEMON_LOG, timeout=DAEMON_TIMEOUT):
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
            data = json.loads(answer.decode('utf-8'))
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


def tcp_probe(host, port, timeout=5.0):
    """Open (and close) a TCP connection: ``{host, port, reachable, connect_ms, error}``."""
    result = {'host': host, 'port': port, 'reachable': False, 'connect_ms': None, 'error': None}
    start = time.monotonic()
    try:
        conn = socket.create_connection((host, int(port)), timeout=timeout)
    except socket.timeout:
        result['error'] = f'no answer within {timeout:g}s'
    except socket.gaierror as exc:
        result['error'] = f'cannot resolve {host} ({exc.strerror or exc})'
    except OSError as exc:
        result['error'] = exc.strerror or str(exc)
    else:
        result['connect_ms'] = round((time.monotonic() - start) * 1000.0, 1)
        result['reachable'] = True
        conn.close()
    return result


class Platform:
    """The questions every module asks a terminal. Subclasses answer them for one kind of terminal.

    Methods raise ``TerminalError`` when they cannot answer.
    """

    name = None

    def __init__(self, terminal, root='/'):
        self.terminal = dict(terminal)
        self.root = root or '/'

    @property
    def terminal_id(self):
        return self.terminal.get('terminal_id') or _hostname()

    def path(self, path):
        """``path`` under the file root (tests point the root at a temporary tree)."""
        if self.root in ('', '/'):
            return path
        return os.path.join(self.root, path.lstrip('/'))

    def error(self, step, message, fix):
        return TerminalError(step, message, fix, self.terminal_id)

    def identity(self):
        """``{terminal_id, serial, model, store, timezone, platform}``."""
        raise NotImplementedError

    def model(self):
        """``{model, vendor, description, peripherals: {device: bool}}``."""
        raise NotImplementedError

    def firmware(self):
        """``{active_slot, inactive_slot, slots: {a: {version, present}, ...}, bootenv, state, last_fallback}``."""
        raise NotImplementedError

    def applications(self):
        """``[{name, version}]`` sorted by name."""
        raise NotImplementedError

    def records(self):
        """``{last_backup, last_credential_rotation, last_audit}`` as left by the other concerns."""
        raise NotImplementedError

    def disk(self):
        """``[{path, total_bytes, free_bytes, used_bytes, used_pct}]``."""
        raise NotImplementedError

    def uptime(self):
        """``{boot_time, uptime_seconds, boots}`` from the terminal's own boot record."""
        raise NotImplementedError

    def maintenance(self):
        """Maintenance state as persisted on disk: ``{enabled, since, message}`` (daemon not needed)."""
        raise NotImplementedError

    def journal(self):
        """Journal summary read without the daemon (a fallback for facts)."""
        raise NotImplementedError

    def status(self):
        """The daemon's live status (see the reference terminal contract)."""
        raise NotImplementedError

    def selftest(self, print_receipt=True):
        """``{devices: [{device, present, ok, latency_ms, detail}], receipt_printed: bool or None}``."""
        raise NotImplementedError

    def test_transaction(self, timeout=10):
        """A training-mode authorisation; failures are data (``ok: false``, ``stage``, ``error``)."""
        raise NotImplementedError

    def maintenance_enter(self, message, drain_timeout=30):
        """``{changed, drained, in_flight, since, message}``."""
        raise NotImplementedError

    def maintenance_leave(self):
        """``{changed, out_of_service_seconds}``."""
        raise NotImplementedError

    def settle(self):
        """Close the open batch: ``{batch_id, count, amount_minor, currency}``."""
        raise NotImplementedError

    def acquirer_endpoint(self):
        """``(host, port)`` of the acquirer the terminal authorises against."""
        raise NotImplementedError

    def probe_acquirer(self, timeout=5.0):
        """TCP reachability of the acquirer, measured from the terminal."""
        host, port = self.acquirer_endpoint()
        return tcp_probe(host, port, timeout)

    def disk_usage(self, paths):
        usage = []
        for path in paths:
            try:
                st = os.statvfs(self.path(path))
            except OSError:
                continue
            total = st.f_blocks * st.f_frsize
            free = st.f_bavail * st.f_frsize
            used = (st.f_blocks - st.f_bfree) * st.f_frsize
            denominator = used + free
            usage.append({
                'path': path,
                'total_bytes': total,
                'free_bytes': free,
                'used_bytes': used,
                'used_pct': round(used * 100.0 / denominator, 1) if denominator else 0.0,
            })
        return usage


class ReferencePlatform(Platform):
    """The reference terminal (``docs/reference-terminal.md``): JSON files plus the posd control socket."""

    name = 'posfleet-reference'

    def __init__(self, terminal, root='/', socket_path=None, daemon_timeout=DAEMON_TIMEOUT):
        super().__init__(terminal, root)
        self.daemon = DaemonClient(socket_path or self.path(DAEMON_SOCKET), self.terminal_id, DAEMON_LOG,
                                   daemon_timeout)

    def _json(self, path, step, missing=None, fix=None):
        return read_json(self.path(path), step, self.terminal_id, fix=fix, missing=missing)

    # files -----------------------------------------------------------------------------------------

    def identity(self):
        t = self.terminal
        return {
            'terminal_id': self.terminal_id,
            'serial': t.get('serial'),
            'model': t.get('model'),
            'store': t.get('store'),
            'timezone': t.get('timezone') or 'UTC',
            'platform': t.get('platform') or self.name,
        }

    def model(self):
        data = self._json(MODEL_FILE, 'model', fix=f'restore {MODEL_FILE} from the terminal image')
        peripherals = data.get('peripherals') or {}
        if not isinstance(peripherals, dict):
            raise self.error('model', f'{MODEL_FILE}: "peripherals" is not an object',
                             f'restore {MODEL_FILE} from the terminal image')
        return {
            'model': data.get('model') or self.terminal.get('model'),
            'vendor': data.get('vendor'),
            'description': data.get('description'),
            'peripherals': {str(k): bool(v) for k, v in peripherals.items()},
        }

    def bootenv(self):
        env = self._json(BOOTENV_FILE, 'firmware',
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
        base = self.path(f'{SLOTS_DIR}/{name}')
        info = {'version': None, 'present': False, 'models': None}
        try:
            with open(os.path.join(base, 'VERSION'), encoding='utf-8') as handle:
                version = handle.read().strip()
        except OSError:
            return info
        info['version'] = version or None
        info['present'] = bool(version)
        try:
            manifest = read_json(os.path.join(base, 'manifest.json'), 'firmware', self.terminal_id)
            models = manifest.get('models')
            info['models'] = list(models) if isinstance(models, list) else None
        except TerminalError:
            pass
        return info

    def firmware(self):
        env = self.bootenv()
        active = env['active_slot']
        if active not in SLOT_NAMES:
            expected = ', '.join(SLOT_NAMES)
            raise self.error('firmware', f'{BOOTENV_FILE} names active slot {active!r}, expected one of {expected}',
                             'set it with "posboot-env set active_slot=a" (the slot that holds a VERSION)')
        slots = {name: self.slot(name) for name in SLOT_NAMES}
        return {
            'active_slot': active,
            'inactive_slot': [name for name in SLOT_NAMES if name != active][0],
            'active_version': slots[active]['version'],
            'slots': slots,
            'bootenv': {
                'upgrade_available': env['upgrade_available'],
                'bootcount': env['bootcount'],
                'bootlimit': env['bootlimit'],
            },
            'state': 'pending_trial' if env['upgrade_available'] else 'committed',
            'last_fallback': env['last_fallback'],
        }

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
        base = self.path(APPS_DIR)
        try:
            names = sorted(os.listdir(base))
        except FileNotFoundError:
            return []
        except OSError as exc:
            raise self.error('applications', f'cannot list {APPS_DIR} ({exc.strerror or exc})',
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
            apps.append({'name': data.get('name') or entry, 'version': data.get('version')})
        return apps

    def records(self):
        data = self._json(RECORDS_FILE, 'records', missing={})
        records = dict.fromkeys(RECORD_KEYS)
        records.update(data)
        return records

    def disk(self):
        return self.disk_usage(DISK_PATHS)

    def maintenance(self):
        data = self._json(MAINTENANCE_FILE, 'maintenance', missing={})
        enabled = bool(data.get('enabled', False))
        return {
            'enabled': enabled,
            'since': data.get('since') if enabled else None,
            'message': (data.get('message') or None) if enabled else None,
        }

    def acquirer(self):
        data = self._json(ACQUIRER_FILE, 'acquirer', fix=f'restore {ACQUIRER_FILE} from the terminal image')
        if not data.get('host') or as_int(data.get('port')) is None:
            raise self.error('acquirer', f'{ACQUIRER_FILE} has no usable "host" and "port"',
                             f'restore {ACQUIRER_FILE} from the terminal image')
        return data

    def acquirer_endpoint(self):
        data = self.acquirer()
        return str(data['host']), as_int(data['port'])

    def journal(self):
        """Summary read from the journal database itself (read only), for when posd is not running."""
        import sqlite3

        path = self.path(JOURNAL_DB)
        if not os.path.exists(path):
            raise self.error('journal', f'{JOURNAL_DB} does not exist',
                             'start posd once so it creates the journal, or restore it from backup')
        if not os.access(path, os.R_OK):
            raise self.error('journal', f'permission denied reading {JOURNAL_DB}', 'run the task with become: true')
        # "Today" is the terminal's local day, as posd counts it; ts are stored in UTC.
        midnight = datetime.datetime.now().astimezone().replace(hour=0, minute=0, second=0, microsecond=0)
        since = utc_iso(midnight.timestamp())
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
            raise self.error('journal', f'cannot read {JOURNAL_DB} ({exc})',
                             'check the disk; restore the journal from the last backup if it is corrupt') from None
        return {
            'transactions_today': today_count,
            'last_transaction': last,
            'unsettled_batches': unsettled_batches,
            'unsettled_count': unsettled_count,
            'unsettled_amount_minor': unsettled_amount,
            'currency': currency,
            'open_batch': None,
        }

    # daemon ----------------------------------------------------------------------------------------

    @staticmethod
    def _strip(answer):
        return {k: v for k, v in answer.items() if k not in ('ok', 'error')}

    def status(self):
        return self._strip(self.daemon.call('status'))

    def selftest(self, print_receipt=True):
        answer = self.daemon.call('selftest', {'print_receipt': bool(print_receipt)}, timeout=DAEMON_TIMEOUT + 20)
        devices = answer.get('devices')
        if not isinstance(devices, list):
            raise self.error('selftest', 'posd answered selftest without a "devices" list',
                             f'check {DAEMON_LOG}')
        return {'devices': devices, 'receipt_printed': answer.get('receipt_printed')}

    def test_transaction(self, timeout=10):
        return self.daemon.call('test_transaction', {'timeout': timeout}, timeout=timeout + DAEMON_MARGIN,
                                check=False)

    def maintenance_enter(self, message, drain_timeout=30):
        answer = self.daemon.call('maintenance_enter', {'message': message, 'drain_timeout': drain_timeout},
                                  timeout=drain_timeout + DAEMON_MARGIN)
        return self._strip(answer)

    def maintenance_leave(self):
        return self._strip(self.daemon.call('maintenance_leave'))

    def settle(self):
        return self._strip(self.daemon.call('settle', timeout=60))


# The registry: the ``platform`` key of /etc/posfleet/terminal.json -> the class that answers for it.
PLATFORMS = {
    ReferencePlatform.name: ReferencePlatform,
}


def load_platform(root='/', platforms=None, **kwargs):
    """The Platform of the terminal this code runs on, chosen by ``/etc/posfleet/terminal.json``."""
    registry = PLATFORMS if platforms is None else platforms
    path = TERMINAL_FILE if root in ('', '/') else os.path.join(root, TERMINAL_FILE.lstrip('/'))
    fix = f'boot the terminal once with POSFLEET_TERMINAL_ID set, or restore {TERMINAL_FILE}'
    try:
        terminal = read_json(path, 'identity', fix=fix)
    except TerminalError as exc:
        if 'does not exist' in exc.message:
            exc.message = (f'{TERMINAL_FILE} does not exist '
                           '(not a posfleet terminal, or it has not completed its first boot)')
            exc.fix = 'check that the inventory host is a terminal; ' + fix
        raise
    terminal_id = terminal.get('terminal_id') or None
    name = terminal.get('platform')
    supported = ', '.join(sorted(registry)) or 'none'
    if not name:
        raise TerminalError('identity', f'{TERMINAL_FILE} has no "platform" key (supported: {supported})',
                            f'add "platform": "{ReferencePlatform.name}" to {TERMINAL_FILE}', terminal_id)
    cls = registry.get(name)
    if cls is None:
        raise TerminalError('identity',
                            f'platform {name!r} is not supported by posfleet.terminals (supported: {supported})',
                            'upgrade the posfleet.terminals collection, or add a platform class to its platform '
                            'layer (plugins/module_utils/_platform.py)', terminal_id)
    return cls(terminal, root=root, **kwargs)
