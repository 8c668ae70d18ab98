"""Every writer survives a hostile terminal: newlines, carriage returns, escape sequences, NUL, markup, Jinja and
non-finite or non-numeric numbers in what a terminal reported (a record written by another platform, a tampered
record file, anything that got past the seam)."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET

import pytest
from ansible.module_utils import _internal

from ansible_collections.posfleet.terminals.plugins.plugin_utils import (
    _maintenance_report,
    _pci_report,
    _report,
    _runrecord,
    _schedule,
    _times,
)

HOSTILE = 'RS01\nFORGED  ROW  healthy\r\x1b[2J\x00<script>alert(1)</script>{{ 7*7 }}'
BENIGN = 'RS01-T100-01'


def facts(value, paper=3, battery=50):
    return {
        'identity': {'terminal_id': value, 'store': value, 'model': value, 'serial': value},
        'firmware': {'active_slot': 'a', 'slots': {'a': {'version': value}}, 'state': 'committed'},
        'applications': [{'name': value, 'version': value}],
        'peripherals': {'printer': {'paper_pct': paper, 'head_wear_km': float('nan')}},
        'battery': {'charge_pct': battery, 'health_pct': float('-inf')},
        'maintenance': {'enabled': False},
        'journal': {'transactions_today': float('nan'), 'currency': value},
    }


def selftest(value):
    return {'healthy': False, 'summary': {'fail': 1},
            'checks': [{'name': 'printer', 'status': 'fail', 'reason': f'paper: {value}', 'critical': True},
                       {'name': value, 'status': value, 'reason': value, 'critical': False}]}


def health_fleet(value, paper=3, battery=50):
    records = [_report.host_report(f'h{i}', 'R1', facts(value, paper, battery), selftest(value),
                                   error=value if i == 2 else None) for i in range(3)]
    return _runrecord.rollup(records, run_id='R1', expected=['h0', 'h1', 'h2', 'h3'])


def no_nan(text):
    def refuse(token):
        raise ValueError(f'JSON holds {token}')
    return json.loads(text, parse_constant=refuse)


PAPER_LEVELS = [3, float('nan'), float('-inf'), 'NaN', 'low', '15']


@pytest.mark.parametrize('paper', PAPER_LEVELS)
def test_summary_rows_cannot_be_forged(paper):
    hostile = _report.fleet_summary(health_fleet(HOSTILE, paper, float('-inf')))
    benign = _report.fleet_summary(health_fleet(BENIGN))
    assert len(hostile.splitlines()) == len(benign.splitlines())
    assert not any(c in hostile for c in '\r\x1b\x00')
    assert '{{ 7*7 }}' in hostile and '49' not in hostile  # shown as it is, never templated


@pytest.mark.parametrize('paper', PAPER_LEVELS)
def test_html_has_no_raw_markup_and_survives_any_paper_level(paper):
    page = _report.fleet_html(health_fleet(HOSTILE, paper, 'empty'))
    assert '<script>' not in page and '&lt;script&gt;' in page
    assert not any(c in page for c in '\r\x1b\x00')
    assert page.count('<tr>') == 1 + 4  # the header and one row per terminal


@pytest.mark.parametrize('paper', PAPER_LEVELS)
def test_fleet_json_never_holds_nan(paper):
    text = _runrecord.to_json(health_fleet(HOSTILE, paper, float('inf')))
    data = no_nan(text)
    assert data['hosts'][0]['terminal_id'] == HOSTILE  # the value kept as data, JSON-escaped
    assert data['hosts'][0]['consumables']['printer_head_wear_km'] is None


def test_records_with_nan_from_an_older_release_read_back(tmp_path):
    hosts = tmp_path / 'hosts'
    hosts.mkdir()
    (hosts / 'h0.json').write_text('{"host": "h0", "run_id": "R1", "status": "healthy", '
                                   '"consumables": {"paper_pct": NaN, "battery_charge_pct": -Infinity}}')
    fleet = _runrecord.rollup(_runrecord.read_records(str(tmp_path)), run_id='R1')
    assert fleet['hosts'][0]['consumables'] == {'paper_pct': 'NaN', 'battery_charge_pct': '-Infinity'}
    no_nan(_runrecord.to_json(fleet))
    assert 'not a number' in _report.fleet_html(fleet)
    assert len(_report.fleet_summary(fleet).splitlines()) == 3


def audit(value, controls=4):
    return {'terminal_id': value, 'summary': {'compliant': False, 'score': 50.0, 'pass': 1, 'fail': 1, 'error': 1,
                                              'waived': 1},
            'controls': [{'id': f'c{i}', 'pci_dss': [value], 'title': value, 'severity': value,
                          'status': ('pass', 'fail', 'error', 'waived')[i % 4], 'evidence': value,
                          'remediation': value} for i in range(controls)]}


def test_junit_is_well_formed_with_one_testcase_per_control():
    records = [_pci_report.pci_host_report(f'h{i}', audit(HOSTILE), run_id='R1') for i in range(2)]
    records.append(_pci_report.pci_host_report('h2', run_id='R1', error=HOSTILE))
    xml = _pci_report.pci_junit(records, run_id='R1', expected=['h0', 'h1', 'h2', 'h3'])
    root = ET.fromstring(xml)  # raises on a document that is not well-formed
    assert len(root.findall('.//testcase')) == 4 + 4 + 1 + 1
    assert root.get('tests') == '10' and root.get('errors') == str(2 + 1 + 1)
    evidence = root.find(".//testcase/failure").get('message')
    assert evidence.startswith('RS01\nFORGED') and '\\x1b' in evidence and '\\x00' in evidence


def test_pci_summary_rows_cannot_be_forged():
    hostile = _pci_report.pci_summary([_pci_report.pci_host_report('h0', audit(HOSTILE), run_id='R1')])
    benign = _pci_report.pci_summary([_pci_report.pci_host_report('h0', audit(BENIGN), run_id='R1')])
    assert len(hostile.splitlines()) == len(benign.splitlines())
    assert not any(c in hostile for c in '\r\x1b\x00')


@pytest.mark.parametrize('score', [float('nan'), 'high', None])
def test_pci_summary_of_a_record_with_a_score_that_is_no_number(score):
    record = _pci_report.pci_host_report('h0', dict(audit(BENIGN), summary={'score': score}), run_id='R1')
    assert ' 0.0% ' in _pci_report.pci_summary([record])


def test_maintenance_summary_rows_cannot_be_forged():
    records = [_maintenance_report.host_record('h0', 'R1', None, None, HOSTILE, HOSTILE)]
    text = _maintenance_report.fleet_summary(records, run_id='R1')['text']
    plain = [_maintenance_report.host_record('h0', 'R1', None, None, 'e', 's')]
    assert len(text.splitlines()) == len(_maintenance_report.fleet_summary(plain, run_id='R1')['text'].splitlines())


# --------------------------------------------------------------------------------------------- schedule export

TIERS = {'daily': {'start': '02:00', 'description': 'Facts and self-test'}}
EXPORT = {'workdir': '/opt/posfleet', 'inventory': 'inventories/prod/hosts.yml'}


@pytest.fixture
def export():
    """The schedule_export filter. Imported here: importing a controller plugin flags the process as a controller,
    which the in-process module tests must not see (as in test_run_record.py)."""
    was = _internal.is_controller
    from ansible_collections.posfleet.terminals.plugins.filter import timetable as timetable_filter

    def run(zones, **kwargs):
        return timetable_filter.schedule_export(zones, TIERS, **dict(EXPORT, **kwargs))

    yield run
    _internal.is_controller = was


def test_export_of_good_stores_has_the_expected_lines(export):
    result = export([{'host': 't1', 'timezone': 'Europe/Berlin', 'limit': 'store_rs01'},
                     {'host': 't2', 'timezone': 'Europe/Berlin', 'limit': 'store_rs02'}],
                    controller_timezone='Europe/Berlin')
    cron_jobs = [line for line in result['crontab'].splitlines() if line[:1].isdigit()]
    # The notify job at one controller-local time, the daily tier (02:00, inside the March DST gap) at two:
    # 02:00, and 03:00 for the night the gap moves it to.
    assert len(cron_jobs) == 3 and all('--limit store_rs01,store_rs02 ' in line for line in cron_jobs)
    service = result['systemd']['posfleet-daily-europe-berlin.service']
    assert len(service.splitlines()) == 15 and service.count('ExecStart=') == 1


@pytest.mark.parametrize('store', ['rs01\n0 * * * * root rm -rf /', 'rs01\r', 'rs01\x1b', 'rs01\x00', 'rs 01',
                                   'rs01%', "rs01'; reboot #", '{{ 7*7 }}', '$(reboot)'])
def test_a_store_name_that_would_inject_lines_is_refused_naming_host_and_variable(export, store):
    with pytest.raises(_times.TimetableError) as info:
        export([{'host': 'rs01-t100-01', 'timezone': 'Europe/Berlin', 'limit': 'store_' + store}])
    message = str(info.value)
    assert message.startswith('host rs01-t100-01: schedule export: posfleet_store') and 'Fix:' in message
    assert '\n' not in message and '\x1b' not in message


@pytest.mark.parametrize('option', ['workdir', 'inventory', 'ansible_playbook', 'log_dir', 'user',
                                    'vault_password_file', 'home', 'controller_timezone'])
def test_an_option_with_a_newline_is_refused(export, option):
    with pytest.raises(_times.TimetableError, match=f'schedule export: {option} '):
        export({'Europe/Berlin': 'store_rs01'}, **{option: '/opt/x\nExecStartPre=/bin/evil'})


def test_a_tier_description_with_a_newline_is_refused():
    tiers = {'daily': {'start': '02:00', 'description': 'a\n* * * * * evil'}}
    with pytest.raises(_times.TimetableError, match="tier daily's description"):
        _schedule.entries(tiers, {'Europe/Berlin': 'store_rs01'})
