# Copyright (c) posfleet developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The controller side's one error that carries its fix: each concern subclasses it (BundleError, ResticError, ...),
so a task's message always reads ``<what is wrong>. Fix: <what to do>``.

Private to the collection (leading underscore): it may change without notice.
"""

from __future__ import annotations


class FixableError(Exception):
    """What is wrong and what to do: ``str()`` is ``"<message>. Fix: <fix>"``."""

    def __init__(self, message, fix):
        self.message = message.rstrip('.')
        self.fix = fix
        super().__init__(f'{self.message}. Fix: {fix}')
