# Copyright (c) posfleet developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""No module returns a key that Ansible reads as something else. pan_scan once returned ``skipped`` (a list of
paths): a scan that found two card numbers showed as SKIPPED and was counted as skipped in the recap.

The reserved names are those ansible-core's result processing treats specially (2.19): TaskResult
(executor/task_result.py) decides changed/failed/skipped/unreachable from ``changed``, ``failed``,
``failed_when_result``, ``skipped``, ``unreachable`` and reads a list named ``results`` as loop results;
``_PRESERVE`` keeps ``attempts``, ``retries``, ``exception``, ``warnings``, ``deprecations`` through no_log;
TaskExecutor (executor/task_executor.py) marks a result without ``failed`` as failed when ``rc`` is not 0,
injects ``ansible_facts``, polls async jobs by ``ansible_job_id``/``finished``/``started``, and loops set ``item``,
``ansible_loop_var``, ``ansible_index_var``; vars/clean.py strips ``_ansible_*``; AnsibleModule writes
``invocation``; callbacks render ``diff``, ``msg`` and ``censored``; ``module_stdout``/``module_stderr`` report
an unparsable module; ``ansible_stats`` is set_stats'. ``ansible_facts``, ``diff`` and ``msg`` may be returned with
their Ansible meaning (facts to set; a before/after diff; the message)."""

from __future__ import annotations

import ast
import os

import pytest
import yaml

MODULE_DIR = os.path.join(os.path.dirname(__file__), '..', '..', '..', '..', 'plugins', 'modules')
MODULES = sorted(name for name in os.listdir(MODULE_DIR) if name.endswith('.py') and name != '__init__.py')

RESERVED = frozenset((
    'changed', 'failed', 'failed_when_result', 'skipped', 'unreachable', 'results', 'rc', 'attempts', 'retries',
    'exception', 'warnings', 'deprecations', 'invocation', 'ansible_job_id', 'finished', 'started', 'item',
    'ansible_loop_var', 'ansible_index_var', 'censored', 'module_stdout', 'module_stderr', 'ansible_stats',
))
# Reserved names a module may return with exactly Ansible's meaning, and the type that meaning has.
WITH_ANSIBLE_MEANING = {'ansible_facts': 'dict', 'diff': 'dict', 'msg': 'str'}


def return_keys(filename):
    """The top-level keys of a module's RETURN block, with their documented type."""
    with open(os.path.join(MODULE_DIR, filename), encoding='utf-8') as handle:
        tree = ast.parse(handle.read())
    for node in tree.body:
        if isinstance(node, ast.Assign) and getattr(node.targets[0], 'id', None) == 'RETURN':
            return {key: (entry or {}).get('type') for key, entry in (yaml.safe_load(node.value.value) or {}).items()}
    return {}


def test_every_module_is_checked():
    assert 'pan_scan.py' in MODULES and len(MODULES) >= 8
    assert 'skipped_paths' in return_keys('pan_scan.py')


@pytest.mark.parametrize('filename', MODULES)
def test_no_module_returns_a_name_ansible_reserves(filename):
    keys = return_keys(filename)
    clashes = sorted(k for k in keys if k in RESERVED or k.startswith('_ansible_') or k.startswith('ansible_')
                     and k not in WITH_ANSIBLE_MEANING)
    assert clashes == [], f'{filename}: RETURN keys that Ansible reserves: {clashes}'
    for key, wanted in WITH_ANSIBLE_MEANING.items():
        if key in keys:
            assert keys[key] == wanted, f'{filename}: {key} must be a {wanted} (Ansible reads it as one)'


def test_the_check_catches_the_old_pan_scan_key():
    assert 'skipped' in RESERVED and 'ansible_facts' not in RESERVED
