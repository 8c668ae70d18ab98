# Copyright (c) posfleet developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The terminal's operating system as the concerns see it (PAM, shadow, dpkg, crypt, sshd, sockets, logrotate),
on any Debian-based terminal: PCI DSS controls today, credentials and software next.

``OsView`` parses what it is asked for once (lazily) from a file root (``/`` on a terminal; tests point it at a
temporary tree) and a command runner (``sshd -T``). Nothing here writes. Running processes (the sshd listener) are read
from ``/proc`` under the same root.

Private to the collection. Target-side code: Python >= 3.9 standard library only.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import glob
import json
import os
import re
import shlex
import socket
import stat
import struct
import subprocess

from ansible_collections.posfleet.terminals.plugins.module_utils._time import utc_iso

# The OS's own account and PAM files (Debian's; every platform built on it has them where Debian puts them).
PASSWD_FILE = '/etc/passwd'
SHADOW_FILE = '/etc/shadow'
FAILLOCK_CONF = '/etc/security/faillock.conf'
# Debian's package database (dpkg's --admindir), read by the package checks and by the platforms' package methods.
DPKG_ADMIN_DIR = '/var/lib/dpkg'
# OpenSSH as Debian installs it: the server, its main configuration (relative Includes are read from its
# directory) and the PID file of the listener when sshd -T names none.
SSHD_BINARY = '/usr/sbin/sshd'
SSHD_CONFIG = '/etc/ssh/sshd_config'
SSHD_PIDFILE = '/run/sshd.pid'
SSHD_INCLUDE_DEPTH = 16

NOLOGIN_SHELLS = ('/usr/sbin/nologin', '/sbin/nologin', '/bin/false', '/usr/bin/false', '/bin/sync', '')


def run_command(argv, timeout=30):
    """``(rc, stdout, stderr)`` of a command; rc 127 when it does not exist."""
    try:
        proc = subprocess.run(argv, capture_output=True, timeout=timeout, check=False)
    except FileNotFoundError:
        return 127, '', f'{argv[0]}: not found'
    except subprocess.TimeoutExpired:
        return 124, '', f'{argv[0]}: timed out after {timeout}s'
    return proc.returncode, proc.stdout.decode('utf-8', 'replace'), proc.stderr.decode('utf-8', 'replace')


def strip_comment(line):
    return line.split('#', 1)[0].strip()


def parse_kv(text, sep=None):
    """``key value`` or ``key = value`` lines (comments dropped); the last value of a key wins."""
    values = {}
    for raw in text.splitlines():
        line = strip_comment(raw)
        if not line:
            continue
        if sep == '=' or ('=' in line and sep is None and not line.split()[0].endswith('=') and
                          line.split('=', 1)[0].strip().isidentifier()):
            key, _sep, value = line.partition('=')
            values[key.strip().lower()] = value.strip().strip('"')
        else:
            parts = line.split(None, 1)
            values[parts[0].lower()] = parts[1].strip() if len(parts) > 1 else ''
    return values


class Crypt:
    """Verify a password against a crypt(3) hash with the system's libcrypt (no cracking, no guessing).

    Used to tell whether an account still has a vendor's published default password: the candidate is hashed
    with the account's own salt and compared, as login would.
    """

    def __init__(self):
        self._fn = None
        name = ctypes.util.find_library('crypt') or 'libcrypt.so.1'
        try:
            lib = ctypes.CDLL(name)
            self._fn = lib.crypt
            self._fn.restype = ctypes.c_char_p
            self._fn.argtypes = (ctypes.c_char_p, ctypes.c_char_p)
        except (OSError, AttributeError):
            self._fn = None

    @property
    def available(self):
        return self._fn is not None

    def matches(self, password, hashed):
        if not self.available or not hashed or hashed[0] in '!*':
            return False
        out = self._fn(password.encode('utf-8'), hashed.encode('ascii', 'replace'))
        return bool(out) and out.decode('ascii', 'replace') == hashed


def _ip_from_proc(hexaddr):
    if len(hexaddr) == 8:
        return socket.inet_ntop(socket.AF_INET, struct.pack('<I', int(hexaddr, 16)))
    raw = bytes.fromhex(hexaddr)
    raw = b''.join(raw[i:i + 4][::-1] for i in range(0, 16, 4))
    return socket.inet_ntop(socket.AF_INET6, raw)


def is_loopback(address):
    return address.startswith('127.') or address in ('::1',) or address.startswith('::ffff:127.')


class OsView:
    """Lazily parsed operating system state under ``root``."""

    def __init__(self, root='/', runner=run_command, boot_services=None):
        """``boot_services``: ``(mechanism, directory of <service>.json)`` of a platform that starts its own
        services (the platform's ``compliance_paths()['services_dir']``), else systemd or SysV is read."""
        self.root = root or '/'
        self.runner = runner
        self.boot_services = boot_services
        self._cache = {}

    # files -------------------------------------------------------------------------------------------
    def path(self, path):
        if self.root in ('', '/'):
            return path
        return os.path.join(self.root, path.lstrip('/'))

    def unroot(self, path):
        if self.root in ('', '/'):
            return path
        return '/' + os.path.relpath(path, self.root)

    def read(self, path, default=None):
        try:
            with open(self.path(path), 'rb') as handle:
                return handle.read().decode('utf-8', 'replace')
        except FileNotFoundError:
            return default
        except NotADirectoryError:
            return default

    def exists(self, path):
        return os.path.lexists(self.path(path))

    def lstat(self, path):
        try:
            return os.lstat(self.path(path))
        except FileNotFoundError:
            return None

    def glob(self, pattern):
        return sorted(self.unroot(p) for p in glob.glob(self.path(pattern)))

    def _cached(self, key, fn):
        if key not in self._cache:
            self._cache[key] = fn()
        return self._cache[key]

    # sshd ---------------------------------------------------------------------------------------------
    def sshd(self):
        """Effective sshd settings from ``sshd -T``: ``{key: value}`` (lower-case keys); None when no sshd."""
        return self._cached('sshd', self._sshd)

    def _sshd(self):
        binary = self.path('/usr/sbin/sshd')
        if not os.path.exists(binary):
            return None
        rc, text, err = self.runner([binary, '-T'])
        if rc != 0:
            raise RuntimeError(f'sshd -T failed ({err.strip() or rc}): run sshd -t to see the error in '
                               'the configuration')
        values = {}
        for line in text.splitlines():
            parts = line.strip().split(None, 1)
            if parts:
                values.setdefault(parts[0].lower(), parts[1] if len(parts) > 1 else '')
        return values

    def sshd_config_sources(self):
        """``(files, directories)`` sshd reads its configuration from: ``sshd_config`` and every file its
        ``Include`` lines name (recursively, globs expanded as sshd does), and the directory of each glob (a
        drop-in removed from it changes the directory, not a file)."""
        files, directories = [], []

        def visit(path, depth):
            text = self.read(path)
            if text is None or path in files or depth > SSHD_INCLUDE_DEPTH:
                return
            files.append(path)
            for raw in text.splitlines():
                words = strip_comment(raw).split()
                if len(words) < 2 or words[0].lower() != 'include':
                    continue
                for pattern in words[1:]:
                    pattern = pattern.strip('"')
                    if not pattern.startswith('/'):
                        pattern = os.path.join(os.path.dirname(SSHD_CONFIG), pattern)
                    if glob.has_magic(pattern):
                        directory = os.path.dirname(pattern)
                        if directory not in directories and os.path.isdir(self.path(directory)):
                            directories.append(directory)
                    for match in self.glob(pattern):
                        visit(match, depth + 1)
        visit(SSHD_CONFIG, 0)
        return files, directories

    def process(self, pid):
        """``{pid, comm, ppid, started}`` of a process from ``/proc/<pid>/stat`` (``started``: epoch seconds,
        rounded down to the boot time's second, so never later than the real start); None when there is none."""
        text = self.read(f'/proc/{int(pid)}/stat')
        if not text or ')' not in text:
            return None
        comm = text[text.index('(') + 1:text.rindex(')')]
        fields = text[text.rindex(')') + 1:].split()
        boot = parse_kv(self.read('/proc/stat') or '').get('btime')
        if len(fields) < 20 or not boot:
            return None
        started = int(boot) + int(fields[19]) / os.sysconf('SC_CLK_TCK')
        return {'pid': int(pid), 'comm': comm, 'ppid': int(fields[1]), 'started': started}

    def _sshd_listener(self, pidfile):
        """The running sshd listener and when it last read its configuration: ``(process, loaded_at, source)``.

        sshd re-executes itself in place on SIGHUP (same PID, same start time) and rewrites its PID file each
        time it has read its configuration and bound its sockets, so the PID file's change time is when the
        running daemon loaded its configuration, never earlier than the process start. Without a PID file that
        names a running sshd, the oldest sshd whose parent is not an sshd is the listener and its start time
        the latest moment it can have read its configuration."""
        name = os.path.basename(SSHD_BINARY)
        try:
            pid = int((self.read(pidfile) or '').strip() or 0)
        except ValueError:
            pid = 0
        proc = self.process(pid) if pid > 0 else None
        if proc and proc['comm'] == name:
            info = os.stat(self.path(pidfile))
            written = max(info.st_mtime_ns, info.st_ctime_ns) / 1e9
            return proc, max(proc['started'], written), f'PID file {pidfile}'
        listeners = []
        for entry in glob.glob(self.path('/proc/[0-9]*')):
            candidate = self.process(os.path.basename(entry))
            if candidate and candidate['comm'] == name:
                parent = self.process(candidate['ppid']) if candidate['ppid'] > 0 else None
                if not parent or parent['comm'] != name:
                    listeners.append(candidate)
        if not listeners:
            return None, None, None
        proc = min(listeners, key=lambda p: p['started'])
        return proc, proc['started'], 'process start time (no PID file names it)'

    def sshd_daemon(self):
        """The running sshd against its configuration files: ``{running: bool, pid: int|None, loaded_at: str|None
        (when it read its configuration, UTC), source: str|None (how that was read), config_changed_at: str (the
        latest change of a file or Include directory), newest_config: str, stale: bool (a file changed after
        the daemon read its configuration: sshd -T shows the files, not what the daemon enforces)}``; None when
        sshd is not installed."""
        return self._cached('sshd_daemon', self._sshd_daemon)

    def _sshd_daemon(self):
        settings = self.sshd()
        if settings is None:
            return None
        files, directories = self.sshd_config_sources()
        newest, changed = SSHD_CONFIG, 0.0
        for path in files + directories:
            info = os.stat(self.path(path))
            moment = max(info.st_mtime_ns, info.st_ctime_ns) / 1e9  # ctime: an mtime put back does not hide a write
            if moment > changed:
                newest, changed = path, moment
        proc, loaded, source = self._sshd_listener(settings.get('pidfile') or SSHD_PIDFILE)
        return {
            'running': proc is not None,
            'pid': proc['pid'] if proc else None,
            'loaded_at': utc_iso(loaded) if proc else None,
            'source': source,
            'config_changed_at': utc_iso(changed) if changed else None,
            'newest_config': newest,
            'stale': bool(proc) and changed > loaded,
        }

    # accounts -----------------------------------------------------------------------------------------
    def passwd(self):
        def parse():
            accounts = []
            for line in (self.read(PASSWD_FILE) or '').splitlines():
                parts = line.split(':')
                if len(parts) >= 7:
                    accounts.append({'name': parts[0], 'uid': int(parts[2] or -1), 'gid': int(parts[3] or -1),
                                     'home': parts[5], 'shell': parts[6]})
            return accounts
        return self._cached('passwd', parse)

    def shadow(self):
        """``{name: {hash, lastchg, min, max, warn, inactive, expire}}`` (numbers or None)."""
        def parse():
            text = self.read(SHADOW_FILE)
            if text is None:
                raise RuntimeError('cannot read /etc/shadow')
            entries = {}
            for line in text.splitlines():
                parts = line.split(':')
                if len(parts) < 8:
                    continue
                num = [int(p) if p.strip().lstrip('-').isdigit() else None for p in parts[2:8]]
                entries[parts[0]] = dict(zip(('lastchg', 'min', 'max', 'warn', 'inactive', 'expire'), num),
                                         hash=parts[1])
            return entries
        return self._cached('shadow', parse)

    def groups(self):
        def parse():
            groups = {}
            for line in (self.read('/etc/group') or '').splitlines():
                parts = line.split(':')
                if len(parts) >= 4:
                    groups[parts[0]] = {'gid': int(parts[2] or -1),
                                        'members': [m for m in parts[3].split(',') if m]}
            return groups
        return self._cached('group', parse)

    def interactive_accounts(self):
        return [a for a in self.passwd() if a['shell'] not in NOLOGIN_SHELLS]

    def lastlog(self, uid):
        """Last login time (epoch) of ``uid`` from /var/log/lastlog, or None."""
        size = 292  # int32 time, char line[32], char host[256]
        try:
            with open(self.path('/var/log/lastlog'), 'rb') as handle:
                handle.seek(uid * size)
                data = handle.read(4)
        except OSError:
            return None
        if len(data) < 4:
            return None
        value = struct.unpack('<i', data)[0]
        return value or None

    def login_defs(self):
        return self._cached('login.defs', lambda: parse_kv(self.read('/etc/login.defs') or '', sep=' '))

    # PAM ----------------------------------------------------------------------------------------------
    def pam(self, service):
        """``[(type, control, module, {arg: value})]`` of /etc/pam.d/<service>, ``@include`` expanded."""
        return self._cached(f'pam:{service}', lambda: self._pam(service, 0))

    def _pam(self, service, depth):
        lines = []
        text = self.read(f'/etc/pam.d/{service}') or ''
        for raw in text.splitlines():
            line = strip_comment(raw)
            if not line:
                continue
            if line.startswith('@include') and depth < 5:
                lines.extend(self._pam(line.split()[1], depth + 1))
                continue
            match = re.match(r'^-?(\w+)\s+(\[[^\]]*\]|\S+)\s+(\S+)\s*(.*)$', line)
            if not match:
                continue
            args = {}
            for arg in shlex.split(match.group(4)) if match.group(4) else []:
                key, _sep, value = arg.partition('=')
                args[key] = value if _sep else True
            module = os.path.basename(match.group(3))
            lines.append((match.group(1), match.group(2), module, args))
        return lines

    def pam_module(self, service, module, kind=None):
        return [entry for entry in self.pam(service) if entry[2] == module and (kind is None or entry[0] == kind)]

    def security_conf(self, name):
        """/etc/security/<name>.conf plus /etc/security/<name>.conf.d/*.conf, ``key = value`` and flags."""
        def parse():
            values = {}
            for path in [f'/etc/security/{name}.conf'] + self.glob(f'/etc/security/{name}.conf.d/*.conf'):
                for raw in (self.read(path) or '').splitlines():
                    line = strip_comment(raw)
                    if not line:
                        continue
                    key, sep, value = line.partition('=')
                    values[key.strip()] = value.strip() if sep else True
            return values
        return self._cached(f'security:{name}', parse)

    # sudo -------------------------------------------------------------------------------------------
    def sudoers(self):
        """``[(file, line)]`` of the sudoers rules (not Defaults, aliases kept as written)."""
        def parse():
            rules = []
            for path in ['/etc/sudoers'] + self.glob('/etc/sudoers.d/*'):
                if path.endswith('~') or '.' in os.path.basename(path) and path.startswith('/etc/sudoers.d/'):
                    continue  # sudo skips these in includedir
                for raw in (self.read(path) or '').splitlines():
                    line = raw.strip()
                    if not line or line.startswith('#') or line.startswith('Defaults') or line.startswith('@'):
                        continue
                    rules.append((path, line))
            return rules
        return self._cached('sudoers', parse)

    # network ------------------------------------------------------------------------------------------
    def listening(self):
        """``[{proto, address, port}]`` of listening TCP sockets and bound UDP sockets (from /proc/net)."""
        def parse():
            sockets = []
            for proto, state in (('tcp', '0A'), ('tcp6', '0A'), ('udp', '07'), ('udp6', '07')):
                text = self.read(f'/proc/net/{proto}') or ''
                for line in text.splitlines()[1:]:
                    parts = line.split()
                    if len(parts) < 4 or parts[3] != state:
                        continue
                    address, _sep, port = parts[1].partition(':')
                    try:
                        ip = _ip_from_proc(address)
                    except (ValueError, OSError):
                        continue
                    sockets.append({'proto': proto.rstrip('6'), 'address': ip, 'port': int(port, 16)})
            unique = {(s['proto'], s['address'], s['port']): s for s in sockets}
            return sorted(unique.values(), key=lambda s: (s['port'], s['proto'], s['address']))
        return self._cached('listening', parse)

    def enabled_services(self):
        """``(mechanism, [names])`` of services started at boot, or ``(None, [])`` when unknown."""
        def parse():
            mechanism, services_dir = self.boot_services or (None, None)
            if services_dir and os.path.isdir(self.path(services_dir)):
                names = []
                for path in self.glob(services_dir.rstrip('/') + '/*.json'):
                    try:
                        data = json.loads(self.read(path) or '{}')
                    except ValueError:
                        data = {}
                    if data.get('enabled', True):
                        names.append(os.path.basename(path)[:-5])
                return mechanism, names
            wants = self.glob('/etc/systemd/system/*.target.wants/*.service')
            if wants or os.path.isdir(self.path('/etc/systemd/system')):
                return 'systemd', sorted({os.path.basename(p)[:-8] for p in wants})
            return None, []
        return self._cached('services', parse)

    def nft_chains(self, path='/etc/nftables.conf'):
        """``{chain name: {hook, policy, rules: [lines]}}`` of the base chains in an nftables ruleset file."""
        def parse():
            text = self.read(path)
            if text is None:
                return None
            chains = {}
            current = None
            for raw in text.splitlines():
                line = strip_comment(raw)
                match = re.match(r'^chain\s+(\S+)\s*\{', line)
                if match:
                    current = {'hook': None, 'policy': 'accept', 'rules': []}
                    chains[match.group(1)] = current
                    continue
                if current is None or not line:
                    continue
                if line == '}':
                    current = None
                    continue
                hook = re.search(r'\bhook\s+(\w+)', line)
                if hook and 'type' in line:
                    current['hook'] = hook.group(1)
                    policy = re.search(r'\bpolicy\s+(\w+)', line)
                    if policy:
                        current['policy'] = policy.group(1)
                    continue
                current['rules'].append(line)
            return chains
        return self._cached(f'nft:{path}', parse)

    # packages -------------------------------------------------------------------------------------------
    def dpkg_versions(self):
        def parse():
            versions = {}
            text = self.read('/var/lib/dpkg/status') or ''
            for block in text.split('\n\n'):
                fields = {}
                for line in block.splitlines():
                    if line[:1] in (' ', '\t'):
                        continue
                    key, _sep, value = line.partition(':')
                    fields[key.strip()] = value.strip()
                if fields.get('Package') and 'installed' in fields.get('Status', '').split():
                    versions[fields['Package']] = fields.get('Version', '')
            return versions
        return self._cached('dpkg', parse)

    # logrotate ---------------------------------------------------------------------------------------
    def logrotate_blocks(self):
        """``[(file, [patterns], {directive: value})]`` from /etc/logrotate.conf and /etc/logrotate.d/*."""
        def parse():
            blocks = []
            globals_ = {}
            for path in ['/etc/logrotate.conf'] + self.glob('/etc/logrotate.d/*'):
                text = self.read(path) or ''
                tokens = re.sub(r'#[^\n]*', '', text)
                for match in re.finditer(r'([^{}]*)\{([^{}]*)\}', tokens):
                    head = match.group(1).strip().splitlines()
                    patterns = shlex.split(head[-1]) if head else []
                    directives = dict(globals_)
                    directives.update(_logrotate_directives(match.group(2)))
                    blocks.append((path, patterns, directives))
                if path == '/etc/logrotate.conf':
                    outside = re.sub(r'[^{}\n]*\{[^{}]*\}', '', tokens)
                    globals_ = _logrotate_directives(outside)
            return blocks
        return self._cached('logrotate', parse)

    def file_mode(self, path):
        info = self.lstat(path)
        if info is None:
            return None
        return {'mode': stat.S_IMODE(info.st_mode), 'uid': info.st_uid, 'gid': info.st_gid,
                'dir': stat.S_ISDIR(info.st_mode), 'link': stat.S_ISLNK(info.st_mode)}


def _logrotate_directives(body):
    directives = {}
    skip = False
    for raw in body.splitlines():
        line = raw.strip()
        if not line:
            continue
        word = line.split()[0]
        if word in ('postrotate', 'prerotate', 'firstaction', 'lastaction', 'preremove'):
            skip = True
            continue
        if word == 'endscript':
            skip = False
            continue
        if skip:
            continue
        parts = line.split(None, 1)
        directives[parts[0]] = parts[1] if len(parts) > 1 else True
    return directives


def retention_months(directives):
    """How many months of logs a logrotate block keeps (rotate count x interval, or maxage)."""
    rotate = directives.get('rotate')
    try:
        count = int(rotate)
    except (TypeError, ValueError):
        return 0.0
    per_year = {'daily': 365.0, 'weekly': 52.0, 'monthly': 12.0, 'yearly': 1.0}
    interval = next((k for k in ('daily', 'weekly', 'monthly', 'yearly') if k in directives), 'weekly')
    months = count * 12.0 / per_year[interval]
    if 'maxage' in directives:
        with contextlib.suppress(ValueError):
            months = min(months, int(directives['maxage']) * 12.0 / 365.0)
    return round(months, 1)
