# Copyright (c) posfleet developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""pci_audit: its options come from one table (``_pci.get_pci_audit_argument_spec()``) and its documentation says
the same; a terminal it cannot identify fails before anything is read."""

from __future__ import annotations

import json

import pytest
import yaml
from ansible.module_utils.testing import patch_module_args

from ansible_collections.posfleet.terminals.plugins.module_utils import _pci
from ansible_collections.posfleet.terminals.plugins.module_utils._platform import load_platform
from ansible_collections.posfleet.terminals.plugins.modules import pci_audit

SPEC = _pci.get_pci_audit_argument_spec()
DOCS = yaml.safe_load(pci_audit.DOCUMENTATION)['options']


def test_documentation_lists_exactly_the_spec_options():
    assert sorted(DOCS) == sorted(SPEC)


@pytest.mark.parametrize('name', sorted(SPEC))
def test_documentation_agrees_with_the_spec(name):
    spec, doc = SPEC[name], DOCS[name]
    assert doc.get('type', 'str') == spec.get('type', 'str')
    assert doc.get('elements') == spec.get('elements')
    assert doc.get('default') == spec.get('default'), f'{name}: DOCUMENTATION default differs from the spec'
    assert doc.get('choices') == spec.get('choices')
    assert sorted(doc.get('suboptions') or {}) == sorted(spec.get('options') or {})


def test_defaults_of_the_spec_come_from_the_defaults_table():
    for name, spec in SPEC.items():
        if 'default' in spec and name in _pci.DEFAULTS:
            assert spec['default'] == _pci.DEFAULTS[name], name


def run(monkeypatch, capsys, root, args=None):
    monkeypatch.setattr(pci_audit, 'load_platform', lambda: load_platform(root=str(root)))
    # low_priority off: the module runs inside the pytest process, which would then stay at idle priority.
    with patch_module_args(dict({'low_priority': False}, **(args or {}))), pytest.raises(SystemExit):
        pci_audit.main()
    return json.loads(capsys.readouterr().out)


def test_missing_identity_fails_before_reading(tmp_path, monkeypatch, capsys):
    result = run(monkeypatch, capsys, tmp_path, {'fim_update': True})
    assert result['failed'] is True
    assert result['step'] == 'identity'
    assert '/etc/posfleet/terminal.json does not exist' in result['msg']
    assert 'Fix: check that the inventory host is a terminal' in result['msg']
    assert list(tmp_path.iterdir()) == []  # nothing written (no FIM baseline)


def test_unregistered_platform_fails_naming_it(tmp_path, monkeypatch, capsys):
    (tmp_path / 'etc' / 'posfleet').mkdir(parents=True)
    (tmp_path / 'etc' / 'posfleet' / 'terminal.json').write_text('{"platform": "acme-x9", "terminal_id": "X1"}')
    result = run(monkeypatch, capsys, tmp_path, {'fim_update': True})
    assert result['failed'] is True
    assert result['msg'].startswith("terminal X1: identity: platform 'acme-x9' is not supported")
    assert sorted(p.name for p in tmp_path.rglob('*')) == ['etc', 'posfleet', 'terminal.json']


def test_controls_are_the_registered_ids():
    assert SPEC['controls']['choices'] == _pci.control_ids()
    assert 'ssh_permit_root_login' in SPEC['controls']['choices'] and len(set(_pci.control_ids())) == len(_pci.CONTROLS)


def test_a_mistyped_control_id_is_rejected_before_reading(terminal_root, monkeypatch, capsys):
    result = run(monkeypatch, capsys, terminal_root, {'controls': ['ssh_permit_rot_login'], 'fim_update': True})
    assert result['failed'] is True
    assert 'value of controls must be one or more of' in result['msg'] and 'ssh_permit_rot_login' in result['msg']
    assert 'summary' not in result


def test_audit_rejects_unknown_control_ids_when_called_without_the_spec(terminal_root):
    with pytest.raises(_pci.TerminalError) as caught:
        _pci.audit({'controls': ['ssh_permit_rot_login']}, root=str(terminal_root))
    assert str(caught.value).startswith('terminal SH01-T100-01: options: unknown control ID(s) ssh_permit_rot_login')


@pytest.mark.parametrize('statuses', [[], ['not_applicable'], ['not_applicable', 'not_applicable']])
def test_nothing_judged_is_never_compliant(statuses):
    summary = _pci.summarize([{'status': s} for s in statuses])
    assert summary['compliant'] is False and summary['score'] == 0.0 and summary['total'] == len(statuses)


@pytest.mark.parametrize('statuses, compliant, score', [
    (['pass'], True, 100.0), (['pass', 'not_applicable'], True, 100.0), (['pass', 'waived'], True, 50.0),
    (['pass', 'fail'], False, 50.0), (['pass', 'error'], False, 50.0),
])
def test_judged_controls_decide(statuses, compliant, score):
    summary = _pci.summarize([{'status': s} for s in statuses])
    assert (summary['compliant'], summary['score']) == (compliant, score)
