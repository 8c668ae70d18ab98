#!/usr/bin/python
# Copyright (c) posfleet developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# The controller side is the action plugin plugins/action/firmware.py (bundle checks, delta, transfer, reboots);
# this module is its terminal side, called once per stage.

from __future__ import annotations

DOCUMENTATION = r"""
module: firmware
short_description: Install signed A/B firmware on a POS terminal, health-gated, with automatic rollback
version_added: 0.3.0
description:
  - Installs the firmware O(version) from the signed bundle O(bundle) (made by C(posfleet.terminals.firmware_bundle))
    into the terminal's inactive slot, boots it once as a trial, runs the health gate and commits it; any failure
    rolls back to the old slot.
  - B(Before anything moves), on the controller, the bundle's signature is checked against O(trusted_keys) (minus
    O(revoked_keys)), its expiry and creation time, the sha256 of every payload file, and its compatibility with
    the terminal (model, hardware revision, minimum source version, downgrade, security version floor). The
    terminal must be in maintenance mode (C(posfleet.terminals.maintenance_mode)), its open batch settled (or
    O(settlement_override_reason) given), a mobile terminal's battery readable and at O(min_battery_pct) or more, and
    its free space enough. A refusal fails the task with every reason, each with its fix, and changes nothing on the
    terminal.
  - A terminal that already runs O(version), committed, is left alone (nothing transferred, no reboot,
    C(changed=false)).
  - B(Delta transfer.) Only the files whose sha256 the terminal holds in neither slot nor in its content cache are
    sent, packed into pieces of 8 MiB (one put each); the terminal checks the sha256 of every file it receives
    before anything is staged. An interrupted transfer resumes, and the pieces that arrived are not sent again.
    O(bandwidth_limit_kbps) paces the transfer for stores on slow links.
  - B(Trial and gate.) The inactive slot is staged (atomically; the active slot keeps the terminal bootable), a
    trial boot is started with a deadline (O(trial_deadline); an uncommitted trial falls back by itself), and the
    terminal is rebooted for real (its C(reboot) command). Once it answers again with a new boot id, the daemon must
    run for O(settle_seconds) without a restart, then the health gate runs (the self-test's critical checks, a
    training transaction to the acquirer, the version and slot the daemon reports). When it passes, the slot is
    committed and the terminal's security version floor is raised to the bundle's.
  - B(Rollback.) Any failure after the trial started ends the trial, reboots into the old slot, checks that the old
    version serves (the same gate) and fails the task with RV(rolled_back=true) and the RV(reason). A terminal that
    fell back by itself (its new daemon crashed during the trial boot, or the deadline passed) is reported the same
    way.
  - B(Revert.) With O(revert=true) the terminal goes back to the firmware in its other slot, the version it ran
    before its last update (an update leaves that slot as it was) - a trial of that slot, a real reboot, the same
    health gate, the commit; a failure boots the current slot again. Nothing is transferred and no bundle is
    needed. A slot below the terminal's security version floor is refused. C(playbooks/update.yml) reverts the
    terminals a stopped rollout had updated this way.
  - Run with C(become=true). The bundle stays on the controller; only payload files travel.
author:
  - posfleet developers (@posfleet)
extends_documentation_fragment:
  - posfleet.terminals.attributes
  - posfleet.terminals.terminal
attributes:
  check_mode:
    support: full
    details:
      - Verifies the bundle and the terminal and reports what would happen, including RV(bytes_transferred) and
        RV(files_transferred) that a real run would send. Nothing is transferred, staged or rebooted.
  diff_mode:
    support: full
    details:
      - The diff shows the active firmware version before and after.
  idempotent:
    support: full
  action:
    description: Runs partly on the controller (bundle checks, transfer planning) and partly on the terminal.
    support: full
options:
  version:
    description:
      - The firmware version to install. Must be the version in the bundle's signed manifest.
      - Required unless O(revert=true).
    type: str
  bundle:
    description:
      - Path on the controller of the firmware bundle (C(.posfw)).
      - Required unless O(revert=true).
    type: path
  trusted_keys:
    description:
      - The public keys (PEM text or paths on the controller) whose signatures are trusted.
      - Required unless O(revert=true).
    type: list
    elements: str
  revert:
    description:
      - Go back to the firmware in the terminal's other slot instead of installing a bundle (see the description).
      - The preconditions of an update apply (maintenance mode, a settled batch or O(settlement_override_reason),
        the battery); O(version), O(bundle) and O(trusted_keys) are not used.
    type: bool
    default: false
  revoked_keys:
    description:
      - Key ids (16 hex digits) that are revoked; a bundle signed by one is refused even if its key is trusted.
    type: list
    elements: str
    default: []
  allow_downgrade:
    description:
      - Allow a version older than the one running. A security version below the terminal's floor is refused even
        then (anti-rollback).
    type: bool
    default: false
  settlement_override_reason:
    description:
      - Update although the terminal's open batch is not settled. The reason is returned in
        RV(settlement_override_reason) for the audit trail. Without it an unsettled batch refuses the update.
    type: str
  min_battery_pct:
    description:
      - A terminal whose model has a battery is refused below this charge (V(0) to V(100)), and also when its
        charge cannot be read (a battery that does not report is not known to last the update). V(0) turns the
        battery check off, the override for a terminal whose battery gauge is broken. Terminals without a battery
        are not affected. The same rule as M(posfleet.terminals.software).
    type: int
    default: 40
  bandwidth_limit_kbps:
    description:
      - Limit the transfer to this many kilobits per second (V(0) = no limit), for stores on slow links.
    type: int
    default: 0
  trial_deadline:
    description:
      - Seconds (V(60) to V(604800)) within which the trial must be committed; after that the terminal falls back to
        the old slot by itself, without the controller.
    type: int
    default: 900
  reboot_timeout:
    description:
      - Seconds to wait for the terminal to come back after each reboot (a new boot id and an answer over the
        connection).
    type: int
    default: 180
  health_timeout:
    description:
      - Seconds to wait for the daemon to run steadily after a boot before the health gate fails.
    type: int
    default: 90
  settle_seconds:
    description:
      - Seconds the new daemon must run without a restart before the health gate (a daemon that crashes soon after
        it starts must not pass).
    type: int
    default: 12
  transaction_timeout:
    description:
      - Seconds the health gate's training transaction may take.
    type: int
    default: 10
  _stage:
    description:
      - Private, set by the action plugin for each of its calls of the module on the terminal. Do not set it.
    type: str
    choices: [inspect, boot_id, receive, install, revert, gate, recover, verify, finish]
  _stage_args:
    description:
      - Private, the arguments of O(_stage). Do not set it.
    type: dict
    default: {}
seealso:
  - module: posfleet.terminals.maintenance_mode
  - module: posfleet.terminals.selftest
notes:
  - RV(out_of_service_s) is the time from the reboot into the trial until the terminal serves again (gate passed, or
    the old version verified after a rollback). The terminal is in maintenance mode for the whole update anyway.
"""

EXAMPLES = r"""
- name: Enter maintenance mode
  posfleet.terminals.maintenance_mode:
    state: enabled
  become: true

- name: Install firmware 2.4.0
  posfleet.terminals.firmware:
    version: 2.4.0
    bundle: /srv/firmware/posfw-2.4.0.posfw
    trusted_keys:
      - /srv/firmware/keys/release.pub
    revoked_keys: [3f2a9c0d11e4b7a8]
  become: true
  register: fw

- name: Install over a slow store link, although the batch is open
  posfleet.terminals.firmware:
    version: 2.4.1
    bundle: /srv/firmware/posfw-2.4.1.posfw
    trusted_keys: "{{ posfleet_firmware_trusted_keys }}"
    bandwidth_limit_kbps: 2000
    settlement_override_reason: "CHG-4711: settlement host down, approved by store ops"
  become: true

- name: Go back to the firmware the terminal ran before its last update
  posfleet.terminals.firmware:
    revert: true
  become: true
"""

RETURN = r"""
terminal_id:
  description: The terminal's ID.
  returned: always
  type: str
  sample: SH01-T100-01
previous_version:
  description: The firmware version that was active before.
  returned: always
  type: str
  sample: 2.3.1
version:
  description: The firmware version active after the run (the old one after a rollback or a refusal).
  returned: always
  type: str
  sample: 2.4.0
bytes_transferred:
  description: Payload bytes sent to the terminal (in check mode, that a real run would send). V(0) on a re-run.
  returned: always
  type: int
  sample: 1048576
files_transferred:
  description: Payload files sent, or partly sent when a transfer resumed (in check mode, that would be sent).
  returned: always
  type: int
  sample: 2
bytes_total:
  description: The size of the whole payload of the bundle.
  returned: always
  type: int
  sample: 20971520
rolled_back:
  description: Whether the new firmware failed and the terminal is back on RV(previous_version).
  returned: always
  type: bool
  sample: false
fell_back:
  description: Whether the terminal fell back to the old slot by itself (its new daemon crashed during the trial boot).
  returned: always
  type: bool
  sample: false
reason:
  description: Why the update was refused or rolled back; V(null) when it succeeded or had nothing to do.
  returned: always
  type: str
  sample: "1 critical check failed (card_reader: firmware 2.4.0 defect: card_reader self-test fails)"
refused:
  description: The reasons the update was refused before anything moved (each ends with what to do); V([]) otherwise.
  returned: always
  type: list
  elements: str
  sample: ["firmware 2.4.0 is for models x900, not t100. Fix: use the bundle built for t100."]
settlement_override_reason:
  description: O(settlement_override_reason) when the open batch was not settled and the update went ahead.
  returned: always
  type: str
  sample: "CHG-4711: settlement host down"
slot:
  description: The slot that is active after the run.
  returned: always
  type: str
  sample: b
gate:
  description: The health gate's verdict on the new firmware (C(ok), C(reason), C(checks), C(daemon_version)).
  returned: when the gate ran
  type: dict
  sample: {ok: true, reason: null, daemon_version: 2.4.0, checks: []}
duration_s:
  description: Wall time of the task on the controller, in seconds.
  returned: always
  type: float
  sample: 41.3
transfer_s:
  description: Seconds the transfer of the payload took (with O(bandwidth_limit_kbps), paced to the limit).
  returned: always
  type: float
  sample: 2.4
out_of_service_s:
  description: Seconds from the reboot into the trial until the terminal served again; V(0) without a reboot.
  returned: always
  type: float
  sample: 23.8
diff:
  description: The active firmware version before and after.
  returned: when diff mode is on
  type: dict
  sample: {before: {version: 2.3.1}, after: {version: 2.4.0}}
"""

# Imports follow the documentation blocks, as ansible-test validate-modules requires.
import traceback  # noqa: E402

from ansible.module_utils.basic import AnsibleModule  # noqa: E402

from ansible_collections.posfleet.terminals.plugins.module_utils._firmware import (  # noqa: E402
    FIRMWARE_REQUIRED_IF,
    get_firmware_argument_spec,
    run_stage,
)
from ansible_collections.posfleet.terminals.plugins.module_utils._platform import TerminalError, load_platform  # noqa: E402


def main():
    module = AnsibleModule(argument_spec=get_firmware_argument_spec(), required_if=FIRMWARE_REQUIRED_IF,
                           supports_check_mode=True)
    p = module.params
    if not p['_stage']:
        module.fail_json(msg='posfleet.terminals.firmware runs through its action plugin (the bundle stays on the '
                         'controller). Fix: call it as a task, not with ansible -m ... -a from an ad-hoc module path')
    try:
        result = run_stage(load_platform(), p['_stage'], p['_stage_args'] or {}, p)
    except TerminalError as exc:
        module.fail_json(msg=str(exc), step=exc.step, terminal_id=exc.terminal)
    except Exception as exc:
        module.fail_json(msg=f'posfleet.terminals.firmware: unexpected error in stage {p["_stage"]}: {exc}',
                         exception=traceback.format_exc())
    module.exit_json(changed=False, **result)


if __name__ == '__main__':
    main()
