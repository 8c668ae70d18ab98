"""The backup_retention action per terminal, as the backup role's monthly step runs it: a real local restic
repository, terminal ids compared without case, and one check serving the terminals."""

from __future__ import annotations

import datetime

import pytest

from ansible_collections.posfleet.terminals.plugins.plugin_utils import _restic

PASSWORD = 'Repo-pw 7f3a!x'


@pytest.fixture
def action(make_action):
    """A factory of backup_retention actions."""
    return lambda args, check_mode=False: make_action('backup_retention', args, check_mode)


@pytest.fixture
def fleet_repository(tmp_path):
    """Three snapshots of BK01-T100-01 and two of BK01-T100-02, five years old and holding no settlement."""
    repo = _restic.Repository(str(tmp_path / 'repo'), PASSWORD, str(tmp_path / 'cache'))
    repo.init_if_missing()
    src = tmp_path / 'src'
    src.mkdir()
    old = datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(days=5 * 365)
    for index, host in enumerate(['BK01-T100-01'] * 3 + ['BK01-T100-02'] * 2):
        (src / 'journal').write_text(f'{host} {index}\n')
        repo.backup(str(src), host, [f'terminal_id={host}', 'settled=none'],
                    time=old + datetime.timedelta(days=index))
    return repo


def run(action, tmp_path, check_mode=False, **args):
    options = {'repository': str(tmp_path / 'repo'), 'repository_password': PASSWORD,
               'cache_dir': str(tmp_path / 'cache'), 'keep_last': 1, 'check_reuse_hours': 24,
               'read_data_subset': '1/12'}
    options.update(args)
    return action(options, check_mode=check_mode).run(task_vars={'inventory_hostname': 'bk01-t100-01'})


def hosts_left(repo):
    return sorted(snap['hostname'] for snap in repo.snapshots())


def test_per_terminal_retention_forgets_only_that_terminals_snapshots_and_one_check_serves(action, tmp_path,
                                                                                           fleet_repository):
    checked = run(action, tmp_path, check_mode=True, terminal_ids=['bk01-t100-01'])
    assert checked['changed'] and checked['forgotten'] == 2 and checked['checked'] is None
    assert hosts_left(fleet_repository) == ['BK01-T100-01'] * 3 + ['BK01-T100-02'] * 2
    first = run(action, tmp_path, terminal_ids=['bk01-t100-01'])  # the inventory's name, lower case
    assert not first.get('failed'), first.get('msg')
    assert first['changed'] and first['forgotten'] == 2 and first['pruned'] and first['checked']
    assert first['check_reused'] is False and set(first['terminals']) == {'BK01-T100-01'}
    assert hosts_left(fleet_repository) == ['BK01-T100-01', 'BK01-T100-02', 'BK01-T100-02']
    again = run(action, tmp_path, terminal_ids=['BK01-T100-01'])
    assert not again['changed'] and again['forgotten'] == 0 and again['kept'] == 1
    assert again['check_reused'] is True and again['checked_at'] == first['checked_at']
    # a terminal with no snapshot: nothing decided (not every terminal's), the check still stands
    nobody = run(action, tmp_path, terminal_ids=['sh09-t100-01'])
    assert not nobody['changed'] and nobody['terminals'] == {} and nobody['check_reused'] is True
    assert hosts_left(fleet_repository) == ['BK01-T100-01', 'BK01-T100-02', 'BK01-T100-02']
    other_part = run(action, tmp_path, terminal_ids=['BK01-T100-01'], read_data_subset='2/12')
    assert other_part['checked'] and other_part['check_reused'] is False


def test_a_prune_makes_the_next_terminal_check_again(action, tmp_path, fleet_repository):
    alone = run(action, tmp_path, terminal_ids=['BK01-T100-02'], keep_last=2)  # keeps both: no prune
    assert not alone['changed'] and not alone['pruned'] and alone['check_reused'] is False
    pruned = run(action, tmp_path, terminal_ids=['BK01-T100-01'])
    assert pruned['pruned'] and pruned['check_reused'] is False and pruned['checked_at'] > alone['checked_at']
    assert run(action, tmp_path, terminal_ids=['BK01-T100-02'], keep_last=2)['check_reused'] is True


def test_a_reuse_of_more_than_a_week_is_refused_and_changes_nothing(action, tmp_path, fleet_repository):
    refused = run(action, tmp_path, terminal_ids=['BK01-T100-01'], check_reuse_hours=169)
    assert refused['failed'] and 'check_reuse_hours' in refused['msg'] and 'Fix:' in refused['msg']
    assert hosts_left(fleet_repository) == ['BK01-T100-01'] * 3 + ['BK01-T100-02'] * 2


def test_one_prune_a_day_the_next_terminals_forget_and_leave_the_data_to_the_next(action, tmp_path, fleet_repository):
    first = run(action, tmp_path, terminal_ids=['BK01-T100-01'], prune_interval_hours=24)
    assert first['pruned'] and not first['prune_deferred'] and first['forgotten'] == 2
    second = run(action, tmp_path, terminal_ids=['BK01-T100-02'], prune_interval_hours=24)
    assert second['forgotten'] == 1 and second['prune_deferred'] and not second['pruned']
    assert second['check_reused'] is True  # no prune since the first one's check
    assert hosts_left(fleet_repository) == ['BK01-T100-01', 'BK01-T100-02']
    again = run(action, tmp_path, terminal_ids=['BK01-T100-02'], prune_interval_hours=24, keep_last=None,
                keep_within='1h')
    assert not again['changed'] and not again['pruned'] and not again['prune_deferred']
