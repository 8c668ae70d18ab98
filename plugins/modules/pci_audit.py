#!/usr/bin/python
# Copyright (c) posfleet developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: pci_audit
short_description: Audit a POS terminal against PCI DSS v4.0.1 in one round trip
version_added: 0.1.0
description:
  - Evaluates every control of the collection's PCI DSS v4.0.1 baseline on the terminal's real operating system
    and returns one entry per control in RV(controls), mapped to the requirement IDs it gives evidence for, with the
    evidence read and the remediation.
  - What it reads - effective sshd settings (C(sshd -T)) and whether the running sshd has read them (RV(sshd)),
    C(/etc/login.defs), the PAM stack, pwquality, faillock, shadow ageing and last use of every account,
    C(sudoers), the idle shell timeout, listening sockets from C(/proc/net), services started at boot, the nftables
    ruleset file, modes and owners of sensitive files,
    logrotate and journald retention, chrony or timesyncd sources, the acquirer link's TLS settings, installed
    versions against O(approved_versions), a file-integrity baseline of critical files, and a PAN scan of
    O(pan_paths) (see M(posfleet.terminals.pan_scan)). The operating system is read directly (any Debian-based
    terminal); the terminal's own files (transaction journal, payment application logs, acquirer link, firmware
    and applications, boot services) are named by its platform (C(/etc/posfleet/terminal.json)).
  - Vendor default passwords are found without cracking anything - each candidate of O(default_passwords) is hashed
    with the account's own salt by the system's C(libcrypt) and compared, and stored hashes are compared with
    O(known_default_hashes).
  - C(not_applicable) always carries the reason (for example C(systemd-journald is not installed)). The POS cashier
    exemption of the notes to 8.2.8, 8.3.6 and 8.3.7 is a documented per-account setting (O(cashier_accounts));
    the C(cashier_exemption) control reads V(not_applicable) with that reason, or V(fail) when a cashier account can
    administer the terminal (sudo, admin groups, SSH keys), which voids the exemption.
  - A failing control covered by an unexpired waiver (O(waivers)) reads V(waived), never V(pass); an expired waiver
    is ignored and said so in the evidence.
  - Numeric options are checked against their allowed range before anything is read (ports 1 to 65535, days 1 to
    365, O(idle_timeout) 1 to 86400 s, O(lockout_seconds) 1 to 604800 s, ...); a value outside it fails the task
    with step C(options), naming the terminal, the option, the range and the fix.
  - The module only reads, except with O(fim_update=true), which records the file-integrity baseline (C(changed)
    when it differs from the recorded one).
author:
  - posfleet developers (@posfleet)
extends_documentation_fragment:
  - posfleet.terminals.attributes
attributes:
  check_mode:
    support: full
    details:
      - With O(fim_update=true), check mode reports whether the baseline would change without writing it.
  diff_mode:
    support: none
  idempotent:
    support: full
    details:
      - A second O(fim_update=true) run with unchanged files reports no change.
  platform:
    support: full
    platforms: posix
    details:
      - Runs on the terminal with its own Python 3.9 or later (standard library only); reads the operating system
        directly (any Debian-based terminal) and asks the terminal's platform where its own files are; a host
        without a readable identity of a supported platform fails before anything is read.
options:
  controls:
    description:
      - Evaluate only these control IDs (default all). An ID that is not one of the choices is rejected before the
        terminal is read; a selection in which no control could be judged (all V(not_applicable)) is never
        C(compliant).
    type: list
    elements: str
    default: []
    choices: [ssh_permit_root_login, ssh_password_authentication, ssh_permit_empty_passwords,
      ssh_hostbased_authentication, ssh_x11_forwarding, ssh_tcp_forwarding, ssh_permit_user_environment,
      ssh_log_level, ssh_max_auth_tries, ssh_login_grace_time, ssh_idle_timeout, ssh_strong_crypto,
      pam_pwquality, password_min_length, password_complexity, password_history, faillock_enabled,
      faillock_deny, faillock_unlock_time, pam_no_nullok, password_max_days, password_aging_accounts,
      password_hashing, no_empty_passwords, vendor_default_passwords, inactive_accounts, unique_ids,
      sudo_nopasswd, sudo_members, shell_idle_timeout, cashier_exemption, listening_services,
      no_insecure_protocols, enabled_services, firewall_ruleset, firewall_input_deny,
      firewall_output_deny, firewall_forward_deny, firewall_inbound_ports, file_shadow, file_passwd,
      file_sshd_config, file_ssh_host_keys, file_sudoers, file_journal, file_posd_logs, file_auth_log,
      file_acquirer_config, no_world_writable, log_retention_posd, log_retention_auth, journald_retention,
      audit_log_active, time_sync, time_designated_servers, time_config_protected, acquirer_tls_version,
      acquirer_tls_verify, approved_versions, fim_baseline, fim_unchanged, anti_malware, poi_inventory,
      pan_storage, sad_storage, journal_masked]
  automation_account:
    description: The account the automation logs in with; the only one allowed C(NOPASSWD) sudo.
    type: str
    default: posadmin
  cashier_accounts:
    description:
      - POS cashier IDs that can reach only one card number at a time for a single transaction; exempt from 8.2.8,
        8.3.6 and 8.3.7 per the notes to those requirements.
    type: list
    elements: dict
    default: []
    suboptions:
      name:
        description: Account name.
        type: str
        required: true
      reason:
        description: Why the account qualifies (reported as evidence).
        type: str
        required: true
  waivers:
    description:
      - Controls accepted as failing until a date, with the reason (for a host or a group, through inventory
        variables). A waived control reports V(waived).
    type: list
    elements: dict
    default: []
    suboptions:
      id:
        description: Control ID.
        type: str
        required: true
      reason:
        description: Why the risk is accepted, and who accepted it.
        type: str
        required: true
      expires:
        description: Last day the waiver holds (C(YYYY-MM-DD)).
        type: str
        required: true
  allowed_ports:
    description: Ports that may listen on non-loopback addresses and be opened in the firewall's input chain.
    type: list
    elements: int
    default: [22]
  insecure_ports:
    description: Ports of clear-text administration protocols (telnet, FTP, rsh, TFTP, vendor consoles).
    type: list
    elements: int
    default: [21, 23, 69, 512, 513, 514, 2323]
  allowed_services:
    description: Services that may start at boot besides the platform's own.
    type: list
    elements: str
    default: []
  approved_versions:
    description:
      - Minimum approved version per Debian package, platform application (its manifest's name) or
        V(firmware) (the active slot); compared as dpkg compares versions. Empty makes the control
        V(not_applicable).
    type: dict
    default: {}
  default_passwords:
    description:
      - Vendor default passwords to look for (compared through the account's own hash, never printed).
      - When not set - V(posfleet), V(admin), V(password), V(1234), V(123456), V(changeme), V(default), V(root),
        V(toor) and V(pos).
    type: list
    elements: str
  known_default_hashes:
    description: Password hashes known to be a vendor's default (a cloned image's C(/etc/shadow) entry).
    type: list
    elements: str
    default: []
  pan_paths:
    description:
      - Files and directories scanned for card numbers and sensitive authentication data.
      - When not set - V(/var/log), V(/var/tmp), V(/tmp), V(/home) and V(/root), plus the places where the
        terminal's platform keeps card data (its transaction journal's directory on the reference terminal).
    type: list
    elements: path
  pan_exclude:
    description: Shell patterns of full paths not scanned.
    type: list
    elements: str
    default: ['*/.ansible/tmp/*', '/tmp/ansible_*', '/tmp/ansible-*']
  pan_hash_key:
    description:
      - Secret key of the card number hashes in the evidence (HMAC-SHA256, as
        O(posfleet.terminals.pan_scan#module:hash_key)), at least 16 characters. A random one per run when not
        set. Never shown in the result or a message.
      - The alias O(pan_salt) is deprecated (the salted SHA-256 it keyed is gone).
    type: str
    aliases: [pan_salt]
  pan_max_scan_mb:
    description:
      - Byte budget of the card number scan, in megabytes read. Reaching it makes C(pan_storage) and C(sad_storage)
        an C(error). From V(1) to V(10000000).
    type: int
    default: 10000
  pan_max_scan_seconds:
    description:
      - Time budget of the card number scan, in seconds. Reaching it makes C(pan_storage) and C(sad_storage) an
        C(error). From V(1) to V(86400).
    type: int
    default: 1200
  allow_test_pans:
    description: Do not report the brands' published test card numbers.
    type: bool
    default: false
  fim_paths:
    description:
      - Critical files and directories under change detection (11.5.2).
      - When not set - the operating system's accounts, sudoers, sshd, PAM, login, firewall, time, logrotate and
        profile configuration and C(sshd) itself, plus the platform's own (boot loader, firmware binaries, boot
        services, acquirer link configuration on the reference terminal).
    type: list
    elements: path
  fim_baseline_file:
    description: Where the file-integrity baseline is kept on the terminal.
    type: path
    default: /var/lib/posfleet/fim-baseline.json
  fim_update:
    description: Record the current state of O(fim_paths) as the baseline before evaluating.
    type: bool
    default: false
  time_servers:
    description: Designated time servers; when empty, any source but public pools passes.
    type: list
    elements: str
    default: []
  max_password_age:
    description: Days (8.3.9).
    type: int
    default: 90
  inactive_days:
    description: Days an interactive account may go unused (8.2.6).
    type: int
    default: 90
  idle_timeout:
    description: Seconds an idle session may last (8.2.8).
    type: int
    default: 900
  min_password_length:
    description: Characters (8.3.6).
    type: int
    default: 12
  lockout_attempts:
    description: Failed attempts before the lockout, at most (8.3.4).
    type: int
    default: 10
  lockout_seconds:
    description: Seconds a locked account stays locked, at least (8.3.4).
    type: int
    default: 1800
  password_history:
    description: Previous passwords a new one must differ from (8.3.7).
    type: int
    default: 4
  log_retention_months:
    description: Months of logs to keep (10.5.1).
    type: int
    default: 12
  fail_on:
    description:
      - V(never) only reports. V(fail) fails the task when a control fails or cannot be evaluated (waived and
        not applicable controls never fail it); the message names the terminal and the controls.
    type: str
    choices: [never, fail]
    default: never
  low_priority:
    description:
      - Run the audit, whose card number scan reads every file of O(pan_paths), at the lowest CPU and I/O
        priority (as M(posfleet.terminals.pan_scan) does with its O(posfleet.terminals.pan_scan#module:low_priority)),
        so that the terminal keeps its payment latency while it is audited. RV(priority) shows what was applied.
      - V(false) keeps the priority of the Ansible module process.
    type: bool
    default: true
seealso:
  - module: posfleet.terminals.pan_scan
  - name: PCI DSS v4.0.1 document library
    description: The requirements the controls map to.
    link: https://www.pcisecuritystandards.org/document_library/
notes:
  - Needs root (C(become=true)) to read C(/etc/shadow), run C(sshd -T) and read the transaction journal.
  - The C(pci_baseline) role remediates the controls with C(remediable=true); each control ID is also that role's
    toggle (C(posfleet_pci_baseline_<id>)).
"""

EXAMPLES = r"""
---
- name: Audit the terminal
  posfleet.terminals.pci_audit:
    cashier_accounts:
      - name: cashier
        reason: till login, one card at a time
    approved_versions:
      openssh-server: 1:9.2p1-2+deb12u5
      firmware: 2.3.1
    waivers:
      - id: log_retention_auth
        reason: central syslog keeps 13 months (change CHG-4711, J. Doe)
        expires: '2027-03-31'
  become: true
  register: pci

- name: Show failing controls
  ansible.builtin.debug:
    msg: "{{ item.id }} ({{ item.pci_dss | join(', ') }}): {{ item.evidence }}"
  loop: "{{ pci.controls | selectattr('status', 'eq', 'fail') }}"
  loop_control:
    label: "{{ item.id }}"

- name: Record the file-integrity baseline after an approved change
  posfleet.terminals.pci_audit:
    fim_update: true
    controls: [fim_baseline, fim_unchanged]
  become: true
"""

RETURN = r"""
terminal_id:
  description: The terminal's ID (from C(/etc/posfleet/terminal.json)), or its host name.
  returned: always
  type: str
  sample: BER01-LEGACY-01
controls:
  description:
    - One entry per control, in a stable order. C(status) is V(pass), V(fail), V(not_applicable), V(error) or
      V(waived); C(evidence) what was read; C(remediation) what fixes it (and the role toggle); C(remediable)
      whether the C(pci_baseline) role can fix it; C(waiver) the waiver applied, when one is.
  returned: always
  type: list
  elements: dict
  sample:
    - id: password_min_length
      title: Passwords have at least 12 characters
      pci_dss: ['8.3.6']
      severity: high
      status: fail
      evidence: pwquality minlen = 6 (at least 12)
      remediation: Set minlen = 12 in /etc/security/pwquality.conf
      remediable: true
summary:
  description: Controls per status; C(score) is the percentage of passes among judged controls (not applicable ones
    left out; V(0) when none was judged); C(compliant) is V(true) when at least one control was judged and nothing
    fails or errs.
  returned: always
  type: dict
  sample: {pass: 43, fail: 19, not_applicable: 4, error: 0, waived: 0, total: 66, score: 69.4, compliant: false}
pan_scan:
  description: The PAN scan behind C(pan_storage) and C(sad_storage) (masked evidence only).
  returned: when those controls ran
  type: dict
  sample: {complete: true, stop_reason: null, budget: {max_bytes: 10000000000, max_seconds: 1200}, files_scanned: 31,
           bytes_scanned: 1830211, sparse_bytes_skipped: 0, duration_ms: 40, throughput_mbps: 45.2, pan_count: 2,
           sad_count: 1, findings: [], sad_findings: [], errors: [], skipped_paths: []}
fim:
  description: The file-integrity state - C(baseline_sha256) of the baseline (keep it on the controller to detect a
    replaced baseline), C(recorded), C(files) watched, C(changes) (added, removed, modified) or V(null) without
    baseline.
  returned: when the FIM controls ran
  type: dict
  sample: {baseline_sha256: 9f2c..., recorded: '2026-11-21T21:40:00Z', files: 212,
           changes: {added: [], removed: [], modified: []}}
sshd:
  description:
    - The running sshd against its configuration files. C(sshd -T) reads the files, not the daemon, so every SSH
      control reads V(fail) while C(stale) is V(true) - a file of C(sshd_config) or its C(Include)s (or an Include
      directory) changed after the running daemon read its configuration (C(loaded_at)), as a run interrupted
      between installing a drop-in and reloading sshd leaves it.
    - C(loaded_at) is when the listener last (re)started - it rewrites its PID file each time it has read its
      configuration, also when it re-executes itself on SIGHUP - or, without a PID file that names it, its process
      start time. C(source) says which; C(running) is V(false) when no sshd runs (it reads the files when it starts).
  returned: when an SSH control ran and sshd is installed
  type: dict
  sample: {running: true, pid: 412, loaded_at: '2026-12-01T18:02:11Z', source: PID file /run/sshd.pid,
           config_changed_at: '2026-12-01T18:02:40Z', newest_config: /etc/ssh/sshd_config.d/00-posfleet-pci.conf,
           stale: true}
duration_ms:
  description: How long the audit took on the terminal.
  returned: always
  type: int
  sample: 110
priority:
  description:
    - The priority the audit ran at (see O(low_priority)). C(nice) is the CPU nice level, C(cpu_policy) the CPU
      scheduling policy, C(io_class) the I/O scheduling class; V(null) where the system does not say.
  returned: success
  type: dict
  sample: {nice: 19, cpu_policy: idle, io_class: idle}
"""

# Imports follow the documentation blocks, as ansible-test validate-modules requires.
import traceback  # noqa: E402

from ansible.module_utils.basic import AnsibleModule  # noqa: E402

from ansible_collections.posfleet.terminals.plugins.module_utils._pan import (  # noqa: E402
    check_key,
    current_priority,
    lower_priority,
    random_key,
)
from ansible_collections.posfleet.terminals.plugins.module_utils._pci import (  # noqa: E402
    AUDIT_OPTIONS,
    audit,
    get_pci_audit_argument_spec,
)
from ansible_collections.posfleet.terminals.plugins.module_utils._platform import TerminalError, load_platform  # noqa: E402


def main():
    argument_spec = get_pci_audit_argument_spec()
    module = AnsibleModule(argument_spec=argument_spec, supports_check_mode=True)
    p = module.params
    opts = {name: p[name] for name in AUDIT_OPTIONS}
    opts['pan_hash_key'] = p['pan_hash_key'] or random_key()
    try:
        check_key(opts['pan_hash_key'])
    except ValueError as exc:
        module.fail_json(msg=f'pci_audit: pan_hash_key: {exc}. Fix: use a random key of 16 or more characters, '
                             'kept in Ansible Vault')
    if min(p['pan_max_scan_mb'], p['pan_max_scan_seconds']) < 0:
        module.fail_json(msg='pci_audit: pan_max_scan_mb and pan_max_scan_seconds must be 0 or more')
    ident = None
    priority = None
    try:
        platform = load_platform()  # an unknown terminal fails here, before anything is read or written
        ident = platform.terminal_id
        priority = lower_priority() if p['low_priority'] else current_priority()
        result = audit(opts, fim_update=p['fim_update'], check_mode=module.check_mode, platform=platform)
    except TerminalError as exc:
        module.fail_json(msg=str(exc), step=exc.step, terminal_id=exc.terminal)
    except Exception as exc:
        error = TerminalError('pci_audit', f'unexpected error: {exc}', 'report this with the traceback', ident)
        module.fail_json(msg=str(error), exception=traceback.format_exc())
    result['terminal_id'] = ident
    result['priority'] = priority
    if p['fail_on'] == 'fail' and not result['summary']['compliant']:
        failing = [c['id'] for c in result['controls'] if c['status'] in ('fail', 'error')]
        if failing:
            error = TerminalError('pci_audit', f'{len(failing)} controls fail: {", ".join(failing)}',
                                  'run the posfleet.terminals.pci_baseline role for the remediable ones, fix or '
                                  'waive the others (see each control\'s remediation)', ident)
        else:
            error = TerminalError('pci_audit', f'no control could be judged ({len(result["controls"])} selected, '
                                  'none passed, failed or erred): no evidence', 'select controls that apply to '
                                  'this terminal (see each control\'s not_applicable reason)', ident)
        if 'pan_scan' in result:  # no hashes in a failure: it is printed on the console of whoever ran it
            result['pan_scan']['findings'] = [{k: v for k, v in f.items() if k != 'hash'}
                                              for f in result['pan_scan']['findings']]
        module.fail_json(msg=str(error), **result)
    module.exit_json(**result)


if __name__ == '__main__':
    main()
