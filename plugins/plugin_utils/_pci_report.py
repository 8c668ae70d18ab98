# Copyright (c) posfleet developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Controller side of the PCI DSS audit: per-host records, JUnit XML (one testcase per control per host) and a
text summary, built only from the per-host records (so sliced runs can be rolled up)."""

from __future__ import annotations

import xml.etree.ElementTree as ET

STATUSES = ('pass', 'fail', 'waived', 'not_applicable', 'error')


def pci_host_report(host, audit=None, run_id='', error=None):
    """The per-host record written to ``<results>/audit/hosts/<host>.json``."""
    audit = audit or {}
    return {
        'host': host,
        'run_id': run_id,
        'terminal_id': audit.get('terminal_id'),
        'summary': audit.get('summary') or {},
        'controls': audit.get('controls') or [],
        'pan_scan': audit.get('pan_scan'),
        'fim': audit.get('fim'),
        'duration_ms': audit.get('duration_ms'),
        'error': error,
    }


def pci_junit(reports, name='PCI DSS v4.0.1 audit'):
    """JUnit XML: a testsuite per host, a testcase per control; fail -> failure, error or an unreachable host ->
    error, not_applicable and waived -> skipped (with the reason)."""
    root = ET.Element('testsuites', name=name)
    totals = dict.fromkeys(('tests', 'failures', 'errors', 'skipped'), 0)
    for report in sorted(reports, key=lambda r: r.get('host', '')):
        host = report.get('host', '?')
        suite = ET.SubElement(root, 'testsuite', name=host)
        counts = dict.fromkeys(('tests', 'failures', 'errors', 'skipped'), 0)
        if report.get('error'):
            case = ET.SubElement(suite, 'testcase', classname=host, name='audit')
            ET.SubElement(case, 'error', message=str(report['error']))
            counts['tests'] += 1
            counts['errors'] += 1
        for control in report.get('controls') or []:
            refs = ', '.join(control.get('pci_dss') or [])
            case = ET.SubElement(suite, 'testcase', classname=f'{host}.{control.get("severity", "")}',
                                 name=f'{control["id"]} [{refs}] {control.get("title", "")}')
            counts['tests'] += 1
            status = control.get('status')
            evidence = control.get('evidence', '')
            if status == 'fail':
                failure = ET.SubElement(case, 'failure', message=evidence, type=control.get('severity', 'fail'))
                failure.text = f'Remediation: {control.get("remediation", "")}'
                counts['failures'] += 1
            elif status == 'error':
                ET.SubElement(case, 'error', message=evidence)
                counts['errors'] += 1
            elif status in ('not_applicable', 'waived'):
                ET.SubElement(case, 'skipped', message=f'{status}: {evidence}')
                counts['skipped'] += 1
            else:
                ET.SubElement(case, 'system-out').text = evidence
        for key, value in counts.items():
            suite.set(key, str(value))
            totals[key] += value
    for key, value in totals.items():
        root.set(key, str(value))
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding='unicode') + '\n'


def pci_summary(reports, run_id=''):
    """A text summary: one line per host, then the failing and waived controls of each host."""
    reports = sorted(reports, key=lambda r: r.get('host', ''))
    compliant = sum(1 for r in reports if not r.get('error') and (r.get('summary') or {}).get('compliant'))
    title = f'PCI DSS v4.0.1 audit {run_id}'.strip()
    lines = [f'{title}: {len(reports)} terminals, {compliant} compliant, {len(reports) - compliant} not compliant']
    lines.append(f'{"HOST":<18} {"SCORE":>6} {"PASS":>5} {"FAIL":>5} {"WAIVED":>6} {"N/A":>4} {"ERROR":>5}  STATUS')
    for report in reports:
        s = report.get('summary') or {}
        status = 'UNREACHABLE' if report.get('error') else ('compliant' if s.get('compliant') else 'NOT COMPLIANT')
        score = f"{s.get('score', 0):.1f}%" if not report.get('error') else '-'
        lines.append(f"{report.get('host', '?'):<18} {score:>6} {s.get('pass', 0):>5} {s.get('fail', 0):>5} "
                     f"{s.get('waived', 0):>6} {s.get('not_applicable', 0):>4} {s.get('error', 0):>5}  {status}")
    details = []
    for report in reports:
        if report.get('error'):
            details.append(f"  - {report.get('host')}: not audited: {report['error']}")
        for control in report.get('controls') or []:
            if control.get('status') in ('fail', 'error', 'waived'):
                refs = ', '.join(control.get('pci_dss') or [])
                details.append(f"  - {report.get('host')}: {control['id']} ({refs}) {control['status']}: "
                               f"{control.get('evidence', '')}")
    if details:
        lines.append('')
        lines.append('Findings:')
        lines.extend(details)
    return '\n'.join(lines) + '\n'
