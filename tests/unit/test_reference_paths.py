# Copyright (c) posfleet developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""No module, module_utils, plugin or role names a reference terminal path outside its two homes: the reference
platform (``plugins/module_utils/_platform/reference.py``) and the roles' ``vars/posfleet-reference.yml``.

The paths are the ``ReferencePlatform`` class attributes' values, and the platform-specific directories that
hold them; a new attribute is covered without editing this test.
"""

from __future__ import annotations

import os
import re

import pytest

from ansible_collections.posfleet.terminals.plugins.module_utils import _os
from ansible_collections.posfleet.terminals.plugins.module_utils._platform import IDENTITY_FILE, ReferencePlatform

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
# reference.py, and slots.py: the reference boot loader's slot rules, which posboot imports on the terminal.
HOMES = {os.path.join('plugins', 'module_utils', '_platform', name) for name in ('reference.py', 'slots.py')}
# Directories shared by every platform or owned by the collection, never by the reference terminal alone.
SHARED_DIRS = {'/', '/etc', '/etc/posfleet', '/var', '/var/lib', '/var/log', '/run', '/opt', '/sbin', '/usr',
               '/usr/sbin', '/var/lib/posfleet'}
# The OS's own files (passwd, shadow, PAM), named once in _os.py: the reference platform uses them, not owns them.
OS_PATHS = {value for name, value in vars(_os).items()
            if name.isupper() and isinstance(value, str) and value.startswith('/')}


def reference_paths():
    values = set()
    for name, value in vars(ReferencePlatform).items():
        if not name.isupper():
            continue
        for item in value if isinstance(value, (tuple, list)) else [value]:
            if isinstance(item, str) and item.startswith('/') and item not in OS_PATHS:
                values.add(item)
    paths = set()
    for value in values:
        paths.add(value)
        parent = os.path.dirname(value)
        while parent not in SHARED_DIRS and parent != '/':
            paths.add(parent)
            parent = os.path.dirname(parent)
    return sorted((paths - SHARED_DIRS) - {IDENTITY_FILE})


PATHS = reference_paths()
PATTERN = re.compile('|'.join(rf'(?<![\w.-]){re.escape(p)}(?![\w-])' for p in PATHS))


def scanned_files():
    for top in ('plugins', 'roles'):
        for directory, dirs, files in os.walk(os.path.join(REPO, top)):
            dirs[:] = [d for d in dirs if d != '__pycache__']
            for name in files:
                full = os.path.join(directory, name)
                rel = os.path.relpath(full, REPO)
                if rel in HOMES:
                    continue
                if rel.startswith('roles' + os.sep) and rel.endswith(os.path.join('vars', 'posfleet-reference.yml')):
                    continue
                yield rel, full


def test_the_reference_paths_are_known():
    # The test would pass vacuously if it found no paths: the issue names these.
    for path in ('/var/lib/posd', '/etc/posfleet/model.json', '/slots', '/opt/posapps', '/run/posd'):
        assert path in PATHS


def test_no_reference_path_outside_the_reference_platform():
    found = []
    for rel, full in scanned_files():
        try:
            with open(full, encoding='utf-8') as handle:
                text = handle.read()
        except UnicodeDecodeError:
            continue
        for number, line in enumerate(text.splitlines(), 1):
            match = PATTERN.search(line)
            if match:
                found.append(f'{rel}:{number}: {match.group(0)}')
    assert found == [], 'reference paths outside the reference platform (ask the Platform, or put them in ' \
                        'roles/<role>/vars/posfleet-reference.yml):\n' + '\n'.join(found)


@pytest.mark.parametrize('line,hit', [
    ('paths: [/var/lib/posd]', True),
    ("'/slots/a/bin'", True),
    ('/var/lib/posdx', False),
    ('/srv/slots', False),
    ('/var/lib/posfleet/ledger.json', False),
])
def test_the_pattern(line, hit):
    assert bool(PATTERN.search(line)) is hit
