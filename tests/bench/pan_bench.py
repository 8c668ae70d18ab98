#!/usr/bin/env python
# Copyright (c) posfleet developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""PAN scan benchmark: posfleet.terminals' scanner vs ``grep -P`` with a Luhn post-filter, on one generated corpus.

Generates a mixed log corpus (default 200 MB) with card numbers of every brand planted at known offsets (plain,
spaced, dashed; 13-19 digits incl. Mastercard 2-series and UnionPay 62) among look-alikes that must not match:
Luhn-valid IMEIs, timestamps, phone numbers, order numbers, UUIDs, card-like numbers inside longer digit runs and
Luhn-valid 16-digit numbers without a card brand. Runs both scanners alternately (``--rounds``) and prints MB/s,
recall and false positives of each, and their ratio. Run by hand (not part of the test suite):

    python tests/bench/pan_bench.py [--mb 200] [--rounds 2] [--out results/bench/pan.json]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import subprocess
import sys
import tempfile
import time

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(REPO, 'tests', 'unit'))
import conftest  # noqa: E402  (puts the checkout on sys.path as ansible_collections.posfleet.terminals)

from ansible_collections.posfleet.terminals.plugins.module_utils import _pan  # noqa: E402

assert conftest.REPO == REPO

GREP_PATTERN = r'(?<![0-9])(?<![0-9][ -])[0-9](?:[ -]?[0-9]){12,18}(?![0-9])(?![ -][0-9])'
PREFIXES = [('4', 16), ('4', 13), ('4', 19), ('51', 16), ('55', 16), ('2221', 16), ('2720', 16), ('2500', 16),
            ('34', 15), ('37', 15), ('6011', 16), ('65', 16), ('3528', 16), ('3589', 19), ('62', 16), ('62', 19),
            ('36', 14), ('6759', 16), ('2200', 16)]


def check_digit(body):
    for digit in '0123456789':
        if _pan.luhn_ok(body + digit):
            return body + digit
    raise AssertionError


def random_pan(rng):
    prefix, length = rng.choice(PREFIXES)
    body = prefix + ''.join(rng.choice('0123456789') for _i in range(length - len(prefix) - 1))
    return check_digit(body)


def fmt(number, rng):
    style = rng.random()
    if style < 0.6:
        return number
    sep = ' ' if style < 0.8 else '-'
    return sep.join(number[i:i + 4] for i in range(0, len(number), 4))


def lookalike(rng):
    kind = rng.randrange(7)
    if kind == 0:  # Luhn-valid IMEI (15 digits, TAC 35/86/01)
        tac = rng.choice(['35', '86', '01'])
        return 'imei=' + check_digit(tac + ''.join(rng.choice('0123456789') for _i in range(12)))
    if kind == 1:  # Luhn-valid 16 digits without a brand (starts with 9, 8 or 1)
        return 'ref=' + check_digit(rng.choice('981') + ''.join(rng.choice('0123456789') for _i in range(14)))
    if kind == 2:  # a card number inside a longer run (an account or batch number)
        return 'batch=' + random_pan(rng) + str(rng.randrange(10, 99))
    if kind == 3:
        return f'call +86 138 {rng.randrange(1000, 9999)} {rng.randrange(1000, 9999)}'
    if kind == 4:
        return f'order ORD{rng.randrange(10**12, 10**13)} ts={rng.randrange(10**12, 10**13)}'
    if kind == 5:
        return f'epoch_ms {rng.randrange(1700000000000, 1800000000000)} tx {rng.randrange(10**6, 10**7)}'
    return 'id ' + '-'.join(''.join(rng.choice('0123456789abcdef') for _i in range(n)) for n in (8, 4, 4, 4, 12))


def generate(path, megabytes, seed=4711):
    rng = random.Random(seed)
    target = megabytes * 1_000_000
    planted = {}
    size = 0
    with open(path, 'wb') as handle:
        while size < target:
            ts = (f'2026-11-{rng.randrange(1, 29):02d}T{rng.randrange(24):02d}:{rng.randrange(60):02d}:'
                  f'{rng.randrange(60):02d}Z')
            roll = rng.random()
            if roll < 0.002:
                number = random_pan(rng)
                prefix = f'{ts} posd[{rng.randrange(100, 999)}]: DEBUG auth pan='
                text = fmt(number, rng)
                planted[size + len(prefix.encode())] = number
                line = f'{prefix}{text} amount_minor={rng.randrange(100, 99999)}\n'
            elif roll < 0.2:
                line = f'{ts} posd[{rng.randrange(100, 999)}]: INFO {lookalike(rng)}\n'
            else:
                line = (f'{ts} posd[{rng.randrange(100, 999)}]: INFO sale approved amount_minor='
                        f'{rng.randrange(100, 99999)} currency=CNY pan=622848******{rng.randrange(1000, 9999)} '
                        f'batch B20261121-{rng.randrange(1, 9999):04d}\n')
            data = line.encode()
            handle.write(data)
            size += len(data)
    return planted, size


def run_ours(path):
    start = time.monotonic()
    result = _pan.scan_paths([path], 'bench', max_findings=10**9)
    seconds = time.monotonic() - start
    found = {f['offset']: f['hash'] for f in result['findings']}
    return seconds, found


def run_grep(path):
    """grep -P prints offset:match for every candidate; a Luhn check (any brand) filters them."""
    start = time.monotonic()
    proc = subprocess.Popen(['grep', '-obP', GREP_PATTERN, path], stdout=subprocess.PIPE)
    found = {}
    for raw in proc.stdout:
        offset, _sep, match = raw.decode().rstrip('\n').partition(':')
        digits = re.sub(r'[ -]', '', match)
        if _pan.luhn_ok(digits):
            found[int(offset)] = digits
    proc.wait()
    return time.monotonic() - start, found


def score(found, planted):
    hits = sum(1 for offset in found if offset in planted)
    return {'found': len(found), 'true_positives': hits, 'recall': round(hits / len(planted), 4),
            'false_positives': len(found) - hits}


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n', maxsplit=1)[0])
    parser.add_argument('--mb', type=int, default=200)
    parser.add_argument('--rounds', type=int, default=2)
    parser.add_argument('--out', default=os.path.join(REPO, 'results', 'bench', 'pan.json'))
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, 'corpus.log')
        planted, size = generate(path, args.mb)
        print(f'corpus: {size / 1e6:.0f} MB, {len(planted)} planted card numbers')
        times = {'ours': [], 'grep': []}
        results = {}
        for _i in range(args.rounds):
            for name, fn in (('ours', run_ours), ('grep', run_grep)):
                seconds, found = fn(path)
                times[name].append(seconds)
                results[name] = score(found, planted)
    report = {'corpus_mb': round(size / 1e6, 1), 'planted': len(planted), 'rounds': args.rounds}
    for name in ('ours', 'grep'):
        best = sorted(times[name])[len(times[name]) // 2]
        report[name] = dict(results[name], median_s=round(best, 2), mb_per_s=round(size / 1e6 / best, 1))
    report['speed_ratio_ours_over_grep'] = round(report['ours']['mb_per_s'] / report['grep']['mb_per_s'], 2)
    os.makedirs(os.path.dirname(args.out), exist_ok=True)
    with open(args.out, 'w', encoding='utf-8') as handle:
        json.dump(report, handle, indent=1)
    print(f"{'scanner':<28} {'MB/s':>7} {'recall':>7} {'false pos.':>10}")
    for name, label in (('ours', 'posfleet pan_scan'), ('grep', 'grep -P + Luhn post-filter')):
        r = report[name]
        print(f"{label:<28} {r['mb_per_s']:>7} {r['recall']:>7} {r['false_positives']:>10}")
    print(f"speed ratio pan_scan / grep: x{report['speed_ratio_ours_over_grep']}")


if __name__ == '__main__':
    main()
