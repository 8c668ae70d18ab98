# Copyright (c) posfleet developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Target-side file writing. Private to the collection; Python >= 3.9 standard library only."""

from __future__ import annotations

import contextlib
import os
import tempfile


def atomic_write(path, data, mode=0o644):
    """Replace ``path`` with ``data`` (bytes or str) so that a crash leaves the old file or the new one.

    Temp file in the same directory, fsync, rename over ``path``, then fsync of the directory so that the
    rename itself survives a power cut. ``mode`` is set on the temp file before any byte is written.
    """
    directory = os.path.dirname(os.path.abspath(path))
    if isinstance(data, str):
        data = data.encode('utf-8')
    fd, tmp = tempfile.mkstemp(prefix=f'.{os.path.basename(path)}.', suffix='.tmp', dir=directory)
    try:
        os.fchmod(fd, mode)
        with os.fdopen(fd, 'wb') as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.rename(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    dir_fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)
