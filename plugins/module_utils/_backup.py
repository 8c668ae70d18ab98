# Copyright (c) posfleet developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Terminal side of ``posfleet.terminals.backup``: one archive of what the platform backs up.

``collect`` takes a consistent copy of the transaction journal (``snapshot_journal``: SQLite's online backup API,
while the daemon keeps trading), copies the platform's ``backup_sources`` paths as they are, and writes them with a
manifest into one uncompressed tar (restic compresses and deduplicates on the controller):

- ``backup.json``: ``{format, terminal_id, created, journal: {path, transactions, batches, max_id, settled_last,
  sha256, bytes, integrity}, files: {path: {sha256, size, mode, uid, gid}}}``;
- ``journal/<journal path>``: the snapshot (0600);
- ``files/<path>``: each regular file, with its mode.

Only regular files and directories go in: symbolic links and special files are skipped (and counted), so the
controller never extracts a link. The archive is written into a spool directory of its own in the connection
user's remote tmp (``posfleet-backup``), emptied first (what a killed run left there, a copy of the journal among
it, goes), and gets that user as owner, so that the controller fetches it without privileges; its mode is 0600.

Private to the collection (leading underscore): it may change without notice.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import shutil
import stat
import tarfile
import tempfile
import time
import traceback

from ansible_collections.posfleet.terminals.plugins.module_utils._io import file_sha256, fsync_path
from ansible_collections.posfleet.terminals.plugins.module_utils._platform import TerminalError, load_platform
from ansible_collections.posfleet.terminals.plugins.module_utils._ranges import Range
from ansible_collections.posfleet.terminals.plugins.module_utils._time import parse_time

STEP = 'backup'
SPOOL_NAME = 'posfleet-backup'  # the archive's directory, emptied at every backup: nothing else may be in it
BACKUP_RANGES = {'timeout': Range(1, 86400, 'seconds')}
FORMAT = 1
MANIFEST = 'backup.json'
JOURNAL_PREFIX = 'journal'
FILES_PREFIX = 'files'


def foreign_member(members):
    """The name of the first tar member that a backup archive never holds (anything but a regular file or a
    directory under ``journal/`` or ``files/`` and the manifest, an absolute path, a ``..``), or ``None``. Both ends
    check an archive with it before they extract anything: neither trusts the other's archive."""
    for member in members:
        parts = member.name.split('/')
        if not (member.isfile() or member.isdir()) or parts[0] not in (JOURNAL_PREFIX, FILES_PREFIX, MANIFEST) \
                or member.name.startswith('/') or '..' in parts:
            return member.name
    return None


def _walk(root_path):
    """Every regular file under ``root_path`` (itself when it is one), and the entries skipped: ``(files, skipped)``
    as lists of real paths."""
    if os.path.islink(root_path) or not os.path.isdir(root_path):
        return ([root_path] if os.path.isfile(root_path) and not os.path.islink(root_path) else [],
                [] if os.path.isfile(root_path) else [root_path])
    found, skipped = [], []
    for directory, dirs, names in os.walk(root_path):
        dirs.sort()
        for name in sorted(names) + [d for d in dirs if os.path.islink(os.path.join(directory, d))]:
            path = os.path.join(directory, name)
            (found if os.path.isfile(path) and not os.path.islink(path) else skipped).append(path)
    return found, skipped


def open_spool(directory, name=SPOOL_NAME):
    """Make the spool ``directory`` (0700, the owner of its parent: the connection user's remote tmp) and empty it:
    what a killed run left there (its archive or work directory, a copy of the journal) goes first. Returns the
    names removed."""
    if os.path.basename(directory) != name:
        raise OSError(f'the spool directory must be named {name}')
    parent = os.stat(os.path.dirname(directory))
    os.makedirs(directory, mode=0o700, exist_ok=True)
    os.chmod(directory, 0o700)
    if os.geteuid() == 0:
        os.chown(directory, parent.st_uid, parent.st_gid)
    removed = sorted(os.listdir(directory))
    for name in removed:
        path = os.path.join(directory, name)
        if os.path.isdir(path) and not os.path.islink(path):
            shutil.rmtree(path, ignore_errors=True)
        else:
            os.unlink(path)
    return removed


def settled_since_backup(settled_last, last_backup):
    """Whether a journal whose newest settlement was made at ``settled_last`` holds one that the backup recorded at
    ``last_backup`` (the time its journal copy was taken) may lack. Unknown times count as new (one backup too many
    beats a settlement never backed up), and so does a tie: the record keeps whole seconds."""
    settled, recorded = parse_time(settled_last), parse_time(last_backup)
    if settled_last is None:
        return False
    return settled is None or recorded is None or settled >= recorded


def collect(platform, archive_path, only_new_settlement=False):
    """Write the backup archive at ``archive_path`` in its spool directory (emptied first); returns ``{archive,
    bytes, files, left_out, journal, stale, created, taken}`` (``stale``: what a killed run had left in the spool;
    ``created``: when the journal copy was taken, the time ``finish`` records). With ``only_new_settlement``, a
    journal without a settlement newer than the terminal's ``last_backup`` is not backed up: ``taken`` is false and
    no archive is written."""
    sources = platform.backup_sources()
    directory = os.path.dirname(os.path.abspath(archive_path))
    try:
        stale = open_spool(directory)
    except OSError as exc:
        raise TerminalError(STEP, f'cannot prepare the spool directory {directory} ({exc.strerror or exc})',
                            'give the connection user a writable remote_tmp', platform.terminal_id) from None
    work = tempfile.mkdtemp(prefix='.posfleet-backup-', dir=directory)
    tmp = archive_path + f'.{os.getpid()}.tmp'
    try:
        journal_rel = sources['journal'].lstrip('/')
        snapshot = os.path.join(work, 'journal.db')
        created = time.time()
        info = platform.snapshot_journal(snapshot)
        if only_new_settlement:
            last_backup = platform.records().get('last_backup')
            if not settled_since_backup(info.get('settled_last'), last_backup):
                shutil.rmtree(work, ignore_errors=True)
                with contextlib.suppress(OSError):
                    os.rmdir(directory)  # the spool: nothing is left in it
                return {'archive': None, 'bytes': 0, 'files': 0, 'left_out': [], 'stale': stale, 'created': created,
                        'taken': False, 'last_backup': last_backup,
                        'journal': {key: info.get(key) for key in ('transactions', 'batches', 'max_id',
                                                                   'settled_last')}}
        manifest = {'format': FORMAT, 'terminal_id': platform.terminal_id, 'created': created,
                    'journal': {'path': sources['journal'], 'transactions': info['transactions'],
                                'batches': info['batches'], 'max_id': info['max_id'],
                                'settled_last': info.get('settled_last'), 'sha256': info['sha256'],
                                'bytes': info['bytes'], 'integrity': info['integrity']},
                    'files': {}}
        skipped = []
        with tarfile.open(tmp, 'w', format=tarfile.PAX_FORMAT) as archive:
            archive.add(snapshot, arcname=f'{JOURNAL_PREFIX}/{journal_rel}', recursive=False)
            for source in sources['paths']:
                real = platform.path(source)
                if not os.path.lexists(real):
                    continue
                files, left = _walk(real)
                skipped += [platform.unroot(path) for path in left]
                for path in files:
                    shown = platform.unroot(path)
                    try:
                        st = os.stat(path)
                        digest = file_sha256(path)
                        archive.add(path, arcname=f'{FILES_PREFIX}/{shown.lstrip("/")}', recursive=False)
                    except OSError as exc:
                        raise TerminalError(STEP, f'cannot read {shown} ({exc.strerror or exc})',
                                            'run the task with become: true; nothing was backed up',
                                            platform.terminal_id) from None
                    manifest['files'][shown] = {'sha256': digest, 'size': st.st_size,
                                                'mode': f'{stat.S_IMODE(st.st_mode):04o}', 'uid': st.st_uid,
                                                'gid': st.st_gid}
            data = (json.dumps(manifest, indent=1, sort_keys=True) + '\n').encode('utf-8')
            member = tarfile.TarInfo(MANIFEST)
            member.size, member.mode, member.mtime = len(data), 0o600, int(manifest['created'])
            archive.addfile(member, io.BytesIO(data))
        owner = os.stat(directory)
        os.chmod(tmp, 0o600)
        if os.geteuid() == 0:
            os.chown(tmp, owner.st_uid, owner.st_gid)
        fsync_path(tmp)
        os.replace(tmp, archive_path)
    except OSError as exc:
        raise TerminalError(STEP, f'cannot write the backup archive in {directory} ({exc.strerror or exc})',
                            'free space on the terminal (the archive needs about the journal\'s size), then run again',
                            platform.terminal_id) from None
    finally:
        shutil.rmtree(work, ignore_errors=True)
        if os.path.exists(tmp):
            os.unlink(tmp)
    return {'archive': archive_path, 'bytes': os.path.getsize(archive_path), 'files': len(manifest['files']),
            'left_out': skipped, 'journal': manifest['journal'], 'stale': stale, 'created': created, 'taken': True}


def discard(archive_path):
    """Remove the archive (it holds a copy of the journal) and its spool when nothing else is in it; whether the
    archive was there."""
    if not archive_path or not os.path.exists(archive_path):
        return False
    os.unlink(archive_path)
    with contextlib.suppress(OSError):
        os.rmdir(os.path.dirname(archive_path))
    return True


def finish(platform, archive_path, recorded_at=None):
    """After the controller stored the backup: remove the archive, record ``last_backup`` (``recorded_at``: when
    its journal copy was taken, so that a settlement made while the backup ran counts as not backed up; default
    now)."""
    discard(archive_path)
    return platform.write_record('last_backup', time.time() if recorded_at is None else recorded_at)


def get_repository_argument_spec():
    """The options naming a restic repository and how to reach it (doc fragment ``restic_repository``), shared by
    the backup plugins; none is required here: the action plugins check them."""
    return {
        'repository': {'type': 'str'},
        'repository_password': {'type': 'str', 'no_log': True},
        'repository_user': {'type': 'str'},
        'repository_user_password': {'type': 'str', 'no_log': True},
        'cache_dir': {'type': 'path'},
        'timeout': {'type': 'int', 'default': 600},
    }


def get_backup_argument_spec():
    """The options of ``posfleet.terminals.backup`` (the action plugin's and the module's; none is required
    here because the module on the terminal gets only the ``_`` ones: the action plugin checks the rest)."""
    return dict(get_repository_argument_spec(), **{
        'reason': {'type': 'str', 'choices': ['scheduled', 'pre-update', 'settlement', 'manual'], 'default': 'manual'},
        'only_new_settlement': {'type': 'bool', 'default': False},
        'store': {'type': 'str'},
        'tags': {'type': 'list', 'elements': 'str', 'default': []},
        'verify': {'type': 'bool', 'default': True},
        'work_dir': {'type': 'path'},
        '_stage': {'type': 'str', 'choices': ['collect', 'finish', 'discard']},
        '_archive': {'type': 'str'},
        '_recorded_at': {'type': 'str'},
    })


def run_stage(module, name, stages):
    """The ``main`` of a module that its action plugin calls in stages (backup, restore): exits with what
    ``stages[_stage](platform, params, check_mode)`` returns (it says ``changed``), or fails naming the fix."""
    stage = module.params['_stage']
    if stage is None:
        module.fail_json(msg=f'posfleet.terminals.{name} runs through its action plugin: use it as a task, not with '
                         'ansible -m on a copied module')
    try:
        platform = load_platform()
        result = stages[stage](platform, module.params, module.check_mode)
    except TerminalError as exc:
        module.fail_json(msg=str(exc), step=exc.step, terminal_id=exc.terminal)
    except Exception as exc:
        module.fail_json(msg=f'posfleet.terminals.{name}: unexpected error: {exc}', exception=traceback.format_exc())
    module.exit_json(**dict({'terminal_id': platform.terminal_id}, **result))
