# Copyright (c) posfleet developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The module logic (facts, selftest, maintenance_mode) end to end: files + a fake posd on a real socket."""

from __future__ import annotations

import copy
import os
import time

import pytest
from terminal_tree import HARDWARE, make_journal, write_json

from ansible_collections.posfleet.terminals.plugins.module_utils import _facts, _maintenance, _selftest
from ansible_collections.posfleet.terminals.plugins.module_utils._platform import (
    TerminalError,
    load_platform,
)
from ansible_collections.posfleet.terminals.plugins.module_utils._time import utc_iso

JOURNAL = {'transactions_today': 412, 'last_transaction': '2026-11-20T09:59:55Z',
           'open_batch': {'batch_id': 'B7', 'count': 412, 'amount_minor': 1234500, 'currency': 'CNY'},
           'unsettled_batches': 1, 'unsettled_count': 412, 'unsettled_amount_minor': 1234500}


def status(enabled=False, message=None, since=None, in_flight=0, **hardware):
    hw = copy.deepcopy(HARDWARE)
    for device, changes in hardware.items():
        hw[device].update(changes)
    return {'ok': True, 'version': '2.3.1', 'slot': 'a', 'pid': 42, 'started': 1700000000,
            'maintenance': {'enabled': enabled, 'since': since, 'message': message}, 'in_flight': in_flight,
            'hardware': hw, 'journal': copy.deepcopy(JOURNAL)}


SELFTEST = {'ok': True, 'receipt_printed': True, 'devices': [
    {'device': 'card_reader', 'present': True, 'ok': True, 'latency_ms': 40, 'detail': 'ok'},
    {'device': 'scanner', 'present': True, 'ok': True, 'latency_ms': 30, 'detail': 'ok'},
    {'device': 'printer', 'present': True, 'ok': True, 'latency_ms': 120, 'detail': 'ok'},
    {'device': 'battery', 'present': False, 'ok': None, 'latency_ms': None, 'detail': 'not present'},
    {'device': 'sensors', 'present': True, 'ok': True, 'latency_ms': 5, 'detail': 'ok'},
]}
NO_RECEIPT = dict(SELFTEST, receipt_printed=False)  # what posd answers when asked not to print
TX = {'ok': True, 'approved': True, 'auth_code': 'A1B2C3', 'tls_version': 'TLSv1.3', 'cipher': 'TLS_AES_128_GCM_SHA256',
      'connect_ms': 2, 'handshake_ms': 12, 'response_ms': 85, 'acquirer': 'acquirer:8443'}


@pytest.fixture
def terminal(terminal_root, fake_posd, monkeypatch):
    """``start(*answers)`` -> (platform, server); the acquirer probe always succeeds."""

    def start(*answers):
        server = fake_posd(*answers)
        platform = load_platform(root=str(terminal_root), socket_path=server.path)
        monkeypatch.setattr(platform, 'probe_acquirer', lambda timeout=5: {
            'host': 'acquirer', 'port': 8443, 'reachable': True, 'connect_ms': 1.5, 'error': None, 'verify': True})
        return platform, server

    return start


@pytest.fixture
def down(terminal_root, monkeypatch):
    platform = load_platform(root=str(terminal_root))  # no socket in the tree: posd is not running
    monkeypatch.setattr(platform, 'probe_acquirer', lambda timeout=5: {
        'host': 'acquirer', 'port': 8443, 'reachable': True, 'connect_ms': 1.5, 'error': None, 'verify': True})
    return platform


# ---------------------------------------------------------------------------------------------- facts

def test_facts_all(terminal):
    platform, server = terminal(status())
    facts, warnings = _facts.gather(platform)
    assert warnings == []
    assert [r['cmd'] for r in server.requests] == ['status']  # one daemon request for everything
    assert facts['identity']['terminal_id'] == 'SH01-T100-01'
    assert facts['identity']['vendor'] == 'PosFleet'
    assert facts['firmware']['active_version'] == '2.3.1'
    assert facts['firmware']['state'] == 'committed'
    assert facts['applications'] == [{'name': 'emv-kernel', 'version': '7.1.0'},
                                     {'name': 'loyalty', 'version': '1.2.0'}]
    assert facts['peripherals']['printer']['paper_pct'] == 80
    assert facts['peripherals']['printer']['present'] is True
    assert facts['peripherals']['battery']['present'] is False
    assert facts['battery'] is None
    assert facts['sensors']['temperature_c'] == 38.5
    assert facts['boot_time'] == '2023-11-14T22:13:20Z'
    assert facts['uptime_seconds'] > 0
    assert facts['maintenance'] == {'enabled': False, 'since': None, 'message': None, 'source': 'daemon',
                                    'expires': None, 'holder': None, 'stale': False}
    assert facts['journal']['transactions_today'] == 412
    assert facts['journal']['currency'] == 'CNY'
    assert facts['journal']['source'] == 'daemon'
    assert facts['records']['last_backup'] == '2026-11-20T02:10:00Z'
    assert facts['daemon'] == {'running': True, 'version': '2.3.1', 'slot': 'a', 'pid': 42, 'started': 1700000000,
                               'error': None}
    assert [d['path'] for d in facts['disk']] == ['/', '/var/lib/posd']
    assert facts['collected_at'].endswith('Z')


def test_facts_daemon_down_still_returns_files(down, terminal_root, monkeypatch):
    monkeypatch.setenv('TZ', 'UTC')  # "today" is the terminal's local day
    time.tzset()
    make_journal(os.path.join(str(terminal_root), 'var/lib/posd/journal.db'), utc_iso()[:10])
    write_json(terminal_root, '/var/lib/posd/maintenance.json', {'enabled': True, 'since': 1700000000,
                                                                 'message': '功能维护中'})
    facts, warnings = _facts.gather(down)
    assert len(warnings) == 1
    assert warnings[0].startswith('terminal SH01-T100-01: daemon: control socket ')
    assert '(posd is not running)' in warnings[0]
    assert facts['daemon']['running'] is False
    assert facts['daemon']['error'].startswith('terminal SH01-T100-01: daemon: ')
    assert facts['firmware']['active_slot'] == 'a'
    assert facts['maintenance'] == {'enabled': True, 'since': 1700000000, 'message': '功能维护中', 'source': 'file',
                                    'expires': None, 'holder': None, 'stale': True}
    assert facts['journal']['source'] == 'journal_db'
    assert facts['journal']['unsettled_count'] == 2
    assert facts['peripherals']['printer']['ok'] is None
    assert facts['peripherals']['printer']['detail'].startswith('unknown: control socket ')
    assert facts['peripherals']['battery']['detail'] is None


def test_facts_missing_boot_environment_is_a_warning(terminal):
    platform, dummy = terminal(status())
    os.unlink(platform.path('/var/lib/posboot/env.json'))
    facts, warnings = _facts.gather(platform)
    assert facts['firmware'] is None
    assert facts['uptime_seconds'] is None
    assert any(w.startswith('terminal SH01-T100-01: firmware: ') for w in warnings)


def test_facts_subset_without_daemon(down):
    facts, warnings = _facts.gather(down, ['firmware', 'disk'])
    assert warnings == []  # nothing asked the daemon
    assert set(facts) == {'identity', 'firmware', 'disk', 'subsets', 'collected_at'}


@pytest.mark.parametrize('requested,expected', [
    (None, list(_facts.SUBSETS)),
    (['all'], list(_facts.SUBSETS)),
    (['firmware'], ['identity', 'firmware']),
    (['all', '!journal', '!daemon'], [s for s in _facts.SUBSETS if s not in ('journal', 'daemon')]),
    (['!journal'], [s for s in _facts.SUBSETS if s != 'journal']),
    (['!identity'], list(_facts.SUBSETS)),  # identity is always gathered
])
def test_resolve_subsets(requested, expected):
    assert _facts.resolve_subsets(requested) == expected


# ---------------------------------------------------------------------------------------------- selftest

def by_name(result):
    return {c['name']: c for c in result['checks']}


def test_selftest_healthy(terminal):
    platform, server = terminal(status(), SELFTEST, TX)
    result, failure = _selftest.run(platform)
    assert failure is None
    assert result['healthy'] is True
    assert result['summary'] == {'pass': 8, 'warn': 0, 'fail': 0, 'not_applicable': 2, 'healthy': True}
    assert result['receipt_printed'] is True  # as posd says
    assert result['terminal_id'] == 'SH01-T100-01'
    assert result['model'] == 't100'
    assert [r['cmd'] for r in server.requests] == ['status', 'selftest', 'test_transaction']
    assert server.requests[1]['print_receipt'] is True
    assert server.requests[2]['timeout'] == 10
    assert by_name(result)['acquirer_transaction']['details']['tls_version'] == 'TLSv1.3'


def test_selftest_check_mode_is_non_intrusive(terminal):
    platform, server = terminal(status(), NO_RECEIPT)
    result, failure = _selftest.run(platform, check_mode=True)
    assert failure is None
    assert [r['cmd'] for r in server.requests] == ['status', 'selftest']
    assert server.requests[1]['print_receipt'] is False
    assert result['receipt_printed'] is False
    tx = by_name(result)['acquirer_transaction']
    assert (tx['status'], tx['reason']) == ('not_applicable', 'skipped in check mode')


def test_selftest_transaction_disabled(terminal):
    platform, server = terminal(status(), NO_RECEIPT)
    result, dummy = _selftest.run(platform, transaction=False, print_receipt=False)
    assert [r['cmd'] for r in server.requests] == ['status', 'selftest']
    assert result['receipt_printed'] is False
    assert by_name(result)['acquirer_transaction']['reason'] == 'test transaction disabled (transaction=false)'


def test_selftest_paper_out_fails_on_critical(terminal):
    platform, dummy = terminal(status(printer={'paper_pct': 0, 'ok': False, 'detail': 'paper out'}), SELFTEST, TX)
    result, failure = _selftest.run(platform)
    assert result['healthy'] is False
    assert failure == ('terminal SH01-T100-01: selftest: 1 check failed (fail_on=critical): printer: paper at 0% '
                       '(fail below 5%): load a new paper roll')


def test_selftest_fail_on_never(terminal):
    platform, dummy = terminal(status(printer={'paper_pct': 0}), SELFTEST, TX)
    result, failure = _selftest.run(platform, fail_on='never')
    assert failure is None
    assert result['healthy'] is False


def test_selftest_custom_threshold(terminal):
    platform, dummy = terminal(status(printer={'paper_pct': 25}), SELFTEST, TX)
    result, dummy = _selftest.run(platform, paper_warn_pct=30)
    assert by_name(result)['printer']['status'] == 'warn'


def test_selftest_transaction_failure(terminal):
    platform, dummy = terminal(status(), SELFTEST, {'ok': False, 'stage': 'connect', 'error': 'connection refused'})
    result, failure = _selftest.run(platform)
    assert by_name(result)['acquirer_transaction']['status'] == 'fail'
    assert 'acquirer_transaction: test transaction failed at connect (connection refused)' in failure


def test_selftest_daemon_down(down):
    result, failure = _selftest.run(down)
    daemon = by_name(result)['daemon']
    assert daemon['status'] == 'fail'
    assert daemon['reason'].startswith('control socket ')
    assert daemon['reason'].endswith('(posd is not running): check /var/log/posd/posd.log, then reboot the terminal')
    assert failure.startswith('terminal SH01-T100-01: selftest: 1 check failed (fail_on=critical): daemon: ')
    assert by_name(result)['network']['status'] == 'pass'
    assert result['receipt_printed'] is False


def test_selftest_acquirer_config_missing(terminal_root, fake_posd):
    server = fake_posd(status(), SELFTEST, TX)
    os.unlink(os.path.join(str(terminal_root), 'etc/posfleet/acquirer.json'))
    platform = load_platform(root=str(terminal_root), socket_path=server.path)
    result, failure = _selftest.run(platform)
    network = by_name(result)['network']
    assert network['status'] == 'fail'
    assert network['reason'].startswith('acquirer endpoint unknown (')
    assert 'network: acquirer endpoint unknown' in failure


# ---------------------------------------------------------------------------------------------- maintenance

ENTERED = {'ok': True, 'changed': True, 'drained': True, 'in_flight': 0, 'since': 1700000000, 'message': '功能维护中'}


def test_enable_check_mode(terminal):
    platform, server = terminal(status())
    result, warnings = _maintenance.run(platform, 'enabled', check_mode=True)
    assert [r['cmd'] for r in server.requests] == ['status']
    assert result['changed'] is True
    assert result['enabled'] is True
    assert result['message'] == '功能维护中'
    assert result['diff'] == {'before': {'enabled': False, 'message': None},
                              'after': {'enabled': True, 'message': '功能维护中'}}
    assert warnings == []


def test_enable(terminal):
    platform, server = terminal(status(), ENTERED)
    result, warnings = _maintenance.run(platform, 'enabled', drain_timeout=7)
    assert server.requests[1] == {'cmd': 'maintenance_enter', 'message': '功能维护中', 'drain_timeout': 7,
                                  'lease': 900, 'holder': None}
    assert result['changed'] is True
    assert result['drained'] is True
    assert result['since'] == 1700000000
    assert result['out_of_service_seconds'] is None
    assert result['terminal_id'] == 'SH01-T100-01'
    assert warnings == []


@pytest.mark.parametrize('language, message', [('en', 'Under maintenance'), ('de', 'In Wartung')])
def test_enable_default_message_of_the_language(terminal, language, message):
    platform, server = terminal(status(), dict(ENTERED, message=message))
    result, dummy = _maintenance.run(platform, 'enabled', language=language)
    assert server.requests[1]['message'] == message
    assert result['message'] == message


def test_enable_again_same_message_is_unchanged_in_check_mode(terminal):
    platform, server = terminal(status(enabled=True, message='功能维护中', since=1700000000))
    result, dummy = _maintenance.run(platform, 'enabled', check_mode=True)
    assert [r['cmd'] for r in server.requests] == ['status']
    assert result['changed'] is False
    assert result['drained'] is True
    assert result['renewed'] is False
    assert result['since'] == 1700000000


RENEWED = {'ok': True, 'changed': False, 'renewed': True, 'since': 1700000000, 'expires': 1700000960.5,
           'holder': 'run-7'}


def test_enable_again_renews_the_lease_and_is_no_change(terminal):
    platform, server = terminal(status(enabled=True, message='功能维护中', since=1700000000), RENEWED)
    result, dummy = _maintenance.run(platform, 'enabled', lease=60, holder='run-7')
    assert server.requests[1] == {'cmd': 'maintenance_renew', 'lease': 60, 'holder': 'run-7'}
    assert result['changed'] is False
    assert (result['renewed'], result['expires'], result['holder'], result['stale']) == (
        True, 1700000960.5, 'run-7', False)
    assert result['since'] == 1700000000


def test_enable_again_after_the_lease_ran_out_enters_again(terminal):
    # The lease ran out between the status read and the renewal: posd refuses the renewal, the run enters again.
    platform, server = terminal(status(enabled=True, message='功能维护中', since=1700000000),
                                {'ok': False, 'error': 'not in maintenance mode (its lease may have run out)'},
                                dict(ENTERED, expires=1700000900, holder='run-7'))
    result, dummy = _maintenance.run(platform, 'enabled', holder='run-7')
    assert [r['cmd'] for r in server.requests] == ['status', 'maintenance_renew', 'maintenance_enter']
    assert result['changed'] is True
    assert result['renewed'] is False
    assert result['expires'] == 1700000900


def test_enable_without_holder_is_stale_at_once(terminal):
    platform, dummy = terminal(status(), dict(ENTERED, expires=1700000900, holder=None))
    result, dummy = _maintenance.run(platform, 'enabled')
    assert result['stale'] is True


@pytest.mark.parametrize('option, value', [
    ('drain_timeout', -1), ('drain_timeout', 3601), ('drain_timeout', 10 ** 12),
    ('lease', 0), ('lease', 9), ('lease', 86401), ('lease', -5),
])
def test_out_of_range_numbers_fail_before_anything_is_sent(terminal, option, value):
    platform, server = terminal(status())
    with pytest.raises(TerminalError) as info:
        _maintenance.run(platform, 'enabled', **{option: value})
    assert server.requests == []
    expected = f'terminal SH01-T100-01: maintenance_mode: option {option}={value} is out of range'
    assert str(info.value).startswith(expected)
    assert 'nothing was changed' in str(info.value) and 'Fix: set ' + option in str(info.value)


def test_holder_with_a_control_character_is_refused(terminal):
    platform, server = terminal(status())
    with pytest.raises(TerminalError):
        _maintenance.run(platform, 'enabled', holder='run\n7')
    assert server.requests == []


def test_enable_with_other_message_is_resent(terminal):
    platform, server = terminal(status(enabled=True, message='功能维护中'), dict(ENTERED, message='Back soon'))
    result, dummy = _maintenance.run(platform, 'enabled', message='Back soon')
    assert server.requests[1]['message'] == 'Back soon'
    assert result['changed'] is True
    assert result['diff']['before']['message'] == '功能维护中'
    assert result['diff']['after']['message'] == 'Back soon'


def test_enable_again_waits_for_transactions_still_in_flight(terminal):
    platform, server = terminal(status(enabled=True, message='功能维护中', in_flight=2),
                                dict(ENTERED, changed=False))
    result, dummy = _maintenance.run(platform, 'enabled')
    assert [r['cmd'] for r in server.requests] == ['status', 'maintenance_enter']
    assert result['changed'] is False
    assert result['drained'] is True


def test_enable_drain_timeout(terminal):
    platform, dummy = terminal(status(in_flight=1), dict(ENTERED, drained=False, in_flight=1))
    result, warnings = _maintenance.run(platform, 'enabled', drain_timeout=2)
    assert result['enabled'] is True
    assert result['drained'] is False
    assert result['in_flight'] == 1
    assert warnings == ['terminal SH01-T100-01: maintenance_enter: 1 transaction(s) still in flight after 2s; '
                        'new transactions are refused, but work on the terminal may interrupt the ones in flight']


def test_disable(terminal):
    platform, server = terminal(status(enabled=True, message='功能维护中', since=1700000000),
                                {'ok': True, 'changed': True, 'out_of_service_seconds': 312})
    result, dummy = _maintenance.run(platform, 'disabled')
    assert [r['cmd'] for r in server.requests] == ['status', 'maintenance_leave']
    assert result['changed'] is True
    assert result['enabled'] is False
    assert result['message'] is None
    assert result['out_of_service_seconds'] == 312
    assert result['diff'] == {'before': {'enabled': True, 'message': '功能维护中'},
                              'after': {'enabled': False, 'message': None}}


def test_disable_check_mode_reports_time_so_far(terminal):
    since = utc_iso(time.time() - 120)
    platform, server = terminal(status(enabled=True, message='功能维护中', since=since))
    result, dummy = _maintenance.run(platform, 'disabled', check_mode=True)
    assert [r['cmd'] for r in server.requests] == ['status']
    assert result['changed'] is True
    assert 119 <= result['out_of_service_seconds'] <= 200


@pytest.mark.parametrize('check_mode', [True, False])
def test_disable_when_disabled(terminal, check_mode):
    platform, server = terminal(status())
    result, dummy = _maintenance.run(platform, 'disabled', check_mode=check_mode)
    assert [r['cmd'] for r in server.requests] == ['status']
    assert result['changed'] is False
    assert result['out_of_service_seconds'] == 0


def test_maintenance_daemon_down(down):
    with pytest.raises(TerminalError) as info:
        _maintenance.run(down, 'disabled')
    assert str(info.value).startswith('terminal SH01-T100-01: daemon: control socket ')


def test_maintenance_refused(terminal):
    platform, dummy = terminal(status(), {'ok': False, 'error': 'display unavailable'})
    with pytest.raises(TerminalError) as info:
        _maintenance.run(platform, 'enabled')
    assert str(info.value) == ('terminal SH01-T100-01: maintenance_enter: display unavailable. '
                               'Fix: check /var/log/posd/posd.log')
