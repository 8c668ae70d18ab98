# Copyright (c) posfleet developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The update health gate's judgement (the pure part; the gate on a real terminal runs in the firmware scenario)."""

from __future__ import annotations

import pytest

from ansible_collections.posfleet.terminals.plugins.module_utils._update_gate import judge

DAEMON = {'running': True, 'version': '2.4.0', 'slot': 'b', 'error': None}


def check(name, status='pass', critical=True, reason=None):
    return {'name': name, 'status': status, 'critical': critical, 'reason': reason}


HEALTHY = [check('daemon'), check('card_reader'), check('printer'), check('network'),
           check('acquirer_transaction'), check('scanner', 'warn', False, 'slow')]


@pytest.mark.parametrize('checks, daemon, version, slot, reason', [
    (HEALTHY, DAEMON, '2.4.0', 'b', None),
    (HEALTHY, DAEMON, None, None, None),
    (HEALTHY + [check('battery', 'fail', False, 'low')], DAEMON, '2.4.0', 'b', None),  # not critical
    (HEALTHY[:1] + [check('card_reader', 'fail', True, 'firmware 2.4.0 defect: card_reader self-test fails')]
     + HEALTHY[2:], DAEMON, '2.4.0', 'b',
     '1 critical check failed (card_reader: firmware 2.4.0 defect: card_reader self-test fails)'),
    (HEALTHY, dict(DAEMON, version='2.3.1', slot='a'), '2.4.0', 'b',
     "the daemon reports version '2.3.1', expected '2.4.0'"),
    (HEALTHY, dict(DAEMON, slot='a'), '2.4.0', 'b', "the daemon runs from slot 'a', expected slot 'b'"),
    (HEALTHY, {'running': False, 'error': 'connection refused'}, '2.4.0', None,
     'the terminal daemon is not running (connection refused)'),
    (HEALTHY[:4] + [check('acquirer_transaction', 'not_applicable')], DAEMON, None, None,
     'the training transaction to the acquirer did not run'),
])
def test_judge(checks, daemon, version, slot, reason):
    assert judge(checks, daemon, version, slot) == (reason is None, reason)
