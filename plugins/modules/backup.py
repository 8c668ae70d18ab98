#!/usr/bin/python
# Copyright (c) posfleet developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: backup
short_description: Back up a POS terminal's journal, configuration and logs into a restic repository
version_added: 0.1.0
description:
  - Takes a consistent copy of the terminal's transaction journal with SQLite's online backup API while the
    terminal keeps taking payments, with the files its platform backs up (identity, configuration, records, logs;
    never private keys or password hashes), in one archive that the controller fetches.
  - On the controller the archive is checked (every file's sha256 against the terminal's manifest, the journal's
    C(PRAGMA integrity_check)) and stored with restic (Debian's C(restic) on the controller; nothing new on the
    terminal) in O(repository), tagged with the terminal id, the store and the O(reason). C(restic check) runs
    after the backup (O(verify)).
  - The repository password and the REST server's credential stay on the controller; they are given to restic
    through pipes, never on a command line, in the environment or in the output, and never sent to the terminal.
  - Then the terminal records C(last_backup) (M(posfleet.terminals.facts) shows it) and the archive is removed.
  - A run that is killed records nothing as backed up - restic writes a snapshot only when the whole backup is
    stored - and the next run removes the stale lock a killed restic leaves (C(restic unlock) removes only locks
    of processes that are gone).
author:
  - posfleet developers (@posfleet)
extends_documentation_fragment:
  - posfleet.terminals.attributes
  - posfleet.terminals.terminal
  - posfleet.terminals.restic_repository
attributes:
  check_mode:
    support: full
    details: Says what would be backed up where; reads nothing from the terminal and writes nothing.
  diff_mode:
    support: none
  idempotent:
    support: none
    details:
      - Every run stores a new snapshot (restic stores only what changed).
      - With O(only_new_settlement), a second run after the same settlement stores nothing.
  action:
    description: Indicates this has a corresponding action plugin so some parts of the options can be executed on the
      controller.
    support: full
    details: The action plugin stores the backup on the controller; the module only collects it on the terminal.
options:
  reason:
    description: Why the backup is taken; a tag of the snapshot (C(reason=...)).
    type: str
    choices: [scheduled, pre-update, settlement, manual]
    default: manual
  only_new_settlement:
    description:
      - Back up only when the journal holds a settlement made since the terminal's C(last_backup) (that record is
        the time the last backup's journal copy was taken). Otherwise nothing is sent or stored, and RV(taken) is
        false.
      - The daily settlement check uses it, so each settlement is backed up once, on the day it is made. A journal
        without any settlement is not backed up. A time that cannot be read counts as a new settlement.
    type: bool
    default: false
  store:
    description: The store the terminal belongs to; a tag of the snapshot (C(store=...)) when given.
    type: str
  tags:
    description: More tags for the snapshot.
    type: list
    elements: str
    default: []
  verify:
    description: Run C(restic check) after the backup (its result is RV(checked)).
    type: bool
    default: true
  work_dir:
    description:
      - Where the controller unpacks the archive before restic stores it (a directory per terminal, mode 0700,
        emptied after every backup). The same path at every run lets restic compare with the terminal's last
        snapshot.
      - Default C(~/.cache/posfleet/backup) of the user running Ansible.
    type: path
  _stage:
    description: Set by the action plugin (C(collect), C(finish) or C(discard)); not for playbooks.
    type: str
    choices: [collect, finish, discard]
  _archive:
    description: Set by the action plugin; not for playbooks.
    type: str
  _recorded_at:
    description: Set by the action plugin; not for playbooks.
    type: str
notes:
  - Run it with C(become=true); the journal is readable by root only.
seealso:
  - module: posfleet.terminals.facts
"""

EXAMPLES = r"""
- name: Back up a terminal into a repository on the controller
  posfleet.terminals.backup:
    repository: /srv/posfleet/backups/restic
    repository_password: "{{ vault_posfleet_backup_password }}"
    store: "{{ posfleet_store }}"
    reason: scheduled
  become: true
  register: backup

- name: Back up into an append-only restic REST server
  posfleet.terminals.backup:
    repository: rest:http://127.0.0.1:8000/
    repository_password: "{{ vault_posfleet_backup_password }}"
    repository_user: backup
    repository_user_password: "{{ vault_posfleet_backup_rest_password }}"
    reason: pre-update
  become: true

- name: Back up the settlement records once a batch is settled (nothing when no settlement is new)
  posfleet.terminals.backup:
    repository: /srv/posfleet/backups/restic
    repository_password: "{{ vault_posfleet_backup_password }}"
    reason: settlement
    only_new_settlement: true
  become: true

- name: Report it
  ansible.builtin.debug:
    msg: "{{ backup.snapshot_id }}: {{ backup.journal_rows }} transactions, {{ backup.bytes_added }} bytes added"
"""

RETURN = r"""
terminal_id:
  description: The terminal's ID.
  returned: always
  type: str
  sample: SH01-T100-01
taken:
  description: Whether a snapshot was stored (false when O(only_new_settlement) found no new settlement, and in
    check mode).
  returned: always
  type: bool
  sample: true
snapshot_id:
  description: The restic snapshot's ID (V(null) in check mode and when nothing was taken).
  returned: always
  type: str
  sample: 5d1f1d1e9c3a4b4f8f7e6d5c4b3a29180716253443526170819203a4b5c6d7e8
short_id:
  description: The first 8 characters of RV(snapshot_id).
  returned: always
  type: str
  sample: 5d1f1d1e
repository:
  description: O(repository) (it holds no credential).
  returned: always
  type: str
  sample: /srv/posfleet/backups/restic
tags:
  description:
    - The snapshot's tags - C(terminal_id=...), C(store=...), C(reason=...), C(settled=...) (the UTC date of the
      newest settlement record the backup holds, or C(none); M(posfleet.terminals.backup_retention) never forgets
      a snapshot holding a settlement younger than three years) and O(tags).
  returned: always
  type: list
  elements: str
  sample: [terminal_id=SH01-T100-01, store=sh01, reason=scheduled, settled=2026-12-01]
files:
  description: How many files the snapshot holds (the journal, the manifest and the backed-up files).
  returned: always
  type: int
  sample: 9
bytes_read:
  description: Bytes restic read (the whole backup).
  returned: always
  type: int
  sample: 1843200
bytes_added:
  description: Bytes this backup added to the repository (what was new, compressed and deduplicated).
  returned: always
  type: int
  sample: 40960
archive_bytes:
  description: Size of the archive fetched from the terminal.
  returned: always
  type: int
  sample: 1853440
journal_rows:
  description: Transactions in the backed-up journal.
  returned: always
  type: int
  sample: 1520
journal_last_txn_id:
  description: The highest transaction id in the backed-up journal (V(null) when it holds none).
  returned: always
  type: int
  sample: 1520
journal_batches:
  description: Batches (settled and open) in the backed-up journal.
  returned: always
  type: int
  sample: 4
settled_last:
  description: When the newest settlement record in the backed-up journal was made (V(null) when it holds none).
  returned: always
  type: str
  sample: '2026-12-01T22:00:04Z'
left_out:
  description: Paths on the terminal that were not backed up (symbolic links and special files).
  returned: always
  type: list
  elements: str
  sample: []
stale_removed:
  description:
    - What a killed earlier run had left in the terminal's backup spool (its archive or work directory, which hold
      a copy of the journal), removed before this backup.
  returned: always
  type: list
  elements: str
  sample: [posfleet-backup.tar]
checked:
  description: Whether C(restic check) passed after the backup (V(null) when O(verify) is false or in check mode).
  returned: always
  type: bool
  sample: true
last_backup:
  description:
    - The C(last_backup) record the terminal now holds (UTC ISO 8601), the time the stored backup's journal copy
      was taken.
    - When nothing was taken, the record as it was (V(null) when the terminal was never backed up).
  returned: success
  type: str
  sample: '2026-12-02T15:40:00Z'
duration_s:
  description: Seconds the whole backup took.
  returned: always
  type: float
  sample: 4.2
"""

from ansible.module_utils.basic import AnsibleModule  # noqa: E402

from ansible_collections.posfleet.terminals.plugins.module_utils import _backup  # noqa: E402


def _collect(platform, params, check_mode):
    return dict(_backup.collect(platform, params['_archive'], params['only_new_settlement']), changed=False)


def _finish(platform, params, check_mode):
    return {'changed': True,
            'last_backup': _backup.finish(platform, params['_archive'], params['_recorded_at'])['value']}


def _discard(platform, params, check_mode):
    return {'changed': _backup.discard(params['_archive'])}


STAGES = {'collect': _collect, 'finish': _finish, 'discard': _discard}


def main():
    module = AnsibleModule(argument_spec=_backup.get_backup_argument_spec(), supports_check_mode=True)
    _backup.run_stage(module, 'backup', STAGES)


if __name__ == '__main__':
    main()
