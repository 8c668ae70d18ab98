# Copyright (c) posfleet developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The attack of the reliability review on pan_scan's evidence, as a library (unit tests) and a command
(the resilience scenario runs it on everything an ``ansible-playbook -vvvv`` run printed).

Given the truncated form an attacker may know (first six, last four, length), every Luhn-valid number that fits
(about 10^5 for 16 digits) is hashed the ways evidence hashes were or are made - SHA-256 bare or salted
(salt + PAN, the old evidence), HMAC-SHA256 (the new) - with every guess of a salt or key taken from the output
itself, and compared with every 64-hex-digit hash in the output. Prints the number when found (exit 0),
``not rebuilt`` otherwise (exit 1).

    python pan_rebuild.py OUTPUT_FILE --prefix 453201 --suffix 0366 --length 16 [--min-guess 16]
"""

from __future__ import annotations

import argparse
import functools
import hashlib
import hmac
import re
import sys

HASH = re.compile(r'[0-9a-f]{64}')
TOKEN = re.compile(r'[^\s:,;()\[\]{}"\'=\\]+')
DOUBLED = bytes.maketrans(b'0123456789', b'0246813579')


def luhn_ok(digits):
    backwards = digits[::-1]
    return (sum(backwards[0::2]) + sum(backwards[1::2].translate(DOUBLED)) - 48 * len(digits)) % 10 == 0


@functools.lru_cache(maxsize=4)
def candidates(prefix, suffix, length):
    """Every Luhn-valid number of ``length`` digits that starts with ``prefix`` and ends with ``suffix``."""
    middle = length - len(prefix) - len(suffix)
    found = []
    for number in range(10 ** middle):
        pan = f'{prefix}{number:0{middle}d}{suffix}'.encode('ascii')
        if luhn_ok(pan):
            found.append(pan)
    return tuple(found)


def guesses_in(text, min_length=1):
    """What in ``text`` could be a salt or a key: every token (and every quoted string) of at least
    ``min_length`` characters that is not itself a hash, and the empty string (a bare SHA-256)."""
    found = {''}
    for token in TOKEN.findall(text) + re.findall(r'"((?:[^"\\]|\\.)*)"', text):
        if len(token) >= min_length and not HASH.fullmatch(token):
            found.add(token)
    return sorted(found)


def rebuild(text, prefix, suffix, length, guesses=None):
    """The number whose hash (either way above, under any guess) is in ``text``, or ``None``."""
    hashes = {bytes.fromhex(h) for h in HASH.findall(text)}
    if not hashes:
        return None
    pans = candidates(prefix, suffix, length)
    sha256 = hashlib.sha256
    keyed = hmac.digest     # the one-shot C implementation: about 10^5 HMACs in a fraction of a second
    for guess in guesses if guesses is not None else guesses_in(text):
        secret = guess.encode('utf-8')
        for pan in pans:
            if sha256(secret + pan).digest() in hashes or keyed(secret, pan, 'sha256') in hashes:
                return pan.decode('ascii')
    return None


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('output', help='file holding everything the run printed')
    parser.add_argument('--prefix', required=True)
    parser.add_argument('--suffix', required=True)
    parser.add_argument('--length', type=int, required=True)
    parser.add_argument('--min-guess', type=int, default=1, help='shortest token tried as a salt or key')
    args = parser.parse_args(argv)
    with open(args.output, encoding='utf-8', errors='replace') as handle:
        text = handle.read()
    guesses = guesses_in(text, args.min_guess)
    found = rebuild(text, args.prefix, args.suffix, args.length, guesses)
    hashes = len(set(HASH.findall(text)))
    print(f'{hashes} hashes, {len(guesses)} salt/key guesses, '
          f'{len(candidates(args.prefix, args.suffix, args.length))} candidates: '
          + (f'rebuilt {found}' if found else 'not rebuilt'))
    return 0 if found else 1


if __name__ == '__main__':
    sys.exit(main())
