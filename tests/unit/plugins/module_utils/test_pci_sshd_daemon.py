# Copyright (c) posfleet developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The SSH controls answer for the running sshd, not only for its files: a daemon that read its configuration
before a file changed (an interrupted remediation, a drop-in edited or removed without a reload) fails them.

The trees hold what the checks read: sshd_config with an Include of drop-ins, the PID file and ``/proc`` of the
listener (its ``stat`` line and the boot time). Change times come from the file system (they cannot be set back),
so each step writes its files after the previous one.
"""

from __future__ import annotations

import json
import os
import time

import pytest

from ansible_collections.posfleet.terminals.plugins.module_utils import _os, _pci

SSHD_T = ('permitrootlogin no\npasswordauthentication no\npidfile /run/sshd.pid\n'
          'ciphers aes256-gcm@openssh.com\nmacs hmac-sha2-256-etm@openssh.com\nkexalgorithms curve25519-sha256\n'
          'hostkeyalgorithms ssh-ed25519\n')
SSH_CONTROLS = ['ssh_permit_root_login', 'ssh_password_authentication', 'ssh_strong_crypto']
CLOCK_TICKS = os.sysconf('SC_CLK_TCK')


def write(root, path, text):
    full = os.path.join(root, path.lstrip('/'))
    os.makedirs(os.path.dirname(full), exist_ok=True)
    with open(full, 'w', encoding='utf-8') as handle:
        handle.write(text)
    time.sleep(0.01)  # the next file's change time is later
    return full


def proc(root, pid, comm, ppid, started):
    """A process in the tree's /proc that started at epoch ``started`` (boot time 1000 s before)."""
    boot = int(started) - 1000
    write(root, '/proc/stat', f'cpu  1 2 3\nbtime {boot}\n')
    ticks = int((started - boot) * CLOCK_TICKS)
    fields = ['S', str(ppid)] + ['0'] * 17 + [str(ticks), '0']
    write(root, f'/proc/{pid}/stat', f'{pid} ({comm}) ' + ' '.join(fields) + '\n')


def tree(tmp_path, pidfile=True):
    root = str(tmp_path / 'root')
    write(root, '/usr/sbin/sshd', '')
    write(root, '/etc/posfleet/terminal.json', json.dumps({'platform': 'posfleet-reference',
                                                           'terminal_id': 'RS01-T100-01', 'model': 't100'}))
    write(root, '/etc/ssh/sshd_config', 'Include sshd_config.d/*.conf\nPasswordAuthentication yes\n')
    write(root, '/etc/ssh/sshd_config.d/00-posfleet-pci.conf', 'PasswordAuthentication no\n')
    proc(root, 1, 'posboot', 0, time.time() - 600)
    proc(root, 40, 'sshd', 1, time.time() - 300)  # started before the files were written (a reload since)
    proc(root, 41, 'sshd', 40, time.time() - 10)  # a session: its parent is an sshd, so not the listener
    if pidfile:
        write(root, '/run/sshd.pid', '40\n')  # rewritten by the reload: after the files
    return root


def view(root):
    return _os.OsView(root, runner=lambda argv, timeout=30: (0, SSHD_T, ''))


def audit(root):
    return _pci.audit({'controls': SSH_CONTROLS, 'pan_salt': 's'}, root=root,
                      runner=lambda argv, timeout=30: (0, SSHD_T, ''))


def test_config_sources_follow_relative_glob_includes(tmp_path):
    root = tree(tmp_path)
    write(root, '/etc/ssh/sshd_config.d/50-site.conf', 'Include /etc/ssh/extra.conf # nested\n')
    write(root, '/etc/ssh/extra.conf', 'LogLevel VERBOSE\n')
    files, directories = view(root).sshd_config_sources()
    assert files == ['/etc/ssh/sshd_config', '/etc/ssh/sshd_config.d/00-posfleet-pci.conf',
                     '/etc/ssh/sshd_config.d/50-site.conf', '/etc/ssh/extra.conf']
    assert directories == ['/etc/ssh/sshd_config.d']


def test_daemon_that_reloaded_after_the_files_passes(tmp_path):
    root = tree(tmp_path)
    daemon = view(root).sshd_daemon()
    assert daemon['running'] and daemon['pid'] == 40 and not daemon['stale']
    assert daemon['source'] == 'PID file /run/sshd.pid'
    result = audit(root)
    assert [c['status'] for c in result['controls']] == ['pass'] * 3
    assert result['sshd']['stale'] is False


@pytest.mark.parametrize('change', ['edit', 'remove', 'main'])
def test_file_changed_after_the_daemon_read_it_fails_every_ssh_control(tmp_path, change):
    root = tree(tmp_path)
    dropin = os.path.join(root, 'etc/ssh/sshd_config.d/00-posfleet-pci.conf')
    if change == 'edit':  # installed by a run that was killed before its reload
        write(root, '/etc/ssh/sshd_config.d/00-posfleet-pci.conf', 'PasswordAuthentication no\nPermitRootLogin no\n')
        os.utime(dropin, (1, 1))  # an mtime put back does not hide the write (the change time)
    elif change == 'remove':  # the daemon still enforces a drop-in that is gone
        os.remove(dropin)
    else:
        write(root, '/etc/ssh/sshd_config', 'Include sshd_config.d/*.conf\nPasswordAuthentication yes\n')
    result = audit(root)
    assert result['sshd']['stale'] is True
    for entry in result['controls']:
        assert entry['status'] == 'fail', entry
        assert 'the running sshd (pid 40) read its configuration at' in entry['evidence']
        assert 'Fix: reload sshd' in entry['evidence']


def test_without_pid_file_the_listener_start_time_counts(tmp_path):
    root = tree(tmp_path, pidfile=False)
    daemon = view(root).sshd_daemon()
    assert daemon['pid'] == 40 and daemon['source'].startswith('process start time')
    assert daemon['stale']  # it started before the files were written: it cannot have read them
    assert {c['status'] for c in audit(root)['controls']} == {'fail'}


def test_pid_file_of_another_process_is_not_the_daemon(tmp_path):
    root = tree(tmp_path)
    write(root, '/run/sshd.pid', '1\n')  # names posboot, not an sshd: the start time of pid 40 counts
    assert view(root).sshd_daemon()['source'].startswith('process start time')


def test_no_running_sshd_is_judged_by_its_files(tmp_path):
    root = tree(tmp_path, pidfile=False)
    for pid in (40, 41):
        os.remove(os.path.join(root, f'proc/{pid}/stat'))
    daemon = view(root).sshd_daemon()
    assert not daemon['running'] and not daemon['stale']
    assert [c['status'] for c in audit(root)['controls']] == ['pass'] * 3


def test_verdict_keeps_what_the_files_fail_and_what_is_not_judged():
    daemon = {'stale': True, 'pid': 7, 'loaded_at': 'a', 'newest_config': '/etc/ssh/sshd_config',
              'config_changed_at': 'b'}
    assert _pci.running_sshd_verdict(daemon, 'fail', 'x')[0] == 'fail'
    assert _pci.running_sshd_verdict(daemon, 'not_applicable', 'x') == ('not_applicable', 'x')
    assert _pci.running_sshd_verdict(dict(daemon, stale=False), 'pass', 'x') == ('pass', 'x')
    assert _pci.running_sshd_verdict(None, 'pass', 'x') == ('pass', 'x')
