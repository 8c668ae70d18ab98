# Copyright (c) posfleet developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The modules' main(): argument spec, check/diff mode plumbing, exit and failure paths."""

from __future__ import annotations

import json

import pytest
from ansible.module_utils.testing import patch_module_args

from ansible_collections.posfleet.terminals.plugins.module_utils._platform import load_platform
from ansible_collections.posfleet.terminals.plugins.modules import facts, maintenance_mode, selftest

HW = {
    'card_reader': {'present': True, 'ok': True, 'detail': 'ok', 'status': 'ok'},
    'scanner': {'present': True, 'ok': True, 'detail': 'ok', 'status': 'ok'},
    'printer': {'present': True, 'ok': True, 'detail': 'ok', 'paper_pct': 3, 'jam': False, 'head_wear_km': 1,
                'head_life_km': 150, 'cover_open': False},
    'battery': {'present': False, 'ok': None, 'detail': 'not present'},
    'sensors': {'present': True, 'ok': True, 'detail': 'ok', 'temperature_c': 30},
}


def status(enabled=False, message=None):
    return {'ok': True, 'version': '2.3.1', 'slot': 'a', 'in_flight': 0, 'hardware': HW, 'journal': {},
            'maintenance': {'enabled': enabled, 'since': 1700000000 if enabled else None, 'message': message}}


SELFTEST = {'ok': True, 'devices': [dict(HW[d], device=d, latency_ms=1) for d in HW]}


@pytest.fixture
def run_module(terminal_root, fake_posd, monkeypatch, capsys):
    """``run(module, args, *answers)`` -> (result dict, requests the fake posd received)."""

    def run(module, args, *answers):
        server = fake_posd(*answers) if answers else None

        def fake_load_platform():
            platform = load_platform(root=str(terminal_root), socket_path=server.path if server else None)
            platform.probe_acquirer = lambda timeout=5: {'host': 'acquirer', 'port': 8443, 'reachable': True,
                                                         'connect_ms': 1.0, 'error': None, 'verify': True}
            return platform

        monkeypatch.setattr(module, 'load_platform', fake_load_platform)
        with patch_module_args(args), pytest.raises(SystemExit):
            module.main()
        out = capsys.readouterr().out
        return json.loads(out), (server.requests if server else [])

    return run


def test_facts_module(run_module):
    result, requests = run_module(facts, {}, status())
    assert result['changed'] is False
    posfleet = result['ansible_facts']['posfleet']
    assert posfleet['identity']['terminal_id'] == 'SH01-T100-01'
    assert posfleet['daemon']['running'] is True
    assert 'warnings' not in result


def test_facts_module_daemon_down_warns(run_module):
    result, dummy = run_module(facts, {})
    assert result.get('failed') is not True
    assert result['ansible_facts']['posfleet']['daemon']['running'] is False
    warnings = json.dumps(result['warnings'], ensure_ascii=False)  # 2.19 returns structured warnings
    assert 'terminal SH01-T100-01: daemon: control socket' in warnings
    assert 'posd is not running' in warnings


def test_facts_module_rejects_unknown_subset(run_module):
    result, dummy = run_module(facts, {'gather_subset': ['bogus']})
    assert result['failed'] is True
    assert 'gather_subset' in result['msg']


def test_facts_module_bad_identity(run_module, terminal_root):
    (terminal_root / 'etc' / 'posfleet' / 'terminal.json').write_text('{"platform": "acme"}')
    result, dummy = run_module(facts, {})
    assert result['failed'] is True
    assert result['step'] == 'identity'
    assert "platform 'acme' is not supported" in result['msg']


def test_selftest_module_fails_with_results(run_module):
    tx = {'ok': True, 'approved': True, 'response_ms': 80, 'handshake_ms': 10, 'tls_version': 'TLSv1.3'}
    result, requests = run_module(selftest, {}, status(), SELFTEST, tx)
    assert result['failed'] is True
    assert result['changed'] is False
    assert result['msg'] == ('terminal SH01-T100-01: selftest: 1 check failed (fail_on=critical): printer: paper at '
                             '3% (fail below 5%): load a new paper roll')
    assert len(result['checks']) == 10
    assert result['summary']['fail'] == 1


def test_selftest_module_threshold_option_and_check_mode(run_module):
    result, requests = run_module(selftest, {'paper_fail_pct': 2, '_ansible_check_mode': True}, status(), SELFTEST)
    assert result.get('failed') is not True
    assert [r['cmd'] for r in requests] == ['status', 'selftest']
    assert requests[1]['print_receipt'] is False
    checks = {c['name']: c for c in result['checks']}
    assert checks['printer']['status'] == 'warn'
    assert checks['acquirer_transaction']['reason'] == 'skipped in check mode'


def test_selftest_module_daemon_down_is_a_check_not_a_traceback(run_module):
    result, dummy = run_module(selftest, {'fail_on': 'never'})
    assert result.get('failed') is not True
    assert result['healthy'] is False
    checks = {c['name']: c for c in result['checks']}
    assert checks['daemon']['status'] == 'fail'


@pytest.mark.parametrize('diff', [True, False])
def test_maintenance_module_check_mode_and_diff(run_module, diff):
    result, requests = run_module(maintenance_mode, {'state': 'enabled', '_ansible_check_mode': True,
                                                     '_ansible_diff': diff}, status())
    assert result['changed'] is True
    assert [r['cmd'] for r in requests] == ['status']
    assert ('diff' in result) is diff
    if diff:
        assert result['diff']['after'] == {'enabled': True, 'message': '功能维护中'}


def test_maintenance_module_requires_state(run_module):
    result, dummy = run_module(maintenance_mode, {})
    assert result['failed'] is True
    assert 'state' in result['msg']


def test_maintenance_module_daemon_down_fails_clearly(run_module):
    result, dummy = run_module(maintenance_mode, {'state': 'disabled'})
    assert result['failed'] is True
    assert result['step'] == 'daemon'
    assert result['msg'].startswith('terminal SH01-T100-01: daemon: control socket ')
    assert result['msg'].endswith('Fix: check /var/log/posd/posd.log, then reboot the terminal')


def test_maintenance_module_disable(run_module):
    result, requests = run_module(maintenance_mode, {'state': 'disabled'}, status(True, '功能维护中'),
                                  {'ok': True, 'changed': True, 'out_of_service_seconds': 60})
    assert result['changed'] is True
    assert result['out_of_service_seconds'] == 60
    assert 'diff' not in result


def test_pan_scan_module(tmp_path, capsys):
    from ansible_collections.posfleet.terminals.plugins.modules import pan_scan

    (tmp_path / 'debug.log').write_text('DEBUG track2 equivalent pan=4111111111111111 exp=2812\n')
    key = 'fleet-key-kept-in-the-vault'
    # low_priority off: the module runs inside the pytest process, which would then stay at idle priority.
    args = {'paths': [str(tmp_path)], 'hash_key': key, 'low_priority': False}
    with patch_module_args(args), pytest.raises(SystemExit):
        pan_scan.main()
    result = json.loads(capsys.readouterr().out)
    assert result['changed'] is False and result['found'] is True and result['complete'] is True
    assert result['pan_count'] == 1 and result['sad_count'] == 1
    assert result['findings'][0]['hash'].startswith('hmac-sha256:')
    assert 'skipped' not in result and result['skipped_paths'] == []
    assert '4111111111111111' not in json.dumps(result) and '411111' not in json.dumps(result)
    assert key not in json.dumps(result)
    assert result['invocation']['module_args']['hash_key'] == 'VALUE_SPECIFIED_IN_NO_LOG_PARAMETER'
    with patch_module_args(dict(args, fail_on_findings=True)), pytest.raises(SystemExit):
        pan_scan.main()
    failed = json.loads(capsys.readouterr().out)
    assert failed['failed'] is True and 'pan_scan: 1 card number(s)' in failed['msg'] and 'Fix:' in failed['msg']
    assert '4111111111111111' not in json.dumps(failed) and key not in json.dumps(failed)
    assert 'hmac-sha256' not in json.dumps(failed)  # no hashes in a failure


def test_pan_scan_module_key_and_deprecated_salt(tmp_path, capsys):
    from ansible_collections.posfleet.terminals.plugins.modules import pan_scan

    (tmp_path / 'debug.log').write_text('pan=4111111111111111\n')
    with patch_module_args({'paths': [str(tmp_path)], 'hash_key': 'short-key', 'low_priority': False}), \
            pytest.raises(SystemExit):
        pan_scan.main()
    short = capsys.readouterr().out
    assert json.loads(short)['failed'] is True and 'short-key' not in short
    old_key = 'old-salt-of-the-fleet-run'
    with patch_module_args({'paths': [str(tmp_path)], 'salt': old_key, 'low_priority': False}), \
            pytest.raises(SystemExit):
        pan_scan.main()
    out = capsys.readouterr().out
    result = json.loads(out)
    assert result['pan_count'] == 1 and old_key not in out
    assert "'salt'" in json.dumps(result.get('deprecations'))


def test_pci_audit_module(monkeypatch, capsys):
    from ansible_collections.posfleet.terminals.plugins.modules import pci_audit

    calls = []

    def fake_audit(opts, fim_update=False, check_mode=False, platform=None):
        assert platform.terminal_id == 'BER01-LEGACY-01'
        calls.append((opts, fim_update, check_mode))
        controls = [{'id': 'password_min_length', 'status': 'fail', 'evidence': 'minlen = 6'},
                    {'id': 'acquirer_tls_version', 'status': 'waived', 'evidence': 'min_tls 1.0'}]
        return {'controls': controls, 'changed': fim_update and not check_mode, 'duration_ms': 1,
                'summary': {'pass': 0, 'fail': 1, 'waived': 1, 'compliant': False}}

    monkeypatch.setattr(pci_audit, 'audit', fake_audit)
    monkeypatch.setattr(pci_audit, 'load_platform', type('Terminal', (), {'terminal_id': 'BER01-LEGACY-01'}))
    waiver = {'id': 'acquirer_tls_version', 'reason': 'CHG-1', 'expires': '2999-01-01'}
    with patch_module_args({'waivers': [waiver], 'default_passwords': ['secret-default'], 'low_priority': False}), \
            pytest.raises(SystemExit):
        pci_audit.main()
    result = json.loads(capsys.readouterr().out)
    assert result['terminal_id'] == 'BER01-LEGACY-01' and result['changed'] is False
    assert calls[0][0]['waivers'] == [waiver] and len(calls[0][0]['pan_hash_key']) >= 16
    assert 'secret-default' not in json.dumps(result)
    failing_args = {'fail_on': 'fail', 'fim_update': True, '_ansible_check_mode': True, 'low_priority': False}
    with patch_module_args(failing_args), pytest.raises(SystemExit):
        pci_audit.main()
    failed = json.loads(capsys.readouterr().out)
    assert failed['failed'] is True and calls[1][1:] == (True, True)
    assert failed['msg'].startswith('terminal BER01-LEGACY-01: pci_audit: 1 controls fail: password_min_length')
    assert 'Fix: run the posfleet.terminals.pci_baseline role' in failed['msg']
    with patch_module_args({'waivers': [{'id': 'x', 'reason': 'r'}]}), pytest.raises(SystemExit):
        pci_audit.main()
    assert 'expires' in json.loads(capsys.readouterr().out)['msg']
