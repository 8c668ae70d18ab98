# Copyright (c) posfleet developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""PAN discovery: brands, separators, Luhn, digit runs, false-positive look-alikes, gzip, SQLite, memory bound."""

from __future__ import annotations

import gzip
import json
import os
import random
import sqlite3
import subprocess
import sys
import time
import tracemalloc

import pytest

from ansible_collections.posfleet.terminals.plugins.module_utils import _pan

KEY = "unit-test-hash-key-0123"  # the HMAC key of the findings (16 characters at least)


def with_check_digit(body):
    """``body`` + the Luhn check digit."""
    for digit in '0123456789':
        if _pan.luhn_ok(body + digit):
            return body + digit
    raise AssertionError('unreachable')


def luhn_break(number):
    return number[:-1] + str((int(number[-1]) + 1) % 10)


def group(number, sep, size=4):
    return sep.join(number[i:i + size] for i in range(0, len(number), size))


# (brand, number): every brand and length family, built with a valid check digit.
VALID = [
    ('visa', with_check_digit('411111111111111')),
    ('visa', with_check_digit('400000000000')),                 # 13 digits
    ('visa', with_check_digit('491761000000000000')),           # 19 digits
    ('mastercard', with_check_digit('555555555555444')),
    ('mastercard', with_check_digit('222100000000000')),        # 2-series low end
    ('mastercard', with_check_digit('272099999999999')),        # 2-series high end
    ('mastercard', with_check_digit('251234567890123')),
    ('amex', with_check_digit('37828224631000')),
    ('amex', with_check_digit('34000000000000')),
    ('unionpay', with_check_digit('622848000000123')),          # 16 digits
    ('unionpay', with_check_digit('620000000000000000')),       # 19 digits
    ('discover', with_check_digit('601111111111111')),
    ('discover', with_check_digit('644000000000000')),
    ('discover', with_check_digit('650000000000000')),
    ('jcb', with_check_digit('353011133330000')),
    ('jcb', with_check_digit('358900000000000000')),            # 19 digits
    ('diners', with_check_digit('3622720627166')),              # 14 digits
    ('diners', with_check_digit('305693090259041')),
    ('maestro', with_check_digit('675964982643845')),
    ('mir', with_check_digit('220000000000000')),
    ('unionpay', with_check_digit('810012345678901')),          # UnionPay 81
    ('rupay', with_check_digit('508227123456789')),
    ('rupay', with_check_digit('607384123456789')),
    ('elo', with_check_digit('636368123456789')),
    ('elo', with_check_digit('401178123456789')),               # inside Visa 4
    ('verve', with_check_digit('506099123456789')),
    ('verve', with_check_digit('650002123456789012')),          # 19 digits, inside Discover 65
    ('troy', with_check_digit('979200123456789')),
    ('diners', with_check_digit('3000000000000')),              # 14 digits, 300-305
]


@pytest.mark.parametrize('brand, number', VALID, ids=[f'{b}-{len(n)}-{n[:4]}' for b, n in VALID])
@pytest.mark.parametrize('sep', ['', ' ', '-'], ids=['plain', 'spaces', 'dashes'])
def test_every_brand_with_and_without_separators(tmp_path, brand, number, sep):
    text = group(number, sep) if sep else number
    path = tmp_path / 'log.txt'
    path.write_text(f'2026-11-21T10:00:00Z posd: pan={text} amount=1250\n')
    result = _pan.scan_paths([str(tmp_path)], KEY)
    assert result['pan_count'] == 1, text
    finding = result['findings'][0]
    assert finding['brand'] == brand
    assert finding['masked'] == '*' * (len(number) - 4) + number[-4:]
    assert finding['length'] == len(number)
    assert finding['line'] == 1
    assert number not in json.dumps(result)


# The networks' published ranges, restated here as the oracle of brand_of: (brand, prefixes, lengths). Every
# prefix is tried at every length, filled with 0s (low end of the range) and with 9s (high end).
BOUNDARIES = [
    ('visa', ['4', '49'], [13, 16, 19]),
    ('mastercard', ['51', '55', '2221', '2720'], [16]),
    ('amex', ['34', '37'], [15]),
    ('discover', ['6011', '644', '649', '65'], [16, 19]),
    ('jcb', ['3528', '3589'], [16, 19]),
    ('unionpay', ['62', '81'], [16, 19]),
    ('unionpay', ['622126', '622925'], [16, 19]),    # Discover accepts these, UnionPay issues them
    ('diners', ['300', '305', '3095', '36', '38', '39'], [14, 19]),
    ('maestro', ['5018', '5020', '5038', '5893', '6304', '6759', '6761', '6763'], [13, 19]),
    ('mir', ['2200', '2204'], [16, 19]),
    ('rupay', ['60', '82', '508'], [16]),
    ('elo', ['401178', '401179', '431274', '438935', '451416', '457393', '457631', '457632', '504175', '506699',
             '506778', '509000', '509999', '627780', '636297', '636368', '650031', '650033', '650035', '650051',
             '650405', '650439', '650485', '650538', '650541', '650598', '650700', '650718', '650720', '650727',
             '650901', '650978', '651652', '651679', '655000', '655019', '655021', '655058'], [16]),
    ('verve', ['506099', '506198', '507865', '507964', '650002', '650027'], [16, 18, 19]),
    ('troy', ['9792'], [16]),
]
BOUNDARY_CASES = [(brand, prefix, length, fill) for brand, prefixes, lengths in BOUNDARIES for prefix in prefixes
                  for length in lengths for fill in '09']

# One digit outside a range or a wrong length: no brand, or the brand of the range around it.
NEAR_MISSES = [
    (None, '4', 14), (None, '4', 15), (None, '4', 17), (None, '4', 18),
    (None, '500', 16), (None, '56', 16), (None, '51', 15), (None, '55', 17),
    (None, '2220', 16), (None, '2721', 16), (None, '2221', 15), (None, '2720', 17),
    (None, '33', 15), (None, '35', 15), (None, '34', 14), (None, '37', 16),
    (None, '6010', 17), (None, '6012', 17), ('rupay', '6010', 16), (None, '643', 16), (None, '66', 16),
    (None, '6011', 15), (None, '65', 15),
    (None, '3527', 16), (None, '3590', 16), (None, '3528', 15), (None, '3589', 20),
    (None, '62', 15), (None, '81', 15), (None, '80', 16), (None, '83', 16), (None, '61', 16),
    (None, '306', 14), (None, '3094', 14), (None, '3096', 14), (None, '37', 14), (None, '36', 13), (None, '35', 14),
    (None, '5017', 16), (None, '5019', 16), (None, '5892', 16), (None, '5894', 16), (None, '6303', 16),
    (None, '6305', 16), (None, '6758', 16), (None, '6760', 16), (None, '6764', 16), (None, '5018', 12),
    (None, '2199', 16), (None, '2205', 16), (None, '2200', 15),
    (None, '82', 15), (None, '82', 17), (None, '507', 16), (None, '509', 15), (None, '509', 17),
    (None, '506098', 16), (None, '506199', 16), (None, '507864', 16), (None, '507965', 16), (None, '506099', 17),
    ('discover', '650001', 16), ('discover', '650028', 18), ('discover', '650030', 16), ('discover', '650034', 16),
    ('visa', '401177', 16), ('visa', '401180', 16), ('visa', '401178', 13), ('unionpay', '627779', 16),
    ('unionpay', '622125', 16), ('unionpay', '622926', 16), ('jcb', '3530', 16), (None, '3530', 15),
    (None, '636296', 16), (None, '636298', 16), (None, '636368', 15),
    (None, '9791', 16), (None, '9793', 16), (None, '9792', 15), (None, '9792', 17),
]


def filled(prefix, length, fill):
    return with_check_digit(prefix + fill * (length - len(prefix) - 1))


@pytest.mark.parametrize('brand, prefix, length, fill', BOUNDARY_CASES,
                         ids=[f'{b}-{p}-{n}-{f}' for b, p, n, f in BOUNDARY_CASES])
def test_brand_range_boundaries(brand, prefix, length, fill):
    number = filled(prefix, length, fill)
    assert _pan.brand_of(number) == brand
    assert _pan.classify(number) == (number, brand)
    assert _pan.classify(luhn_break(number)) is None


@pytest.mark.parametrize('brand, prefix, length', NEAR_MISSES, ids=[f'{p}-{n}' for _b, p, n in NEAR_MISSES])
@pytest.mark.parametrize('fill', '09')
def test_near_misses(tmp_path, brand, prefix, length, fill):
    number = filled(prefix, length, fill)
    expected = None if brand is None else (number, brand)
    assert _pan.classify(number) == expected
    (tmp_path / 'f.log').write_text(f'pan={number}\n')
    result = _pan.scan_paths([str(tmp_path)], KEY)
    assert result['by_brand'] == ({} if brand is None else {brand: 1})


def test_every_brand_is_in_the_boundary_table():
    assert {row[0] for row in _pan.BRANDS} == {row[0] for row in BOUNDARIES}


@pytest.mark.parametrize('brand, number', VALID, ids=[f'{b}-{len(n)}-{n[:4]}' for b, n in VALID])
def test_luhn_invalid_numbers_do_not_match(brand, number):
    assert _pan.classify(number) == (number, brand)
    assert _pan.classify(luhn_break(number)) is None


LOOKALIKES = {
    'inside a longer digit run': 'ref 12' + with_check_digit('411111111111111') + '99',
    'longer run with spaces': 'acct ' + group(with_check_digit('411111111111111') + '1234', ' '),
    'digit and separator before': 'x 7-' + with_check_digit('411111111111111'),
    'glued to letters': 'ORD' + with_check_digit('411111111111111'),
    'timestamp compact': '20261121101500123',
    'timestamp with ms': 'ts=1763719200000 level=info',
    'iso date': '2026-11-21 10:15:00',
    'phone number international': 'call +86 138 1234 5678 or +49 30 1234 5678',
    'phone number plain': 'tel 0049 30 12345678',
    'imei 35': 'imei=' + with_check_digit('35693803564380'),
    'imei 86': 'imei=' + with_check_digit('86123456789012'),
    'imei 01': 'imei=' + with_check_digit('01234567890123'),
    'order number': 'order 4000-1234-5678-901-2',
    'order number luhn-valid but 14-digit visa': 'order ' + with_check_digit('4000123456789'),
    'masked pan': 'pan=411111******1111',
    'mastercard 2-series just below range': with_check_digit('222000000000000'),
    'mastercard 2-series just above range': with_check_digit('272100000000000'),
    'amex with 16 digits': with_check_digit('378282246310005'),
    'twelve digits': with_check_digit('41111111111'),
    'twenty digits': with_check_digit('4111111111111111111'),
    'double separators': '4111  1111  1111  1111',
    'uuid': 'id 550e8400-e29b-41d4-a716-446655440000',
    'ipv4 and port': '10.20.30.40:8443',
}


@pytest.mark.parametrize('text', list(LOOKALIKES.values()), ids=list(LOOKALIKES))
def test_lookalikes_never_match(tmp_path, text):
    (tmp_path / 'noise.log').write_text(text + '\n')
    result = _pan.scan_paths([str(tmp_path)], KEY)
    assert result['pan_count'] == 0, result['findings']


def test_luhn():
    assert _pan.luhn_ok('79927398713')
    assert not _pan.luhn_ok('79927398710')


def test_mask_and_keyed_hash():
    number = '4111111111111111'
    assert _pan.mask(number) == '************1111'
    assert _pan.mask('4000000000006') == '*********0006'
    one, two = _pan.keyed_hash(number, KEY), _pan.keyed_hash(number, KEY + 'x')
    assert one.startswith('hmac-sha256:') and one != two and len(one) == len('hmac-sha256:') + 64
    assert one == _pan.keyed_hash(number, KEY)
    assert number not in one


def test_short_hash_key_is_refused_without_showing_it(tmp_path):
    with pytest.raises(ValueError) as caught:
        _pan.scan_paths([str(tmp_path)], 'fleet-key')
    assert 'fleet-key' not in str(caught.value) and '16' in str(caught.value)


def test_test_pans_only_allowed_when_configured(tmp_path):
    (tmp_path / 'debug.log').write_text('pan=4111111111111111\npan=5555555555554444\n')
    assert _pan.scan_paths([str(tmp_path)], KEY)['pan_count'] == 2
    allowed = _pan.scan_paths([str(tmp_path)], KEY, allow_test_pans=True)
    assert allowed['pan_count'] == 0 and allowed['allowed_test_pans'] == 2


def test_line_numbers_and_offsets(tmp_path):
    number = with_check_digit('622848000000123')
    data = 'a\nb\n' + 'x' * 50 + ' ' + number + '\nc\n' + number + '\n'
    (tmp_path / 'f.log').write_text(data)
    result = _pan.scan_paths([str(tmp_path)], KEY)
    assert [(f['line'], f['offset']) for f in result['findings']] == [(3, data.index(number)),
                                                                      (5, data.rindex(number))]
    assert result['findings'][0]['hash'] == result['findings'][1]['hash']


@pytest.mark.parametrize('chunk', [7, 16, 37, 64, 1000])
def test_numbers_across_chunk_boundaries(tmp_path, chunk):
    numbers = [group(n, ' ') for _brand, n in VALID]
    text = '\n'.join(f'{"y" * (i * 3)} {n} z' for i, n in enumerate(numbers)) + '\n' + '1' * 300 + '\n'
    (tmp_path / 'f.log').write_text(text)
    result = _pan.scan_paths([str(tmp_path)], KEY, chunk=chunk)
    assert result['pan_count'] == len(VALID)
    assert [f['line'] for f in result['findings']] == list(range(1, len(VALID) + 1))
    assert result['bytes_scanned'] == len(text)


def boundary_corpus():
    """Card numbers, track 1/2 data and labelled CVV/PIN block values at every start offset modulo 1..70."""
    items = [
        ('%B' + with_check_digit('411111111111111') + '^DOE/JANE^28121010000000000', 'track1'),
        (';' + with_check_digit('545454545454545') + '=28121010000000', 'track2'),
        ('CVV2: 123', 'cvv2'),
        ('cvc=9876', 'cvc'),
        ('Track 2: ' + with_check_digit('622848000000123') + 'd2812', 'track2'),
        ('pin_block=0412ac89ffe', 'pinblock'),
        ('pan ' + group(with_check_digit('650002123456789'), ' '), None),
        ('pan ' + group(with_check_digit('3000000000000'), '-'), None),
    ]
    text, expected = '', []
    for index in range(120):
        value, kind = items[index % len(items)]
        text += 'x' * (index % 71) + ('\n' if index % 3 == 0 else ' ')
        if kind is not None:
            expected.append((kind, len(text)))
        text += value + ' '
    return text + '\n', expected


@pytest.mark.parametrize('chunk', [1, 2, 3, 7, 64, 4096, _pan.CHUNK])
def test_same_findings_whatever_the_chunk_size(tmp_path, chunk):
    text, expected_sad = boundary_corpus()
    path = tmp_path / 'f.log'
    path.write_text(text)
    result = _pan.scan_paths([str(path)], KEY, chunk=chunk, max_findings=1000)
    whole = _pan.scan_paths([str(path)], KEY, chunk=len(text) + 1, max_findings=1000)
    assert [(f['kind'], f['offset']) for f in result['sad_findings']] == expected_sad
    assert result['sad_findings'] == whole['sad_findings']
    assert result['findings'] == whole['findings']
    # 3 items in 8 hold a card number that stands alone (track 1 glues it to 'B', the labelled track 2 to 'd')
    assert result['pan_count'] == 120 * 3 // 8
    assert result['bytes_scanned'] == len(text)


@pytest.mark.parametrize('seed', range(4))
@pytest.mark.parametrize('chunk', [7, 64, 4096, _pan.CHUNK])
def test_prefilter_finds_what_the_candidate_pattern_finds(tmp_path, seed, chunk):
    """The pre-filter (translated copies + bytes.find, a shortcut for plain digit runs) against the definition:
    every CANDIDATE match of the whole text that classify accepts, on random digit/separator/letter soup."""
    rng = random.Random(seed)
    numbers = [n for _b, n in VALID]
    parts = []
    for _index in range(6000):
        roll = rng.random()
        if roll < 0.05:
            number = rng.choice(numbers)
            text = group(number, rng.choice(' -')) if rng.random() < 0.5 else number
            parts.append(rng.choice(['', ' ', '\n', '=', 'x']) + text + rng.choice(['', ' ', '\n', ';', 'x', ' -1']))
        else:
            parts.append(''.join(rng.choice('0123456789012345678901234567890123456789  -ax+\n')
                                 for _i in range(rng.randrange(1, 30))))
    text = ''.join(parts).encode('ascii')
    expected = []
    for match in _pan.CANDIDATE.finditer(text):
        hit = _pan.classify(match.group(0))
        if hit is not None:
            expected.append((match.start(), hit[1], _pan.mask(hit[0])))
    assert len(expected) > 40
    path = tmp_path / 'soup.log'
    path.write_bytes(text)
    result = _pan.scan_paths([str(path)], KEY, chunk=chunk, max_findings=10**6)
    assert [(f['offset'], f['brand'], f['masked']) for f in result['findings']] == expected


def test_gzip_compressed_log(tmp_path):
    number = with_check_digit('222300312200322')
    with gzip.open(tmp_path / 'posd.log.2.gz', 'wt') as handle:
        handle.write('noise\n' * 1000 + f'pan={number}\n')
    result = _pan.scan_paths([str(tmp_path)], KEY)
    assert result['pan_count'] == 1
    finding = result['findings'][0]
    assert finding['container'] == 'gzip' and finding['line'] == 1001 and finding['brand'] == 'mastercard'


def test_corrupt_gzip_is_an_error_not_a_crash(tmp_path):
    (tmp_path / 'bad.gz').write_bytes(b'\x1f\x8b\x08\x00garbage')
    result = _pan.scan_paths([str(tmp_path)], KEY)
    assert result['errors'] and result['errors'][0]['path'].endswith('bad.gz')


def test_sqlite_database(tmp_path):
    path = str(tmp_path / 'journal.db')
    conn = sqlite3.connect(path)
    conn.execute('CREATE TABLE transactions (id INTEGER PRIMARY KEY, pan_masked TEXT, note BLOB, pan_int INTEGER)')
    conn.execute('INSERT INTO transactions VALUES (1, ?, NULL, NULL)', ('622848******1234',))
    conn.execute('INSERT INTO transactions VALUES (2, ?, ?, NULL)',
                 ('411111******1111', b'track ' + with_check_digit('622848000000123').encode()))
    conn.execute('INSERT INTO transactions VALUES (3, NULL, NULL, ?)', (int(with_check_digit('601111111111111')),))
    conn.commit()
    conn.close()
    result = _pan.scan_paths([path], KEY)
    assert result['pan_count'] == 2
    assert {(f['table'], f['column'], f['rowid'], f['brand']) for f in result['findings']} == {
        ('transactions', 'note', 2, 'unionpay'), ('transactions', 'pan_int', 3, 'discover')}
    assert all(f['container'] == 'sqlite' for f in result['findings'])


SAD_CASES = {
    'track 2 with sentinel': ';4111111111111111=28122011234567890?',
    'track 1': '%B4111111111111111^DOE/JOHN^2812201000000000?',
    'labelled cvv': 'auth cvv2=123',
    'pin block': 'PIN block: 0412AC89ABCDEF01',
    'legacy debug line': 'DEBUG emv: track2 equivalent pan=4111111111111111 exp=2812 svc=201',
}


@pytest.mark.parametrize('text', list(SAD_CASES.values()), ids=list(SAD_CASES))
def test_sensitive_authentication_data(tmp_path, text):
    (tmp_path / 'f.log').write_text(text + '\n')
    result = _pan.scan_paths([str(tmp_path)], KEY)
    assert result['sad_count'] == 1
    assert '123' not in json.dumps(result['sad_findings'])


def test_no_sad_in_ordinary_log(tmp_path):
    (tmp_path / 'f.log').write_text('auth: response approved auth_code=4F2A91\nprinter: receipt printed\n')
    assert _pan.scan_paths([str(tmp_path)], KEY)['sad_count'] == 0


def test_paths_excludes_symlinks_and_missing(tmp_path):
    number = with_check_digit('411111111111111')
    (tmp_path / 'a').mkdir()
    (tmp_path / 'a' / 'keep.log').write_text(number)
    (tmp_path / 'a' / 'skip.log').write_text(number)
    (tmp_path / 'link.log').symlink_to(tmp_path / 'a' / 'keep.log')
    result = _pan.scan_paths([str(tmp_path), str(tmp_path / 'missing')], KEY, exclude=['*/skip.log'])
    assert result['pan_count'] == 1 and result['files_scanned'] == 1
    assert result['skipped_paths'] == [{'path': str(tmp_path / 'missing'), 'reason': 'does not exist'}]


def test_max_findings_and_file_size(tmp_path):
    number = with_check_digit('411111111111111')
    (tmp_path / 'many.log').write_text(f'{number}\n' * 30)
    result = _pan.scan_paths([str(tmp_path)], KEY, max_findings=5)
    assert result['pan_count'] == 30 and len(result['findings']) == 5
    skipped = _pan.scan_paths([str(tmp_path)], KEY, max_file_bytes=10)
    assert skipped['files_scanned'] == 0 and skipped['skipped_paths'][0]['reason'] == 'larger than 10 bytes'


def test_large_file_bounded_memory(tmp_path):
    number = with_check_digit('622848000000123')
    line = b'2026-11-21T10:00:00Z posd[412]: INFO sale approved amount_minor=1250 order 123456 ts 1763719200\n'
    path = tmp_path / 'big.log'
    with open(path, 'wb') as handle:
        for _index in range(4):
            handle.write(line * 100000)
            handle.write(f'pan={number}\n'.encode())
    size = path.stat().st_size
    assert size > 30_000_000
    tracemalloc.start()
    try:
        result = _pan.scan_paths([str(path)], KEY)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert result['pan_count'] == 4
    assert result['bytes_scanned'] == size
    assert result['throughput_mbps'] > 0
    assert peak < 8 * _pan.CHUNK, peak


@pytest.mark.parametrize('chunk', [50, 128, 4096])
def test_endless_separated_run_never_matches_and_does_not_stall(tmp_path, chunk):
    number = with_check_digit('411111111111111')
    text = '1234 ' * 5000 + 'x ' + group(number, '-') + '\n' + '9' * 20000 + ' end'
    (tmp_path / 'f.log').write_text(text)
    result = _pan.scan_paths([str(tmp_path)], KEY, chunk=chunk)
    assert result['pan_count'] == 1 and result['findings'][0]['masked'] == '************1111'
    assert result['bytes_scanned'] == len(text)


def test_lower_priority_in_a_child_process():
    """nice 19, SCHED_IDLE and the idle I/O class, nice read back from /proc (in a child: pytest keeps its own)."""
    code = ('import json, os, sys; sys.path[:0] = sys.argv[1:]; import conftest; '
            'from ansible_collections.posfleet.terminals.plugins.module_utils import _pan; '
            'before = _pan.current_priority(); applied = _pan.lower_priority(); '
            'stat = open("/proc/self/stat").read().rsplit(")", 1)[1].split(); '
            'print(json.dumps({"before": before, "applied": applied, "proc_nice": int(stat[16])}))')
    unit = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    out = subprocess.run([sys.executable, '-c', code, unit], capture_output=True, text=True, check=True).stdout
    report = json.loads(out)
    assert report['applied']['nice'] == 19 == report['proc_nice']
    assert report['before']['cpu_policy'] == 'other' and report['applied']['cpu_policy'] == 'idle'
    if report['before']['io_class'] is not None:  # the kernel reports I/O classes here: it must say idle now
        assert report['applied']['io_class'] == 'idle'
        assert report['before']['io_class'] != 'idle'


def test_rate_limit_slows_the_scan_down(tmp_path):
    path = tmp_path / 'f.log'
    path.write_bytes(b'2026-11-21T10:00:00Z posd: sale approved amount_minor=1250\n' * 40000)  # 2.4 MB
    started = time.monotonic()
    result = _pan.scan_paths([str(path)], KEY, rate_limit=8_000_000, chunk=1 << 18)
    seconds = time.monotonic() - started
    assert seconds >= 0.25 and result['throttled_ms'] > 0
    assert result['throughput_mbps'] <= 8.5
    assert _pan.scan_paths([str(path)], KEY)['throttled_ms'] == 0
