# Copyright (c) posfleet developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Terminal passwords made on the controller: generated, held to the policy, hashed there.

The terminal only ever receives a crypt(5) hash (``set_password_hash`` of the platform): the clear password
stays on the controller, in the escrow. The policy is PCI DSS v4.0.1's: at least 12 characters with letters and
digits (8.3.6), not one of the last four (8.3.7), changed at least every 90 days where it is the only factor
(8.3.9). Generated passwords leave out the characters people misread (0/O, 1/l/I, quotes, backslash, space), since
a technician may have to type one from a screen.

Hashing goes through the system's libxcrypt (``module_utils/_crypt``, which the terminals use too).

Pure logic and libcrypt, no terminal. Private to the collection (leading underscore): it may change without notice.
"""

from __future__ import annotations

import datetime
import secrets
import string

from ansible_collections.posfleet.terminals.plugins.module_utils import _crypt
from ansible_collections.posfleet.terminals.plugins.plugin_utils._errors import FixableError

MIN_LENGTH = 12  # PCI DSS 8.3.6
DEFAULT_LENGTH = 20
MAX_LENGTH = 128
HISTORY = 4  # PCI DSS 8.3.7: not one of the last four
MAX_AGE_DAYS = 90  # PCI DSS 8.3.9
AMBIGUOUS = frozenset('0Oo1lI|`\'"\\ ')
# Symbols that every keyboard layout and a terminal's keypad screen have, none a shell or a config file quotes.
SYMBOLS = '!#%+-.=?@_'
CLASSES = {
    'lower': ''.join(c for c in string.ascii_lowercase if c not in AMBIGUOUS),
    'upper': ''.join(c for c in string.ascii_uppercase if c not in AMBIGUOUS),
    'digit': ''.join(c for c in string.digits if c not in AMBIGUOUS),
    'symbol': SYMBOLS,
}
DEFAULT_CLASSES = ('lower', 'upper', 'digit', 'symbol')
# yescrypt where the terminal's libcrypt has it, sha512-crypt where it does not.
METHODS = tuple(_crypt.METHODS)


class PasswordError(FixableError):
    """A password policy or hash that cannot be used, with the fix."""


def policy_problem(length, classes):
    """``(problem, fix)`` when passwords of ``length`` characters from ``classes`` break the policy, else None."""
    unknown = [c for c in classes if c not in CLASSES]
    if unknown:
        return (f'unknown character class {unknown[0]!r}', 'use some of ' + ', '.join(CLASSES))
    if not isinstance(length, int) or isinstance(length, bool) or not MIN_LENGTH <= length <= MAX_LENGTH:
        return (f'a password of {length} characters is refused (PCI DSS 8.3.6 asks for {MIN_LENGTH} at least)',
                f'give a length from {MIN_LENGTH} to {MAX_LENGTH} (default {DEFAULT_LENGTH})')
    if 'digit' not in classes or not {'lower', 'upper'} & set(classes):
        return ('a password needs both letters and digits (PCI DSS 8.3.6)',
                'give the classes digit and lower or upper (default: ' + ', '.join(DEFAULT_CLASSES) + ')')
    if len(set(classes)) > length:
        return (f'{len(set(classes))} classes do not fit in {length} characters', 'give a longer length')
    return None


def generate(length=DEFAULT_LENGTH, classes=DEFAULT_CLASSES):
    """A new password of ``length`` characters with at least one of each class, from the OS's random source.

    Drawn uniformly from the union of the classes and drawn again when a class is missing: uniform among the
    passwords that have every class, where forcing one character per class into fixed places would not be."""
    problem = policy_problem(length, classes)
    if problem:
        raise PasswordError(*problem)
    alphabet = ''.join(CLASSES[c] for c in dict.fromkeys(classes))
    while True:
        password = ''.join(secrets.choice(alphabet) for dummy in range(length))
        if all(any(ch in CLASSES[c] for ch in password) for c in classes):
            return password


def strength_problem(password):
    """Why ``password`` (one given, not generated) breaks PCI DSS 8.3.6, or None."""
    if len(password) < MIN_LENGTH:
        return f'it has {len(password)} characters, fewer than {MIN_LENGTH}'
    if not any(ch.isdigit() for ch in password) or not any(ch.isalpha() for ch in password):
        return 'it needs both letters and digits'
    return None


def hash_password(password, method='yescrypt'):
    """The crypt(5) hash of ``password`` with ``method`` (``METHODS``) and a fresh salt, made on the controller."""
    if method not in METHODS:
        raise PasswordError(f'unknown hash method {method!r}', 'use ' + ' or '.join(METHODS))
    try:
        return _crypt.hash_password(password, method)
    except _crypt.CryptUnavailable as exc:
        raise PasswordError(f'the controller cannot hash passwords: {exc}',
                            'install libxcrypt on the controller (libcrypt1 on Debian), or use method '
                            'sha512_crypt') from None


def matches(password, hashed):
    """Whether ``password`` is the one ``hashed`` was made from."""
    return _crypt.matches(password, hashed)


def reused(password, history):
    """Whether ``password`` is one of ``history``'s hashes (the last four, PCI DSS 8.3.7)."""
    return any(matches(password, hashed) for hashed in history[-HISTORY:])


def rotation_reason(last_change, today, max_age_days=MAX_AGE_DAYS, disclosed=False, vendor_default=False):
    """Why the password must be rotated on ``today`` (a date), or None. ``last_change``: the date it was set
    (None: unknown, so due); ``disclosed``: a technician read it from the escrow; ``vendor_default``: the terminal
    holds a vendor's default password (PCI DSS 2.2.2), rotated whatever its age."""
    if vendor_default:
        return 'it is a vendor default password (PCI DSS 2.2.2)'
    if disclosed:
        return 'it was read from the escrow since it was set'
    if last_change is None:
        return 'its age is unknown'
    age = (today - last_change).days
    if age >= max_age_days:
        return f'it is {age} days old, {max_age_days} at most (PCI DSS 8.3.9)'
    return None


def next_due(last_change, max_age_days=MAX_AGE_DAYS):
    """The date the password set on ``last_change`` is due by age."""
    return last_change + datetime.timedelta(days=max_age_days)
