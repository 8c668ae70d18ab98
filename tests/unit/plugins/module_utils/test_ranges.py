# Copyright (c) posfleet developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""``_ranges``: the one check of numeric options; NaN, infinities, booleans and strings are never in range."""

from __future__ import annotations

import pytest

from ansible_collections.posfleet.terminals.plugins.module_utils import _selftest
from ansible_collections.posfleet.terminals.plugins.module_utils._platform import TerminalError
from ansible_collections.posfleet.terminals.plugins.module_utils._ranges import Range, check_ranges, out_of_range


@pytest.mark.parametrize('value, inside', [
    (1, True), (120, True), (60.5, True), (0, False), (121, False), (-1, False), (10 ** 13, False),
    (float('nan'), False), (float('inf'), False), (float('-inf'), False), (True, False), ('5', False),
])
def test_range_holds(value, inside):
    assert Range(1, 120, 'seconds').holds(value) is inside


def test_an_empty_range_is_a_programming_error():
    with pytest.raises(ValueError):
        Range(5, 1)


def test_lists_are_judged_element_by_element_and_none_is_left_to_the_default():
    ranges = {'ports': Range(1, 65535), 'timeout': Range(1, 120, 'seconds')}
    assert out_of_range({'ports': [22, 0, 70000], 'timeout': None}, ranges) == [
        ('ports', 0, ranges['ports']), ('ports', 70000, ranges['ports'])]


def test_the_error_names_the_terminal_the_option_the_range_and_the_fix():
    with pytest.raises(TerminalError) as caught:
        check_ranges({'network_timeout': -1, 'paper_warn_pct': 150}, _selftest.SELFTEST_RANGES, 'SH01-T100-01')
    assert str(caught.value) == (
        'terminal SH01-T100-01: options: option network_timeout=-1 is out of range (allowed 1 to 120 seconds); '
        'option paper_warn_pct=150 is out of range (allowed 0 to 100%). Fix: set network_timeout to a number from '
        '1 to 120; set paper_warn_pct to a number from 0 to 100 (nothing was changed)')
    assert caught.value.step == 'options'
