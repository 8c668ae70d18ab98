# Copyright (c) posfleet developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Allowed ranges of numeric module options: declared next to each module's argument spec, checked in one place.

Ansible's argument spec types a number but does not bound it, so a negative or huge timeout would reach the
socket layer (``Timeout value out of range``) or turn into a failed transaction. Each concern declares
``{option: Range(low, high, unit)}`` beside its ``get_*_argument_spec()``; ``check_ranges`` rejects every value
outside its range (a list option: each element) before the module reads or changes anything, naming the
terminal, the option, the range and the fix. NaN and infinities are never in range.

Private to the collection (leading underscore): it may change without notice.
Target-side code: Python >= 3.9 standard library only.
"""

from __future__ import annotations

import collections
import math

from ansible_collections.posfleet.terminals.plugins.module_utils._platform.base import TerminalError

STEP = 'options'


class Range(collections.namedtuple('Range', 'low high unit')):
    """Inclusive bounds of a numeric option; ``unit`` (``seconds``, ``%``, ...) is for the message only."""

    def __new__(cls, low, high, unit=''):
        if not low <= high:
            raise ValueError(f'range {low} to {high} is empty')
        return super().__new__(cls, low, high, unit)

    def holds(self, value):
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            return False
        if isinstance(value, float) and not math.isfinite(value):
            return False
        return self.low <= value <= self.high

    def describe(self):
        unit = f' {self.unit}' if self.unit and self.unit != '%' else self.unit
        return f'{self.low} to {self.high}{unit}'


def out_of_range(params, ranges):
    """``[(option, value, range)]`` for every value of ``params`` outside its declared range (``None``: not given,
    left to the module's default; a list: each element is judged)."""
    problems = []
    for name, bounds in ranges.items():
        value = params.get(name)
        if value is None:
            continue
        for item in value if isinstance(value, (list, tuple)) else [value]:
            if not bounds.holds(item):
                problems.append((name, item, bounds))
    return problems


def range_problem(params, ranges):
    """``(message, fix)`` naming each option out of range, or ``None`` when all are in range."""
    problems = out_of_range(params, ranges)
    if not problems:
        return None
    message = '; '.join(f'option {name}={value!r} is out of range (allowed {bounds.describe()})'
                        for name, value, bounds in problems)
    fix = '; '.join(f'set {name} to a number from {bounds.low} to {bounds.high}'
                    for name, bounds in {name: bounds for name, dummy, bounds in problems}.items())
    return message, fix + ' (nothing was changed)'


def check_ranges(params, ranges, terminal_id=None, step=STEP):
    """Raise a TerminalError naming the terminal and each option out of range; nothing else is done."""
    problem = range_problem(params, ranges)
    if problem:
        raise TerminalError(step, problem[0], problem[1], terminal_id)
