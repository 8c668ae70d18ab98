# Copyright (c) posfleet developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The platform's write side on a temporary terminal tree: what needs no real terminal (slots and the boot
environment, journal copies on real SQLite files, passwd/shadow/keys parsing, records). The same methods run
against a real terminal container in tests/images/platform_write.py."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import sqlite3
import stat
import struct
import threading
import time

import pytest
from terminal_tree import ed25519_line, faillock_tally, install_slot, lock_out, make_firmware, make_journal, write_json

from ansible_collections.posfleet.terminals.plugins.module_utils import _crypt
from ansible_collections.posfleet.terminals.plugins.module_utils._io import atomic_write
from ansible_collections.posfleet.terminals.plugins.module_utils._platform import (
    TerminalError,
    journal,
    load_platform,
    manifest_problems,
    pam,
    parse_key,
    slots,
)


def env_of(platform):
    with open(platform.path(platform.BOOTENV_FILE), encoding='utf-8') as handle:
        return json.load(handle)


def set_env(platform, **values):
    env = env_of(platform)
    env.update(values)
    write_json(platform.root, platform.BOOTENV_FILE, env)


def boot_trial(platform):
    """What posboot writes when the trial boots: one boot more, one attempt counted."""
    env = env_of(platform)
    set_env(platform, boots=env['boots'] + 1, last_boot=env['trial_started'], bootcount=env['bootcount'] + 1)


# ---------------------------------------------------------------------------------------------- shared slot rules

def test_slot_problems_accepts_a_complete_slot_and_names_each_defect(tmp_path):
    directory = str(tmp_path / 'slot')
    manifest = make_firmware(directory, '2.4.0')
    assert slots.slot_problems(directory) == ['no VERSION file']
    write_json(tmp_path, 'slot/VERSION', '2.4.0\n')
    assert slots.slot_problems(directory) == ['no manifest.json']
    write_json(tmp_path, 'slot/manifest.json', manifest)
    assert slots.slot_problems(directory) == []
    with open(os.path.join(directory, 'bin/posctl'), 'ab') as handle:
        handle.write(b'tampered')
    assert slots.slot_problems(directory) == ['bin/posctl does not match its sha256 in manifest.json']
    write_json(tmp_path, 'slot/VERSION', '2.4.1\n')
    assert "VERSION says '2.4.1' but manifest.json says '2.4.0'" in slots.slot_problems(directory)


@pytest.mark.parametrize('manifest, problem', [
    ({'version': '2.4.0', 'models': ['t100'], 'files': {}}, 'include bin/posd'),
    ({'version': '2.4 0', 'models': ['t100'], 'files': {'bin/posd': 'a' * 64}}, 'not a version string'),
    ({'version': '2.4.0', 'models': [], 'files': {'bin/posd': 'a' * 64}}, 'non-empty list'),
    ({'version': '2.4.0', 'models': ['t100'], 'files': {'bin/posd': 'a' * 64, '../etc/shadow': 'a' * 64}}, 'unsafe'),
    ({'version': '2.4.0', 'models': ['t100'], 'files': {'bin/posd': 'xyz'}}, '64 hex digits'),
    ([], 'not a JSON object'),
])
def test_manifest_problems(manifest, problem):
    assert any(problem in p for p in manifest_problems(manifest))


def test_trial_deadline_and_fall_back_keep_the_reason():
    env = slots.with_defaults({'active_slot': 'b', 'upgrade_available': 1, 'trial_started': 1000,
                               'trial_deadline': 1600})
    assert slots.trial_expired(env, 1599) is None
    reason = slots.trial_expired(env, 1600)
    assert reason == 'trial of slot b was not committed within its deadline (600 s)'
    assert slots.fall_back(env, 1600.5, reason) == 'b'
    assert env['active_slot'] == 'a' and env['upgrade_available'] == 0 and env['last_fallback'] == 1600
    assert env['last_fallback_reason'] == reason and env['trial_deadline'] is None
    assert slots.validate_env(env) == []
    assert slots.trial_expired(env, 9999) is None


def test_a_trial_counts_as_booted_by_the_boot_count_not_the_second():
    env = slots.with_defaults({'boots': 4, 'last_boot': 1000})
    slots.start_trial(env, 'b', 1000, 600)  # staged and started within the second of the boot
    assert env['trial_boots'] == 4 and slots.trial_booted(env) is False
    env.update(boots=5, last_boot=1000)  # and booted within that second too
    assert slots.trial_booted(env) is True
    assert slots.validate_env(env) == []
    legacy = slots.with_defaults({'upgrade_available': 1, 'trial_started': 1000, 'last_boot': 999})
    assert slots.trial_booted(legacy) is False  # a trial started before the count was kept
    assert slots.validate_env(dict(env, trial_boots=-1)) == ['trial_boots must be an integer >= 0 or null']


def test_validate_env_checks_the_new_keys():
    env = slots.with_defaults({'trial_deadline': '1600', 'last_fallback_reason': 3})
    assert slots.validate_env(env) == ['trial_deadline must be an epoch integer or null',
                                       'last_fallback_reason must be a string or null']


def test_posboot_imports_the_shared_rules():
    """The boot loader must judge slots with this very file (build.sh copies it into the image)."""
    here = os.path.dirname(os.path.abspath(__file__))
    repo = os.path.abspath(os.path.join(here, '..', '..', '..', '..'))
    with open(os.path.join(repo, 'tests/images/terminal/rootfs/sbin/posboot'), encoding='utf-8') as handle:
        posboot = handle.read()
    with open(os.path.join(repo, 'tests/images/build.sh'), encoding='utf-8') as handle:
        build = handle.read()
    assert 'import posfleet_slots as slots' in posboot
    assert 'def slot_problems' not in posboot and 'os.access(d + "/bin/posd"' not in posboot
    assert 'plugins/module_utils/_platform/slots.py:shared/posfleet_slots.py' in build


# ---------------------------------------------------------------------------------------------- firmware

def test_stage_slot_writes_the_inactive_slot_only(terminal):
    result = terminal.stage_slot('b', terminal.bundle, terminal.manifest)
    assert result == {'changed': True, 'slot': 'b', 'version': '2.4.0', 'files': 2}
    assert slots.slot_problems(terminal.path('/slots/b')) == []
    assert slots.slot_problems(terminal.path('/slots/a')) == []
    assert sorted(os.listdir(terminal.path('/slots'))) == ['a', 'b']  # no staging leftovers
    assert terminal.stage_slot('b', terminal.bundle, terminal.manifest)['changed'] is False
    with pytest.raises(TerminalError, match='slot a is the active slot'):
        terminal.stage_slot('a', terminal.bundle, terminal.manifest)


def test_stage_slot_refuses_a_corrupt_bundle_and_keeps_the_old_slot(terminal):
    install_slot(terminal.root, 'b', '2.2.0')
    with open(os.path.join(terminal.bundle, 'bin/posd'), 'ab') as handle:
        handle.write(b'# corrupted in transit\n')
    with pytest.raises(TerminalError) as info:
        terminal.stage_slot('b', terminal.bundle, terminal.manifest)
    assert 'bin/posd in' in info.value.message and 'Fix: upload the firmware bundle again' in str(info.value)
    assert terminal.slot('b')['version'] == '2.2.0' and slots.slot_problems(terminal.path('/slots/b')) == []


def test_stage_slot_refuses_firmware_for_another_model(terminal):
    manifest = dict(terminal.manifest, models=['m200'])
    with pytest.raises(TerminalError, match='firmware 2.4.0 is for models m200, not t100'):
        terminal.stage_slot('b', terminal.bundle, manifest)
    assert terminal.slot('b')['present'] is False


def test_stage_slot_cleans_up_after_a_killed_stage(terminal):
    os.makedirs(terminal.path('/slots/.b.staging-99999/bin'))
    terminal.stage_slot('b', terminal.bundle, terminal.manifest)
    assert sorted(os.listdir(terminal.path('/slots'))) == ['a', 'b']


def test_stage_slot_refused_while_a_trial_is_pending(terminal):
    install_slot(terminal.root, 'b', '2.2.0')
    set_env(terminal, active_slot='b', upgrade_available=1)
    with pytest.raises(TerminalError, match='slot a is its fallback'):
        terminal.stage_slot('a', terminal.bundle, terminal.manifest)


def test_trial_commit_sequence(terminal):
    terminal.stage_slot('b', terminal.bundle, terminal.manifest)
    before = int(time.time())
    trial = terminal.start_trial('b', 600)
    assert trial['changed'] and trial['fallback_slot'] == 'a' and trial['reboot_required']
    env = env_of(terminal)
    assert env['active_slot'] == 'b' and env['upgrade_available'] == 1 and env['bootcount'] == 0
    assert before + 600 <= env['trial_deadline'] <= int(time.time()) + 600
    assert terminal.start_trial('b', 600)['changed'] is False
    with pytest.raises(TerminalError, match='has not booted since its trial started'):
        terminal.commit_slot()
    boot_trial(terminal)
    assert terminal.commit_slot() == {'changed': True, 'slot': 'b', 'version': '2.4.0'}
    env = env_of(terminal)
    assert env['upgrade_available'] == 0 and env['trial_deadline'] is None and env['active_slot'] == 'b'
    assert terminal.commit_slot()['changed'] is False
    assert terminal.firmware()['state'] == 'committed'


def test_start_trial_refuses_what_could_not_boot(terminal):
    with pytest.raises(TerminalError, match='slot b is not bootable .no VERSION file.'):
        terminal.start_trial('b', 600)
    with pytest.raises(TerminalError, match='out of range'):
        terminal.start_trial('b', 5)
    with pytest.raises(TerminalError, match="there is no slot 'c'"):
        terminal.start_trial('c', 600)
    assert env_of(terminal)['upgrade_available'] == 0


def test_rollback_slot_keeps_the_reason(terminal):
    terminal.stage_slot('b', terminal.bundle, terminal.manifest)
    terminal.start_trial('b', 600)
    result = terminal.rollback_slot('printer failed its self-test')
    assert result == {'changed': True, 'active_slot': 'a', 'reason': 'rollback: printer failed its self-test',
                      'reboot_required': False}
    env = env_of(terminal)
    assert env['upgrade_available'] == 0 and env['last_fallback'] and env['active_slot'] == 'a'
    assert terminal.rollback_slot('again')['changed'] is False


def test_security_version_floor_is_raised_by_commit_and_never_lowered(terminal):
    assert terminal.firmware()['security_version'] == 0
    manifest = dict(terminal.manifest, security_version=3)
    terminal.stage_slot('b', terminal.bundle, manifest)
    trial = terminal.start_trial('b', 600)
    assert trial['changed']
    assert terminal.firmware()['security_version'] == 0  # a trial does not raise it: only a commit
    boot_trial(terminal)
    terminal.commit_slot()
    assert terminal.firmware()['security_version'] == 3
    older = dict(terminal.manifest, version='2.3.9', security_version=2)
    with pytest.raises(TerminalError, match='security version 2, below the terminal.s floor 3'):
        terminal.stage_slot('a', terminal.bundle, older)
    assert terminal.slot('a')['version'] == '2.3.1'  # nothing staged
    same = dict(terminal.manifest, version='2.3.9', security_version=3)
    terminal.stage_slot('a', terminal.bundle, same)
    terminal.start_trial('a', 600)
    boot_trial(terminal)
    terminal.commit_slot()
    assert terminal.firmware()['security_version'] == 3


def test_booting_back_a_slot_below_the_floor_is_refused(terminal):
    # Slot a (2.3.1, security version 0) stays as it was after 2.4.0 of security version 3 is committed in b: a
    # revert would boot it again without staging, and start_trial refuses it.
    terminal.stage_slot('b', terminal.bundle, dict(terminal.manifest, security_version=3))
    terminal.start_trial('b', 600)
    boot_trial(terminal)
    terminal.commit_slot()
    assert terminal.firmware()['slots']['a']['security_version'] == 0
    with pytest.raises(TerminalError, match='slot a has security version 0, below the terminal.s floor 3'):
        terminal.start_trial('a', 600)
    assert env_of(terminal)['active_slot'] == 'b' and env_of(terminal)['upgrade_available'] == 0


def test_revert_stage_boots_the_other_slot_as_a_trial(terminal):
    from ansible_collections.posfleet.terminals.plugins.module_utils import _firmware
    with pytest.raises(TerminalError, match='slot b holds no earlier firmware'):
        _firmware.revert(terminal, 600)
    terminal.stage_slot('b', terminal.bundle, terminal.manifest)
    terminal.start_trial('b', 600)
    with pytest.raises(TerminalError, match='a trial of firmware 2.4.0 in slot b is pending'):
        _firmware.revert(terminal, 600)
    boot_trial(terminal)
    terminal.commit_slot()
    result = _firmware.revert(terminal, 600)
    assert result['slot'] == 'a' and result['version'] == '2.3.1' and result['trial']['reboot_required']
    assert env_of(terminal)['active_slot'] == 'a' and env_of(terminal)['upgrade_available'] == 1


def test_content_cache_resumes_checks_and_assembles(terminal, tmp_path):
    data = os.urandom(300000)
    digest = hashlib.sha256(data).hexdigest()
    chunks = []
    for index, start in enumerate(range(0, len(data), 100000)):
        path = tmp_path / f'chunk{index}'
        path.write_bytes(data[start:start + 100000])
        chunks.append((start, str(path)))
    with open(terminal.path('/slots/a/manifest.json'), encoding='utf-8') as handle:
        slot_a = json.load(handle)
    held = terminal.firmware_content()
    assert set(held['held']) == set(slot_a['files'].values()) and held['partial'] == {}
    assert held['free_bytes'] > 0
    assert terminal.receive_content(digest, len(data), *chunks[0]) == {'sha256': digest, 'received': 100000,
                                                                       'complete': False}
    assert terminal.firmware_content()['partial'] == {digest: 100000}  # an interrupted transfer resumes here
    with pytest.raises(TerminalError, match='only 100000 bytes were received'):
        terminal.receive_content(digest, len(data), *chunks[2])
    terminal.receive_content(digest, len(data), *chunks[1])
    terminal.receive_content(digest, len(data), *chunks[1])  # resent: rewritten from its offset, not appended
    assert terminal.receive_content(digest, len(data), *chunks[2])['complete'] is True
    content = terminal.firmware_content()
    assert content['held'][digest] == len(data) and content['partial'] == {}
    # A corrupted transfer is discarded, never kept under the sha256 it claims.
    wrong = 'f' * 64
    with pytest.raises(TerminalError, match='does not match that sha256'):
        terminal.receive_content(wrong, 100000, *chunks[0])
    assert wrong not in terminal.firmware_content()['held']
    files = {rel: {'sha256': sha, 'mode': '0755'} for rel, sha in slot_a['files'].items()}
    files['lib/blob.bin'] = {'sha256': digest, 'mode': '0644'}
    dest = str(tmp_path / 'assembled')
    assert terminal.assemble_content(files, dest) == {'path': dest, 'files': 3, 'bytes': len(data) + sum(
        os.path.getsize(terminal.path('/slots/a/' + rel)) for rel in slot_a['files'])}
    assert stat.S_IMODE(os.stat(os.path.join(dest, 'lib/blob.bin')).st_mode) == 0o644
    assert os.access(os.path.join(dest, 'bin/posd'), os.X_OK)
    files['lib/missing.bin'] = {'sha256': 'e' * 64, 'mode': '0644'}
    with pytest.raises(TerminalError, match='lib/missing.bin .eeeeeeeeeeee. is neither in a slot'):
        terminal.assemble_content(files, str(tmp_path / 'again'))
    assert not os.path.exists(str(tmp_path / 'again'))
    assert terminal.prune_content(keep=[digest]) == {'changed': False, 'removed': 0, 'bytes': 0}
    assert terminal.prune_content() == {'changed': True, 'removed': 1, 'bytes': len(data)}
    assert digest not in terminal.firmware_content()['held']


def test_boot_id(terminal):
    assert terminal.boot_id() == '12-1700000000'  # a boot loader without boot ids
    set_env(terminal, boot_id='5f0c')
    assert terminal.boot_id() == '5f0c'


# ---------------------------------------------------------------------------------------------- journal

def test_snapshot_journal_while_a_writer_commits(terminal, tmp_path):
    path = terminal.path(terminal.JOURNAL_DB)
    make_journal(path, time.strftime('%Y-%m-%d'))
    writer_conn = sqlite3.connect(path, check_same_thread=False)
    writer_conn.execute('PRAGMA journal_mode=WAL')
    stop = threading.Event()

    def write():
        while not stop.is_set():
            writer_conn.execute("INSERT INTO transactions (ts, batch_id, pan_masked, amount_minor, currency, status) "
                                "VALUES ('2026-01-01T00:00:00Z', 'B2', '622848******1234', 1, 'CNY', 'approved')")
            writer_conn.commit()

    thread = threading.Thread(target=write)
    thread.start()
    try:
        snaps = [terminal.snapshot_journal(str(tmp_path / f'snap{i}.db')) for i in range(3)]
    finally:
        stop.set()
        thread.join()
        writer_conn.close()
    assert all(s['integrity'] == 'ok' and s['max_id'] == s['transactions'] for s in snaps)
    assert snaps[0]['transactions'] >= 5 and snaps[0]['transactions'] <= snaps[2]['transactions']
    assert stat.S_IMODE(os.stat(snaps[0]['path']).st_mode) == 0o600
    assert journal.journal_problems(snaps[0]['path']) == []
    assert slots.file_sha256(snaps[1]['path']) == snaps[1]['sha256']
    assert not [n for n in os.listdir(tmp_path) if n.endswith(('.tmp', '-wal', '-journal'))]


def test_journal_problems(tmp_path):
    other = str(tmp_path / 'other.db')
    conn = sqlite3.connect(other)
    conn.execute('CREATE TABLE transactions (id INTEGER PRIMARY KEY, ts TEXT)')
    conn.close()
    assert journal.journal_problems(other) == [
        'its transactions table lacks amount_minor, auth_code, batch_id, currency, pan_masked, status, training',
        'it has no batches table']
    write_json(tmp_path, 'text.db', 'not a database at all')
    assert journal.journal_problems(str(tmp_path / 'text.db')) == ['it is not a SQLite database']


def test_restore_journal_refuses_a_non_journal_before_touching_anything(terminal, tmp_path):
    write_json(tmp_path, 'bad.db', 'SQLite format 3 but not really')
    with pytest.raises(TerminalError, match='is not a transaction journal'):
        terminal.restore_journal(str(tmp_path / 'bad.db'))


def test_restore_journal_quiesces_around_the_swap(terminal_root, tmp_path, fake_posd):
    install_slot(terminal_root, 'a', '2.3.1')
    server = fake_posd({'ok': True, 'changed': True, 'quiesced': True, 'since': 1, 'resume_by': 901},
                       {'ok': True, 'changed': True, 'quiesced': False, 'quiesced_seconds': 0.2})
    platform = load_platform(root=str(terminal_root), socket_path=server.path)
    live = platform.path(platform.JOURNAL_DB)
    make_journal(live, '2020-01-02')
    write_json(terminal_root, platform.JOURNAL_DB + '-wal', 'stale wal of the old journal')
    backup = str(tmp_path / 'backup.db')
    make_journal(backup, '2020-01-01')
    conn = sqlite3.connect(backup)
    conn.execute('DELETE FROM transactions WHERE id > 2')
    conn.commit()
    conn.close()
    result = platform.restore_journal(backup)
    assert result['changed'] and result['transactions'] == 2
    assert [r['cmd'] for r in server.requests] == ['journal_quiesce', 'journal_resume']
    assert slots.file_sha256(live) == slots.file_sha256(backup)
    assert not os.path.exists(live + '-wal')
    assert stat.S_IMODE(os.stat(live).st_mode) == 0o600
    assert platform.restore_journal(backup)['changed'] is False  # the same file: nothing to do, no quiesce


# ---------------------------------------------------------------------------------------------- accounts

def test_accounts_never_shows_a_hash(with_accounts):
    entries = with_accounts.accounts()
    assert [e['uid'] for e in entries] == sorted(e['uid'] for e in entries)
    assert {e['user'] for e in entries} == {'root', 'posadmin', 'cashier'}
    cashier = next(e for e in entries if e['user'] == 'cashier')
    assert cashier['password'] == 'hash' and cashier['last_change'] == '2025-12-01' and cashier['max_days'] == 90
    assert next(e for e in entries if e['user'] == 'posadmin')['password'] == 'no_login'
    assert '$6$' not in json.dumps(entries)


@pytest.mark.parametrize('value', ['Secret-Password-1', '$6$short', 'x:$6$abcdefgh$xxxxxxxx', ''])
def test_set_password_hash_refuses_what_is_not_a_hash(with_accounts, value):
    with pytest.raises(TerminalError, match='is refused: it is not a crypt'):
        with_accounts.set_password_hash('cashier', value)


def test_set_password_hash_unknown_user_and_unchanged_hash(with_accounts):
    with pytest.raises(TerminalError, match="there is no account 'nobody2'"):
        with_accounts.set_password_hash('nobody2', '$6$abcdefgh$' + 'y' * 86)
    unchanged = with_accounts.set_password_hash('cashier', '$6$abcdefgh$' + 'x' * 86)
    assert unchanged == {'changed': False, 'user': 'cashier'}


def test_which_password_the_terminal_holds_without_showing_its_hash(with_accounts):
    vendor = 'Vendor-Default-123'
    stored = _crypt.hash_password(vendor, 'yescrypt')
    write_json(with_accounts.root, '/etc/shadow', f'root:*:20000:0:99999:7:::\ncashier:{stored}:20423:1:90:14:::\n'
               'posadmin:!' + stored + ':20000:0:::::\n')
    other = _crypt.hash_password('Something-else-9', 'sha512_crypt')
    assert with_accounts.password_hash_index('cashier', [other, stored]) == 1
    assert with_accounts.password_hash_index('cashier', [other]) is None
    assert with_accounts.password_is_one_of('cashier', ['pos123', vendor]) is True
    assert with_accounts.password_is_one_of('cashier', ['pos123']) is False
    assert with_accounts.password_is_one_of('posadmin', [vendor]) is False  # locked: no password opens it
    assert with_accounts.password_methods()[0] == 'yescrypt'
    with pytest.raises(TerminalError, match="there is no account 'nobody2'"):
        with_accounts.password_is_one_of('nobody2', [vendor])


def test_set_password_aging_unchanged_in_a_tree_and_refused_when_it_would_write(with_accounts):
    assert with_accounts.set_password_aging('cashier', 90, 14) == {'changed': False, 'user': 'cashier'}
    with pytest.raises(TerminalError, match='chage only writes the real /etc/shadow'):
        with_accounts.set_password_aging('cashier', 60, 7)
    for max_days, warn_days, words in ((0, 7, 'max_days 0'), (90, True, 'warn_days True'), (30, 31, 'no larger')):
        with pytest.raises(TerminalError, match=words):
            with_accounts.set_password_aging('cashier', max_days, warn_days)


def test_authorized_keys_round_trip(with_accounts):
    first, blob = ed25519_line(b'one', 'tech@posfleet')
    second, dummy = ed25519_line(b'two', 'backup')
    result = with_accounts.set_authorized_keys('cashier', [first, second, first])
    fingerprint = 'SHA256:' + base64.b64encode(hashlib.sha256(blob).digest()).decode().rstrip('=')
    assert result['changed'] and result['count'] == 2 and result['fingerprints'][0] == fingerprint
    path = with_accounts.path('/home/cashier/.ssh/authorized_keys')
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert stat.S_IMODE(os.stat(os.path.dirname(path)).st_mode) == 0o700
    keys = with_accounts.authorized_keys('cashier')
    assert [k['comment'] for k in keys] == ['tech@posfleet', 'backup'] and keys[0]['fingerprint'] == fingerprint
    assert with_accounts.set_authorized_keys('cashier', [first, second])['changed'] is False
    assert with_accounts.set_authorized_keys('cashier', [])['changed'] is True
    assert with_accounts.authorized_keys('cashier') == []


@pytest.mark.parametrize('line', [
    'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIA== x\nssh-ed25519 AAAA',
    'ssh-rsa ' + base64.b64encode(b'\x00\x00\x00\x0bssh-ed25519' + b'k' * 36).decode(),  # blob of another type
    'not a key',
])
def test_set_authorized_keys_refuses_what_is_not_a_key(with_accounts, line):
    with pytest.raises(TerminalError, match='not an OpenSSH public key line'):
        with_accounts.set_authorized_keys('cashier', [line])


def test_parse_key_with_options():
    line, dummy = ed25519_line(b'one', 'tech')
    key = parse_key('from="10.0.0.0/8",no-pty ' + line)
    assert key['options'] == 'from="10.0.0.0/8",no-pty' and key['comment'] == 'tech'


# ---------------------------------------------------------------------------------------------- faillock

def test_faillock_settings_and_lock_state(tmp_path):
    write_json(tmp_path, 'faillock.conf', '# hardened\ndir = /var/run/faillock\naudit\ndeny = 3\n'
               'fail_interval = 900\nunlock_time = 1800\n')
    settings = pam.faillock_settings(str(tmp_path / 'faillock.conf'))
    assert settings == {'dir': '/var/run/faillock', 'deny': 3, 'fail_interval': 900, 'unlock_time': 1800}
    now = 100000
    assert not pam.faillock_locked(faillock_tally(now - 10, now - 5), settings, now)
    assert pam.faillock_locked(faillock_tally(now - 30, now - 10, now - 5), settings, now)
    # out of the interval:
    assert not pam.faillock_locked(faillock_tally(now - 2000, now - 1900, now - 1800), settings, now)
    stale = pam.TALLY.pack(b'tty1', 0, 0, now - 1)  # not valid any more (reset)
    assert len(pam.faillock_failures(faillock_tally(now - 1) + stale, settings, now)) == 1


def test_verify_password_refuses_a_locked_out_account_without_asking_pam(with_accounts):
    lock_out(with_accounts.root, 'cashier', with_accounts.FAILLOCK_CONF)
    with pytest.raises(TerminalError, match='locked out by pam_faillock .2 recent failures.') as info:
        with_accounts.verify_password('cashier', 'whatever')
    assert 'faillock --user cashier --reset' in str(info.value)


def test_tally_record_layout():
    assert pam.TALLY.size == 64 == struct.calcsize('=52sHHQ')


# ---------------------------------------------------------------------------------------------- records

def test_write_record_then_records_reads_it(terminal):
    result = terminal.write_record('last_audit', 1795000000)
    assert result == {'changed': True, 'key': 'last_audit', 'value': '2026-11-18T11:06:40Z', 'previous': None}
    assert terminal.records()['last_audit'] == '2026-11-18T11:06:40Z'
    assert terminal.records()['last_backup'] == '2026-11-20T02:10:00Z'  # the other keys are kept
    assert terminal.write_record('last_audit', '2026-11-18T11:06:40Z')['changed'] is False
    assert terminal.write_record('last_audit', None)['previous'] == '2026-11-18T11:06:40Z'
    with pytest.raises(TerminalError, match="'last_login' is not a record key"):
        terminal.write_record('last_login', 1)
    with pytest.raises(TerminalError, match='is not a time'):
        terminal.write_record('last_backup', 'yesterday')


def test_write_record_creates_the_file(terminal):
    os.unlink(terminal.path(terminal.RECORDS_FILE))
    terminal.write_record('last_backup', '2026-11-20T02:10:00+08:00')
    with open(terminal.path(terminal.RECORDS_FILE), encoding='utf-8') as handle:
        assert json.load(handle) == {'last_backup': '2026-11-19T18:10:00Z', 'last_credential_rotation': None,
                                     'last_audit': None}


# ---------------------------------------------------------------------------------------------- atomic_write

def test_atomic_write_mode_content_and_no_leftovers(tmp_path):
    path = str(tmp_path / 'file')
    atomic_write(path, 'one\n', 0o600)
    atomic_write(path, b'two\n', 0o640)
    with open(path, 'rb') as handle:
        assert handle.read() == b'two\n'
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o640
    assert os.listdir(tmp_path) == ['file']


# ----------------------------------------------------------------------------------------------- update lock

LOCK_HOLDER = """
import sys, time
sys.path[:0] = sys.argv[2].split(':')
from ansible_collections.posfleet.terminals.plugins.module_utils._platform import load_platform
load_platform(root=sys.argv[1]).hold_update_lock('firmware install')
print('held', flush=True)
time.sleep(60)
"""


def test_the_update_lock_refuses_a_second_holder_and_ends_with_a_killed_one(terminal_root):
    import signal
    import subprocess
    import sys

    child = subprocess.Popen([sys.executable, '-c', LOCK_HOLDER, str(terminal_root), os.pathsep.join(sys.path)],
                             stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout.readline().strip() == 'held'
        platform = load_platform(root=str(terminal_root))
        started = time.monotonic()
        with pytest.raises(TerminalError) as info:
            platform.hold_update_lock('software install', wait=1)
        assert time.monotonic() - started >= 1
        assert f"holder 'firmware install', pid '{child.pid}') for over 1 s" in info.value.message
        assert info.value.step == 'update_lock' and 'run again' in info.value.fix
        os.kill(child.pid, signal.SIGKILL)  # the holder dies as a killed run's module does: its lock with it
        child.wait(10)
        held = platform.hold_update_lock('software install', wait=5)
        assert held['holder'] == 'software install' and held['waited_s'] < 5
        assert platform.hold_update_lock('software install again', wait=0)['waited_s'] == 0.0  # held already
    finally:
        child.kill()
        child.wait(10)
