# Copyright (c) posfleet developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

import os
import socket
import time

import pytest
from terminal_tree import BOOTENV, TERMINAL, make_journal, write_json

from ansible_collections.posfleet.terminals.plugins.module_utils._platform import (
    PLATFORMS,
    DaemonClient,
    Platform,
    ReferencePlatform,
    TerminalError,
    as_int,
    load_platform,
    tcp_probe,
)
from ansible_collections.posfleet.terminals.plugins.module_utils._time import parse_time, utc_iso

HOST = socket.gethostname()


def platform_at(root, **kwargs):
    return load_platform(root=str(root), **kwargs)


# ---------------------------------------------------------------------------------------------- TerminalError

def test_terminal_error_str():
    exc = TerminalError('daemon', 'control socket /run/posd/posd.sock refused the connection (posd is not running)',
                        'check /var/log/posd/posd.log, then reboot the terminal', 'SH01-T100-01')
    assert str(exc) == ('terminal SH01-T100-01: daemon: control socket /run/posd/posd.sock refused the connection '
                        '(posd is not running). Fix: check /var/log/posd/posd.log, then reboot the terminal')
    assert exc.to_dict() == {'terminal_id': 'SH01-T100-01', 'step': 'daemon', 'fix': exc.fix, 'message': exc.message}


def test_terminal_error_strips_periods_and_falls_back_to_hostname():
    exc = TerminalError('identity', 'broken.', 'fix it.')
    assert str(exc) == f'terminal {HOST}: identity: broken. Fix: fix it'


# ---------------------------------------------------------------------------------------------- load_platform

def test_load_platform_reference(terminal_root):
    platform = platform_at(terminal_root)
    assert isinstance(platform, ReferencePlatform)
    assert platform.terminal_id == 'SH01-T100-01'
    assert platform.daemon.path == os.path.join(str(terminal_root), 'run/posd/posd.sock')
    assert PLATFORMS['posfleet-reference'] is ReferencePlatform


def test_load_platform_missing_file(tmp_path):
    with pytest.raises(TerminalError) as info:
        platform_at(tmp_path)
    exc = info.value
    assert exc.step == 'identity'
    assert exc.terminal == HOST
    assert str(exc).startswith(f'terminal {HOST}: identity: /etc/posfleet/terminal.json does not exist')
    assert 'Fix: check that the inventory host is a terminal' in str(exc)


@pytest.mark.parametrize('content,expected', [
    ('{"platform": "posfleet-reference", ', 'is not valid JSON'),
    ('', 'is not valid JSON'),
    (b'\xff\xfe{}', 'is not valid JSON'),
    ('["posfleet-reference"]', 'holds a JSON list, expected an object'),
])
def test_load_platform_malformed(tmp_path, content, expected):
    path = write_json(tmp_path, '/etc/posfleet/terminal.json', '')
    with open(path, 'wb') as handle:
        handle.write(content if isinstance(content, bytes) else content.encode())
    with pytest.raises(TerminalError) as info:
        platform_at(tmp_path)
    assert info.value.step == 'identity'
    assert info.value.terminal == HOST
    assert expected in info.value.message
    assert 'Fix: ' in str(info.value)


def test_load_platform_without_platform_key(tmp_path):
    write_json(tmp_path, '/etc/posfleet/terminal.json', {'terminal_id': 'SH01-T100-01'})
    with pytest.raises(TerminalError) as info:
        platform_at(tmp_path)
    assert str(info.value) == (
        'terminal SH01-T100-01: identity: /etc/posfleet/terminal.json has no "platform" key (supported: '
        'posfleet-reference). Fix: add "platform": "posfleet-reference" to /etc/posfleet/terminal.json')


def test_load_platform_unknown_platform(tmp_path):
    write_json(tmp_path, '/etc/posfleet/terminal.json', {'platform': 'acme-x9'})
    with pytest.raises(TerminalError) as info:
        platform_at(tmp_path)
    assert info.value.terminal == HOST
    assert "platform 'acme-x9' is not supported by posfleet.terminals (supported: posfleet-reference)" in \
        str(info.value)
    assert 'add a platform class' in info.value.fix


def test_load_platform_custom_registry(tmp_path):
    class AcmePlatform(Platform):
        name = 'acme-x9'

    write_json(tmp_path, '/etc/posfleet/terminal.json', {'platform': 'acme-x9', 'terminal_id': 'X1'})
    platform = platform_at(tmp_path, platforms={'acme-x9': AcmePlatform})
    assert isinstance(platform, AcmePlatform)
    assert platform.terminal_id == 'X1'
    with pytest.raises(TerminalError) as info:  # a method the platform does not implement: a clear error
        platform.identity()
    assert str(info.value) == (
        "terminal X1: identity: platform 'acme-x9' does not implement identity(). Fix: use a posfleet.terminals "
        'release whose acme-x9 platform implements identity(), or implement it in its class '
        '(plugins/module_utils/_platform/; see docs/reference-terminal.md)')


# ---------------------------------------------------------------------------------------------- files

def test_identity_and_model(terminal_root):
    platform = platform_at(terminal_root)
    assert platform.identity() == {k: TERMINAL[k] for k in
                                   ('terminal_id', 'serial', 'model', 'store', 'timezone', 'platform')}
    model = platform.model()
    assert model['model'] == 't100'
    assert model['vendor'] == 'PosFleet'
    assert model['hardware_revision'] == 'A'
    assert model['peripherals'] == {'card_reader': True, 'scanner': True, 'printer': True, 'battery': False,
                                    'sensors': True}


def test_identity_defaults_timezone(tmp_path):
    write_json(tmp_path, '/etc/posfleet/terminal.json', {'platform': 'posfleet-reference', 'terminal_id': 'T'})
    assert platform_at(tmp_path).identity()['timezone'] == 'UTC'


def test_model_malformed(terminal_root):
    write_json(terminal_root, '/etc/posfleet/model.json', '{"model": ')
    with pytest.raises(TerminalError) as info:
        platform_at(terminal_root).model()
    assert info.value.step == 'model'
    assert str(info.value).startswith('terminal SH01-T100-01: model: ')


def test_firmware_committed(terminal_root):
    fw = platform_at(terminal_root).firmware()
    assert fw == {
        'active_slot': 'a',
        'inactive_slot': 'b',
        'active_version': '2.3.1',
        'slots': {'a': {'version': '2.3.1', 'present': True, 'models': ['t100', 'm200'], 'security_version': 0},
                  'b': {'version': None, 'present': False, 'models': None, 'security_version': None}},
        'bootenv': {'upgrade_available': 0, 'bootcount': 0, 'bootlimit': 3},
        'state': 'committed',
        'last_fallback': None,
        'last_fallback_reason': None,
        'security_version': 0,
    }


@pytest.mark.parametrize('env,state,bootcount', [
    ({'upgrade_available': 1, 'bootcount': 1}, 'pending_trial', 1),
    ({'upgrade_available': '1', 'bootcount': '2'}, 'pending_trial', 2),  # written by a shell tool
    ({'upgrade_available': '0', 'bootcount': 0}, 'committed', 0),
    ({'upgrade_available': None, 'bootcount': None}, 'committed', 0),
    ({'upgrade_available': True, 'bootcount': 0}, 'pending_trial', 0),
])
def test_firmware_bootenv_parsing(terminal_root, env, state, bootcount):
    write_json(terminal_root, '/var/lib/posboot/env.json', dict(BOOTENV, active_slot='b', **env))
    write_json(terminal_root, '/slots/b/VERSION', '2.4.0')
    fw = platform_at(terminal_root).firmware()
    assert fw['state'] == state
    assert fw['bootenv']['bootcount'] == bootcount
    assert fw['active_slot'] == 'b'
    assert fw['inactive_slot'] == 'a'
    assert fw['active_version'] == '2.4.0'
    assert fw['slots']['b']['models'] is None  # no manifest


def test_firmware_last_fallback(terminal_root):
    write_json(terminal_root, '/var/lib/posboot/env.json', dict(BOOTENV, last_fallback={'from': 'b', 'at': 1}))
    assert platform_at(terminal_root).firmware()['last_fallback'] == {'from': 'b', 'at': 1}


@pytest.mark.parametrize('content,expected', [
    (None, 'does not exist'),
    ('{"active_slot": ', 'is not valid JSON'),
    ('{"active_slot": "c"}', "names active slot 'c'"),
])
def test_firmware_errors(terminal_root, content, expected):
    path = os.path.join(str(terminal_root), 'var/lib/posboot/env.json')
    if content is None:
        os.unlink(path)
    else:
        write_json(terminal_root, '/var/lib/posboot/env.json', content)
    with pytest.raises(TerminalError) as info:
        platform_at(terminal_root).firmware()
    assert info.value.step == 'firmware'
    assert expected in info.value.message
    assert info.value.terminal == 'SH01-T100-01'


def test_uptime(terminal_root):
    now = int(time.time())
    write_json(terminal_root, '/var/lib/posboot/env.json', dict(BOOTENV, last_boot=now - 3600))
    up = platform_at(terminal_root).uptime()
    assert 3599 <= up['uptime_seconds'] <= 3700
    assert up['boot_time'] == utc_iso(now - 3600)
    assert up['boots'] == 12


def test_uptime_unknown(terminal_root):
    write_json(terminal_root, '/var/lib/posboot/env.json', dict(BOOTENV, last_boot=None))
    assert platform_at(terminal_root).uptime() == {'boot_time': None, 'uptime_seconds': None, 'boots': 12}


def test_applications(terminal_root):
    write_json(terminal_root, '/opt/posapps/broken/manifest.json', '{')
    os.makedirs(os.path.join(str(terminal_root), 'opt/posapps/empty-dir'))
    apps = platform_at(terminal_root).applications()
    assert [a['name'] for a in apps] == ['broken', 'emv-kernel', 'loyalty']
    assert apps[1] == {'name': 'emv-kernel', 'version': '7.1.0'}
    assert apps[0]['version'] is None
    assert 'is not valid JSON' in apps[0]['error']


def test_applications_none(tmp_path):
    write_json(tmp_path, '/etc/posfleet/terminal.json', TERMINAL)
    assert platform_at(tmp_path).applications() == []


def test_records(terminal_root):
    platform = platform_at(terminal_root)
    assert platform.records() == {'last_backup': '2026-11-20T02:10:00Z', 'last_credential_rotation': None,
                                  'last_audit': None}
    os.unlink(os.path.join(str(terminal_root), 'var/lib/posfleet/records.json'))
    assert platform.records() == {'last_backup': None, 'last_credential_rotation': None, 'last_audit': None}


def test_disk(terminal_root):
    os.makedirs(os.path.join(str(terminal_root), 'var/lib/posd'), exist_ok=True)
    disk = platform_at(terminal_root).disk()
    assert [d['path'] for d in disk] == ['/', '/var/lib/posd']
    for d in disk:
        assert d['total_bytes'] > 0
        assert 0 <= d['used_pct'] <= 100
        assert d['free_bytes'] <= d['total_bytes']


NO_LEASE = {'expires': None, 'holder': None, 'lease_remaining': None}


def test_maintenance_file_when_posd_is_down(terminal_root):
    platform = platform_at(terminal_root)  # no socket: the persisted state answers, and says so
    assert platform.maintenance_state() == {'enabled': False, 'since': None, 'message': None, 'in_flight': None,
                                            'source': 'file', **NO_LEASE, 'stale': False}
    write_json(terminal_root, '/var/lib/posd/maintenance.json',
               {'enabled': True, 'since': 1700000000, 'message': '功能维护中'})
    assert platform_at(terminal_root).maintenance_state() == {
        'enabled': True, 'since': 1700000000, 'message': '功能维护中', 'in_flight': None, 'source': 'file',
        **NO_LEASE, 'stale': True}  # written without a lease (an older firmware, by hand): no run holds it
    with pytest.raises(TerminalError) as info:
        platform.maintenance_state(live=True)
    assert info.value.step == 'daemon'


def test_live_reads_share_one_status_request(terminal_root, fake_posd):
    server = fake_posd({'ok': True, 'version': '2.3.1', 'slot': 'a', 'pid': 7, 'started': 1, 'in_flight': 2,
                        'maintenance': {'enabled': True, 'since': 5, 'message': 'm'},
                        'hardware': {'printer': {'present': True, 'ok': True, 'detail': 'ok', 'paper_pct': 9}},
                        'journal': {'transactions_today': 3, 'open_batch': {'batch_id': 'B1', 'currency': 'EUR'}}})
    platform = platform_at(terminal_root, socket_path=server.path)
    assert platform.daemon_info() == {'running': True, 'version': '2.3.1', 'slot': 'a', 'pid': 7, 'started': 1,
                                      'error': None}
    assert platform.peripherals()['printer']['paper_pct'] == 9
    assert platform.maintenance_state(live=True) == {'enabled': True, 'since': 5, 'message': 'm', 'in_flight': 2,
                                                     'source': 'daemon', **NO_LEASE, 'stale': True}
    journal = platform.journal_summary()
    assert (journal['currency'], journal['source'], journal['open_batch']['batch_id']) == ('EUR', 'daemon', 'B1')
    assert server.requests == [{'cmd': 'status'}]


@pytest.fixture
def utc(monkeypatch):
    monkeypatch.setenv('TZ', 'UTC')
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


def test_journal_from_database(terminal_root, utc):
    today = utc_iso()[:10]
    make_journal(os.path.join(str(terminal_root), 'var/lib/posd/journal.db'), today)
    journal = platform_at(terminal_root).journal_summary()  # posd is down: read from the database
    assert journal['source'] == 'journal_db'
    assert journal['transactions_today'] == 3
    assert journal['unsettled_batches'] == 1
    assert journal['unsettled_count'] == 2
    assert journal['unsettled_amount_minor'] == 2000
    assert journal['currency'] == 'CNY'
    assert journal['last_transaction'] == today + 'T03:00:00Z'


def test_journal_missing(terminal_root):
    with pytest.raises(TerminalError) as info:
        platform_at(terminal_root).journal_summary()
    assert info.value.step == 'journal'


def test_acquirer_endpoint(terminal_root):
    assert platform_at(terminal_root).acquirer_endpoint() == ('127.0.0.1', 8443)
    write_json(terminal_root, '/etc/posfleet/acquirer.json', {'host': 'acquirer'})
    with pytest.raises(TerminalError) as info:
        platform_at(terminal_root).acquirer_endpoint()
    assert info.value.step == 'acquirer'


# ---------------------------------------------------------------------------------------------- daemon

def test_daemon_not_running_no_socket(terminal_root):
    with pytest.raises(TerminalError) as info:
        platform_at(terminal_root).live_status()
    path = os.path.join(str(terminal_root), 'run/posd/posd.sock')
    assert str(info.value) == (f'terminal SH01-T100-01: daemon: control socket {path} does not exist (posd is not '
                               'running). Fix: check /var/log/posd/posd.log, then reboot the terminal')


def test_daemon_not_running_refused(terminal_root, tmp_path):
    # A socket file left behind by a dead daemon: bound, nobody listening.
    import tempfile
    directory = tempfile.mkdtemp(prefix='pf', dir='/tmp')
    path = os.path.join(directory, 'posd.sock')
    stale = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    stale.bind(path)
    try:
        with pytest.raises(TerminalError) as info:
            platform_at(terminal_root, socket_path=path).live_status()
    finally:
        stale.close()
        os.unlink(path)
        os.rmdir(directory)
    assert str(info.value) == (f'terminal SH01-T100-01: daemon: control socket {path} refused the connection (posd '
                               'is not running). Fix: check /var/log/posd/posd.log, then reboot the terminal')


def test_client_protocol_status(terminal_root, fake_posd):
    server = fake_posd({'ok': True, 'version': '2.3.1', 'slot': 'a', 'in_flight': 0,
                        'maintenance': {'enabled': False, 'since': None, 'message': None}})
    status = platform_at(terminal_root, socket_path=server.path).live_status()
    assert status['version'] == '2.3.1'
    assert 'ok' not in status
    assert server.raw == [b'{"cmd": "status"}\n']  # one JSON line, newline-terminated


def test_client_protocol_arguments(terminal_root, fake_posd):
    server = fake_posd({'ok': True, 'changed': True, 'drained': True, 'in_flight': 0, 'since': 1700000000,
                        'message': '功能维护中'},
                       {'ok': True, 'devices': [{'device': 'printer', 'present': True, 'ok': True}]},
                       {'ok': True, 'changed': True, 'out_of_service_seconds': 42})
    platform = platform_at(terminal_root, socket_path=server.path)
    answer = platform.maintenance_enter('功能维护中', 3)
    assert answer['drained'] is True
    assert platform.selftest(print_receipt=False) == {
        'devices': [{'device': 'printer', 'present': True, 'ok': True}], 'receipt_printed': None}
    assert platform.maintenance_leave()['out_of_service_seconds'] == 42
    assert server.requests == [
        {'cmd': 'maintenance_enter', 'message': '功能维护中', 'drain_timeout': 3, 'lease': 900, 'holder': None},
        {'cmd': 'selftest', 'print_receipt': False},
        {'cmd': 'maintenance_leave'},
    ]


def test_client_answer_without_trailing_newline(terminal_root, fake_posd):
    server = fake_posd(b'{"ok": true, "version": "2.3.1"}')
    assert platform_at(terminal_root, socket_path=server.path).live_status()['version'] == '2.3.1'


def test_client_refusal_names_the_command(terminal_root, fake_posd):
    server = fake_posd({'ok': False, 'error': 'maintenance mode is on: new transactions are refused.'})
    with pytest.raises(TerminalError) as info:
        platform_at(terminal_root, socket_path=server.path).settle()
    assert str(info.value) == ('terminal SH01-T100-01: settle: maintenance mode is on: new transactions are '
                               'refused. Fix: check /var/log/posd/posd.log')


def test_test_transaction_failure_is_data(terminal_root, fake_posd):
    answer = {'ok': False, 'stage': 'handshake', 'error': 'certificate verify failed'}
    server = fake_posd(answer)
    assert platform_at(terminal_root, socket_path=server.path).test_transaction(timeout=3) == dict(
        answer, fix='check the acquirer CA in /etc/posfleet/ca, min_tls in /etc/posfleet/acquirer.json and the '
        'terminal clock')  # the reference platform names its own files in the fix
    assert server.requests == [{'cmd': 'test_transaction', 'timeout': 3}]


@pytest.mark.parametrize('answer,expected', [
    (b'not json\n', 'with a malformed line'),
    (b'[1, 2]\n', 'without an "ok" field'),
    (None, 'closed the connection without answering'),
])
def test_client_bad_answers(terminal_root, fake_posd, answer, expected):
    server = fake_posd(answer)
    with pytest.raises(TerminalError) as info:
        platform_at(terminal_root, socket_path=server.path).live_status()
    assert info.value.step == 'daemon'
    assert expected in info.value.message


def test_client_timeout(fake_posd):
    server = fake_posd('hang')
    client = DaemonClient(server.path, 'SH01-T100-01', timeout=0.3)
    start = time.monotonic()
    with pytest.raises(TerminalError) as info:
        client.call('status')
    assert time.monotonic() - start < 3
    assert "posd did not answer 'status' within 0.3s" in info.value.message
    assert 'if posd is hung, reboot the terminal' in info.value.fix


# ---------------------------------------------------------------------------------------------- network probe

def test_tcp_probe_reachable():
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.bind(('127.0.0.1', 0))
    listener.listen(1)
    port = listener.getsockname()[1]
    try:
        result = tcp_probe('127.0.0.1', port, timeout=2)
    finally:
        listener.close()
    assert result['reachable'] is True
    assert result['connect_ms'] >= 0
    assert result['error'] is None


def test_tcp_probe_refused():
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.bind(('127.0.0.1', 0))
    port = s.getsockname()[1]
    s.close()  # nobody listens there now
    result = tcp_probe('127.0.0.1', port, timeout=2)
    assert result['reachable'] is False
    assert result['connect_ms'] is None
    assert 'refused' in result['error'].lower()


def test_probe_acquirer_uses_the_configured_endpoint(terminal_root, monkeypatch):
    seen = {}

    def fake_probe(host, port, timeout):
        seen.update(host=host, port=port, timeout=timeout)
        return {'host': host, 'port': port, 'reachable': True, 'connect_ms': 1.0, 'error': None}

    from ansible_collections.posfleet.terminals.plugins.module_utils import _platform
    monkeypatch.setattr(_platform.base, 'tcp_probe', fake_probe)
    probe = platform_at(terminal_root).probe_acquirer(timeout=4)
    assert seen == {'host': '127.0.0.1', 'port': 8443, 'timeout': 4}
    assert probe['verify'] is True and probe['config'] == '/etc/posfleet/acquirer.json'


@pytest.mark.parametrize('verify, expected', [(False, False), ('false', None), (0, None)])
def test_probe_acquirer_says_whether_tls_is_verified(terminal_root, monkeypatch, verify, expected):
    from ansible_collections.posfleet.terminals.plugins.module_utils import _platform
    monkeypatch.setattr(_platform.base, 'tcp_probe', lambda host, port, timeout: {
        'host': host, 'port': port, 'reachable': True, 'connect_ms': 1.0, 'error': None})
    write_json(terminal_root, '/etc/posfleet/acquirer.json', {'host': '127.0.0.1', 'port': 8443, 'verify': verify})
    assert platform_at(terminal_root).probe_acquirer()['verify'] is expected


# ---------------------------------------------------------------------------------------------- helpers

@pytest.mark.parametrize('value,expected', [
    (1700000000, 1700000000.0), ('1700000000', 1700000000.0), ('2023-11-14T22:13:20Z', 1700000000.0),
    ('2023-11-14T22:13:20+00:00', 1700000000.0), ('2023-11-14T22:13:20', 1700000000.0), (None, None), ('', None),
    ('yesterday', None), (True, None),
])
def test_parse_time(value, expected):
    assert parse_time(value) == expected


@pytest.mark.parametrize('value,expected', [(1, 1), ('1', 1), ('2.0', 2), (None, 7), ('x', 7), (True, 1)])
def test_as_int(value, expected):
    assert as_int(value, 7) == expected


def test_utc_iso():
    assert utc_iso(1700000000) == '2023-11-14T22:13:20Z'


@pytest.mark.parametrize('enabled, expires, holder, stale, remaining', [
    (False, 1000.0, 'run-1', False, None),  # out of maintenance nothing is stale, whatever the file says
    (True, 1060.0, 'run-1', False, 60.0),  # held, lease running
    (True, 1000.0, 'run-1', True, 0.0),  # the lease ends now: the terminal should have left
    (True, 940.0, 'run-1', True, -60.0),  # ran out a minute ago and still on
    (True, 1060.0, None, True, 60.0),  # entered by hand: no run holds it
    (True, 1060.0, '', True, 60.0),
    (True, None, 'run-1', True, None),  # no lease at all (an older firmware)
    (True, True, 'run-1', True, None),  # a boolean is not a time
])
def test_maintenance_lease(enabled, expires, holder, stale, remaining):
    from ansible_collections.posfleet.terminals.plugins.module_utils._platform import maintenance_lease

    lease = maintenance_lease(enabled, expires, holder, now=1000.0)
    assert lease['stale'] is stale
    assert lease['lease_remaining'] == remaining


@pytest.mark.parametrize('expires, holder', [
    (float('nan'), 'run-1'), (float('inf'), 'run-1'), (1060.0, 'run-1\nSH99: healthy'), (1060.0, '\x1b[2J'),
    (1060.0, 'x' * 201), (1060.0, 7),
])
def test_maintenance_lease_counts_what_a_run_would_not_write_as_missing(expires, holder):
    from ansible_collections.posfleet.terminals.plugins.module_utils._platform import maintenance_lease

    assert maintenance_lease(True, expires, holder, now=1000.0)['stale'] is True
