#!/usr/bin/python
# Copyright (c) posfleet developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

# This module is implemented as an action plugin (plugins/action/run_record.py): it runs on the controller.

from __future__ import annotations

DOCUMENTATION = r"""
module: run_record
short_description: Name a run, write a terminal's record of it, roll the fleet up (on the controller)
version_added: 0.2.0
author:
  - posfleet developers (@posfleet)
description:
  - The run-record layer of the collection, used by the health report (C(daily.yml)), the maintenance timetable
    (C(maintain.yml)) and the PCI evidence (C(audit.yml)). It runs inside the controller process and writes its
    files atomically (temp file, fsync, rename, directory fsync); no module is sent to a terminal and no
    connection is made, which keeps the controller's cost per terminal low.
  - O(scope=run) names the run once. It sets the facts C(posfleet_results_dir) and C(posfleet_run_id) (UTC start
    time, C(YYYYMMDDTHHMMSSZ)) for every host of the play. Values already given (inventory, C(-e), an AWX job)
    are kept. Run it with C(run_once) as the first task of a play. With O(concern), it also writes that
    concern's fleet files at once, with every terminal of the play (or O(expected)) as having no record of this
    run yet. So a run that ends early (every terminal unreachable, the controller killed) leaves files that say
    so, never the previous run's standing as if they were this one's. O(scope=fleet) replaces them at the end.
  - O(scope=host) builds this terminal's record from O(data) and O(error) and writes it to
    C(<dest>/hosts/<inventory_hostname>.json). Every record has C(host), C(run_id), C(recorded_at), C(who),
    C(status), C(error), C(changed) (what the run changed) and C(versions) (C(before) and C(after)), then the
    keys of its concern.
  - O(scope=fleet) reads the per-host records under O(dest) (nothing else, so it works under C(--limit) and
    across AWX job slices), keeps those of the run, lists targeted terminals without a record as unreachable and
    writes the fleet files of the concern (C(fleet.json) holds the whole fleet record). It prints the text
    summary. Run it with C(run_once).
options:
  scope:
    description: What to do; see the description.
    type: str
    required: true
    choices: [run, host, fleet]
  concern:
    description:
      - Whose record it is. V(health) writes C(fleet.json), C(summary.txt) and C(report.html) (see
        P(posfleet.terminals.host_report#filter)); V(maintenance) writes C(fleet.json) and C(summary.txt) (see
        P(posfleet.terminals.maintenance_record#filter)); V(audit) writes C(fleet.json), C(summary.txt) and
        C(junit.xml), a testcase per control per terminal (see P(posfleet.terminals.pci_host_report#filter));
        V(update) (a rollout of C(update.yml)) writes C(fleet.json) and C(summary.txt) - per terminal its status
        (updated, unchanged, rolled back, refused, deferred, failed, unreachable, not started, reverted), the
        version before and after, the reason, the time out of service; V(drill) (a restore drill) writes
        C(fleet.json) and C(summary.txt) - per terminal passed or failed, the snapshot, its age, the rows restored
        against those recorded, the card numbers found, the restore time and every problem.
      - Required with O(scope=host) and O(scope=fleet); with O(scope=run), the concern whose fleet files are
        written at once (see the description).
    type: str
    choices: [audit, drill, health, maintenance, update]
  dest:
    description:
      - Directory of the concern's files on the controller; records go to its C(hosts/) subdirectory.
      - Default C(<posfleet_results_dir>/daily) for V(health), C(.../maintain) for V(maintenance), C(.../audit)
        for V(audit), C(.../update) for V(update), C(.../drill) for V(drill).
    type: path
  results_dir:
    description:
      - The results directory. Default the C(posfleet_results_dir) variable, else C($POSFLEET_RESULTS_DIR), else
        C(results) (relative to the directory ansible-playbook runs in; O(scope=run) makes it absolute).
    type: path
  run_id:
    description: The run the record belongs to. Default the C(posfleet_run_id) variable.
    type: str
  data:
    description:
      - The concern's inputs for O(scope=host). V(health) - C(facts) (C(ansible_facts.posfleet)) and C(selftest)
        (the registered M(posfleet.terminals.selftest) result); V(maintenance) - C(plan), C(outcomes), C(store);
        V(audit) - C(audit) (the registered M(posfleet.terminals.pci_audit) result); V(update) - C(outcome) (the
        role's C(posfleet_firmware_outcome) with the C(wave)) and C(store); V(drill) - C(drill) (the registered
        M(posfleet.terminals.restore_drill) result).
      - For O(scope=fleet) with V(update) - C(order) (the terminals in rollout order), C(verdicts) (each wave's
        verdict against its error threshold) and C(stopped_at) (the 0-based wave that stopped the rollout, or
        null).
    type: dict
    default: {}
  error:
    description: Why the terminal could not be handled, when it could not (O(scope=host)).
    type: str
  expected:
    description:
      - Terminals the run targeted (O(scope=fleet)); those without a record of the run are reported as
        unreachable. Default C(ansible_play_hosts_all). V([]) reports none.
    type: list
    elements: str
  title:
    description: Title of the HTML report (V(health)) or name of the JUnit test suites (V(audit)).
    type: str
  user:
    description: Who ran the job, for the records. Default the AWX C(awx_user_name), else the controller account.
    type: str
extends_documentation_fragment:
  - posfleet.terminals.attributes.CONTROLLER
attributes:
  check_mode:
    description: Can run in C(check_mode) and return changed status prediction without modifying anything.
    support: full
    details: In check mode the record and the fleet are returned, nothing is written.
notes:
  - The result never reports C(changed); the files are the controller's, not a change to a terminal.
"""

EXAMPLES = r"""
- name: Name this run (posfleet_results_dir, posfleet_run_id); until the roll-up, no terminal has reported
  posfleet.terminals.run_record:
    scope: run
    concern: health
  run_once: true

- name: Write this terminal's health record
  posfleet.terminals.run_record:
    scope: host
    concern: health
    data:
      facts: "{{ ansible_facts.posfleet | default({}) }}"
      selftest: "{{ posfleet_selftest | default({}) }}"
    error: "{{ _daily_error | default(omit) }}"

- name: Write the fleet health report (fleet.json, summary.txt, report.html) and print the summary
  posfleet.terminals.run_record:
    scope: fleet
    concern: health
    title: Daily maintenance
  run_once: true
  register: _fleet

- name: Fail the run when a terminal was unreachable
  ansible.builtin.fail:
    msg: "unreachable: {{ _fleet.unreachable_hosts | join(', ') }}"
  when: _fleet.unreachable_hosts | length > 0
  run_once: true
"""

RETURN = r"""
ansible_facts:
  description: With O(scope=run), C(posfleet_results_dir) (absolute) and C(posfleet_run_id).
  returned: O(scope=run)
  type: dict
  sample: {posfleet_results_dir: /srv/posfleet/results, posfleet_run_id: 20261007T191000Z}
dest:
  description: The concern's directory.
  returned: O(scope=host) or O(scope=fleet)
  type: str
  sample: /srv/posfleet/results/daily
run_id:
  description: The run.
  returned: O(scope=host) or O(scope=fleet)
  type: str
  sample: 20261007T191000Z
record:
  description: This terminal's record.
  returned: O(scope=host)
  type: dict
  sample: {host: sh01-t100-01, run_id: 20261007T191000Z, who: posadmin, status: healthy, changed: []}
path:
  description: The record file.
  returned: O(scope=host)
  type: str
  sample: /srv/posfleet/results/daily/hosts/sh01-t100-01.json
msg:
  description: The text summary for people, printed by the callback (no debug task needed).
  returned: O(scope=fleet)
  type: str
  sample: "Fleet run 20261007T191000Z: 6 terminals, 5 healthy, 1 unreachable"
terminals:
  description: How many terminals the run targeted (with a record of the run or unreachable).
  returned: O(scope=fleet)
  type: int
  sample: 6
counts:
  description: Terminals by status, with C(unreachable).
  returned: O(scope=fleet)
  type: dict
  sample: {healthy: 5, unreachable: 1}
unreachable_hosts:
  description:
    - Targeted terminals that left no record of the run (C(fleet.json) lists them as C(unreachable)).
    - Not called C(unreachable) in the result, which Ansible would take as this task's host being unreachable.
  returned: O(scope=fleet)
  type: list
  elements: str
  sample: [sh01-t100-02]
files:
  description: The fleet files written (none when the run left no record, or in check mode).
  returned: O(scope=fleet), and O(scope=run) with O(concern)
  type: list
  elements: str
  sample: [/srv/posfleet/results/daily/fleet.json]
"""
