# Copyright (c) posfleet developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""crypt(3) of the system's libxcrypt, called with ctypes: the controller hashes a terminal's new password with
it, and a terminal checks a password against its own /etc/shadow with it.

Python's ``crypt`` module is deprecated (PEP 594) and gone in Python 3.13, and neither it nor passlib makes
yescrypt, the default of Debian 12's PAM. libxcrypt (Debian's libcrypt1, Fedora's and Alpine's libxcrypt) makes
both yescrypt and sha512-crypt; the salt comes from its own ``crypt_gensalt_rn`` (the OS's random source).

Private to the collection (leading underscore): it may change without notice.
Target-side code: Python >= 3.9 standard library only.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import hmac

# crypt(5) prefixes of the methods the collection writes, the preferred first.
METHODS = {'yescrypt': b'$y$', 'sha512_crypt': b'$6$'}
_OUTPUT_SIZE = 384  # libxcrypt's CRYPT_OUTPUT_SIZE
_DATA_SIZE = 32768  # sizeof(struct crypt_data) in libxcrypt; crypt_rn is told the size it has
_LIB = []


class CryptUnavailable(RuntimeError):
    """This system has no libxcrypt, or its libcrypt cannot make the method asked for."""


def _libcrypt():
    if _LIB:
        return _LIB[0]
    # find_library needs ldconfig's cache, which a minimal image may lack: then the sonames libxcrypt uses.
    names = [ctypes.util.find_library('crypt'), 'libcrypt.so.1', 'libcrypt.so.2']
    lib = name = None
    for name in filter(None, names):
        try:
            lib = ctypes.CDLL(name)
            break
        except OSError:
            continue
    if lib is None:
        raise CryptUnavailable('there is no libcrypt')
    if not hasattr(lib, 'crypt_rn') or not hasattr(lib, 'crypt_gensalt_rn'):
        raise CryptUnavailable(f'{name} is not libxcrypt (it has no crypt_rn)')
    lib.crypt_gensalt_rn.restype = ctypes.c_char_p
    lib.crypt_gensalt_rn.argtypes = [ctypes.c_char_p, ctypes.c_ulong, ctypes.c_char_p, ctypes.c_int,
                                     ctypes.c_char_p, ctypes.c_int]
    lib.crypt_rn.restype = ctypes.c_char_p
    lib.crypt_rn.argtypes = [ctypes.c_char_p, ctypes.c_char_p, ctypes.c_void_p, ctypes.c_int]
    _LIB.append(lib)
    return lib


def _crypt(password, setting):
    data = ctypes.create_string_buffer(_DATA_SIZE)
    try:
        result = _libcrypt().crypt_rn(password.encode('utf-8'), setting, data, _DATA_SIZE)
        # libxcrypt returns NULL, or a failure token led by "*", for a setting it cannot use.
        return None if not result or result.startswith(b'*') else result.decode('ascii')
    finally:
        ctypes.memset(data, 0, _DATA_SIZE)  # it held the password while hashing


def hash_password(password, method='yescrypt'):
    """The crypt(5) hash of ``password`` with ``method`` (a key of ``METHODS``) and a fresh salt."""
    if method not in METHODS:
        raise ValueError(f'unknown hash method {method!r}')
    salt = ctypes.create_string_buffer(_OUTPUT_SIZE)
    setting = _libcrypt().crypt_gensalt_rn(METHODS[method], 0, None, 0, salt, _OUTPUT_SIZE)
    hashed = _crypt(password, setting) if setting else None
    if not hashed:
        raise CryptUnavailable(f'this libcrypt cannot make {method} hashes')
    return hashed


def methods():
    """The ``METHODS`` this system's libcrypt makes, the preferred first (``[]`` without libxcrypt)."""
    found = []
    for method in METHODS:
        try:
            hash_password('probe', method)
        except CryptUnavailable:
            continue
        found.append(method)
    return found


def matches(password, hashed):
    """Whether ``password`` is the one ``hashed`` (a crypt(5) hash) was made from; compared in constant time."""
    if not hashed or not hashed.startswith('$'):
        return False  # a locked ("!..."), disabled ("*") or empty field: no password matches it
    again = _crypt(password, hashed.encode('ascii'))
    return again is not None and hmac.compare_digest(again, hashed)
