# Copyright (c) posfleet developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The ``restic`` binary (Debian's restic 0.14) driven from the controller, for ``posfleet.terminals.backup``.

Secrets never reach argv or the environment: the repository password and the repository location (which may be
``rest:http://user:pass@host/``) are written into pipes and given as ``--password-file /dev/fd/N`` and
``--repository-file /dev/fd/M`` (``pass_fds``). restic runs with a minimal environment (``PATH``, ``LC_ALL=C``,
``TZ=UTC``, ``HOME`` = the cache directory's parent), stdin closed, always ``--cache-dir``, and a timeout: restic
0.14 has no network timeout and waits forever on a server that accepts and never answers. On timeout it gets
SIGINT (it removes its lock), then SIGKILL.

Errors are ``ResticError`` with a ``kind`` the caller can act on, classified from restic's stderr. Messages are
scrubbed of the password and of the location's URL password (restic masks the latter as ``***`` itself).

restic trims white space around a password read from a file (``--password-file``): ``' pw '`` and ``'pw'``
open the same repository; a repository initialised here is always keyed with the trimmed password.

Times given to ``backup(time=...)`` and read from ``snapshots()`` are UTC (restic runs with ``TZ=UTC``).

Private to the collection (leading underscore): it may change without notice.
"""

from __future__ import annotations

import contextlib
import datetime
import fcntl
import hashlib
import json
import os
import random
import re
import signal
import subprocess
import threading
import time as _time
from urllib.parse import quote, unquote, urlsplit, urlunsplit

from ansible_collections.posfleet.terminals.plugins.module_utils import _io
from ansible_collections.posfleet.terminals.plugins.plugin_utils._action import default_dir
from ansible_collections.posfleet.terminals.plugins.plugin_utils._errors import FixableError

KINDS = ('wrong_password', 'locked', 'no_repository', 'unreachable', 'refused', 'damaged', 'full', 'timeout',
         'failed')
# restic's repository location prefixes (restic 0.14 internal/backend/location); anything else is a local path.
SCHEMES = ('b2:', 'azure:', 'gs:', 'rclone:', 'rest:', 's3:', 'sftp:', 'swift:')
HEX64_RE = re.compile(r'[0-9a-f]{64}')
TAG_RE = re.compile(r'[^,\s]+')
# A line of a Go stack trace (restic prints one on some backend errors): not worth showing.
# A server's refusal (an append-only REST server refusing a delete), not any "403" (a count in a progress line).
FULL_RE = re.compile(r'no space left on device|disk quota exceeded', re.IGNORECASE)
FORBIDDEN_RE = re.compile(r'\b403 Forbidden\b|\(403\)')
_ANSI_RE = re.compile(r'\x1b\[[0-9;?]*[A-Za-z]|\r')
_TRACE_RE = re.compile(r'^(\s|goroutine |created by |\S+\.go:\d+|\S+\((0x[0-9a-f]+|\.\.\.)?[,)])')
# How long the collection's tasks wait for another restic's lock (a check or a prune of the same repository).
LOCK_WAIT = 300
# After SIGINT restic removes its lock and exits; a restic stuck on a silent server gets SIGKILL after this long.
INTERRUPT_GRACE = 5
MESSAGE_LINES = 6

FIX_WRONG_PASSWORD = 'check the vault variable holding the repository password'
FIX_NO_REPOSITORY = 'initialise the repository (restic init), or check the repository location'
FIX_UNREACHABLE = 'check the repository server is running and reachable from the controller'
FIX_LOCKED = ('make sure no other restic is using the repository; a killed backup leaves a stale lock, which '
              '"restic unlock" (unlock()) removes (it removes only locks whose process is gone)')
FIX_REFUSED = 'run retention with the maintenance credential, not the append-only backup one'
FIX_DAMAGED = ('restore what is needed from another copy, then repair the repository (restic rebuild-index, '
               'prune) or start a new one')
FIX_TIMEOUT = 'check the repository server answers (restic waits forever on a silent one), or raise the timeout'
FIX_UNAUTHORIZED = 'check the user and password of the REST server in the repository location'
FIX_FULL = ('free space on the disk it names (the repository\'s, or the controller\'s restic cache), then run '
            'again; no snapshot was stored')
FIX_FAILED = 'read restic\'s message above'


class ResticError(FixableError):
    """A failed restic call, with the fix; ``kind`` is one of KINDS."""

    def __init__(self, message, fix, kind='failed'):
        super().__init__(message, fix)
        self.kind = kind


def classify(text, deleting=False):
    """``(kind, fix)`` for restic's output ``text`` of a failed call; ``deleting``: the call removes files."""
    if 'wrong password or no key found' in text:
        return 'wrong_password', FIX_WRONG_PASSWORD
    if 'repository is already locked' in text:
        return 'locked', FIX_LOCKED
    if FORBIDDEN_RE.search(text) and (deleting or 'not removed' in text or 'Remove(' in text):
        return 'refused', FIX_REFUSED
    if re.search(r'connection refused|dial tcp|no such host|network is unreachable|no route to host|'
                 r'i/o timeout|connection reset', text):
        return 'unreachable', FIX_UNREACHABLE
    if FULL_RE.search(text):
        return 'full', FIX_FULL
    if re.search(r'\b401\b', text):
        return 'failed', FIX_UNAUTHORIZED
    if 'Is there a repository at the following location?' in text or 'unable to open config file' in text:
        return 'no_repository', FIX_NO_REPOSITORY
    if re.search(r'repository contains errors|LoadIndex returned errors|error loading index|invalid data returned|'
                 r'ciphertext verification failed|Pack ID does not match', text):
        return 'damaged', FIX_DAMAGED
    return 'failed', FIX_FAILED


def _lines(text):
    """restic's message lines in ``text``, without blank lines and Go stack traces."""
    return [line.strip() for line in text.splitlines() if line.strip() and not _TRACE_RE.match(line)]


def _first_lines(text, count=MESSAGE_LINES):
    return '; '.join(_lines(text)[:count])


def _url_password(location):
    """The password in the userinfo of a URL-like ``location`` (``rest:http://u:p@h/``, ``s3:https://...``)."""
    match = re.search(r'[a-z][a-z0-9+.-]*://[^/]*', location)
    if not match:
        return None
    try:
        password = urlsplit(match.group(0)).password
    except ValueError:
        return None
    return password or None


def shown_location(location):
    """``location`` for output: a password in a URL's user part replaced by ``***`` (as restic shows it)."""
    return re.sub(r'(://[^/@:]*:)[^/@]*@', r'\1***@', str(location))


def with_credentials(location, user, password):
    """``location`` (a ``rest:http(s)://`` URL) with ``user:password@`` in it, for restic's --repository-file."""
    if not user:
        return location
    scheme, sep, url = location.partition(':')
    parts = urlsplit(url)
    if scheme != 'rest' or not sep or parts.scheme not in ('http', 'https') or '@' in parts.netloc:
        raise ResticError(f'repository_user is for a rest:http(s)://host:port/ repository without credentials in '
                          f'it, not {shown_location(location)}',
                          'give the REST server URL alone in repository and its credential in repository_user and '
                          'repository_user_password')
    auth = quote(user, safe='') + ':' + quote(password or '', safe='')
    return 'rest:' + urlunsplit(parts._replace(netloc=f'{auth}@{parts.netloc}'))


def _time_arg(value):
    """``--time`` text (UTC) of a datetime (naive = UTC) or an already formatted ``YYYY-MM-DD HH:MM:SS``."""
    if isinstance(value, datetime.datetime):
        if value.tzinfo is not None:
            value = value.astimezone(datetime.timezone.utc).replace(tzinfo=None)
        return value.strftime('%Y-%m-%d %H:%M:%S')
    text = str(value)
    try:
        datetime.datetime.strptime(text, '%Y-%m-%d %H:%M:%S')
    except ValueError:
        raise ResticError(f'backup time {text!r} is not "YYYY-MM-DD HH:MM:SS"', 'give the time as a UTC '
                          '"YYYY-MM-DD HH:MM:SS" or a datetime') from None
    return text


def _check_tags(tags):
    tags = [str(tag) for tag in (tags or ())]
    for tag in tags:
        if not TAG_RE.fullmatch(tag):
            raise ResticError(f'tag {tag!r} is empty or has a comma or a space (restic splits tags on commas)',
                              'use tags without commas or spaces')
    return tags


class Repository:
    """One restic repository: a local directory or any restic location string, opened with ``password``."""

    def __init__(self, location, password, cache_dir, timeout=600, binary='restic', lock_wait=0):
        if password is None or not str(password).strip():
            # restic trims the password file and reads an empty one as "no password" (it would ask on stdin).
            raise ResticError('the repository password is empty (or only white space)', FIX_WRONG_PASSWORD,
                              'wrong_password')
        location = str(location)
        if location.startswith(SCHEMES):
            self.location = location
        else:
            local = location[len('local:'):] if location.startswith('local:') else location
            # Absolute: backup runs in the source directory.
            self.location = os.path.abspath(local)
        self.password = str(password)
        self.cache_dir = os.path.abspath(cache_dir)
        self.timeout = timeout
        self.binary = binary
        self.lock_wait = lock_wait
        secrets = {self.password, self.password.strip()}
        url_password = _url_password(self.location)
        if url_password:
            secrets |= {url_password, unquote(url_password)}
        self._secrets = sorted((s for s in secrets if s), key=len, reverse=True)

    # --- running restic ---------------------------------------------------------------------------------------

    def _scrub(self, text):
        for secret in self._secrets:
            text = text.replace(secret, '***')
        return text

    def _env(self):
        env = {'PATH': os.environ.get('PATH') or '/usr/bin:/bin', 'LC_ALL': 'C', 'TZ': 'UTC',
               'HOME': os.path.dirname(self.cache_dir.rstrip(os.sep)) or self.cache_dir}
        if os.environ.get('TMPDIR'):
            env['TMPDIR'] = os.environ['TMPDIR']
        return env

    def _command(self, args):
        """``(argv, env, pass_fds)`` for ``restic args``; the caller closes ``pass_fds`` (pipes holding the
        password and the location, already written and closed on the writing side)."""
        fds = []
        try:
            for content in (self.password, self.location):
                read_end, write_end = os.pipe()
                fds.append(read_end)
                with os.fdopen(write_end, 'w', encoding='utf-8') as writer:
                    writer.write(content + '\n')  # far below a pipe's buffer: never blocks
        except BaseException:
            for fd in fds:
                os.close(fd)
            raise
        password_fd, location_fd = fds
        argv = [self.binary, '--password-file', f'/dev/fd/{password_fd}', '--repository-file',
                f'/dev/fd/{location_fd}', '--cache-dir', self.cache_dir] + list(args)
        return argv, self._env(), tuple(fds)

    def _run(self, args, cwd=None, deleting=False, ok_codes=(0,)):
        """``_run_once``, again while another restic holds a lock that this call conflicts with (terminals backed
        up side by side: one's ``check`` locks the repository exclusively), for up to ``lock_wait`` seconds; restic
        0.14 itself gives up at once."""
        deadline = _time.monotonic() + self.lock_wait
        while True:
            try:
                return self._run_once(args, cwd=cwd, deleting=deleting, ok_codes=ok_codes)
            except ResticError as exc:
                if exc.kind != 'locked' or _time.monotonic() >= deadline:
                    raise
            _time.sleep(min(1.0 + random.random() * 2, max(0.0, deadline - _time.monotonic())))

    def _run_once(self, args, cwd=None, deleting=False, ok_codes=(0,)):
        """Run ``restic args``; ``(stdout bytes, stderr text, rc)``, or ResticError on failure or timeout.

        ``deleting``: the call removes files; a 403 from the server (an append-only REST server) is final, so
        restic is interrupted at the first one instead of retrying for ~45 s per file."""
        argv, env, fds = self._command(args)
        name = args[0]
        try:
            try:
                proc = subprocess.Popen(argv, env=env, pass_fds=fds, cwd=cwd, stdin=subprocess.DEVNULL,
                                        stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)
            except OSError as exc:
                raise ResticError(f'cannot run {self.binary} ({exc.strerror or exc})',
                                  'install restic on the controller (apt-get install restic)') from None
        finally:
            for fd in fds:
                os.close(fd)
        out, err = [], []
        refused = threading.Event()
        refusal = []

        def read_stdout():
            out.append(proc.stdout.read())

        def read_stderr():
            for raw in proc.stderr:
                line = _ANSI_RE.sub('', raw.decode('utf-8', 'replace'))  # restic clears its progress line
                err.append(line)
                if deleting and not refused.is_set() and FORBIDDEN_RE.search(line):
                    refusal.append(line.strip())
                    refused.set()
                    _signal(proc, signal.SIGINT)

        readers = [threading.Thread(target=read_stdout, daemon=True),
                   threading.Thread(target=read_stderr, daemon=True)]
        for reader in readers:
            reader.start()
        started = _time.monotonic()
        timed_out = False
        try:
            proc.wait(timeout=self.timeout)
        except subprocess.TimeoutExpired:
            timed_out = True
            _signal(proc, signal.SIGINT)
            try:
                proc.wait(timeout=INTERRUPT_GRACE)
            except subprocess.TimeoutExpired:
                _signal(proc, signal.SIGKILL)
                proc.wait()
        for reader, pipe in zip(readers, (proc.stdout, proc.stderr)):
            reader.join(timeout=INTERRUPT_GRACE)
            if not reader.is_alive():  # else a grandchild (ssh) still holds it: closing would wait for the read
                pipe.close()
        stdout, stderr = b''.join(out), ''.join(err)
        if timed_out:
            raise ResticError(self._scrub(f'restic {name} did not finish within {self.timeout} s and was stopped'
                                          + (f' ({_first_lines(stderr, 2)})' if stderr.strip() else '')),
                              FIX_TIMEOUT, 'timeout')
        if refused.is_set():
            elapsed = _time.monotonic() - started
            raise ResticError(self._scrub(f'restic {name}: the repository server refused to delete (403 '
                                          f'Forbidden; append-only?), stopped after {elapsed:.1f} s (exit '
                                          f'{proc.returncode}): {refusal[0]}'), FIX_REFUSED, 'refused')
        if proc.returncode not in ok_codes:
            text = stderr if stderr.strip() else stdout.decode('utf-8', 'replace')
            kind, fix = classify(stderr + '\n' + stdout.decode('utf-8', 'replace'), deleting)
            shown = _first_lines(text)
            if kind == 'full' and not FULL_RE.search(shown):  # the line saying which disk, before the others
                shown = '; '.join([line for line in _lines(text) if FULL_RE.search(line)][:1] + [shown])
            raise ResticError(self._scrub(f'restic {name} failed (exit {proc.returncode}): '
                                          f'{shown or "no message"}'), fix, kind)
        return stdout, stderr, proc.returncode

    def _json(self, args, **kwargs):
        stdout = self._run(args, **kwargs)[0]
        try:
            return json.loads(stdout.decode('utf-8') or 'null')
        except ValueError:
            raise ResticError(self._scrub(f'restic {args[0]} printed no JSON: {stdout[:200]!r}'),
                              'check /usr/bin/restic is restic 0.14 or later') from None

    # --- the calls --------------------------------------------------------------------------------------------

    def init_if_missing(self):
        """True when this created the repository, False when one is there already (and the password opens it).

        Terminals backed up side by side (forks) would otherwise run ``restic init`` on one new repository at
        once, and two inits can both succeed with different keys, leaving a damaged repository: the controller's
        processes take turns on a lock file per location in the cache directory."""
        with self._turn('init'):
            try:
                self._run(['cat', 'config', '-q'])
                return False
            except ResticError as exc:
                if exc.kind != 'no_repository':
                    raise
            self._run(['init', '-q'])
            return True

    def _state_path(self, name):
        """A file of this controller's own about this repository, in the cache directory, named by a digest of the
        location as shown (so no credential goes into its name)."""
        digest = hashlib.sha256(shown_location(self.location).encode('utf-8')).hexdigest()[:16]
        return os.path.join(self.cache_dir, f'{name}-{digest}')

    @contextlib.contextmanager
    def _turn(self, name):
        """The controller's processes (forks, one per terminal) take turns on a lock file per location."""
        os.makedirs(self.cache_dir, mode=0o700, exist_ok=True)
        with open(self._state_path(name) + '.lock', 'a', encoding='utf-8') as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            yield

    def _checks_record(self):
        try:
            with open(self._state_path('checks') + '.json', encoding='utf-8') as handle:
                record = json.load(handle)
        except (OSError, ValueError):
            return {}
        return record if isinstance(record, dict) else {}

    def _write_checks_record(self, record):
        _io.atomic_write_json(self._state_path('checks') + '.json', record, mode=0o600)

    def backup(self, source_dir, host, tags, paths=('.',), time=None, parent=None):
        """Back up ``paths`` (relative to ``source_dir``, which is the working directory, so the snapshot holds
        the contents) as ``host`` with ``tags``; ``time``: the snapshot's time (UTC) instead of now.

        ``{snapshot_id (64 hex), short_id, files_new, files_changed, files_unmodified, files, bytes_read,
        bytes_added, duration_s, warnings}``; ``warnings``: what restic said on stderr (with ``-q`` only
        problems: a path that does not exist, a file it could not read; the snapshot was saved without them)."""
        if not os.path.isdir(source_dir):
            raise ResticError(f'backup source {source_dir} is not a directory', 'check the staging directory')
        args = ['backup', '--json', '-q', '--host', str(host)]
        for tag in _check_tags(tags):
            args += ['--tag', tag]
        if time is not None:
            args += ['--time', _time_arg(time)]
        if parent:
            args += ['--parent', str(parent)]
        args += ['--'] + [str(path) for path in paths]
        stdout, stderr, rc = self._run(args, cwd=source_dir, ok_codes=(0, 3))
        summary = None
        for line in stdout.decode('utf-8', 'replace').splitlines():
            try:
                message = json.loads(line)
            except ValueError:
                continue
            if isinstance(message, dict) and message.get('message_type') == 'summary':
                summary = message
        if not summary or not summary.get('snapshot_id'):
            raise ResticError(self._scrub(f'restic backup gave no summary (exit {rc}): {_first_lines(stderr)}'),
                              FIX_FAILED)
        short_id = summary['snapshot_id']
        if HEX64_RE.fullmatch(short_id):
            full_id = short_id  # restic >= 0.15 gives the full id
        else:
            found = self._json(['snapshots', '--json', '-q', short_id]) or []
            if len(found) != 1:
                raise ResticError(f'restic backup saved snapshot {short_id}, which snapshots does not list',
                                  'run check on the repository')
            full_id = found[0]['id']
        return {'snapshot_id': full_id, 'short_id': full_id[:8],
                'files_new': summary.get('files_new', 0), 'files_changed': summary.get('files_changed', 0),
                'files_unmodified': summary.get('files_unmodified', 0),
                'files': summary.get('total_files_processed', 0),
                'bytes_read': summary.get('total_bytes_processed', 0), 'bytes_added': summary.get('data_added', 0),
                'duration_s': summary.get('total_duration', 0.0),
                'warnings': [self._scrub(line) for line in _lines(stderr)[:50]]}

    def snapshots(self, host=None, tags=None):
        """The snapshots (``restic snapshots --json``), of ``host`` and having all ``tags`` when given."""
        args = ['snapshots', '--json', '-q']
        if host:
            args += ['--host', str(host)]
        tags = _check_tags(tags)
        if tags:
            args += ['--tag', ','.join(tags)]
        return self._json(args) or []

    def forget_plan(self, policy, hosts=None):
        """What ``restic forget`` would do with the keep ``policy`` (``{'keep-daily': 7, 'keep-within': '1y'}``:
        the flags without ``--``), grouped by host, changing nothing (``--dry-run``); ``hosts``: only these.

        ``[{host, keep: [snapshot], remove: [snapshot], reasons: {id: [why restic keeps it]}}]``, each snapshot as
        ``restic snapshots --json`` gives it."""
        args = ['forget', '--dry-run', '--json', '-q', '--group-by', 'host']
        for flag, value in sorted(policy.items()):
            args += [f'--{flag}', str(value)]
        for host in hosts or ():
            args += ['--host', str(host)]
        plan = []
        for group in self._json(args) or []:
            reasons = {}
            for reason in group.get('reasons') or []:
                snapshot = reason.get('snapshot') or {}
                # restic 0.14 gives the reason's snapshot without its id: match it by time and tree.
                for kept in group.get('keep') or []:
                    if kept.get('time') == snapshot.get('time') and kept.get('tree') == snapshot.get('tree'):
                        reasons[kept['id']] = list(reason.get('matches') or [])
            plan.append({'host': group.get('host'), 'keep': list(group.get('keep') or []),
                         'remove': list(group.get('remove') or []), 'reasons': reasons})
        return plan

    def check(self, read_data_subset=None):
        """``{ok: True, read_data_subset}``; ResticError kind ``damaged`` (or ``locked``, ...) otherwise.

        ``read_data_subset``: ``None`` checks the structure only (it does not see a damaged data pack), ``'10%'``,
        ``'1/5'``, ``'100%'`` also read and verify that much of the data."""
        args = ['check']
        if read_data_subset:
            args += ['--read-data-subset', str(read_data_subset)]
        self._run(args)
        return {'ok': True, 'read_data_subset': read_data_subset}

    def check_shared(self, read_data_subset=None, reuse_hours=0):
        """``check``, unless this controller saw a check of the same subset pass within ``reuse_hours`` and after
        its last prune of the repository: then that check stands. ``{ok, read_data_subset, reused, checked_at}``.

        Retention runs per terminal in the monthly tier, and one check (a read of a twelfth of the data) serves the
        fleet: the controller's processes take turns, so a fork that waited finds the check another just made."""
        with self._turn('check'):
            record = self._checks_record()
            now = datetime.datetime.now(datetime.timezone.utc)
            passed = reusable_check(record, read_data_subset, now, reuse_hours)
            if passed:
                return {'ok': True, 'read_data_subset': read_data_subset, 'reused': True, 'checked_at': passed}
            started = now.isoformat(timespec='microseconds')
            self.check(read_data_subset)
            # The record is as read above: every writer of it holds this turn.
            record.setdefault('passed', {})[read_data_subset or ''] = started
            self._write_checks_record(record)
            return {'ok': True, 'read_data_subset': read_data_subset, 'reused': False, 'checked_at': started}

    def unlock(self):
        """Remove stale locks (of processes that are gone); locks of a running restic stay."""
        self._run(['unlock', '-q'])
        return {'unlocked': True}

    def forget(self, snapshot_ids, prune=False):
        """Remove these snapshots (full ids or unique prefixes), then prune unreferenced data when ``prune``.

        ``{removed: [full ids], not_found: [given ids no snapshot has], pruned}``; ResticError kind ``refused``
        when the server will not delete (append-only), at its first 403."""
        wanted = [str(i) for i in snapshot_ids]
        existing = [snap['id'] for snap in self.snapshots()]
        removed, not_found = [], []
        for given in wanted:
            matches = [full for full in existing if full.startswith(given.lower())] if given else []
            if len(matches) > 1:
                raise ResticError(f'snapshot id {given} is ambiguous ({len(matches)} snapshots start with it)',
                                  'give the full 64-hex snapshot id')
            if matches:
                if matches[0] not in removed:
                    removed.append(matches[0])
            else:
                not_found.append(given)
        if removed:
            self._run(['forget', '-q'] + removed, deleting=True)
        if prune:
            self.prune()
        return {'removed': removed, 'not_found': not_found, 'pruned': bool(prune)}

    def prune(self, interval_hours=0):
        """``restic prune`` (remove the data no snapshot needs), unless this controller pruned the repository less
        than ``interval_hours`` ago: what was forgotten since then waits for the next prune. ``{pruned, pruned_at}``
        (the time of the last prune).

        restic's advice is to forget often and prune rarely: a prune reads every snapshot's trees and may repack,
        and retention runs per terminal. A prune rewrites packs, so a check that passed before it stands no more
        (``check_shared``)."""
        with self._turn('check'):
            record = self._checks_record()
            now = datetime.datetime.now(datetime.timezone.utc)
            if _recent(record.get('prune_passed_at'), now, interval_hours):
                return {'pruned': False, 'pruned_at': record['prune_passed_at']}
            passed = False
            try:
                self._run(['prune', '-q'], deleting=True)
                passed = True
            finally:
                # Even a failed prune may have rewritten packs: the checks before it stand no more. Only one that
                # passed puts off the next.
                record['pruned_at'] = datetime.datetime.now(datetime.timezone.utc).isoformat(timespec='microseconds')
                if passed:
                    record['prune_passed_at'] = record['pruned_at']
                self._write_checks_record(record)
            return {'pruned': True, 'pruned_at': record['pruned_at']}

    def restore(self, snapshot_id, target_dir, include=None):
        """Restore snapshot ``snapshot_id`` (or ``latest``) into ``target_dir``; ``include``: paths inside the
        snapshot (``/cfg/app.conf``) to restore only those. ``{snapshot_id, target_dir, include, duration_s}``."""
        args = ['restore', '-q', str(snapshot_id), '--target', os.path.abspath(target_dir)]
        includes = [include] if isinstance(include, str) else list(include or ())
        for path in includes:
            args += ['--include', str(path)]
        started = _time.monotonic()
        self._run(args)
        return {'snapshot_id': str(snapshot_id), 'target_dir': os.path.abspath(target_dir), 'include': includes,
                'duration_s': round(_time.monotonic() - started, 3)}

    def dump(self, snapshot_id, path):
        """The content of file ``path`` (as stored: ``/cfg/app.conf``) in snapshot ``snapshot_id``."""
        return self._run(['dump', '-q', str(snapshot_id), str(path)])[0]


def _utc(text):
    """An aware time from ``check_shared``'s record (ISO 8601 with its offset), or None."""
    try:
        value = datetime.datetime.fromisoformat(str(text))
    except ValueError:
        return None
    return value if value.tzinfo is not None else None


def _recent(stamp, now, hours):
    """Whether the recorded time ``stamp`` is less than ``hours`` before ``now`` (and not after it: a clock that
    went back trusts nothing). ``hours`` 0: never."""
    when = _utc(stamp)
    return bool(hours) and when is not None and datetime.timedelta(0) <= now - when < datetime.timedelta(hours=hours)


def reusable_check(record, read_data_subset, now, reuse_hours):
    """The start time of the check in ``record`` (``check_shared``'s) that stands for a check of
    ``read_data_subset`` at ``now`` (aware, UTC): the same subset, passed within ``reuse_hours``, started after
    the last prune. None: run one."""
    started = (record.get('passed') or {}).get(read_data_subset or '')
    if not _recent(started, now, reuse_hours):
        return None
    pruned = record.get('pruned_at')
    if pruned is not None and (_utc(pruned) is None or _utc(pruned) >= _utc(started)):
        return None
    return started


def _signal(proc, signum):
    """Signal restic's process group (restic may run ssh or rclone for its backend)."""
    if proc.returncode is not None:  # reaped: its pid may be reused
        return
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signum)


def repository_of(args):
    """The Repository that a task's repository options name (doc fragment ``restic_repository``); it waits up to
    LOCK_WAIT for another task's live lock."""
    location = with_credentials(args['repository'], args['repository_user'], args['repository_user_password'])
    return Repository(location, args['repository_password'], args['cache_dir'] or default_dir('restic'),
                      timeout=args['timeout'], lock_wait=LOCK_WAIT)
