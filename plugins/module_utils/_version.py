# Copyright (c) posfleet developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Debian package version order, as ``dpkg --compare-versions`` has it (Debian Policy 5.6.12).

A version is ``[epoch:]upstream_version[-debian_revision]``:

- the epoch is everything before the first colon, a small unsigned integer (``0`` when absent);
- the debian revision is everything after the last hyphen (empty when absent, which orders as ``0``);
- the upstream version is what lies between: it starts with a digit and holds letters, digits and
  ``. + ~``, plus ``-`` when there is a revision and ``:`` when there is an epoch.

Each part compares as dpkg does: alternate runs of non-digits and digits, left to right. Non-digit runs compare
character by character with ``~`` before everything (even the end of the run), then the end of the run, then
letters (ASCII order), then all other characters (ASCII order). Digit runs compare as numbers.

Stdlib only: runs on the terminal. Private to the collection (leading underscore): it may change without notice.
"""

from __future__ import annotations

# dpkg keeps the epoch in an int and refuses larger ones.
MAX_EPOCH = 2 ** 31 - 1
DIGITS = frozenset('0123456789')
LETTERS = frozenset('abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ')
UPSTREAM_CHARS = DIGITS | LETTERS | frozenset('.+~-:')
REVISION_CHARS = DIGITS | LETTERS | frozenset('.+~')


def parse(version):
    """``(epoch, upstream, revision)`` of a Debian version string (``epoch`` an int, ``revision`` ``''`` when
    absent). Surrounding whitespace is ignored, as dpkg ignores it.

    Raises ``ValueError`` naming the version and what is wrong with it.
    """
    if not isinstance(version, str):
        raise ValueError(f'Debian version {version!r}: not a string')
    text = version.strip()
    if not text:
        raise ValueError('Debian version is empty')
    if any(c.isspace() for c in text):
        raise ValueError(f'Debian version {version!r}: contains whitespace')
    epoch = 0
    rest = text
    if ':' in text:
        epoch_text, _colon, rest = text.partition(':')
        if not epoch_text or not all(c in DIGITS for c in epoch_text):
            raise ValueError(f'Debian version {version!r}: epoch {epoch_text!r} is not a number (a colon in the '
                             f'upstream version is allowed only after an epoch, as in 0:{text})')
        epoch = int(epoch_text)
        if epoch > MAX_EPOCH:
            raise ValueError(f'Debian version {version!r}: epoch {epoch} is larger than {MAX_EPOCH}')
        if not rest:
            raise ValueError(f'Debian version {version!r}: nothing after the epoch colon')
    upstream, revision = rest, ''
    if '-' in rest:
        upstream, _hyphen, revision = rest.rpartition('-')
        if not revision:
            raise ValueError(f'Debian version {version!r}: empty debian revision after the last hyphen')
        bad = sorted(set(revision) - REVISION_CHARS)
        if bad:
            raise ValueError(f'Debian version {version!r}: debian revision {revision!r} may hold only letters, '
                             f'digits and ". + ~", not {"".join(bad)!r}')
    if not upstream:
        raise ValueError(f'Debian version {version!r}: empty upstream version')
    if upstream[0] not in DIGITS:
        raise ValueError(f'Debian version {version!r}: upstream version {upstream!r} does not start with a digit')
    bad = sorted(set(upstream) - UPSTREAM_CHARS)
    if bad:
        raise ValueError(f'Debian version {version!r}: upstream version {upstream!r} may hold only letters, digits '
                         f'and ". + ~ - :", not {"".join(bad)!r}')
    return epoch, upstream, revision


def _char_order(char):
    # Policy 5.6.12: '~' before the end of a run, the end (0) before letters, letters before everything else.
    if char == '~':
        return -1
    if char in LETTERS:
        return ord(char)
    return ord(char) + 256


# What the end of a part looks like to the other part: an empty non-digit run and the number 0.
_END = ((0,), 0)


def _part_key(text):
    """The key of an upstream version or revision: its (non-digit run, number) pairs, then ``_END``.

    A non-digit run becomes its character orders followed by 0 (the end of the run), so a run that is a prefix of
    another compares as the end against that character; a missing digit run is the number 0. The first pair is
    always there (``('', 0)`` for an empty revision, so that ``1.0`` equals ``1.0-0``); every later pair has a
    non-empty non-digit run. The part that ends first meets the other's next pair with ``_END``, which is what
    dpkg reads past the end of a string: ``~`` sorts before it, anything else after it.
    """
    pairs = []
    i, n = 0, len(text)
    while i < n or not pairs:
        j = i
        while j < n and text[j] not in DIGITS:
            j += 1
        k = j
        while k < n and text[k] in DIGITS:
            k += 1
        pairs.append((tuple(_char_order(c) for c in text[i:j]) + (0,), int(text[j:k]) if k > j else 0))
        i = k
    pairs.append(_END)
    return tuple(pairs)


def sort_key(version):
    """A key that sorts Debian versions as dpkg orders them: ``sorted(versions, key=sort_key)``.
    Equal keys mean dpkg calls the versions equal (``1.0`` and ``0:1.0-0``)."""
    epoch, upstream, revision = parse(version)
    return epoch, _part_key(upstream), _part_key(revision)


def compare(a, b):
    """-1, 0 or 1 as Debian version ``a`` is older than, the same as, or newer than ``b``."""
    ka, kb = sort_key(a), sort_key(b)
    return (ka > kb) - (ka < kb)


def at_least(installed, minimum):
    """Whether Debian version ``installed`` is ``minimum`` or newer (dpkg's ``ge``)."""
    return compare(installed, minimum) >= 0
