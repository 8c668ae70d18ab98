# Copyright (c) posfleet developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

import hashlib
import json
import os
import stat

import pytest

from ansible_collections.posfleet.terminals.plugins.module_utils import _io, _time


def test_atomic_write_creates_parents_mode_and_content(tmp_path):
    path = tmp_path / 'a' / 'b' / 'file.json'
    old = os.umask(0o077)
    try:
        _io.atomic_write(str(path), 'héllo\n', mode=0o644)
    finally:
        os.umask(old)
    assert path.read_bytes() == 'héllo\n'.encode()
    assert stat.S_IMODE(path.stat().st_mode) == 0o644  # the umask does not apply
    assert os.listdir(str(path.parent)) == ['file.json']  # no temporary file left


def test_atomic_write_replaces_and_syncs_the_directory(tmp_path, monkeypatch):
    path = tmp_path / 'f'
    path.write_text('old')
    synced = []
    real = os.fsync
    monkeypatch.setattr(os, 'fsync', lambda fd: (synced.append(stat.S_ISDIR(os.fstat(fd).st_mode)), real(fd)))
    _io.atomic_write(str(path), b'new', mode=0o600)
    assert path.read_bytes() == b'new'
    assert synced == [False, True]  # the file, then its directory
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_atomic_write_failure_keeps_the_old_file(tmp_path, monkeypatch):
    path = tmp_path / 'f'
    path.write_text('old')

    def broken(src, dst):
        raise OSError(28, 'No space left on device')

    monkeypatch.setattr(os, 'replace', broken)
    with pytest.raises(OSError):
        _io.atomic_write(str(path), 'new')
    assert path.read_text() == 'old'
    assert os.listdir(str(tmp_path)) == ['f']


def test_atomic_write_json(tmp_path):
    path = tmp_path / 'doc.json'
    _io.atomic_write_json(str(path), {'b': 1, 'a': [1, 2]})
    assert json.loads(path.read_text()) == {'a': [1, 2], 'b': 1}
    assert path.read_text().endswith('\n')


def test_time_helpers():
    assert _time.utc_iso(1700000000) == '2023-11-14T22:13:20Z'
    assert _time.parse_time('2023-11-14T22:13:20Z') == 1700000000.0
    assert _time.seconds_since(1700000000, now=1700000042.5) == 42.5
    assert _time.seconds_since('never') is None
    assert _time.utc_date(1700000000).isoformat() == '2023-11-14'
    midnight = _time.parse_time(_time.local_midnight_utc_iso(1700000000))
    assert 0 <= 1700000000 - midnight < 86400


@pytest.mark.parametrize('size', [0, 1, _io.READ_SIZE, _io.READ_SIZE * 2 + 3])
def test_file_sha256_reads_across_chunk_borders(tmp_path, size):
    data = bytes(range(256)) * (size // 256) + bytes(size % 256)
    path = tmp_path / 'payload.bin'
    path.write_bytes(data)
    assert _io.file_sha256(str(path)) == hashlib.sha256(data).hexdigest()
    with open(path, 'rb') as handle:
        chunks = list(_io.read_chunks(handle))
    assert b''.join(chunks) == data
    assert all(0 < len(chunk) <= _io.READ_SIZE for chunk in chunks)
