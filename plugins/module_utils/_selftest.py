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
from ansible_collections.posfleet.terminals.plugins.module_utils._ranges import Range, check_ranges

SKIPPED_CHECK_MODE = 'skipped in check mode'


def get_selftest_argument_spec():
    """The options of ``posfleet.terminals.selftest`` with their defaults: the one copy, read by the module, by
    ``run()`` for what its caller leaves out, and checked against the module's DOCUMENTATION by a unit test.
    The thresholds' defaults are ``_health.DEFAULT_THRESHOLDS`` (the evaluation's own table)."""
    spec = {
        'print_receipt': {'type': 'bool', 'default': True},
        'transaction': {'type': 'bool', 'default': True},
        'transaction_timeout': {'type': 'int', 'default': 10},
        'network_timeout': {'type': 'int', 'default': 5},
        'fail_on': {'type': 'str', 'default': 'critical', 'choices': ['critical', 'any', 'never']},
    }
    for name, default in health.DEFAULT_THRESHOLDS.items():
        spec[name] = {'type': 'float' if isinstance(default, float) else 'int', 'default': default}
    return spec


# The allowed range of each numeric option (``_ranges``): the reference terminal's daemon takes a transaction
# timeout of 1 to 120 s; a percentage threshold is a percentage; a latency threshold beyond the longest
# transaction could never be reached.
SELFTEST_RANGES = {
    'transaction_timeout': Range(1, 120, 'seconds'),
    'network_timeout': Range(1, 120, 'seconds'),
    'paper_warn_pct': Range(0, 100, '%'),
    'paper_fail_pct': Range(0, 100, '%'),
    'head_wear_warn_pct': Range(0, 100, '%'),
    'battery_warn_pct': Range(0, 100, '%'),
    'battery_fail_pct': Range(0, 100, '%'),
    'battery_health_warn_pct': Range(0, 100, '%'),
    'temperature_warn_c': Range(-40, 150, '°C'),
    'temperature_fail_c': Range(-40, 150, '°C'),
    'network_connect_warn_ms': Range(1, 120000, 'ms'),
    'acquirer_warn_ms': Range(1, 120000, 'ms'),
    'acquirer_fail_ms': Range(1, 120000, 'ms'),
    'tls_handshake_warn_ms': Range(1, 120000, 'ms'),
}


def options_with_defaults(options):
    """``options`` (the module's option names) completed with the spec's defaults; ``None`` keeps the default."""
    spec = get_selftest_argument_spec()
    unknown = sorted(set(options) - set(spec))
    if unknown:
        raise ValueError(f'unknown selftest option(s): {", ".join(unknown)}')
    values = {name: option.get('default') for name, option in spec.items()}
    values.update((name, value) for name, value in options.items() if value is not None)
    return values


def run(platform, check_mode=False, **options):
    """Run the self-test with the module's ``options`` (defaults for those left out); returns the module result
    (without ``changed``/``failed``) and a failure message (``None`` when the task should not fail)."""
    start = time.monotonic()
    opts = options_with_defaults(options)
    check_ranges(opts, SELFTEST_RANGES, platform.terminal_id)  # before the terminal is asked anything
    print_receipt, transaction, fail_on = opts['print_receipt'], opts['transaction'], opts['fail_on']
    limits = {name: opts[name] for name in health.DEFAULT_THRESHOLDS}
    skipped = {}
    errors = []

    model = None
    try:
        model = platform.model()
    except TerminalError as exc:
        errors.append(str(exc))
        try:
            fallback = platform.identity().get('model')
        except TerminalError as identity_error:  # an identity refused at the seam: say so, test the devices anyway
            errors.append(str(identity_error))
            fallback = None
        model = {'model': fallback, 'peripherals': {}}

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
    elif daemon.get('error'):  # running, but its answer about itself was rejected: the daemon check fails
        daemon_error = daemon['error']

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
        probe = platform.probe_acquirer(timeout=opts['network_timeout'])
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
            tx = platform.test_transaction(timeout=opts['transaction_timeout'])
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
