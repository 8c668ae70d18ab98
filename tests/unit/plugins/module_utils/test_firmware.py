# Copyright (c) posfleet developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The firmware update's pure parts: the delta plan, the pieces of the transfer and the option ranges (the update
itself runs against real terminals in extensions/molecule/firmware)."""

from __future__ import annotations

import hashlib
import io
import os
import subprocess
import sys

import pytest

from ansible_collections.posfleet.terminals.plugins.module_utils._firmware import (
    WORK_PREFIX,
    check_option_ranges,
    clear_stale_work_dirs,
    empty_slot_problem,
    get_firmware_argument_spec,
    ingest_spool,
    pending_trial_problem,
    piece_header,
    piece_name,
    plan_delta,
    plan_pieces,
    read_piece_header,
    receive,
)
from ansible_collections.posfleet.terminals.plugins.module_utils._platform import TerminalError
from ansible_collections.posfleet.terminals.plugins.module_utils._update_preconditions import sentence

A, B, C = 'a' * 64, 'b' * 64, 'c' * 64
FILES = {
    'bin/posd': {'sha256': A, 'size': 100, 'mode': '0755'},
    'lib/one.bin': {'sha256': B, 'size': 1000, 'mode': '0644'},
    'lib/same-as-one.bin': {'sha256': B, 'size': 1000, 'mode': '0644'},
    'lib/two.bin': {'sha256': C, 'size': 500, 'mode': '0644'},
}


@pytest.mark.parametrize('held, partial, shas, wire', [
    ({}, {}, [A, B, C], 1600),  # a file listed twice travels once
    ({A: 100}, {}, [B, C], 1500),
    ({A: 100, B: 1000, C: 500}, {}, [], 0),  # a re-run sends nothing
    ({A: 100}, {B: 400}, [B, C], 1100),  # an interrupted transfer resumes where it ended
    ({A: 100}, {B: 5000}, [B, C], 500),  # a partial longer than the file sends nothing of it (the terminal refuses)
])
def test_plan_delta(held, partial, shas, wire):
    missing, planned = plan_delta(FILES, held, partial)
    assert sorted(missing) == shas
    assert planned == wire
    if B in missing:
        assert missing[B][0] == 'lib/one.bin'


def test_option_ranges_refuse_before_anything():
    options = {name: entry.get('default') for name, entry in get_firmware_argument_spec().items()}
    check_option_ranges(options, 'T1')
    with pytest.raises(TerminalError, match='trial_deadline'):
        check_option_ranges(dict(options, trial_deadline=5), 'T1')
    with pytest.raises(TerminalError, match='min_battery_pct'):
        check_option_ranges(dict(options, min_battery_pct=101), 'T1')


# -- pieces: the framing of the transfer ------------------------------------------------------------------------

def _missing(sizes):
    """plan_delta's shape for files named f0, f1 ... of these sizes (sha256 = the name's digit, repeated)."""
    return {str(index) * 64: (f'lib/f{index}', {'sha256': str(index) * 64, 'size': size, 'mode': '0644'})
            for index, size in enumerate(sizes)}


def _spans(pieces):
    return [[(segment['rel'], segment['offset'], segment['length']) for segment in piece] for piece in pieces]


@pytest.mark.parametrize('sizes, partial, piece_size, spans', [
    # many small files share a piece
    ([100, 200, 300], {}, 1000, [[('lib/f0', 0, 100), ('lib/f1', 0, 200), ('lib/f2', 0, 300)]]),
    # a piece is filled to its size; a file goes on in the next one
    ([600, 600], {}, 1000, [[('lib/f0', 0, 600), ('lib/f1', 0, 400)], [('lib/f1', 400, 200)]]),
    # a large file over several pieces
    ([2500], {}, 1000, [[('lib/f0', 0, 1000)], [('lib/f0', 1000, 1000)], [('lib/f0', 2000, 500)]]),
    # an interrupted file goes on from where the terminal's copy ends
    ([1000, 300], {'0' * 64: 700}, 1000, [[('lib/f0', 700, 300), ('lib/f1', 0, 300)]]),
    # an empty file is a segment of its own (so the terminal takes it in)
    ([0, 10], {}, 1000, [[('lib/f0', 0, 0), ('lib/f1', 0, 10)]]),
    ([], {}, 1000, []),
])
def test_plan_pieces(sizes, partial, piece_size, spans):
    pieces = plan_pieces(_missing(sizes), partial, piece_size)
    assert _spans(pieces) == spans
    assert all(sum(segment['length'] for segment in piece) <= piece_size for piece in pieces)


def _spool_with(spool, files, piece_size, partial=None):
    """Write the pieces of ``files`` ({rel: bytes}) into ``spool`` as the controller would: their names."""
    missing = {hashlib.sha256(data).hexdigest(): (rel, {'sha256': hashlib.sha256(data).hexdigest(),
                                                        'size': len(data), 'mode': '0644'})
               for rel, data in files.items()}
    os.makedirs(spool, exist_ok=True)
    names = []
    for index, piece in enumerate(plan_pieces(missing, partial or {}, piece_size)):
        body = piece_header(piece) + b''.join(files[s['rel']][s['offset']:s['offset'] + s['length']] for s in piece)
        names.append(piece_name(index, hashlib.sha256(body).hexdigest()))
        with open(os.path.join(spool, names[-1]), 'wb') as handle:
            handle.write(body)
    return names


def test_piece_header_reads_back_and_refuses_what_does_not_add_up():
    segments = [{'rel': 'x', 'sha256': A, 'size': 10, 'offset': 2, 'length': 8}]
    header = piece_header(segments)
    assert b'"rel"' not in header  # paths stay on the controller
    assert read_piece_header(io.BytesIO(header + b'8' * 8), len(header) + 8) == (
        [{'sha256': A, 'size': 10, 'offset': 2, 'length': 8}], len(header))
    assert read_piece_header(io.BytesIO(header + b'8' * 7), len(header) + 7) is None  # torn
    assert read_piece_header(io.BytesIO(b'not a piece\n'), 12) is None
    bad = piece_header([{'rel': 'x', 'sha256': A, 'size': 10, 'offset': 5, 'length': 8}])  # past the file's end
    assert read_piece_header(io.BytesIO(bad + b'8' * 8), len(bad) + 8) is None


def test_ingest_spool_takes_pieces_in_checks_and_drops_a_torn_one(terminal, tmp_path):
    files = {'lib/a-empty.bin': b'', 'lib/b-small.bin': os.urandom(3000), 'lib/c-large.bin': os.urandom(25000)}
    digests = {rel: hashlib.sha256(data).hexdigest() for rel, data in files.items()}
    spool = str(tmp_path / 'spool')
    names = _spool_with(spool, files, 10000)
    assert len(names) == 3
    with open(os.path.join(spool, names[2]), 'r+b') as handle:  # the last piece torn by a kill
        handle.truncate(100)
    result = ingest_spool(terminal, spool)
    assert result['pieces'] == 2 and result['dropped'] == [names[2]] and result['errors'] == []
    content = terminal.firmware_content()
    assert {digests['lib/a-empty.bin'], digests['lib/b-small.bin']} <= set(content['held'])
    assert content['partial'] == {digests['lib/c-large.bin']: 20000 - 3000}  # where the resumed transfer starts
    assert not os.path.exists(spool)  # emptied and removed
    # the resumed transfer: what the run before left is taken in, the spool kept for the rest of the large file
    _spool_with(spool, {'lib/b-small.bin': files['lib/b-small.bin']}, 10000)
    assert receive(terminal, spool)['content']['partial'] == content['partial'] and os.listdir(spool) == []
    names = _spool_with(spool, files={'lib/c-large.bin': files['lib/c-large.bin']}, piece_size=10000,
                        partial=content['partial'])
    assert len(names) == 1
    assert ingest_spool(terminal, spool)['errors'] == []
    assert digests['lib/c-large.bin'] in terminal.firmware_content()['held']
    assert ingest_spool(terminal, spool) == {'pieces': 0, 'bytes': 0, 'dropped': [], 'errors': []}


def test_ingest_spool_keeps_no_file_that_does_not_match_its_sha256(terminal, tmp_path):
    spool = str(tmp_path / 'spool')
    data = os.urandom(5000)
    wrong = 'e' * 64
    segments = [{'rel': 'x', 'sha256': wrong, 'size': len(data), 'offset': 0, 'length': len(data)}]
    body = piece_header(segments) + data  # a piece intact in itself that claims the wrong sha256
    os.makedirs(spool)
    with open(os.path.join(spool, piece_name(0, hashlib.sha256(body).hexdigest())), 'wb') as handle:
        handle.write(body)
    result = ingest_spool(terminal, spool)
    assert len(result['errors']) == 1 and 'does not match that sha256' in result['errors'][0]
    assert wrong not in terminal.firmware_content()['held'] and wrong not in terminal.firmware_content()['partial']


def test_stale_install_work_dirs_are_removed(tmp_path):
    """A killed install leaves its work directory: the next install removes it, never a live one's."""
    gone = subprocess.run([sys.executable, '-c', 'import os; print(os.getpid())'], capture_output=True, text=True,
                          check=True)
    dead = int(gone.stdout)
    names = {
        'dead': f'{WORK_PREFIX}{dead}-abc',
        'live': f'{WORK_PREFIX}{os.getppid()}-def',
        'own': f'{WORK_PREFIX}{os.getpid()}-ghi',
        'other': 'posfleet-firmware-xyz',
    }
    for name in names.values():
        (tmp_path / name).mkdir()
        (tmp_path / name / 'bin').mkdir()
    # a directory named with our own pid is from an earlier boot: ours is made after the clean-up
    assert clear_stale_work_dirs(str(tmp_path)) == sorted([names['dead'], names['own']])
    assert sorted(os.listdir(tmp_path)) == sorted([names['live'], names['other']])


def test_the_pending_trial_and_empty_slot_refusals_read_the_same_for_the_stage_and_the_plugin():
    pending = pending_trial_problem({'active_version': '2.4.0', 'active_slot': 'b'}, 'revert', 'T1')
    assert str(pending) == ('terminal T1: revert: a trial of firmware 2.4.0 in slot b is pending. Fix: let it finish '
                            '(it is committed or falls back by itself), then run again')
    assert sentence(pending) == ('A trial of firmware 2.4.0 in slot b is pending. Fix: let it finish (it is committed '
                                 'or falls back by itself), then run again.')
    empty = empty_slot_problem('a', 'revert', 'T1')
    assert sentence(empty) == ('Slot a holds no earlier firmware to go back to. Fix: install the version you want from '
                               'a signed bundle instead.')
