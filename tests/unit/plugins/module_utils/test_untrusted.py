"""Values from terminals are untrusted input: the rules (_untrusted) and the platform seam that applies them."""

from __future__ import annotations

import json
import math

import pytest
from terminal_tree import BOOTENV, HARDWARE, TERMINAL, write_json

from ansible_collections.posfleet.terminals.plugins.module_utils import _health as health
from ansible_collections.posfleet.terminals.plugins.module_utils import _selftest, _untrusted
from ansible_collections.posfleet.terminals.plugins.module_utils._platform import TerminalError, as_int, load_platform
from ansible_collections.posfleet.terminals.plugins.module_utils._time import parse_time

# Every kind of hostile value the issue lists, in one identity field.
HOSTILE = 'RS01\nFORGED  ROW\r\x1b[2J\x00<script>alert(1)</script>{{ 7*7 }}'


# ---------------------------------------------------------------------------------------------- the rules

@pytest.mark.parametrize('value', ['SH01-T100-01', 'PF1A2B3C4D', 'sh01', 't100', '2.3.1', '1:2.0~rc1+deb12u1',
                                   'emv-kernel', None])
def test_identifiers_accepted(value):
    assert _untrusted.identifier_problem(value) is None


@pytest.mark.parametrize('value', [HOSTILE, 'a b', 'a\n', '', '-x', 'x' * 65, 'sh01;rm', '<b>', '{{x}}', 42,
                                   '上海01'])
def test_identifiers_refused_with_the_value_escaped(value):
    problem = _untrusted.identifier_problem(value)
    assert problem and '\n' not in problem and '\x1b' not in problem and '\x00' not in problem


def test_loads_reads_non_finite_numbers_as_strings():
    data = _untrusted.loads('{"a": NaN, "b": -Infinity, "c": Infinity, "d": 1.5}')
    assert data == {'a': 'NaN', 'b': '-Infinity', 'c': 'Infinity', 'd': 1.5}


@pytest.mark.parametrize('value, expected', [(1, 1), (2.5, 2.5), (float('nan'), None), (float('-inf'), None),
                                             ('12', None), ('NaN', None), (True, None), (None, None)])
def test_finite(value, expected):
    assert _untrusted.finite(value) == expected


def test_json_safe_replaces_non_finite_numbers():
    value = {'a': [float('nan'), {'b': float('inf')}], 'c': 1.0, 'd': 'NaN'}
    assert _untrusted.json_safe(value) == {'a': [None, {'b': None}], 'c': 1.0, 'd': 'NaN'}


def test_one_line_and_xml_text():
    assert _untrusted.one_line('a\nb\r\x1b\x00\u2028c') == 'a\\nb\\r\\x1b\\x00\\u2028c'
    assert _untrusted.xml_text('a\nb\x1b\x00c') == 'a\nb\\x1bc'.replace('\\x1bc', '\\x1b\\x00c')


@pytest.mark.parametrize('value', ['NaN', 'Infinity', '-Infinity', float('nan'), float('inf'), 1e300, '1e300'])
def test_a_time_that_no_clock_shows_is_unknown(value):
    assert parse_time(value) is None


def test_uptime_with_a_non_finite_last_boot(terminal_root):
    write_json(terminal_root, '/var/lib/posboot/env.json', json.dumps(BOOTENV)[:-1] + ', "last_boot": -Infinity}')
    uptime = load_platform(root=str(terminal_root)).uptime()
    assert uptime == {'boot_time': None, 'uptime_seconds': None, 'boots': BOOTENV['boots']}


def test_as_int_of_non_finite_values():
    assert as_int('NaN', 3) == 3 and as_int('Infinity', 3) == 3 and as_int(float('inf'), 3) == 3


# ---------------------------------------------------------------------------------------------- the seam

@pytest.mark.parametrize('field', ['terminal_id', 'serial', 'model', 'store', 'timezone'])
def test_identity_with_a_hostile_field_is_refused_naming_field_and_fix(terminal_root, field):
    write_json(terminal_root, '/etc/posfleet/terminal.json', dict(TERMINAL, **{field: HOSTILE}))
    platform = load_platform(root=str(terminal_root))
    with pytest.raises(TerminalError) as info:
        platform.identity()
    message = str(info.value)
    assert info.value.step == 'identity' and f'"{field}"' in message and 'Fix: re-provision' in message
    assert not _untrusted.CONTROL_RE.search(message)
    # The terminal is never named by the hostile id: the host name stands in.
    assert _untrusted.is_identifier(platform.terminal_id) and '\n' not in message.split(':', maxsplit=1)[0]


def test_identity_file_with_nan_is_read_as_a_string(terminal_root):
    write_json(terminal_root, '/etc/posfleet/terminal.json', json.dumps(TERMINAL)[:-1] + ', "serial": NaN}')
    identity = load_platform(root=str(terminal_root)).identity()
    assert identity['serial'] == 'NaN'  # a string like any other, that JSON can hold; never a float NaN


def test_hostile_firmware_version_and_application(terminal_root):
    write_json(terminal_root, '/slots/a/VERSION', HOSTILE + '\n')
    write_json(terminal_root, '/opt/posapps/evil/manifest.json', {'name': 'evil', 'version': '1.0\n<script>'})
    platform = load_platform(root=str(terminal_root))
    with pytest.raises(TerminalError, match='firmware: /slots/a/VERSION: "version" holds'):
        platform.firmware()
    evil = [app for app in platform.applications() if app['name'] == 'evil'][0]
    assert evil['version'] is None and '"version" holds' in evil['error'] and '\n' not in evil['error']


def hostile_status():
    hardware = json.loads(json.dumps(HARDWARE))
    hardware['printer']['paper_pct'] = float('nan')
    hardware['sensors']['temperature_c'] = float('-inf')
    hardware['scanner']['latency_ms'] = 'fast'
    return {'ok': True, 'version': '2.3.1\n<script>', 'slot': 'a', 'pid': 7, 'started': 1, 'in_flight': 0,
            'maintenance': {'enabled': False}, 'hardware': hardware,
            'journal': {'transactions_today': float('nan'), 'unsettled_count': float('inf'), 'currency': 'EUR'}}


def test_daemon_answers_with_nan_are_rejected_per_device(terminal_root, fake_posd):
    # json.dumps writes NaN and -Infinity, as posd's own json.dumps does.
    server = fake_posd(hostile_status())
    platform = load_platform(root=str(terminal_root), socket_path=server.path)
    info = platform.daemon_info()
    assert info['running'] and info['version'] is None and '"version" holds' in info['error']
    devices = platform.peripherals()
    printer, sensors, reader = devices['printer'], devices['sensors'], devices['card_reader']
    assert printer['paper_pct'] is None and printer['ok'] is False
    assert "paper_pct 'NaN' is not a finite" in printer['detail']
    assert sensors['temperature_c'] is None and sensors['invalid'] == ['temperature_c']
    assert devices['scanner']['ok'] is False and reader['ok'] is True  # only the devices with a bad number
    journal = platform.journal_summary()
    assert journal['transactions_today'] is None and journal['unsettled_count'] is None


def test_selftest_with_nan_and_infinity_does_not_crash_and_fails_the_checks(terminal_root, fake_posd):
    status = hostile_status()
    selftest = {'ok': True, 'devices': [{'device': 'printer', 'present': True, 'ok': True, 'latency_ms': float('nan'),
                                         'detail': 'ready'}], 'receipt_printed': False}
    transaction = {'ok': True, 'approved': True, 'connect_ms': 10, 'handshake_ms': float('nan'), 'response_ms': 5}
    server = fake_posd(status, selftest, transaction)
    platform = load_platform(root=str(terminal_root), socket_path=server.path)
    result, dummy = _selftest.run(platform, print_receipt=False, network_timeout=1)
    checks = {c['name']: c for c in result['checks']}
    assert checks['daemon']['status'] == 'fail' and '"version" holds' in checks['daemon']['reason']
    assert checks['printer']['status'] == 'fail' and 'NaN' in checks['printer']['reason']
    assert checks['sensors']['status'] == 'fail'
    transaction = checks['acquirer_transaction']
    assert transaction['status'] == 'fail' and 'handshake_ms' in transaction['reason']
    assert not result['healthy']
    json.loads(json.dumps(result, allow_nan=False))  # the module's result holds no NaN


# ---------------------------------------------------------------------------------------------- the evaluation

@pytest.mark.parametrize('key, check_name, value', [
    ('paper_pct', 'printer', 'low'), ('paper_pct', 'printer', float('nan')), ('paper_pct', 'printer', 'NaN'),
    ('charge_pct', 'battery', float('-inf')), ('health_pct', 'battery_health', 'worn'),
    ('temperature_c', 'sensors', float('inf')), ('head_wear_km', 'printer_head', 'a lot'),
])
def test_a_number_that_is_none_fails_its_check_never_passes(key, check_name, value):
    device = health.DEVICE_OF[check_name]
    state = {'present': True, 'ok': True, 'detail': 'ready', 'head_life_km': 150, key: value}
    model = {'model': 't', 'peripherals': {device: True}}
    checks = {c['name']: c for c in health.evaluate(model, hardware={device: state}, daemon={'version': '1'})}
    assert checks[check_name]['status'] == 'fail' and 'not a number' in checks[check_name]['reason']


def test_fmt_and_number_of_non_finite_values():
    assert health.number(float('nan')) is None and health.number('-Infinity') is None
    assert health.fmt(float('nan')) == 'nan' and not math.isnan(health.number('12.5') - 12.5)
