# Copyright (c) posfleet developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""PCI DSS evidence: per-host records, JUnit XML (one testcase per control per host), text summary."""

from __future__ import annotations

import xml.etree.ElementTree as ET

from ansible_collections.posfleet.terminals.plugins.plugin_utils._pci_report import (
    pci_host_report,
    pci_junit,
    pci_summary,
)

CONTROLS = [
    {'id': 'password_min_length', 'title': 'Passwords have at least 12 characters', 'pci_dss': ['8.3.6'],
     'severity': 'high', 'status': 'fail', 'evidence': 'pwquality minlen = 6 (at least 12)',
     'remediation': 'Set minlen = 12'},
    {'id': 'ssh_log_level', 'title': 'SSH logs logins', 'pci_dss': ['10.2.1'], 'severity': 'medium',
     'status': 'pass', 'evidence': 'sshd -T: loglevel VERBOSE', 'remediation': 'x'},
    {'id': 'journald_retention', 'title': 'journal', 'pci_dss': ['10.5.1'], 'severity': 'medium',
     'status': 'not_applicable', 'evidence': 'systemd-journald is not installed', 'remediation': 'x'},
    {'id': 'acquirer_tls_version', 'title': 'TLS', 'pci_dss': ['4.2.1'], 'severity': 'critical',
     'status': 'waived', 'evidence': 'min_tls 1.0 [waived until 2027-01-01: CHG-1]', 'remediation': 'x'},
    {'id': 'vendor_default_passwords', 'title': 'defaults', 'pci_dss': ['2.2.2'], 'severity': 'critical',
     'status': 'error', 'evidence': 'permission denied', 'remediation': 'x'},
]
SUMMARY = {'pass': 1, 'fail': 1, 'waived': 1, 'not_applicable': 1, 'error': 1, 'score': 25.0, 'compliant': False}


def reports():
    legacy = pci_host_report('ber01-legacy-01', {'controls': CONTROLS, 'summary': SUMMARY, 'terminal_id': 'X'}, 'r1')
    ok = pci_host_report('sh01-t100-01', {'controls': CONTROLS[1:3], 'summary': {
        'pass': 1, 'fail': 0, 'waived': 0, 'not_applicable': 1, 'error': 0, 'score': 100.0, 'compliant': True}}, 'r1')
    down = pci_host_report('sh01-t100-02', error='unreachable: ssh timed out', run_id='r1')
    return [legacy, ok, down]


def test_junit_one_testcase_per_control_per_host():
    root = ET.fromstring(pci_junit(reports()))
    assert root.get('tests') == '8' and root.get('failures') == '1'
    assert root.get('errors') == '2' and root.get('skipped') == '3'
    suites = {s.get('name'): s for s in root.findall('testsuite')}
    assert sorted(suites) == ['ber01-legacy-01', 'sh01-t100-01', 'sh01-t100-02']
    case = suites['ber01-legacy-01'].find('testcase')
    assert case.get('name') == 'password_min_length [8.3.6] Passwords have at least 12 characters'
    assert case.find('failure').get('message') == 'pwquality minlen = 6 (at least 12)'
    assert 'Remediation: Set minlen = 12' in case.find('failure').text
    skipped = [c.find('skipped').get('message') for c in suites['ber01-legacy-01'] if c.find('skipped') is not None]
    assert skipped[1].startswith('waived: ')
    assert suites['sh01-t100-02'].find('testcase/error').get('message') == 'unreachable: ssh timed out'


def test_summary_text():
    text = pci_summary(reports(), run_id='r1')
    lines = text.splitlines()
    assert lines[0] == 'PCI DSS v4.0.1 audit r1: 3 terminals, 1 compliant, 2 not compliant (1 not audited)'
    row = next(line for line in lines if line.startswith('ber01-legacy-01'))
    assert row.split() == ['ber01-legacy-01', '25.0%', '1', '1', '1', '1', '1', 'NOT', 'COMPLIANT']
    assert lines[1].index('SCORE') + len('SCORE') == row.index('25.0%') + len('25.0%')  # numbers right-aligned
    down = next(line for line in lines if line.startswith('sh01-t100-02'))
    assert down.split() == ['sh01-t100-02', '-', '0', '0', '0', '0', '0', 'ERROR']  # it answered, then failed
    assert '  - ber01-legacy-01: password_min_length (8.3.6) fail: pwquality minlen = 6 (at least 12)' in lines
    assert any('acquirer_tls_version (4.2.1) waived' in line for line in lines)
    assert not any('ssh_log_level' in line for line in lines)


def test_terminal_without_a_record_is_counted_and_an_error():
    """The play's hosts are the expected set: a terminal that left no record (switched off) is not left out."""
    records = reports()[:2]
    expected = ['ber01-legacy-01', 'sh01-t100-01', 'sh01-t100-99']
    text = pci_summary(records, run_id='r1', expected=expected)
    assert text.splitlines()[0] == 'PCI DSS v4.0.1 audit r1: 3 terminals, 1 compliant, 2 not compliant (1 not audited)'
    row = next(line for line in text.splitlines() if line.startswith('sh01-t100-99'))
    assert row.split()[-1] == 'UNREACHABLE'
    root = ET.fromstring(pci_junit(records, run_id='r1', expected=expected))
    suite = next(s for s in root.findall('testsuite') if s.get('name') == 'sh01-t100-99')
    assert suite.get('errors') == '1'
    assert suite.find('testcase').get('name') == 'audit'
    assert 'unreachable' in suite.find('testcase/error').get('message')
