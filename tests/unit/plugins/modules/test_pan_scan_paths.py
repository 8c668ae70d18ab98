# Copyright (c) posfleet developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""pan_scan's default paths: the OS's on any host, plus the platform's own places on a posfleet terminal."""

from __future__ import annotations

import pytest

from ansible_collections.posfleet.terminals.plugins.module_utils import _pci
from ansible_collections.posfleet.terminals.plugins.module_utils._platform import TerminalError, load_platform
from ansible_collections.posfleet.terminals.plugins.modules import pan_scan


def test_given_paths_are_kept():
    assert pan_scan.scan_roots(['/srv/x']) == ['/srv/x']


def test_any_linux_host_gets_the_os_paths(tmp_path, monkeypatch):
    monkeypatch.setattr(pan_scan, 'IDENTITY_FILE', str(tmp_path / 'missing.json'))
    assert pan_scan.scan_roots(None) == _pci.DEFAULTS['pan_paths']


def test_a_terminal_adds_its_platform_places(terminal_root, monkeypatch):
    platform = load_platform(root=str(terminal_root))
    monkeypatch.setattr(pan_scan, 'IDENTITY_FILE', str(terminal_root / 'etc/posfleet/terminal.json'))
    monkeypatch.setattr(pan_scan, 'load_platform', lambda: platform)
    extra = platform.compliance_paths()['card_data_paths']
    assert extra and pan_scan.scan_roots([]) == _pci.DEFAULTS['pan_paths'] + extra


def test_a_broken_identity_fails(terminal_root, monkeypatch):
    (terminal_root / 'etc/posfleet/terminal.json').write_text('{"terminal_id": "X1"')
    monkeypatch.setattr(pan_scan, 'IDENTITY_FILE', str(terminal_root / 'etc/posfleet/terminal.json'))
    monkeypatch.setattr(pan_scan, 'load_platform', lambda: load_platform(root=str(terminal_root)))
    with pytest.raises(TerminalError) as info:
        pan_scan.scan_roots(None)
    assert info.value.step == 'identity' and 'is not valid JSON' in info.value.message
