#!/usr/bin/python
# Copyright (c) posfleet developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: selftest
short_description: Run a POS terminal's self-test and judge its health in one round trip
version_added: 0.1.0
description:
  - Runs the terminal daemon's hardware self-test (card reader, scanner, receipt printer with a real test receipt,
    battery, sensors), measures TCP reachability of the acquirer from the terminal, and runs a training-mode test
    transaction over TLS to the acquirer.
  - Judges the results against thresholds and returns one check per concern in RV(checks), in this order
    (critical checks marked with *) - C(daemon)*, C(card_reader)*, C(scanner), C(printer)* (paper, jam, cover),
    C(printer_head) (head wear), C(battery) (charge), C(battery_health), C(sensors) (temperature),
    C(network)* (TCP connect to the acquirer; fails when the acquirer link does not verify the acquirer's
    certificate - C(verify) false or unknown), C(acquirer_transaction)* (approval, authorisation time, TLS
    handshake).
  - A check is V(not_applicable) when the model lacks the device (for example C(model t100 has no battery)),
    when it was skipped, or when the daemon is not running (the C(daemon) check then fails with the reason).
  - Consumables (paper, print head wear, battery health) warn before they fail; print head wear and battery health
    only ever warn.
  - Thresholds compare strictly. V(5) for O(paper_fail_pct) means 5% itself does not fail; V(60) for
    O(temperature_warn_c) means 60°C itself passes.
  - Numeric options are checked against their allowed range before the terminal is asked anything (timeouts 1 to
    120 s, percentages 0 to 100, temperatures -40 to 150 °C, latency thresholds 1 to 120000 ms); a value outside
    it fails the task with step C(options), naming the terminal, the option, the range and the fix.
  - The module is diagnostic, so it never reports C(changed). Under O(fail_on) the task fails with a message naming
    the terminal and each failing check with its reason; all results are still returned.
author:
  - posfleet developers (@posfleet)
extends_documentation_fragment:
  - posfleet.terminals.attributes
  - posfleet.terminals.terminal
attributes:
  check_mode:
    support: partial
    details:
      - In check mode only the non-intrusive part runs. No test receipt is printed and no test transaction is
        sent; the C(acquirer_transaction) check reads V(not_applicable) with the reason C(skipped in check mode).
  diff_mode:
    support: N/A
    details:
      - This action does not modify the terminal's configuration.
  idempotent:
    support: full
    details:
      - The module never reports a change. A real run prints a test receipt and records a training transaction.
options:
  print_receipt:
    description:
      - Print a real test receipt during the printer test. Not done in check mode.
    type: bool
    default: true
  transaction:
    description:
      - Send a training-mode test transaction to the acquirer (recorded in the journal as training, never settled).
        Not done in check mode.
      - When V(false) the C(acquirer_transaction) check reads V(not_applicable).
    type: bool
    default: true
  transaction_timeout:
    description:
      - Seconds the daemon may take for the test transaction (connect, TLS handshake and answer).
      - The reference terminal accepts 1 to 120.
    type: int
    default: 10
  network_timeout:
    description: Seconds to wait for the TCP connection to the acquirer in the C(network) check.
    type: int
    default: 5
  fail_on:
    description:
      - When the task fails.
      - V(critical) fails when a critical check (marked with * above) fails.
      - V(any) fails when any check fails. Warnings never fail the task.
      - V(never) only reports; use RV(healthy) and RV(summary) to decide.
    type: str
    choices: [critical, any, never]
    default: critical
  paper_warn_pct:
    description: Warn when the receipt paper is below this percentage.
    type: int
    default: 20
  paper_fail_pct:
    description: Fail the C(printer) check when the receipt paper is below this percentage.
    type: int
    default: 5
  head_wear_warn_pct:
    description: Warn when the print head's wear is above this percentage of its rated life.
    type: int
    default: 80
  battery_warn_pct:
    description: Warn when the battery charge is below this percentage.
    type: int
    default: 20
  battery_fail_pct:
    description: Fail the C(battery) check when the battery charge is below this percentage.
    type: int
    default: 10
  battery_health_warn_pct:
    description: Warn when the battery's health (capacity left of the design capacity) is below this percentage.
    type: int
    default: 70
  temperature_warn_c:
    description: Warn when the terminal's temperature is above this many degrees Celsius.
    type: float
    default: 60.0
  temperature_fail_c:
    description: Fail the C(sensors) check when the terminal's temperature is above this many degrees Celsius.
    type: float
    default: 70.0
  network_connect_warn_ms:
    description: Warn when the TCP connection to the acquirer takes longer than this many milliseconds.
    type: int
    default: 1000
  acquirer_warn_ms:
    description:
      - Warn when the test authorisation takes longer than this many milliseconds in all, as the cashier waits for
        it (TCP connect, TLS handshake and the acquirer's answer).
    type: int
    default: 2000
  acquirer_fail_ms:
    description:
      - Fail the C(acquirer_transaction) check when the test authorisation takes longer than this many milliseconds
        in all.
    type: int
    default: 5000
  tls_handshake_warn_ms:
    description: Warn when the TLS handshake with the acquirer takes longer than this many milliseconds.
    type: int
    default: 1000
seealso:
  - module: posfleet.terminals.facts
  - module: posfleet.terminals.maintenance_mode
"""

EXAMPLES = r"""
---
- name: Daily self-test (fails on critical checks)
  posfleet.terminals.selftest:
  become: true
  register: selftest

- name: Report warnings without failing, with a stricter paper threshold
  posfleet.terminals.selftest:
    fail_on: never
    paper_warn_pct: 30
  become: true
  register: selftest

- name: List what needs attention
  ansible.builtin.debug:
    msg: "{{ item.name }}: {{ item.reason }}"
  loop: "{{ selftest.checks | selectattr('status', 'in', ['warn', 'fail']) }}"
  loop_control:
    label: "{{ item.name }}"

- name: Health check after a firmware trial boot, without printing a receipt
  posfleet.terminals.selftest:
    print_receipt: false
    fail_on: any
  become: true
"""

RETURN = r"""
terminal_id:
  description: The terminal's ID.
  returned: always
  type: str
  sample: SH01-T100-01
model:
  description: The terminal's model.
  returned: always
  type: str
  sample: t100
checks:
  description:
    - One entry per check, always all of them, in a stable order.
    - C(status) is V(pass), V(warn), V(fail) or V(not_applicable); C(critical) marks checks without which the
      terminal cannot take card payments; C(reason) is a short sentence that says what to do when it is not
      V(pass); C(value) is the check's main measurement (paper %, charge %, °C, response ms) or V(null);
      C(latency_ms) how long the device or link took; C(details) the raw values behind the check (for
      C(acquirer_transaction) also C(tls_version), C(cipher), C(connect_ms), C(handshake_ms), C(response_ms) and
      their sum C(total_ms)).
  returned: always
  type: list
  elements: dict
  sample:
    - {name: daemon, status: pass, critical: true, latency_ms: null, reason: posd 2.3.1 running from slot a,
       value: 2.3.1, details: {version: 2.3.1, slot: a, pid: 42, started: 1700000000}}
    - {name: printer, status: fail, critical: true, latency_ms: 120, value: 0,
       reason: 'paper at 0% (fail below 5%): load a new paper roll', details: {paper_pct: 0, jam: false}}
    - {name: battery, status: not_applicable, critical: false, latency_ms: null, value: null,
       reason: model t100 has no battery, details: {}}
    - {name: acquirer_transaction, status: pass, critical: true, latency_ms: 99.5, value: 99.5,
       reason: approved in 99.5 ms over TLSv1.3 (TLS handshake 12 ms),
       details: {approved: true, tls_version: TLSv1.3, connect_ms: 2.5, handshake_ms: 12, response_ms: 85,
                 total_ms: 99.5}}
summary:
  description: Count of checks per status, and RV(healthy).
  returned: always
  type: dict
  sample: {pass: 7, warn: 1, fail: 0, not_applicable: 2, healthy: true}
healthy:
  description: V(true) when no check failed (warnings allowed), whatever O(fail_on) says.
  returned: always
  type: bool
  sample: true
receipt_printed:
  description: Whether a test receipt was printed.
  returned: always
  type: bool
  sample: true
errors:
  description: Problems that kept parts of the test from running (the affected checks say so too).
  returned: always
  type: list
  elements: str
  sample: []
duration_ms:
  description: How long the self-test took on the terminal.
  returned: always
  type: int
  sample: 1450
"""

# Imports follow the documentation blocks, as ansible-test validate-modules requires.
import traceback  # noqa: E402

from ansible.module_utils.basic import AnsibleModule  # noqa: E402

from ansible_collections.posfleet.terminals.plugins.module_utils._platform import TerminalError, load_platform  # noqa: E402
from ansible_collections.posfleet.terminals.plugins.module_utils._selftest import (  # noqa: E402
    get_selftest_argument_spec,
    run,
)


def main():
    module = AnsibleModule(argument_spec=get_selftest_argument_spec(), supports_check_mode=True)
    try:
        platform = load_platform()
        result, failure = run(platform, check_mode=module.check_mode, **module.params)
    except TerminalError as exc:
        module.fail_json(msg=str(exc), step=exc.step, terminal_id=exc.terminal, healthy=False)
    except Exception as exc:
        module.fail_json(msg=f'posfleet.terminals.selftest: unexpected error: {exc}',
                         exception=traceback.format_exc())
    if failure:
        module.fail_json(msg=failure, changed=False, **result)
    module.exit_json(changed=False, **result)


if __name__ == '__main__':
    main()
