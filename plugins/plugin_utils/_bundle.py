# Copyright (c) posfleet developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Signed firmware bundles (``.posfw``): build, read, verify, and check against a terminal. Controller side.

A bundle is an uncompressed POSIX tar whose members come in this order:

- ``manifest.json``: the manifest, ``json.dumps(m, indent=1, sort_keys=True) + "\\n"``; the signature covers
  these exact bytes (nothing is canonicalised on read);
- ``manifest.sig``: ``{"algorithm": "ed25519", "key_id": "<16 hex>", "signature": "<base64 of 64 bytes>"}``;
- ``payload/<relpath>``: every file the manifest lists, regular files only.

A key id is the first 16 hex digits of the sha256 of the raw 32-byte Ed25519 public key. Private keys are PEM
PKCS8 (encrypted when a passphrase is given), public keys PEM SubjectPublicKeyInfo.

Reading never extracts blindly: the tar's member list is checked against the manifest first (links, devices,
absolute or ``..`` names, duplicates, members the manifest does not list, a manifest or signature missing or
not first are all refused), and payload bytes are read from their recorded offsets.

Private to the collection (leading underscore): it may change without notice.
"""

from __future__ import annotations

import base64
import binascii
import datetime
import hashlib
import io
import json
import os
import re
import stat
import tarfile
import tempfile

try:
    from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ed25519
except ImportError:  # pragma: no cover - in the controller's requirements; said with its fix where a key is needed
    serialization = ed25519 = None
    InvalidSignature = UnsupportedAlgorithm = type('CryptographyMissing', (Exception,), {})

from ansible_collections.posfleet.terminals.plugins.module_utils import _io, _version
from ansible_collections.posfleet.terminals.plugins.module_utils._platform.slots import VERSION_RE
from ansible_collections.posfleet.terminals.plugins.module_utils._ranges import Range, range_problem
from ansible_collections.posfleet.terminals.plugins.plugin_utils._errors import FixableError

FORMAT = 'posfleet-bundle/1'
KINDS = ('firmware',)
MANIFEST_NAME = 'manifest.json'
SIGNATURE_NAME = 'manifest.sig'
PAYLOAD_PREFIX = 'payload/'
REQUIRED_FILE = 'bin/posd'
ALGORITHM = 'ed25519'
TIME_FORMAT = '%Y-%m-%dT%H:%M:%SZ'
# A bundle created up to this far in the future is accepted: controller and build host clocks drift.
CLOCK_SKEW = datetime.timedelta(minutes=5)
# Bounds on what is read into memory before anything is verified.
MAX_MANIFEST_BYTES = 16 * 1024 * 1024
MAX_SIGNATURE_BYTES = 4096
KEY_ID_RE = re.compile(r'[0-9a-f]{16}')
SHA256_RE = re.compile(r'[0-9a-f]{64}')
MODE_RE = re.compile(r'0[0-7]{3}')
MANIFEST_KEYS = frozenset(('format', 'kind', 'version', 'models', 'hardware_revisions', 'min_source_version',
                           'security_version', 'created', 'expires', 'key_id', 'description', 'files'))
OPTIONAL_KEYS = frozenset(('description',))
FILE_KEYS = frozenset(('sha256', 'size', 'mode'))
CHUNK = 1024 * 1024
# The allowed range of each numeric option of firmware_bundle (``_ranges``): a bundle valid for more than ten
# years is one nobody will rebuild, which defeats the expiry.
OPTION_RANGES = {
    'security_version': Range(0, 2 ** 31 - 1),
    'valid_days': Range(1, 3660, 'days'),
}


class BundleError(FixableError):
    """A bundle, key or payload that cannot be used, with the fix."""


# --- keys -------------------------------------------------------------------------------------------------------

def _need_cryptography():
    if ed25519 is None:
        raise BundleError('the controller\'s Python has no "cryptography" package, which signs and verifies bundles',
                          'install the collection\'s requirements (pip install -r requirements.txt) into the Python '
                          'that runs ansible-playbook')


def _raw_public(public_key):
    return public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def _key_id_of(public_key):
    return hashlib.sha256(_raw_public(public_key)).hexdigest()[:16]


def _load_public(pem, where):
    _need_cryptography()
    if isinstance(pem, str):
        pem = pem.encode('utf-8')
    try:
        public_key = serialization.load_pem_public_key(pem)
    except (ValueError, TypeError, UnsupportedAlgorithm) as exc:
        raise BundleError(f'{where} is not a PEM public key ({exc})',
                          'give the public key file written by firmware_bundle state=keypair') from None
    if not isinstance(public_key, ed25519.Ed25519PublicKey):
        raise BundleError(f'{where} is not an Ed25519 public key',
                          'bundles are signed with Ed25519 keys: make one with firmware_bundle state=keypair')
    return public_key


def key_id(public_key_pem):
    """The key id of a PEM public key (bytes or str): 16 hex digits of sha256 over the raw 32-byte key."""
    return _key_id_of(_load_public(public_key_pem, 'the public key'))


def _load_private(private_key_path, passphrase):
    _need_cryptography()
    try:
        with open(private_key_path, 'rb') as handle:
            data = handle.read()
    except OSError as exc:
        raise BundleError(f'cannot read the private key {private_key_path}: {exc.strerror}',
                          'give the path of a private key made by firmware_bundle state=keypair') from None
    password = passphrase.encode('utf-8') if passphrase else None
    try:
        private_key = serialization.load_pem_private_key(data, password=password)
    except TypeError:
        if password:
            raise BundleError(f'the private key {private_key_path} is not encrypted, but a passphrase was given',
                              'drop the passphrase, or give the key that was written with it') from None
        raise BundleError(f'the private key {private_key_path} is encrypted and no passphrase was given',
                          'give its passphrase (a no_log option or a vaulted variable)') from None
    except (ValueError, UnsupportedAlgorithm):
        raise BundleError(f'the private key {private_key_path} cannot be read: not a PEM PKCS8 key, or the '
                          'passphrase is wrong', 'give the right passphrase for this key') from None
    if not isinstance(private_key, ed25519.Ed25519PrivateKey):
        raise BundleError(f'the private key {private_key_path} is not an Ed25519 key',
                          'make a signing key with firmware_bundle state=keypair')
    return private_key


def generate_keypair(private_path, public_path, passphrase=None):
    """Write a new Ed25519 key pair: the private key (PEM PKCS8, encrypted when ``passphrase``) with mode 0600,
    the public key (PEM SubjectPublicKeyInfo) with 0644, each atomically. Returns ``{key_id, private_key,
    public_key}`` (the two paths; the key material is never returned)."""
    _need_cryptography()
    private_key = ed25519.Ed25519PrivateKey.generate()
    encryption = (serialization.BestAvailableEncryption(passphrase.encode('utf-8')) if passphrase
                  else serialization.NoEncryption())
    private_pem = private_key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                            encryption)
    public_pem = private_key.public_key().public_bytes(serialization.Encoding.PEM,
                                                       serialization.PublicFormat.SubjectPublicKeyInfo)
    try:
        _io.atomic_write(private_path, private_pem, mode=0o600, dir_mode=0o700)
        _io.atomic_write(public_path, public_pem, mode=0o644)
    except OSError as exc:
        raise BundleError(f'cannot write the key pair ({exc.filename or private_path}: {exc.strerror})',
                          'give paths in a directory the controller user may write') from None
    return {'key_id': _key_id_of(private_key.public_key()), 'private_key': private_path, 'public_key': public_path}


def public_key_of(private_key_path, passphrase=None):
    """``(public key PEM text, key id)`` of a private key file."""
    public_key = _load_private(private_key_path, passphrase).public_key()
    pem = public_key.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    return pem.decode('ascii'), _key_id_of(public_key)


def write_public_key(public_path, pem):
    """Write a public key PEM (0644, atomically)."""
    try:
        _io.atomic_write(public_path, pem, mode=0o644)
    except OSError as exc:
        raise BundleError(f'cannot write the public key {public_path}: {exc.strerror}',
                          'give a path in a directory the controller user may write') from None


class Trust:
    """Public keys by key id, and the revoked key ids."""

    def __init__(self, keys, revoked):
        self.keys = dict(keys)
        self.revoked = frozenset(revoked)

    def __repr__(self):
        return f'Trust(keys={sorted(self.keys)}, revoked={sorted(self.revoked)})'


def _looks_like_pem(value):
    if isinstance(value, bytes):
        return value.lstrip().startswith(b'-----BEGIN')
    return isinstance(value, str) and value.lstrip().startswith('-----BEGIN')


def load_trust(trusted_keys, revoked_keys=()):
    """A ``Trust`` from ``trusted_keys`` (each a PEM public key, str or bytes, or the path of a PEM file) and
    ``revoked_keys`` (key ids, 16 hex digits)."""
    if isinstance(trusted_keys, (str, bytes)):
        trusted_keys = [trusted_keys]
    keys = {}
    for entry in trusted_keys or ():
        if _looks_like_pem(entry):
            public_key = _load_public(entry, 'a trusted key given as PEM text')
        else:
            try:
                with open(entry, 'rb') as handle:
                    data = handle.read()
            except (OSError, TypeError) as exc:
                raise BundleError(f'cannot read the trusted key {entry!r}: {getattr(exc, "strerror", exc)}',
                                  'give PEM public keys or the paths of PEM public key files') from None
            public_key = _load_public(data, f'the trusted key {entry}')
        keys[_key_id_of(public_key)] = public_key
    revoked = set()
    for entry in revoked_keys or ():
        text = str(entry).strip().lower()
        if not KEY_ID_RE.fullmatch(text):
            raise BundleError(f'revoked key id {entry!r} is not 16 hex digits',
                              'list revoked keys by their key id, as firmware_bundle returns it')
        revoked.add(text)
    return Trust(keys, revoked)


# --- time -------------------------------------------------------------------------------------------------------

def _utc(now):
    if now is None:
        now = datetime.datetime.now(datetime.timezone.utc)
    elif isinstance(now, (int, float)):
        now = datetime.datetime.fromtimestamp(now, datetime.timezone.utc)
    elif isinstance(now, str):
        now = _parse_time(now, 'the time', 'give a UTC time like 2026-12-02T00:00:00Z')
    elif now.tzinfo is None:
        now = now.replace(tzinfo=datetime.timezone.utc)
    return now.astimezone(datetime.timezone.utc).replace(microsecond=0)


def _format_time(moment):
    return moment.astimezone(datetime.timezone.utc).strftime(TIME_FORMAT)


def _parse_time(value, what, fix='rebuild the bundle with firmware_bundle'):
    try:
        return datetime.datetime.strptime(value, TIME_FORMAT).replace(tzinfo=datetime.timezone.utc)
    except (TypeError, ValueError):
        raise BundleError(f'{what} {value!r} is not a UTC time like 2026-12-02T00:00:00Z', fix) from None


# --- manifest ---------------------------------------------------------------------------------------------------

def _version_problem(value, what):
    if not isinstance(value, str) or not VERSION_RE.fullmatch(value):
        return f'{what} {value!r} is not a version string'
    try:
        _version.parse(value)
    except ValueError as exc:
        return f'{what}: {exc}'
    return None


def _safe_rel(rel):
    if not isinstance(rel, str) or not rel or rel.startswith('/') or '\\' in rel or '\x00' in rel:
        return False
    parts = rel.split('/')
    return '..' not in parts and '.' not in parts and '' not in parts


def _string_list(value):
    return isinstance(value, list) and all(isinstance(item, str) and item for item in value)


def _manifest_problems(manifest):
    """What is wrong with a bundle manifest's shape (``[]``: nothing). Does not check the signature."""
    if not isinstance(manifest, dict):
        return ['the manifest is not a JSON object']
    problems = []
    missing = sorted(MANIFEST_KEYS - OPTIONAL_KEYS - set(manifest))
    if missing:
        problems.append(f'the manifest lacks {", ".join(missing)}')
    unknown = sorted(set(manifest) - MANIFEST_KEYS)
    if unknown:
        problems.append(f'the manifest has unknown keys {", ".join(unknown)}')
    if manifest.get('format') != FORMAT:
        problems.append(f'the manifest format is {manifest.get("format")!r}, not {FORMAT!r}')
    if manifest.get('kind') not in KINDS:
        problems.append(f'the manifest kind {manifest.get("kind")!r} is not one of {", ".join(KINDS)}')
    problem = _version_problem(manifest.get('version'), 'the manifest version')
    if problem:
        problems.append(problem)
    if not _string_list(manifest.get('models')) or not manifest.get('models'):
        problems.append('the manifest "models" must be a non-empty list of model names')
    if not _string_list(manifest.get('hardware_revisions')):
        problems.append('the manifest "hardware_revisions" must be a list of revision names ([] = every revision)')
    if manifest.get('min_source_version') is not None:
        problem = _version_problem(manifest['min_source_version'], 'the manifest min_source_version')
        if problem:
            problems.append(problem)
    security = manifest.get('security_version')
    if isinstance(security, bool) or not isinstance(security, int) or security < 0:
        problems.append(f'the manifest security_version {security!r} is not an integer >= 0')
    times = {}
    for name in ('created', 'expires'):
        try:
            times[name] = _parse_time(manifest.get(name), f'the manifest {name}')
        except BundleError as exc:
            problems.append(exc.message)
    if len(times) == 2 and times['expires'] <= times['created']:
        problems.append('the manifest expires before it is created')
    if not isinstance(manifest.get('key_id'), str) or not KEY_ID_RE.fullmatch(manifest['key_id']):
        problems.append(f'the manifest key_id {manifest.get("key_id")!r} is not 16 hex digits')
    if 'description' in manifest and not isinstance(manifest['description'], str):
        problems.append('the manifest description is not a string')
    files = manifest.get('files')
    if not isinstance(files, dict) or REQUIRED_FILE not in files:
        problems.append(f'the manifest "files" must map relative paths to their sha256, size and mode and include '
                        f'{REQUIRED_FILE}')
        return problems
    for rel, entry in sorted(files.items()):
        if not _safe_rel(rel):
            problems.append(f'the manifest names an unsafe path {rel!r}')
            continue
        if not isinstance(entry, dict) or set(entry) != FILE_KEYS:
            problems.append(f'the manifest entry of {rel!r} must hold exactly sha256, size and mode')
            continue
        if not isinstance(entry['sha256'], str) or not SHA256_RE.fullmatch(entry['sha256']):
            problems.append(f'the manifest sha256 of {rel!r} is not 64 lowercase hex digits')
        if isinstance(entry['size'], bool) or not isinstance(entry['size'], int) or entry['size'] < 0:
            problems.append(f'the manifest size of {rel!r} is not an integer >= 0')
        if not isinstance(entry['mode'], str) or not MODE_RE.fullmatch(entry['mode']):
            problems.append(f'the manifest mode of {rel!r} is not an octal mode like "0644"')
    return problems


def _manifest_bytes(manifest):
    return (json.dumps(manifest, indent=1, sort_keys=True) + '\n').encode('utf-8')


def _no_duplicate_keys(pairs):
    document = {}
    for name, value in pairs:
        if name in document:
            raise ValueError(f'duplicate key {name!r}')
        document[name] = value
    return document


# --- build ------------------------------------------------------------------------------------------------------

def _payload_files(source_dir):
    """``{rel: (path, size, mode)}`` of the regular files under ``source_dir``; anything else is refused."""
    if not os.path.isdir(source_dir):
        raise BundleError(f'the payload directory {source_dir} does not exist',
                          'give the directory that holds the slot contents (bin/posd, ...)')
    found = {}
    for root, dirs, names in os.walk(source_dir):
        dirs.sort()
        for name in sorted(dirs + names):
            path = os.path.join(root, name)
            rel = os.path.relpath(path, source_dir).replace(os.sep, '/')
            info = os.lstat(path)
            if stat.S_ISDIR(info.st_mode):
                continue
            if not stat.S_ISREG(info.st_mode):
                raise BundleError(f'payload {rel} in {source_dir} is not a regular file (a link, device or socket)',
                                  'a bundle carries regular files only: replace it with the file itself')
            if not _safe_rel(rel) or rel in ('VERSION', 'manifest.json'):
                raise BundleError(f'payload path {rel!r} in {source_dir} is unsafe or reserved for the slot',
                                  'rename it (VERSION and manifest.json are written by the terminal)')
            found[rel] = (path, info.st_size, info.st_mode & 0o777)
    if REQUIRED_FILE not in found:
        raise BundleError(f'the payload directory {source_dir} has no {REQUIRED_FILE}',
                          'a firmware slot must carry the terminal daemon bin/posd')
    return found


class _HashingReader:
    """Reads a file for tarfile and hashes what it reads, so a file changed after it was hashed is caught."""

    def __init__(self, handle):
        self.handle = handle
        self.digest = hashlib.sha256()

    def read(self, size=-1):
        data = self.handle.read(size)
        self.digest.update(data)
        return data


def _tarinfo(name, size, mode, mtime):
    info = tarfile.TarInfo(name)
    info.size = size
    info.mode = mode
    info.mtime = mtime
    info.type = tarfile.REGTYPE
    info.uid = info.gid = 0
    info.uname = info.gname = ''
    return info


class BuildPlan:
    """What ``build`` will write: the signed manifest and the payload files, before anything is written."""

    def __init__(self, source_dir, manifest, payload, private_key):
        self.source_dir = source_dir
        self.manifest = manifest
        self.payload = payload  # rel -> (path, size, mode)
        self._private_key = private_key

    def __repr__(self):
        return f'BuildPlan({self.source_dir!r}, version={self.manifest["version"]!r})'

    @property
    def public_key_pem(self):
        return self._private_key.public_key().public_bytes(serialization.Encoding.PEM,
                                                           serialization.PublicFormat.SubjectPublicKeyInfo)

    def sign(self):
        """``(manifest bytes, signature bytes)`` as the bundle holds them."""
        manifest_bytes = _manifest_bytes(self.manifest)
        signature = {'algorithm': ALGORITHM, 'key_id': self.manifest['key_id'],
                     'signature': base64.b64encode(self._private_key.sign(manifest_bytes)).decode('ascii')}
        return manifest_bytes, (json.dumps(signature, sort_keys=True) + '\n').encode('utf-8')


def plan_build(source_dir, private_key_path, passphrase=None, version=None, models=None, hardware_revisions=(),
               min_source_version=None, security_version=0, valid_days=365, description=None, now=None):
    """The ``BuildPlan`` of ``build`` (same arguments but ``dest``): options checked, key loaded, payload hashed,
    nothing written. Check mode and the up-to-date test use it."""
    problem = _version_problem(version, 'version')
    if problem:
        raise BundleError(problem, 'give a version such as 2.4.0 (digits, letters, ". + ~ -")')
    if isinstance(models, str):
        models = [models]
    if not _string_list(list(models or ())) or not models:
        raise BundleError('models must be a non-empty list of model names',
                          'give the models the bundle fits, e.g. [t100]')
    revisions = [hardware_revisions] if isinstance(hardware_revisions, str) else list(hardware_revisions or ())
    if not _string_list(revisions):
        raise BundleError('hardware_revisions must be a list of revision names',
                          'give e.g. [A, B], or [] for every revision')
    if min_source_version is not None:
        problem = _version_problem(min_source_version, 'min_source_version')
        if problem:
            raise BundleError(problem, 'give a version such as 2.2.0, or none')
    for name, value in (('security_version', security_version), ('valid_days', valid_days)):
        if isinstance(value, bool) or not isinstance(value, int):
            raise BundleError(f'{name} {value!r} is not an integer', f'give {name} as a whole number')
    problem = range_problem({'security_version': security_version, 'valid_days': valid_days}, OPTION_RANGES)
    if problem:
        raise BundleError(*problem)
    if description is not None and not isinstance(description, str):
        raise BundleError('description is not a string', 'give free text, or none')

    private_key = _load_private(private_key_path, passphrase)
    created = _utc(now)
    payload = _payload_files(source_dir)
    files = {}
    for rel, (path, size, mode) in payload.items():
        files[rel] = {'sha256': _io.file_sha256(path), 'size': size, 'mode': f'{mode:04o}'}
    manifest = {
        'format': FORMAT, 'kind': 'firmware', 'version': version, 'models': list(models),
        'hardware_revisions': revisions, 'min_source_version': min_source_version,
        'security_version': security_version, 'created': _format_time(created),
        'expires': _format_time(created + datetime.timedelta(days=valid_days)),
        'key_id': _key_id_of(private_key.public_key()), 'files': files,
    }
    if description is not None:
        manifest['description'] = description
    return BuildPlan(source_dir, manifest, payload, private_key)


def write_plan(plan, dest):
    """Write the bundle of ``plan`` to ``dest`` (a temporary file next to it, renamed over it: a reader sees the
    old bundle or the new one); returns the manifest."""
    source = os.path.realpath(plan.source_dir)
    if os.path.realpath(dest).startswith(source + os.sep):
        raise BundleError(f'the bundle {dest} would be written inside its payload directory {plan.source_dir}',
                          'write the bundle outside the payload directory (the next build would carry it)')
    manifest_bytes, signature_bytes = plan.sign()
    directory = os.path.dirname(os.path.abspath(dest))
    try:
        os.makedirs(directory, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix='.' + os.path.basename(dest) + '.', suffix='.tmp', dir=directory)
    except OSError as exc:
        raise BundleError(f'cannot write the bundle {dest}: {exc.strerror}',
                          'give a destination in a directory the controller user may write') from None
    mtime = int(_parse_time(plan.manifest['created'], 'created').timestamp())
    files = plan.manifest['files']
    try:
        os.fchmod(fd, 0o644)
        with os.fdopen(fd, 'wb') as raw, tarfile.open(fileobj=raw, mode='w:', format=tarfile.PAX_FORMAT) as tar:
            tar.addfile(_tarinfo(MANIFEST_NAME, len(manifest_bytes), 0o644, mtime), io.BytesIO(manifest_bytes))
            tar.addfile(_tarinfo(SIGNATURE_NAME, len(signature_bytes), 0o644, mtime), io.BytesIO(signature_bytes))
            for rel, (path, size, mode) in sorted(plan.payload.items()):
                with open(path, 'rb') as handle:
                    reader = _HashingReader(handle)
                    tar.addfile(_tarinfo(PAYLOAD_PREFIX + rel, size, mode, mtime), reader)
                if reader.digest.hexdigest() != files[rel]['sha256'] or os.path.getsize(path) != size:
                    raise BundleError(f'payload {rel} changed while the bundle was being built',
                                      'build again once nothing writes to the payload directory')
            tar.close()
            raw.flush()
            os.fsync(raw.fileno())
        os.replace(tmp, dest)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    _io.fsync_path(directory)
    return plan.manifest


def build(source_dir, dest, private_key_path, passphrase=None, version=None, models=None, hardware_revisions=(),
          min_source_version=None, security_version=0, valid_days=365, description=None, now=None):
    """Build and sign the bundle ``dest`` from the payload directory ``source_dir``; returns the manifest.

    ``now`` (a datetime, epoch or ``...Z`` string; default: the current time) is the bundle's ``created`` time;
    it expires ``valid_days`` days later. The tar depends only on the inputs and ``now`` (members in sorted
    order, their mtime = created, owner 0): Ed25519 signatures are deterministic.
    """
    plan = plan_build(source_dir, private_key_path, passphrase=passphrase, version=version, models=models,
                      hardware_revisions=hardware_revisions, min_source_version=min_source_version,
                      security_version=security_version, valid_days=valid_days, description=description, now=now)
    return write_plan(plan, dest)


def _validity(manifest):
    return _parse_time(manifest['expires'], 'expires') - _parse_time(manifest['created'], 'created')


def stale_reasons(dest, plan, pinned_created=False, now=None):
    """Why the bundle at ``dest`` is not what ``plan`` would write (``[]``: it is, leave it alone).

    The same build means: a well-formed bundle, signed by the plan's key with an intact signature and payload,
    whose manifest equals the plan's in everything but ``created`` and ``expires``, valid for as long, and not
    expired at ``now``. With ``pinned_created`` (the caller fixed ``created``), ``created`` must match too and an
    expired bundle is what was asked for."""
    if not os.path.exists(dest):
        return [f'{dest} does not exist']
    try:
        bundle = read_bundle(dest)
    except BundleError as exc:
        return [f'the file at {dest} is not a readable bundle ({exc.message})']
    old, new = bundle.manifest, plan.manifest
    reasons = [f'{name} differs' for name in sorted((set(old) | set(new)) - {'created', 'expires'})
               if old.get(name) != new.get(name)]
    if _validity(old) != _validity(new):
        reasons.append('the validity period differs')
    if pinned_created and old['created'] != new['created']:
        reasons.append('created differs')
    if reasons:
        return reasons
    try:
        # at its own creation time: this checks the signature and payload, not the clock
        verify(bundle, load_trust([plan.public_key_pem]), now=old['created'])
    except BundleError as exc:
        return [exc.message]
    if not pinned_created and _utc(now) >= _parse_time(old['expires'], 'expires'):
        return [f'it expired at {old["expires"]}']
    return []


# --- read -------------------------------------------------------------------------------------------------------

class _MemberReader(io.RawIOBase):
    """The bytes of one tar member, read from its offset in the bundle file."""

    def __init__(self, path, offset, size):
        super().__init__()
        # Held open for the reader's life and closed by close(): no with block can span it.
        self._handle = open(path, 'rb')  # noqa: SIM115  # pylint: disable=consider-using-with
        self._handle.seek(offset)
        self._left = size

    def readable(self):
        return True

    def readinto(self, buffer):
        if self._left <= 0:
            return 0
        view = memoryview(buffer)[:min(len(buffer), self._left)]
        count = self._handle.readinto(view)
        if not count:
            raise BundleError('the bundle file ends inside a payload member (truncated or changed while read)',
                              'copy the bundle again')
        self._left -= count
        return count

    def close(self):
        if not self.closed:
            self._handle.close()
        super().close()


class Bundle:
    """A bundle whose structure and manifest shape are checked (``read_bundle``); ``verify`` checks trust."""

    def __init__(self, path, manifest, manifest_bytes, signature, sha256, size, members):
        self.path = path
        self.manifest = manifest
        self.manifest_bytes = manifest_bytes
        self.signature = signature
        self.sha256 = sha256
        self.size = size
        self._members = members  # rel -> (data offset, size)

    def __repr__(self):
        return f'Bundle({self.path!r}, version={self.manifest.get("version")!r})'

    def files(self):
        """The manifest's ``files``: ``{rel: {sha256, size, mode}}``."""
        return self.manifest['files']

    def open_payload(self, rel):
        """A binary file object reading ``payload/<rel>`` (close it, or use it in ``with``)."""
        if rel not in self._members:
            raise BundleError(f'bundle {self.path} has no payload {rel!r}', 'ask only for files the manifest lists')
        offset, size = self._members[rel]
        return io.BufferedReader(_MemberReader(self.path, offset, size), buffer_size=CHUNK)

    def extract(self, rels, dest_dir):
        """Write the payload files ``rels`` under ``dest_dir`` (parents created) with their manifest modes, each
        checked against its sha256 before it gets its name (a mismatch leaves no file). Returns the paths."""
        written = []
        for rel in rels:
            entry = self.files().get(rel)
            if entry is None:
                raise BundleError(f'bundle {self.path} has no payload {rel!r}', 'ask only for files the manifest lists')
            target = os.path.join(dest_dir, *rel.split('/'))
            os.makedirs(os.path.dirname(target), exist_ok=True)
            fd, tmp = tempfile.mkstemp(prefix='.' + os.path.basename(target) + '.', suffix='.tmp',
                                       dir=os.path.dirname(target))
            try:
                os.fchmod(fd, int(entry['mode'], 8))
                digest = hashlib.sha256()
                with os.fdopen(fd, 'wb') as out, self.open_payload(rel) as src:
                    for chunk in _io.read_chunks(src):
                        digest.update(chunk)
                        out.write(chunk)
                if digest.hexdigest() != entry['sha256']:
                    raise BundleError(f'bundle {self.path}: payload {rel} does not match its sha256 in the manifest',
                                      'the bundle is damaged or tampered with: build or copy it again')
                os.replace(tmp, target)
            except BaseException:
                if os.path.exists(tmp):
                    os.unlink(tmp)
                raise
            written.append(target)
        return written


def _read_member(tar, member, limit, path):
    if member.size > limit:
        raise BundleError(f'bundle {path}: {member.name} is {member.size} bytes, more than {limit}',
                          'this is not a bundle made by firmware_bundle: build it again')
    return tar.extractfile(member).read()


def _read_structure(tar, path, rebuild):
    """The members of an open bundle tar, checked for order, type and names; and the manifest and signature bytes."""
    members = tar.getmembers()
    names = [m.name for m in members]
    if names[:2] != [MANIFEST_NAME, SIGNATURE_NAME]:
        raise BundleError(f'bundle {path} does not start with {MANIFEST_NAME} and {SIGNATURE_NAME} '
                          f'(its first members: {names[:2]})', rebuild)
    seen = set()
    for member in members:
        if member.name in seen:
            raise BundleError(f'bundle {path} holds {member.name!r} twice', rebuild)
        seen.add(member.name)
        if member.type not in (tarfile.REGTYPE, tarfile.AREGTYPE) or member.issparse():
            raise BundleError(f'bundle {path}: member {member.name!r} is not a regular file (a link, device, '
                              'directory or sparse file)', rebuild)
    for member in members[2:]:
        rel = member.name[len(PAYLOAD_PREFIX):]
        if not member.name.startswith(PAYLOAD_PREFIX) or not _safe_rel(rel):
            raise BundleError(f'bundle {path}: member {member.name!r} is not a safe payload/<relative path>', rebuild)
    manifest_bytes = _read_member(tar, members[0], MAX_MANIFEST_BYTES, path)
    return members, manifest_bytes, _read_member(tar, members[1], MAX_SIGNATURE_BYTES, path)


def read_bundle(path):
    """Open the bundle at ``path``: its tar structure and manifest shape checked, nothing verified or extracted.
    Raises ``BundleError`` on anything malformed."""
    rebuild = 'this is not a well-formed bundle: build it again with firmware_bundle state=bundle'
    try:
        size = os.path.getsize(path)
        with tarfile.open(path, mode='r:') as tar:
            members, manifest_bytes, signature_bytes = _read_structure(tar, path, rebuild)
    except OSError as exc:
        raise BundleError(f'cannot read the bundle {path}: {exc.strerror}', 'give the path of a .posfw file') from None
    except tarfile.TarError as exc:
        raise BundleError(f'bundle {path} is not a readable uncompressed tar ({exc})', rebuild) from None
    try:
        manifest = json.loads(manifest_bytes.decode('utf-8'), object_pairs_hook=_no_duplicate_keys)
    except ValueError as exc:
        raise BundleError(f'bundle {path}: {MANIFEST_NAME} is not UTF-8 JSON ({exc})', rebuild) from None
    problems = _manifest_problems(manifest)
    if problems:
        raise BundleError(f'bundle {path}: {"; ".join(problems)}', rebuild)
    try:
        signature = json.loads(signature_bytes.decode('utf-8'), object_pairs_hook=_no_duplicate_keys)
    except ValueError as exc:
        raise BundleError(f'bundle {path}: {SIGNATURE_NAME} is not UTF-8 JSON ({exc})', rebuild) from None
    if (not isinstance(signature, dict) or set(signature) != {'algorithm', 'key_id', 'signature'}
            or signature['algorithm'] != ALGORITHM or signature['key_id'] != manifest['key_id']
            or not isinstance(signature['signature'], str)):
        raise BundleError(f'bundle {path}: {SIGNATURE_NAME} must be {{"algorithm": "ed25519", "key_id": <the '
                          f'manifest key_id>, "signature": <base64>}}', rebuild)
    try:
        if len(base64.b64decode(signature['signature'], validate=True)) != 64:
            raise ValueError('not 64 bytes')
    except (binascii.Error, ValueError):
        raise BundleError(f'bundle {path}: the signature is not base64 of 64 bytes', rebuild) from None
    files = manifest['files']
    payload = {}
    for member in members[2:]:
        rel = member.name[len(PAYLOAD_PREFIX):]
        if rel not in files:
            raise BundleError(f'bundle {path}: member {member.name!r} is not listed in the manifest', rebuild)
        if member.size != files[rel]['size']:
            raise BundleError(f'bundle {path}: {member.name} is {member.size} bytes, the manifest says '
                              f'{files[rel]["size"]}', rebuild)
        payload[rel] = (member.offset_data, member.size)
    missing = sorted(set(files) - set(payload))
    if missing:
        raise BundleError(f'bundle {path}: the manifest lists files the bundle does not hold: '
                          f'{", ".join(missing[:5])}', rebuild)
    return Bundle(path, manifest, manifest_bytes, signature, _io.file_sha256(path), size, payload)


# --- verify -----------------------------------------------------------------------------------------------------

def verify(bundle, trust, now=None):
    """Check that ``bundle`` is signed by a trusted key that is not revoked, is not expired, was not created in
    the future (beyond ``CLOCK_SKEW``), and that every payload member matches its size and sha256. Returns the
    manifest; raises ``BundleError`` on the first problem."""
    _need_cryptography()
    manifest = bundle.manifest
    signer = manifest['key_id']
    where = f'bundle {bundle.path} (version {manifest["version"]})'
    if signer in trust.revoked:
        raise BundleError(f'{where} is signed by key {signer}, which is revoked',
                          'use a bundle rebuilt and signed with a key that is trusted and not revoked')
    public_key = trust.keys.get(signer)
    if public_key is None:
        raise BundleError(f'{where} is signed by key {signer}, which is not among the trusted keys '
                          f'({", ".join(sorted(trust.keys)) or "none given"})',
                          'sign the bundle with a trusted key, or add its public key to the trusted keys '
                          'if you trust who made it')
    try:
        public_key.verify(base64.b64decode(bundle.signature['signature']), bundle.manifest_bytes)
    except InvalidSignature:
        raise BundleError(f'{where}: the signature of key {signer} does not match the manifest (tampered with, '
                          'or damaged)', 'build the bundle again, or copy it again from where it was built') from None
    moment = _utc(now)
    expires = _parse_time(manifest['expires'], 'expires')
    if moment >= expires:
        raise BundleError(f'{where} expired at {manifest["expires"]}',
                          'rebuild the bundle (an expired bundle may be an old one replayed: a freeze attack)')
    created = _parse_time(manifest['created'], 'created')
    if created > moment + CLOCK_SKEW:
        raise BundleError(f'{where} was created at {manifest["created"]}, in the future (the controller time is '
                          f'{_format_time(moment)})', 'fix the clock of the controller or of the build host, '
                          'then rebuild the bundle')
    for rel, entry in sorted(manifest['files'].items()):
        digest = hashlib.sha256()
        count = 0
        with bundle.open_payload(rel) as handle:
            for chunk in _io.read_chunks(handle):
                digest.update(chunk)
                count += len(chunk)
        if count != entry['size'] or digest.hexdigest() != entry['sha256']:
            raise BundleError(f'{where}: payload {rel} does not match its sha256 in the signed manifest',
                              'the bundle is damaged or tampered with: build or copy it again')
    return manifest


# --- the terminal -----------------------------------------------------------------------------------------------

def target_problems(manifest, terminal, allow_downgrade=False):
    """Why the bundle ``manifest`` may not go onto ``terminal`` (``{model, hardware_revision, active_version,
    security_version}``): ``[]`` when it may. Each problem is a sentence ending with ``Fix: ...``. A security
    version below the terminal's floor is refused even with ``allow_downgrade``."""
    problems = []
    version = manifest['version']
    model = terminal.get('model')
    if model not in manifest['models']:
        problems.append(f'firmware {version} is for models {", ".join(manifest["models"])}, not {model}. '
                        f'Fix: use the bundle built for {model}.')
    revisions = manifest.get('hardware_revisions') or []
    revision = terminal.get('hardware_revision')
    if revisions and revision not in revisions:
        problems.append(f'firmware {version} is for hardware revisions {", ".join(revisions)}, not {revision}. '
                        f'Fix: use the bundle built for hardware revision {revision}.')
    active = terminal.get('active_version')
    try:
        active_known = active is not None and _version.parse(active) is not None
    except ValueError:
        active_known = False
    minimum = manifest.get('min_source_version')
    if minimum is not None:
        if not active_known:
            problems.append(f'firmware {version} needs version {minimum} or newer installed first; the terminal '
                            f'reports {active!r}. Fix: check the terminal\'s firmware, or install {minimum} first.')
        elif _version.compare(active, minimum) < 0:
            problems.append(f'firmware {version} needs version {minimum} or newer installed first, the terminal '
                            f'runs {active}. Fix: update to {minimum} (or a later bridge version) first.')
    if active_known and _version.compare(version, active) < 0 and not allow_downgrade:
        problems.append(f'firmware {version} is older than the running {active} (a downgrade). '
                        f'Fix: set allow_downgrade if you mean it.')
    floor = terminal.get('security_version') or 0
    if manifest['security_version'] < floor:
        problems.append(f'firmware {version} has security version {manifest["security_version"]}, below the '
                        f'terminal\'s floor {floor} (a rollback to a version with known holes; allow_downgrade '
                        f'does not override it). Fix: use a bundle with security version {floor} or higher.')
    return problems


def slot_manifest(manifest):
    """The manifest.json a terminal slot gets for this bundle (slots.manifest_problems reads its first keys)."""
    return {
        'version': manifest['version'],
        'models': list(manifest['models']),
        'files': {rel: entry['sha256'] for rel, entry in sorted(manifest['files'].items())},
        'security_version': manifest['security_version'],
        'hardware_revisions': list(manifest.get('hardware_revisions') or []),
        'bundle_key_id': manifest['key_id'],
    }
