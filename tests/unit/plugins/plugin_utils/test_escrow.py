# Copyright (c) posfleet developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The password escrow on the controller, with the real Ansible Vault and the real age: a rotation's states, what
a kill between any two writes leaves, and an age escrow that the controller cannot read back."""

from __future__ import annotations

import json
import os
import stat
import subprocess

import pytest
from ansible.module_utils import _internal

from ansible_collections.posfleet.terminals.plugins.plugin_utils import _escrow, _password


def vault_cipher(password=b'escrow vault pw 7', secrets=None):
    """A VaultCipher of ``password`` (or of ``secrets``). Ansible's controller side is imported here, not at
    collection, and the flag its import sets is put back: a process flagged as a controller sends module warnings
    to the display, which the in-process module tests must not see."""
    was = _internal.is_controller
    try:
        from ansible.parsing.vault import VaultSecret

        return _escrow.VaultCipher([('default', VaultSecret(password))] if secrets is None else secrets)
    finally:
        _internal.is_controller = was


@pytest.fixture(params=['vault', 'age'])
def ciphers(request, tmp_path):
    """(the controller's cipher, one that reads back): the vault reads what it wrote; age needs an officer."""
    if request.param == 'vault':
        return vault_cipher(), vault_cipher()
    identity = tmp_path / 'officer.key'
    subprocess.run(['age-keygen', '-o', str(identity)], check=True, capture_output=True)
    recipient = subprocess.run(['age-keygen', '-y', str(identity)], check=True, capture_output=True,
                               text=True).stdout.strip()
    return _escrow.AgeCipher([recipient]), _escrow.AgeCipher([recipient], identity_file=str(identity))


def rotate(escrow, account='maint'):
    password = _password.generate()
    escrow.begin(account, password, _password.hash_password(password, 'sha512_crypt'))
    return password


def test_a_rotation_pending_then_committed_keeps_the_old_hash_in_the_history(tmp_path, ciphers):
    writer, reader = ciphers
    escrow = _escrow.Escrow(tmp_path / 'secrets', 'SH01-T100-01', writer)
    first = rotate(escrow)
    assert escrow.account('maint')['current'] is None and escrow.account('maint')['pending']
    escrow.commit('maint')
    second = rotate(escrow)
    state = escrow.account('maint')
    assert state['current'] and state['pending'] and state['current']['id'] != state['pending']['id']
    read = _escrow.Escrow(tmp_path / 'secrets', 'SH01-T100-01', reader)
    assert read.read('maint') == first and read.read('maint', 'pending') == second
    escrow.commit('maint')
    assert read.read('maint') == second
    assert len(escrow.account('maint')['history']) == 1
    assert _password.reused(first, escrow.history_hashes('maint'))
    assert _password.reused(second, escrow.history_hashes('maint'))
    # only the current password's file is left; the state holds hashes, never a password
    directory = tmp_path / 'secrets' / 'SH01-T100-01'
    files = sorted(p.name for p in directory.iterdir() if not p.name.startswith('.'))
    assert files == sorted(['state.json', escrow.account('maint')['current']['id'] + writer.suffix])
    text = (directory / 'state.json').read_text()
    assert first not in text and second not in text
    for path in directory.iterdir():
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path
        assert first.encode() not in path.read_bytes() and second.encode() not in path.read_bytes()
    assert stat.S_IMODE(directory.stat().st_mode) == 0o700


def test_abandon_keeps_the_current_password(tmp_path, ciphers):
    writer, reader = ciphers
    escrow = _escrow.Escrow(tmp_path, 'T1', writer)
    first = rotate(escrow)
    escrow.commit('maint')
    rotate(escrow)
    with pytest.raises(_escrow.EscrowError, match='pending already'):
        rotate(escrow)
    assert escrow.abandon('maint')['id']
    assert escrow.abandon('maint') is None
    assert _escrow.Escrow(tmp_path, 'T1', reader).read('maint') == first
    assert len(list((tmp_path / 'T1').glob('*' + writer.suffix))) == 1


def test_the_history_holds_the_last_four(tmp_path):
    escrow = _escrow.Escrow(tmp_path, 'T1', vault_cipher())
    passwords = []
    while len(passwords) < 7:
        passwords.append(rotate(escrow))
        escrow.commit('maint')
    assert len(escrow.account('maint')['history']) == 4
    hashes = escrow.history_hashes('maint')  # the retired ones and the current, oldest first
    # PCI DSS 8.3.7: not one of the last four used, the current one among them
    assert [_password.reused(p, hashes) for p in passwords] == [False, False, False, True, True, True, True]


def test_a_kill_between_the_secret_and_the_state_leaves_the_current_password(tmp_path, monkeypatch):
    escrow = _escrow.Escrow(tmp_path, 'T1', vault_cipher())
    first = rotate(escrow)
    escrow.commit('maint')

    def killed(*args, **kwargs):
        raise KeyboardInterrupt('the run was killed')

    monkeypatch.setattr(escrow, '_write_state', killed)
    with pytest.raises(KeyboardInterrupt):
        rotate(escrow)
    monkeypatch.undo()
    assert escrow.account('maint')['pending'] is None and escrow.read('maint') == first
    rotate(escrow)  # the next run begins again; the stray file of the killed one is harmless
    assert escrow.read('maint', 'pending') != first


def test_the_controller_reads_its_vault_escrow_back_and_not_an_age_one(tmp_path, ciphers):
    writer, dummy = ciphers
    escrow = _escrow.Escrow(tmp_path, 'T1', writer)
    password = rotate(escrow)
    if isinstance(writer, _escrow.VaultCipher):
        assert escrow.read('maint', 'pending') == password
    else:
        with pytest.raises(_escrow.EscrowError, match='no identity is given'):
            escrow.read('maint', 'pending')


def test_a_wrong_vault_password_or_another_officer_is_a_clear_error(tmp_path, ciphers):
    writer, dummy = ciphers
    escrow = _escrow.Escrow(tmp_path, 'T1', writer)
    rotate(escrow)
    escrow.commit('maint')
    if isinstance(writer, _escrow.VaultCipher):
        wrong = vault_cipher(b'not it')
        words = 'does not open with the vault password'
    else:
        other = tmp_path / 'other.key'
        subprocess.run(['age-keygen', '-o', str(other)], check=True, capture_output=True)
        wrong = _escrow.AgeCipher(writer.recipients, identity_file=str(other))
        words = 'age could not decrypt'
    with pytest.raises(_escrow.EscrowError, match=words) as info:
        _escrow.Escrow(tmp_path, 'T1', wrong).read('maint')
    assert 'Fix: ' in str(info.value)


def test_a_retrieval_is_recorded_with_who_and_why(tmp_path, ciphers):
    writer, reader = ciphers
    rotate(_escrow.Escrow(tmp_path, 'T1', writer))
    _escrow.Escrow(tmp_path, 'T1', writer).commit('maint')
    officer = _escrow.Escrow(tmp_path, 'T1', reader)
    with pytest.raises(_escrow.EscrowError, match='who reads the password and why'):
        officer.reveal('maint', 'alice', ' ')
    password = officer.reveal('maint', 'alice', 'INC-1234 card reader swap')
    disclosed = officer.account('maint')['current']['disclosed']
    assert [(d['who'], d['why']) for d in disclosed] == [('alice', 'INC-1234 card reader swap')]
    assert password not in json.dumps(officer.state())


@pytest.mark.parametrize('make, words', [
    (lambda: vault_cipher(secrets=[]), 'no vault password'),
    (lambda: _escrow.AgeCipher([]), 'no age recipient'),
    (lambda: _escrow.AgeCipher(['ssh-ed25519 AAAA']), 'is not an age public key'),
    (lambda: _escrow.Escrow('/tmp', '../etc', None), 'cannot name an escrow directory'),
])
def test_bad_input_is_refused_with_the_fix(make, words):
    with pytest.raises(_escrow.EscrowError, match=words) as info:
        make()
    assert 'Fix: ' in str(info.value)


def test_a_missing_age_binary_says_to_install_it(tmp_path):
    cipher = _escrow.AgeCipher(['age1' + 'q' * 58], binary=os.path.join(tmp_path, 'no-age'))
    with pytest.raises(_escrow.EscrowError, match='apt-get install age'):
        cipher.encrypt(b'x')
