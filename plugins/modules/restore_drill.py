#!/usr/bin/python
# Copyright (c) posfleet developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# This module is implemented as an action plugin (plugins/action/restore_drill.py): it runs on the controller.

from __future__ import annotations

DOCUMENTATION = r"""
module: restore_drill
short_description: Prove a terminal's latest backup can be restored, on the controller, without touching the terminal
version_added: 0.1.0
description:
  - Restores the terminal's latest snapshot from the restic repository into a scratch directory on the controller
    (removed after) and checks that it could replace the terminal - every file's sha256 against the snapshot's
    manifest, the journal's C(PRAGMA integrity_check), its row count and last transaction id against what the
    backup recorded - and that it holds no full card number and no sensitive authentication data (the scanner of
    M(posfleet.terminals.pan_scan) over every restored file).
  - Any problem fails the task loudly, naming the terminal, what is wrong and the fix; C(problems) lists them all.
    The monthly tier's C(restore drill) step runs it for every terminal (C(playbooks/restore_drill.yml) on its
    own), so a failed drill fails the tier and shows in the maintenance report.
  - Makes no connection to the terminal; the repository password never leaves the controller.
author:
  - posfleet developers (@posfleet)
extends_documentation_fragment:
  - posfleet.terminals.attributes
  - posfleet.terminals.restic_repository
attributes:
  check_mode:
    support: full
    details: The drill reads only; it runs the same in check mode.
  diff_mode:
    support: none
  idempotent:
    support: full
    details: Never changes anything.
  platform:
    platforms: posix
  action:
    description: Indicates this has a corresponding action plugin so some parts of the options can be executed on the
      controller.
    support: full
    details: The whole module is the action plugin.
options:
  terminal_id:
    description: Whose latest snapshot (terminal ids are compared without case). Default the inventory host name.
    type: str
  scratch_dir:
    description: Where the snapshot is restored (a directory per drill inside it, removed after). Default
      C(~/.cache/posfleet/drill).
    type: path
  max_age_hours:
    description: Also fail when the latest snapshot is older than this (V(0) - any age).
    type: int
    default: 0
seealso:
  - module: posfleet.terminals.backup
  - module: posfleet.terminals.restore
  - module: posfleet.terminals.pan_scan
"""

EXAMPLES = r"""
- name: Restore drill of the terminal's latest backup
  posfleet.terminals.restore_drill:
    repository: /srv/posfleet/backups/restic
    repository_password: "{{ vault_posfleet_backup_password }}"
    max_age_hours: 192  # a weekly backup plus a day
  register: drill
"""

RETURN = r"""
terminal_id:
  description: The terminal whose snapshot was drilled.
  returned: always
  type: str
  sample: SH01-T100-01
passed:
  description: Whether every check passed.
  returned: always
  type: bool
  sample: true
problems:
  description: What failed, each with its fix.
  returned: always
  type: list
  elements: str
  sample: []
snapshot_id:
  description: The snapshot drilled.
  returned: when a snapshot was found
  type: str
  sample: 5d1f1d1e9c3a4b4f8f7e6d5c4b3a29180716253443526170819203a4b5c6d7e8
snapshot_time:
  description: When it was taken (UTC).
  returned: when a snapshot was found
  type: str
  sample: '2026-12-01T19:15:02Z'
age_hours:
  description: Its age.
  returned: when a snapshot was found
  type: float
  sample: 30.5
journal_rows:
  description: Transactions in the restored journal.
  returned: when the snapshot could be restored
  type: int
  sample: 1520
recorded_rows:
  description: Transactions the backup recorded in its manifest.
  returned: when the snapshot could be restored
  type: int
  sample: 1520
journal_last_txn_id:
  description: The last transaction id in the restored journal.
  returned: when the snapshot could be restored
  type: int
  sample: 1520
recorded_last_txn_id:
  description: The last transaction id the backup recorded.
  returned: when the snapshot could be restored
  type: int
  sample: 1520
files:
  description: Files checked (the journal and the backed-up files).
  returned: when the snapshot could be restored
  type: int
  sample: 9
pan_scan:
  description: The card-number scan of the restored files - C(complete), C(files_scanned), C(bytes_scanned),
    C(pan_count), C(sad_count), C(by_brand) and C(where) (the terminal paths holding findings; never a number).
  returned: when the snapshot could be restored
  type: dict
  sample: {complete: true, files_scanned: 9, bytes_scanned: 80123, pan_count: 0, sad_count: 0, by_brand: {},
           where: []}
restore_s:
  description: Seconds restic took to restore the snapshot.
  returned: when the snapshot could be restored
  type: float
  sample: 0.8
duration_s:
  description: Seconds the whole drill took.
  returned: always
  type: float
  sample: 1.9
"""
