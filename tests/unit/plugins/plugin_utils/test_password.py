# Copyright (c) posfleet developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Terminal passwords on the controller: generation, the PCI DSS policy, hashing with the real libcrypt."""

from __future__ import annotations

import datetime
import re

import pytest

from ansible_collections.posfleet.terminals.plugins.plugin_utils import _password


def test_a_generated_password_has_the_length_every_class_and_nothing_ambiguous():
    for length in (12, 20, 64):
        for password in [_password.generate(length) for dummy in range(50)]:
            assert len(password) == length
            assert not set(password) & _password.AMBIGUOUS
            for chars in _password.CLASSES.values():
                assert set(password) & set(chars)
            assert _password.strength_problem(password) is None


def test_generated_passwords_differ_and_use_the_whole_alphabet():
    passwords = [_password.generate() for dummy in range(2000)]
    assert len(set(passwords)) == len(passwords)
    alphabet = ''.join(_password.CLASSES.values())
    assert set(''.join(passwords)) == set(alphabet)  # 40,000 draws from 65 characters: each one shows up


def test_letters_and_digits_only():
    password = _password.generate(16, ('lower', 'digit'))
    assert re.fullmatch(r'[a-z2-9]{16}', password) and re.search(r'\d', password)


@pytest.mark.parametrize('length, classes, words', [
    (11, _password.DEFAULT_CLASSES, '11 characters is refused'),
    (129, _password.DEFAULT_CLASSES, 'from 12 to 128'),
    (True, _password.DEFAULT_CLASSES, 'is refused'),
    (20, ('lower', 'upper'), 'both letters and digits'),
    (20, ('digit', 'symbol'), 'both letters and digits'),
    (20, ('lower', 'emoji'), "unknown character class 'emoji'"),
])
def test_the_policy_refuses(length, classes, words):
    problem = _password.policy_problem(length, classes)
    assert problem and words in ' '.join(problem)
    with pytest.raises(_password.PasswordError) as info:
        _password.generate(length, classes)
    assert 'Fix: ' in str(info.value)


@pytest.mark.parametrize('password, problem', [
    ('short1', 'fewer than 12'),
    ('onlylettersherenow', 'letters and digits'),
    ('123456789012345', 'letters and digits'),
    ('twelve chars 1', None),
])
def test_the_strength_of_a_given_password(password, problem):
    found = _password.strength_problem(password)
    assert (found is None) if problem is None else (problem in found)


@pytest.mark.parametrize('method, prefix', [('yescrypt', '$y$'), ('sha512_crypt', '$6$')])
def test_hashes_are_salted_crypt_hashes_that_match_only_their_password(method, prefix):
    password = _password.generate()
    first, second = _password.hash_password(password, method), _password.hash_password(password, method)
    assert first.startswith(prefix) and second.startswith(prefix) and first != second  # a fresh salt each time
    assert password not in first
    assert _password.matches(password, first) and _password.matches(password, second)
    assert not _password.matches(password + 'x', first)
    assert not _password.matches(password, '')
    assert not _password.matches(password, '!' + first)  # a locked account's field


def test_an_unknown_method_is_refused():
    with pytest.raises(_password.PasswordError, match='unknown hash method'):
        _password.hash_password('x' * 20, 'md5')


def test_the_last_four_are_refused_the_fifth_is_not():
    olds = [_password.generate() for dummy in range(5)]
    history = [_password.hash_password(old, 'sha512_crypt') for old in olds]
    assert [_password.reused(old, history) for old in olds] == [False, True, True, True, True]
    assert not _password.reused(_password.generate(), history)


TODAY = datetime.date(2026, 12, 4)


@pytest.mark.parametrize('last_change, kwargs, words', [
    (datetime.date(2026, 9, 5), {}, '90 days old'),
    (datetime.date(2026, 9, 6), {}, None),
    (datetime.date(2026, 12, 1), {'max_age_days': 3}, '3 days old'),
    (None, {}, 'age is unknown'),
    (datetime.date(2026, 12, 4), {'disclosed': True}, 'read from the escrow'),
    (datetime.date(2026, 12, 4), {'vendor_default': True}, 'vendor default'),
])
def test_rotation_is_due_by_age_after_disclosure_and_for_vendor_defaults(last_change, kwargs, words):
    reason = _password.rotation_reason(last_change, TODAY, **kwargs)
    assert (reason is None) if words is None else (words in reason)


def test_next_due():
    assert _password.next_due(datetime.date(2026, 12, 4)) == datetime.date(2027, 3, 4)
