# Copyright (c) posfleet developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Read a Debian package on the controller (no dpkg needed): its control fields and its sha256, so that
``posfleet.terminals.software`` refuses a wrong file before anything is sent.

A .deb is an ``ar`` archive: ``debian-binary``, ``control.tar[.gz|.xz|.bz2]``, ``data.tar.*`` (deb(5)).
Control archives compressed with zstd are not read here (Python has no zstd before 3.14).

Private to the collection (leading underscore): it may change without notice.
"""

from __future__ import annotations

import io
import os
import tarfile

from ansible_collections.posfleet.terminals.plugins.module_utils._io import file_sha256

AR_MAGIC = b'!<arch>\n'
CONTROL_MEMBERS = ('control.tar', 'control.tar.gz', 'control.tar.xz', 'control.tar.bz2')


class DebError(Exception):
    """``str()`` = ``<what is wrong>. Fix: <what to do>``."""

    def __init__(self, message, fix):
        self.message, self.fix = message, fix
        super().__init__(f'{message}. Fix: {fix}')


def _control_member(handle, path):
    """``(name, bytes)`` of the control archive of the ar archive open in ``handle``, or ``None``."""
    if handle.read(8) != AR_MAGIC:
        raise DebError(f'{path} is not a Debian package (no ar header)', 'build it with dpkg-deb --build')
    while True:
        header = handle.read(60)
        if not header:
            return None
        if len(header) < 60 or header[58:60] != b'`\n':
            raise DebError(f'{path} is a damaged Debian package (bad ar member header)', 'rebuild or download it again')
        name = header[:16].decode('ascii', 'replace').strip().rstrip('/')
        size = int(header[48:58].decode('ascii').strip() or 0)
        if name.startswith('control.tar'):
            if name not in CONTROL_MEMBERS:
                raise DebError(f'{path}: its control archive is {name}, which the controller cannot read',
                               'rebuild the package with dpkg-deb -Zxz (xz or gzip)')
            return name, handle.read(size)
        handle.seek(size + (size % 2), os.SEEK_CUR)  # ar pads members to an even size


def read_control(path):
    """``{package, version, architecture, sha256, size}`` of the .deb at ``path``; DebError when it is none."""
    try:
        with open(path, 'rb') as handle:
            member = _control_member(handle, path)
    except OSError as exc:
        raise DebError(f'cannot read {path} ({exc.strerror or exc})', 'check the path of the .deb') from None
    if member is None:
        raise DebError(f'{path} has no control archive', 'build it with dpkg-deb --build')
    name, data = member
    try:
        with tarfile.open(fileobj=io.BytesIO(data)) as archive:
            entry = next((m for m in archive.getmembers() if m.name in ('./control', 'control')), None)
            control = archive.extractfile(entry).read().decode('utf-8') if entry else None
    except (tarfile.TarError, EOFError, OSError, UnicodeDecodeError) as exc:
        raise DebError(f'{path}: its control archive {name} does not read ({exc})',
                       'rebuild the package with dpkg-deb --build') from None
    if control is None:
        raise DebError(f'{path} has no control file', 'build it with dpkg-deb --build')
    fields = {}
    for line in control.splitlines():
        if line[:1] not in (' ', '\t') and ':' in line:
            key, value = line.split(':', 1)
            fields[key.strip().lower()] = value.strip()
    if not fields.get('package') or not fields.get('version'):
        raise DebError(f'{path}: its control file has no Package or Version', 'fix DEBIAN/control and rebuild')
    return {'package': fields['package'], 'version': fields['version'],
            'architecture': fields.get('architecture') or 'all', 'sha256': file_sha256(path),
            'size': os.path.getsize(path)}
