# Copyright (c) posfleet developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The restore drill's records and fleet summary (run_record concern ``drill``)."""

from __future__ import annotations

from ansible_collections.posfleet.terminals.plugins.plugin_utils import _drill_report

PASSED = {'terminal_id': 'SH01-T100-01', 'passed': True, 'problems': [], 'snapshot_id': 'ab12cd34' * 8,
          'age_hours': 3.5, 'journal_rows': 120, 'recorded_rows': 120, 'journal_last_txn_id': 130,
          'recorded_last_txn_id': 130, 'restore_s': 0.8, 'duration_s': 1.6,
          'pan_scan': {'pan_count': 0, 'sad_count': 0, 'where': []}}
LEAKY = dict(PASSED, passed=False, problems=['the backup holds 1 full card numbers in /var/log/posd/leak.log'],
             pan_scan={'pan_count': 1, 'sad_count': 0, 'where': ['/var/log/posd/leak.log']})


def test_a_drill_without_problems_passes_and_one_with_a_problem_fails():
    good = _drill_report.host_record('sh01-t100-01', 'r1', PASSED)
    assert good['status'] == 'passed' and good['error'] is None and good['pan_count'] == 0
    bad = _drill_report.host_record('sh01-t100-02', 'r1', LEAKY)
    assert bad['status'] == 'failed' and bad['pan_where'] == ['/var/log/posd/leak.log'] and 'leak.log' in bad['error']


def test_a_drill_that_did_not_run_fails_with_its_error():
    record = _drill_report.host_record('sh01-t100-03', 'r1', None, 'no repository is configured')
    assert record['status'] == 'failed' and record['problems'] == ['no repository is configured']
    assert _drill_report.host_record('x', 'r1', {'passed': True}, 'the task failed')['status'] == 'failed'


def test_the_fleet_summary_lists_every_terminal_and_the_problems():
    records = [_drill_report.host_record('sh01-t100-01', 'r1', PASSED),
               _drill_report.host_record('sh01-t100-02', 'r1', LEAKY)]
    fleet = _drill_report.fleet_summary(records, run_id='r1', expected=['sh01-t100-01', 'sh01-t100-02', 'sh01-m200-01'])
    assert fleet['counts'] == {'passed': 1, 'failed': 1, 'unreachable': 1} and not fleet['passed']
    assert [rec['host'] for rec in fleet['hosts']] == ['sh01-m200-01', 'sh01-t100-01', 'sh01-t100-02']
    text = fleet['text']
    assert text.startswith('Restore drill r1: 3 terminals, ')
    assert 'sh01-t100-02: the backup holds 1 full card numbers in /var/log/posd/leak.log' in text
    assert 'sh01-m200-01: ' in text and 'ab12cd34 ' in text
    assert _drill_report.fleet_summary(records[:1], run_id='r1', expected=['sh01-t100-01'])['passed']
