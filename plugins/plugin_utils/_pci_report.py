# Copyright (c) posfleet developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The PCI evidence's own content: what a terminal's audit record holds, and how the JUnit XML (one testcase
per control per host) and the text summary show it. Records, roll-up and writers are the run-record layer's
(``_runrecord``): the evidence is rolled up from the per-host records only, so sliced runs roll up too.
"""

from __future__ import annotations

from ansible_collections.posfleet.terminals.plugins.module_utils._untrusted import finite
from ansible_collections.posfleet.terminals.plugins.plugin_utils import _runrecord as rr

STATUSES = ('pass', 'fail', 'waived', 'not_applicable', 'error')
DEFAULT_NAME = 'PCI DSS v4.0.1 audit'


def pci_host_report(host, audit=None, run_id='', error=None, user=None, remediation=None):
    """The per-host evidence record written to ``<results>/audit/hosts/<host>.json``; ``remediation``, when
    the run asked for it, says whether it ran or was deferred (why, and the next window)."""
    audit = audit or {}
    summary = audit.get('summary') or {}
    if error:
        status = 'error'
    elif not summary:
        status = 'unknown'
    else:
        status = 'compliant' if summary.get('compliant') else 'not_compliant'
    return rr.host_record(
        host, run_id, status, error=error, user=user,
        terminal_id=audit.get('terminal_id'),
        summary=summary,
        controls=audit.get('controls') or [],
        pan_scan=audit.get('pan_scan'),
        fim=audit.get('fim'),
        sshd=audit.get('sshd'),  # which configuration the running sshd read: the SSH controls' evidence
        duration_ms=audit.get('duration_ms'),
        **({'remediation': remediation} if remediation else {}),
    )


def _not_audited(report):
    """Why a host has no controls: its error, or unreachable for a targeted host without a record."""
    return report.get('error') or (rr.UNREACHABLE_ERROR if report.get('status') == rr.UNREACHABLE else None)


def _hosts(fleet):
    """The fleet's records, with a placeholder for every unreachable host, sorted by host."""
    hosts = list(fleet.get('hosts') or []) + [rr.unreachable_record(h, fleet.get('run_id', ''))
                                              for h in fleet.get('unreachable') or []]
    return sorted(hosts, key=lambda r: r.get('host', ''))


def pci_junit(reports, name=DEFAULT_NAME, run_id='', expected=None):
    """JUnit XML: a testsuite per host, a testcase per control; fail -> failure, error or an unreachable host ->
    error, not_applicable and waived -> skipped (with the reason)."""
    suites = []
    for report in _hosts(rr.as_fleet(reports, run_id=run_id, expected=expected)):
        host = report.get('host', '?')
        cases = []
        if _not_audited(report):
            cases.append({'classname': host, 'name': 'audit', 'outcome': 'error', 'message': str(_not_audited(report))})
        for control in report.get('controls') or []:
            refs = ', '.join(control.get('pci_dss') or [])
            case = {'classname': f'{host}.{control.get("severity", "")}',
                    'name': f'{control["id"]} [{refs}] {control.get("title", "")}'}
            status = control.get('status')
            evidence = control.get('evidence', '')
            if status == 'fail':
                case.update(outcome='failure', message=evidence, type=control.get('severity', 'fail'),
                            text=f'Remediation: {control.get("remediation", "")}')
            elif status == 'error':
                case.update(outcome='error', message=evidence)
            elif status in ('not_applicable', 'waived'):
                case.update(outcome='skipped', message=f'{status}: {evidence}')
            else:
                case.update(outcome='pass', text=evidence)
            cases.append(case)
        suites.append((host, cases))
    return rr.junit_report(name, suites)


def pci_summary(reports, run_id='', expected=None):
    """A text summary: one line per host, then the failing and waived controls of each host."""
    fleet = rr.as_fleet(reports, run_id=run_id, expected=expected)
    reports = _hosts(fleet)
    compliant = sum(1 for r in reports if not _not_audited(r) and (r.get('summary') or {}).get('compliant'))
    not_audited = sum(1 for r in reports if _not_audited(r))
    title = f'{DEFAULT_NAME} {fleet.get("run_id") or run_id}'.strip()
    title += f': {len(reports)} terminals, {compliant} compliant, {len(reports) - compliant} not compliant'
    if not_audited:  # counted as not compliant: a terminal without evidence is never a pass
        title += f' ({not_audited} not audited)'
    rows, details = [], []
    for report in reports:
        s = report.get('summary') or {}
        down = _not_audited(report)
        # A terminal that answered but failed before its evidence was taken is an error, not an unreachable one.
        label = 'UNREACHABLE' if report.get('status') == rr.UNREACHABLE else 'ERROR'
        status = label if down else ('compliant' if s.get('compliant') else 'NOT COMPLIANT')
        score = f"{finite(s.get('score')) or 0:.1f}%" if not down else '-'  # a record file may hold anything
        rows.append((report.get('host', '?'), score) + tuple(s.get(k, 0) for k in STATUSES) + (status,))
        if down:
            details.append(f"{report.get('host')}: not audited: {down}")
        for control in report.get('controls') or []:
            if control.get('status') in ('fail', 'error', 'waived'):
                refs = ', '.join(control.get('pci_dss') or [])
                details.append(f"{report.get('host')}: {control['id']} ({refs}) {control['status']}: "
                               f"{control.get('evidence', '')}")
    header = ('HOST', 'SCORE', 'PASS', 'FAIL', 'WAIVED', 'N/A', 'ERROR', 'STATUS')
    return rr.text_report(title, header, rows, [('Findings', details)], align='lrrrrrrl')
