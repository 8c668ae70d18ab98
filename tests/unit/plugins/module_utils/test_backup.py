# Copyright (c) posfleet developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The terminal side of the backup (the archive ``collect`` writes) and the controller's check of it (``unpack``
in the action plugin), on a terminal tree with a real SQLite journal. The whole backup into restic runs against a
real terminal in the Molecule scenario ``backup``."""

from __future__ import annotations

import io
import json
import os
import tarfile

import pytest
from terminal_tree import make_journal, write_json

from ansible_collections.posfleet.terminals.plugins.module_utils import _backup
from ansible_collections.posfleet.terminals.plugins.module_utils._platform import TerminalError, load_platform


@pytest.fixture
def platform(terminal_root):
    os.makedirs(os.path.join(str(terminal_root), 'var/lib/posd'), exist_ok=True)
    make_journal(os.path.join(str(terminal_root), 'var/lib/posd/journal.db'), '2026-12-02')
    write_json(terminal_root, '/var/log/posd/posd.log', 'started\n')
    os.chmod(os.path.join(str(terminal_root), 'var/log/posd/posd.log'), 0o640)
    os.symlink('/etc/shadow', os.path.join(str(terminal_root), 'var/log/posd/evil'))
    return load_platform(root=str(terminal_root))


def test_collect_writes_the_journal_copy_the_files_and_a_manifest(platform, tmp_path):
    out = tmp_path / _backup.SPOOL_NAME
    done = _backup.collect(platform, str(out / 'b.tar'))
    assert done['journal']['transactions'] == 5 and done['journal']['max_id'] == 5
    assert done['journal']['integrity'] == 'ok' and done['left_out'] == ['/var/log/posd/evil']
    assert done['journal']['settled_last'] == '2020-01-01T23:00:00Z'  # B1; B2 is still open
    assert oct(os.stat(done['archive']).st_mode & 0o777) == '0o600'
    with tarfile.open(done['archive']) as archive:
        names = archive.getnames()
        manifest = json.load(archive.extractfile(_backup.MANIFEST))
        assert all(member.isfile() for member in archive.getmembers())
    assert 'journal/var/lib/posd/journal.db' in names and 'files/etc/posfleet/terminal.json' in names
    assert 'files/var/log/posd/posd.log' in names and not any('evil' in name for name in names)
    assert manifest['terminal_id'] == platform.terminal_id and manifest['format'] == _backup.FORMAT
    assert manifest['files']['/var/log/posd/posd.log']['mode'] == '0640'
    assert set(manifest['files']) >= {'/etc/posfleet/terminal.json', '/etc/posfleet/acquirer.json',
                                      '/var/lib/posfleet/records.json'}
    assert os.listdir(str(out)) == ['b.tar']  # no work directory or temp file left


def test_collect_only_new_settlement_backs_up_a_settlement_once(platform, tmp_path):
    spool = tmp_path / _backup.SPOOL_NAME
    stale = _backup.collect(platform, str(spool / 'b.tar'), only_new_settlement=True)
    assert not stale['taken'] and not spool.exists()  # B1 was settled in 2020, backed up on 2026-11-20
    platform.write_record('last_backup', None)
    first = _backup.collect(platform, str(spool / 'b.tar'), only_new_settlement=True)
    assert first['taken'] and os.path.isfile(first['archive'])  # never backed up: B1's settlement is new
    _backup.finish(platform, first['archive'], first['created'])
    assert platform.records()['last_backup'] is not None, platform.records()
    assert not spool.exists(), os.listdir(str(spool))
    again = _backup.collect(platform, str(spool / 'b.tar'), only_new_settlement=True)
    assert not again['taken'] and again['archive'] is None and not spool.exists()
    assert again['journal']['settled_last'] == '2020-01-01T23:00:00Z'
    assert again['last_backup'] == platform.records()['last_backup']
    assert _backup.collect(platform, str(spool / 'b.tar'))['taken']  # without the option: always


@pytest.mark.parametrize('settled, recorded, new', [
    (None, None, False),  # no settlement at all: nothing to back up
    (None, '2026-12-01T10:00:00Z', False),
    ('2026-12-01T22:00:04Z', None, True),  # never backed up
    ('2026-12-01T22:00:04Z', '2026-12-01T22:00:05Z', False),
    ('2026-12-01T22:00:05Z', '2026-12-01T22:00:05Z', True),  # a tie: the record keeps whole seconds
    ('2026-12-02T22:00:00Z', '2026-12-01T22:00:05Z', True),
    ('yesterday', '2026-12-01T22:00:05Z', True),  # unreadable: back up
])
def test_settled_since_backup(settled, recorded, new):
    assert _backup.settled_since_backup(settled, recorded) is new


def test_collect_first_removes_what_a_killed_run_left_in_the_spool(platform, tmp_path):
    spool = tmp_path / _backup.SPOOL_NAME
    (spool / '.posfleet-backup-x').mkdir(parents=True)
    (spool / '.posfleet-backup-x' / 'journal.db').write_bytes(b'old copy')
    (spool / 'b.tar').write_bytes(b'half an archive')
    done = _backup.collect(platform, str(spool / 'b.tar'))
    assert done['stale'] == ['.posfleet-backup-x', 'b.tar'] and os.listdir(str(spool)) == ['b.tar']
    assert oct(os.stat(str(spool)).st_mode & 0o777) == '0o700'
    _backup.finish(platform, done['archive'])
    assert not spool.exists()  # the spool goes with its last archive
    with pytest.raises(TerminalError) as info:  # never another directory: it is emptied
        _backup.collect(platform, str(tmp_path / 'b.tar'))
    assert 'must be named posfleet-backup' in info.value.message and (tmp_path / 'root').is_dir()


def test_a_missing_journal_fails_naming_the_fix_and_leaves_no_archive(terminal_root, tmp_path):
    platform = load_platform(root=str(terminal_root))
    with pytest.raises(Exception) as info:
        _backup.collect(platform, str(tmp_path / _backup.SPOOL_NAME / 'b.tar'))
    assert 'journal.db does not exist' in str(info.value) and 'Fix:' in str(info.value)
    assert os.listdir(str(tmp_path / _backup.SPOOL_NAME)) == []


def test_finish_removes_the_archive_and_records_the_backup(platform, tmp_path):
    archive = tmp_path / 'b.tar'
    archive.write_bytes(b'x')
    record = _backup.finish(platform, str(archive), 1796220000)
    assert not archive.exists() and record['value'] == '2026-12-02T14:00:00Z'


# ------------------------------------------------------------------------ the controller's check (unpack)

def _action():
    # Imported here: the action plugin pulls in controller code (ansible.plugins.action).
    from ansible_collections.posfleet.terminals.plugins.action import backup as action

    return action


def test_unpack_checks_every_file_against_the_manifest(platform, tmp_path):
    done = _backup.collect(platform, str(tmp_path / _backup.SPOOL_NAME / 'b.tar'))
    dest = tmp_path / 'staging'
    manifest = _action().unpack(done['archive'], str(dest))
    assert manifest['journal']['transactions'] == 5
    assert (dest / 'journal/var/lib/posd/journal.db').is_file()
    assert oct(os.stat(str(dest / 'files/var/log/posd/posd.log')).st_mode & 0o777) == '0o640'


def test_unpack_refuses_what_a_backup_never_holds_and_a_changed_file(platform, tmp_path):
    action = _action()
    evil = tmp_path / 'evil.tar'
    with tarfile.open(str(evil), 'w') as archive:
        link = tarfile.TarInfo('files/etc/shadow')
        link.type, link.linkname = tarfile.SYMTYPE, '/etc/shadow'
        archive.addfile(link)
    with pytest.raises(action.BackupError) as info:
        action.unpack(str(evil), str(tmp_path / 's1'))
    assert 'which a backup never holds' in info.value.message
    done = _backup.collect(platform, str(tmp_path / _backup.SPOOL_NAME / 'b.tar'))
    changed = tmp_path / 'changed.tar'
    with tarfile.open(done['archive']) as source, tarfile.open(str(changed), 'w') as target:
        for member in source.getmembers():
            data = source.extractfile(member).read()
            if member.name == 'files/etc/posfleet/acquirer.json':
                data = data.replace(b'8443', b'9443')
            member.size = len(data)
            target.addfile(member, io.BytesIO(data))
    with pytest.raises(action.BackupError) as info:
        action.unpack(str(changed), str(tmp_path / 's2'))
    assert '/etc/posfleet/acquirer.json in the backup does not match its sha256' in info.value.message


@pytest.mark.parametrize('name, kind, foreign', [
    ('journal/var/lib/posd/journal.db', tarfile.REGTYPE, False),
    ('files/etc/pos', tarfile.DIRTYPE, False),
    ('backup.json', tarfile.REGTYPE, False),
    ('files/etc/shadow', tarfile.SYMTYPE, True),
    ('files/dev/null', tarfile.CHRTYPE, True),
    ('/files/etc/pos/x', tarfile.REGTYPE, True),
    ('files/../../root/.ssh/authorized_keys', tarfile.REGTYPE, True),
    ('etc/pos/x', tarfile.REGTYPE, True),
])
def test_foreign_member_names_what_a_backup_never_holds(name, kind, foreign):
    member = tarfile.TarInfo(name)
    member.type = kind
    ordinary = tarfile.TarInfo('backup.json')
    assert _backup.foreign_member([ordinary, member]) == (name if foreign else None)


def test_copy_root_is_the_backed_up_directory_under_the_restore_target(tmp_path):
    from ansible_collections.posfleet.terminals.plugins.plugin_utils._backup_copy import copy_root

    (tmp_path / 'home/u/.cache/posfleet/backup/T1').mkdir(parents=True)
    assert copy_root(str(tmp_path), {'paths': ['/home/u/.cache/posfleet/backup/T1']}) == \
        str(tmp_path / 'home/u/.cache/posfleet/backup/T1')
    assert copy_root(str(tmp_path), {'paths': ['/elsewhere']}) == str(tmp_path)
    assert copy_root(str(tmp_path), {'paths': ['/a', '/b']}) == str(tmp_path)


def test_the_journal_goes_into_restic_in_segments_and_comes_back_whole(platform, tmp_path):
    from ansible_collections.posfleet.terminals.plugins.plugin_utils import _backup_copy

    done = _backup.collect(platform, str(tmp_path / _backup.SPOOL_NAME / 'b.tar'))
    dest = tmp_path / 'staging'
    manifest = _action().unpack(done['archive'], str(dest))
    journal = dest / 'journal/var/lib/posd/journal.db'
    with open(str(journal), 'ab') as handle:  # room for three segments (SQLite ignores bytes after its pages)
        handle.write(b'\0' * (2 * _backup_copy.JOURNAL_SEGMENT_BYTES + 10))
    manifest['journal']['sha256'] = _backup.file_sha256(str(journal))
    whole = journal.read_bytes()
    _backup_copy.split_journal(str(dest), manifest)
    segments = dest / 'journal/var/lib/posd/journal.db.segments'
    assert not journal.exists() and sorted(os.listdir(str(segments))) == ['000000', '000001', '000002']
    assert all(os.stat(str(segments / name)).st_mtime == 0 for name in os.listdir(str(segments)))
    assert oct(os.stat(str(segments / '000000')).st_mode & 0o777) == '0o600'
    assert (segments / '000000').stat().st_size == _backup_copy.JOURNAL_SEGMENT_BYTES
    with open(str(dest / _backup.MANIFEST), 'w') as handle:
        json.dump(manifest, handle)
    assert _backup_copy.check_copy(str(dest), 'fix')['journal']['transactions'] == 5
    assert journal.read_bytes() == whole and not segments.exists()
    _backup_copy.split_journal(str(dest), manifest)
    os.unlink(str(segments / '000001'))  # a segment missing: refused, never a journal with a hole
    with pytest.raises(_backup_copy.BackupError) as info:
        _backup_copy.check_copy(str(dest), 'fix')
    assert 'segments in the snapshot are not 000000 to 000001' in info.value.message


def test_rest_credentials_go_into_the_location_and_tags_are_checked():
    from ansible_collections.posfleet.terminals.plugins.plugin_utils import _restic

    action = _action()
    assert _restic.with_credentials('rest:http://127.0.0.1:8000/', 'backup', 'p@ss:w/rd') == \
        'rest:http://backup:p%40ss%3Aw%2Frd@127.0.0.1:8000/'
    assert _restic.with_credentials('/srv/repo', None, None) == '/srv/repo'
    with pytest.raises(_restic.ResticError):
        _restic.with_credentials('/srv/repo', 'backup', 'x')
    with pytest.raises(_restic.ResticError):
        _restic.with_credentials('rest:http://u:p@127.0.0.1:8000/', 'backup', 'x')
    tags = action.snapshot_tags('T1', 'sh01', 'scheduled', ['x'])
    assert tags == ['terminal_id=T1', 'store=sh01', 'reason=scheduled', 'x']
    with pytest.raises(action.BackupError):
        action.snapshot_tags('T1', None, 'manual', ['a,b'])


def test_the_settled_tag_says_the_date_of_the_newest_settlement_or_none_or_unknown():
    action = _action()
    assert action.settled_tag('2026-12-01T22:00:04Z') == 'settled=2026-12-01'
    assert action.settled_tag('2024-02-29') == 'settled=2024-02-29'
    assert action.settled_tag(None) == 'settled=none'
    # A terminal is not trusted: what is not a date never reaches a tag (a comma would split it).
    for value in ('yesterday', '2026-13-01T00:00:00Z', '2026-12-01,x', ''):
        assert action.settled_tag(value) == 'settled=unknown'


def test_a_password_in_the_location_is_never_shown():
    from ansible_collections.posfleet.terminals.plugins.plugin_utils import _restic

    assert _restic.shown_location('rest:http://u:s3cret@127.0.0.1:8000/') == 'rest:http://u:***@127.0.0.1:8000/'
    assert _restic.shown_location('/srv/repo') == '/srv/repo'


def test_options_only_the_action_plugin_sets_are_refused_by_name():
    from ansible_collections.posfleet.terminals.plugins.plugin_utils import _action

    assert _action.private_options_message({'repository': 'r'}, 'T1', 'backup') is None
    message = _action.private_options_message({'_stage': 'finish', '_archive': 'x', 'reason': 'manual'}, 'T1',
                                              'backup')
    assert message == ('terminal T1: backup: _archive, _stage are set by the action plugin. Fix: remove them from '
                       'the task')


# ------------------------------------------------------------------------ restore_files (the platform)

def _backed_up(platform, tmp_path):
    """A backup's files as restore gets them: staging/<terminal path> and the manifest's file entries."""
    done = _backup.collect(platform, str(tmp_path / _backup.SPOOL_NAME / 'b.tar'))
    dest = tmp_path / 'restored'
    with tarfile.open(done['archive']) as archive:
        archive.extractall(str(dest), filter='data')
        manifest = json.load(archive.extractfile(_backup.MANIFEST))
    return str(dest / _backup.FILES_PREFIX), manifest['files']


def test_restore_files_puts_back_changed_files_with_their_modes_and_keeps_the_hardware(platform, tmp_path):
    staging, files = _backed_up(platform, tmp_path)
    root = platform.path('/')
    acquirer = os.path.join(root, 'etc/posfleet/acquirer.json')
    with open(acquirer, 'w', encoding='utf-8') as handle:
        handle.write('{"host": "evil"}\n')
    os.chmod(acquirer, 0o666)
    identity_path = os.path.join(root, 'etc/posfleet/terminal.json')
    with open(identity_path, encoding='utf-8') as handle:
        identity = json.load(handle)
    # A replacement terminal: another serial (and id) than the backup's.
    write_json(root, '/etc/posfleet/terminal.json', dict(identity, terminal_id='SPARE-01', serial='PFSPARE'))
    platform = load_platform(root=root)
    preview = platform.restore_files(staging, files, check_mode=True)
    with open(acquirer, encoding='utf-8') as handle:
        assert 'evil' in handle.read()  # check mode wrote nothing
    done = platform.restore_files(staging, files)
    assert done['changed'] and set(done['restored']) == set(preview['restored'])
    assert {'/etc/posfleet/acquirer.json', '/etc/posfleet/terminal.json'} <= set(done['restored'])
    with open(acquirer, encoding='utf-8') as handle:
        assert json.load(handle)['port'] == 8443
    assert oct(os.stat(acquirer).st_mode & 0o777) == oct(int(files['/etc/posfleet/acquirer.json']['mode'], 8))
    with open(identity_path, encoding='utf-8') as handle:
        restored = json.load(handle)
    assert restored['terminal_id'] == identity['terminal_id'] and restored['serial'] == 'PFSPARE'
    assert '/etc/posfleet/model.json' in done['kept'] and '/var/log/posd/posd.log' in done['kept']
    again = platform.restore_files(staging, files)
    assert not again['changed'] and again['restored'] == []


def test_restore_files_refuses_a_path_no_backup_holds_and_a_changed_file_writing_nothing(platform, tmp_path):
    staging, files = _backed_up(platform, tmp_path)
    evil = dict(files, **{'/etc/shadow': dict(files['/etc/posfleet/acquirer.json'])})
    with pytest.raises(TerminalError) as info:
        platform.restore_files(staging, evil)
    assert 'not a file this terminal backs up' in info.value.message
    with open(os.path.join(staging, 'etc/posfleet/acquirer.json'), 'a', encoding='utf-8') as handle:
        handle.write(' ')
    acquirer = platform.path('/etc/posfleet/acquirer.json')
    before = os.stat(acquirer).st_mtime_ns
    write_json(platform.path('/'), '/var/lib/posfleet/records.json', {'changed': True})
    with pytest.raises(TerminalError) as info:
        platform.restore_files(staging, files)
    assert 'does not match its sha256' in info.value.message
    with open(platform.path('/var/lib/posfleet/records.json'), encoding='utf-8') as handle:
        assert json.load(handle) == {'changed': True}  # nothing written: every file is checked first
    assert os.stat(acquirer).st_mtime_ns == before


def test_restore_picks_the_terminals_latest_snapshot_or_the_one_asked_for():
    from ansible_collections.posfleet.terminals.plugins.action import restore as action

    snaps = [{'id': 'a1' + '0' * 62, 'hostname': 'T1', 'time': '2026-12-01T22:00:00Z'},
             {'id': 'b2' + '0' * 62, 'hostname': 'T1', 'time': '2026-12-02T22:00:00Z'},
             {'id': 'c3' + '0' * 62, 'hostname': 'T2', 'time': '2026-12-03T22:00:00Z'}]
    assert action.pick_snapshot(snaps, 'latest', 'T1')['id'].startswith('b2')
    assert action.pick_snapshot(snaps, 'a1', 'T1')['id'].startswith('a1')
    for wanted, whose, text in (('latest', 'T9', 'no snapshot of terminal T9'), ('c3', 'T1', 'of terminal T2'),
                                ('ff', 'T1', 'no snapshots match')):
        with pytest.raises(action.BackupError) as info:
            action.pick_snapshot(snaps, wanted, whose)
        assert text in info.value.message


def test_the_drill_finds_the_terminals_latest_snapshot_without_case_and_shows_terminal_paths():
    from ansible_collections.posfleet.terminals.plugins.action import restore_drill as drill

    snaps = [{'id': 'a', 'hostname': 'SH01-T100-01', 'time': '2026-12-01T22:00:00Z'},
             {'id': 'b', 'hostname': 'SH01-T100-01', 'time': '2026-12-02T22:00:00Z'},
             {'id': 'c', 'hostname': 'SH01-T100-02', 'time': '2026-12-03T22:00:00Z'}]
    assert drill.latest_of(snaps, 'sh01-t100-01')['id'] == 'b'
    assert drill.latest_of(snaps, 'sh01-t100-09') is None
    assert drill._shown('/tmp/d/files/var/log/posd/leak.log', '/tmp/d') == '/var/log/posd/leak.log'
    assert drill._shown('/tmp/d/journal/var/lib/posd/journal.db', '/tmp/d') == '/var/lib/posd/journal.db'
