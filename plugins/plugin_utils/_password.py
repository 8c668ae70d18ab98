# Copyright (c) posfleet developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Terminal passwords made on the controller: generated, held to the policy, hashed there.

The terminal only ever receives a crypt(5) hash (``set_password_hash`` of the platform): the clear password
stays on the controller, in the escrow. The policy is PCI DSS v4.0.1's: at least 12 characters with letters and
digits (8.3.6), not one of the last four (8.3.7), changed at least every 90 days where it is the only factor
(8.3.9). Generated passwords leave out the characters people misread (0/O, 1/l/I, quotes, backslash, space), since
a technician may have to type one from a screen.

Hashing goes through the system's libcrypt (libxcrypt: Debian, Fedora, Alpine's libxcrypt), called with ctypes:
Python's ``crypt`` module is deprecated (PEP 594, gone in Python 3.13) and neither it nor passlib makes yescrypt,
the default of Debian 12's PAM. The salt comes from libcrypt's own ``crypt_gensalt_rn`` (the OS's random source).

Pure logic and libcrypt, no terminal. Private to the collection (leading underscore): it may change without notice.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import datetime
import hmac
import secrets
import string

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
# crypt(5) prefixes; yescrypt where the terminal's libcrypt has it, sha512-crypt where it does not.
METHODS = {'yescrypt': b'$y$', 'sha512_crypt': b'$6$'}
_OUTPUT_SIZE = 384  # libxcrypt's CRYPT_OUTPUT_SIZE
_DATA_SIZE = 32768  # sizeof(struct crypt_data) in libxcrypt; crypt_rn is told the size it has


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


def _libcrypt():
    name = ctypes.util.find_library('crypt')
    if not name:
        raise PasswordError('the controller has no libcrypt to hash passwords with',
                            'install libcrypt1 (Debian) or libxcrypt (Fedora, Alpine) on the controller')
    lib = ctypes.CDLL(name, use_errno=True)
    if not hasattr(lib, 'crypt_rn') or not hasattr(lib, 'crypt_gensalt_rn'):
        raise PasswordError(f'{name} is not libxcrypt (it has no crypt_rn)',
                            'install libxcrypt (libcrypt1 on Debian) on the controller')
    lib.crypt_gensalt_rn.restype = ctypes.c_char_p
    lib.crypt_gensalt_rn.argtypes = [ctypes.c_char_p, ctypes.c_ulong, ctypes.c_char_p, ctypes.c_int,
                                     ctypes.c_char_p, ctypes.c_int]
    lib.crypt_rn.restype = ctypes.c_char_p
    lib.crypt_rn.argtypes = [ctypes.c_char_p, ctypes.c_char_p, ctypes.c_void_p, ctypes.c_int]
    return lib


def _crypt(password, setting):
    lib = _libcrypt()
    data = ctypes.create_string_buffer(_DATA_SIZE)
    try:
        result = lib.crypt_rn(password.encode('utf-8'), setting, data, _DATA_SIZE)
        # libxcrypt returns NULL (or a "*"-led failure token) for a setting it cannot use.
        return None if not result or result.startswith(b'*') else result.decode('ascii')
    finally:
        ctypes.memset(data, 0, _DATA_SIZE)  # the buffer held the password while hashing


def hash_password(password, method='yescrypt'):
    """The crypt(5) hash of ``password`` with ``method`` (``METHODS``) and a fresh salt."""
    if method not in METHODS:
        raise PasswordError(f'unknown hash method {method!r}', 'use ' + ' or '.join(METHODS))
    lib = _libcrypt()
    salt = ctypes.create_string_buffer(_OUTPUT_SIZE)
    setting = lib.crypt_gensalt_rn(METHODS[method], 0, None, 0, salt, _OUTPUT_SIZE)
    hashed = _crypt(password, setting) if setting else None
    if not hashed:
        raise PasswordError(f'the controller\'s libcrypt cannot make {method} hashes',
                            'use method sha512_crypt, or a controller with libxcrypt 4.4 or later')
    return hashed


def matches(password, hashed):
    """Whether ``password`` is the one ``hashed`` (a crypt(5) hash) was made from; compared in constant time."""
    again = _crypt(password, hashed.encode('ascii')) if hashed else None
    return again is not None and hmac.compare_digest(again, hashed)


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
