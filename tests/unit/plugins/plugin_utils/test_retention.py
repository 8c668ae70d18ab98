# Copyright (c) posfleet developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Retention's settlement rule: the pure decision, then with the real restic on snapshots made at fake dates
(``restic backup --time``), where restic's own keep policy would forget snapshots that the rule keeps."""

from __future__ import annotations

import datetime
import shutil

import pytest

from ansible_collections.posfleet.terminals.plugins.plugin_utils import _restic, _retention

needs_restic = pytest.mark.skipif(not shutil.which('restic'), reason='needs the restic binary (apt-get install restic)')

TODAY = datetime.date(2026, 12, 3)


def snap(time, *tags, sid='a' * 64):
    return {'id': sid, 'time': time, 'tags': list(tags)}


def test_years_before_handles_the_leap_day():
    assert _retention.years_before(datetime.date(2026, 12, 3), 3) == datetime.date(2023, 12, 3)
    assert _retention.years_before(datetime.date(2024, 2, 29), 3) == datetime.date(2021, 2, 28)
    assert _retention.years_before(datetime.date(2024, 2, 29), -1) == datetime.date(2025, 2, 28)


@pytest.mark.parametrize('snapshot, held', [
    # the newest settlement decides, not the snapshot's own age
    (snap('2021-01-01T00:00:00Z', 'settled=2023-12-04'), True),
    (snap('2026-11-30T00:00:00Z', 'settled=2023-12-03'), False),  # exactly three years old: may go
    (snap('2026-11-30T00:00:00Z', 'settled=none'), False),
    # no readable tag: the snapshot may hold a settlement as young as itself
    (snap('2024-06-01T10:00:00Z'), True),
    (snap('2024-06-01T10:00:00Z', 'settled=unknown'), True),
    (snap('2023-12-02T23:00:00Z', 'settled=garbage'), False),
    (snap('not a time', 'settled=unknown'), True),
])
def test_a_snapshot_holding_a_settlement_younger_than_the_retention_is_held(snapshot, held):
    reason = _retention.settlement_hold(snapshot, TODAY, 3)
    assert bool(reason) is held, reason
    if reason and 'settled=2023-12-04' in snapshot['tags']:
        assert reason == 'holds a settlement of 2023-12-04, younger than 3 years: kept until 2026-12-04'


def test_a_longer_retention_holds_longer():
    assert _retention.settlement_hold(snap('2022-01-01T00:00:00Z', 'settled=2022-01-01'), TODAY, 3) is None
    assert _retention.settlement_hold(snap('2022-01-01T00:00:00Z', 'settled=2022-01-01'), TODAY, 7)


def test_decide_takes_back_what_the_settlement_rule_holds():
    plan = [{'host': 'T1', 'keep': [snap('2026-12-01T00:00:00Z', 'settled=2026-11-30', sid='k' * 64)],
             'remove': [snap('2025-01-01T00:00:00Z', 'settled=2024-12-31', sid='h' * 64),
                        snap('2019-01-01T00:00:00Z', 'settled=2018-12-31', sid='f' * 64)],
             'reasons': {'k' * 64: ['daily snapshot']}}]
    decision = _retention.decide(plan, TODAY, 3)
    assert decision['forget'] == ['f' * 64]
    entry = decision['terminals']['T1']
    assert [s['short_id'] for s in entry['kept']] == ['kkkkkkkk'] and entry['kept'][0]['why'] == ['daily snapshot']
    assert [s['short_id'] for s in entry['held']] == ['hhhhhhhh'] and 'until 2027-12-31' in entry['held'][0]['why'][0]
    assert [s['short_id'] for s in entry['forgotten']] == ['ffffffff']


@needs_restic
def test_restic_forgets_only_what_neither_the_policy_nor_the_settlement_rule_keeps(tmp_path):
    repo = _restic.Repository(str(tmp_path / 'repo'), 'pw-retention', str(tmp_path / 'cache'))
    repo.init_if_missing()
    src = tmp_path / 'src'
    src.mkdir()
    today = datetime.datetime.now(datetime.timezone.utc).date()
    made = {}

    def backup(host, days_ago, settled_days_ago):
        (src / 'journal').write_text(f'{host} {days_ago}\n')
        when = datetime.datetime.combine(today - datetime.timedelta(days=days_ago), datetime.time(22, 0))
        settled = 'none' if settled_days_ago is None else (today - datetime.timedelta(days=settled_days_ago))
        tags = [f'terminal_id={host}', f'settled={settled}']
        made[(host, days_ago)] = repo.backup(str(src), host=host, tags=tags, time=when)['snapshot_id']

    for days_ago, settled in ((1, 1), (2, 2), (400, 401), (1000, 1001), (1200, 1201), (1300, None)):
        backup('T1', days_ago, settled)
    backup('T2', 5, 5)
    backup('T2', 1500, 1500)
    # restic alone (keep the last 2 of each terminal) would forget T1's 400, 1000, 1200 and 1300 day old snapshots.
    plan = repo.forget_plan({'keep-last': 2})
    assert {group['host']: len(group['remove']) for group in plan} == {'T1': 4, 'T2': 0}
    decision = _retention.decide(plan, today, 3)
    held = {s['id'] for s in decision['terminals']['T1']['held']}
    # 400 and 1000 days: settlements younger than three years (1096 days); 1200: older; 1300: settled=none.
    assert held == {made[('T1', 400)], made[('T1', 1000)]}
    assert set(decision['forget']) == {made[('T1', 1200)], made[('T1', 1300)]}
    assert all(s['why'] == ['last snapshot'] for s in decision['terminals']['T1']['kept'])
    repo.forget(decision['forget'], prune=True)
    left = {s['id'] for s in repo.snapshots()}
    assert left == set(made.values()) - set(decision['forget'])
    repo.check(read_data_subset='100%')
    # Again: nothing more to forget (idempotent).
    assert _retention.decide(repo.forget_plan({'keep-last': 2}), today, 3)['forget'] == []
    # Limited to one terminal: the other's snapshots are not in the plan.
    assert [group['host'] for group in repo.forget_plan({'keep-last': 1}, hosts=['T2'])] == ['T2']
