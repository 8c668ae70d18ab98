#!/usr/bin/python
# Copyright (c) posfleet developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: pan_scan
short_description: Find unprotected card numbers (PANs) in a POS terminal's files, gzip logs and SQLite databases
version_added: 0.1.0
description:
  - Scans files and directories on the terminal for primary account numbers stored in the clear (PCI DSS v4.0.1
    3.5.1, 3.4.1) and for sensitive authentication data such as track data, CVV or PIN block values (3.3.1), in one
    round trip.
  - A candidate is a run of 13 to 19 digits, optionally split by single spaces or dashes, that is not part of a
    longer digit run, not glued to letters and not a phone number written with C(+). It is reported as a card
    number when its issuer identification number and length belong to a brand (Visa, Mastercard including the
    2221-2720 range, American Express, Discover, JCB, UnionPay C(62) and C(81), Diners Club International, Maestro,
    Mir, RuPay, Elo, Verve, Troy; the collection's C(docs/pan-scan.md) lists every range and length) and it passes
    the Luhn check. Timestamps, phone numbers, IMEIs and order numbers do not match.
  - Plain files are read in fixed-size chunks, so memory stays bounded whatever the file size. Files starting with
    the gzip magic are decompressed as a stream. SQLite databases (by their header) are read row by row through a
    read-only connection; every text, blob and integer value is scanned.
  - Evidence never contains a full number, nor the first six digits - only the last four (C(masked) in
    RV(findings)) and HMAC-SHA256 under the secret O(hash_key) (C(hash)), which correlates one card across files and
    terminals. Without the key, the hash cannot be used to test candidates; the key is never in the result or in a
    message. The collection's C(docs/pan-scan.md) explains the choice against PCI DSS v4.0.1 3.5.1.
  - Symbolic links are not followed; a path in O(paths) that is a symbolic link is an error (RV(errors)). Files are
    opened with C(O_NOFOLLOW) and C(O_NONBLOCK) and must be regular files by C(fstat); sockets, pipes and devices
    are skipped.
  - Pseudo-filesystems (C(proc), C(sysfs), C(devtmpfs), C(cgroup) ... by their type in C(/proc/self/mountinfo)) are
    not entered; the holes of sparse files are not read (C(SEEK_DATA)/C(SEEK_HOLE)), only their data.
  - Every scan has a byte budget (O(max_scan_mb)) and a time budget (O(max_scan_seconds)); a scan whose task is
    gone (the controller gave up) stops at once. The task fails when the scan is incomplete - a budget reached, a
    path unreadable, a database SQLite cannot read (scanned as raw bytes) - because an incomplete scan that finds
    nothing is not a clean result (RV(complete)).
  - A terminal keeps trading while it is scanned. With O(low_priority) (the default) the scan runs with the idle
    CPU scheduling policy at nice level 19 and in the idle I/O class, and O(rate_limit) caps how fast it reads;
    RV(priority) says what was applied.
author:
  - posfleet developers (@posfleet)
extends_documentation_fragment:
  - posfleet.terminals.attributes
  - posfleet.terminals.attributes.INFO_MODULE
attributes:
  platform:
    support: full
    platforms: posix
    details:
      - Runs on the terminal with its own Python 3.9 or later (standard library only). Runs on any Linux host; on
        a posfleet terminal the platform layer only adds its own card data places to the default O(paths).
options:
  paths:
    description:
      - Files and directories to scan, recursively.
      - When not set - V(/var/log), V(/var/tmp), V(/tmp), V(/home) and V(/root), plus, on a posfleet terminal, the
        places where its platform keeps card data (the transaction journal's directory on the reference terminal).
    type: list
    elements: path
  exclude:
    description:
      - Shell patterns (C(fnmatch)) of full paths not to scan, for example V(/var/log/journal/*).
    type: list
    elements: str
    default: []
  allow_test_pans:
    description:
      - Do not report the brands' published test card numbers (for example V(4111111111111111)); they are counted in
        RV(allowed_test_pans) instead.
      - Off by default - a test number in a production log usually means a debug setting was left on.
    type: bool
    default: false
  hash_key:
    description:
      - Secret key of the evidence hashes (HMAC-SHA256), at least 16 characters. Give the same key to every terminal
        of a run to correlate one card across the fleet; keep it in Ansible Vault. When not set, a random key is
        drawn per run and forgotten, so hashes only correlate within that run.
      - Never shown in the result, in C(invocation) or in a failure message.
      - The alias O(salt) is deprecated; the old salted SHA-256 is gone (its hashes, with the first six and last
        four digits, gave the card number back).
    type: str
    aliases: [salt]
  max_findings:
    description: How many findings are listed (all are counted in RV(pan_count)).
    type: int
    default: 100
  max_file_mb:
    description: Skip files larger than this many megabytes (listed in RV(skipped_paths)); V(0) scans every file.
    type: int
    default: 0
  max_scan_mb:
    description:
      - Byte budget of the whole scan, in megabytes (10^6 bytes) read (uncompressed for gzip files). When it is
        reached the scan stops, RV(complete) is V(false) and the task fails. From V(1) to V(10000000).
      - The default, 10 GB, is about two minutes of reading at full speed and eight at O(rate_limit=20000000).
    type: int
    default: 10000
  max_scan_seconds:
    description:
      - Time budget of the whole scan, in seconds. When it is reached the scan stops, RV(complete) is V(false) and
        the task fails. From V(1) to V(86400) (a scan also stops when its task is gone).
      - The default, 20 minutes, fits inside a night's maintenance window with room for the other work.
    type: int
    default: 1200
  fail_on_findings:
    description: Fail the task when a card number or sensitive authentication data is found.
    type: bool
    default: false
  low_priority:
    description:
      - Run the scan at the lowest CPU priority (the C(SCHED_IDLE) policy, as C(chrt --idle 0) does, and nice
        level 19) and in the idle I/O class (C(ioprio_set), as C(ionice -c 3) does), so that payments on the
        terminal keep their latency.
      - Where the system does not allow either, the scan runs anyway; RV(priority) shows what was applied.
      - The idle I/O class only has an effect with I/O schedulers that honour priorities (BFQ; mq-deadline
        partly); page-cache reads are not affected.
      - V(false) keeps the priority of the Ansible module process.
    type: bool
    default: true
  rate_limit:
    description:
      - Read at most this many bytes per second (uncompressed bytes for gzip files); V(0) reads as fast as the
        terminal allows.
      - For example V(20000000) keeps a scan of 2 GB of logs to about 100 seconds and a steady, low load.
    type: int
    default: 0
seealso:
  - module: posfleet.terminals.pci_audit
  - name: PCI DSS v4.0.1 document library
    description: Requirements 3.3.1, 3.4.1 and 3.5.1.
    link: https://www.pcisecuritystandards.org/document_library/
"""

EXAMPLES = r"""
---
- name: Scan the terminal's logs and data for card numbers
  posfleet.terminals.pan_scan:
  become: true
  register: pans

- name: Show where card numbers were found (masked)
  ansible.builtin.debug:
    msg: "{{ item.path }}:{{ item.line | default(item.rowid) }} {{ item.brand }} {{ item.masked }}"
  loop: "{{ pans.findings }}"
  loop_control:
    label: "{{ item.path }}"

- name: Fail when a transaction database or a compressed log holds a card number
  posfleet.terminals.pan_scan:
    paths: [/var/log, /var/backups]
    hash_key: "{{ vault_pan_hash_key }}"
    max_scan_seconds: 600
    fail_on_findings: true
  become: true
"""

RETURN = r"""
found:
  description: V(true) when a card number or sensitive authentication data was found.
  returned: always
  type: bool
  sample: true
pan_count:
  description: How many card numbers were found (test numbers allowed by O(allow_test_pans) not included).
  returned: always
  type: int
  sample: 2
by_brand:
  description: Card numbers found per brand.
  returned: always
  type: dict
  sample: {visa: 2}
findings:
  description:
    - One entry per card number found, at most O(max_findings).
    - C(container) is V(file), V(gzip), V(sqlite) or V(sqlite-raw) (a database SQLite could not read, scanned as
      raw bytes); files give C(line) and C(offset) (of the uncompressed data), databases C(table), C(column) and
      C(rowid).
    - C(masked) holds the last four digits only; C(hash) is C(hmac-sha256:<hex>) under O(hash_key).
    - In the result of a failed task the C(hash) is left out.
  returned: always
  type: list
  elements: dict
  sample:
    - {path: /var/log/pos/debug.log, container: file, line: 2, offset: 137, brand: visa, length: 16,
       masked: '************1111', hash: 'hmac-sha256:5f0c...'}
sad_count:
  description: How many sensitive authentication data hits (track 1/2 layouts, labelled CVV, CVC or PIN block values).
  returned: always
  type: int
  sample: 1
sad_findings:
  description: Where sensitive authentication data was found (C(kind), C(path), C(line), C(offset)); no values.
  returned: always
  type: list
  elements: dict
  sample: [{kind: track2, path: /var/log/pos/debug.log, container: file, line: 2, offset: 64}]
allowed_test_pans:
  description: Published test card numbers skipped because of O(allow_test_pans).
  returned: always
  type: int
  sample: 0
files_scanned:
  description: Files scanned.
  returned: always
  type: int
  sample: 42
bytes_scanned:
  description: Bytes scanned (uncompressed bytes for gzip files, value bytes for SQLite databases).
  returned: always
  type: int
  sample: 10485760
duration_ms:
  description: Time the scan took on the terminal.
  returned: always
  type: int
  sample: 210
throughput_mbps:
  description: Bytes scanned per second, in megabytes (10^6 bytes) per second.
  returned: always
  type: float
  sample: 48.7
throttled_ms:
  description: Time the scan slept to keep to O(rate_limit).
  returned: always
  type: int
  sample: 0
priority:
  description:
    - The priority the scan ran at. C(nice) is the CPU nice level, C(cpu_policy) the CPU scheduling policy
      (V(idle) or V(other), the default), C(io_class) the I/O scheduling class (V(idle), V(best-effort),
      V(none) or V(realtime)), C(rate_limit) the cap of O(rate_limit).
    - C(nice), C(cpu_policy) or C(io_class) is V(null) where the system does not let the scan read or set it.
  returned: always
  type: dict
  sample: {nice: 19, cpu_policy: idle, io_class: idle, rate_limit: 0}
skipped_paths:
  description:
    - Paths not scanned, with the reason (missing, larger than O(max_file_mb), a pseudo-filesystem, removed while
      scanning). Named C(skipped) before 0.2.0, a name Ansible reserves (it showed a scan as SKIPPED).
  returned: always
  type: list
  elements: dict
  sample:
    - {path: /root, reason: does not exist}
    - {path: /proc, reason: 'pseudo-filesystem (proc): holds no stored data'}
complete:
  description:
    - V(true) when every file under O(paths) was read to its end - no budget reached, no read error. The task
      fails when it is V(false).
  returned: always
  type: bool
  sample: true
stop_reason:
  description: Why the scan stopped early (a budget reached, its task gone), or V(null).
  returned: always
  type: str
  sample: time budget of 1200 s reached
budget:
  description: The budgets the scan ran with, C(max_bytes) and C(max_seconds) (V(0) for none).
  returned: always
  type: dict
  sample: {max_bytes: 10000000000, max_seconds: 1200}
sparse_bytes_skipped:
  description: Bytes in the holes of sparse files, not read (a hole holds only zeros).
  returned: always
  type: int
  sample: 0
errors:
  description:
    - Paths that could not be read, or only partly (a symbolic link given in O(paths), a database SQLite cannot read),
      with the error.
  returned: always
  type: list
  elements: dict
  sample: [{path: /var/log/btmp, error: Permission denied}]
"""

# Imports follow the documentation blocks, as ansible-test validate-modules requires.
import os  # noqa: E402
import traceback  # noqa: E402

from ansible.module_utils.basic import AnsibleModule  # noqa: E402

from ansible_collections.posfleet.terminals.plugins.module_utils._pan import (  # noqa: E402
    MAX_SCAN_BYTES,
    MAX_SCAN_SECONDS,
    PAN_SCAN_RANGES,
    check_key,
    current_priority,
    lower_priority,
    random_key,
    scan_paths,
)
from ansible_collections.posfleet.terminals.plugins.module_utils._pci import default_pan_paths  # noqa: E402
from ansible_collections.posfleet.terminals.plugins.module_utils._platform import (  # noqa: E402
    IDENTITY_FILE,
    TerminalError,
    load_platform,
)
from ansible_collections.posfleet.terminals.plugins.module_utils._ranges import check_ranges  # noqa: E402


def scan_roots(paths):
    """The paths given, or the defaults: a posfleet terminal's platform adds its own places, any other Linux host
    (no identity file) gets the OS's; a terminal whose identity is broken fails with the reason."""
    if paths:
        return paths
    if not os.path.exists(IDENTITY_FILE):
        return default_pan_paths()
    return default_pan_paths(load_platform())


def failure(result, module_params):
    """``(step error or None)`` for a finished scan: incomplete scans always fail, findings with fail_on_findings."""
    problems = []
    if result['stop_reason']:
        problems.append(f"scan incomplete: {result['stop_reason']} after {result['files_scanned']} files and "
                        f"{result['bytes_scanned']} bytes")
    if result['errors']:
        first = result['errors'][0]
        problems.append(f"{len(result['errors'])} path(s) not fully read ({first['path']}: {first['error']})")
    if problems:
        return TerminalError('pan_scan', '; '.join(problems),
                             'run with become: true, give the target of a symbolic link, narrow paths or raise '
                             'max_scan_mb/max_scan_seconds, then scan again; an incomplete scan is never clean')
    if module_params['fail_on_findings'] and result['found']:
        where = sorted({f['path'] for f in result['findings'] + result['sad_findings']})
        return TerminalError('pan_scan', f'{result["pan_count"]} card number(s) and {result["sad_count"]} sensitive '
                             f'authentication data hit(s) in {", ".join(where[:5])}',
                             'remove or truncate the data, turn off the debug logging that wrote it, then scan again')
    return None


def main():
    argument_spec = {
        'paths': {'type': 'list', 'elements': 'path'},
        'exclude': {'type': 'list', 'elements': 'str', 'default': []},
        'allow_test_pans': {'type': 'bool', 'default': False},
        'hash_key': {'type': 'str', 'no_log': True, 'aliases': ['salt'],
                     'deprecated_aliases': [{'name': 'salt', 'version': '1.0.0',
                                             'collection_name': 'posfleet.terminals'}]},
        'max_findings': {'type': 'int', 'default': 100},
        'max_file_mb': {'type': 'int', 'default': 0},
        'max_scan_mb': {'type': 'int', 'default': MAX_SCAN_BYTES // 1000000},
        'max_scan_seconds': {'type': 'int', 'default': MAX_SCAN_SECONDS},
        'fail_on_findings': {'type': 'bool', 'default': False},
        'low_priority': {'type': 'bool', 'default': True},
        'rate_limit': {'type': 'int', 'default': 0},
    }
    module = AnsibleModule(argument_spec=argument_spec, supports_check_mode=True)
    p = module.params
    try:
        check_ranges(p, PAN_SCAN_RANGES)
    except TerminalError as exc:
        module.fail_json(msg=str(exc), step=exc.step)
    key = p['hash_key'] or random_key()
    try:
        check_key(key)
    except ValueError as exc:
        module.fail_json(msg=f'pan_scan: hash_key: {exc}. Fix: use a random key of 16 or more characters, kept in '
                             'Ansible Vault')
    priority = lower_priority() if p['low_priority'] else current_priority()
    try:
        result = scan_paths(scan_roots(p['paths']), key, exclude=p['exclude'],
                            allow_test_pans=p['allow_test_pans'], max_findings=p['max_findings'],
                            max_file_bytes=p['max_file_mb'] * 1000000, rate_limit=p['rate_limit'],
                            max_bytes=p['max_scan_mb'] * 1000000, max_seconds=p['max_scan_seconds'])
    except TerminalError as exc:
        module.fail_json(msg=str(exc), step=exc.step, terminal_id=exc.terminal)
    except Exception as exc:
        # The type and the stack only: an exception's text can quote the bytes being scanned.
        module.fail_json(msg=f'posfleet.terminals.pan_scan: unexpected error: {type(exc).__name__}. Fix: report '
                             'this with the traceback', exception=''.join(traceback.format_tb(exc.__traceback__)))
    result['found'] = bool(result['pan_count'] or result['sad_count'])
    result['priority'] = dict(priority, rate_limit=p['rate_limit'])
    error = failure(result, p)
    if error is not None:
        # No hashes in a failure: it is printed on the console of whoever ran the task.
        result['findings'] = [{k: v for k, v in f.items() if k != 'hash'} for f in result['findings']]
        module.fail_json(msg=str(error), step=error.step, terminal_id=error.terminal, changed=False, **result)
    module.exit_json(changed=False, **result)


if __name__ == '__main__':
    main()
