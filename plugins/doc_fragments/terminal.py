# Copyright (c) posfleet developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations


class ModuleDocFragment:
    # Requirements and notes shared by every module that runs on a terminal.
    DOCUMENTATION = r"""
options: {}
requirements:
  - A posfleet terminal (C(/etc/posfleet/terminal.json) names its platform) with Python 3.9 or later.
  - Root on the terminal (C(become=true)) to reach the terminal daemon's control socket.
notes:
  - >-
    Failures name the terminal, the step and what to do, as in
    C(terminal SH01-T100-01: daemon: control socket ... refused the connection (posd is not running). Fix: check
    the daemon's log, then reboot the terminal).
  - One invocation is one round trip to the terminal, whatever it reads.
"""
