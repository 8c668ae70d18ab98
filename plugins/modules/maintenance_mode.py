#!/usr/bin/python
# Copyright (c) posfleet developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: maintenance_mode
short_description: Put a POS terminal in or out of maintenance mode
version_added: 0.1.0
description:
  - With O(state=enabled) the terminal refuses new transactions at once, shows O(screen_message) on its screen and waits
    up to O(drain_timeout) seconds for the transactions in flight to finish.
  - With O(state=disabled) the terminal takes transactions again and the module reports how long it was out of
    service in RV(out_of_service_seconds).
  - Maintenance mode is a lease. It survives a daemon restart and a reboot of the terminal, but the terminal leaves
    it by itself O(lease) seconds after the drain unless it is renewed (the reference terminal's daemon checks every
    second, and its boot loader ends a lease that ran out while the terminal was off). A run that dies, or loses the
    terminal, therefore never leaves it refusing payments for longer than the lease.
  - Enabling again renews the lease (RV(renewed)); a renewal alone is not a change. Roles that enter maintenance mode
    renew it while they work and leave it in an C(always) block, also when the work failed.
  - A terminal in maintenance mode that no run holds (no O(holder), or a lease that ran out) is RV(stale); the fleet
    reports count it as unhealthy and C(posfleet.terminals.daily) returns it to service.
  - Idempotent. Enabling with the same O(screen_message) again changes nothing; a different one is shown at once
    and reports a change.
  - Numbers out of range fail before anything is sent to the terminal, naming the option and its range.
author:
  - posfleet developers (@posfleet)
extends_documentation_fragment:
  - posfleet.terminals.attributes
  - posfleet.terminals.terminal
attributes:
  check_mode:
    support: full
    details:
      - Reads the current state and reports whether it would change; nothing is sent to the terminal.
  diff_mode:
    support: full
    details:
      - The diff shows C(enabled) and C(message) before and after.
  idempotent:
    support: full
options:
  state:
    description:
      - V(enabled) puts the terminal in maintenance mode; V(disabled) takes it out.
    type: str
    required: true
    choices: [enabled, disabled]
  screen_message:
    description:
      - What the terminal's screen shows while in maintenance mode.
      - Defaults to C(功能维护中) when O(language=zh-CN), C(Under maintenance) when O(language=en) and
        C(In Wartung) when O(language=de).
      - Ignored when O(state=disabled).
      - Named C(screen_message) because Ansible reserves the option name C(message).
    type: str
  language:
    description:
      - Language of the default O(screen_message).
    type: str
    choices: [zh-CN, en, de]
    default: zh-CN
  drain_timeout:
    description:
      - Seconds to wait for transactions in flight to finish after new ones are refused, from V(0) to V(3600).
      - When they have not finished by then, the terminal stays in maintenance mode (new transactions are still
        refused), the module warns and returns RV(drained=false).
    type: int
    default: 30
  lease:
    description:
      - Seconds, from V(10) to V(86400), that maintenance mode lasts after the drain (O(state=enabled)) unless it is
        renewed by enabling again; then the terminal returns to service by itself.
      - The default fits one maintenance window's work on a terminal; work that takes longer renews it (the
        C(posfleet.terminals.maintenance) role has a C(renew) entry point for that).
      - Ignored when O(state=disabled).
    type: int
    default: 900
  holder:
    description:
      - Who holds maintenance mode, normally the run's ID (C(posfleet_run_id)); printable, at most 200 characters.
      - Without a holder the terminal is in maintenance mode that no run holds, which the reports count as stale.
      - Ignored when O(state=disabled).
    type: str
seealso:
  - module: posfleet.terminals.facts
  - module: posfleet.terminals.selftest
"""

EXAMPLES = r"""
---
- name: Work on the terminal in maintenance mode, and always leave it
  become: true
  block:
    - name: Enter maintenance mode for 15 minutes at most, held by this run
      posfleet.terminals.maintenance_mode:
        state: enabled
        drain_timeout: 60
        lease: 900
        holder: "{{ posfleet_run_id }}"
      register: maintenance

    - name: Stop when transactions are still in flight
      ansible.builtin.assert:
        that: maintenance.drained
        fail_msg: "{{ maintenance.in_flight }} transaction(s) still in flight"

    # ... the work; long work renews the lease by enabling again (not a change) ...
    - name: Renew the lease
      posfleet.terminals.maintenance_mode:
        state: enabled
        lease: 900
        holder: "{{ posfleet_run_id }}"
  always:
    - name: Leave maintenance mode
      posfleet.terminals.maintenance_mode:
        state: disabled
      register: left

    - name: Report the time out of service
      ansible.builtin.debug:
        msg: "Out of service for {{ left.out_of_service_seconds }} s"

- name: Enter maintenance mode with an English message
  posfleet.terminals.maintenance_mode:
    state: enabled
    language: en
  become: true

- name: Enter maintenance mode with a message of our own
  posfleet.terminals.maintenance_mode:
    state: enabled
    screen_message: 系统升级中，请稍候
  become: true
"""

RETURN = r"""
terminal_id:
  description: The terminal's ID.
  returned: always
  type: str
  sample: SH01-T100-01
enabled:
  description: Whether the terminal is (or in check mode, would be) in maintenance mode.
  returned: always
  type: bool
  sample: true
message:
  description: The message on the terminal's screen; V(null) when maintenance mode is off.
  returned: always
  type: str
  sample: 功能维护中
since:
  description:
    - When maintenance mode was entered, as the terminal reports it (seconds since the epoch on the reference
      terminal); V(null) when it is off.
  returned: always
  type: raw
  sample: 1700000000.125
drained:
  description:
    - Whether no transaction is in flight any more. V(false) means the drain timeout passed with transactions
      still in flight (a warning says so).
    - V(null) when O(state=disabled).
  returned: always
  type: bool
  sample: true
in_flight:
  description: Transactions still in flight.
  returned: always
  type: int
  sample: 0
out_of_service_seconds:
  description:
    - With O(state=disabled), how long the terminal was in maintenance mode (V(0) when it was not in it). In check
      mode, the time so far.
    - V(null) when O(state=enabled).
  returned: always
  type: float
  sample: 312.4
expires:
  description:
    - When the lease ends and the terminal returns to service by itself (seconds since the epoch on the reference
      terminal); V(null) when maintenance mode is off. In check mode, the lease in force.
  returned: always
  type: raw
  sample: 1700000900.125
holder:
  description: Who holds maintenance mode (O(holder)); V(null) when off or held by nobody.
  returned: always
  type: str
  sample: 20261120T021000Z-4f2a
renewed:
  description: Whether the terminal was already in maintenance mode and its lease was moved (not a change).
  returned: always
  type: bool
  sample: false
stale:
  description:
    - Whether the terminal is in maintenance mode that no run holds (no holder, or a lease that ran out). Before the
      change in check mode, after it otherwise.
  returned: always
  type: bool
  sample: false
diff:
  description: C(enabled) and C(message) before and after.
  returned: when diff mode is on
  type: dict
  sample:
    before: {enabled: false, message: null}
    after: {enabled: true, message: 功能维护中}
"""

# Imports follow the documentation blocks, as ansible-test validate-modules requires.
import traceback  # noqa: E402

from ansible.module_utils.basic import AnsibleModule  # noqa: E402

from ansible_collections.posfleet.terminals.plugins.module_utils._maintenance import (  # noqa: E402
    get_maintenance_mode_argument_spec,
    run,
)
from ansible_collections.posfleet.terminals.plugins.module_utils._platform import TerminalError, load_platform  # noqa: E402


def main():
    module = AnsibleModule(
        argument_spec=get_maintenance_mode_argument_spec(),
        supports_check_mode=True,
    )
    p = module.params
    try:
        platform = load_platform()
        result, warnings = run(platform, p['state'], message=p['screen_message'], language=p['language'],
                               drain_timeout=p['drain_timeout'], check_mode=module.check_mode, lease=p['lease'],
                               holder=p['holder'])
    except TerminalError as exc:
        module.fail_json(msg=str(exc), step=exc.step, terminal_id=exc.terminal)
    except Exception as exc:
        module.fail_json(msg=f'posfleet.terminals.maintenance_mode: unexpected error: {exc}',
                         exception=traceback.format_exc())
    for warning in warnings:
        module.warn(warning)
    diff = result.pop('diff')
    if module._diff:
        result['diff'] = diff
    module.exit_json(**result)


if __name__ == '__main__':
    main()
