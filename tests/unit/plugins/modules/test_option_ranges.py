# Copyright (c) posfleet developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Numeric options are range-checked in one place (``_ranges``), before a module reads or changes anything: a
negative or huge timeout is an error naming the terminal, the option, the range and the fix, never a socket
error or a failed transaction. Every numeric option of every module declares its range."""

from __future__ import annotations

import importlib
import json

import pytest
from ansible.module_utils.testing import patch_module_args
from test_bad_input import tree
from test_docs_match_specs import MODULES, built_spec

from ansible_collections.posfleet.terminals.plugins.module_utils import (
    _backup,
    _firmware,
    _maintenance,
    _pan,
    _pci,
    _restore,
    _selftest,
    _software,
)
from ansible_collections.posfleet.terminals.plugins.module_utils._platform import load_platform
from ansible_collections.posfleet.terminals.plugins.plugin_utils import _backup_copy, _bundle, _retention

PACKAGE = 'ansible_collections.posfleet.terminals.plugins'

# Module -> the ranges declared beside its argument spec. None: its spec has no numeric option.
MODULE_RANGES = {
    'backup': _backup.BACKUP_RANGES,
    'backup_retention': _retention.OPTION_RANGES,
    'facts': None,
    'firmware': _firmware.FIRMWARE_RANGES,
    'firmware_bundle': _bundle.OPTION_RANGES,
    'ledger': None,
    'merchant_notice': None,
    'run_record': None,
    'selftest': _selftest.SELFTEST_RANGES,
    'pci_audit': _pci.PCI_AUDIT_RANGES,
    'pan_scan': _pan.PAN_SCAN_RANGES,
    'restore': _restore.RESTORE_RANGES,
    'restore_drill': _backup_copy.DRILL_RANGES,
    'maintenance_mode': _maintenance.MAINTENANCE_MODE_RANGES,
    'software': _software.SOFTWARE_RANGES,
}
# Numeric options whose module is another work package's (issue 8: maintenance_mode's lease, pan_scan's budgets);
# they declare their ranges with the same helper. Remove an entry once its module does.
PENDING = {
}
NUMERIC = ('int', 'float')


def numeric_options(spec):
    return {name for name, entry in spec.items()
            if entry.get('type') in NUMERIC or (entry.get('type') == 'list' and entry.get('elements') in NUMERIC)}


@pytest.mark.parametrize('name', MODULES)
def test_every_numeric_option_of_every_module_has_a_range(name, monkeypatch):
    module = importlib.import_module(f'{PACKAGE}.modules.{name}')
    numeric = numeric_options(built_spec(module, monkeypatch)) - PENDING.get(name, set())
    ranges = MODULE_RANGES.get(name) or {}
    assert sorted(numeric - set(ranges)) == [], f'{name}: numeric options without a declared range'
    assert sorted(set(ranges) - numeric) == [], f'{name}: ranges of options that are not numeric'


def run_module(module, args, root, monkeypatch, capsys):
    monkeypatch.setattr(module, 'load_platform', lambda: load_platform(root=str(root)))
    with patch_module_args(args), pytest.raises(SystemExit):
        module.main()
    return json.loads(capsys.readouterr().out)


@pytest.mark.parametrize('args, option', [
    ({'network_timeout': -1}, 'network_timeout=-1'),
    ({'network_timeout': 10 ** 13}, 'network_timeout=10000000000000'),
    ({'transaction_timeout': -5}, 'transaction_timeout=-5'),
    ({'transaction_timeout': 0}, 'transaction_timeout=0'),
    ({'temperature_fail_c': 'nan'}, 'temperature_fail_c=nan'),
])
def test_selftest_rejects_a_bad_number_before_asking_the_terminal(terminal_root, monkeypatch, capsys, args, option):
    from ansible_collections.posfleet.terminals.plugins.modules import selftest

    before = tree(terminal_root)
    # No posd runs under terminal_root: a module that went on would report a daemon failure, not this.
    result = run_module(selftest, dict(args, print_receipt=False), terminal_root, monkeypatch, capsys)
    assert result['failed'] is True and result['step'] == 'options'
    assert result['msg'].startswith(f'terminal SH01-T100-01: options: option {option} is out of range (allowed ')
    assert '. Fix: set ' in result['msg'] and 'checks' not in result
    assert tree(terminal_root) == before


@pytest.mark.parametrize('args, option', [
    ({'idle_timeout': -1}, 'idle_timeout=-1'),
    ({'lockout_seconds': 10 ** 12}, 'lockout_seconds=1000000000000'),
    ({'allowed_ports': [22, 0]}, 'allowed_ports=0'),
])
def test_pci_audit_rejects_a_bad_number_before_reading(terminal_root, monkeypatch, capsys, args, option):
    from ansible_collections.posfleet.terminals.plugins.modules import pci_audit

    before = tree(terminal_root)
    result = run_module(pci_audit, dict(args, low_priority=False, fim_update=True), terminal_root, monkeypatch, capsys)
    assert result['failed'] is True and result['step'] == 'options'
    assert result['msg'].startswith(f'terminal SH01-T100-01: options: option {option} is out of range')
    assert tree(terminal_root) == before  # no FIM baseline written


@pytest.mark.parametrize('args, option', [
    ({'min_battery_pct': 101}, 'min_battery_pct=101'),
    ({'transaction_timeout': 0}, 'transaction_timeout=0'),
])
def test_software_rejects_a_bad_number_before_reading(terminal_root, monkeypatch, capsys, args, option):
    from ansible_collections.posfleet.terminals.plugins.modules import software

    before = tree(terminal_root)
    packages = [{'name': 'posfleet-emv-kernel', 'version': '7.1.1', 'deb': '/nonexistent.deb'}]
    result = run_module(software, dict(args, packages=packages), terminal_root, monkeypatch, capsys)
    assert result['failed'] is True and result['step'] == 'options'
    assert result['msg'].startswith(f'terminal SH01-T100-01: options: option {option} is out of range')
    assert tree(terminal_root) == before
