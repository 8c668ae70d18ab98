"""The collection artifact holds the collection only: no results, caches, virtualenvs or the demo's ansible.cfg."""

from __future__ import annotations

import shutil
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
# What a working checkout gathers that must never reach an installed collection.
LEFTOVERS = ['results/20261201T000000Z/summary.txt', '.pytest_cache/v/cache/lastfailed', '.ruff_cache/0.1/x',
             '.cache/posfleet/venv/bin/python', 'plugins/modules/__pycache__/facts.cpython-311.pyc',
             'inventories/demo/.state/id_ed25519', 'tests/output/junit.xml', '.ci/run', 'ansible.cfg',
             'posfleet-terminals-0.0.1.tar.gz']


@pytest.fixture(scope='module')
def artifact_members(tmp_path_factory):
    venv_bin = str(Path(sys.executable).parent)
    ansible_galaxy = shutil.which('ansible-galaxy', path=venv_bin) or shutil.which('ansible-galaxy')
    if ansible_galaxy is None:
        pytest.fail('ansible-galaxy is not installed: run the suite through scripts/test.sh')
    tree = tmp_path_factory.mktemp('checkout')
    listing = subprocess.run(['git', 'ls-files', '-z'], cwd=ROOT, capture_output=True, check=True)
    tracked = listing.stdout.decode().split('\0')
    for name in filter(None, tracked):
        if (ROOT / name).is_file():
            (tree / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / name, tree / name)
    for name in LEFTOVERS:
        (tree / name).parent.mkdir(parents=True, exist_ok=True)
        (tree / name).write_text('left over by a run\n')
    out = tmp_path_factory.mktemp('artifact')
    subprocess.run([ansible_galaxy, 'collection', 'build', '--output-path', str(out), str(tree)],
                   capture_output=True, check=True)
    version = yaml.safe_load((ROOT / 'galaxy.yml').read_text())['version']
    with tarfile.open(out / f'posfleet-terminals-{version}.tar.gz') as artifact:
        return artifact.getnames()


@pytest.mark.parametrize('leftover', LEFTOVERS)
def test_nothing_a_run_leaves_is_shipped(artifact_members, leftover):
    assert leftover not in artifact_members
    hidden_top = leftover.split('/')[0]
    if hidden_top.startswith('.'):
        assert not [name for name in artifact_members if name.startswith(hidden_top + '/')]


def test_the_collection_is_shipped(artifact_members):
    for needed in ('MANIFEST.json', 'FILES.json', 'meta/runtime.yml', 'plugins/modules/facts.py',
                   'roles/maintenance/tasks/main.yml', 'playbooks/daily.yml', 'README.md', 'LICENSE'):
        assert needed in artifact_members
