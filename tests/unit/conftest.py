# Copyright (c) posfleet developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Make this checkout importable as ``ansible_collections.posfleet.terminals``, from any clone, any directory.

Same tree as scripts/lib.sh: ``<repo>/.cache/collections/ansible_collections/posfleet/terminals`` -> ``<repo>``
(``.cache/`` is git-ignored), put first on ``sys.path``. When pytest already runs inside an
``ansible_collections/posfleet/terminals`` tree (ansible-test units), that tree is used as it is.
"""

from __future__ import annotations

import os
import sys

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _collections_root():
    parts = REPO.split(os.sep)
    if len(parts) >= 3 and parts[-3:-1] == ['ansible_collections', 'posfleet'] and parts[-1] == 'terminals':
        return os.sep.join(parts[:-3])
    root = os.path.join(REPO, '.cache', 'collections')
    link = os.path.join(root, 'ansible_collections', 'posfleet', 'terminals')
    if os.path.realpath(link) != os.path.realpath(REPO):
        os.makedirs(os.path.dirname(link), exist_ok=True)
        tmp = f'{link}.{os.getpid()}.tmp'
        os.symlink(REPO, tmp)
        os.replace(tmp, link)  # atomic: parallel runs never see a missing link
    return root


_ROOT = _collections_root()
if _ROOT not in sys.path:
    sys.path.insert(0, _ROOT)
if 'ansible_collections' in sys.modules:  # a namespace package imported earlier: let it see our tree too
    path = sys.modules['ansible_collections'].__path__
    if _ROOT + os.sep + 'ansible_collections' not in list(path):
        path.append(os.path.join(_ROOT, 'ansible_collections'))

# The helpers live beside this file; make them importable whatever pytest's import mode.
_HERE = os.path.dirname(os.path.abspath(__file__))
if _HERE not in sys.path:
    sys.path.insert(0, _HERE)

from terminal_tree import BOOTENV, MODEL, TERMINAL, FakePosd, install_slot, make_firmware, write_accounts, write_json  # noqa: E402

from ansible_collections.posfleet.terminals.plugins.module_utils._platform import load_platform  # noqa: E402


@pytest.fixture
def terminal_root(tmp_path):
    """A reference terminal's files under tmp_path (t100, slot a = 2.3.1, slot b empty)."""
    root = tmp_path / 'root'
    write_json(root, '/etc/posfleet/terminal.json', TERMINAL)
    write_json(root, '/etc/posfleet/model.json', MODEL)
    write_json(root, '/etc/posfleet/acquirer.json', {
        'host': '127.0.0.1', 'port': 8443, 'verify': True, 'ca_file': '/etc/posfleet/ca/acquirer-ca.pem',
        'min_tls': '1.2'})
    write_json(root, '/var/lib/posboot/env.json', BOOTENV)
    write_json(root, '/slots/a/VERSION', '2.3.1\n')
    write_json(root, '/slots/a/manifest.json', {'version': '2.3.1', 'models': ['t100', 'm200'], 'files': {}})
    os.makedirs(str(root / 'slots' / 'b' / 'bin'))
    write_json(root, '/opt/posapps/emv-kernel/manifest.json', {'name': 'emv-kernel', 'version': '7.1.0'})
    write_json(root, '/opt/posapps/loyalty/manifest.json', {'name': 'loyalty', 'version': '1.2.0'})
    write_json(root, '/var/lib/posfleet/records.json', {'last_backup': '2026-11-20T02:10:00Z',
                                                        'last_credential_rotation': None, 'last_audit': None})
    write_json(root, '/var/lib/posd/maintenance.json', {'enabled': False, 'since': None, 'message': None})
    return root


@pytest.fixture
def terminal(terminal_root, tmp_path):
    """The reference tree with a bootable slot a (2.3.1), an empty slot b and a 2.4.0 bundle to stage
    (``platform.bundle``, ``platform.manifest``)."""
    install_slot(terminal_root, 'a', '2.3.1')
    bundle = str(tmp_path / 'bundle')
    manifest = make_firmware(bundle, '2.4.0')
    platform = load_platform(root=str(terminal_root))
    platform.bundle, platform.manifest = bundle, manifest
    return platform


@pytest.fixture
def with_accounts(terminal):
    """``terminal`` with accounts (terminal_tree.write_accounts) and the home of terminal_tree.USER."""
    write_accounts(terminal.root)
    return terminal


@pytest.fixture
def fake_posd():
    servers = []

    def start(*answers):
        server = FakePosd(answers)
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.close()
