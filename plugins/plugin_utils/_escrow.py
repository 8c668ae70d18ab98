# Copyright (c) posfleet developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The escrow of the terminals' passwords on the controller: what each terminal's accounts hold, so that a run
killed at any point leaves a password that works, and the escrow says which.

One directory per terminal under the secrets directory:

- ``state.json`` holds no secret: per account the ``current`` and ``pending`` secrets' ids, when they were set,
  their crypt(5) hashes (what the terminal's /etc/shadow holds too), whether the current one was disclosed, and
  the ``history`` of retired hashes (the last four, to refuse a reuse);
- ``<id>.vault`` or ``<id>.age``: one file per password, encrypted, written once and never changed.

A rotation is ``begin`` (the new password's file, then ``pending`` in the state) before the terminal changes,
and ``commit`` (pending becomes current, the old current goes to the history) once the terminal was verified
with it, or ``abandon`` when the terminal still holds the current one. Each file is replaced atomically, the
secret's file before the state that names it, so a kill at any instant leaves the old password current and maybe
a new one pending: one of the two works on the terminal, and the next run finds out which (the platform's
password check) and ends the rotation.

Two ciphers. ``VaultCipher``: Ansible Vault with the run's vault secret, which reads back what it wrote. ``AgeCipher``:
age (https://age-encryption.org, Debian's ``age``) to the security officers' public keys. The controller holds no
identity, so it cannot read an escrowed password back: a stolen controller, or an AWX credential, discloses no
terminal's password; an officer's identity file reads one (``reveal``).

Private to the collection (leading underscore): it may change without notice.
"""

from __future__ import annotations

import contextlib
import datetime
import json
import os
import re
import secrets
import subprocess

from ansible_collections.posfleet.terminals.plugins.module_utils import _io
from ansible_collections.posfleet.terminals.plugins.plugin_utils._errors import FixableError

STATE_FILE = 'state.json'
HISTORY = 4  # retired hashes kept; with the current one they cover PCI DSS 8.3.7's last four
ID_RE = re.compile(r'[0-9a-f]{16}')
TERMINAL_RE = re.compile(r'[A-Za-z0-9][A-Za-z0-9_.-]{0,63}')
AGE_RECIPIENT_RE = re.compile(r'age1[0-9a-z]{58}')


class EscrowError(FixableError):
    """An escrow that cannot be written or read, with the fix."""


def _now():
    return datetime.datetime.now(datetime.timezone.utc).strftime('%Y-%m-%dT%H:%M:%SZ')


class VaultCipher:
    """Ansible Vault with the run's ``vault_secrets`` (``[(vault_id, VaultSecret)]``, ``loader._vault.secrets``)."""

    suffix = '.vault'

    def __init__(self, vault_secrets, vault_id=None):
        from ansible.parsing.vault import VaultLib  # controller side only

        if not vault_secrets:
            raise EscrowError('no vault password is given, so the escrow cannot be encrypted',
                              'run with --vault-password-file (or --ask-vault-pass), or use the age escrow')
        self._vault = VaultLib(vault_secrets)
        self._secret = dict(vault_secrets).get(vault_id) if vault_id else vault_secrets[0][1]
        self._vault_id = vault_id or vault_secrets[0][0]
        if self._secret is None:
            raise EscrowError(f'no vault password has the id {vault_id!r}', 'give --vault-id ' + vault_id + '@...')

    def encrypt(self, data):
        return self._vault.encrypt(data, secret=self._secret, vault_id=self._vault_id)

    def decrypt(self, data, path):
        from ansible.errors import AnsibleError

        try:
            return self._vault.decrypt(data)
        except AnsibleError:
            raise EscrowError(f'{path} does not open with the vault password given',
                              'give the vault password the escrow was written with') from None


class AgeCipher:
    """age to ``recipients`` (public keys ``age1...``); ``identity_file`` (an officer's) only to ``reveal``."""

    suffix = '.age'

    def __init__(self, recipients, identity_file=None, binary='age'):
        recipients = [str(r).strip() for r in recipients or () if str(r).strip()]
        if not recipients:
            raise EscrowError('no age recipient is given, so nobody could read the escrow',
                              'give the security officers\' public keys (age1..., from age-keygen -y)')
        for recipient in recipients:
            if not AGE_RECIPIENT_RE.fullmatch(recipient):
                raise EscrowError(f'{recipient[:12]}... is not an age public key',
                                  'give public keys as age-keygen prints them (age1 and 58 characters)')
        self.recipients = recipients
        self.identity_file = identity_file
        self.binary = binary

    def _run(self, args, data, what):
        try:
            proc = subprocess.run([self.binary] + args, input=data, capture_output=True, check=False, timeout=60)
        except FileNotFoundError:
            raise EscrowError(f'{self.binary} is not installed on the controller',
                              'install Debian\'s age package (apt-get install age)') from None
        if proc.returncode:
            detail = proc.stderr.decode('utf-8', 'replace').strip().splitlines()[-1:] or ['no message']
            raise EscrowError(f'age could not {what}: {detail[0][:200]}', 'check the keys and the file')
        return proc.stdout

    def encrypt(self, data):
        args = []
        for recipient in self.recipients:
            args += ['-r', recipient]
        return self._run(args, data, 'encrypt')

    def decrypt(self, data, path):
        if not self.identity_file:
            raise EscrowError(f'{path} is encrypted to the security officers, and no identity is given',
                              'an officer reads it with their age identity file (identity_file)')
        if not os.path.isfile(self.identity_file):
            raise EscrowError(f'the age identity file {self.identity_file} is missing',
                              'give the path of an officer\'s identity file (age-keygen -o)')
        try:
            return self._run(['-d', '-i', self.identity_file], data, f'decrypt {path}')
        except EscrowError as exc:
            raise EscrowError(exc.message, 'give the identity of an officer the escrow was encrypted to') from None


class Escrow:
    """The escrow of one terminal, in ``<directory>/<terminal_id>/``."""

    def __init__(self, directory, terminal_id, cipher):
        if not TERMINAL_RE.fullmatch(str(terminal_id)):
            raise EscrowError(f'{terminal_id!r} cannot name an escrow directory',
                              'give the terminal id (letters, digits, ".", "_" and "-")')
        self.terminal_id = str(terminal_id)
        self.path = os.path.join(os.path.abspath(directory), self.terminal_id)
        self.cipher = cipher

    # --- files -------------------------------------------------------------------------------------------------

    def _state_path(self):
        return os.path.join(self.path, STATE_FILE)

    def state(self):
        """The clear state: ``{terminal_id, accounts: {account: {current, pending, history}}}``."""
        try:
            with open(self._state_path(), encoding='utf-8') as handle:
                document = json.load(handle)
        except FileNotFoundError:
            return {'terminal_id': self.terminal_id, 'accounts': {}}
        except ValueError:
            raise EscrowError(f'{self._state_path()} is not JSON', 'restore it from the controller\'s backup') from None
        return document

    def account(self, account):
        """``{current, pending, history}`` of ``account`` (``current`` and ``pending`` None when absent)."""
        entry = self.state()['accounts'].get(account) or {}
        return {'current': entry.get('current'), 'pending': entry.get('pending'),
                'history': list(entry.get('history') or [])}

    def _write_state(self, document):
        _io.atomic_write_json(self._state_path(), document, mode=0o600)

    def _secret_path(self, secret_id):
        if not ID_RE.fullmatch(str(secret_id)):
            raise EscrowError(f'{secret_id!r} is not an escrow id', 'repair the state file')
        return os.path.join(self.path, secret_id + self.cipher.suffix)

    # --- a rotation --------------------------------------------------------------------------------------------

    def begin(self, account, password, hashed):
        """Escrow ``password`` (with its hash) as ``account``'s pending one, before the terminal changes; its id."""
        with _io.locked(self._state_path(), dir_mode=0o700):
            document = self.state()
            entry = document['accounts'].setdefault(account, {'current': None, 'pending': None, 'history': []})
            if entry.get('pending'):
                raise EscrowError(f'terminal {self.terminal_id}: {account} has a rotation pending already',
                                  'let the next run end it (it checks which password the terminal holds)')
            secret_id = secrets.token_hex(8)
            _io.atomic_write(self._secret_path(secret_id), self.cipher.encrypt(password.encode('utf-8')),
                             mode=0o600, dir_mode=0o700)
            entry['pending'] = {'id': secret_id, 'hash': hashed, 'escrowed_at': _now()}
            self._write_state(document)
        return secret_id

    def commit(self, account):
        """The pending password is the one the terminal holds: it becomes current, the old one history."""
        with _io.locked(self._state_path(), dir_mode=0o700):
            document = self.state()
            entry = document['accounts'].get(account) or {}
            pending = entry.get('pending')
            if not pending:
                raise EscrowError(f'terminal {self.terminal_id}: {account} has no rotation pending', 'begin one')
            old = entry.get('current')
            if old:
                retired = {'hash': old['hash'], 'set_at': old.get('set_at'), 'retired_at': _now()}
                entry['history'] = (list(entry.get('history') or []) + [retired])[-HISTORY:]
            entry['current'] = {'id': pending['id'], 'hash': pending['hash'], 'set_at': _now(), 'disclosed': []}
            entry['pending'] = None
            self._write_state(document)
        if old:
            self._remove_secret(old['id'])  # history keeps hashes only: a retired password is not kept readable
        return entry['current']

    def abandon(self, account):
        """The terminal still holds the current password: the pending one is dropped."""
        with _io.locked(self._state_path(), dir_mode=0o700):
            document = self.state()
            entry = document['accounts'].get(account) or {}
            pending = entry.get('pending')
            if not pending:
                return None
            entry['pending'] = None
            self._write_state(document)
        self._remove_secret(pending['id'])
        return pending

    def _remove_secret(self, secret_id):
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self._secret_path(secret_id))

    # --- reading ------------------------------------------------------------------------------------------------

    def read(self, account, which='current'):
        """The clear password of ``account``'s ``which`` (``current`` or ``pending``) secret; needs a cipher that
        can decrypt (the vault password, or an officer's age identity)."""
        entry = self.account(account)[which]
        if not entry:
            raise EscrowError(f'terminal {self.terminal_id}: the escrow holds no {which} password of {account}',
                              'run the rotation first: it escrows what it sets')
        path = self._secret_path(entry['id'])
        try:
            with open(path, 'rb') as handle:
                data = handle.read()
        except FileNotFoundError:
            raise EscrowError(f'{path} is missing', 'restore the escrow directory from its backup') from None
        return self.cipher.decrypt(data, path).decode('utf-8')

    def reveal(self, account, who, why):
        """``read`` of the current password for a person, recorded as a disclosure (``who``, ``why``): the next
        rotation run rotates a disclosed password whatever its age."""
        if not str(who).strip() or not str(why).strip():
            raise EscrowError('a retrieval needs who reads the password and why', 'give both')
        password = self.read(account)
        with _io.locked(self._state_path(), dir_mode=0o700):
            document = self.state()
            current = document['accounts'][account]['current']
            current.setdefault('disclosed', []).append({'who': str(who), 'why': str(why), 'at': _now()})
            self._write_state(document)
        return password

    def history_hashes(self, account):
        entry = self.account(account)
        return [item['hash'] for item in entry['history']] + ([entry['current']['hash']] if entry['current'] else [])
