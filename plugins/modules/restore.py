#!/usr/bin/python
# Copyright (c) posfleet developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: restore
short_description: Put a terminal's backup back from its restic repository, onto the same or a replacement terminal
version_added: 0.1.0
description:
  - Restores a snapshot that M(posfleet.terminals.backup) took - the latest of the terminal, or O(snapshot) - onto
    the terminal - its transaction journal and the files its platform backs up (identity, acquirer link,
    records, logs). What belongs to the hardware stays the terminal's own (on the reference terminal its model
    file and the serial in its identity).
  - On the controller restic restores the snapshot into a work directory, every file is checked against the
    snapshot's manifest, and the archive is sent to the terminal; the repository's password never is.
  - On the terminal the archive is checked again; the journal is replaced with the daemon quiesced around the
    switch, the files get the modes and owners they had, and the live journal is read back - its
    C(PRAGMA integrity_check), row count and last transaction id must be the snapshot's.
  - Refused, with nothing changed - outside maintenance mode (C(playbooks/restore.yml) enters it, restores, runs
    the self-test and leaves it); a snapshot of another terminal unless O(replacement); a snapshot older than the
    terminal's journal (it would drop transactions) unless O(discard_newer).
author:
  - posfleet developers (@posfleet)
extends_documentation_fragment:
  - posfleet.terminals.attributes
  - posfleet.terminals.terminal
  - posfleet.terminals.restic_repository
attributes:
  check_mode:
    support: full
    details: Restores the snapshot on the controller, sends and checks it, and says what would change on the
      terminal; writes nothing there.
  diff_mode:
    support: none
  idempotent:
    support: full
    details: A terminal that already holds the snapshot's journal and files is not changed.
  action:
    description: Indicates this has a corresponding action plugin so some parts of the options can be executed on the
      controller.
    support: full
    details: The action plugin reads the repository on the controller; the module puts the files back on the
      terminal.
options:
  snapshot:
    description: The snapshot to restore - V(latest) (the newest of O(terminal_id)) or a snapshot id (or a unique
      prefix of one).
    type: str
    default: latest
  terminal_id:
    description:
      - Whose snapshots to restore. Default the terminal's own id.
      - Another terminal's id makes this terminal its replacement (O(replacement) must be true).
    type: str
  replacement:
    description: Allow restoring another terminal's snapshot (the spare terminal that takes over a dead one's
      terminal id, journal and configuration).
    type: bool
    default: false
  discard_newer:
    description: Allow restoring a snapshot whose journal ends before the terminal's does (the transactions after
      it are dropped).
    type: bool
    default: false
  work_dir:
    description: Where the controller restores the snapshot before it is sent (a directory per terminal, mode 0700,
      removed after). Default C(~/.cache/posfleet/restore).
    type: path
  _stage:
    description: Set by the action plugin; not for playbooks.
    type: str
    choices: [inspect, apply]
  _archive:
    description: Set by the action plugin; not for playbooks.
    type: str
notes:
  - Run it with C(become=true).
seealso:
  - module: posfleet.terminals.backup
  - module: posfleet.terminals.maintenance_mode
"""

EXAMPLES = r"""
- name: Restore the terminal's latest snapshot (in maintenance mode, as playbooks/restore.yml does)
  posfleet.terminals.restore:
    repository: /srv/posfleet/backups/restic
    repository_password: "{{ vault_posfleet_backup_password }}"
  become: true
  register: restored

- name: A spare terminal takes over a dead terminal's identity, journal and configuration
  posfleet.terminals.restore:
    repository: /srv/posfleet/backups/restic
    repository_password: "{{ vault_posfleet_backup_password }}"
    terminal_id: SH01-T100-01
    replacement: true
  become: true
"""

RETURN = r"""
terminal_id:
  description: The terminal's id after the restore.
  returned: always
  type: str
  sample: SH01-T100-01
snapshot_id:
  description: The restored snapshot's id.
  returned: success
  type: str
  sample: 5d1f1d1e9c3a4b4f8f7e6d5c4b3a29180716253443526170819203a4b5c6d7e8
snapshot_time:
  description: When the snapshot was taken (UTC).
  returned: success
  type: str
  sample: '2026-12-02T22:00:04Z'
journal_rows:
  description: Transactions in the terminal's journal after the restore (the snapshot's).
  returned: success
  type: int
  sample: 1520
journal_last_txn_id:
  description: The last transaction id in it (the snapshot's).
  returned: success
  type: int
  sample: 1520
journal_changed:
  description: Whether the journal was replaced.
  returned: success
  type: bool
  sample: true
files_restored:
  description: Files written back.
  returned: success
  type: list
  elements: str
  sample: [/etc/pos/acquirer.conf]
files_kept:
  description: Files of the backup that stay the hardware's own, with why.
  returned: success
  type: dict
  sample: {/etc/pos/model.conf: the model file belongs to the hardware}
duration_s:
  description: Seconds the whole restore took.
  returned: always
  type: float
  sample: 6.3
"""

import os  # noqa: E402

from ansible.module_utils.basic import AnsibleModule  # noqa: E402

from ansible_collections.posfleet.terminals.plugins.module_utils import _backup, _restore  # noqa: E402

STAGES = {
    'inspect': lambda platform, params, check_mode: dict(
        _restore.inspect(platform, os.path.dirname(params['_archive'])), changed=False),
    'apply': lambda platform, params, check_mode: _restore.apply(
        platform, params['_archive'], replacement=params['replacement'], discard_newer=params['discard_newer'],
        check_mode=check_mode),
}


def main():
    module = AnsibleModule(argument_spec=_restore.get_restore_argument_spec(), supports_check_mode=True)
    _backup.run_stage(module, 'restore', STAGES)


if __name__ == '__main__':
    main()
