#!/usr/bin/python
# Copyright (c) posfleet developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: facts
short_description: Gather the facts of a POS terminal in one round trip
version_added: 0.1.0
description:
  - Reads everything the other concerns of the collection decide on, in one invocation per terminal, and returns
    it as C(ansible_facts.posfleet).
  - Identity, model, firmware slots and boot environment, applications, peripherals with their live state
    (paper level, battery charge, temperature, ...), disk usage, boot time, maintenance mode, the transaction
    journal's summary, the records the other concerns leave (last backup, credential rotation, audit) and the
    terminal daemon's state.
  - When the terminal daemon is not running the module still returns what the terminal's files give, sets
    C(running=false) in RV(ansible_facts.posfleet.daemon) and warns, naming the terminal and the cause. The journal
    summary is then read from the journal database itself and maintenance mode from its state file.
author:
  - posfleet developers (@posfleet)
extends_documentation_fragment:
  - posfleet.terminals.attributes
  - posfleet.terminals.attributes.INFO_MODULE
  - posfleet.terminals.attributes.FACTS
  - posfleet.terminals.terminal
options:
  gather_subset:
    description:
      - Which groups of facts to gather. V(all) gathers every group.
      - Prefix a name with C(!) to leave it out, for example V(!journal) together with V(all).
      - RV(ansible_facts.posfleet.identity) is always gathered.
      - Only V(peripherals), V(battery), V(sensors), V(maintenance), V(journal) and V(daemon) ask the terminal
        daemon; the other groups read files.
    type: list
    elements: str
    default: [all]
    choices:
      - all
      - identity
      - firmware
      - applications
      - peripherals
      - battery
      - sensors
      - disk
      - uptime
      - maintenance
      - journal
      - records
      - daemon
      - '!firmware'
      - '!applications'
      - '!peripherals'
      - '!battery'
      - '!sensors'
      - '!disk'
      - '!uptime'
      - '!maintenance'
      - '!journal'
      - '!records'
      - '!daemon'
seealso:
  - module: posfleet.terminals.selftest
  - module: posfleet.terminals.maintenance_mode
"""

EXAMPLES = r"""
---
- name: Gather the terminal's facts
  posfleet.terminals.facts:
  become: true

- name: Show firmware and paper level
  ansible.builtin.debug:
    msg: >-
      {{ ansible_facts.posfleet.identity.terminal_id }} runs {{ ansible_facts.posfleet.firmware.active_version }}
      from slot {{ ansible_facts.posfleet.firmware.active_slot }},
      paper {{ ansible_facts.posfleet.peripherals.printer.paper_pct | default('n/a') }}%

- name: Gather only what the firmware role needs (no daemon round trip)
  posfleet.terminals.facts:
    gather_subset:
      - firmware
      - disk
  become: true

- name: Everything but the journal
  posfleet.terminals.facts:
    gather_subset:
      - all
      - '!journal'
  become: true
"""

RETURN = r"""
ansible_facts:
  description: Facts to add to the host's facts.
  returned: always
  type: dict
  contains:
    posfleet:
      description: The terminal's facts. Groups left out by O(gather_subset) are absent.
      returned: always
      type: dict
      contains:
        identity:
          description: Who the terminal is (from C(/etc/posfleet/terminal.json) and the model description).
          returned: always
          type: dict
          sample:
            terminal_id: SH01-T100-01
            serial: PF1A2B3C4D
            model: t100
            store: sh01
            timezone: Asia/Shanghai
            platform: posfleet-reference
            vendor: PosFleet
            model_description: Countertop terminal
        firmware:
          description:
            - Firmware slots and boot environment. C(state) is V(pending_trial) while a newly installed slot boots
              on trial (C(upgrade_available=1)), V(committed) otherwise.
            - V(null) with a warning when the boot environment cannot be read.
          returned: when O(gather_subset) includes V(firmware)
          type: dict
          sample:
            active_slot: a
            inactive_slot: b
            active_version: 2.3.1
            slots:
              a: {version: 2.3.1, present: true, models: [t100, m200]}
              b: {version: null, present: false, models: null}
            bootenv: {upgrade_available: 0, bootcount: 0, bootlimit: 3}
            state: committed
            last_fallback: null
        applications:
          description: Installed payment applications, sorted by name.
          returned: when O(gather_subset) includes V(applications)
          type: list
          elements: dict
          sample: [{name: emv-kernel, version: 7.1.0}]
        peripherals:
          description:
            - One entry per device the model declares or the daemon reports, with C(present) (from the model),
              C(ok) and C(detail) (live from the daemon; V(null) when the daemon is not running) and the device's
              state keys (C(paper_pct), C(jam), C(charge_pct), C(temperature_c), ...).
          returned: when O(gather_subset) includes V(peripherals)
          type: dict
          sample:
            printer: {present: true, ok: true, detail: ok, paper_pct: 80, jam: false, head_wear_km: 12.5,
                      head_life_km: 150, cover_open: false}
            battery: {present: false, ok: null, detail: null}
        battery:
          description: The battery's entry of RV(ansible_facts.posfleet.peripherals), V(null) when the model has none.
          returned: when O(gather_subset) includes V(battery)
          type: dict
          sample: {present: true, ok: true, detail: ok, charge_pct: 86, health_pct: 93, cycle_count: 212,
                   charging: false}
        sensors:
          description: The sensors' entry of RV(ansible_facts.posfleet.peripherals), V(null) when the model has none.
          returned: when O(gather_subset) includes V(sensors)
          type: dict
          sample: {present: true, ok: true, detail: ok, temperature_c: 38.5, humidity_pct: 41}
        disk:
          description: Usage of C(/) and of the file system of the transaction journal (the platform names them).
          returned: when O(gather_subset) includes V(disk)
          type: list
          elements: dict
          sample:
            - {path: /, total_bytes: 8589934592, free_bytes: 6442450944, used_bytes: 2147483648, used_pct: 25.0}
        boot_time:
          description: When the terminal last booted (UTC, ISO 8601), from its boot loader's record.
          returned: when O(gather_subset) includes V(uptime)
          type: str
          sample: '2026-11-20T02:10:00Z'
        uptime_seconds:
          description: Seconds since RV(ansible_facts.posfleet.boot_time).
          returned: when O(gather_subset) includes V(uptime)
          type: int
          sample: 86400
        boots:
          description: How many times the terminal has booted.
          returned: when O(gather_subset) includes V(uptime)
          type: int
          sample: 12
        maintenance:
          description:
            - Maintenance mode. C(source) is V(daemon) when read live, V(file) when read from the persisted state
              because the daemon is not running.
            - Maintenance mode is a lease (M(posfleet.terminals.maintenance_mode)) - C(expires) is when it ends by
              itself and C(holder) the run that holds it; C(stale) is V(true) when the terminal is in maintenance
              mode that no run holds (no holder, no lease, or a lease that ran out).
          returned: when O(gather_subset) includes V(maintenance)
          type: dict
          sample: {enabled: false, since: null, message: null, source: daemon, expires: null, holder: null,
                   stale: false}
        journal:
          description:
            - Summary of the transaction journal (training transactions excluded). C(source) is V(daemon), or
              V(journal_db) when read from the database because the daemon is not running.
          returned: when O(gather_subset) includes V(journal)
          type: dict
          sample:
            transactions_today: 412
            unsettled_batches: 1
            unsettled_count: 412
            unsettled_amount_minor: 1234500
            currency: CNY
            last_transaction: '2026-11-20T09:59:55Z'
            open_batch: {batch_id: B20261120, count: 412, amount_minor: 1234500, currency: CNY}
            source: daemon
        records:
          description: What the other concerns recorded on the terminal (UTC, ISO 8601, V(null) when never).
          returned: when O(gather_subset) includes V(records)
          type: dict
          sample: {last_backup: '2026-11-20T02:10:00Z', last_credential_rotation: null, last_audit: null}
        recovery_point:
          description:
            - How many transactions the journal holds that were recorded at or after C(last_backup) (when that
              backup's journal copy was taken; every transaction when the terminal was never backed up) - what a
              restore from the last backup could lose. V(null) when the journal cannot be read.
          returned: when O(gather_subset) includes V(records)
          type: dict
          sample: {last_backup: '2026-11-20T02:10:00Z', transactions: 12}
        daemon:
          description: The terminal daemon. C(error) says why it could not be asked when C(running) is V(false).
          returned: when O(gather_subset) includes V(daemon)
          type: dict
          sample: {running: true, version: 2.3.1, slot: a, pid: 42, started: 1700000000, error: null}
        subsets:
          description: The groups gathered.
          returned: always
          type: list
          elements: str
          sample: [identity, firmware, disk]
        collected_at:
          description: When the facts were gathered (UTC, ISO 8601).
          returned: always
          type: str
          sample: '2026-11-20T10:00:00Z'
"""

# Imports follow the documentation blocks, as ansible-test validate-modules requires.
import traceback  # noqa: E402

from ansible.module_utils.basic import AnsibleModule  # noqa: E402

from ansible_collections.posfleet.terminals.plugins.module_utils._facts import gather, get_facts_argument_spec  # noqa: E402
from ansible_collections.posfleet.terminals.plugins.module_utils._platform import TerminalError, load_platform  # noqa: E402


def main():
    module = AnsibleModule(argument_spec=get_facts_argument_spec(), supports_check_mode=True)
    try:
        platform = load_platform()
        facts, warnings = gather(platform, module.params['gather_subset'])
    except TerminalError as exc:
        module.fail_json(msg=str(exc), step=exc.step, terminal_id=exc.terminal)
    except Exception as exc:
        module.fail_json(msg=f'posfleet.terminals.facts: unexpected error: {exc}',
                         exception=traceback.format_exc())
    for warning in warnings:
        module.warn(warning)
    module.exit_json(changed=False, ansible_facts={'posfleet': facts})


if __name__ == '__main__':
    main()
