# Copyright (c) posfleet developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The reference terminal daemon's maintenance lease (tests/images/terminal/firmware/posd): when it ends, what
renews it, and what a restart makes of the file. Pure logic on a temporary state directory, clock injected."""

from __future__ import annotations

import importlib.machinery
import importlib.util
import json
import os
import sys

import pytest

POSD = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))),
                    'images', 'terminal', 'firmware', 'posd')
pytestmark = pytest.mark.skipif(not os.path.isfile(POSD), reason='the terminal image sources are not in this tree')


class Clock:
    def __init__(self, now):
        self.now = now

    def __call__(self):
        return self.now


@pytest.fixture
def posd(tmp_path, monkeypatch):
    """``(module, daemon, clock)``: a Posd whose state files live under tmp_path and whose clock is ours."""
    monkeypatch.setattr(sys, 'dont_write_bytecode', True)  # no __pycache__ in the image's build context
    loader = importlib.machinery.SourceFileLoader('posd_under_test', POSD)
    spec = importlib.util.spec_from_loader(loader.name, loader)
    module = importlib.util.module_from_spec(spec)
    loader.exec_module(module)
    monkeypatch.setattr(module, 'MAINTENANCE_FILE', str(tmp_path / 'maintenance.json'))
    monkeypatch.setattr(module, 'DISPLAY_FILE', str(tmp_path / 'display.txt'))
    monkeypatch.setattr(module, 'IDENTITY_FILE', str(tmp_path / 'terminal.json'))
    monkeypatch.setattr(module, 'MODEL_FILE', str(tmp_path / 'model.json'))
    clock = Clock(1_800_000_000.0)
    monkeypatch.setattr(module.time, 'time', clock)
    return module, module.Posd(), clock


def saved(module):
    with open(module.MAINTENANCE_FILE) as handle:
        return json.load(handle)


def test_the_lease_counts_from_the_end_of_the_drain_and_ends_by_itself(posd):
    module, daemon, clock = posd
    answer = daemon.cmd_maintenance_enter({'message': 'm', 'drain_timeout': 0, 'lease': 60, 'holder': 'run-1'})
    assert (answer['changed'], answer['expires'], answer['holder']) == (True, 1_800_000_060.0, 'run-1')
    assert saved(module)['expires'] == 1_800_000_060.0  # a reboot keeps the lease
    clock.now += 59.9
    daemon.release_lapsed()
    assert daemon.maintenance['enabled']
    clock.now += 0.1
    daemon.release_lapsed()
    assert not daemon.maintenance['enabled']
    assert saved(module)['enabled'] is False
    with open(module.DISPLAY_FILE) as handle:
        assert handle.read() == 'READY\n'


def test_renewing_moves_the_lease_and_is_no_change_entering_again_too(posd):
    module, daemon, clock = posd
    daemon.cmd_maintenance_enter({'message': 'm', 'drain_timeout': 0, 'lease': 60, 'holder': 'run-1'})
    clock.now += 50
    renewed = daemon.cmd_maintenance_renew({'lease': 60})
    assert (renewed['changed'], renewed['expires'], renewed['holder']) == (False, 1_800_000_110.0, 'run-1')
    clock.now += 50
    again = daemon.cmd_maintenance_enter({'message': 'm', 'drain_timeout': 0, 'lease': 30, 'holder': 'run-1'})
    assert (again['changed'], again['expires']) == (False, 1_800_000_130.0)


def test_renewing_after_the_lease_ran_out_is_refused(posd):
    module, daemon, clock = posd
    daemon.cmd_maintenance_enter({'message': 'm', 'drain_timeout': 0, 'lease': 10})
    clock.now += 10
    daemon.release_lapsed()
    with pytest.raises(module.RequestError, match='not in maintenance mode'):
        daemon.cmd_maintenance_renew({'lease': 60})


@pytest.mark.parametrize('request_args, error', [
    ({'lease': 9}, 'lease must be a number of seconds between 10 and 86400'),
    ({'lease': 86401}, 'lease must be a number of seconds between 10 and 86400'),
    ({'lease': True}, 'lease must be a number'),
    ({'drain_timeout': -1}, 'drain_timeout must be a number of seconds between 0 and 3600'),
    ({'holder': 'run\n1'}, 'holder must be a printable string'),
    ({'holder': 'x' * 201}, 'holder must be a printable string'),
])
def test_bad_requests_change_nothing(posd, request_args, error):
    module, daemon, dummy = posd
    with pytest.raises(module.RequestError, match=error):
        daemon.cmd_maintenance_enter(dict({'message': 'm', 'drain_timeout': 0}, **request_args))
    assert not daemon.maintenance['enabled']
    assert not os.path.exists(module.MAINTENANCE_FILE)


@pytest.mark.parametrize('file, enabled, expires', [
    ({'enabled': True, 'since': 1, 'message': 'm', 'expires': 1_800_000_100.0, 'holder': 'r'}, True, 1_800_000_100.0),
    ({'enabled': True, 'since': 1, 'message': 'm', 'expires': 1_799_999_999.0, 'holder': 'r'}, False, None),
    # Written by a firmware without leases, or by hand: it gets the default lease and still ends by itself.
    ({'enabled': True, 'since': 1, 'message': 'm'}, True, 1_800_000_900.0),
    ({'enabled': True, 'since': 1, 'message': 'm', 'expires': 'soon'}, True, 1_800_000_900.0),
])
def test_a_restart_keeps_a_running_lease_and_ends_a_lapsed_one(posd, file, enabled, expires):
    module, daemon, dummy = posd
    with open(module.MAINTENANCE_FILE, 'w') as handle:
        json.dump(file, handle)
    daemon.load_maintenance()
    assert (daemon.maintenance['enabled'], daemon.maintenance['expires']) == (enabled, expires)
