# Copyright (c) posfleet developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The platform contract: the abstract ``Platform`` every terminal kind implements, and the helpers they share.

Private to the collection (leading underscore): it may change without notice.
Target-side code: Python >= 3.9 standard library only.
"""

from __future__ import annotations

import functools
import os
import socket
import time

from ansible_collections.posfleet.terminals.plugins.module_utils import _untrusted

# The one file every platform has: it names the terminal and the platform class that answers for it.
IDENTITY_FILE = '/etc/posfleet/terminal.json'

DEVICES = ('card_reader', 'scanner', 'printer', 'battery', 'sensors')
RECORD_KEYS = ('last_backup', 'last_credential_rotation', 'last_audit')
# The live device state keys that are numbers (``Platform.peripherals()``): a value that is not a finite number
# is rejected at the seam (set to None, the device not ok, the detail says which key and why).
DEVICE_NUMBER_KEYS = ('paper_pct', 'head_wear_km', 'head_life_km', 'charge_pct', 'health_pct', 'cycle_count',
                      'temperature_c', 'humidity_pct', 'delay_ms', 'latency_ms')
# The identity fields that are identifiers (``_untrusted.IDENTIFIER_RE``); the time zone has its own rule.
IDENTITY_IDENTIFIERS = ('terminal_id', 'serial', 'model', 'store', 'platform')


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
    except (TypeError, ValueError, OverflowError):
        try:
            return int(float(value))
        except (TypeError, ValueError, OverflowError):  # "NaN" and "Infinity" are no int either
            return default


# Maintenance mode is a lease (seconds): the terminal leaves it by itself when the run holding it stops renewing.
DEFAULT_MAINTENANCE_LEASE = 900
MAINTENANCE_LEASE_RANGE = (10, 86400)
MAX_MAINTENANCE_HOLDER = 200


def maintenance_lease(enabled, expires, holder, now=None):
    """The lease of a maintenance state, from the terminal's own clock: ``{expires, holder, lease_remaining,
    stale}``. Stale means in maintenance with no run holding it: no holder, no expiry, or an expiry passed
    (the terminal should have left by itself and has not). Out of maintenance nothing is stale. Values that are
    not what a run writes (a holder with control characters, an expiry that is not a finite number) count as
    missing: unverified is never held."""
    expires = _untrusted.finite(expires)
    if expires is not None:
        expires = float(expires)
    if not isinstance(holder, str) or not holder or len(holder) > MAX_MAINTENANCE_HOLDER or not holder.isprintable():
        holder = None
    if not enabled:
        return {'expires': None, 'holder': None, 'lease_remaining': None, 'stale': False}
    remaining = None if expires is None else round(expires - (time.time() if now is None else now), 1)
    return {'expires': expires, 'holder': holder, 'lease_remaining': remaining,
            'stale': holder is None or remaining is None or remaining <= 0}


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
        data = _untrusted.loads(raw.decode('utf-8'))  # NaN/Infinity read as strings: no number check passes them
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


def abstract(method):
    """Mark a method of the contract: a platform that does not override it fails with a TerminalError naming
    the terminal, the method and the fix (before anything is changed), not with a bare NotImplementedError."""
    name = method.__name__

    @functools.wraps(method)
    def missing(self, *args, **kwargs):
        raise self.error(name, f'platform {self.name!r} does not implement {name}()',
                         f'use a posfleet.terminals release whose {self.name} platform implements {name}(), or '
                         'implement it in its class (plugins/module_utils/_platform/; see docs/reference-terminal.md)')

    missing.__contract__ = True
    return missing


def contract_methods():
    """The names of the methods every platform must implement (``@abstract`` in ``Platform``), in order."""
    return [name for name, value in vars(Platform).items() if getattr(value, '__contract__', False)]


def unimplemented(cls):
    """The contract methods ``cls`` leaves to ``Platform`` (empty for a complete platform)."""
    return [name for name in contract_methods() if getattr(cls, name) is getattr(Platform, name)]


class Platform:
    """The questions every module asks a terminal. Subclasses answer them for one kind of terminal.

    Every ``@abstract`` method is part of the contract (``tests/unit/plugins/module_utils/test_platform_contract.py``
    checks every registered platform against the shapes documented here). Methods raise ``TerminalError`` when
    they cannot answer, unless their documentation says the failure is data.
    """

    name = None

    def __init__(self, terminal, root='/'):
        self.terminal = dict(terminal)
        self.root = root or '/'

    @property
    def terminal_id(self):
        """The terminal's id for messages and results; the host name when the identity holds none or one that is
        not an identifier (``identity()`` then says what is wrong with it)."""
        value = self.terminal.get('terminal_id')
        return value if _untrusted.is_identifier(value) else _hostname()

    def path(self, path):
        """``path`` under the file root (tests point the root at a temporary tree)."""
        if self.root in ('', '/'):
            return path
        return os.path.join(self.root, path.lstrip('/'))

    def unroot(self, path):
        """The terminal path of ``path``, a path under the file root (the inverse of ``path()``)."""
        if self.root in ('', '/'):
            return path
        return '/' + os.path.relpath(path, self.root)

    def error(self, step, message, fix):
        return TerminalError(step, message, fix, self.terminal_id)

    # reads: files ------------------------------------------------------------------------------------

    @abstract
    def identity(self):
        """``{terminal_id: str, serial: str|None, model: str|None, store: str|None, timezone: str, platform: str}``."""

    @abstract
    def model(self):
        """``{model: str|None, hardware_revision: str|None, vendor: str|None, description: str|None,
        peripherals: {device: bool}}``: the devices the model has (``DEVICES`` names at least); the hardware
        revision is what firmware bundles list as compatible (``None`` when the terminal does not say)."""

    @abstract
    def firmware(self):
        """``{active_slot: str, inactive_slot: str|None, active_version: str|None,
        slots: {name: {version: str|None, present: bool, models: [str]|None, security_version: int|None}},
        bootenv: {upgrade_available: int, bootcount: int, bootlimit: int}, state: 'committed'|'pending_trial',
        last_fallback, last_fallback_reason: str|None, security_version: int}``. ``security_version`` is the
        anti-rollback floor: the highest security version ever committed (0 before the first); firmware below it
        is never staged."""

    @abstract
    def boot_state(self):
        """The boot environment, typed: ``{active_slot: str, inactive_slot: str|None,
        state: 'committed'|'pending_trial', upgrade_available: int, bootcount: int, bootlimit: int,
        last_boot: float|None (epoch), boots: int|None, last_fallback: str|dict|None}``."""

    @abstract
    def applications(self):
        """``[{name: str, version: str|None}]`` sorted by name (``error: str`` added for an unreadable one)."""

    @abstract
    def installed_software(self):
        """What the platform installs beside the OS packages, for version checks:
        ``{firmware: str|None (the active slot's version), applications: {name: version}}``."""

    @abstract
    def records(self):
        """``{last_backup, last_credential_rotation, last_audit}`` (ISO strings or ``None``; every ``RECORD_KEYS``
        key present) as left by the other concerns."""

    @abstract
    def disk(self):
        """``[{path: str, total_bytes: int, free_bytes: int, used_bytes: int, used_pct: float}]``."""

    @abstract
    def uptime(self):
        """``{boot_time: str|None (ISO), uptime_seconds: int|None, boots: int|None}`` from the boot record."""

    @abstract
    def acquirer(self):
        """The acquirer link's configuration: ``{host: str|None, port: int|None, verify: bool|None,
        ca_file: str|None, min_tls: str|None, source: str (where it was read)}``.
        Raises when the configuration cannot be read at all."""

    @abstract
    def compliance_paths(self):
        """Where the platform keeps what PCI DSS controls judge (absolute paths on the terminal):
        ``{journal_files: [str] (cardholder data store and its side files), app_log_dir: str|None,
        app_logs: [str] (logs whose retention is judged), acquirer_config: str|None,
        software_dirs: [str] (firmware and applications: no world-writable file),
        integrity_paths: [str] (added to the OS files under change detection), card_data_paths: [str]
        (added to the OS places scanned for card numbers), services_dir: str|None (boot services),
        identity_file: str}``."""

    @abstract
    def journal_masking(self, masked_glob, max_digits):
        """How the transaction journal stores card numbers: ``{total: int, unmasked: int}`` where ``unmasked``
        counts stored numbers that do not match the SQLite GLOB ``masked_glob`` or keep more than ``max_digits``
        digits; ``None`` when the platform has no journal (the control is then not applicable)."""

    # reads: live state (the daemon, or whatever the platform has; file fallbacks say so in ``source``) -----

    @abstract
    def daemon_info(self):
        """``{running: bool, version: str|None, slot: str|None, pid: int|None, started: str|int|None,
        error: str|None}``. Never raises for a daemon that is down: that is data (``running: false``, ``error``)."""

    @abstract
    def peripherals(self):
        """Live device state: ``{device: {present: bool, ok: bool|None, detail: str|None, ...device keys}}``
        (``paper_pct``, ``jam``, ``charge_pct``, ``temperature_c``, ...; ``network`` for the link).
        Raises TerminalError when the live state cannot be read."""

    @abstract
    def journal_summary(self):
        """``{transactions_today: int|None, last_transaction: str|None, unsettled_batches: int|None,
        unsettled_count: int|None, unsettled_amount_minor: int|None, currency: str|None, open_batch: dict|None,
        source: str}`` (``source``: where it was read, e.g. ``daemon`` or ``journal_db``)."""

    @abstract
    def maintenance_state(self, live=False):
        """``{enabled: bool, since: str|int|float|None, message: str|None, in_flight: int|None, source: str,
        expires: float|None, holder: str|None, lease_remaining: float|None, stale: bool}`` (the lease keys from
        ``maintenance_lease()``). With ``live`` the answer must come from the running terminal software
        (``source: daemon``) or raise; without, a persisted state may answer (``source: file``, ``in_flight:
        None``)."""

    # actions ----------------------------------------------------------------------------------------

    @abstract
    def selftest(self, print_receipt=True):
        """``{devices: [{device, present, ok, latency_ms, detail}], receipt_printed: bool or None}``."""

    @abstract
    def test_transaction(self, timeout=10):
        """A training-mode authorisation: ``{ok: bool, approved: bool|None, auth_code: str|None,
        connect_ms: float|None, handshake_ms: float|None, response_ms: float|None, tls_version: str|None,
        cipher: str|None, stage: str|None, error: str|None, fix: str|None, ...}`` (the keys as far as the
        attempt got). Failures are data, not exceptions: ``ok: false`` with the ``stage`` that failed (``link``,
        ``connect``, ``handshake``, ``response``, ...), the ``error`` and a ``fix``."""

    @abstract
    def maintenance_enter(self, message, drain_timeout=30, lease=DEFAULT_MAINTENANCE_LEASE, holder=None):
        """Enter maintenance mode held by ``holder`` (a run id; ``None``: nobody, stale at once) until ``lease``
        seconds after the drain; already in it, move the lease. ``{changed, drained, in_flight, since, message,
        expires, holder}``."""

    @abstract
    def maintenance_renew(self, lease=DEFAULT_MAINTENANCE_LEASE, holder=None):
        """Move the lease of the maintenance mode in force to ``lease`` seconds from now: ``{renewed: bool,
        expires, holder}``; ``renewed: false`` when the terminal is not in maintenance mode (its lease ran out)."""

    @abstract
    def maintenance_leave(self):
        """``{changed, out_of_service_seconds}``."""

    @abstract
    def settle(self):
        """Close the open batch: ``{batch_id, count, amount_minor, currency}``."""

    # shared behaviour -------------------------------------------------------------------------------

    def acquirer_endpoint(self):
        """``(host, port)`` of the acquirer the terminal authorises against."""
        data = self.acquirer()
        port = as_int(data.get('port'))
        if not data.get('host') or port is None:
            where = data.get('source') or 'the acquirer configuration'
            raise self.error('acquirer', f'{where} has no usable "host" and "port"',
                             f'restore {where} from the terminal image')
        return str(data['host']), port

    def probe_acquirer(self, timeout=5.0):
        """TCP reachability of the acquirer, measured from the terminal (``tcp_probe``'s keys), with the link's
        TLS certificate verification setting: ``verify`` (bool, ``None`` when unknown) and ``config`` (where it was
        read). The self-test's network check fails unless ``verify`` is true."""
        host, port = self.acquirer_endpoint()
        conf = self.acquirer()
        return dict(tcp_probe(host, port, timeout), verify=conf.get('verify'), config=conf.get('source'))

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

    # write side ----------------------------------------------------------------------------------------
    # Every write leaves the terminal able to boot and trade whatever step is interrupted, and checks its input
    # before it changes anything. ``changed`` says whether it changed something; a method raises TerminalError
    # when it cannot do its job.

    # updates

    @abstract
    def hold_update_lock(self, holder, wait=300):
        """Take this terminal's update lock for the rest of the calling process: one firmware or software update
        step at a time, so that a step another run left going (its controller killed) and the step of a run that
        retries the update do not interleave. The lock ends with the process, however it ends (a kill, a power
        cut). Waits up to ``wait`` seconds for another holder, then raises TerminalError naming it (``holder``,
        a short text such as ``firmware install``, is what the next waiter is told). Returns ``{lock: str (where
        it is held), holder: str, waited_s: float}``."""

    # firmware

    @abstract
    def boot_id(self):
        """``str``: changes at every boot of the terminal, and only then."""

    @abstract
    def stage_slot(self, slot, source_dir, manifest):
        """Write firmware from ``source_dir`` into the inactive ``slot``, atomically (temp dir + rename).

        ``manifest``: ``{version, models: [model], files: {relpath: sha256}}`` (optionally ``security_version``:
        int, ``hardware_revisions``, ``bundle_key_id``); only the listed files are copied and each must match its
        sha256. Refused for the active slot, while a trial is pending (the inactive slot is then the fallback),
        and for a ``security_version`` below the terminal's floor (``firmware()``). Returns ``{changed: bool,
        slot: str, version: str, files: int}``.
        """

    @abstract
    def start_trial(self, slot, deadline_seconds):
        """Boot ``slot`` on the next boot as a trial: it must be committed within ``deadline_seconds`` (from
        now) or the terminal falls back to the other slot by itself. Returns ``{changed: bool, slot: str,
        fallback_slot: str|None, trial_deadline: str|None (ISO), reboot_required: bool}``; the caller reboots.
        Refused for a slot that is not bootable or whose security version is below the floor (``firmware()``)."""

    @abstract
    def commit_slot(self):
        """Make the trial slot the one that boots from now on (only after it has booted; nothing to do when no
        trial is pending), and raise the security version floor to the committed slot's manifest
        ``security_version`` (never lowered). Returns ``{changed: bool, slot: str, version: str|None}``."""

    @abstract
    def rollback_slot(self, reason):
        """End a pending trial (nothing to do when none is): the other slot boots next, ``reason`` is kept as the
        last fallback reason. Returns ``{changed: bool, active_slot: str, reason: str|None (the last fallback
        reason), reboot_required: bool}``."""

    # firmware content: what a delta transfer needs (the terminal keeps files by sha256; an interrupted transfer
    # resumes where the received bytes end)

    @abstract
    def firmware_content(self):
        """What the terminal holds, by sha256: ``{held: {sha256: size} (files of both slots that match their
        manifest, and complete objects of the content cache), partial: {sha256: bytes} (cached objects whose
        transfer was interrupted), free_bytes: int (the least free space where the cache and the slots live)}``."""

    @abstract
    def receive_content(self, sha256, size, offset, chunk_path, chunk_offset=0, length=None):
        """Append the bytes of the file ``chunk_path`` (``length`` bytes from ``chunk_offset``; by default all of it:
        a chunk of a piece file is a part of it) to the cached object ``sha256`` (``size`` bytes in all) at
        ``offset``: where its received bytes end (an earlier offset rewrites from there; a later one is refused).
        At ``size`` bytes the object is checked against ``sha256`` and kept; a mismatch discards it and raises.
        Returns ``{sha256: str, received: int, complete: bool}``."""

    @abstract
    def assemble_content(self, files, dest_dir):
        """Build a source directory for ``stage_slot`` at ``dest_dir`` (created; must not exist) from what the
        terminal holds: ``files`` ``{relpath: {sha256: str, mode: str ('0755')}}``. Raises, naming the file, when a
        sha256 is not held. Returns ``{path: str, files: int, bytes: int}``."""

    @abstract
    def prune_content(self, keep=()):
        """Remove the cached objects (complete or partial) whose sha256 is not in ``keep``. Returns
        ``{changed: bool, removed: int, bytes: int}``."""

    # journal

    @abstract
    def snapshot_journal(self, dest):
        """A consistent copy of the live journal at ``dest`` (mode 0600) while the daemon keeps writing.
        Returns ``{path: str, bytes: int, sha256: str, integrity: str ('ok'), transactions: int, batches: int,
        max_id: int|None, settled_last: str|None}``; ``settled_last``: the time (ISO 8601, UTC) of the newest
        settlement record the copy holds, None when it holds none (retention keeps a snapshot holding a settlement
        younger than three years)."""

    @abstract
    def transactions_since(self, since):
        """The journal's transactions recorded at ``since`` (epoch or ISO 8601) or later, read from the live journal
        without holding up the daemon; every one when ``since`` is None. Returns ``{count: int, max_id: int|None}``.
        With ``since`` the terminal's ``last_backup`` (when that backup's journal copy was taken), ``count`` is the
        recovery point: how many transactions a restore from that backup could lose."""

    @abstract
    def backup_sources(self):
        """What a backup of this terminal holds: ``{journal: str (the transaction journal, copied with
        ``snapshot_journal`` while the daemon keeps writing; on the reference terminal it also holds the
        settlement records), paths: [str] (files and directories copied as they are: identity, configuration,
        records, logs)}``. A path that does not exist is left out of the backup. Never a private key or a
        password hash: a replacement terminal keeps its own."""

    @abstract
    def restore_files(self, staging, files, check_mode=False):
        """Put back the files of a backup: ``staging`` holds them under their terminal paths
        (``staging/etc/posfleet/acquirer.json``), ``files`` is the backup manifest's ``{path: {sha256, size, mode,
        uid, gid}}``. Only paths under ``backup_sources()['paths']`` are accepted; what belongs to the hardware
        stays this terminal's own (on the reference terminal its model file, and the serial and model in its
        identity, so a replacement terminal keeps its serial and takes the terminal id). Each file is written
        atomically with its mode and owner; a file already equal is left alone; ``check_mode`` writes nothing and
        says what would be restored. Returns ``{changed: bool,
        restored: [str], unchanged: [str], kept: {path: why}}``. Raises, writing nothing, when a path is not one
        a backup holds or a file does not match its sha256."""

    @abstract
    def quiesce_journal(self, drain_timeout=30, resume_after=900):
        """The daemon finishes in-flight sales, takes no new ones and closes its journal; it resumes by itself
        after ``resume_after`` s. Returns ``{changed: bool, quiesced: bool, since: str|int|float|None,
        resume_by: str|int|float|None}``. Raises when the daemon does not answer (nothing is changed)."""

    @abstract
    def resume_journal(self):
        """The daemon reopens its journal and trades again. Returns ``{changed: bool, quiesced: bool,
        quiesced_seconds: int|float|None}``. Raises when the daemon does not answer."""

    @abstract
    def restore_journal(self, src):
        """Replace the journal with the journal file ``src`` (checked first), the daemon quiesced around it.
        Returns ``{changed: bool, path: str, sha256: str, transactions: int, batches: int}``. Raises, with the
        old journal in place, when ``src`` is not a journal or the daemon cannot be quiesced."""

    # accounts

    @abstract
    def accounts(self):
        """Local accounts, never a hash: ``[{user: str, uid: int, gid: int, home: str, shell: str, system: bool,
        password: 'hash'|'locked'|'no_login'|'empty'|None, last_change: str|None (ISO date), min_days: int|None,
        max_days: int|None, warn_days: int|None, inactive_days: int|None, expires: str|None (ISO date)}]``
        sorted by uid."""

    @abstract
    def set_password_hash(self, user, password_hash):
        """Set ``user``'s password to a crypt(5) hash made on the controller (the clear password never
        travels). Returns ``{changed: bool, user: str}``."""

    @abstract
    def verify_password(self, user, password):
        """``bool``: ``True`` when the terminal's own PAM stack accepts ``password`` for ``user``. The check itself
        never counts towards a lockout; an account that is locked out raises instead of answering ``False``."""

    @abstract
    def password_methods(self):
        """``[str]``: the crypt(5) methods this terminal's libcrypt makes, of ``'yescrypt'`` and ``'sha512_crypt'``,
        the preferred first (the controller hashes a new password with the first one it makes too)."""

    @abstract
    def password_hash_index(self, user, hashes):
        """The index (``int``) in ``hashes`` (``[str]``) of the one that /etc/shadow holds as ``user``'s password,
        ``None`` when it holds none of them. The stored hash itself is never returned."""

    @abstract
    def password_is_one_of(self, user, passwords):
        """``bool``: whether ``user``'s password is one of ``passwords`` (a vendor's defaults), checked against the
        stored hash with crypt(3): no login attempt, so nothing counts towards a lockout or reaches a log."""

    @abstract
    def set_password_aging(self, user, max_days, warn_days):
        """Make ``user``'s password expire ``max_days`` after its last change, with a warning ``warn_days`` before
        (shadow's aging fields). Returns ``{changed: bool, user: str}``."""

    @abstract
    def authorized_keys(self, user):
        """``[{type: str, fingerprint: str ('SHA256:...'), comment: str|None, options: str|None, line: str}]``:
        ``user``'s SSH authorized keys, in file order (``[]`` when there is no file)."""

    @abstract
    def set_authorized_keys(self, user, keys):
        """Make ``keys`` (OpenSSH public key lines) ``user``'s exact authorized keys (duplicates dropped). Returns
        ``{changed: bool, user: str, count: int, fingerprints: [str]}``."""

    # records

    @abstract
    def write_record(self, key, value):
        """Record ``key`` (one of ``RECORD_KEYS``) = ``value`` (epoch or ISO time; ``None`` clears it) where
        ``records()`` reads it. Returns ``{changed: bool, key: str, value: str|None (ISO), previous: str|None}``."""

    # packages: the terminal's Debian packages (dpkg), installed from .deb files or one apt source. Every
    # install keeps the .deb of the version it replaces in a cache the platform owns, so that
    # ``rollback_packages`` can put it back without a network.

    @abstract
    def packages(self, names):
        """The dpkg state of each of ``names``: ``{name: {version: str|None, status: str}}``. ``status`` is
        dpkg's (``installed``, ``not-installed``, ``half-configured``, ``unpacked``, ``config-files``, ...);
        ``version`` is ``None`` unless the package's files are on the terminal."""

    @abstract
    def package_cache(self):
        """The platform's cache of .deb files (those installed and the versions they replaced): ``{path: str,
        free_bytes: int, debs: [{file: str, package: str, version: str, architecture: str, sha256: str,
        size: int}]}`` (``path`` the cache directory on the terminal, ``free_bytes`` free there)."""

    @abstract
    def install_packages(self, debs, allow_downgrade=False):
        """Install the .deb files at the paths ``debs`` in one dpkg run, after keeping each one in the cache and
        what it replaces (the installed version's .deb, rebuilt from the installed files when the cache holds none,
        or the files of a package that was not installed), so that ``rollback_packages(previous)`` can restore it.
        A file that is not a .deb, an installed version that cannot be kept, or a downgrade without
        ``allow_downgrade`` is refused before anything changes. Returns
        ``{changed: bool, installed: {name: version}, previous: {name: version|None}, kept: [str]}``; raises
        TerminalError when dpkg fails (the packages may then be half installed: roll back to ``previous``)."""

    @abstract
    def apt_install(self, pins, source, key=None, allow_downgrade=False):
        """Install ``pins`` (``{name: version}``) from the apt ``source`` alone (a one-line ``deb ...`` entry or a
        deb822 stanza; the terminal's own sources are not read), checked with ``key`` (an OpenPGP public key, ASCII
        armoured) when given. The packages are downloaded into the cache and installed as ``install_packages``
        does. Returns ``install_packages``' keys plus ``downloaded_bytes: int`` and ``downloaded_files: int``."""

    @abstract
    def rollback_packages(self, previous):
        """Put each package of ``previous`` (``{name: version|None}``, the ``previous`` of an install) back to that
        version from the cache, or remove it and restore the files it replaced when the version is ``None``.
        Returns ``{changed: bool, installed: {name: version|None}}``."""
