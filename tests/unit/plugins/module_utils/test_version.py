# Copyright (c) posfleet developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

import random
import shutil
import subprocess

import pytest

from ansible_collections.posfleet.terminals.plugins.module_utils._version import at_least, compare, parse, sort_key

# (a, b, compare(a, b)): each one checked against dpkg too when dpkg is there.
PAIRS = [
    ('1.0', '1.0', 0),
    ('1.0', '1.0-0', 0),                  # no revision orders as revision 0
    ('0:1.0', '1.0', 0),                  # no epoch is epoch 0
    ('1.00', '1.0', 0),                   # digit runs compare as numbers
    ('1.010', '1.10', 0),
    ('1.2', '1.10', -1),
    ('1:0.1', '9.9', 1),                  # the epoch beats everything
    ('10:1', '9:2', 1),
    ('1.0~rc1', '1.0', -1),               # tilde sorts before the end
    ('1.0~~', '1.0~', -1),
    ('1.0~~a', '1.0~~', 1),
    ('1.0~', '1.0', -1),
    ('1.0', '1.0+', -1),                  # any other character after the end
    ('1.0', '1.0a', -1),
    ('1.0a', '1.0+', -1),                 # letters before non-letters
    ('1.0a', '1.0.', -1),
    ('1.0+', '1.0.', -1),                 # '+' (43) before '.' (46)
    ('1.0Z', '1.0a', -1),                 # uppercase before lowercase (ASCII)
    ('1.0-1', '1.0-1~bpo1', 1),
    ('1.0-1+deb12u1', '1.0-1', 1),
    ('1.0-1~deb12u1', '1.0-1', -1),
    ('3.0.20-1~deb12u2', '3.0.20-1', -1),
    ('1:9.2p1-2+deb12u5', '1:9.2p1-2+deb12u3', 1),
    ('1.0-2-3', '1.0-2-2', 1),            # last hyphen separates the revision: upstream 1.0-2
    ('1.0-2-3', '1.0-3', 1),              # upstream 1.0-2 > 1.0: '-' after the end of a run
    ('1.0-1', '1.0.1', -1),               # upstream 1.0 < 1.0.1
    ('1:1:2', '1:1.2', 1),                # colon in upstream (after an epoch): ':' (58) after '.' (46)
    ('1:1:2', '1:1+2', 1),
    ('2:1.0:1-1', '2:1.0-1', 1),
    ('0.0', '0', 1),                      # '.' after the end, even before a 0
    ('0', '00', 0),
    ('1a', '1', 1),
    ('1', '1~', 1),
    ('1~a', '1~', 1),
    ('1~', '1~~', 1),
    ('1.2.3', '1.2.3.0', -1),             # '.' after the end
    ('1.0a0', '1.0a', 0),                 # a trailing zero digit run equals none
    ('1-0', '1-00', 0),
    ('1-a', '1-0', 1),
    ('1-~', '1', -1),
    ('99999999999999999999', '99999999999999999998', 1),  # digit runs beyond 64 bits
    ('2147483647:1', '1:1', 1),
]


@pytest.mark.parametrize('left, right, expected', PAIRS)
def test_compare_table(left, right, expected):
    assert compare(left, right) == expected
    assert compare(right, left) == -expected
    assert (sort_key(left) == sort_key(right)) is (expected == 0)


@pytest.mark.parametrize('version, parts', [
    ('1.0', (0, '1.0', '')),
    ('1:1.0', (1, '1.0', '')),
    ('1.0-1', (0, '1.0', '1')),
    ('2:1.0-rc-1+deb12u1', (2, '1.0-rc', '1+deb12u1')),
    ('1:2:3-4', (1, '2:3', '4')),
    ('  1.0-1\n', (0, '1.0', '1')),
    ('0:0', (0, '0', '')),
])
def test_parse(version, parts):
    assert parse(version) == parts


@pytest.mark.parametrize('version, says', [
    ('', 'empty'),
    ('   ', 'empty'),
    ('a1.0', 'does not start with a digit'),
    ('1.0 1', 'whitespace'),
    ('a:1.0', "epoch 'a' is not a number"),
    (':1.0', "epoch '' is not a number"),
    ('1.0:1', "epoch '1.0' is not a number"),   # a colon needs an epoch
    ('1:', 'nothing after the epoch colon'),
    ('1.0-', 'empty debian revision'),
    ('-1', 'empty upstream version'),
    ('1:-1', 'empty upstream version'),
    ('1.0_1', "not '_'"),
    ('1.0-1_2', "debian revision '1_2'"),
    ('1:1.0-1:2', "debian revision '1:2'"),
    ('99999999999:1', 'larger than'),
    (None, 'not a string'),
])
def test_parse_rejects(version, says):
    with pytest.raises(ValueError, match='Debian version') as info:
        parse(version)
    assert says in str(info.value)
    with pytest.raises(ValueError):
        compare(version, '1.0')


def test_at_least():
    assert at_least('1:9.2p1-2+deb12u5', '1:9.2p1-2+deb12u3')
    assert at_least('2.3.1', '2.3.1')
    assert not at_least('2.3.1~rc1', '2.3.1')
    assert not at_least('9.2p1-2', '1:9.0')


# --- against dpkg itself -------------------------------------------------------------------------------------

def random_version(rng):
    """A valid Debian version, weighted towards what makes the order hard: tildes, letters next to digits, short
    runs, equal-looking versions (leading zeros, trailing zero runs), colons and hyphens in upstream."""
    epoch = rng.random() < 0.3
    revision = rng.random() < 0.5
    alphabet = '0123456789' * 3 + 'aAzZb' + '~~~~' + '++..' + ('-' if revision else '') + (':' if epoch else '')
    upstream = rng.choice('0123456789') + ''.join(rng.choice(alphabet) for dummy in range(rng.randint(0, 6)))
    text = upstream
    if epoch:
        text = f'{rng.choice(["0", "1", "2", "00", "10"])}:{text}'
    if revision:
        text += '-' + ''.join(rng.choice('0123456789' * 2 + 'ab~~+.') for dummy in range(rng.randint(1, 4)))
    return text


def dpkg_agrees(claims):
    """For each ``(a, op, b)`` whether ``dpkg --compare-versions a op b`` holds. One shell runs all the calls."""
    script = ('while read -r a op b; do if dpkg --compare-versions "$a" "$op" "$b" 2>/dev/null; '
              'then echo y; else echo n; fi; done')
    feed = ''.join(f'{a} {op} {b}\n' for a, op, b in claims)
    out = subprocess.run(['sh', '-c', script], input=feed, capture_output=True, text=True, check=True).stdout
    answers = out.split()
    assert len(answers) == len(claims)
    return [answer == 'y' for answer in answers]


OP = {-1: 'lt', 0: 'eq', 1: 'gt'}


@pytest.mark.skipif(shutil.which('dpkg') is None, reason='needs dpkg (Debian)')
def test_agrees_with_dpkg():
    """Our order is dpkg's: the table, every adjacent pair of 1500 generated versions sorted with our key (so the
    sorted list is dpkg's order), and 1500 random pairs. dpkg is asked whether our answer holds; lt, eq and gt
    exclude each other, so one call per pair decides."""
    rng = random.Random(20261201)
    versions = sorted({random_version(rng) for dummy in range(1600)}, key=sort_key)[:1500]
    for v in versions:
        parse(v)  # the generator makes valid versions only
    pairs = [(a, b) for a, b, _expected in PAIRS]
    pairs += list(zip(versions, versions[1:]))
    pairs += [(rng.choice(versions), rng.choice(versions)) for dummy in range(1500)]
    claims = [(a, OP[compare(a, b)], b) for a, b in pairs]
    wrong = [claim for claim, ok in zip(claims, dpkg_agrees(claims)) if not ok]
    assert not wrong, f'{len(wrong)} of {len(claims)} pairs where dpkg disagrees, e.g. {wrong[:10]}'
    # The generator must reach the hard cases, or the test proves little.
    assert sum(1 for a, op, b in claims if op == 'eq' and a != b) >= 5
    assert any(':' in v.split(':', 1)[1] for v in versions if ':' in v)
    assert any(v.count('-') >= 2 for v in versions)
    assert sum('~' in v for v in versions) > 300
