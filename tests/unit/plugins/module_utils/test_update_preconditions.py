# Copyright (c) posfleet developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

import pytest

from ansible_collections.posfleet.terminals.plugins.module_utils._platform import TerminalError
from ansible_collections.posfleet.terminals.plugins.module_utils._update_preconditions import (
    problems,
    read_facts,
    refusal,
    settlement_override,
    space_problem,
)

MIB = 1 << 20
READY = {'mobile': False, 'maintenance': {'enabled': True}, 'battery': None,
         'journal': {'unsettled_count': 0, 'unsettled_amount_minor': 0, 'currency': 'CNY'}}
OPTIONS = {'settlement_override_reason': None, 'min_battery_pct': 40}


def facts(**changes):
    return dict(READY, **changes)


def mobile(charge, error=None):
    return {'mobile': True, 'battery': {'charge_pct': charge, 'charging': False, 'error': error}}


def test_a_ready_terminal_has_no_problem():
    assert problems(READY, OPTIONS, 'software', 'T1') == []
    assert problems(facts(**mobile(40)), OPTIONS, 'software', 'T1', space=(10 * MIB, 10 * MIB)) == []
    assert refusal([], 'software', 'T1') is None


@pytest.mark.parametrize('changes, options, words', [
    ({'maintenance': {'enabled': False}}, {}, 'not in maintenance mode'),
    ({'maintenance': {'enabled': False, 'error': 'daemon down'}}, {}, 'not in maintenance mode (daemon down)'),
    ({'maintenance': None}, {}, 'not in maintenance mode'),
    ({'journal': {'unsettled_count': 3, 'unsettled_amount_minor': 1250, 'currency': 'CNY'}}, {},
     'not settled: 3 unsettled transaction(s), 1250 CNY in minor units'),
    ({'journal': {'unsettled_count': None}}, {}, 'the open batch cannot be read (no unsettled count)'),
    ({'journal': {'error': 'socket refused'}}, {}, 'the open batch cannot be read (socket refused)'),
    ({'journal': {'unsettled_count': True}}, {}, 'the open batch cannot be read'),
    (mobile(39), {}, 'the battery is at 39%, below min_battery_pct 40%'),
    (mobile(None), {}, 'battery charge of this mobile terminal cannot be read (no charge reported)'),
    (mobile(None, 'the battery does not report'), {}, 'cannot be read (the battery does not report)'),
    ({'mobile': True, 'battery': None}, {}, 'cannot be read'),
    (mobile('55'), {}, 'cannot be read'),
    (mobile(80), {'min_battery_pct': 90}, 'below min_battery_pct 90%'),
])
def test_each_rule_refuses_with_its_fix(changes, options, words):
    found = problems(facts(**changes), dict(OPTIONS, **options), 'firmware', 'T1')
    assert len(found) == 1
    assert words in found[0].message
    assert str(found[0]).startswith('terminal T1: firmware: ') and '. Fix: ' in str(found[0])


def test_an_unreadable_battery_names_its_override_and_the_override_works():
    found = problems(facts(**mobile(None)), OPTIONS, 'software', 'T1')
    assert 'min_battery_pct: 0' in found[0].fix
    assert problems(facts(**mobile(None)), dict(OPTIONS, min_battery_pct=0), 'software', 'T1') == []
    assert problems(facts(**mobile(5)), dict(OPTIONS, min_battery_pct=0), 'software', 'T1') == []


def test_a_terminal_without_a_battery_is_not_judged_on_it():
    assert problems(facts(battery={'charge_pct': 1}), OPTIONS, 'software', 'T1') == []


@pytest.mark.parametrize('journal', [
    {'unsettled_count': 3}, {'unsettled_count': None}, {'error': 'socket refused'}])
def test_the_override_reason_lets_an_unsettled_or_unknown_batch_pass(journal):
    options = dict(OPTIONS, settlement_override_reason='CHG-1')
    assert problems(facts(journal=journal), options, 'software', 'T1') == []


@pytest.mark.parametrize('journal', [
    {'unsettled_count': 3}, {'unsettled_count': None}, {'unsettled_count': True}, {'error': 'socket refused'}])
def test_the_override_is_in_force_only_where_it_lets_the_batch_pass(journal):
    options = dict(OPTIONS, settlement_override_reason='CHG-1')
    assert settlement_override(facts(journal=journal), options) == 'CHG-1'
    assert settlement_override(facts(journal=journal), OPTIONS) is None  # refused: problems() says why
    assert settlement_override(READY, options) is None  # a settled batch needs no override: none is recorded
    assert settlement_override(facts(journal=None), options) == 'CHG-1'


def test_every_problem_is_listed_in_order_and_refusal_says_them_all():
    broken = facts(maintenance={'enabled': False}, journal={'unsettled_count': 2}, **mobile(10))
    found = problems(broken, OPTIONS, 'refused', 'T1', space=(5 * MIB, 6 * MIB + 1))
    assert [p.message.split(' ')[1] for p in found] == ['terminal', 'open', 'battery', 'MiB']
    one = refusal(found, 'software', 'T1')
    text = str(one)
    assert text.startswith('terminal T1: software: The terminal is not in maintenance mode. Fix: enter it first')
    assert text.count('Fix: ') == 4 and text.endswith('Fix: free space on the terminal (old logs, receipts), then run '
                                                      'again')
    assert refusal(found[:1], 'software', 'T1').message == found[0].message


def test_space_problem_in_mib():
    assert space_problem(10 * MIB, 10 * MIB, 'software') is None
    short = space_problem(5 * MIB, 6 * MIB + 1, 'software', 'T1')
    assert short.message == '5 MiB are free, the update needs 7 MiB' and short.fix


class _Platform:
    """The reads ``read_facts`` makes, each answering or raising as a terminal may."""

    def __init__(self, battery_model=True, battery=None, fail=()):
        self.battery_model = battery_model
        self.battery = battery
        self.fail = fail

    def _answer(self, name, value):
        if name in self.fail:
            raise TerminalError(name, f'{name} cannot be read', 'check the daemon', 'T1')
        return value

    def model(self):
        return {'model': 't200', 'peripherals': {'battery': self.battery_model}}

    def maintenance_state(self, live=False):
        return self._answer('maintenance', {'enabled': True, 'source': 'daemon'})

    def journal_summary(self):
        return self._answer('journal', {'unsettled_count': 0})

    def peripherals(self):
        return self._answer('peripherals', {'battery': self.battery or {}})


def test_read_facts_turns_failed_reads_into_problems():
    read = read_facts(_Platform(fail=('maintenance', 'journal', 'peripherals')))
    assert read['mobile'] is True and read['battery']['error'] == 'peripherals cannot be read'
    messages = [p.message for p in problems(read, OPTIONS, 'software', 'T1')]
    assert messages == ['the terminal is not in maintenance mode (maintenance cannot be read)',
                        'the open batch cannot be read (journal cannot be read)',
                        'the battery charge of this mobile terminal cannot be read (peripherals cannot be read)']


def test_read_facts_with_a_stopped_daemon_and_a_battery_that_does_not_report():
    read = read_facts(_Platform(battery={'present': False}), daemon={'running': False, 'error': 'no socket'})
    assert read['maintenance'] == {'enabled': False, 'error': 'the terminal daemon is not running: no socket'}
    assert read['journal'] == {'error': 'the terminal daemon is not running: no socket'}
    assert read['battery']['error'] == 'the battery does not report'
    charged = read_facts(_Platform(battery={'present': True, 'charge_pct': 77}))
    assert charged['battery']['charge_pct'] == 77 and problems(charged, OPTIONS, 'software') == []
    assert read_facts(_Platform(battery_model=False))['battery'] is None
