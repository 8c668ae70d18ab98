# Copyright (c) posfleet developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Every scan ends, and says when it could not read everything: budgets, pseudo-filesystems, sparse holes,
files that are not regular, symbolic links given as paths, databases SQLite cannot read, a task that is gone."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import time

import pytest

from ansible_collections.posfleet.terminals.plugins.module_utils import _pan

KEY = 'unit-test-hash-key-0123'
PAN = '4111111111111111'


def test_time_budget_stops_the_scan_and_says_so(tmp_path):
    (tmp_path / 'big.log').write_bytes(b'x' * (8 << 20))
    started = time.monotonic()
    # 1 MB/s over 8 MiB would take 8 s; the 1 s budget stops it.
    result = _pan.scan_paths([str(tmp_path)], KEY, rate_limit=1_000_000, max_seconds=1)
    assert time.monotonic() - started < 3
    assert result['complete'] is False and result['stop_reason'] == 'time budget of 1 s reached'
    assert result['budget'] == {'max_bytes': _pan.MAX_SCAN_BYTES, 'max_seconds': 1}


def test_byte_budget_stops_the_scan_and_says_so(tmp_path):
    for name in 'abc':
        (tmp_path / f'{name}.log').write_bytes(b'y' * (2 << 20))
    result = _pan.scan_paths([str(tmp_path)], KEY, max_bytes=3 << 20, chunk=1 << 16)
    assert result['complete'] is False and result['stop_reason'].startswith('byte budget')
    assert 3 << 20 <= result['bytes_scanned'] < (3 << 20) + (1 << 16) + 1
    assert result['files_scanned'] == 1   # the second file was stopped in the middle: not counted as scanned


def test_no_budget_reached_is_complete(tmp_path):
    (tmp_path / 'a.log').write_text(f'pan={PAN}\n')
    result = _pan.scan_paths([str(tmp_path)], KEY)
    assert result['complete'] is True and result['stop_reason'] is None and result['pan_count'] == 1


def test_proc_is_not_entered(tmp_path):
    started = time.monotonic()
    result = _pan.scan_paths(['/proc', '/sys'], KEY, max_seconds=30)
    assert time.monotonic() - started < 5
    assert result['files_scanned'] == 0 and result['bytes_scanned'] == 0
    assert {s['path']: s['reason'] for s in result['skipped_paths']} == {
        '/proc': 'pseudo-filesystem (proc): holds no stored data',
        '/sys': 'pseudo-filesystem (sysfs): holds no stored data'}


def test_pseudo_devices_read_from_mountinfo(tmp_path):
    mountinfo = tmp_path / 'mountinfo'
    mountinfo.write_text(
        '22 1 0:21 / /proc rw,nosuid - proc proc rw\n'
        '23 1 0:22 / /sys rw - sysfs sysfs rw\n'
        '24 1 0:5 / /dev rw - devtmpfs udev rw,size=4k\n'
        '25 1 0:23 / /tmp rw - tmpfs tmpfs rw\n'
        '26 1 8:1 / / rw,relatime shared:1 - ext4 /dev/sda1 rw\n')
    expected = {os.makedev(0, 21): 'proc', os.makedev(0, 22): 'sysfs', os.makedev(0, 5): 'devtmpfs'}
    assert _pan._pseudo_devices(str(mountinfo)) == expected
    assert _pan._pseudo_devices(str(tmp_path / 'missing')) is None


def test_mount_table_unreadable_falls_back_to_the_usual_places(tmp_path, monkeypatch):
    monkeypatch.setattr(_pan, '_pseudo_devices', lambda: None)
    result = _pan.scan_paths(['/proc/sys'], KEY)
    assert result['files_scanned'] == 0 and result['skipped_paths'][0]['reason'].startswith('pseudo-filesystem')


def test_sparse_file_holes_are_not_read(tmp_path):
    path = tmp_path / 'sparse.img'
    size = 200 * 10 ** 9
    with open(path, 'wb') as handle:
        handle.write(b'head\nline two\n')
        handle.truncate(size)
        handle.seek(100 * 10 ** 9)
        handle.write(f'pan={PAN}\n'.encode())
    started = time.monotonic()
    result = _pan.scan_paths([str(path)], KEY, max_seconds=60)
    assert time.monotonic() - started < 10
    assert result['complete'] is True and result['pan_count'] == 1
    finding = result['findings'][0]
    assert finding['offset'] == 100 * 10 ** 9 + 4 and finding['line'] == 3   # holes hold no line break
    assert result['bytes_scanned'] < 1 << 20
    assert result['sparse_bytes_skipped'] > size - (1 << 20)


def test_data_segments_of_a_dense_file(tmp_path):
    path = tmp_path / 'dense.log'
    path.write_bytes(b'z' * 10000)
    fd = os.open(path, os.O_RDONLY)
    try:
        assert _pan.data_segments(fd, 10000) == [(0, 10000)]
    finally:
        os.close(fd)


def test_open_regular_refuses_what_is_not_a_regular_file(tmp_path):
    fifo = tmp_path / 'pipe'
    os.mkfifo(fifo)
    with pytest.raises(OSError):      # O_NONBLOCK: no writer, no hang; and fstat says it is not a file
        _pan.open_regular(str(fifo))
    target = tmp_path / 'real.log'
    target.write_text('x')
    (tmp_path / 'link.log').symlink_to(target)
    with pytest.raises(OSError):      # O_NOFOLLOW
        _pan.open_regular(str(tmp_path / 'link.log'))
    fd, info = _pan.open_regular(str(target))
    os.close(fd)
    assert info.st_size == 1


def test_a_fifo_in_a_scanned_directory_does_not_hang(tmp_path):
    os.mkfifo(tmp_path / 'pipe')
    (tmp_path / 'a.log').write_text(f'pan={PAN}\n')
    result = _pan.scan_paths([str(tmp_path)], KEY)
    assert result['pan_count'] == 1 and result['complete'] is True


def test_a_symbolic_link_given_as_path_is_a_named_error(tmp_path):
    (tmp_path / 'real').mkdir()
    (tmp_path / 'real' / 'a.log').write_text(f'pan={PAN}\n')
    (tmp_path / 'logs').symlink_to(tmp_path / 'real')
    result = _pan.scan_paths([str(tmp_path / 'logs')], KEY)
    assert result['complete'] is False and result['files_scanned'] == 0
    assert result['errors'] == [{'path': str(tmp_path / 'logs'),
                                 'error': 'is a symbolic link: not followed; scan the path it points to instead'}]


def corrupt_database(path):
    conn = sqlite3.connect(path)
    conn.execute('CREATE TABLE tx (id INTEGER PRIMARY KEY, note TEXT)')
    conn.executemany('INSERT INTO tx (note) VALUES (?)', [(f'row {i}',) for i in range(50)] + [(f'pan={PAN}',)])
    conn.commit()
    conn.close()
    with open(path, 'r+b') as handle:   # the schema page's b-tree header: SQLite can no longer read the database
        handle.seek(100)
        handle.write(b'\xff' * 12)


def test_corrupt_database_is_scanned_as_raw_bytes_and_reported(tmp_path):
    path = str(tmp_path / 'journal.db')
    corrupt_database(path)
    with pytest.raises(sqlite3.DatabaseError):
        sqlite3.connect(path).execute('SELECT * FROM tx').fetchall()
    result = _pan.scan_paths([path], KEY)
    assert result['pan_count'] == 1 and result['findings'][0]['container'] == 'sqlite-raw'
    assert result['complete'] is False
    assert result['errors'][0]['path'] == path and 'scanned as raw bytes' in result['errors'][0]['error']


def test_a_scan_whose_task_is_gone_stops(tmp_path):
    """The module's output pipe closed (the controller gave up, the connection dropped): the scan ends by
    itself instead of reading on for hours."""
    (tmp_path / 'big.log').write_bytes(b'x' * (4 << 20))
    code = (f'import sys; sys.path[:0] = {sys.path!r}\n'
            'from ansible_collections.posfleet.terminals.plugins.module_utils import _pan\n'
            f'result = _pan.scan_paths([{str(tmp_path)!r}], {KEY!r}, rate_limit=100000, max_seconds=0)\n'
            'sys.stderr.write(repr(result["stop_reason"]))\n')
    child = subprocess.Popen([sys.executable, '-c', code], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    time.sleep(1.0)
    child.stdout.close()             # nobody reads the module's output any more
    started = time.monotonic()
    try:
        dummy, err = child.communicate(timeout=10)
    finally:
        child.kill()
    assert time.monotonic() - started < 5
    assert b'the task that started the scan is gone' in err
