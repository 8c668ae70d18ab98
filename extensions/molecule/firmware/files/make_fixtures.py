# Copyright (c) posfleet developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Stand-in for tests/fixtures/firmware (make_payloads.py + make_bundles.yml, coming from the bundle work):
the keys and the firmware bundles of the firmware scenario, in DEST. Deterministic payloads, no network.

Usage: python make_fixtures.py REPO DEST
"""

from __future__ import annotations

import json
import os
import random
import shutil
import sys
import tarfile

REPO, DEST = sys.argv[1], sys.argv[2]
for collections in reversed((os.environ.get('ANSIBLE_COLLECTIONS_PATH') or '').split(os.pathsep)
                            + [os.path.join(REPO, '.cache', 'collections')]):
    if collections:
        sys.path.insert(0, collections)
from ansible_collections.posfleet.terminals.plugins.plugin_utils import _bundle  # noqa: E402

FIRMWARE = os.path.join(REPO, 'tests', 'images', 'terminal', 'firmware')
LIBS = 40


def payload(name, changed=(), defects=None):
    directory = os.path.join(DEST, 'payloads', name)
    if os.path.isdir(directory):
        shutil.rmtree(directory)
    os.makedirs(os.path.join(directory, 'bin'))
    os.makedirs(os.path.join(directory, 'lib'))
    for tool in ('posd', 'posctl'):
        shutil.copy(os.path.join(FIRMWARE, tool), os.path.join(directory, 'bin', tool))
        os.chmod(os.path.join(directory, 'bin', tool), 0o755)
    for index in range(LIBS):
        seed = f'lib{index}' + ('-changed' if index in changed else '')
        rng = random.Random(seed)
        size = rng.randint(64 << 10, 1 << 20)
        with open(os.path.join(directory, 'lib', f'part{index:02d}.bin'), 'wb') as handle:
            handle.write(rng.randbytes(size))
    if defects:
        os.makedirs(os.path.join(directory, 'etc'))
        with open(os.path.join(directory, 'etc', 'defects.json'), 'w', encoding='utf-8') as handle:
            json.dump(defects, handle)
    return directory


def main():
    os.makedirs(DEST, exist_ok=True)
    keys = {}
    for who in ('trusted', 'untrusted'):
        private, public = os.path.join(DEST, f'{who}.pem'), os.path.join(DEST, f'{who}.pub')
        if not os.path.exists(private):
            _bundle.generate_keypair(private, public)
        keys[who] = private
    good = payload('good-2.4.0')
    minor = payload('minor-2.4.1', changed=(3, 17))  # 2 of 40 lib files: 5 %
    selftest = payload('selftest-2.4.0', defects={'selftest_fail': 'card_reader'})
    crash = payload('crash-2.4.0', defects={'crash_after_s': 5})
    models = ['t100', 'm200']
    common = {'models': models, 'hardware_revisions': ['A', 'B'], 'min_source_version': '2.2.0'}
    builds = {
        'good-2.4.0': (good, 'trusted', dict(common, version='2.4.0', security_version=3)),
        'minor-2.4.1': (minor, 'trusted', dict(common, version='2.4.1', security_version=3)),
        'selftest-2.4.0': (selftest, 'trusted', dict(common, version='2.4.0', security_version=3)),
        'crash-2.4.0': (crash, 'trusted', dict(common, version='2.4.0', security_version=3)),
        'other-model': (good, 'trusted', dict(common, version='2.4.0', models=['x900'], security_version=3)),
        'untrusted': (good, 'untrusted', dict(common, version='2.4.0', security_version=3)),
        'expired': (good, 'trusted', dict(common, version='2.4.0', security_version=3, valid_days=30,
                                          now='2020-01-01T00:00:00Z')),
        'downgrade-2.2.0': (good, 'trusted', dict(common, version='2.2.0', min_source_version=None,
                                                  security_version=0)),
        'insecure-2.4.5': (good, 'trusted', dict(common, version='2.4.5', security_version=1)),
    }
    for name, (source, key, options) in builds.items():
        _bundle.build(source, os.path.join(DEST, f'{name}.posfw'), keys[key], **options)
    # tampered: one payload byte flipped after signing (same size, so the tar stays well formed)
    tampered = os.path.join(DEST, 'tampered.posfw')
    shutil.copy(os.path.join(DEST, 'good-2.4.0.posfw'), tampered)
    with tarfile.open(tampered) as tar:
        member = tar.getmember('payload/lib/part05.bin')
        offset = member.offset_data + 100
    with open(tampered, 'r+b') as handle:
        handle.seek(offset)
        byte = handle.read(1)
        handle.seek(offset)
        handle.write(bytes([byte[0] ^ 0xFF]))


main()
