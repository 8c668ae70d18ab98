"""The firmware action's pieces on the controller: written from the bundle's payload in order (a member reader
does not seek), each named by its sha256 and read back by the terminal side's parser."""

from __future__ import annotations

import hashlib
import io
import os
import types

import pytest
from ansible.module_utils import _internal

from ansible_collections.posfleet.terminals.plugins.module_utils._firmware import (
    PIECE_NAME_RE,
    plan_delta,
    plan_pieces,
    read_piece_header,
)

DATA = {'bin/posd': os.urandom(3000), 'lib/a.bin': os.urandom(20000), 'lib/b.bin': b'', 'lib/c.bin': os.urandom(700)}


class _Raw(io.RawIOBase):
    """A payload member as the bundle gives it: readable, not seekable."""

    def __init__(self, data):
        super().__init__()
        self._data, self._at = data, 0

    def readable(self):
        return True

    def readinto(self, buffer):
        count = min(len(buffer), len(self._data) - self._at)
        buffer[:count] = self._data[self._at:self._at + count]
        self._at += count
        return count


class _Bundle:
    def __init__(self):
        self.opened = []

    def open_payload(self, rel):
        self.opened.append(rel)
        return io.BufferedReader(_Raw(DATA[rel]))


@pytest.fixture
def action():
    was = _internal.is_controller
    from ansible_collections.posfleet.terminals.plugins.action import firmware
    yield firmware
    _internal.is_controller = was


@pytest.mark.parametrize('partial', [{}, {hashlib.sha256(DATA['lib/a.bin']).hexdigest(): 12345}])
def test_pieces_carry_the_missing_bytes_in_order(action, tmp_path, partial):
    files = {rel: {'sha256': hashlib.sha256(data).hexdigest(), 'size': len(data), 'mode': '0644'}
             for rel, data in DATA.items()}
    missing, wire = plan_delta(files, {}, partial)
    pieces = plan_pieces(missing, partial, 4096)
    bundle = _Bundle()
    source = action._PayloadSource(bundle)
    me = types.SimpleNamespace(_host='T1')
    received = {rel: bytearray(DATA[rel][:partial.get(files[rel]['sha256'], 0)]) for rel in DATA}
    sent = 0
    for index, piece in enumerate(pieces):
        path, name, payload = action.ActionModule._write_piece(me, source, str(tmp_path), index, piece)
        sent += payload
        with open(path, 'rb') as handle:
            body = handle.read()
        assert PIECE_NAME_RE.fullmatch(name).group(2) == hashlib.sha256(body).hexdigest()
        segments, at = read_piece_header(io.BytesIO(body), len(body))
        for planned, segment in zip(piece, segments):
            rel = planned['rel']
            assert len(received[rel]) == segment['offset']
            received[rel] += body[at:at + segment['length']]
            at += segment['length']
    source.close()
    assert sent == wire
    assert {rel: bytes(data) for rel, data in received.items()} == DATA
    assert bundle.opened == sorted(DATA)  # each member opened once, read on from piece to piece


def test_a_bundle_that_ends_early_fails_the_transfer(action, tmp_path):
    source = action._PayloadSource(_Bundle())
    segment = {'rel': 'lib/c.bin', 'sha256': 'c' * 64, 'size': 5000, 'offset': 0, 'length': 5000}
    with pytest.raises(action._StageFailed, match='T1: transfer: the bundle ends inside lib/c.bin'):
        action.ActionModule._write_piece(types.SimpleNamespace(_host='T1'), source, str(tmp_path), 0, [segment])
