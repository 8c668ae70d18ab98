# Copyright (c) posfleet developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The software module's input rules, and its refusals and check mode on a terminal tree with the real dpkg
(``dpkg --root``) and a fake posd. Installs, the health gate and rollbacks run against real terminals in the
Molecule scenario ``software``, the platform's package methods in test_platform_packages.py."""

from __future__ import annotations

import os
import shutil
import subprocess

import pytest
from terminal_tree import write_json

from ansible_collections.posfleet.terminals.plugins.module_utils._platform import TerminalError, load_platform
from ansible_collections.posfleet.terminals.plugins.module_utils._software import (
    get_software_argument_spec,
    problem_of_packages,
    run,
)

PKG = 'posfleet-emv-kernel'


@pytest.mark.parametrize('packages, repository, words', [
    ([], None, 'packages is empty'),
    ([{'name': PKG, 'version': '7.1.1', 'deb': 'a.deb'}, {'name': PKG, 'version': '7.1.2', 'deb': 'b.deb'}], None,
     'listed twice'),
    ([{'name': PKG, 'version': 'v7', 'deb': 'a.deb'}], None, 'does not start with a digit'),
    ([{'name': PKG, 'version': '7.1.1', 'deb': 'a.deb'}], 'deb http://repo/ ./', 'has a deb although a repository'),
])
def test_bad_packages_are_refused_with_a_fix(packages, repository, words):
    message, fix = problem_of_packages(packages, repository)
    assert words in message and fix


@pytest.mark.parametrize('packages, repository', [
    ([{'name': PKG, 'version': '1:7.1.1-2', 'deb': 'a.deb'}], None),
    ([{'name': PKG, 'version': '7.1.2', 'deb': None}], 'deb http://repo/ ./'),
    ([{'name': PKG, 'version': '7.1.1', 'deb': None}], None),  # from the terminal's package cache
])
def test_good_packages_pass(packages, repository):
    assert problem_of_packages(packages, repository) is None


def test_the_action_plugins_options_are_not_the_users():
    spec = get_software_argument_spec()
    assert {name for name in spec if name.startswith('_')} == {'_debs', '_plan'}
    assert spec['packages']['options']['version']['required'] is True


# ------------------------------------------------------------------------- run() on a tree with the real dpkg

needs_dpkg = pytest.mark.skipif(not (shutil.which('dpkg') and shutil.which('dpkg-deb')), reason='needs dpkg')


def status(maintenance, unsettled):
    return {'ok': True, 'version': '2.3.1', 'slot': 'a', 'pid': 7, 'started': 1, 'in_flight': 0,
            'maintenance': {'enabled': maintenance, 'since': 5 if maintenance else None, 'message': None},
            'hardware': {}, 'journal': {'transactions_today': 3, 'unsettled_count': unsettled, 'unsettled_batches': 1,
                                        'open_batch': {'batch_id': 'B1', 'currency': 'CNY'}}}


@pytest.fixture
def dpkg_root(terminal_root, tmp_path):
    admin = os.path.join(str(terminal_root), 'var/lib/dpkg')
    for sub in ('info', 'updates'):
        os.makedirs(os.path.join(admin, sub), exist_ok=True)
    for name in ('status', 'available'):
        open(os.path.join(admin, name), 'a').close()
    tree = tmp_path / 'pkg'
    write_json(str(tree), '/opt/posapps/emv-kernel/manifest.json', {'name': 'emv-kernel', 'version': '7.1.1'})
    write_json(str(tree), '/DEBIAN/control', f'Package: {PKG}\nVersion: 7.1.1\nArchitecture: all\n'
               'Maintainer: posfleet <dev@posfleet.invalid>\nDescription: test\n')
    deb = str(tmp_path / 'p.deb')
    subprocess.run(['dpkg-deb', '--root-owner-group', '--build', str(tree), deb], check=True, stdout=subprocess.DEVNULL)
    return terminal_root, deb


def params(deb, **extra):
    values = {name: option.get('default') for name, option in get_software_argument_spec().items()}
    values.update({'packages': [{'name': PKG, 'version': '7.1.1', 'deb': deb}], **extra})
    return values


@needs_dpkg
@pytest.mark.parametrize('maintenance, unsettled, words', [
    (False, 0, 'not in maintenance mode'),
    (True, 3, 'the open batch is not settled: 3 unsettled transaction(s)'),
    (True, None, 'the open batch cannot be read'),
])
def test_refusals_change_nothing(dpkg_root, fake_posd, maintenance, unsettled, words):
    root, deb = dpkg_root
    server = fake_posd(status(maintenance, unsettled))
    platform = load_platform(root=str(root), socket_path=server.path)
    with pytest.raises(TerminalError) as info:
        run(platform, params(deb, _debs={PKG: {'sha256': 'x', 'path': deb}}))
    assert words in info.value.message and info.value.step == 'software' and 'Fix:' in str(info.value)
    assert platform.packages([PKG])[PKG]['status'] == 'not-installed'


@needs_dpkg
def test_check_mode_and_the_override_reason(dpkg_root, fake_posd):
    root, deb = dpkg_root
    server = fake_posd(status(True, 3))
    platform = load_platform(root=str(root), socket_path=server.path)
    result, failure = run(platform, params(deb, settlement_override_reason='CHG-1'), check_mode=True)
    assert failure is None and result['changed'] is True
    assert result['settlement_override_reason'] == 'CHG-1'
    assert result['diff'] == {'before': {PKG: None}, 'after': {PKG: '7.1.1'}}
    assert result['bytes_transferred'] == 0 and platform.packages([PKG])[PKG]['status'] == 'not-installed'


@needs_dpkg
def test_an_override_reason_a_settled_batch_did_not_need_is_not_recorded(dpkg_root, fake_posd):
    root, deb = dpkg_root
    platform = load_platform(root=str(root), socket_path=fake_posd(status(True, 0)).path)
    result, failure = run(platform, params(deb, settlement_override_reason='CHG-1'), check_mode=True)
    assert failure is None and result['changed'] is True and result['settlement_override_reason'] is None


def build_deb(tmp_path, version):
    tree = tmp_path / f'pkg-{version}'
    write_json(str(tree), '/opt/posapps/emv-kernel/manifest.json', {'name': 'emv-kernel', 'version': version})
    write_json(str(tree), '/DEBIAN/control', f'Package: {PKG}\nVersion: {version}\nArchitecture: all\n'
               'Maintainer: posfleet <dev@posfleet.invalid>\nDescription: test\n')
    deb = str(tmp_path / f'p-{version}.deb')
    subprocess.run(['dpkg-deb', '--root-owner-group', '--build', str(tree), deb], check=True, stdout=subprocess.DEVNULL)
    return deb


@needs_dpkg
def test_a_package_without_a_deb_comes_from_the_terminal_cache_or_is_refused(dpkg_root, fake_posd, tmp_path):
    root, deb = dpkg_root
    platform = load_platform(root=str(root), socket_path=fake_posd(status(True, 0)).path)
    newer = build_deb(tmp_path, '7.1.2')
    for path, version in ((deb, '7.1.1'), (newer, '7.1.2')):
        answer = platform.install_packages([path])  # as the pushed updates do: the cache keeps each .deb
        assert answer['installed'] == {PKG: version}
    from_cache = [{'name': PKG, 'version': '7.1.1', 'deb': None}]
    result, failure = run(platform, params(deb, packages=from_cache, allow_downgrade=True, health_gate=False))
    assert failure is None and result['changed'] and result['versions'] == {PKG: '7.1.1'}
    assert result['previous_versions'] == {PKG: '7.1.2'} and platform.packages([PKG])[PKG]['version'] == '7.1.1'
    with pytest.raises(TerminalError) as info:
        run(platform, params(deb, packages=[{'name': PKG, 'version': '7.0.9', 'deb': None}], allow_downgrade=True,
                             health_gate=False), check_mode=True)
    assert 'has no deb and the package cache holds no .deb of it' in info.value.message and info.value.fix
    assert platform.packages([PKG])[PKG]['version'] == '7.1.1'


@needs_dpkg
def test_a_file_that_arrived_damaged_is_refused(dpkg_root, fake_posd):
    root, deb = dpkg_root
    server = fake_posd(status(True, 0))
    platform = load_platform(root=str(root), socket_path=server.path)
    with pytest.raises(TerminalError) as info:
        run(platform, params(deb, _debs={PKG: {'sha256': '0' * 64, 'path': deb}}))
    assert 'that arrived has sha256' in info.value.message
    assert platform.packages([PKG])[PKG]['status'] == 'not-installed'


def test_short_free_space_is_refused(terminal_root):
    from ansible_collections.posfleet.terminals.plugins.module_utils._software import Update

    platform = load_platform(root=str(terminal_root))
    update = Update(platform, params('/nonexistent.deb'))
    assert update.space_refusal(0) is None
    refusal = update.space_refusal(platform.package_cache()['free_bytes'])  # the packages alone fill the disk
    assert 'MiB are free, the update needs' in refusal.message and refusal.fix
