# Copyright (c) posfleet developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""``_restic.Repository`` against the real restic binary: local repositories in tmp_path, and real
``rclone serve restic`` REST servers on 127.0.0.1 (one ``--append-only``, one not) for the append-only proof.
Nothing of restic is mocked."""

from __future__ import annotations

import contextlib
import datetime
import json
import os
import re
import shutil
import signal
import socket
import stat
import subprocess
import threading
import time

import pytest

from ansible_collections.posfleet.terminals.plugins.plugin_utils import _restic

pytestmark = pytest.mark.skipif(not shutil.which('restic'), reason='needs the restic binary (apt-get install restic)')
needs_rclone = pytest.mark.skipif(not (shutil.which('rclone') and shutil.which('openssl')),
                                  reason='needs rclone and openssl (apt-get install rclone openssl)')

PASSWORD = 'Repo-pw 7f3a!x'
HEX64 = re.compile(r'[0-9a-f]{64}')


def repository(tmp_path, name='repo', password=PASSWORD, **kwargs):
    return _restic.Repository(str(tmp_path / name), password, str(tmp_path / 'cache'), **kwargs)


def make_source(tmp_path, name='src', size=64 * 1024):
    src = tmp_path / name
    (src / 'cfg').mkdir(parents=True)
    (src / 'bin').mkdir()
    files = {'cfg/secret.key': (os.urandom(size), 0o600), 'cfg/app.conf': (b'mode=live\n', 0o640),
             'bin/run.sh': (b'#!/bin/sh\necho run\n', 0o755)}
    for rel, (data, mode) in files.items():
        (src / rel).write_bytes(data)
        os.chmod(src / rel, mode)
    return src, files


def free_port():
    with socket.socket() as sock:
        sock.bind(('127.0.0.1', 0))
        return sock.getsockname()[1]


@contextlib.contextmanager
def rclone_server(tmp_path, store, user, password, append_only):
    """``rclone serve restic`` on 127.0.0.1 (free port) over ``store`` with an apr1 htpasswd entry for ``user``;
    yields the repository location ``rest:http://user:password@127.0.0.1:PORT/``."""
    label = 'ao' if append_only else 'admin'
    hashed = subprocess.run(['openssl', 'passwd', '-apr1', password], check=True, capture_output=True,
                            text=True).stdout.strip()
    htpasswd = tmp_path / f'htpasswd.{label}'
    htpasswd.write_text(f'{user}:{hashed}\n')
    log = tmp_path / f'rclone.{label}.log'
    argv = ['rclone', 'serve', 'restic', str(store), '--addr', '127.0.0.1:0', '--htpasswd', str(htpasswd),
            '--config', '/dev/null'] + (['--append-only'] if append_only else [])
    with open(log, 'wb') as stderr:
        proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=stderr)
    try:
        deadline = time.monotonic() + 15
        while True:
            match = re.search(r'Serving restic REST API on http://127\.0\.0\.1:(\d+)/', log.read_text())
            if match:
                break
            assert proc.poll() is None, f'rclone exited: {log.read_text()}'
            assert time.monotonic() < deadline, f'rclone not ready: {log.read_text()}'
            time.sleep(0.05)
        yield f'rest:http://{user}:{password}@127.0.0.1:{match.group(1)}/'
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def children_named(name):
    """Pids of this process's children whose command is ``name``."""
    pids = []
    for entry in os.listdir('/proc'):
        if entry.isdigit():
            try:
                with open(f'/proc/{entry}/stat') as handle:
                    fields = handle.read().rsplit(')', 1)[1].split()
                with open(f'/proc/{entry}/comm') as handle:
                    comm = handle.read().strip()
            except OSError:
                continue
            if int(fields[1]) == os.getpid() and comm == name:
                pids.append(int(entry))
    return pids


def wait_for(predicate, seconds=60, step=0.01):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(step)
    raise AssertionError('timed out waiting')


def start_slow_backup(repo, src, kib_per_s):
    """A ``restic backup`` of ``src`` kept running by an upload limit, returned once its lock file is whole."""
    argv, env, fds = repo._command(['backup', '-q', '--limit-upload', str(kib_per_s), '--host', 'term01', '.'])
    try:
        proc = subprocess.Popen(argv, env=env, pass_fds=fds, cwd=str(src), stdin=subprocess.DEVNULL)
    finally:
        for fd in fds:
            os.close(fd)
    locks = os.path.join(repo.location, 'locks')
    try:
        # restic takes its lock once it has derived the key: a few seconds on a loaded machine
        wait_for(lambda: any(os.scandir(locks)) or proc.poll() is not None, seconds=120)
        # The local backend writes the lock file in place: killed mid-write, it is unreadable and restic skips
        # it (seen on a loaded machine). Give it time to be whole; the upload limit keeps the backup running.
        time.sleep(2)
    except BaseException:
        proc.kill()
        proc.wait()
        raise
    return proc


# --- local repositories ---------------------------------------------------------------------------------------

def test_init_then_init_again_is_false(tmp_path):
    repo = repository(tmp_path)
    assert repo.init_if_missing() is True
    assert (tmp_path / 'repo' / 'config').is_file()
    assert repo.init_if_missing() is False


def test_terminals_backed_up_side_by_side_create_one_sound_repository(tmp_path):
    # Forks back several terminals up into a repository that does not exist yet: one init, the others find it.
    created, errors = [], []

    def init():
        try:
            created.append(repository(tmp_path).init_if_missing())
        except _restic.ResticError as exc:
            errors.append(str(exc))

    threads = [threading.Thread(target=init) for dummy in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == [] and sorted(created) == [False, False, False, True]
    assert len(list((tmp_path / 'repo' / 'keys').iterdir())) == 1
    repo = repository(tmp_path)
    src, dummy = make_source(tmp_path)
    repo.backup(str(src), host='T1', tags=[])
    assert repo.check()['ok']


def test_backup_gives_the_full_id_and_the_counts(tmp_path):
    repo = repository(tmp_path)
    repo.init_if_missing()
    src, files = make_source(tmp_path)
    result = repo.backup(str(src), 'term01', ['posfleet', 'daily'])
    assert HEX64.fullmatch(result['snapshot_id']) and result['short_id'] == result['snapshot_id'][:8]
    assert (result['files'], result['files_new'], result['files_changed'], result['files_unmodified']) == (3, 3, 0, 0)
    assert result['bytes_read'] == sum(len(data) for data, dummy in files.values())
    assert result['bytes_added'] >= 64 * 1024 and result['duration_s'] > 0 and result['warnings'] == []
    [snap] = repo.snapshots()
    assert snap['id'] == result['snapshot_id'] and snap['hostname'] == 'term01'
    assert sorted(snap['tags']) == ['daily', 'posfleet']
    again = repo.backup(str(src), 'term01', ['posfleet', 'daily'], paths=('cfg', 'bin', 'gone'), parent=snap['id'])
    assert (again['files_new'], again['files_unmodified']) == (0, 3) and again['snapshot_id'] != snap['id']
    assert again['warnings'] == ['gone does not exist, skipping']


def test_a_second_backup_with_two_percent_more_data_adds_little(tmp_path):
    repo = repository(tmp_path)
    repo.init_if_missing()
    src, dummy = make_source(tmp_path, size=2 * 1024 * 1024)
    first = repo.backup(str(src), 'term01', ['posfleet'])
    (src / 'cfg' / 'journal.bin').write_bytes(os.urandom(40 * 1024))  # ~2 %
    second = repo.backup(str(src), 'term01', ['posfleet'])
    assert second['files_new'] == 1 and second['files_unmodified'] == 3
    assert second['bytes_added'] / first['bytes_added'] <= 0.1, (first, second)


def test_a_backup_time_in_the_past_is_the_snapshot_time(tmp_path):
    repo = repository(tmp_path)
    repo.init_if_missing()
    src, dummy = make_source(tmp_path, size=10)
    repo.backup(str(src), 'term01', ['posfleet'], time='2023-01-01 10:00:00')
    repo.backup(str(src), 'term02', ['posfleet'],
                time=datetime.datetime(2022, 6, 1, 14, 30, tzinfo=datetime.timezone(datetime.timedelta(hours=2))))
    times = {snap['hostname']: snap['time'] for snap in repo.snapshots()}
    assert times['term01'].startswith('2023-01-01T10:00:00') and times['term01'].endswith('Z')
    assert times['term02'].startswith('2022-06-01T12:30:00'), times  # +02:00 given, UTC stored
    with pytest.raises(_restic.ResticError) as info:
        repo.backup(str(src), 'term01', ['posfleet'], time='yesterday')
    assert 'YYYY-MM-DD HH:MM:SS' in info.value.message


def test_snapshots_filtered_by_host_and_tags(tmp_path):
    repo = repository(tmp_path)
    repo.init_if_missing()
    src, dummy = make_source(tmp_path, size=10)
    ids = {key: repo.backup(str(src), host, tags)['snapshot_id'] for key, host, tags in [
        ('a', 'term01', ['posfleet', 'daily']), ('b', 'term01', ['posfleet']), ('c', 'term02', ['posfleet', 'daily'])]}
    assert {s['id'] for s in repo.snapshots()} == set(ids.values())
    assert {s['id'] for s in repo.snapshots(host='term01')} == {ids['a'], ids['b']}
    assert {s['id'] for s in repo.snapshots(tags=['daily'])} == {ids['a'], ids['c']}
    assert [s['id'] for s in repo.snapshots(host='term01', tags=['posfleet', 'daily'])] == [ids['a']]
    assert repo.snapshots(host='term03') == []
    with pytest.raises(_restic.ResticError):
        repo.snapshots(tags=['a,b'])


def test_restore_gives_back_contents_and_modes(tmp_path):
    repo = repository(tmp_path)
    repo.init_if_missing()
    src, files = make_source(tmp_path)
    snap = repo.backup(str(src), 'term01', ['posfleet'])['snapshot_id']
    out = tmp_path / 'out'
    result = repo.restore(snap, str(out))
    assert result['snapshot_id'] == snap and result['target_dir'] == str(out)
    for rel, (data, mode) in files.items():
        assert (out / rel).read_bytes() == data, rel
        assert stat.S_IMODE((out / rel).stat().st_mode) == mode, rel
    only = tmp_path / 'only'
    repo.restore(snap, str(only), include='/cfg/app.conf')
    assert [p.relative_to(only).as_posix() for p in only.rglob('*') if p.is_file()] == ['cfg/app.conf']
    assert repo.dump(snap, '/cfg/app.conf') == b'mode=live\n'


def test_forget_and_prune_on_a_local_repository(tmp_path):
    repo = repository(tmp_path)
    repo.init_if_missing()
    src, dummy = make_source(tmp_path, size=10)
    first = repo.backup(str(src), 'term01', ['posfleet'])['snapshot_id']
    second = repo.backup(str(src), 'term01', ['posfleet'])['snapshot_id']
    result = repo.forget([first[:8], 'deadbeef'], prune=True)
    assert result == {'removed': [first], 'not_found': ['deadbeef'], 'pruned': True}
    assert [s['id'] for s in repo.snapshots()] == [second]


# --- errors ---------------------------------------------------------------------------------------------------

def test_a_wrong_password_is_said_without_the_password(tmp_path):
    repository(tmp_path).init_if_missing()
    wrong = 'Not-the-pw 93kq'
    for call in (lambda r: r.snapshots(), lambda r: r.init_if_missing()):
        with pytest.raises(_restic.ResticError) as info:
            call(repository(tmp_path, password=wrong))
        assert info.value.kind == 'wrong_password' and 'vault variable' in info.value.fix
        assert 'exit 1' in str(info.value) and '. Fix: ' in str(info.value)
        assert wrong not in str(info.value) and PASSWORD not in str(info.value)


def test_restic_trims_the_password_it_reads_from_the_pipe(tmp_path):
    """Documented in _restic: white space around the password does not count (restic's TrimSpace)."""
    repository(tmp_path).init_if_missing()
    assert repository(tmp_path, password=f' {PASSWORD}\t').init_if_missing() is False
    with pytest.raises(_restic.ResticError) as info:
        repository(tmp_path, password=' \n')
    assert info.value.kind == 'wrong_password' and 'empty' in info.value.message


def test_a_missing_repository_is_no_repository(tmp_path):
    with pytest.raises(_restic.ResticError) as info:
        repository(tmp_path, name='nothing').snapshots()
    assert info.value.kind == 'no_repository' and 'initialise' in info.value.fix
    assert 'exit 1' in info.value.message


def test_a_closed_port_is_unreachable_at_once(tmp_path):
    location = f'rest:http://backup:Rest-pw-q81@127.0.0.1:{free_port()}/'
    repo = _restic.Repository(location, PASSWORD, str(tmp_path / 'cache'))
    started = time.monotonic()
    with pytest.raises(_restic.ResticError) as info:
        repo.init_if_missing()
    assert time.monotonic() - started < 5
    assert info.value.kind == 'unreachable' and 'reachable from the controller' in info.value.fix
    assert 'Rest-pw-q81' not in str(info.value) and PASSWORD not in str(info.value)


def test_a_silent_server_times_out_and_restic_never_holds_a_secret_in_argv_or_environ(tmp_path):
    """A server that accepts TCP and never answers: restic 0.14 would wait forever. While it waits, its
    /proc/<pid>/cmdline and environ are read: neither holds the password or the REST password."""
    rest_password = 'Rest-pw-silent-55'
    with socket.socket() as listener:
        listener.bind(('127.0.0.1', 0))
        listener.listen(8)  # the kernel completes the handshakes; nothing ever answers
        location = f'rest:http://backup:{rest_password}@127.0.0.1:{listener.getsockname()[1]}/'
        repo = _restic.Repository(location, PASSWORD, str(tmp_path / 'cache'), timeout=3)
        caught = []

        def call():
            try:
                repo.snapshots()
            except _restic.ResticError as exc:
                caught.append(exc)

        worker = threading.Thread(target=call)
        started = time.monotonic()
        worker.start()
        [pid] = wait_for(lambda: children_named('restic'))

        def exec_done():  # the child's own argv, once it has exec'd restic (a loaded machine takes a moment)
            with open(f'/proc/{pid}/cmdline', 'rb') as handle:
                data = handle.read()
            return data if b'--password-file' in data else None

        cmdline = wait_for(exec_done, seconds=10)
        with open(f'/proc/{pid}/environ', 'rb') as handle:
            environ = handle.read()
        worker.join(30)
    elapsed = time.monotonic() - started
    assert b'--password-file' in cmdline and b'/dev/fd/' in cmdline
    for secret in (PASSWORD, rest_password, location, '127.0.0.1'):
        assert secret.encode() not in cmdline and secret.encode() not in environ, secret
    names = set(dict(v.split(b'=', 1) for v in environ.split(b'\0') if v))
    assert names <= {b'PATH', b'LC_ALL', b'TZ', b'HOME', b'TMPDIR'}
    [exc] = caught
    assert exc.kind == 'timeout' and 'within 3 s' in exc.message and elapsed < 3 + _restic.INTERRUPT_GRACE + 3
    assert rest_password not in str(exc)
    assert children_named('restic') == []


def test_the_command_gives_secrets_only_through_pipes(tmp_path):
    location = 'rest:http://backup:Rest-pw-seam-1@127.0.0.1:9/'
    repo = _restic.Repository(location, PASSWORD, str(tmp_path / 'cache'))
    argv, env, fds = repo._command(['snapshots', '--json', '-q'])
    try:
        contents = [os.read(fd, 4096).decode() for fd in fds]
    finally:
        for fd in fds:
            os.close(fd)
    assert contents == [PASSWORD + '\n', location + '\n']
    flat = ' '.join(argv) + ' ' + ' '.join(f'{k}={v}' for k, v in env.items())
    assert PASSWORD not in flat and 'Rest-pw-seam-1' not in flat and '127.0.0.1' not in flat
    assert argv[argv.index('--password-file') + 1] == f'/dev/fd/{fds[0]}'
    assert argv[argv.index('--repository-file') + 1] == f'/dev/fd/{fds[1]}'
    assert argv[argv.index('--cache-dir') + 1] == str(tmp_path / 'cache')
    assert env['LC_ALL'] == 'C' and env['HOME'] == str(tmp_path) and 'RESTIC_PASSWORD' not in env


def test_secrets_are_scrubbed_from_messages(tmp_path):
    repo = _restic.Repository('rest:http://u:p%40ss-77@127.0.0.1:9/', PASSWORD, str(tmp_path / 'cache'))
    assert repo._scrub(f'x {PASSWORD} p%40ss-77 p@ss-77 y') == 'x *** *** *** y'


@pytest.mark.parametrize('text, kind', [
    ('Fatal: wrong password or no key found', 'wrong_password'),
    ('Fatal: unable to open config file: stat /r/config: no such file or directory\n'
     'Is there a repository at the following location?', 'no_repository'),
    ('Fatal: unable to open config file: client.Head: Head "http://u:***@127.0.0.1:1/config": dial tcp '
     '127.0.0.1:1: connect: connection refused\nIs there a repository at the following location?', 'unreachable'),
    ('unable to create lock in backend: repository is already locked by PID 2158', 'locked'),
    ('Fatal: repository contains errors', 'damaged'),
    ('error: error loading index 1baa: load <index/1baa217c74>: invalid data returned\n'
     'Fatal: LoadIndex returned errors', 'damaged'),
    ('Fatal: unable to open config file: unexpected HTTP response (401): 401 Unauthorized', 'failed'),
    ('Fatal: unable to save snapshot: write /srv/r/data/cb/cbde-tmp-96: no space left on device', 'full'),
    ('Fatal: unable to save snapshot: 507 files processed', 'failed'),
])
def test_classify(text, kind):
    assert _restic.classify(text)[0] == kind


# --- damage and locks -----------------------------------------------------------------------------------------

def test_a_damaged_data_pack_is_found_by_reading_the_data(tmp_path):
    repo = repository(tmp_path)
    repo.init_if_missing()
    src, dummy = make_source(tmp_path, size=256 * 1024)
    repo.backup(str(src), 'term01', ['posfleet'])
    assert repo.check(read_data_subset='100%') == {'ok': True, 'read_data_subset': '100%'}
    pack = max((p for p in (tmp_path / 'repo' / 'data').rglob('*') if p.is_file()), key=lambda p: p.stat().st_size)
    data = bytearray(pack.read_bytes())
    data[len(data) // 3] ^= 0xFF
    os.chmod(pack, 0o600)
    pack.write_bytes(bytes(data))
    assert repo.check() == {'ok': True, 'read_data_subset': None}  # the structure alone does not show it
    with pytest.raises(_restic.ResticError) as info:
        repo.check(read_data_subset='100%')
    assert info.value.kind == 'damaged' and 'exit 1' in info.value.message
    assert f'Pack ID does not match, want {pack.name}' in info.value.message, info.value.message


def test_a_killed_backup_leaves_a_lock_that_unlock_removes(tmp_path):
    repo = repository(tmp_path)
    repo.init_if_missing()
    src, dummy = make_source(tmp_path, size=4 * 1024 * 1024)
    proc = start_slow_backup(repo, src, 256)
    locks = tmp_path / 'repo' / 'locks'
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL and any(locks.iterdir())
    assert repo.snapshots() == []
    with pytest.raises(_restic.ResticError) as info:
        repo.check()
    assert info.value.kind == 'locked' and 'unlock' in info.value.fix
    repo.unlock()
    assert not any(locks.iterdir())
    assert repo.check()['ok'] is True


# --- REST servers (rclone), append-only ----------------------------------------------------------------------

@needs_rclone
def test_an_append_only_server_backs_up_and_refuses_to_forget(tmp_path):
    """Backup credential on an ``--append-only`` server: init, backup and check work, forget is refused. restic
    0.14 retries a 403 for ~44 s per file; the wrapper stops it at the first 403, so this takes a second or so."""
    store = tmp_path / 'store'
    store.mkdir()
    src, files = make_source(tmp_path)
    with rclone_server(tmp_path, store, 'backup', 'Ao-pw-4d2', append_only=True) as location:
        repo = _restic.Repository(location, PASSWORD, str(tmp_path / 'cache'))
        assert repo.init_if_missing() is True
        assert repo.init_if_missing() is False
        snap = repo.backup(str(src), 'term01', ['posfleet'])['snapshot_id']
        assert repo.check() == {'ok': True, 'read_data_subset': None}
        started = time.monotonic()
        with pytest.raises(_restic.ResticError) as info:
            repo.forget([snap])
        elapsed = time.monotonic() - started
        assert info.value.kind == 'refused' and 'maintenance credential' in info.value.fix
        assert '403 Forbidden' in info.value.message and snap[:10] in info.value.message
        assert elapsed < 15, elapsed
        assert 'Ao-pw-4d2' not in str(info.value) and PASSWORD not in str(info.value)
        assert [s['id'] for s in repo.snapshots()] == [snap]
        assert repo.check()['ok'] is True  # the interrupted forget left no lock behind
        with rclone_server(tmp_path, store, 'admin', 'Adm-pw-9x1', append_only=False) as admin_location:
            admin = _restic.Repository(admin_location, PASSWORD, str(tmp_path / 'cache-admin'))
            assert admin.forget([snap], prune=True) == {'removed': [snap], 'not_found': [], 'pruned': True}
            assert admin.snapshots() == []
        assert repo.snapshots() == []


def test_a_call_waits_for_the_lock_of_another_restic_that_is_still_running(tmp_path):
    # One terminal's backup is running (its lock is live) while another's check wants the repository exclusively:
    # the check waits until the backup ends instead of failing at once.
    repo = repository(tmp_path)
    repo.init_if_missing()
    src, dummy = make_source(tmp_path, size=2 * 1024 * 1024)
    proc = start_slow_backup(repo, src, 128)
    try:
        with pytest.raises(_restic.ResticError) as info:
            repo.check()  # lock_wait 0: at once
        assert info.value.kind == 'locked'
        threading.Timer(3, proc.send_signal, (signal.SIGINT,)).start()  # restic removes its lock on SIGINT
        started = time.monotonic()
        waiting = repository(tmp_path, lock_wait=120)
        assert waiting.check()['ok'] is True
        assert 2 <= time.monotonic() - started < 120
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait()


# --- one check for the fleet ----------------------------------------------------------------------------------

NOW = datetime.datetime(2026, 12, 1, 3, 40, tzinfo=datetime.timezone.utc)


@pytest.mark.parametrize('record, subset, hours, reused', [
    ({'passed': {'1/12': '2026-12-01T03:31:00+00:00'}}, '1/12', 24, True),
    ({'passed': {'1/12': '2026-12-01T03:31:00+00:00'}}, '1/12', 0, False),  # 0: always check
    ({'passed': {'1/12': '2026-12-01T03:31:00+00:00'}}, '2/12', 24, False),  # another part of the data
    ({'passed': {'1/12': '2026-12-01T03:31:00+00:00'}}, None, 24, False),  # the structure alone is another check
    ({'passed': {'': '2026-12-01T03:31:00+00:00'}}, None, 24, True),
    ({'passed': {'1/12': '2026-11-30T03:39:00+00:00'}}, '1/12', 24, False),  # too old
    ({'passed': {'1/12': '2026-12-01T04:00:00+00:00'}}, '1/12', 24, False),  # in the future: a clock went back
    ({'passed': {'1/12': '2026-12-01T03:31:00+00:00'}, 'pruned_at': '2026-12-01T03:35:00+00:00'}, '1/12', 24,
     False),  # a prune after it
    ({'passed': {'1/12': '2026-12-01T03:31:00+00:00'}, 'pruned_at': '2026-12-01T03:20:00+00:00'}, '1/12', 24, True),
    ({'passed': {'1/12': '2026-12-01T03:31:00+00:00'}, 'pruned_at': 'garbage'}, '1/12', 24, False),
    ({'passed': {'1/12': '2026-12-01T03:31:00'}}, '1/12', 24, False),  # no offset: not ours
    ({}, '1/12', 24, False),
])
def test_a_check_stands_for_the_same_part_within_the_hours_and_after_the_last_prune(record, subset, hours, reused):
    assert bool(_restic.reusable_check(record, subset, NOW, hours)) is reused


def test_one_check_serves_the_terminals_until_a_prune_or_another_part(tmp_path):
    repo = repository(tmp_path)
    repo.init_if_missing()
    src, dummy = make_source(tmp_path, size=10)
    first = repo.backup(str(src), 'term01', ['posfleet'])['snapshot_id']
    repo.backup(str(src), 'term01', ['posfleet'])
    checked = repo.check_shared('1/12', reuse_hours=24)
    assert checked['reused'] is False and checked['ok'] is True
    again = repository(tmp_path).check_shared('1/12', reuse_hours=24)  # another fork: same cache directory
    assert again == dict(checked, reused=True)
    assert repo.check_shared('2/12', reuse_hours=24)['reused'] is False
    assert repo.check_shared('1/12', reuse_hours=0)['reused'] is False
    repo.forget([first], prune=True)
    after_prune = repo.check_shared('1/12', reuse_hours=24)
    assert after_prune['reused'] is False and after_prune['checked_at'] > checked['checked_at']
    assert repo.check_shared('1/12', reuse_hours=24)['reused'] is True
    with open(repo._state_path('checks') + '.json', encoding='utf-8') as handle:
        record = json.load(handle)
    assert set(record) == {'passed', 'pruned_at', 'prune_passed_at'} and set(record['passed']) == {'1/12', '2/12'}
    assert oct(os.stat(repo._state_path('checks') + '.json').st_mode & 0o777) == '0o600'


def test_a_failed_check_is_not_recorded_as_passed(tmp_path):
    repo = repository(tmp_path)
    repo.init_if_missing()
    src, dummy = make_source(tmp_path, size=64 * 1024)
    repo.backup(str(src), 'term01', ['posfleet'])
    pack = sorted(p for p in (tmp_path / 'repo' / 'data').rglob('*') if p.is_file())[0]
    data = bytearray(pack.read_bytes())
    data[len(data) // 2] ^= 0xFF
    pack.write_bytes(bytes(data))
    kinds = []
    for attempt in ('first', 'second'):  # the second is not served by the first
        with pytest.raises(_restic.ResticError) as info:
            repo.check_shared('100%', reuse_hours=24)
        kinds.append((attempt, info.value.kind))
    assert kinds == [('first', 'damaged'), ('second', 'damaged')]


def test_forks_checking_side_by_side_run_one_check(tmp_path):
    repository(tmp_path).init_if_missing()
    src, dummy = make_source(tmp_path, size=10)
    repository(tmp_path).backup(str(src), 'term01', ['posfleet'])
    results = []
    threads = [threading.Thread(target=lambda: results.append(repository(tmp_path).check_shared('1/4', 24)))
               for dummy in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(result['reused'] for result in results) == [False, True, True]
    assert len({result['checked_at'] for result in results}) == 1


def test_the_record_of_checks_is_named_without_the_credential(tmp_path):
    one = _restic.Repository('rest:http://maint:Secret-1@127.0.0.1:1/', PASSWORD, str(tmp_path / 'cache'))
    other = _restic.Repository('rest:http://maint:Other-2@127.0.0.1:1/', PASSWORD, str(tmp_path / 'cache'))
    assert one._state_path('checks') == other._state_path('checks')
    assert 'Secret' not in one._state_path('checks')


def test_a_prune_puts_off_the_next_for_the_hours_and_a_failed_one_does_not(tmp_path):
    repo = repository(tmp_path)
    repo.init_if_missing()
    src, dummy = make_source(tmp_path, size=10)
    repo.backup(str(src), 'term01', ['posfleet'])
    assert repo.check_shared(None, reuse_hours=24)['reused'] is False
    with pytest.raises(_restic.ResticError):
        repository(tmp_path, password='Not-the-pw 1').prune(interval_hours=24)  # same location, same record
    assert repo.check_shared(None, reuse_hours=24)['reused'] is False  # it may have rewritten packs
    first = repo.prune(interval_hours=24)
    assert first['pruned'] is True
    assert repo.prune(interval_hours=24) == {'pruned': False, 'pruned_at': first['pruned_at']}
    assert repo.prune(interval_hours=0)['pruned'] is True
