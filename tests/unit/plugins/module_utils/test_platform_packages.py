# Copyright (c) posfleet developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The reference platform's package methods on a temporary tree, with the real dpkg (``dpkg --root``): what an
install keeps for its rollback, and what a rollback puts back. apt against a real repository runs in the Molecule
scenario ``software``."""

from __future__ import annotations

import os
import shutil
import subprocess

import pytest
from terminal_tree import write_json

from ansible_collections.posfleet.terminals.plugins.module_utils._platform import TerminalError

pytestmark = pytest.mark.skipif(not (shutil.which('dpkg') and shutil.which('dpkg-deb')),
                                reason='needs dpkg and dpkg-deb')

PACKAGE = 'posfleet-emv-kernel'
MANIFEST = '/opt/posapps/emv-kernel/manifest.json'


def build_deb(tmp_path, version):
    tree = tmp_path / f'tree-{version}'
    write_json(str(tree), MANIFEST, {'name': 'emv-kernel', 'version': version})
    write_json(str(tree), '/DEBIAN/control', f'Package: {PACKAGE}\nVersion: {version}\nArchitecture: all\n'
               'Maintainer: posfleet <dev@posfleet.invalid>\nDescription: test\n')
    deb = str(tmp_path / f'{PACKAGE}_{version}_all.deb')
    subprocess.run(['dpkg-deb', '--root-owner-group', '--build', str(tree), deb], check=True,
                   stdout=subprocess.DEVNULL)
    return deb


@pytest.fixture
def dpkg_terminal(terminal):
    admin = terminal.path('/var/lib/dpkg')
    for sub in ('info', 'updates'):
        os.makedirs(os.path.join(admin, sub), exist_ok=True)
    for name in ('status', 'available'):
        open(os.path.join(admin, name), 'a').close()
    # The application as the image installs it: a manifest no package owns.
    write_json(terminal.root, MANIFEST, {'name': 'emv-kernel', 'version': '7.1.0'})
    return terminal


def app_version(platform):
    return {app['name']: app['version'] for app in platform.applications()}['emv-kernel']


def test_install_keeps_what_it_replaces_and_rollback_restores_it(dpkg_terminal, tmp_path):
    platform = dpkg_terminal
    assert platform.packages([PACKAGE]) == {PACKAGE: {'version': None, 'status': 'not-installed'}}
    first = platform.install_packages([build_deb(tmp_path, '7.1.1')])
    assert first == {'changed': True, 'installed': {PACKAGE: '7.1.1'}, 'previous': {PACKAGE: None}, 'kept': []}
    assert app_version(platform) == '7.1.1'
    assert platform.install_packages([build_deb(tmp_path, '7.1.1')])['changed'] is False
    second = platform.install_packages([build_deb(tmp_path, '7.2.0')])
    assert second['previous'] == {PACKAGE: '7.1.1'} and len(second['kept']) == 1
    assert sorted(d['version'] for d in platform.package_cache()['debs']) == ['7.1.1', '7.2.0']
    assert platform.rollback_packages({PACKAGE: '7.1.1'}) == {'changed': True, 'installed': {PACKAGE: '7.1.1'}}
    assert app_version(platform) == '7.1.1'
    assert platform.rollback_packages({PACKAGE: None}) == {'changed': True, 'installed': {PACKAGE: None}}
    assert app_version(platform) == '7.1.0'  # the unowned manifest of before the first package is back


def test_downgrade_and_missing_rollback_are_refused_before_any_change(dpkg_terminal, tmp_path):
    platform = dpkg_terminal
    platform.install_packages([build_deb(tmp_path, '7.2.0')])
    old = build_deb(tmp_path, '7.1.1')
    with pytest.raises(TerminalError) as info:
        platform.install_packages([old])
    assert 'older than the installed 7.2.0' in str(info.value)
    assert platform.packages([PACKAGE])[PACKAGE]['version'] == '7.2.0'
    assert platform.install_packages([old], allow_downgrade=True)['installed'] == {PACKAGE: '7.1.1'}
    assert platform.package_cache()['debs']


def test_a_package_installed_by_other_means_is_rebuilt_for_its_rollback(dpkg_terminal, tmp_path):
    platform = dpkg_terminal
    subprocess.run(['dpkg', f'--root={platform.root}', '--force-not-root', '--install', build_deb(tmp_path, '7.0.9')],
                   check=True, stdout=subprocess.DEVNULL)
    assert platform.package_cache()['debs'] == []
    result = platform.install_packages([build_deb(tmp_path, '7.1.1')])
    assert result['previous'] == {PACKAGE: '7.0.9'} and len(result['kept']) == 1
    assert app_version(platform) == '7.1.1'
    assert platform.rollback_packages({PACKAGE: '7.0.9'})['installed'] == {PACKAGE: '7.0.9'}
    assert app_version(platform) == '7.0.9'  # its files came back from the rebuilt .deb
    assert platform.packages([PACKAGE])[PACKAGE] == {'version': '7.0.9', 'status': 'installed'}


def test_the_cache_keeps_three_versions_of_a_package(dpkg_terminal, tmp_path):
    platform = dpkg_terminal
    for version in ('1.0', '2.0', '3.0', '4.0', '5.0'):
        platform.install_packages([build_deb(tmp_path, version)])
    assert sorted(d['version'] for d in platform.package_cache()['debs']) == ['3.0', '4.0', '5.0']


def test_a_version_rolled_away_from_is_the_first_the_cache_lets_go(dpkg_terminal, tmp_path):
    platform = dpkg_terminal
    for version in ('1.0', '2.0', '3.0'):
        platform.install_packages([build_deb(tmp_path, version)])
    platform.rollback_packages({PACKAGE: '2.0'})  # 3.0 failed
    platform.install_packages([build_deb(tmp_path, '4.0')])
    assert sorted(d['version'] for d in platform.package_cache()['debs']) == ['1.0', '2.0', '4.0']
