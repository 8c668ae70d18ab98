# Copyright (c) posfleet developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The self-test run for ``posfleet.terminals.selftest``: ask the platform, then let ``_health`` judge.

Private to the collection (leading underscore): it may change without notice.
"""

from __future__ import annotations

import time

from ansible_collections.posfleet.terminals.plugins.module_utils import _health as health
from ansible_collections.posfleet.terminals.plugins.module_utils._platform import TerminalError

SKIPPED_CHECK_MODE = 'skipped in check mode'


def run(platform, print_receipt=True, transaction=True, transaction_timeout=10, network_timeout=5,
        limits=None, check_mode=False, fail_on='critical'):
    """Run the self-test; returns the module result (without ``changed``/``failed``) and a failure message
    (``None`` when the task should not fail)."""
    start = time.monotonic()
    skipped = {}
    errors = []

    model = None
    try:
        model = platform.model()
    except TerminalError as exc:
        errors.append(str(exc))
        model = {'model': platform.identity().get('model'), 'peripherals': {}}

    daemon = platform.daemon_info()
    hardware = None
    daemon_error = None
    try:
        hardware = platform.peripherals()
    except TerminalError as exc:
        if daemon['running']:
            errors.append(str(exc))
        else:  # the same failure as daemon_info's, with its message and fix apart
            daemon_error = f'{exc.message}: {exc.fix}'
    if not daemon['running']:
        daemon, daemon_error = None, daemon_error or daemon['error']

    devices = None
    receipt_printed = False
    if daemon is not None:
        want_receipt = bool(print_receipt) and not check_mode
        try:
            answer = platform.selftest(print_receipt=want_receipt)
        except TerminalError as exc:
            errors.append(str(exc))
        else:
            devices = answer['devices']
            receipt_printed = answer.get('receipt_printed')
            if receipt_printed is None:  # a platform that does not say: the printer worked, so it printed
                printer = health.merge_device('printer', devices, None)
                receipt_printed = want_receipt and bool(printer.get('present')) and printer.get('ok') is not False
            receipt_printed = bool(receipt_printed)

    probe = None
    try:
        probe = platform.probe_acquirer(timeout=network_timeout)
    except TerminalError as exc:
        # Not skipped: a terminal that does not know its acquirer cannot authorise at all.
        probe = {'host': None, 'port': None, 'reachable': False, 'connect_ms': None, 'error': exc.message,
                 'fix': exc.fix}

    tx = None
    if check_mode:
        skipped['acquirer_transaction'] = SKIPPED_CHECK_MODE
    elif not transaction:
        skipped['acquirer_transaction'] = 'test transaction disabled (transaction=false)'
    elif daemon is not None:
        try:
            tx = platform.test_transaction(timeout=transaction_timeout)
        except TerminalError as exc:
            tx = {'ok': False, 'stage': exc.step, 'error': exc.message}

    checks = health.evaluate(model, hardware=hardware, daemon=daemon, devices=devices, daemon_error=daemon_error,
                             probe=probe, transaction=tx, skipped=skipped, limits=limits)
    summary = health.summarize(checks)
    result = {
        'terminal_id': platform.terminal_id,
        'model': model.get('model'),
        'checks': checks,
        'summary': summary,
        'healthy': summary['healthy'],
        'receipt_printed': receipt_printed,
        'errors': errors,
        'duration_ms': int((time.monotonic() - start) * 1000),
    }
    return result, health.failure_message(platform.terminal_id, checks, fail_on)
