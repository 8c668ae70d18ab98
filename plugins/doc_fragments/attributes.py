# Copyright (c) posfleet developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations


class ModuleDocFragment:
    # The attribute descriptions every module of the collection declares; each module sets the support.
    DOCUMENTATION = r"""
options: {}
attributes:
  check_mode:
    description: Can run in C(check_mode) and return changed status prediction without modifying the terminal.
  diff_mode:
    description: >-
      Will return details on what has changed (or possibly needs changing in C(check_mode)), when in diff mode.
  platform:
    description: Target OS/families that can be operated against.
    support: full
    platforms: posix
    details:
      - Runs on the terminal, with the terminal's own Python 3.9 or later (standard library only).
      - Terminal specifics go through the collection's platform layer, chosen by the C(platform) key of
        C(/etc/posfleet/terminal.json). The supported platform today is C(posfleet-reference), the reference terminal.
  idempotent:
    description:
      - When run twice in a row outside check mode, with the same arguments, the second invocation indicates no change.
      - This assumes that the terminal has not changed in a relevant way in between.
"""

    # Together with the standard fragment: a module that only reads.
    INFO_MODULE = r"""
options: {}
attributes:
  check_mode:
    support: full
    details:
      - This action does not modify state.
  diff_mode:
    support: N/A
    details:
      - This action does not modify state.
  idempotent:
    support: full
    details:
      - This action does not modify state.
"""

    # Alone (not with the standard fragment): an action plugin that works on the controller only. The plugin
    # declares its own check_mode attribute.
    CONTROLLER = r"""
options: {}
attributes:
  diff_mode:
    description: Will return details on what has changed, when in diff mode.
    support: none
  platform:
    description: Target OS/families that can be operated against.
    support: full
    platforms: posix
    details: Runs on the controller (an action plugin); the terminals are not contacted.
"""

    # Together with the standard fragment: a module that returns facts.
    FACTS = r"""
options: {}
attributes:
  facts:
    description: Action returns an C(ansible_facts) dictionary that will update existing host facts.
    support: full
"""
