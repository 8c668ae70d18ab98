# Copyright (c) posfleet developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The controller's reading of a .deb (``_deb.read_control``) against packages dpkg-deb really builds."""

from __future__ import annotations

import hashlib
import shutil
import subprocess

import pytest

from ansible_collections.posfleet.terminals.plugins.plugin_utils import _deb

needs_dpkg_deb = pytest.mark.skipif(not shutil.which('dpkg-deb'), reason='needs dpkg-deb')


def build(tmp_path, compression, version='1:7.1.1-2'):
    tree = tmp_path / f'tree-{compression}'
    (tree / 'DEBIAN').mkdir(parents=True)
    (tree / 'opt').mkdir()
    (tree / 'opt' / 'file').write_bytes(b'x' * 1001)  # an odd size: ar pads the member
    (tree / 'DEBIAN' / 'control').write_text(f'Package: posfleet-emv-kernel\nVersion: {version}\nArchitecture: all\n'
                                             'Maintainer: t <t@t.invalid>\nDescription: test\n multi-line\n')
    deb = tmp_path / f'p-{compression}.deb'
    subprocess.run(['dpkg-deb', '--root-owner-group', f'-Z{compression}', '--build', str(tree), str(deb)], check=True,
                   stdout=subprocess.DEVNULL)
    return deb


@needs_dpkg_deb
@pytest.mark.parametrize('compression', ['xz', 'gzip', 'none'])
def test_reads_what_dpkg_deb_builds(tmp_path, compression):
    deb = build(tmp_path, compression)
    info = _deb.read_control(str(deb))
    assert info == {'package': 'posfleet-emv-kernel', 'version': '1:7.1.1-2', 'architecture': 'all',
                    'sha256': hashlib.sha256(deb.read_bytes()).hexdigest(), 'size': deb.stat().st_size}


@pytest.mark.parametrize('content, words', [
    (b'plain text\n', 'no ar header'),
    (b'!<arch>\n' + b'debian-binary   0           0     0     100644  4         `\n2.0\n', 'no control archive'),
    (b'!<arch>\nshort', 'damaged'),
])
def test_refuses_what_is_no_package(tmp_path, content, words):
    path = tmp_path / 'bad.deb'
    path.write_bytes(content)
    with pytest.raises(_deb.DebError) as info:
        _deb.read_control(str(path))
    assert words in str(info.value) and '. Fix: ' in str(info.value)


def test_a_missing_file_is_a_clear_error(tmp_path):
    with pytest.raises(_deb.DebError) as info:
        _deb.read_control(str(tmp_path / 'nothing.deb'))
    assert 'cannot read' in info.value.message and info.value.fix
