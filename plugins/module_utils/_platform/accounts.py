# Copyright (c) posfleet developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Local accounts as a Debian-like terminal keeps them: passwd/shadow entries and OpenSSH authorized keys.

Pure parsing and validation (no writes): the platform decides where the files are and how they are changed.
Private to the collection; Python >= 3.9 standard library only.
"""

from __future__ import annotations

import base64
import binascii
import datetime
import hashlib
import re

# crypt(5) hashes a terminal may hold: yescrypt, gost-yescrypt, scrypt, bcrypt, sha512/256-crypt, md5-crypt.
HASH_RE = re.compile(r'\$(y|gy|7|2[abxy]|6|5|1)\$[./0-9A-Za-z$=,]{8,}')
KEY_TYPES = ('ssh-ed25519', 'ssh-rsa', 'ecdsa-sha2-nistp256', 'ecdsa-sha2-nistp384', 'ecdsa-sha2-nistp521',
             'sk-ssh-ed25519@openssh.com', 'sk-ecdsa-sha2-nistp256@openssh.com')
KEY_RE = re.compile(r'^(?:(?P<options>\S.*?)\s+)??(?P<type>' + '|'.join(re.escape(t) for t in KEY_TYPES)
                    + r')\s+(?P<blob>[A-Za-z0-9+/]+={0,2})(?:\s+(?P<comment>.*))?$')
USER_RE = re.compile(r'[a-z_][a-z0-9_.-]{0,31}\$?')


def parse_passwd(text):
    """``{user: {uid, gid, home, shell, gecos}}`` from /etc/passwd's text."""
    users = {}
    for line in text.splitlines():
        fields = line.split(':')
        if len(fields) < 7 or not fields[0] or line.startswith(('#', '+', '-')):
            continue
        try:
            uid, gid = int(fields[2]), int(fields[3])
        except ValueError:
            continue
        users[fields[0]] = {'uid': uid, 'gid': gid, 'gecos': fields[4], 'home': fields[5], 'shell': fields[6]}
    return users


def parse_shadow(text):
    """``{user: [9 fields]}`` from /etc/shadow's text."""
    entries = {}
    for line in text.splitlines():
        fields = line.split(':')
        if len(fields) >= 9 and fields[0]:
            entries[fields[0]] = fields[:9]
    return entries


def _days(value):
    try:
        return int(value)
    except ValueError:
        return None


def password_state(field):
    """What a shadow password field says, never the hash: ``hash`` | ``locked`` | ``no_login`` | ``empty``."""
    if field == '':
        return 'empty'
    if field.startswith('!'):
        return 'locked'
    if HASH_RE.fullmatch(field):
        return 'hash'
    return 'no_login'  # '*' and anything crypt() cannot match


def account_entry(user, passwd, shadow_fields):
    entry = {'user': user, 'uid': passwd['uid'], 'gid': passwd['gid'], 'home': passwd['home'],
             'shell': passwd['shell'], 'system': passwd['uid'] != 0 and passwd['uid'] < 1000,
             'password': None, 'last_change': None, 'min_days': None, 'max_days': None, 'warn_days': None,
             'inactive_days': None, 'expires': None}
    if shadow_fields:
        entry['password'] = password_state(shadow_fields[1])
        last = _days(shadow_fields[2])
        if last is not None:
            entry['last_change'] = (datetime.date(1970, 1, 1) + datetime.timedelta(days=last)).isoformat()
        for key, index in (('min_days', 3), ('max_days', 4), ('warn_days', 5), ('inactive_days', 6)):
            entry[key] = _days(shadow_fields[index])
        expires = _days(shadow_fields[7])
        if expires is not None:
            entry['expires'] = (datetime.date(1970, 1, 1) + datetime.timedelta(days=expires)).isoformat()
    return entry


def hash_problem(value):
    """Why ``value`` cannot be written as a password hash (``None``: it can)."""
    if not isinstance(value, str) or not HASH_RE.fullmatch(value):
        return 'it is not a crypt(5) hash ($y$, $6$, $5$, $2b$, ...); hash the password on the controller first'
    return None


def parse_key(line):
    """``{type, blob, comment, options, fingerprint}`` of one authorized_keys line, or ``None`` if it is not one."""
    line = line.strip()
    if not line or line.startswith('#') or '\n' in line or '\r' in line:
        return None
    match = KEY_RE.match(line)
    if not match:
        return None
    try:
        blob = base64.b64decode(match.group('blob'), validate=True)
    except (binascii.Error, ValueError):
        return None
    # The blob starts with its own type name (uint32 length + name): a pasted-together line fails here.
    name = match.group('type').encode()
    if blob[:4] != len(name).to_bytes(4, 'big') or blob[4:4 + len(name)] != name:
        return None
    fingerprint = 'SHA256:' + base64.b64encode(hashlib.sha256(blob).digest()).decode().rstrip('=')
    return {'type': match.group('type'), 'blob': match.group('blob'), 'comment': match.group('comment') or None,
            'options': match.group('options') or None, 'fingerprint': fingerprint, 'line': line}
