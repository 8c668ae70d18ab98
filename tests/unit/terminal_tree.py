# Copyright (c) posfleet developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Test helpers: a reference terminal's file tree under a temporary root, and a tiny posd on a Unix socket."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import shutil
import socket
import sqlite3
import tempfile
import threading
import time

from ansible_collections.posfleet.terminals.plugins.module_utils._platform import pam

# What a healthy t100's daemon reports for its devices (status 'hardware' and selftest 'devices').
HARDWARE = {
    'card_reader': {'present': True, 'ok': True, 'detail': 'ok', 'status': 'ok', 'swipe_count': 1520},
    'scanner': {'present': True, 'ok': True, 'detail': 'ok', 'status': 'ok', 'scan_count': 3100},
    'printer': {'present': True, 'ok': True, 'detail': 'ok', 'paper_pct': 80, 'jam': False, 'head_wear_km': 12.5,
                'head_life_km': 150, 'cover_open': False},
    'battery': {'present': False, 'ok': None, 'detail': 'not present'},
    'sensors': {'present': True, 'ok': True, 'detail': 'ok', 'temperature_c': 38.5, 'humidity_pct': 41},
}

TERMINAL = {'platform': 'posfleet-reference', 'terminal_id': 'SH01-T100-01', 'serial': 'PF1A2B3C4D',
            'model': 't100', 'store': 'sh01', 'timezone': 'Asia/Shanghai'}
MODEL = {'model': 't100', 'vendor': 'PosFleet', 'hardware_revision': 'A', 'description': 'Countertop terminal',
         'peripherals': {'card_reader': True, 'scanner': True, 'printer': True, 'battery': False, 'sensors': True}}
BOOTENV = {'active_slot': 'a', 'upgrade_available': 0, 'bootcount': 0, 'bootlimit': 3, 'last_boot': 1700000000,
           'last_fallback': None, 'boots': 12}


def write_json(root, path, data):
    full = os.path.join(str(root), path.lstrip('/'))
    os.makedirs(os.path.dirname(full), exist_ok=True)
    with open(full, 'w', encoding='utf-8') as handle:
        if isinstance(data, (bytes, str)):
            handle.write(data if isinstance(data, str) else data.decode())
        else:
            json.dump(data, handle)
    return full


# A posd that boots: what makes a slot bootable for posboot (slots.slot_problems) is an executable bin/posd.
POSD = b'#!/bin/sh\nexec sleep 3600\n'
# The account the write-side tests manage: the test runner's own uid, so that chown works without root.
USER = 'cashier'
USER_HASH = '$6$abcdefgh$' + 'x' * 86


def make_firmware(directory, version, posd=POSD):
    """A firmware bundle in ``directory`` (bin/posd, bin/posctl); returns its manifest."""
    os.makedirs(os.path.join(directory, 'bin'), exist_ok=True)
    files = {}
    for rel, data in (('bin/posd', posd), ('bin/posctl', b'#!/bin/sh\n')):
        path = os.path.join(directory, rel)
        with open(path, 'wb') as handle:
            handle.write(data)
        os.chmod(path, 0o755)
        files[rel] = hashlib.sha256(data).hexdigest()
    return {'version': version, 'models': ['t100'], 'files': files}


def install_slot(root, slot, version):
    """A bootable slot ``slot`` holding firmware ``version``; returns its manifest."""
    directory = os.path.join(str(root), 'slots', slot)
    manifest = make_firmware(directory, version)
    write_json(root, f'/slots/{slot}/manifest.json', manifest)
    write_json(root, f'/slots/{slot}/VERSION', version + '\n')
    return manifest


def write_accounts(root):
    """/etc/passwd and /etc/shadow with root, a no-login posadmin and ``USER`` (password ``USER_HASH``)."""
    uid, gid = os.getuid(), os.getgid()
    write_json(root, '/etc/passwd', f'root:x:0:0:root:/root:/bin/bash\n'
               f'posadmin:x:1000:1000::/home/posadmin:/bin/bash\n{USER}:x:{uid}:{gid}:Cashier:/home/{USER}:/bin/bash\n')
    write_json(root, '/etc/shadow', 'root:*:20000:0:99999:7:::\nposadmin:*:20000:0:::::\n'
               f'{USER}:{USER_HASH}:20423:1:90:14:::\n')
    os.makedirs(os.path.join(str(root), 'home', USER), exist_ok=True)


def faillock_tally(*stamps):
    """A pam_faillock tally file's bytes: one valid failure record per epoch in ``stamps``."""
    return b''.join(pam.TALLY.pack(b'tty1', 0, pam.TALLY_STATUS_VALID, stamp) for stamp in stamps)


def lock_out(root, user, conf='/etc/security/faillock.conf'):
    """``user`` failed to log in twice within the interval of a faillock with ``deny = 2``: locked out."""
    write_json(root, conf, 'dir = /var/run/faillock\ndeny = 2\n')
    now = int(time.time())
    with open(write_json(root, f'/var/run/faillock/{user}', ''), 'wb') as handle:
        handle.write(faillock_tally(now - 5, now - 2))


def ed25519_line(seed, comment):
    """An OpenSSH ed25519 public key line (a well-formed blob; the key itself is made up) and its blob."""
    name = b'ssh-ed25519'
    blob = len(name).to_bytes(4, 'big') + name + (32).to_bytes(4, 'big') + hashlib.sha256(seed).digest()
    return f'ssh-ed25519 {base64.b64encode(blob).decode()} {comment}', blob


def make_journal(path, today):
    conn = sqlite3.connect(path)
    conn.executescript('''
        CREATE TABLE transactions (id INTEGER PRIMARY KEY, ts TEXT NOT NULL, batch_id TEXT NOT NULL,
          pan_masked TEXT NOT NULL, amount_minor INTEGER NOT NULL, currency TEXT NOT NULL,
          status TEXT NOT NULL, auth_code TEXT, training INTEGER NOT NULL DEFAULT 0);
        CREATE TABLE batches (batch_id TEXT PRIMARY KEY, opened TEXT NOT NULL, settled TEXT);
    ''')
    conn.executemany('INSERT INTO batches VALUES (?, ?, ?)', [
        ('B1', '2020-01-01T00:00:00Z', '2020-01-01T23:00:00Z'),
        ('B2', today + 'T00:00:00Z', None),
    ])
    rows = [
        ('2020-01-01T10:00:00Z', 'B1', 1000, 'approved', 0),
        (today + 'T01:00:00Z', 'B2', 1200, 'approved', 0),
        (today + 'T02:00:00Z', 'B2', 800, 'approved', 0),
        (today + 'T03:00:00Z', 'B2', 500, 'declined', 0),
        (today + 'T04:00:00Z', 'B2', 1, 'approved', 1),  # training: never counted
    ]
    conn.executemany("INSERT INTO transactions (ts, batch_id, pan_masked, amount_minor, currency, status, training) "
                     "VALUES (?, ?, '622848******1234', ?, 'CNY', ?, ?)", rows)
    conn.commit()
    conn.close()


class FakePosd:
    """A Unix-socket server answering each connection with the next scripted answer.

    An answer is a dict (sent as one JSON line), bytes (sent raw), ``None`` (close without answering) or
    ``'hang'`` (read the request, then answer nothing until the test ends).
    """

    def __init__(self, answers):
        self.dir = tempfile.mkdtemp(prefix='pf', dir='/tmp')  # AF_UNIX paths must stay short
        self.path = os.path.join(self.dir, 'posd.sock')
        self.answers = list(answers)
        self.requests = []
        self.raw = []
        self.release = threading.Event()
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.bind(self.path)
        self.sock.listen(5)
        self.sock.settimeout(10)
        self.thread = threading.Thread(target=self.serve, daemon=True)
        self.thread.start()

    def serve(self):
        for answer in self.answers:
            try:
                conn, dummy = self.sock.accept()
            except OSError:
                return
            with conn:
                conn.settimeout(10)
                data = b''
                while b'\n' not in data:
                    chunk = conn.recv(4096)
                    if not chunk:
                        break
                    data += chunk
                self.raw.append(data)
                self.requests.append(json.loads(data.decode('utf-8')))
                if answer == 'hang':
                    self.release.wait(10)
                elif isinstance(answer, bytes):
                    conn.sendall(answer)
                elif answer is not None:
                    conn.sendall((json.dumps(answer) + '\n').encode('utf-8'))

    def close(self):
        self.release.set()
        self.sock.close()
        self.thread.join(5)
        shutil.rmtree(self.dir, ignore_errors=True)
