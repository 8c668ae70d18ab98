# Copyright (c) posfleet developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The software module's input rules (pure logic; the installs themselves run against real terminals in the
Molecule scenario ``software`` and against dpkg in test_platform_packages.py)."""

from __future__ import annotations

import pytest

from ansible_collections.posfleet.terminals.plugins.module_utils._software import (
    get_software_argument_spec,
    problem_of_packages,
)

PKG = 'posfleet-emv-kernel'


@pytest.mark.parametrize('packages, repository, words', [
    ([], None, 'packages is empty'),
    ([{'name': PKG, 'version': '7.1.1', 'deb': 'a.deb'}, {'name': PKG, 'version': '7.1.2', 'deb': 'b.deb'}], None,
     'listed twice'),
    ([{'name': PKG, 'version': 'v7', 'deb': 'a.deb'}], None, 'does not start with a digit'),
    ([{'name': PKG, 'version': '7.1.1', 'deb': None}], None, 'has no deb and no repository'),
    ([{'name': PKG, 'version': '7.1.1', 'deb': 'a.deb'}], 'deb http://repo/ ./', 'has a deb although a repository'),
])
def test_bad_packages_are_refused_with_a_fix(packages, repository, words):
    message, fix = problem_of_packages(packages, repository)
    assert words in message and fix


@pytest.mark.parametrize('packages, repository', [
    ([{'name': PKG, 'version': '1:7.1.1-2', 'deb': 'a.deb'}], None),
    ([{'name': PKG, 'version': '7.1.2', 'deb': None}], 'deb http://repo/ ./'),
])
def test_good_packages_pass(packages, repository):
    assert problem_of_packages(packages, repository) is None


def test_the_action_plugins_options_are_not_the_users():
    spec = get_software_argument_spec()
    assert {name for name in spec if name.startswith('_')} == {'_debs', '_plan'}
    assert spec['packages']['options']['version']['required'] is True
