# Copyright (c) posfleet developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Each module's DOCUMENTATION states the options of the argument spec its main() really builds: the same names,
types, defaults, choices, elements and required flags. Ansible reads DOCUMENTATION as a literal (ansible-doc does
not run the module), so the documented defaults are a second copy: this keeps them from drifting."""

from __future__ import annotations

import importlib
import json
import os
import subprocess
import sys

import pytest
import yaml

from ansible_collections.posfleet.terminals.plugins.module_utils._maintenance import (
    get_maintenance_mode_argument_spec,
)
from ansible_collections.posfleet.terminals.plugins.module_utils._selftest import get_selftest_argument_spec

PACKAGE = 'ansible_collections.posfleet.terminals.plugins'
MODULE_DIR = os.path.join(os.path.dirname(__file__), '..', '..', '..', '..', 'plugins', 'modules')
MODULES = sorted(name[:-3] for name in os.listdir(MODULE_DIR) if name.endswith('.py') and name != '__init__.py')


class SpecBuilt(Exception):
    pass


def built_spec(module, monkeypatch):
    """The argument spec ``module.main()`` hands to AnsibleModule (stopped right there); for a module that only
    documents an action plugin, the spec the action plugin validates against."""
    if not hasattr(module, 'main'):
        # In a child process: importing controller code (ansible.plugins) here would route the module tests'
        # warnings to the controller's display for the rest of this process.
        name = module.__name__.rpartition('.')[2]
        code = (f'import json, sys; sys.path[:0] = {sys.path!r}; '
                f'from {PACKAGE}.action.{name} import ARGUMENT_SPEC; print(json.dumps(ARGUMENT_SPEC))')
        return json.loads(subprocess.run([sys.executable, '-c', code], capture_output=True, text=True,
                                         check=True).stdout)
    seen = {}

    def capture(argument_spec, **kwargs):
        seen.update(argument_spec)
        raise SpecBuilt

    monkeypatch.setattr(module, 'AnsibleModule', capture)
    with pytest.raises(SpecBuilt):
        module.main()
    return seen


def documented_options(module):
    doc = yaml.safe_load(module.DOCUMENTATION)
    options = {}
    for fragment in doc.get('extends_documentation_fragment') or []:
        name, _dot, variant = fragment.removeprefix('posfleet.terminals.').partition('.')
        holder = importlib.import_module(f'{PACKAGE}.doc_fragments.{name}').ModuleDocFragment
        options.update(yaml.safe_load(getattr(holder, variant.upper() or 'DOCUMENTATION')).get('options') or {})
    options.update(doc.get('options') or {})
    return options


def as_documented(option):
    """What of a spec entry DOCUMENTATION states, with Ansible's defaults spelled out."""
    return {
        'type': option.get('type', 'str'),
        'default': option.get('default'),
        'choices': option.get('choices'),
        'elements': option.get('elements'),
        'required': bool(option.get('required', False)),
    }


@pytest.mark.parametrize('name', MODULES)
def test_documentation_states_the_spec(name, monkeypatch):
    module = importlib.import_module(f'{PACKAGE}.modules.{name}')
    # Options with a leading underscore are the module's action plugin's own (software: the files it sent; firmware:
    # the stage it runs), not the user's: whether they are documented is the module's choice.
    spec = {key: value for key, value in built_spec(module, monkeypatch).items() if not key.startswith('_')}
    documented = {key: value for key, value in documented_options(module).items() if not key.startswith('_')}
    assert sorted(documented) == sorted(spec)
    for option, entry in spec.items():
        assert as_documented(documented[option]) == as_documented(entry), f'{name}: option {option}'


@pytest.mark.parametrize('name, spec_function', [
    ('selftest', get_selftest_argument_spec),
    ('maintenance_mode', get_maintenance_mode_argument_spec),
])
def test_module_uses_the_shared_spec(name, spec_function, monkeypatch):
    module = importlib.import_module(f'{PACKAGE}.modules.{name}')
    assert built_spec(module, monkeypatch) == spec_function()


def test_selftest_thresholds_come_from_health():
    from ansible_collections.posfleet.terminals.plugins.module_utils._health import DEFAULT_THRESHOLDS
    spec = get_selftest_argument_spec()
    assert {name: spec[name]['default'] for name in DEFAULT_THRESHOLDS} == DEFAULT_THRESHOLDS
    assert spec['temperature_warn_c']['type'] == 'float'
    assert spec['paper_warn_pct']['type'] == 'int'
