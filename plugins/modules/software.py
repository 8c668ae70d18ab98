#!/usr/bin/python
# Copyright (c) posfleet developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: software
short_description: Install pinned versions of a POS terminal's Debian packages, health-gated, with rollback
version_added: 0.3.0
description:
  - Installs the payment application and other terminal software as Debian packages at exactly the versions given in
    O(packages), either from C(.deb) files on the controller (O(packages[].deb)) or from one apt repository
    (O(repository)).
  - Pushed files travel as a delta. The controller reads each C(.deb) and its sha256 first (a file that is not the named
    package at the named version is refused before anything moves), then sends only the files whose sha256 the
    terminal's package cache does not hold; the terminal checks the sha256 of every file it receives.
  - From a repository, apt reads that one source and no other (not the terminal's own C(sources.list)), checked with
    O(repository_key) when given.
  - Before dpkg runs, the terminal keeps what each package replaces in its package cache (the C(.deb) of the installed
    version, rebuilt from the installed files when it was installed by other means, or the files of an application
    that was no package yet). After the install the module runs the health
    gate (the self-test's critical checks, a training transaction to the acquirer, the daemon's answer); when the gate
    or dpkg fails it reinstalls the previous versions from that cache, checks that the terminal serves again, and fails
    with RV(rolled_back=true) and the RV(reason).
  - Refuses with a clear error, changing nothing, when the terminal is not in maintenance mode, its open batch is not
    settled (unless O(settlement_override_reason) is given), a mobile terminal's battery is below
    O(min_battery_pct) or cannot be read, a version is older than the installed one (unless O(allow_downgrade)), or free
    space is short. The refusal names every rule the update breaks, each with its fix, not only the first.
  - Packages already installed at their versions are left alone; when all are, nothing is sent and nothing changes.
author:
  - posfleet developers (@posfleet)
extends_documentation_fragment:
  - posfleet.terminals.attributes
  - posfleet.terminals.terminal
attributes:
  check_mode:
    support: full
    details:
      - Reads the installed versions and applies every refusal rule; nothing is sent to the terminal and nothing is
        installed.
  diff_mode:
    support: full
    details:
      - The diff shows the version of each package before and after.
  idempotent:
    support: full
  action:
    description: Indicates this has a corresponding action plugin so some parts of the options can be executed on the
      controller.
    support: full
    details:
      - The action plugin reads the C(.deb) files on the controller and sends only those the terminal lacks.
options:
  packages:
    description:
      - The packages to install, each at an exact version.
    type: list
    elements: dict
    required: true
    suboptions:
      name:
        description: The Debian package name, e.g. C(posfleet-emv-kernel).
        type: str
        required: true
      version:
        description: The exact Debian version to install, e.g. C(7.1.1).
        type: str
        required: true
      deb:
        description:
          - Path on the controller of the package's C(.deb) file; its C(Package) and C(Version) must match
            O(packages[].name) and O(packages[].version).
          - Not allowed with O(repository).
          - Without O(repository), a package given without O(packages[].deb) is installed from the terminal's package
            cache (the C(.deb) files earlier updates kept, and the one rebuilt from dpkg's database of the version
            installed before the first update); nothing is sent, and a version the cache does not hold is refused.
            This is how an update is reverted to a version whose C(.deb) the controller does not have.
        type: path
  repository:
    description:
      - An apt source to install O(packages) from, as a one-line entry (C(deb [signed-by=...] http://repo.example/debian
        stable main)) or a deb822 stanza (C(Types), C(URIs), C(Suites), ...).
      - Only this source is read, with package lists of its own fetched fresh at every run.
    type: str
  repository_key:
    description:
      - The repository's OpenPGP public key, ASCII armoured, for example
        C("{{ lookup('ansible.builtin.file', 'repo.asc') }}"). It becomes the source's C(signed-by), so a
        repository it did not sign is refused.
      - Without it the source must carry its own C(signed-by) (a keyring on the terminal) or C([trusted=yes]).
    type: str
  allow_downgrade:
    description:
      - Allow installing a version older than the installed one.
    type: bool
    default: false
  settlement_override_reason:
    description:
      - Install although the terminal's batch is not settled (or its state is unknown). The reason is returned in
        RV(settlement_override_reason) for the run's records.
    type: str
  min_battery_pct:
    description:
      - A terminal whose model has a battery is refused below this charge (V(0) to V(100)), and also when its
        charge cannot be read (a battery that does not report is not known to last the update). V(0) turns the
        battery check off, the override for a terminal whose battery gauge is broken. Terminals without a battery
        are not affected. The same rule as M(posfleet.terminals.firmware).
    type: int
    default: 40
  health_gate:
    description:
      - Run the health gate after the install and roll back when it fails. Set V(false) only for software the terminal's
        self-test does not exercise.
    type: bool
    default: true
  transaction_timeout:
    description:
      - Seconds the health gate's training transaction may take, from V(1) to V(120).
    type: int
    default: 10
  _debs:
    description:
      - Private, set by the action plugin - the C(.deb) files it sent (name to C(sha256) and C(path)). Do not set it.
    type: dict
  _plan:
    description:
      - Private, set by the action plugin - answer what to send instead of installing. Do not set it.
    type: bool
notes:
  - Run it with C(become=true) while the terminal is in maintenance mode (M(posfleet.terminals.maintenance_mode)).
  - The terminal keeps three versions of each package in its package cache, so a rollback needs no network.
seealso:
  - module: posfleet.terminals.maintenance_mode
  - module: posfleet.terminals.selftest
"""

EXAMPLES = r"""
---
- name: Update the EMV kernel in maintenance mode, and always leave it
  become: true
  block:
    - name: Enter maintenance mode
      posfleet.terminals.maintenance_mode:
        state: enabled
        holder: "{{ posfleet_run_id | default('manual') }}"

    - name: Install the EMV kernel 7.1.1 from a file on the controller
      posfleet.terminals.software:
        packages:
          - name: posfleet-emv-kernel
            version: 7.1.1
            deb: files/posfleet-emv-kernel_7.1.1_all.deb
      register: update

    - name: Report the change
      ansible.builtin.debug:
        msg: "{{ update.previous_versions }} -> {{ update.versions }}: {{ update.bytes_transferred }} bytes sent"
  always:
    - name: Leave maintenance mode
      posfleet.terminals.maintenance_mode:
        state: disabled

- name: Go back to the version the image installed, from the terminal's package cache (nothing is sent)
  posfleet.terminals.software:
    packages:
      - name: posfleet-emv-kernel
        version: 7.1.0
    allow_downgrade: true
  become: true

- name: Install a pinned version from a signed apt repository
  posfleet.terminals.software:
    packages:
      - name: posfleet-emv-kernel
        version: 7.1.2
    repository: deb http://repo.example:8080/ ./
    repository_key: "{{ lookup('ansible.builtin.file', 'repo-key.asc') }}"
  become: true

- name: Install although the batch is not settled (recorded)
  posfleet.terminals.software:
    packages:
      - name: posfleet-emv-kernel
        version: 7.1.2
    repository: |
      Types: deb
      URIs: http://repo.example:8080/
      Suites: ./
      Signed-By: /etc/apt/keyrings/posfleet.asc
    settlement_override_reason: CHG-1234 security fix, batch settled at the acquirer
  become: true
"""

RETURN = r"""
terminal_id:
  description: The terminal's ID.
  returned: always
  type: str
  sample: SH01-T100-01
source:
  description: Where the packages came from, V(files) (pushed from the controller) or V(repository).
  returned: always
  type: str
  sample: files
previous_versions:
  description: The installed version of each package before the run (V(null) when it was not installed).
  returned: always
  type: dict
  sample: {posfleet-emv-kernel: 7.1.1}
versions:
  description:
    - The installed version of each package after the run (in check mode, what it would be). After a rollback, the
      previous versions again.
  returned: always
  type: dict
  sample: {posfleet-emv-kernel: 7.1.2}
bytes_transferred:
  description:
    - Bytes of C(.deb) files sent to the terminal (pushed files) or downloaded by it (repository). V(0) when the
      terminal held everything or nothing changed.
  returned: always
  type: int
  sample: 526596
files_transferred:
  description: The number of C(.deb) files sent or downloaded.
  returned: always
  type: int
  sample: 1
refused:
  description:
    - V(true) when the update was refused before anything changed (a precondition, a version the source lacks, a
      downgrade, free space); the task fails and C(msg) names every problem with its fix.
  returned: when refused
  type: bool
  sample: true
rolled_back:
  description: Whether the install failed (dpkg or the health gate) and the previous versions were put back.
  returned: always
  type: bool
  sample: false
old_version_serves:
  description:
    - After a rollback, whether the terminal passed the health gate again on the previous versions; V(null) when
      there was no rollback.
  returned: always
  type: bool
  sample: true
reason:
  description: Why the update was rolled back (or could not be); V(null) when it was not.
  returned: always
  type: str
  sample: "health gate failed after the install: 1 critical check failed (card_reader: ...)"
health:
  description:
    - The health gate after the install (V(null) when nothing was installed); C(ok), C(reason), C(daemon_version).
  returned: always
  type: dict
  sample: {ok: true, reason: null, daemon_version: 2.3.1}
settlement_override_reason:
  description: O(settlement_override_reason) when the update went ahead under it; V(null) otherwise.
  returned: always
  type: str
  sample: null
duration_s:
  description: Seconds the module took on the terminal (the action plugin adds the transfer).
  returned: always
  type: float
  sample: 4.2
out_of_service_s:
  description: Seconds from the start of the install to the end of the health gate (or of the rollback).
  returned: always
  type: float
  sample: 3.1
diff:
  description: The versions before and after.
  returned: when diff mode is on
  type: dict
  sample:
    before: {posfleet-emv-kernel: 7.1.1}
    after: {posfleet-emv-kernel: 7.1.2}
"""

# Imports follow the documentation blocks, as ansible-test validate-modules requires.
import traceback  # noqa: E402

from ansible.module_utils.basic import AnsibleModule  # noqa: E402

from ansible_collections.posfleet.terminals.plugins.module_utils._platform import TerminalError, load_platform  # noqa: E402
from ansible_collections.posfleet.terminals.plugins.module_utils._software import (  # noqa: E402
    SOFTWARE_CONSTRAINTS,
    get_software_argument_spec,
    run,
)


def main():
    module = AnsibleModule(
        argument_spec=get_software_argument_spec(),
        **SOFTWARE_CONSTRAINTS,
        supports_check_mode=True,
    )
    try:
        platform = load_platform()
        result, failure = run(platform, module.params, check_mode=module.check_mode)
    except TerminalError as exc:
        # Raised before anything changed (rollbacks are a result, not an exception): a refusal.
        module.fail_json(msg=str(exc), step=exc.step, terminal_id=exc.terminal, refused=True)
    except Exception as exc:
        module.fail_json(msg=f'posfleet.terminals.software: unexpected error: {exc}', exception=traceback.format_exc())
    diff = result.pop('diff')
    if module._diff:
        result['diff'] = diff
    if failure:
        module.fail_json(msg=failure, **result)
    module.exit_json(**result)


if __name__ == '__main__':
    main()
