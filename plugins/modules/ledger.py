#!/usr/bin/python
# Copyright (c) posfleet developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: ledger
short_description: Read and record the maintenance ledger of a POS terminal (source of truth) and its controller cache
version_added: 0.1.0
description:
  - The maintenance ledger (last attempt, success and deferral of each tier of the timetable, notices sent,
    overrides; written by the P(posfleet.terminals.timetable#role) role) lives on the terminal at O(path), and that
    copy is the source of truth. The controller keeps a cache of it at O(cache), so that the window gate can
    decide without a connection; an AWX job or a second controller starts without one and rebuilds it from the
    terminal.
  - Without O(ledger), reads. The cache when it exists (no connection is made); else the terminal's copy, which
    then becomes the cache (not in check mode). An unreachable terminal without a cache reads as an empty
    ledger, with a warning; the run decides as it would for a new terminal and reports the terminal when it
    needs it.
  - With O(ledger), records. The cache and then the terminal's copy are each read, merged with O(ledger) by
    entry time and written, each under an exclusive C(flock) on a lock file next to it and atomically
    (temporary file in the same directory, fsync, rename). Two overlapping runs, a stale cache or a second
    controller never take an entry away. The merged result of the terminal's copy goes back into the cache.
  - Changes nothing on the terminal when its file already holds the same document.
author:
  - posfleet developers (@posfleet)
extends_documentation_fragment:
  - posfleet.terminals.attributes
attributes:
  action:
    description: Has a corresponding action plugin, so that some of the options are carried out on the controller.
    support: full
    details:
      - The action plugin of the same name reads and writes O(cache) on the controller and runs this module on
        the terminal only when it needs the terminal's copy.
  check_mode:
    support: full
    details:
      - Reads the current files and reports whether the terminal's would change; nothing is written, the cache
        included.
  diff_mode:
    support: full
    details:
      - The terminal's documents before and after.
  idempotent:
    support: full
options:
  ledger:
    description:
      - The ledger document the run recorded. Omit it to read.
    type: dict
  path:
    description: Where the ledger lives on the terminal (the facts module reads its neighbour C(records.json)).
    type: path
    default: /var/lib/posfleet/ledger.json
  merge:
    description:
      - Merge O(ledger) with the copy already there by entry time (each tier's attempt, success and deferral
        from the copy where it is newer; notices and overrides from both). V(false) replaces the terminal's copy.
    type: bool
    default: true
  cache:
    description:
      - The controller's cache of this terminal's ledger (the role uses
        C(<posfleet_timetable_data_dir>/ledger/<host>.json)). Omitted, only the terminal's copy is read or written.
    type: path
  mirror:
    description:
      - With O(ledger), write the terminal's copy too. V(false) records in the cache only (a run that deferred
        every tier does not connect to the terminal for it).
    type: bool
    default: true
"""

EXAMPLES = r"""
- name: Read the ledger (the controller's cache, else the terminal's copy)
  posfleet.terminals.ledger:
    cache: "{{ posfleet_timetable_data_dir }}/ledger/{{ inventory_hostname }}.json"
  become: true
  register: ledger_read

- name: Record the run on the terminal and in the cache
  posfleet.terminals.ledger:
    ledger: "{{ ledger_read.ledger | combine({'updated': '2026-10-07T19:10:00Z'}) }}"
    cache: "{{ posfleet_timetable_data_dir }}/ledger/{{ inventory_hostname }}.json"
  become: true
"""

RETURN = r"""
path:
  description: The terminal's file.
  returned: always
  type: str
  sample: /var/lib/posfleet/ledger.json
ledger:
  description: The ledger as it is now (after the merge when one was recorded; empty when there is none yet).
  returned: success
  type: dict
  sample: {"host": "sh01-t100-01", "tiers": {"daily": {"last_success": "2026-10-07T19:10:00Z"}}}
source:
  description:
    - Where a read came from, V(cache), V(terminal) or V(none) (no cache and the terminal unreachable or without a
      ledger); V(recorded) after a write.
  returned: success
  type: str
  sample: terminal
"""

import traceback  # noqa: E402

from ansible.module_utils.basic import AnsibleModule  # noqa: E402

from ansible_collections.posfleet.terminals.plugins.module_utils import _ledger  # noqa: E402


def main():
    module = AnsibleModule(argument_spec=_ledger.get_ledger_argument_spec(), supports_check_mode=True)
    path = module.params['path']
    try:
        if module.params['ledger'] is None:
            current = _ledger.read(path)
            module.exit_json(changed=False, path=path, ledger=current or {},
                             source='terminal' if current is not None else 'none')
        changed, before, after = _ledger.write(path, module.params['ledger'], check_mode=module.check_mode,
                                               merge_with_current=module.params['merge'])
    except Exception as exc:
        module.fail_json(msg=f'posfleet.terminals.ledger: cannot write {path}: {exc}. Fix: make its directory '
                             'writable by the become user (become: true)', exception=traceback.format_exc())
    result = {'changed': changed, 'path': path, 'ledger': after, 'source': 'recorded'}
    if module._diff:
        result['diff'] = {'before': before or {}, 'after': after}
    module.exit_json(**result)


if __name__ == '__main__':
    main()
