# Copyright (c) posfleet developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The platform contract: the abstract ``Platform`` every terminal kind implements, and the helpers they share.

Private to the collection (leading underscore): it may change without notice.
Target-side code: Python >= 3.9 standard library only.
"""

from __future__ import annotations

import json
import os
import socket
import time

from ansible_collections.posfleet.terminals.plugins.module_utils._time import (  # noqa: F401 (re-exported)
    parse_time,
    utc_iso,
)

# The one file every platform has: it names the terminal and the platform class that answers for it.
IDENTITY_FILE = '/etc/posfleet/terminal.json'

DEVICES = ('card_reader', 'scanner', 'printer', 'battery', 'sensors')
RECORD_KEYS = ('last_backup', 'last_credential_rotation', 'last_audit')


def _hostname():
    try:
        return socket.gethostname() or 'unknown'
    except Exception:  # pragma: no cover - gethostname does not fail on Linux
        return 'unknown'


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
