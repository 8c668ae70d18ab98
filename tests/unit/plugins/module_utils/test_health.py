# Copyright (c) posfleet developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

import copy

import pytest
from terminal_tree import HARDWARE

from ansible_collections.posfleet.terminals.plugins.module_utils._health import (
    CHECK_NAMES,
    DEFAULT_THRESHOLDS,
    evaluate,
    failing,
    failure_message,
    fmt,
    should_fail,
    summarize,
    thresholds,
)

T100 = {'model': 't100', 'peripherals': {'card_reader': True, 'scanner': True, 'printer': True, 'battery': False,
                                         'sensors': True}}
M200 = {'model': 'm200', 'peripherals': {'card_reader': True, 'scanner': False, 'printer': True, 'battery': True,
                                         'sensors': True}}

SELFTEST = [
    {'device': 'card_reader', 'present': True, 'ok': True, 'latency_ms': 40, 'detail': 'ok'},
    {'device': 'scanner', 'present': True, 'ok': True, 'latency_ms': 30, 'detail': 'ok'},
    {'device': 'printer', 'present': True, 'ok': True, 'latency_ms': 120, 'detail': 'ok'},
    {'device': 'battery', 'present': False, 'ok': None, 'latency_ms': None, 'detail': 'not present'},
    {'device': 'sensors', 'present': True, 'ok': True, 'latency_ms': 5, 'detail': 'ok'},
]
PROBE = {'host': 'acquirer', 'port': 8443, 'reachable': True, 'connect_ms': 2.5, 'error': None, 'verify': True,
         'config': '/etc/posfleet/acquirer.json'}
TX = {'ok': True, 'approved': True, 'auth_code': 'A1B2C3', 'tls_version': 'TLSv1.3', 'cipher': 'TLS_AES_256_GCM_SHA384',
      'connect_ms': 2, 'handshake_ms': 12, 'response_ms': 85, 'acquirer': 'acquirer:8443'}
KEYS = {'name', 'status', 'critical', 'latency_ms', 'reason', 'value', 'details'}


def status(**hardware):
    hw = copy.deepcopy(HARDWARE)
    for device, changes in hardware.items():
        hw.setdefault(device, {}).update(changes)
    return {'version': '2.3.1', 'slot': 'a', 'pid': 42, 'started': 1700000000, 'hardware': hw, 'in_flight': 0}


DEFAULT = object()


def live(st):
    """A posd-style status as the platform's typed reads hand it to evaluate()."""
    return {'hardware': st['hardware'],
            'daemon': {k: st[k] for k in ('version', 'slot', 'pid', 'started')}}


def run(model=None, hw=None, devices=DEFAULT, probe=DEFAULT, tx=DEFAULT, limits=None, **kwargs):
    """Evaluate a t100 that is healthy except for what the arguments change; checks by name."""
    st = kwargs.pop('st', None) or status(**(hw or {}))
    checks = evaluate(model or T100, **live(st), devices=copy.deepcopy(SELFTEST if devices is DEFAULT else devices),
                      probe=PROBE if probe is DEFAULT else probe, transaction=TX if tx is DEFAULT else tx,
                      limits=limits, **kwargs)
    return {c['name']: c for c in checks}


M200_HW = {'battery': {'present': True, 'ok': True, 'detail': 'ok', 'charge_pct': 86, 'health_pct': 93,
                       'cycle_count': 212, 'charging': False},
           'scanner': {'present': False, 'ok': None, 'detail': 'not present'}}


def run_m200(battery=None, **kwargs):
    hw = copy.deepcopy(M200_HW)
    hw['battery'].update(battery or {})
    devices = [d for d in SELFTEST if d['device'] not in ('battery', 'scanner')]
    live = {k: hw['battery'][k] for k in ('present', 'ok', 'detail')}
    devices += [dict({'device': 'battery', 'latency_ms': 3}, **live),
                {'device': 'scanner', 'present': False, 'ok': None, 'latency_ms': None, 'detail': 'not present'}]
    return run(model=M200, hw=hw, devices=devices, **kwargs)


# ---------------------------------------------------------------------------------------------- shape

def test_healthy_t100_all_checks_in_order_with_stable_keys():
    checks = evaluate(T100, **live(status()), devices=SELFTEST, probe=PROBE, transaction=TX)
    assert [c['name'] for c in checks] == list(CHECK_NAMES)
    for c in checks:
        assert set(c) == KEYS
        assert c['status'] in ('pass', 'not_applicable'), c
        assert isinstance(c['reason'], str) and c['reason']
    by = {c['name']: c for c in checks}
    assert by['battery']['status'] == 'not_applicable'
    assert by['battery']['reason'] == 'model t100 has no battery'
    assert by['battery_health']['reason'] == 'model t100 has no battery'
    assert by['printer']['value'] == 80
    assert by['printer']['latency_ms'] == 120
    assert by['daemon']['reason'] == 'posd 2.3.1 running from slot a'
    assert summarize(checks) == {'pass': 8, 'warn': 0, 'fail': 0, 'not_applicable': 2, 'healthy': True}


def test_m200_has_no_scanner_but_a_battery():
    by = run_m200()
    assert by['scanner']['status'] == 'not_applicable'
    assert by['scanner']['reason'] == 'model m200 has no scanner'
    assert by['battery']['status'] == 'pass'
    assert by['battery']['reason'] == 'battery at 86%'
    assert by['battery_health']['status'] == 'pass'
    assert by['battery_health']['value'] == 93


@pytest.mark.parametrize('name,critical', [
    ('daemon', True), ('card_reader', True), ('scanner', False), ('printer', True), ('printer_head', False),
    ('battery', False), ('battery_health', False), ('sensors', False), ('network', True),
    ('acquirer_transaction', True),
])
def test_criticality(name, critical):
    assert run()[name]['critical'] is critical


# ---------------------------------------------------------------------------------------------- printer

@pytest.mark.parametrize('paper,expected', [
    (0, 'fail'), (4, 'fail'), (4.9, 'fail'), (5, 'warn'), (12, 'warn'), (19.9, 'warn'), (20, 'pass'), (80, 'pass'),
    (100, 'pass'),
])
def test_paper_boundaries(paper, expected):
    c = run(hw={'printer': {'paper_pct': paper}})['printer']
    assert c['status'] == expected
    assert c['value'] == paper


def test_paper_reasons():
    assert run(hw={'printer': {'paper_pct': 0, 'ok': False, 'detail': 'paper out'}})['printer']['reason'] == \
        'paper at 0% (fail below 5%): load a new paper roll'
    assert run(hw={'printer': {'paper_pct': 12}})['printer']['reason'] == \
        'paper at 12% (warn below 20%): keep a spare paper roll at the counter'
    assert run(hw={'printer': {'paper_pct': 12.5}})['printer']['reason'].startswith('paper at 12.5% ')


@pytest.mark.parametrize('paper,limits,expected', [
    (25, {'paper_warn_pct': 30}, 'warn'),
    (8, {'paper_fail_pct': 10}, 'fail'),
    (8, {'paper_fail_pct': 0, 'paper_warn_pct': 0}, 'pass'),
    (8, {'paper_fail_pct': None}, 'warn'),  # None keeps the default (5)
])
def test_paper_custom_thresholds(paper, limits, expected):
    assert run(hw={'printer': {'paper_pct': paper}}, limits=limits)['printer']['status'] == expected


def test_printer_jam():
    c = run(hw={'printer': {'jam': True, 'ok': False, 'detail': 'paper jam'}})['printer']
    assert c['status'] == 'fail'
    assert c['reason'] == 'printer jammed: open the cover and clear the jam'


def test_printer_cover_open_and_low_paper_reports_the_worst_only():
    c = run(hw={'printer': {'cover_open': True, 'paper_pct': 10}})['printer']
    assert c['status'] == 'fail'
    assert c['reason'] == 'printer cover open: close the printer cover'


def test_printer_jam_and_paper_out_both_listed():
    c = run(hw={'printer': {'jam': True, 'paper_pct': 0}})['printer']
    assert c['reason'] == ('printer jammed: open the cover and clear the jam; '
                           'paper at 0% (fail below 5%): load a new paper roll')


def test_printer_fault_from_daemon_detail():
    c = run(devices=[dict(SELFTEST[2], ok=False, detail='/var/lib/posd/hw/printer.json is malformed')],
            hw={'printer': {'paper_pct': None}})['printer']
    assert c['status'] == 'fail'
    assert c['reason'] == ('printer fault (/var/lib/posd/hw/printer.json is malformed): power-cycle the printer; '
                           'replace it if the fault persists')


def test_selftest_fault_wins_over_status_ok():
    devices = [dict(d) for d in SELFTEST]
    devices[2]['ok'] = False
    devices[2]['detail'] = 'no response'
    c = run(devices=devices)['printer']
    assert c['status'] == 'fail'
    assert c['reason'].startswith('printer fault (no response)')


def test_status_fault_wins_over_selftest_ok():
    c = run(hw={'scanner': {'ok': False, 'detail': 'scanner.json is malformed'}})['scanner']
    assert c['status'] == 'fail'
    assert c['reason'].startswith('scanner fault (scanner.json is malformed)')


@pytest.mark.parametrize('wear,life,expected,value', [
    (12.5, 150, 'pass', 8.3),
    (120, 150, 'pass', 80.0),   # exactly at the threshold
    (121, 150, 'warn', 80.7),
    (160, 150, 'warn', 106.7),  # past its life: still only a warning
])
def test_printer_head_wear(wear, life, expected, value):
    c = run(hw={'printer': {'head_wear_km': wear, 'head_life_km': life}})['printer_head']
    assert c['status'] == expected
    assert c['value'] == value
    assert c['critical'] is False
    if expected == 'warn':
        assert c['reason'].endswith('plan a print head replacement')
        assert '(warn above 80%)' not in c['reason']  # "...; warn above 80%)"
        assert 'warn above 80%' in c['reason']


def test_printer_head_not_reported():
    hw = status()
    del hw['hardware']['printer']['head_wear_km']
    assert run(st=hw)['printer_head']['status'] == 'not_applicable'


# ---------------------------------------------------------------------------------------------- battery

@pytest.mark.parametrize('charge,expected', [
    (0, 'fail'), (5, 'fail'), (9.9, 'fail'), (10, 'warn'), (19, 'warn'), (20, 'pass'), (100, 'pass'),
])
def test_battery_charge_boundaries(charge, expected):
    c = run_m200(battery={'charge_pct': charge})['battery']
    assert c['status'] == expected
    assert c['value'] == charge


def test_battery_reasons():
    assert run_m200(battery={'charge_pct': 5})['battery']['reason'] == \
        'battery at 5% (fail below 10%): put the terminal on its charger'
    assert run_m200(battery={'charge_pct': 5, 'charging': True})['battery']['reason'] == \
        'battery at 5% (fail below 10%): charging, keep it on the charger'
    assert run_m200(battery={'charging': True})['battery']['reason'] == 'battery at 86% (charging)'


@pytest.mark.parametrize('health,expected', [(10, 'warn'), (55, 'warn'), (69.9, 'warn'), (70, 'pass'), (93, 'pass')])
def test_battery_health_boundaries(health, expected):
    c = run_m200(battery={'health_pct': health})['battery_health']
    assert c['status'] == expected
    if expected == 'warn':
        assert c['reason'] == f'battery health {fmt(health)}% (warn below 70%): plan a battery replacement'


def test_battery_worn_is_a_health_warning_not_a_battery_fault():
    # posd itself calls a battery below 60% health a fault; the collection's thresholds judge it a consumable.
    by = run_m200(battery={'health_pct': 55, 'ok': False, 'detail': 'battery worn (health 55%)'})
    assert by['battery']['status'] == 'pass'
    assert by['battery_health']['status'] == 'warn'


def test_battery_daemon_fault_unexplained_by_thresholds_fails():
    by = run_m200(battery={'health_pct': 58, 'ok': False, 'detail': 'battery worn (health 58%)'},
                  limits={'battery_health_warn_pct': 50})
    assert by['battery']['status'] == 'fail'
    assert by['battery']['reason'].startswith('battery fault (battery worn (health 58%))')


def test_battery_declared_but_not_detected():
    c = run_m200(battery={'present': False})['battery']
    assert c['status'] == 'fail'
    assert c['reason'].startswith('battery not detected (model m200 has one)')


def test_battery_fault():
    c = run_m200(battery={'ok': False, 'detail': 'battery.json is malformed', 'charge_pct': None})['battery']
    assert c['status'] == 'fail'
    assert c['reason'].startswith('battery fault (battery.json is malformed)')


# ---------------------------------------------------------------------------------------------- sensors

@pytest.mark.parametrize('temp,expected', [
    (-10, 'pass'), (38.5, 'pass'), (60, 'pass'), (60.1, 'warn'), (70, 'warn'), (70.5, 'fail'), (75, 'fail'),
])
def test_temperature_boundaries(temp, expected):
    c = run(hw={'sensors': {'temperature_c': temp}})['sensors']
    assert c['status'] == expected
    assert c['value'] == temp


@pytest.mark.parametrize('changes,expected,reason', [
    ({'temperature_c': 70, 'ok': False, 'detail': 'overheating (70 °C)'}, 'warn', 'temperature 70°C (warn above'),
    ({'humidity_pct': 95, 'ok': False, 'detail': 'humidity too high (95%)'}, 'fail',
     'sensors fault (humidity too high (95%))'),
    ({'temperature_c': -15, 'ok': False, 'detail': 'too cold (-15 °C)'}, 'fail', 'sensors fault (too cold'),
])
def test_sensors_daemon_verdict(changes, expected, reason):
    c = run(hw={'sensors': changes})['sensors']
    assert c['status'] == expected
    assert c['reason'].startswith(reason)


def test_printer_head_worn_out_is_not_a_printer_failure():
    by = run(hw={'printer': {'head_wear_km': 150, 'ok': False, 'detail': 'print head worn out (150 of 150 km)'}})
    assert by['printer']['status'] == 'pass'
    assert by['printer_head']['status'] == 'warn'


def test_temperature_reason():
    assert run(hw={'sensors': {'temperature_c': 75}})['sensors']['reason'] == (
        'temperature 75°C (fail above 70°C): switch the terminal off, let it cool and check its ventilation')


# ---------------------------------------------------------------------------------------------- card reader, scanner

@pytest.mark.parametrize('device,label', [('card_reader', 'card reader'), ('scanner', 'scanner')])
def test_reader_faults(device, label):
    c = run(hw={device: {'status': 'fault', 'ok': False, 'detail': 'no response'}})[device]
    assert c['status'] == 'fail'
    assert c['reason'].startswith(f'{label} fault (no response): ')
    assert c['value'] == 'fault'


def test_reader_status_fault_even_when_ok_is_missing():
    st = status(card_reader={'status': 'fault'})
    del st['hardware']['card_reader']['ok']
    assert run(st=st, devices=[])['card_reader']['status'] == 'fail'


def test_device_missing_from_daemon_answer_fails():
    st = status()
    del st['hardware']['card_reader']
    devices = [d for d in SELFTEST if d['device'] != 'card_reader']
    c = run(st=st, devices=devices)['card_reader']
    assert c['status'] == 'fail'
    assert c['reason'].startswith('card reader not reported by posd')


# ---------------------------------------------------------------------------------------------- daemon down

def test_daemon_down():
    error = ('control socket /run/posd/posd.sock refused the connection (posd is not running): '
             'check /var/log/posd/posd.log, then reboot the terminal')
    by = {c['name']: c for c in evaluate(T100, daemon_error=error, probe=PROBE)}
    assert by['daemon']['status'] == 'fail'
    assert by['daemon']['critical'] is True
    assert by['daemon']['reason'] == error
    for name in ('card_reader', 'scanner', 'printer', 'printer_head', 'sensors', 'acquirer_transaction'):
        assert by[name]['status'] == 'not_applicable', name
        assert by[name]['reason'] == 'not tested: posd could not be asked (see the daemon check)'
    assert by['battery']['reason'] == 'model t100 has no battery'
    assert by['network']['status'] == 'pass'


# ---------------------------------------------------------------------------------------------- network

def test_network_unreachable():
    probe = dict(PROBE, reachable=False, connect_ms=None, error='Connection refused')
    c = run(probe=probe)['network']
    assert c['status'] == 'fail'
    assert c['reason'].startswith('acquirer acquirer:8443 unreachable (Connection refused): ')


@pytest.mark.parametrize('ms,expected', [(0.4, 'pass'), (1000, 'pass'), (1000.5, 'warn'), (4000, 'warn')])
def test_network_connect_time(ms, expected):
    c = run(probe=dict(PROBE, connect_ms=ms))['network']
    assert c['status'] == expected
    assert c['latency_ms'] == ms


def test_network_link_down_reported_by_daemon():
    c = run(hw={'network': {'present': True, 'ok': False, 'acquirer': 'down', 'detail': 'link down'}})['network']
    assert c['status'] == 'fail'
    assert c['reason'].startswith('network link down (posd: link down): ')


def test_network_link_slow_reported_by_daemon():
    c = run(hw={'network': {'present': True, 'ok': True, 'acquirer': 'slow', 'delay_ms': 3000,
                            'detail': 'acquirer link slow (3000 ms)'}})['network']
    assert c['status'] == 'warn'
    assert c['reason'] == 'network link slow (posd: acquirer link slow (3000 ms)): check the store network'


def test_network_endpoint_unknown():
    probe = {'host': None, 'port': None, 'reachable': False, 'connect_ms': None,
             'error': '/etc/posfleet/acquirer.json does not exist', 'fix': 'restore it'}
    c = run(probe=probe)['network']
    assert c['status'] == 'fail'
    assert c['reason'] == 'acquirer endpoint unknown (/etc/posfleet/acquirer.json does not exist): restore it'


@pytest.mark.parametrize('verify, words', [
    (False, 'TLS certificate verification of the acquirer is off (verify false in /etc/posfleet/acquirer.json)'),
    (None, 'TLS certificate verification of the acquirer is not known'),
    ('missing', 'TLS certificate verification of the acquirer is not known'),
])
def test_network_fails_when_the_acquirer_certificate_is_not_verified(verify, words):
    probe = dict(PROBE, verify=verify) if verify != 'missing' else {k: v for k, v in PROBE.items() if k != 'verify'}
    checks = run(probe=probe)
    c = checks['network']
    assert c['status'] == 'fail' and c['critical'] is True
    assert words in c['reason']
    assert c['reason'].endswith('then check that a test transaction is approved')
    assert 'set "verify": true and the acquirer CA in ca_file' in c['reason']
    assert checks['acquirer_transaction']['status'] == 'pass'  # the transaction is approved: not a proof


def test_network_verified_tls_passes():
    assert run(probe=PROBE)['network']['status'] == 'pass'


def test_network_not_probed():
    assert run(probe=None)['network']['status'] == 'not_applicable'


# ---------------------------------------------------------------------------------------------- transaction

@pytest.mark.parametrize('ms,expected', [
    (85, 'pass'), (2000, 'pass'), (2001, 'warn'), (5000, 'warn'), (5001, 'fail'), (9000, 'fail'),
])
def test_acquirer_time_boundaries(ms, expected):
    # Judged on the whole authorisation the cashier waits for: connect + TLS handshake + answer.
    c = run(tx=dict(TX, connect_ms=0, handshake_ms=0, response_ms=ms))['acquirer_transaction']
    assert c['status'] == expected
    assert c['value'] == ms
    assert c['latency_ms'] == ms


def test_slow_link_counts_in_the_authorisation_time():
    # posd waits out a slow link before it connects: the delay shows up in connect_ms.
    c = run(tx=dict(TX, connect_ms=3001.2, handshake_ms=12, response_ms=85))['acquirer_transaction']
    assert c['status'] == 'warn'
    assert c['reason'] == ('authorisation took 3098.2 ms (warn above 2000 ms): the acquirer link is slow: check the '
                           'store network')
    assert c['details']['total_ms'] == 3098.2


@pytest.mark.parametrize('ms,expected', [(12, 'pass'), (1000, 'pass'), (1001, 'warn')])
def test_tls_handshake_boundaries(ms, expected):
    c = run(tx=dict(TX, handshake_ms=ms))['acquirer_transaction']
    assert c['status'] == expected
    assert c['details']['handshake_ms'] == ms


def test_transaction_pass_reason_and_details():
    c = run()['acquirer_transaction']
    assert c['reason'] == 'approved in 99 ms over TLSv1.3 (TLS handshake 12 ms)'
    assert c['details']['tls_version'] == 'TLSv1.3'
    assert c['details']['cipher'] == 'TLS_AES_256_GCM_SHA384'
    assert c['details']['auth_code'] == 'A1B2C3'


def test_slow_and_slow_handshake_reports_the_worse():
    c = run(tx=dict(TX, response_ms=6000, handshake_ms=1500))['acquirer_transaction']
    assert c['status'] == 'fail'
    assert c['reason'].startswith('authorisation took 7502 ms (fail above 5000 ms): ')


@pytest.mark.parametrize('stage,fix_part', [
    ('link', 'network link'),
    ('connect', 'reaches the acquirer'),
    ('handshake', 'min_tls'),
    ('response', 'did not answer in time'),
    ('mystery', "check the terminal daemon's log"),
])
def test_transaction_failure_stages(stage, fix_part):
    tx = {'ok': False, 'stage': stage, 'error': 'it broke.'}
    c = run(tx=tx)['acquirer_transaction']
    assert c['status'] == 'fail'
    assert c['reason'].startswith(f'test transaction failed at {stage} (it broke): ')
    assert fix_part in c['reason']
    assert c['details']['stage'] == stage


def test_transaction_failure_fix_of_the_platform_wins():
    tx = {'ok': False, 'stage': 'handshake', 'error': 'bad cert', 'fix': 'check the CA in /etc/acme/ca'}
    assert run(tx=tx)['acquirer_transaction']['reason'].endswith(': check the CA in /etc/acme/ca')


def test_transaction_declined():
    c = run(tx=dict(TX, approved=False))['acquirer_transaction']
    assert c['status'] == 'fail'
    assert 'declined' in c['reason']


def test_skipped_checks_are_not_applicable():
    by = run(tx=None, skipped={'acquirer_transaction': 'skipped in check mode'})
    assert by['acquirer_transaction']['status'] == 'not_applicable'
    assert by['acquirer_transaction']['reason'] == 'skipped in check mode'


# ---------------------------------------------------------------------------------------------- summary, fail_on

def checks_with(*statuses):
    """One check per (name, status, critical)."""
    return [{'name': n, 'status': s, 'critical': c, 'reason': f'{n} is {s}', 'latency_ms': None, 'value': None,
             'details': {}} for n, s, c in statuses]


MIXED = checks_with(('daemon', 'pass', True), ('printer_head', 'warn', False), ('scanner', 'fail', False),
                    ('battery', 'not_applicable', False))
CRIT = checks_with(('daemon', 'pass', True), ('printer', 'fail', True), ('scanner', 'fail', False))
WARN_ONLY = checks_with(('daemon', 'pass', True), ('printer', 'warn', True))


def test_summarize():
    assert summarize(MIXED) == {'pass': 1, 'warn': 1, 'fail': 1, 'not_applicable': 1, 'healthy': False}
    assert summarize(WARN_ONLY) == {'pass': 1, 'warn': 1, 'fail': 0, 'not_applicable': 0, 'healthy': True}
    assert summarize([]) == {'pass': 0, 'warn': 0, 'fail': 0, 'not_applicable': 0, 'healthy': True}


@pytest.mark.parametrize('checks,fail_on,expected', [
    (MIXED, 'critical', []),
    (MIXED, 'any', ['scanner']),
    (MIXED, 'never', []),
    (CRIT, 'critical', ['printer']),
    (CRIT, 'any', ['printer', 'scanner']),
    (CRIT, 'never', []),
    (WARN_ONLY, 'critical', []),
    (WARN_ONLY, 'any', []),
])
def test_fail_on(checks, fail_on, expected):
    assert [c['name'] for c in failing(checks, fail_on)] == expected
    assert should_fail(checks, fail_on) is bool(expected)


def test_fail_on_invalid():
    with pytest.raises(ValueError):
        should_fail(CRIT, 'sometimes')


def test_failure_message():
    assert failure_message('SH01-T100-01', CRIT, 'any') == (
        'terminal SH01-T100-01: selftest: 2 checks failed (fail_on=any): printer: printer is fail; '
        'scanner: scanner is fail')
    assert failure_message('SH01-T100-01', CRIT, 'critical') == (
        'terminal SH01-T100-01: selftest: 1 check failed (fail_on=critical): printer: printer is fail')
    assert failure_message('SH01-T100-01', CRIT, 'never') is None


def test_thresholds():
    assert thresholds() == DEFAULT_THRESHOLDS
    assert thresholds({'paper_warn_pct': 30})['paper_warn_pct'] == 30
    with pytest.raises(ValueError):
        thresholds({'paper_warm_pct': 30})


@pytest.mark.parametrize('value,text', [(5, '5'), (5.0, '5'), (12.5, '12.5'), (80.72, '80.7'), (None, 'None')])
def test_fmt(value, text):
    assert fmt(value) == text
