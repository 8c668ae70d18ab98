#!/usr/bin/env python
# Copyright (c) posfleet developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""PAN scan benchmark: posfleet.terminals' scanner vs ``grep -P`` with a Luhn post-filter, on one generated corpus.

Generates a mixed log corpus (default 200 MB) with card numbers of every brand in ``_pan.BRANDS`` planted at known
offsets (plain, spaced, dashed; each brand at the ends of its ranges and lengths) and labelled CVV/PIN block values,
among look-alikes that must not match: Luhn-valid IMEIs, timestamps, phone numbers, order numbers, UUIDs,
card-like numbers inside longer digit runs and Luhn-valid 16-digit numbers without a card brand. Runs both
scanners alternately (``--rounds``, default 3) and prints MB/s of each per round, then the medians, recall and
false positives of each and the median throughput ratio. grep's post-filter is pan_scan's own
``classify`` (brand, length, Luhn), so the false-positive comparison is about finding candidates only; the
Luhn-only count shows what a naive scanner reports. Run by hand (not part of the test suite):

    python tests/bench/pan_bench.py [--mb 200] [--rounds 3] [--corpus-dir /var/tmp] [--out results/bench/pan.json]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import resource
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
# (IIN prefix, length): every brand of _pan.BRANDS, at the ends of its ranges and lengths.
PREFIXES = [
    ('4', 13), ('4', 16), ('4', 19), ('51', 16), ('55', 16), ('2221', 16), ('2720', 16), ('2500', 16),
    ('34', 15), ('37', 15),
    ('6011', 16), ('6011', 19), ('644', 16), ('649', 17), ('65', 16), ('65', 19), ('622126', 16), ('622925', 19),
    ('3528', 16), ('3589', 19), ('62', 16), ('62', 19), ('81', 16), ('81', 18),
    ('300', 14), ('305', 16), ('3095', 14), ('36', 14), ('38', 19), ('39', 14),
    ('5018', 13), ('5020', 16), ('5038', 19), ('5893', 15), ('6304', 16), ('6759', 16), ('6761', 19), ('6763', 17),
    ('2200', 16), ('2204', 19), ('60', 16), ('82', 16), ('508', 16),
    ('401178', 16), ('509000', 16), ('627780', 16), ('636368', 16), ('650031', 16), ('655058', 16),
    ('506099', 16), ('507964', 18), ('650027', 19), ('9792', 16),
]
# First digits that no brand uses at these lengths: Luhn-valid look-alikes without a card brand.
NO_BRAND = ['1', '7', '90', '99', '80', '83', '85', '00']


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
    if kind == 1:  # Luhn-valid 16 digits without a brand
        first = rng.choice(NO_BRAND)
        return 'ref=' + check_digit(first + ''.join(rng.choice('0123456789') for _i in range(15 - len(first))))
    if kind == 2:  # a card number inside a run longer than any card number (an account or batch number)
        number = random_pan(rng)
        return 'batch=' + number + ''.join(rng.choice('0123456789') for _i in range(max(2, 20 - len(number))))
    if kind == 3:
        return f'call +86 138 {rng.randrange(1000, 9999)} {rng.randrange(1000, 9999)}'
    if kind == 4:
        return f'order ORD{rng.randrange(10**12, 10**13)} ts={rng.randrange(10**12, 10**13)}'
    if kind == 5:
        return f'epoch_ms {rng.randrange(1700000000000, 1800000000000)} tx {rng.randrange(10**6, 10**7)}'
    return 'id ' + '-'.join(''.join(rng.choice('0123456789abcdef') for _i in range(n)) for n in (8, 4, 4, 4, 12))


def sad_line(rng):
    """A labelled CVV, CVC or PIN block value (no card number in the line): what pan_scan must report as SAD."""
    kind = rng.randrange(3)
    if kind == 0:
        return f'cvv2={rng.randrange(100, 999)}'
    if kind == 1:
        return f'CVC: {rng.randrange(1000, 9999)}'
    return 'pin_block=' + ''.join(rng.choice('0123456789abcdef') for _i in range(16))


def generate(path, megabytes, seed=4711):
    rng = random.Random(seed)
    target = megabytes * 1_000_000
    planted = {}
    sad = []
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
            elif roll < 0.0025:
                prefix = f'{ts} posd[{rng.randrange(100, 999)}]: DEBUG emv '
                sad.append(size + len(prefix.encode()))
                line = f'{prefix}{sad_line(rng)} amount_minor={rng.randrange(100, 99999)}\n'
            elif roll < 0.2:
                line = f'{ts} posd[{rng.randrange(100, 999)}]: INFO {lookalike(rng)}\n'
            else:
                line = (f'{ts} posd[{rng.randrange(100, 999)}]: INFO sale approved amount_minor='
                        f'{rng.randrange(100, 99999)} currency=CNY pan=622848******{rng.randrange(1000, 9999)} '
                        f'batch B20261121-{rng.randrange(1, 9999):04d}\n')
            data = line.encode()
            handle.write(data)
            size += len(data)
    return planted, sad, size


def corpus(directory, megabytes):
    """The corpus file and its planted offsets, generated once per size into ``directory`` and reused."""
    path = os.path.join(directory, f'pan-corpus-{megabytes}mb.log')
    meta = path + '.json'
    if os.path.exists(meta) and os.path.exists(path):
        with open(meta, encoding='utf-8') as handle:
            data = json.load(handle)
        return path, {int(k): v for k, v in data['planted'].items()}, data['sad'], data['size']
    planted, sad, size = generate(path, megabytes)
    with open(meta, 'w', encoding='utf-8') as handle:
        json.dump({'planted': planted, 'sad': sad, 'size': size}, handle)
    return path, planted, sad, size


def cpu_seconds():
    """CPU time of this process and its finished children (grep), user + system."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def run_ours(path):
    start, cpu = time.monotonic(), cpu_seconds()
    result = _pan.scan_paths([path], 'benchmark-hash-key-0', max_findings=10**9, max_bytes=0, max_seconds=0)
    seconds, cpu = time.monotonic() - start, cpu_seconds() - cpu
    found = {f['offset']: f['brand'] for f in result['findings']}
    return seconds, cpu, found, [f['offset'] for f in result['sad_findings']]


def run_grep(path):
    """grep -P prints offset:match for every candidate; pan_scan's own brand, length and Luhn check filters them.

    Also counts what a Luhn-only post-filter would have reported, the common naive scanner."""
    start, cpu = time.monotonic(), cpu_seconds()
    proc = subprocess.Popen(['grep', '-obP', GREP_PATTERN, path], stdout=subprocess.PIPE)
    found = {}
    luhn_only = 0
    for raw in proc.stdout:
        offset, _sep, match = raw.rstrip(b'\n').partition(b':')
        hit = _pan.classify(match)
        if hit is not None:
            found[int(offset)] = hit[1]
        if _pan.luhn_ok(re.sub(rb'[ -]', b'', match).decode('ascii')):
            luhn_only += 1
    proc.wait()
    return time.monotonic() - start, cpu_seconds() - cpu, found, luhn_only


def score(found, planted):
    hits = sum(1 for offset in found if offset in planted)
    return {'found': len(found), 'true_positives': hits, 'recall': round(hits / len(planted), 4),
            'false_positives': len(found) - hits}


def median(values):
    ordered = sorted(values)
    middle = len(ordered) // 2
    return ordered[middle] if len(ordered) % 2 else (ordered[middle - 1] + ordered[middle]) / 2


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n', maxsplit=1)[0])
    parser.add_argument('--mb', type=int, default=200)
    parser.add_argument('--rounds', type=int, default=3)
    parser.add_argument('--corpus-dir', default=None,
                        help='keep the generated corpus here and reuse it (default: a temporary directory)')
    parser.add_argument('--out', default=os.path.join(REPO, 'results', 'bench', 'pan.json'))
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        path, planted, sad, size = corpus(args.corpus_dir or tmp, args.mb)
        brands = {}
        for number in planted.values():
            brand = _pan.brand_of(number)
            brands[brand] = brands.get(brand, 0) + 1
        print(f'corpus: {size / 1e6:.0f} MB, {len(planted)} planted card numbers of {len(brands)} brands '
              f'({", ".join(f"{b} {n}" for b, n in sorted(brands.items()))}), {len(sad)} planted CVV/PIN values')
        times = {'ours': [], 'grep': []}
        cpu = {'ours': [], 'grep': []}
        ratios = []
        for index in range(args.rounds):
            seconds, ours_cpu, ours, ours_sad = run_ours(path)
            times['ours'].append(seconds)
            cpu['ours'].append(ours_cpu)
            grep_seconds, grep_cpu, grep, luhn_only = run_grep(path)
            times['grep'].append(grep_seconds)
            cpu['grep'].append(grep_cpu)
            ratios.append(grep_seconds / seconds)
            print(f'round {index + 1}: pan_scan {size / 1e6 / seconds:6.1f} MB/s ({size / 1e6 / ours_cpu:6.1f} MB '
                  f'per CPU s)   grep -P + post-filter {size / 1e6 / grep_seconds:6.1f} MB/s '
                  f'({size / 1e6 / grep_cpu:6.1f} MB per CPU s)   ratio pan_scan/grep x{grep_seconds / seconds:.2f}',
                  flush=True)
            if index == 0:
                missed = sorted({_pan.brand_of(n) for o, n in planted.items() if o not in ours})
                wrong = sum(1 for o, b in ours.items() if o in planted and b != _pan.brand_of(planted[o]))
                results = {'ours': score(ours, planted), 'grep': score(grep, planted)}
                results['ours'].update(missed_brands=missed, wrong_brand=wrong,
                                       sad_recall=round(len(set(ours_sad) & set(sad)) / max(len(sad), 1), 4),
                                       sad_false_positives=len(set(ours_sad) - set(sad)))
                results['grep'].update(luhn_only_false_positives=luhn_only - results['grep']['true_positives'])
    report = {'corpus_mb': round(size / 1e6, 1), 'planted': len(planted), 'planted_by_brand': brands,
              'planted_sad': len(sad), 'rounds': args.rounds}
    for name in ('ours', 'grep'):
        report[name] = dict(results[name], median_s=round(median(times[name]), 2),
                            mb_per_s=round(size / 1e6 / median(times[name]), 1),
                            mb_per_cpu_s=round(size / 1e6 / median(cpu[name]), 1),
                            rounds_s=[round(t, 2) for t in times[name]])
    report['speed_ratio_ours_over_grep'] = round(median(ratios), 2)
    os.makedirs(os.path.dirname(args.out), exist_ok=True)
    with open(args.out, 'w', encoding='utf-8') as handle:
        json.dump(report, handle, indent=1)
    print(f"\nmedian of {args.rounds} alternating rounds:")
    print(f"{'scanner':<44} {'MB/s':>7} {'MB/CPU s':>9} {'recall':>7} {'false pos.':>10}")
    ours, grep = report['ours'], report['grep']
    print(f"{'posfleet pan_scan':<44} {ours['mb_per_s']:>7} {ours['mb_per_cpu_s']:>9} {ours['recall']:>7} "
          f"{ours['false_positives']:>10}")
    print(f"{'grep -P + pan_scan brand/length/Luhn filter':<44} {grep['mb_per_s']:>7} {grep['mb_per_cpu_s']:>9} "
          f"{grep['recall']:>7} {grep['false_positives']:>10}")
    print(f"{'(grep -P + Luhn only)':<44} {'':>7} {'':>9} {'':>7} {grep['luhn_only_false_positives']:>10}")
    print(f"speed ratio pan_scan / grep: x{report['speed_ratio_ours_over_grep']} (median of per-round ratios)")
    print(f"pan_scan: brands missed {ours['missed_brands'] or 'none'}, wrong brand {ours['wrong_brand']}, "
          f"CVV/PIN recall {ours['sad_recall']}, CVV/PIN false positives {ours['sad_false_positives']}")


if __name__ == '__main__':
    main()
