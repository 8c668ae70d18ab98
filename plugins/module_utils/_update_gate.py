# Copyright (c) posfleet developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The health gate an update passes before it is committed (firmware and software alike).

The gate is the terminal's real functional self-test (``_selftest.run``: its critical checks), a training
transaction to the acquirer, and the version (and slot) the running daemon reports. One home, so both update
modules judge a new version the same way.

Private to the collection (leading underscore): it may change without notice.
"""

from __future__ import annotations

from ansible_collections.posfleet.terminals.plugins.module_utils import _selftest

GATE_STEP = 'health_gate'


def judge(checks, daemon, expect_version=None, expect_slot=None):
    """``(ok, reason)`` from the self-test's ``checks`` and the daemon's own answer (``daemon_info()``): every
    critical check passes (a warning is fine) and the daemon runs the expected version from the expected slot.
    The reason names the first thing that failed, as a sentence."""
    if not daemon or not daemon.get('running'):
        error = (daemon or {}).get('error') or 'no answer'
        return False, f'the terminal daemon is not running ({error})'
    failed = [check for check in checks if check.get('critical') and check.get('status') == 'fail']
    if failed:
        parts = [f'{check["name"]}: {check.get("reason") or "failed"}' for check in failed]
        return False, f'{len(failed)} critical check{"s" if len(failed) > 1 else ""} failed ({"; ".join(parts)})'
    missing = [check['name'] for check in checks if check.get('critical') and check.get('status') == 'not_applicable'
               and check['name'] == 'acquirer_transaction']
    if missing:
        return False, 'the training transaction to the acquirer did not run'
    if expect_version is not None and daemon.get('version') != expect_version:
        return False, f'the daemon reports version {daemon.get("version")!r}, expected {expect_version!r}'
    if expect_slot is not None and daemon.get('slot') != expect_slot:
        return False, f'the daemon runs from slot {daemon.get("slot")!r}, expected slot {expect_slot!r}'
    return True, None


def health_gate(platform, expect_version=None, expect_slot=None, transaction_timeout=10):
    """Run the gate on ``platform``: ``{ok: bool, reason: str|None, checks: [check], daemon_version: str|None}``.

    ``checks`` are the self-test's checks (``_health``'s shape); no receipt is printed. Never raises for a
    terminal that fails the gate: that is ``ok: false`` with the ``reason``."""
    result, dummy = _selftest.run(platform, print_receipt=False, transaction=True,
                                  transaction_timeout=transaction_timeout, fail_on='critical')
    daemon = platform.daemon_info()
    ok, reason = judge(result['checks'], daemon, expect_version, expect_slot)
    if ok and result.get('errors'):
        ok, reason = False, '; '.join(result['errors'])
    return {'ok': ok, 'reason': reason, 'checks': result['checks'],
            'daemon_version': daemon.get('version') if daemon.get('running') else None}
