# Copyright (c) posfleet developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Bad input at the seam, through each module that loads a platform: a platform that is not registered, an
identity file that is missing or malformed. Each fails with ``terminal X: identity: ... Fix: ...`` and changes
nothing on the terminal."""

from __future__ import annotations

import json
import os

import pytest
from ansible.module_utils.testing import patch_module_args

from ansible_collections.posfleet.terminals.plugins.module_utils._platform import load_platform
from ansible_collections.posfleet.terminals.plugins.modules import facts, maintenance_mode, pci_audit, selftest

MODULES = {
    'facts': (facts, {}),
    'selftest': (selftest, {}),
    'maintenance_mode': (maintenance_mode, {'state': 'enabled'}),
    'pci_audit': (pci_audit, {'fim_update': True}),
}
IDENTITY = 'etc/posfleet/terminal.json'

# identity file content (None: no file) -> what the message says, and whose name it carries.
BAD = {
    'missing': (None, '/etc/posfleet/terminal.json does not exist', None),
    'malformed': ('{"terminal_id": "X1", ', 'is not valid JSON', None),
    'not-an-object': ('["X1"]', 'holds a JSON list, expected an object', None),
    'no-platform': ('{"terminal_id": "X1"}', 'has no "platform" key (supported: posfleet-reference)', 'X1'),
    'unregistered': ('{"terminal_id": "X1", "platform": "acme-x9"}',
                     "platform 'acme-x9' is not supported by posfleet.terminals (supported: posfleet-reference)",
                     'X1'),
}


def tree(root):
    """Every file under ``root`` with its content: to show that nothing changed."""
    state = {}
    for directory, _subdirs, files in os.walk(str(root)):
        for name in files:
            path = os.path.join(directory, name)
            with open(path, 'rb') as handle:
                state[os.path.relpath(path, str(root))] = handle.read()
    return state


@pytest.mark.parametrize('kind', sorted(BAD))
@pytest.mark.parametrize('module_name', sorted(MODULES))
def test_bad_identity_fails_clearly_and_changes_nothing(terminal_root, monkeypatch, capsys, module_name, kind):
    module, args = MODULES[module_name]
    content, message, terminal = BAD[kind]
    identity = os.path.join(str(terminal_root), IDENTITY)
    if content is None:
        os.unlink(identity)
    else:
        with open(identity, 'w', encoding='utf-8') as handle:
            handle.write(content)
    before = tree(terminal_root)
    monkeypatch.setattr(module, 'load_platform', lambda: load_platform(root=str(terminal_root)))
    with patch_module_args(args), pytest.raises(SystemExit):
        module.main()
    result = json.loads(capsys.readouterr().out)
    assert result['failed'] is True
    assert result['step'] == 'identity'
    assert result['msg'].startswith(f"terminal {terminal or result['terminal_id']}: identity: ")
    assert message in result['msg']
    assert '. Fix: ' in result['msg']
    assert tree(terminal_root) == before
