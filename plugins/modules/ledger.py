#!/usr/bin/python
# Copyright (c) posfleet developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: ledger
short_description: Mirror the maintenance ledger on a POS terminal
version_added: 0.1.0
description:
  - Writes the terminal's maintenance ledger (last success of each tier of the timetable, notices, overrides; kept
    on the controller by the P(posfleet.terminals.timetable#role) role) to O(path) on the terminal, atomically
    (temporary file, fsync, rename), in one round trip, so that a technician on site sees what was done and
    when.
  - Changes nothing when the file already holds the same document.
author:
  - posfleet developers (@posfleet)
extends_documentation_fragment:
  - posfleet.terminals.attributes
attributes:
  check_mode:
    support: full
    details:
      - Reads the current file and reports whether it would change; nothing is written.
  diff_mode:
    support: full
    details:
      - The documents before and after.
  idempotent:
    support: full
options:
  ledger:
    description: The ledger document.
    type: dict
    required: true
  path:
    description: Where the mirror lives on the terminal (the facts module reads its neighbour C(records.json)).
    type: path
    default: /var/lib/posfleet/ledger.json
"""

EXAMPLES = r"""
- name: Mirror the ledger on the terminal
  posfleet.terminals.ledger:
    ledger: "{{ lookup('ansible.builtin.file', 'ledger/' ~ inventory_hostname ~ '.json') | from_json }}"
  become: true
"""

RETURN = r"""
path:
  description: The file written.
  returned: always
  type: str
  sample: /var/lib/posfleet/ledger.json
"""

import traceback  # noqa: E402

from ansible.module_utils.basic import AnsibleModule  # noqa: E402

from ansible_collections.posfleet.terminals.plugins.module_utils._ledger import write  # noqa: E402


def main():
    module = AnsibleModule(
        argument_spec={
            'ledger': {'type': 'dict', 'required': True},
            'path': {'type': 'path', 'default': '/var/lib/posfleet/ledger.json'},
        },
        supports_check_mode=True,
    )
    path = module.params['path']
    try:
        changed, before = write(path, module.params['ledger'], check_mode=module.check_mode)
    except Exception as exc:
        module.fail_json(msg=f'posfleet.terminals.ledger: cannot write {path}: {exc}',
                         exception=traceback.format_exc())
    result = {'changed': changed, 'path': path}
    if module._diff:
        result['diff'] = {'before': before or {}, 'after': module.params['ledger']}
    module.exit_json(**result)


if __name__ == '__main__':
    main()
