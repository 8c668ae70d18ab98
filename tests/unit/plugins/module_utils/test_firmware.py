# Copyright (c) posfleet developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The firmware update's pure parts: the delta plan and the option ranges (the update itself runs against real
terminals in extensions/molecule/firmware)."""

from __future__ import annotations

import pytest

from ansible_collections.posfleet.terminals.plugins.module_utils._firmware import (
    check_option_ranges,
    empty_slot_problem,
    get_firmware_argument_spec,
    pending_trial_problem,
    plan_delta,
)
from ansible_collections.posfleet.terminals.plugins.module_utils._platform import TerminalError
from ansible_collections.posfleet.terminals.plugins.module_utils._update_preconditions import sentence

A, B, C = 'a' * 64, 'b' * 64, 'c' * 64
FILES = {
    'bin/posd': {'sha256': A, 'size': 100, 'mode': '0755'},
    'lib/one.bin': {'sha256': B, 'size': 1000, 'mode': '0644'},
    'lib/same-as-one.bin': {'sha256': B, 'size': 1000, 'mode': '0644'},
    'lib/two.bin': {'sha256': C, 'size': 500, 'mode': '0644'},
}


@pytest.mark.parametrize('held, partial, shas, wire', [
    ({}, {}, [A, B, C], 1600),  # a file listed twice travels once
    ({A: 100}, {}, [B, C], 1500),
    ({A: 100, B: 1000, C: 500}, {}, [], 0),  # a re-run sends nothing
    ({A: 100}, {B: 400}, [B, C], 1100),  # an interrupted transfer resumes where it ended
    ({A: 100}, {B: 5000}, [B, C], 500),  # a partial longer than the file sends nothing of it (the terminal refuses)
])
def test_plan_delta(held, partial, shas, wire):
    missing, planned = plan_delta(FILES, held, partial)
    assert sorted(missing) == shas
    assert planned == wire
    if B in missing:
        assert missing[B][0] == 'lib/one.bin'


def test_option_ranges_refuse_before_anything():
    options = {name: entry.get('default') for name, entry in get_firmware_argument_spec().items()}
    check_option_ranges(options, 'T1')
    with pytest.raises(TerminalError, match='trial_deadline'):
        check_option_ranges(dict(options, trial_deadline=5), 'T1')
    with pytest.raises(TerminalError, match='min_battery_pct'):
        check_option_ranges(dict(options, min_battery_pct=101), 'T1')


def test_the_pending_trial_and_empty_slot_refusals_read_the_same_for_the_stage_and_the_plugin():
    pending = pending_trial_problem({'active_version': '2.4.0', 'active_slot': 'b'}, 'revert', 'T1')
    assert str(pending) == ('terminal T1: revert: a trial of firmware 2.4.0 in slot b is pending. Fix: let it finish '
                            '(it is committed or falls back by itself), then run again')
    assert sentence(pending) == ('A trial of firmware 2.4.0 in slot b is pending. Fix: let it finish (it is committed '
                                 'or falls back by itself), then run again.')
    empty = empty_slot_problem('a', 'revert', 'T1')
    assert sentence(empty) == ('Slot a holds no earlier firmware to go back to. Fix: install the version you want from '
                               'a signed bundle instead.')
