# Copyright (c) posfleet developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The one atomic file writer of the target side, and the one way the collection reads a file's sha256.

A terminal loses power mid-write; a reader must then see the old file or the new one, never a mix. So: write
a temporary file in the same directory (same file system, so the rename is atomic), fsync it, give it its
mode, rename it over the target, then fsync the directory so the rename itself survives the power cut.

Two writers of one file (two overlapping runs) take ``locked``: an exclusive flock on a lock file next to the
data (one per directory), held for the whole read-merge-write, so that neither writes a copy that misses what
the other wrote.

Private to the collection (leading underscore): it may change without notice.
Target-side code: Python >= 3.9 standard library only.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import hashlib
import json
import os
import tempfile
import time

# Bytes read at a time when a file is hashed or copied: large reads keep a bundle's hashing out of the
# interpreter's per-call overhead, and stay small beside a terminal's memory.
READ_SIZE = 1 << 20
# How long a writer waits for another to release a lock before it gives up with an error naming the lock file.
LOCK_TIMEOUT = 300


def read_chunks(handle, size=READ_SIZE):
    """The bytes of the open binary file ``handle`` up to its end, ``size`` bytes at a time."""
    while True:
        chunk = handle.read(size)
        if not chunk:
            return
        yield chunk


def file_sha256(path):
    """The sha256 (hex) of the file at ``path``, read in chunks (a bundle does not fit in memory).

    The collection's one copy; ``_platform/slots.py`` keeps its own because the terminal image carries that file
    standalone (its boot loader imports it, with no collection around it)."""
    digest = hashlib.sha256()
    with open(path, 'rb') as handle:
        for chunk in read_chunks(handle):
            digest.update(chunk)
    return digest.hexdigest()


def atomic_write(path, data, mode=0o644, dir_mode=0o755):
    """Replace ``path`` with ``data`` (bytes or str, UTF-8) atomically and durably; parents created with
    ``dir_mode``. The file gets ``mode`` exactly (the umask does not apply)."""
    if isinstance(data, str):
        data = data.encode('utf-8')
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, mode=dir_mode, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix='.' + os.path.basename(path) + '.', suffix='.tmp', dir=directory)
    try:
        os.fchmod(fd, mode)  # before any byte is written: a secret is never readable under the umask's mode
        with os.fdopen(fd, 'wb') as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    fsync_path(directory)


def atomic_write_json(path, document, mode=0o644, indent=2):
    """``atomic_write`` of a JSON document (sorted keys, trailing newline)."""
    text = json.dumps(document, indent=indent, sort_keys=True) + '\n'
    atomic_write(path, text, mode=mode)


def fsync_path(path):
    """Make a file's data, or a rename or new entry in a directory, durable."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def lock_path(path):
    """The lock file of ``path``: ``.posfleet.lock`` in the same directory, one for the directory's files (hidden,
    never taken for data; writers hold it for milliseconds, never across a connection)."""
    return os.path.join(os.path.dirname(os.path.abspath(path)), '.posfleet.lock')


@contextlib.contextmanager
def locked(path, timeout=None, dir_mode=0o755):
    """Hold an exclusive ``flock`` on ``lock_path(path)`` (created, with its directory) for the ``with`` body.

    The kernel releases it when the holder dies, so a killed run never leaves it taken. Waits at most
    ``timeout`` seconds (``LOCK_TIMEOUT``), then raises ``TimeoutError`` naming the lock file."""
    timeout = LOCK_TIMEOUT if timeout is None else timeout
    lock = lock_path(path)
    os.makedirs(os.path.dirname(lock), mode=dir_mode, exist_ok=True)
    fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        deadline = time.monotonic() + timeout
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except OSError as exc:
                if exc.errno not in (errno.EAGAIN, errno.EACCES):
                    raise
                if time.monotonic() >= deadline:
                    raise TimeoutError(errno.ETIMEDOUT,
                                       f'{lock} held by another run for more than {timeout} s') from None
                time.sleep(0.05)
        yield lock
    finally:
        os.close(fd)  # closing the descriptor releases the lock
