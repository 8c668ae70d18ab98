#!/usr/bin/python
# Copyright (c) posfleet developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# This module is implemented as an action plugin (plugins/action/backup_retention.py): it runs on the controller.

from __future__ import annotations

DOCUMENTATION = r"""
module: backup_retention
short_description: Forget old backup snapshots of the terminals, never one holding a settlement younger than three years
version_added: 0.1.0
description:
  - Applies a keep policy (O(keep_daily), O(keep_weekly), O(keep_monthly), O(keep_yearly), ...) to the snapshots
    that M(posfleet.terminals.backup) stored, per terminal, with restic's own rules (C(restic forget --keep-*),
    grouped by host, which is the terminal id).
  - One rule is above the policy - a snapshot holding a settlement record younger than O(settlement_years) is
    never forgotten, whatever the policy says. Its C(settled=) tag says the date of the newest settlement record it
    holds (or C(none)); a snapshot without one is taken to hold a settlement as young as itself. With terminals
    that settle every day this keeps every snapshot of the last three years; restic's deduplication stores only
    what changed between them.
  - Then C(restic prune) removes the data no snapshot needs any more (at most once in O(prune_interval_hours)), and
    C(restic check) verifies the repository, reading O(read_data_subset) of the data (the monthly tier reads a part
    of it every month).
  - Runs on the controller and makes no connection to a terminal. Run it once for the repository (C(run_once)),
    or per terminal with O(terminal_ids) and O(check_reuse_hours), as the C(backup) role's monthly C(retention)
    step does.
  - On an append-only REST server (C(rclone serve restic --append-only)) the backup credential cannot delete - the
    task fails with the fix. Give the maintenance credential, which the server of the same directory without
    C(--append-only) accepts.
author:
  - posfleet developers (@posfleet)
extends_documentation_fragment:
  - posfleet.terminals.attributes
  - posfleet.terminals.restic_repository
attributes:
  check_mode:
    support: full
    details: Says which snapshots would be forgotten and which the settlement rule keeps (C(restic forget
      --dry-run)); deletes nothing.
  diff_mode:
    support: none
  idempotent:
    support: full
    details: A second run with the same policy forgets nothing.
  platform:
    platforms: posix
  action:
    description: Indicates this has a corresponding action plugin so some parts of the options can be executed on the
      controller.
    support: full
    details: The whole module is the action plugin; nothing runs on a terminal.
options:
  keep_last:
    description: Keep the last this many snapshots of each terminal.
    type: int
  keep_hourly:
    description: Keep the last snapshot of each of the last this many hours that have one.
    type: int
  keep_daily:
    description: Keep the last snapshot of each of the last this many days that have one.
    type: int
  keep_weekly:
    description: Keep the last snapshot of each of the last this many weeks that have one.
    type: int
  keep_monthly:
    description: Keep the last snapshot of each of the last this many months that have one.
    type: int
  keep_yearly:
    description: Keep the last snapshot of each of the last this many years that have one.
    type: int
  keep_within:
    description: Keep every snapshot younger than this, counted from the terminal's newest snapshot, in restic's
      form (V(1y6m), V(30d), V(12h)).
    type: str
  settlement_years:
    description:
      - How long a settlement record is kept - a snapshot holding one younger than this is never forgotten.
      - Three years at least (the maintenance guides' minimum); a smaller value is refused.
    type: int
    default: 3
  terminal_ids:
    description:
      - Apply retention to these terminals' snapshots only (terminal ids compared without case, so an inventory host
        name serves). Default every terminal in the repository.
    type: list
    elements: str
  prune:
    description: Remove the data that no snapshot needs once snapshots were forgotten (C(restic forget --prune)).
    type: bool
    default: true
  prune_interval_hours:
    description:
      - With O(prune), prune at most once in this many hours - when this controller pruned the repository less than
        that ago, the run forgets and leaves the data to the next prune (RV(prune_deferred)). restic's advice is to
        forget often and prune rarely - a prune reads every snapshot's trees and may repack the data.
      - Default V(0) - every run that forgot a snapshot prunes. The C(backup) role's C(retention) step gives V(24) -
        one prune a month for the fleet, the data forgotten after it removed the next month.
    type: int
    default: 0
  check:
    description: Run C(restic check) at the end (its result is RV(checked)).
    type: bool
    default: true
  read_data_subset:
    description:
      - With O(check), also read and verify this much of the data (C(restic check --read-data-subset)) -
        V(10%) (a random tenth), or V(n/t), the n-th of t fixed parts, e.g. V(3/12).
      - The C(backup) role's monthly C(retention) step gives V(<month>/12), so twelve monthly runs read all the
        data once a year.
      - Default none - the structure is checked, the data is not read.
    type: str
  check_reuse_hours:
    description:
      - A passing C(restic check) of the same repository and the same O(read_data_subset), made on this controller
        less than this many hours ago and after the controller's last prune of the repository, stands for this
        run's check (RV(check_reused)). Runs of the terminals side by side (forks) take turns, so one check serves
        them all.
      - Default V(0) - always check. The C(backup) role's C(retention) step, which runs per terminal, gives V(24).
    type: int
    default: 0
seealso:
  - module: posfleet.terminals.backup
"""

EXAMPLES = r"""
- name: Forget old snapshots with the maintenance credential, keep the settlement records three years
  posfleet.terminals.backup_retention:
    repository: rest:http://127.0.0.1:8001/
    repository_password: "{{ vault_posfleet_backup_password }}"
    repository_user: maintenance
    repository_user_password: "{{ vault_posfleet_backup_maintenance_password }}"
    keep_daily: 7
    keep_weekly: 5
    keep_monthly: 12
    keep_yearly: 7
    read_data_subset: "{{ now(utc=true).month }}/12"
  run_once: true
  register: retention

- name: Show what the settlement rule kept
  ansible.builtin.debug:
    msg: "{{ retention.terminals | dict2items | map(attribute='value.held') | flatten | map(attribute='short_id') }}"
  run_once: true
"""

RETURN = r"""
repository:
  description: O(repository) (it holds no credential).
  returned: always
  type: str
  sample: rest:http://127.0.0.1:8001/
terminals:
  description:
    - Per terminal id - C(kept) (the policy keeps them, C(why) says restic's reasons), C(held) (the policy would
      forget them, the settlement rule keeps them, C(why) says until when) and C(forgotten).
    - Each snapshot as C(id), C(short_id), C(time) and C(tags).
  returned: success
  type: dict
  sample:
    SH01-T100-01:
      kept:
        - {id: 8c3e6306..., short_id: 8c3e6306, time: '2026-11-30T10:00:00Z', tags: [terminal_id=SH01-T100-01],
           why: [daily snapshot]}
      held:
        - {id: 0fef0870..., short_id: 0fef0870, time: '2025-06-01T10:00:00Z', tags: [settled=2025-06-01],
           why: ['holds a settlement of 2025-06-01, younger than 3 years: kept until 2028-06-01']}
      forgotten: []
kept:
  description: How many snapshots the policy keeps.
  returned: success
  type: int
  sample: 12
held:
  description: How many snapshots the settlement rule keeps that the policy would have forgotten.
  returned: success
  type: int
  sample: 40
forgotten:
  description: How many snapshots were forgotten (would be, in check mode).
  returned: success
  type: int
  sample: 3
forgotten_ids:
  description: Their full ids.
  returned: success
  type: list
  elements: str
  sample: [bea50444a7f7b4828deea73bcf070d0b12f4a96ed9cf07a405e5f19a8d36109e]
settlement_cutoff:
  description: A settlement made on or before this date (UTC) is old enough to be forgotten.
  returned: success
  type: str
  sample: '2023-12-03'
pruned:
  description: Whether C(restic prune) ran (only after snapshots were forgotten).
  returned: success
  type: bool
  sample: true
prune_deferred:
  description: Whether snapshots were forgotten and their data left to the next prune (O(prune_interval_hours)).
  returned: success
  type: bool
  sample: false
checked:
  description: Whether C(restic check) passed (V(null) when O(check) is false or in check mode).
  returned: always
  type: bool
  sample: true
check_reused:
  description: Whether an earlier passing check stood for this run's (O(check_reuse_hours)).
  returned: always
  type: bool
  sample: false
checked_at:
  description: When the check that stands for this run started (UTC; V(null) when none ran).
  returned: always
  type: str
  sample: '2026-12-01T03:31:07.412245+00:00'
read_data_subset:
  description: How much of the data C(restic check) read (V(null) - none).
  returned: success
  type: str
  sample: 1/12
duration_s:
  description: Seconds the whole run took.
  returned: always
  type: float
  sample: 3.1
"""
