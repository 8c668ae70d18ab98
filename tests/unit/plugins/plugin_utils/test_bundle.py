# Copyright (c) posfleet developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Signed bundles with real Ed25519 keys and real tar files: build, read, verify, refuse, check a terminal."""

from __future__ import annotations

import base64
import datetime
import hashlib
import io
import json
import os
import stat
import tarfile

import pytest

from ansible_collections.posfleet.terminals.plugins.plugin_utils import _bundle

NOW = datetime.datetime(2026, 12, 2, 12, 0, 0, tzinfo=datetime.timezone.utc)


@pytest.fixture(scope='module')
def keys(tmp_path_factory):
    directory = tmp_path_factory.mktemp('keys')
    trusted = _bundle.generate_keypair(str(directory / 'trusted.key'), str(directory / 'trusted.pub'), 'secret')
    other = _bundle.generate_keypair(str(directory / 'other.key'), str(directory / 'other.pub'))
    return {'trusted': trusted, 'other': other, 'passphrase': 'secret'}


@pytest.fixture()
def payload(tmp_path):
    root = tmp_path / 'payload'
    (root / 'bin').mkdir(parents=True)
    (root / 'lib').mkdir()
    (root / 'bin' / 'posd').write_bytes(b'#!/usr/bin/python3\nprint("posd")\n')
    (root / 'bin' / 'posd').chmod(0o755)
    (root / 'lib' / 'a.bin').write_bytes(os.urandom(70000))
    (root / 'lib' / 'a.bin').chmod(0o644)
    return root


def build(keys, payload, dest, **options):
    options.setdefault('version', '2.4.0')
    options.setdefault('models', ['t100', 'm200'])
    options.setdefault('now', NOW)
    return _bundle.build(str(payload), str(dest), keys['trusted']['private_key'], passphrase=keys['passphrase'],
                         **options)


def trust(keys, revoked=()):
    return _bundle.load_trust([keys['trusted']['public_key']], revoked)


def members(path):
    """[(TarInfo, bytes)] of a tar, to re-write it changed."""
    with tarfile.open(path, 'r:') as tar:
        return [(m, tar.extractfile(m).read() if m.isreg() else b'') for m in tar.getmembers()]


def write_tar(path, entries):
    with tarfile.open(path, 'w:', format=tarfile.PAX_FORMAT) as tar:
        for info, data in entries:
            info.size = len(data) if info.isreg() else 0
            tar.addfile(info, io.BytesIO(data) if info.isreg() else None)


def test_round_trip(keys, payload, tmp_path):
    dest = tmp_path / 'good.posfw'
    manifest = build(keys, payload, dest, hardware_revisions=['A'], min_source_version='2.2.0', security_version=3,
                     description='test build')
    bundle = _bundle.read_bundle(str(dest))
    assert bundle.manifest == manifest
    assert bundle.manifest_bytes == (json.dumps(manifest, indent=1, sort_keys=True) + '\n').encode()
    assert bundle.size == os.path.getsize(dest)
    assert bundle.sha256 == hashlib.sha256(dest.read_bytes()).hexdigest()
    assert _bundle.verify(bundle, trust(keys), now=NOW) == manifest
    assert manifest['key_id'] == keys['trusted']['key_id'] == bundle.signature['key_id']
    assert manifest['created'] == '2026-12-02T12:00:00Z' and manifest['expires'] == '2027-12-02T12:00:00Z'
    assert manifest['files']['bin/posd']['mode'] == '0755' and manifest['files']['lib/a.bin']['mode'] == '0644'
    assert manifest['files']['lib/a.bin']['size'] == 70000
    with bundle.open_payload('lib/a.bin') as handle:
        assert handle.read() == (payload / 'lib' / 'a.bin').read_bytes()
    out = tmp_path / 'out'
    written = bundle.extract(['bin/posd', 'lib/a.bin'], str(out))
    assert written == [str(out / 'bin' / 'posd'), str(out / 'lib' / 'a.bin')]
    assert (out / 'bin' / 'posd').read_bytes() == (payload / 'bin' / 'posd').read_bytes()
    assert stat.S_IMODE(os.stat(out / 'bin' / 'posd').st_mode) == 0o755
    with tarfile.open(dest, 'r:') as tar:
        assert tar.getnames() == ['manifest.json', 'manifest.sig', 'payload/bin/posd', 'payload/lib/a.bin']


def test_same_inputs_same_manifest(keys, payload, tmp_path):
    first = build(keys, payload, tmp_path / 'a.posfw')
    second = build(keys, payload, tmp_path / 'b.posfw')
    assert first == second


def test_keypair_files(keys):
    private = keys['trusted']['private_key']
    assert stat.S_IMODE(os.stat(private).st_mode) == 0o600
    with open(private, 'rb') as handle:
        assert b'ENCRYPTED PRIVATE KEY' in handle.read()
    with open(keys['other']['private_key'], 'rb') as handle:
        assert handle.read().startswith(b'-----BEGIN PRIVATE KEY-----')
    with open(keys['trusted']['public_key'], 'rb') as handle:
        pem = handle.read()
    assert pem.startswith(b'-----BEGIN PUBLIC KEY-----')
    assert _bundle.key_id(pem) == keys['trusted']['key_id'] != keys['other']['key_id']
    assert len(keys['trusted']['key_id']) == 16
    # PEM text works as well as a path
    assert set(_bundle.load_trust([pem.decode()]).keys) == {keys['trusted']['key_id']}


def test_wrong_passphrase(keys, payload, tmp_path):
    with pytest.raises(_bundle.BundleError, match='passphrase is wrong') as caught:
        _bundle.build(str(payload), str(tmp_path / 'x.posfw'), keys['trusted']['private_key'], passphrase='nope',
                      version='2.4.0', models=['t100'])
    assert caught.value.fix and str(caught.value) == f'{caught.value.message}. Fix: {caught.value.fix}'
    with pytest.raises(_bundle.BundleError, match='no passphrase was given'):
        _bundle.build(str(payload), str(tmp_path / 'x.posfw'), keys['trusted']['private_key'], version='2.4.0',
                      models=['t100'])
    assert not (tmp_path / 'x.posfw').exists()


@pytest.mark.parametrize('options, message', [
    ({'version': 'not a version'}, 'not a version string'),
    ({'version': 'v2'}, 'does not start with a digit'),
    ({'models': []}, 'non-empty list'),
    ({'security_version': -1}, 'integer >= 0'),
    ({'security_version': True}, 'integer >= 0'),
    ({'valid_days': 0}, 'integer >= 1'),
    ({'min_source_version': '../x'}, 'not a version string'),
])
def test_build_refuses_bad_options(keys, payload, tmp_path, options, message):
    with pytest.raises(_bundle.BundleError, match=message):
        build(keys, payload, tmp_path / 'x.posfw', **options)


def test_build_refuses_links_and_missing_posd(keys, payload, tmp_path):
    (payload / 'lib' / 'link').symlink_to('a.bin')
    with pytest.raises(_bundle.BundleError, match='not a regular file'):
        build(keys, payload, tmp_path / 'x.posfw')
    (payload / 'lib' / 'link').unlink()
    (payload / 'bin' / 'posd').unlink()
    with pytest.raises(_bundle.BundleError, match='has no bin/posd'):
        build(keys, payload, tmp_path / 'x.posfw')


def test_tampered_payload_byte(keys, payload, tmp_path):
    dest = tmp_path / 'good.posfw'
    build(keys, payload, dest)
    data = bytearray(dest.read_bytes())
    bundle = _bundle.read_bundle(str(dest))
    offset = bundle._members['lib/a.bin'][0]
    data[offset + 100] ^= 0x01
    dest.write_bytes(bytes(data))
    bundle = _bundle.read_bundle(str(dest))  # the structure is fine
    with pytest.raises(_bundle.BundleError, match='payload lib/a.bin does not match its sha256'):
        _bundle.verify(bundle, trust(keys), now=NOW)
    with pytest.raises(_bundle.BundleError, match='does not match its sha256'):
        bundle.extract(['lib/a.bin'], str(tmp_path / 'out'))
    assert not (tmp_path / 'out' / 'lib' / 'a.bin').exists()
    assert os.listdir(tmp_path / 'out' / 'lib') == []


def test_tampered_manifest(keys, payload, tmp_path):
    dest = tmp_path / 'good.posfw'
    manifest = build(keys, payload, dest)
    entries = members(dest)
    changed = dict(manifest, models=['t100', 'm200', 'x900'])
    entries[0] = (entries[0][0], (json.dumps(changed, indent=1, sort_keys=True) + '\n').encode())
    write_tar(dest, entries)
    bundle = _bundle.read_bundle(str(dest))
    with pytest.raises(_bundle.BundleError, match='signature of key .* does not match the manifest'):
        _bundle.verify(bundle, trust(keys), now=NOW)


def test_untrusted_key(keys, payload, tmp_path):
    dest = tmp_path / 'x.posfw'
    _bundle.build(str(payload), str(dest), keys['other']['private_key'], version='2.4.0', models=['t100'], now=NOW)
    bundle = _bundle.read_bundle(str(dest))
    with pytest.raises(_bundle.BundleError, match='not among the trusted keys') as caught:
        _bundle.verify(bundle, trust(keys), now=NOW)
    assert keys['other']['key_id'] in caught.value.message
    # a signature swapped in from the trusted key's bundle does not help
    good = tmp_path / 'good.posfw'
    build(keys, payload, good)
    entries = members(dest)
    signature = json.loads(entries[1][1])
    good_signature = json.loads(members(good)[1][1])
    manifest = json.loads(entries[0][1])
    manifest['key_id'] = signature['key_id'] = keys['trusted']['key_id']
    signature['signature'] = good_signature['signature']
    entries[0] = (entries[0][0], (json.dumps(manifest, indent=1, sort_keys=True) + '\n').encode())
    entries[1] = (entries[1][0], json.dumps(signature).encode())
    write_tar(dest, entries)
    with pytest.raises(_bundle.BundleError, match='does not match the manifest'):
        _bundle.verify(_bundle.read_bundle(str(dest)), trust(keys), now=NOW)


def test_revoked_key(keys, payload, tmp_path):
    dest = tmp_path / 'good.posfw'
    build(keys, payload, dest)
    bundle = _bundle.read_bundle(str(dest))
    revoked = trust(keys, revoked=[keys['trusted']['key_id'].upper()])
    with pytest.raises(_bundle.BundleError, match='which is revoked'):
        _bundle.verify(bundle, revoked, now=NOW)
    with pytest.raises(_bundle.BundleError, match='not 16 hex digits'):
        trust(keys, revoked=['abc'])


def test_expired_and_future(keys, payload, tmp_path):
    dest = tmp_path / 'good.posfw'
    build(keys, payload, dest, valid_days=30)
    bundle = _bundle.read_bundle(str(dest))
    _bundle.verify(bundle, trust(keys), now=NOW + datetime.timedelta(days=29))
    with pytest.raises(_bundle.BundleError, match='expired at 2027-01-01T12:00:00Z') as caught:
        _bundle.verify(bundle, trust(keys), now=NOW + datetime.timedelta(days=30))
    assert 'freeze' in caught.value.fix
    # created 4 minutes ahead of the controller: clock skew, accepted; 10 minutes: refused
    _bundle.verify(bundle, trust(keys), now=NOW - datetime.timedelta(minutes=4))
    with pytest.raises(_bundle.BundleError, match='in the future'):
        _bundle.verify(bundle, trust(keys), now=NOW - datetime.timedelta(minutes=10))


def test_now_forms(keys, payload, tmp_path):
    dest = tmp_path / 'good.posfw'
    manifest = build(keys, payload, dest, now='2020-01-01T00:00:00Z', valid_days=1)
    assert manifest['created'] == '2020-01-01T00:00:00Z' and manifest['expires'] == '2020-01-02T00:00:00Z'
    with pytest.raises(_bundle.BundleError, match='expired'):
        _bundle.verify(_bundle.read_bundle(str(dest)), trust(keys))  # the real clock
    manifest = build(keys, payload, dest, now=NOW.timestamp())
    assert manifest['created'] == '2026-12-02T12:00:00Z'


def _regular(name, data=b''):
    info = tarfile.TarInfo(name)
    info.size = len(data)
    return info, data


def _special(name, kind, linkname=''):
    info = tarfile.TarInfo(name)
    info.type = kind
    info.linkname = linkname
    return info, b''


MALFORMED = {
    'symlink': (lambda e: e + [_special('payload/lib/evil', tarfile.SYMTYPE, '/etc/passwd')], 'not a regular file'),
    'hardlink': (lambda e: e + [_special('payload/lib/evil', tarfile.LNKTYPE, 'payload/bin/posd')],
                 'not a regular file'),
    'device': (lambda e: e + [_special('payload/lib/evil', tarfile.CHRTYPE)], 'not a regular file'),
    'fifo': (lambda e: e + [_special('payload/lib/evil', tarfile.FIFOTYPE)], 'not a regular file'),
    'directory': (lambda e: e + [_special('payload/lib', tarfile.DIRTYPE)], 'not a regular file'),
    'absolute': (lambda e: e + [_regular('/payload/x', b'x')], 'not a safe payload'),
    'dotdot': (lambda e: e + [_regular('payload/../../etc/x', b'x')], 'not a safe payload'),
    'outside payload': (lambda e: e + [_regular('etc/x', b'x')], 'not a safe payload'),
    'unlisted': (lambda e: e + [_regular('payload/lib/extra.bin', b'x')], 'not listed in the manifest'),
    'duplicate': (lambda e: e + [e[-1]], 'twice'),
    'missing payload': (lambda e: e[:-1], 'the bundle does not hold'),
    'manifest missing': (lambda e: e[1:], 'does not start with manifest.json'),
    'signature missing': (lambda e: e[:1] + e[2:], 'does not start with manifest.json and manifest.sig'),
    'signature first': (lambda e: [e[1], e[0]] + e[2:], 'does not start with'),
    'payload first': (lambda e: [e[2], e[0], e[1]] + e[3:], 'does not start with'),
    'empty': (lambda e: [], 'does not start with'),
    'size differs': (lambda e: e[:-1] + [_regular(e[-1][0].name, e[-1][1] + b'x')], 'the manifest says'),
}


@pytest.mark.parametrize('case', sorted(MALFORMED))
def test_malformed_tar(keys, payload, tmp_path, case):
    dest = tmp_path / 'good.posfw'
    build(keys, payload, dest)
    change, message = MALFORMED[case]
    write_tar(dest, change(members(dest)))
    with pytest.raises(_bundle.BundleError, match=message) as caught:
        _bundle.read_bundle(str(dest))
    assert 'Fix:' in str(caught.value)


@pytest.mark.parametrize('content, message', [
    (b'', 'not a readable uncompressed tar'),
    (b'\x1f\x8b' + b'\x00' * 600, 'not a readable uncompressed tar'),
])
def test_not_a_tar(tmp_path, content, message):
    path = tmp_path / 'x.posfw'
    path.write_bytes(content)
    with pytest.raises(_bundle.BundleError, match=message):
        _bundle.read_bundle(str(path))


def test_missing_file(tmp_path):
    with pytest.raises(_bundle.BundleError, match='cannot read the bundle'):
        _bundle.read_bundle(str(tmp_path / 'none.posfw'))


def _rewrite_manifest(dest, edit):
    entries = members(dest)
    manifest = json.loads(entries[0][1])
    edit(manifest)
    entries[0] = (entries[0][0], (json.dumps(manifest, indent=1, sort_keys=True) + '\n').encode())
    write_tar(dest, entries)


@pytest.mark.parametrize('edit, message', [
    (lambda m: m.update(format='posfleet-bundle/2'), 'format'),
    (lambda m: m.update(kind='software'), 'kind'),
    (lambda m: m.pop('expires'), 'lacks expires'),
    (lambda m: m.update(extra=1), 'unknown keys extra'),
    (lambda m: m.update(expires=m['created']), 'expires before it is created'),
    (lambda m: m.update(created='yesterday'), 'not a UTC time'),
    (lambda m: m.update(security_version='3'), 'security_version'),
    (lambda m: m.update(key_id='xyz'), 'key_id'),
    (lambda m: m['files']['lib/a.bin'].update(mode='rwx'), 'octal mode'),
    (lambda m: m['files']['lib/a.bin'].update(sha256='ab'), '64 lowercase hex'),
    (lambda m: m['files'].pop('bin/posd'), 'include bin/posd'),
    (lambda m: m['files'].update({'../x': m['files']['bin/posd']}), 'unsafe path'),
])
def test_malformed_manifest(keys, payload, tmp_path, edit, message):
    dest = tmp_path / 'good.posfw'
    build(keys, payload, dest)
    _rewrite_manifest(dest, edit)
    with pytest.raises(_bundle.BundleError, match=message):
        _bundle.read_bundle(str(dest))


def test_duplicate_json_keys_and_bad_signature_shape(keys, payload, tmp_path):
    dest = tmp_path / 'good.posfw'
    build(keys, payload, dest)
    entries = members(dest)
    text = entries[0][1].decode()
    entries[0] = (entries[0][0], text.replace('{\n', '{\n "version": "9.9.9",\n', 1).encode())
    write_tar(dest, entries)
    with pytest.raises(_bundle.BundleError, match='duplicate key'):
        _bundle.read_bundle(str(dest))
    build(keys, payload, dest)
    entries = members(dest)
    signature = json.loads(entries[1][1])
    signature['signature'] = base64.b64encode(b'x' * 10).decode()
    entries[1] = (entries[1][0], json.dumps(signature).encode())
    write_tar(dest, entries)
    with pytest.raises(_bundle.BundleError, match='base64 of 64 bytes'):
        _bundle.read_bundle(str(dest))


MANIFEST = {'version': '2.4.0', 'models': ['t100', 'm200'], 'hardware_revisions': ['A', 'B'],
            'min_source_version': '2.2.0', 'security_version': 3}
TERMINAL = {'model': 't100', 'hardware_revision': 'A', 'active_version': '2.3.1', 'security_version': 3}


@pytest.mark.parametrize('manifest_change, terminal_change, allow_downgrade, expected', [
    ({}, {}, False, []),
    ({}, {'active_version': '2.4.0'}, False, []),  # the same version is no downgrade (the module reports ok)
    ({}, {'model': 'x900'}, False, ['is for models t100, m200, not x900']),
    ({}, {'hardware_revision': 'C'}, False, ['is for hardware revisions A, B, not C']),
    ({'hardware_revisions': []}, {'hardware_revision': 'C'}, False, []),
    ({}, {'active_version': '2.1.9'}, False, ['needs version 2.2.0 or newer installed first']),
    ({}, {'active_version': None}, False, ['needs version 2.2.0 or newer installed first']),
    ({'min_source_version': None}, {'active_version': '1.0'}, False, []),
    ({}, {'active_version': '2.5.0'}, False, ['(a downgrade)']),
    ({}, {'active_version': '2.5.0'}, True, []),
    ({}, {'active_version': '2.4.0~rc1'}, False, []),  # dpkg order: 2.4.0~rc1 < 2.4.0
    ({}, {'security_version': 4}, False, ['security version 3, below the terminal\'s floor 4']),
    ({}, {'security_version': 4, 'active_version': '2.5.0'}, True, ['below the terminal\'s floor 4']),
    ({}, {'security_version': None}, False, []),
    ({}, {'model': 'x900', 'hardware_revision': 'C', 'security_version': 9, 'active_version': '3.0'}, False,
     ['not x900', 'not C', 'a downgrade', 'floor 9']),
])
def test_target_problems(manifest_change, terminal_change, allow_downgrade, expected):
    manifest = dict(MANIFEST, **manifest_change)
    terminal = dict(TERMINAL, **terminal_change)
    problems = _bundle.target_problems(manifest, terminal, allow_downgrade=allow_downgrade)
    assert len(problems) == len(expected), problems
    for problem, fragment in zip(problems, expected):
        assert fragment in problem
        assert 'Fix: ' in problem and problem.endswith('.')


def test_slot_manifest(keys, payload, tmp_path):
    manifest = build(keys, payload, tmp_path / 'good.posfw', hardware_revisions=['A'], security_version=2)
    slot = _bundle.slot_manifest(manifest)
    assert slot == {
        'version': '2.4.0', 'models': ['t100', 'm200'], 'security_version': 2, 'hardware_revisions': ['A'],
        'bundle_key_id': keys['trusted']['key_id'],
        'files': {'bin/posd': manifest['files']['bin/posd']['sha256'],
                  'lib/a.bin': hashlib.sha256((payload / 'lib' / 'a.bin').read_bytes()).hexdigest()},
    }
    from ansible_collections.posfleet.terminals.plugins.module_utils._platform import slots
    assert slots.manifest_problems(slot) == []
