# Copyright (c) posfleet developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""PAN discovery (PCI DSS 3.4.1, 3.5.1) and sensitive authentication data hints (3.3.1) on a terminal.

A candidate is a run of 13 to 19 digits, optionally split by single spaces or dashes, that is not part of a
longer digit run (``1234 5678 ...`` continuing past 19 digits never matches), not glued to letters, and not a
phone number (``+86 ...``). It is a card number when its issuer identification number (IIN) and length belong
to a brand (Visa, Mastercard, American Express, Discover, JCB, UnionPay, Diners Club International, Maestro,
Mir, RuPay, Elo, Verve, Troy: BRANDS, explained in docs/pan-scan.md) and it passes the Luhn check. IMEIs (15
digits starting 35/01/86), timestamps and order numbers fail the brand/length rules or the Luhn check.

Files are read in fixed-size chunks (bounded memory, whatever the file size); gzip files are decompressed as a
stream; SQLite databases are read row by row through a read-only connection. Evidence never holds a full
number: the first six and last four digits, and a salted SHA-256 so the same card can be correlated across
files and terminals without being revealed.

Private to the collection. Target-side code: Python >= 3.9 standard library only.
"""

from __future__ import annotations

import bisect
import fnmatch
import gzip
import hashlib
import os
import re
import sqlite3
import stat
import time
import zlib

CHUNK = 1 << 20          # bytes read per step
KEEP = 96                # bytes kept at the end of a buffer for matches that continue in the next chunk;
                         # more than the longest card number (37) and track/CVV match (about 55)
CONTEXT = 4              # bytes kept before the resume point so the look-behinds still see them
MAX_FINDINGS = 100       # findings listed per scan (all are counted)

# The first digit comes first so that the regex engine can skip non-digits fast; the look-behinds then check
# what precedes it: no letter/digit/'+' right before, no "digit + separator" before (a longer run).
CANDIDATE = re.compile(
    rb'[0-9](?<![0-9A-Za-z+][0-9])(?<![0-9][ -][0-9])'
    rb'(?:[ -]?[0-9]){12,18}'
    rb'(?![0-9A-Za-z])(?![ -][0-9])'
)
SEPARATORS = re.compile(rb'[ -]')
# Coarse pre-filter (fast): runs of digits, spaces and dashes long enough to hold a candidate.
RUNS = re.compile(rb'[0-9][0-9 -]{11,}[0-9]')
MAX_CANDIDATE = 37       # 19 digits and 18 separators

# Sensitive authentication data: magnetic stripe track 1/2 layouts, and labelled CVV/PIN block values. The
# labels are found with bytes.find on a lower-cased copy (fast), then checked with LABELLED at each hit.
TRACKS = re.compile(rb'%B[0-9]{13,19}\^[^^\n]{2,26}\^[0-9]{4}|;[0-9]{13,19}=[0-9]{4}[0-9]{3}')
SAD_LABELS = (b'track', b'cvv', b'cvc', b'cav2', b'cid', b'pin')
LABELLED = re.compile(rb'(?<![a-z0-9_])(track ?[12]|cvv2?|cvc2?|cav2|cid|pin[ _-]?block)(?![a-z0-9])'
                      rb'[^\n]{0,40}?[=:] ?[0-9a-f]{3,}')


def sad_hits(buf, pos, end, stop=None):
    """``[(start, kind)]`` of sensitive authentication data starting in ``buf[pos:end]``, in order.

    A hit may run on past ``end`` up to ``stop`` (default: the end of ``buf``), so data that starts before a
    chunk boundary and ends after it is found once, in the round where it starts."""
    stop = len(buf) if stop is None else stop
    hits = []
    for match in TRACKS.finditer(buf, pos, stop):
        if match.start() >= end:
            break
        hits.append((match.start(), 'track1' if match.group(0)[:1] == b'%' else 'track2'))
    lower = buf.lower()
    for label in SAD_LABELS:
        # bytes.find wants the whole label before its end bound: search to ``stop``, keep the starts before ``end``.
        at = lower.find(label, pos, stop)
        while -1 < at < end:
            match = LABELLED.match(lower, at, stop)
            if match is not None:
                kind = match.group(1)
                hits.append((at, re.sub(rb'[ _-]', b'', kind).decode('ascii')))
            at = lower.find(label, at + 1, stop)
    return sorted(set(hits))


# (brand, IIN prefix low, IIN prefix high, allowed lengths) from the networks' published ranges; a range covers
# every number whose first len(low) digits lie in [low, high]. docs/pan-scan.md lists them with their sources.
# Overlaps: the range with the longer prefix wins (Elo and Verve inside Visa 4 and Discover 65, JCB 3528-3589
# over RuPay 353/356); on equal prefix length the earlier row wins (Discover before RuPay and Troy in 65,
# UnionPay before RuPay in 81). Rows in ACCEPTANCE are where a network accepts another network's cards: they
# count for detection but never name the brand (UnionPay issues 622126-622925; Discover accepts them). A number
# is a card number when any range covering it allows its length.
ANY = (13, 14, 15, 16, 17, 18, 19)   # 12-digit Maestro numbers are not scanned: too many look-alikes
BRANDS = (
    ('visa', '4', '4', (13, 16, 19)),
    ('mastercard', '51', '55', (16,)),
    ('mastercard', '2221', '2720', (16,)),
    ('amex', '34', '34', (15,)),
    ('amex', '37', '37', (15,)),
    ('discover', '6011', '6011', (16, 17, 18, 19)),
    ('discover', '644', '649', (16, 17, 18, 19)),
    ('discover', '65', '65', (16, 17, 18, 19)),
    ('discover', '622126', '622925', (16, 17, 18, 19)),
    ('jcb', '3528', '3589', (16, 17, 18, 19)),
    ('unionpay', '62', '62', (16, 17, 18, 19)),
    ('unionpay', '81', '81', (16, 17, 18, 19)),
    ('diners', '300', '305', (14, 15, 16, 17, 18, 19)),
    ('diners', '3095', '3095', (14, 15, 16, 17, 18, 19)),
    ('diners', '36', '36', (14, 15, 16, 17, 18, 19)),
    ('diners', '38', '39', (14, 15, 16, 17, 18, 19)),
    ('maestro', '5018', '5018', ANY),
    ('maestro', '5020', '5020', ANY),
    ('maestro', '5038', '5038', ANY),
    ('maestro', '5893', '5893', ANY),
    ('maestro', '6304', '6304', ANY),
    ('maestro', '6759', '6759', ANY),
    ('maestro', '6761', '6763', ANY),
    ('mir', '2200', '2204', (16, 17, 18, 19)),
    ('rupay', '60', '60', (16,)),
    ('rupay', '65', '65', (16,)),
    ('rupay', '81', '82', (16,)),
    ('rupay', '353', '353', (16,)),
    ('rupay', '356', '356', (16,)),
    ('rupay', '508', '508', (16,)),
    ('elo', '401178', '401179', (16,)),
    ('elo', '431274', '431274', (16,)),
    ('elo', '438935', '438935', (16,)),
    ('elo', '451416', '451416', (16,)),
    ('elo', '457393', '457393', (16,)),
    ('elo', '457631', '457632', (16,)),
    ('elo', '504175', '504175', (16,)),
    ('elo', '506699', '506778', (16,)),
    ('elo', '509000', '509999', (16,)),
    ('elo', '627780', '627780', (16,)),
    ('elo', '636297', '636297', (16,)),
    ('elo', '636368', '636368', (16,)),
    ('elo', '650031', '650033', (16,)),
    ('elo', '650035', '650051', (16,)),
    ('elo', '650405', '650439', (16,)),
    ('elo', '650485', '650538', (16,)),
    ('elo', '650541', '650598', (16,)),
    ('elo', '650700', '650718', (16,)),
    ('elo', '650720', '650727', (16,)),
    ('elo', '650901', '650978', (16,)),
    ('elo', '651652', '651679', (16,)),
    ('elo', '655000', '655019', (16,)),
    ('elo', '655021', '655058', (16,)),
    ('verve', '506099', '506198', (16, 18, 19)),
    ('verve', '507865', '507964', (16, 18, 19)),
    ('verve', '650002', '650027', (16, 18, 19)),
    ('troy', '65', '65', (16,)),
    ('troy', '9792', '9792', (16,)),
)
ACCEPTANCE = frozenset({('discover', '622126')})
IIN_DIGITS = 6           # every range above is decided by the first six digits


def _brand_index(brands=BRANDS):
    """Per length, ``(starts, ends, names)``: disjoint sorted 6-digit IIN intervals and the brand that wins each.

    Built once at import from BRANDS with the overlap rule above, so that a lookup is one bisect."""
    index = {}
    for length in range(13, 20):
        ranges = []
        for order, (brand, low, high, lengths) in enumerate(brands):
            if length in lengths:
                pad = IIN_DIGITS - len(low)
                weight = 0 if (brand, low) in ACCEPTANCE else len(low)
                ranges.append((int(low) * 10 ** pad, (int(high) + 1) * 10 ** pad - 1, (weight, -order), brand))
        cuts = sorted({r[0] for r in ranges} | {r[1] + 1 for r in ranges})
        starts, ends, names = [], [], []
        for low, high in zip(cuts, cuts[1:]):
            covering = [r for r in ranges if r[0] <= low and high - 1 <= r[1]]
            if not covering:
                continue
            brand = max(covering, key=lambda r: r[2])[3]
            if names and names[-1] == brand and ends[-1] == low - 1:
                ends[-1] = high - 1
            else:
                starts.append(low)
                ends.append(high - 1)
                names.append(brand)
        index[length] = (starts, ends, names)
    return index


BRAND_INDEX = _brand_index()

# Published test card numbers of the brands and acquirers. Only skipped when the caller asks for it.
TEST_PANS = frozenset((
    '4111111111111111', '4012888888881881', '4222222222222', '4242424242424242', '4000056655665556',
    '4917610000000000003', '5555555555554444', '5105105105105100', '5200828282828210', '2223003122003222',
    '2223000048400011', '378282246310005', '371449635398431', '378734493671000', '6011111111111117',
    '6011000990139424', '6011000400000000', '3530111333300000', '3566002020360505', '30569309025904',
    '38520000023237', '36227206271667', '6200000000000005', '6200000000000047', '6205500000000000004',
    '6759649826438453', '2200000000000004',
))

GZIP_MAGIC = b'\x1f\x8b'
SQLITE_MAGIC = b'SQLite format 3\x00'


def luhn_ok(digits):
    """Luhn (mod 10) check of a string of digits."""
    total = 0
    for index, char in enumerate(reversed(digits)):
        value = ord(char) - 48
        if index % 2:
            value *= 2
            if value > 9:
                value -= 9
        total += value
    return total % 10 == 0


def brand_of(digits):
    """The brand whose IIN range and length fit ``digits`` (a str of digits), or ``None``."""
    table = BRAND_INDEX.get(len(digits))
    if table is None:
        return None
    starts, ends, names = table
    iin = int(digits[:IIN_DIGITS])
    at = bisect.bisect_right(starts, iin) - 1
    if at >= 0 and iin <= ends[at]:
        return names[at]
    return None


def classify(candidate):
    """``(digits, brand)`` when ``candidate`` (bytes or str, separators allowed) is a card number, else ``None``."""
    if isinstance(candidate, str):
        candidate = candidate.encode('ascii', 'replace')
    digits = SEPARATORS.sub(b'', candidate).decode('ascii')
    if not 13 <= len(digits) <= 19:
        return None
    brand = brand_of(digits)
    if brand is None or not luhn_ok(digits):
        return None
    return digits, brand


def mask(digits):
    """First six and last four digits, the rest as ``*`` (PCI DSS 3.4.1's most that may be shown)."""
    return digits[:6] + '*' * (len(digits) - 10) + digits[-4:]


def salted_hash(digits, salt):
    """``sha256:<hex>`` of salt + digits: correlates one card across files and terminals without revealing it."""
    return 'sha256:' + hashlib.sha256(salt.encode('utf-8') + digits.encode('ascii')).hexdigest()


class Scan:
    """One scan's counters and findings (findings capped at ``max_findings``; every hit is counted)."""

    def __init__(self, salt, allow_test_pans=False, max_findings=MAX_FINDINGS):
        self.salt = salt
        self.allow_test_pans = allow_test_pans
        self.max_findings = max_findings
        self.findings = []
        self.count = 0
        self.allowed = 0
        self.sad_count = 0
        self.sad = []
        self.files = 0
        self.bytes = 0
        self.errors = []
        self.skipped = []
        self.by_brand = {}
        self.started = time.monotonic()

    def add(self, digits, brand, where):
        if self.allow_test_pans and digits in TEST_PANS:
            self.allowed += 1
            return
        self.count += 1
        self.by_brand[brand] = self.by_brand.get(brand, 0) + 1
        if len(self.findings) < self.max_findings:
            finding = {'brand': brand, 'length': len(digits), 'masked': mask(digits),
                       'hash': salted_hash(digits, self.salt)}
            finding.update(where)
            self.findings.append(finding)

    def add_sad(self, kind, where):
        self.sad_count += 1
        if len(self.sad) < self.max_findings:
            entry = {'kind': kind}
            entry.update(where)
            self.sad.append(entry)

    def result(self):
        seconds = max(time.monotonic() - self.started, 1e-6)
        return {
            'files_scanned': self.files,
            'bytes_scanned': self.bytes,
            'duration_ms': int(round(seconds * 1000)),
            'throughput_mbps': round(self.bytes / seconds / 1e6, 1),
            'pan_count': self.count,
            'allowed_test_pans': self.allowed,
            'by_brand': dict(sorted(self.by_brand.items())),
            'findings': self.findings,
            'sad_count': self.sad_count,
            'sad_findings': self.sad,
            'errors': self.errors,
            'skipped': self.skipped,
        }


def scan_stream(read, scan, where, chunk=CHUNK):
    """Scan a byte stream given by ``read(size)`` with bounded memory; ``where`` is added to every finding."""
    buf = b''
    pos = 0            # where new match starts may begin in buf
    base = 0           # stream offset of buf[0]
    line = 1           # line number at buf[pos]
    eof = False
    while not eof:
        data = read(chunk)
        if not data:
            eof = True
        else:
            scan.bytes += len(data)
            buf += data
        limit = len(buf) if eof else len(buf) - KEEP
        if limit <= pos:
            continue
        resume = limit
        hits = []
        for run in RUNS.finditer(buf, pos):
            start, end = run.span()
            if start >= resume:
                break
            if end > limit and not eof:
                # A run that continues past the kept tail: finish what cannot reach the tail, defer the rest.
                resume = max(start, limit - 2 * MAX_CANDIDATE)
            elif end - start - buf.count(b' ', start, end) - buf.count(b'-', start, end) < 13:
                continue  # fewer than 13 digits (dates, batch numbers): cheaper than the full pattern
            for match in CANDIDATE.finditer(buf, start, min(end + 2, len(buf))):
                if match.start() >= resume:
                    break
                hit = classify(match.group(0))
                if hit is not None:
                    hits.append((match.start(), hit))
        sads = sad_hits(buf, pos, resume)
        for events, record in ((hits, _record_pan), (sads, _record_sad)):
            at, number = pos, line
            for start, value in events:
                number += buf.count(b'\n', at, start)
                at = start
                record(scan, value, dict(where, offset=base + start, line=number))
        line += buf.count(b'\n', pos, resume)
        cut = max(resume - CONTEXT, 0)
        base += cut
        buf = buf[cut:]
        pos = resume - cut


def _record_pan(scan, hit, where):
    scan.add(hit[0], hit[1], where)


def _record_sad(scan, kind, where):
    scan.add_sad(kind, where)


def _scan_file(path, scan, chunk):
    with open(path, 'rb') as handle:
        head = handle.read(16)
        handle.seek(0)
        if head.startswith(SQLITE_MAGIC):
            handle.close()
            _scan_sqlite(path, scan)
            return 'sqlite'
        if head.startswith(GZIP_MAGIC):
            with gzip.GzipFile(fileobj=handle) as stream:
                scan_stream(stream.read, scan, {'path': path, 'container': 'gzip'}, chunk)
            return 'gzip'
        scan_stream(handle.read, scan, {'path': path, 'container': 'file'}, chunk)
        return 'file'


def _quote(name):
    return '"' + name.replace('"', '""') + '"'


def _scan_sqlite(path, scan):
    """Every text, blob and integer value of every table, row by row, through a read-only connection."""
    uri = 'file:' + path.replace('?', '%3f').replace('#', '%23') + '?mode=ro'
    conn = sqlite3.connect(uri, uri=True, timeout=5)
    try:
        tables = [row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
        for table in tables:
            columns = [row[1] for row in conn.execute(f'PRAGMA table_info({_quote(table)})')]
            if not columns:
                continue
            selected = ', '.join(_quote(c) for c in columns) + ' FROM ' + _quote(table)
            try:
                cursor = conn.execute('SELECT rowid, ' + selected)
            except sqlite3.OperationalError:  # WITHOUT ROWID tables
                cursor = conn.execute('SELECT NULL, ' + selected)
            for row in cursor:
                for column, value in zip(columns, row[1:]):
                    if value is None or isinstance(value, float):
                        continue
                    if isinstance(value, int):
                        value = str(value).encode('ascii')
                    elif isinstance(value, str):
                        value = value.encode('utf-8', 'replace')
                    data = [value]
                    scan_stream(lambda size, d=data: d.pop() if d else b'', scan,
                                {'path': path, 'container': 'sqlite', 'table': table, 'column': column,
                                 'rowid': row[0]})
    finally:
        conn.close()


def _excluded(path, exclude):
    return any(fnmatch.fnmatch(path, pattern) for pattern in exclude)


def iter_files(paths, exclude=(), scan=None, max_file_bytes=0):
    """Regular files under ``paths`` (files or directories), without following symbolic links."""
    for top in paths:
        try:
            info = os.lstat(top)
        except FileNotFoundError:
            if scan is not None:
                scan.skipped.append({'path': top, 'reason': 'does not exist'})
            continue
        except OSError as exc:
            if scan is not None:
                scan.errors.append({'path': top, 'error': exc.strerror or str(exc)})
            continue
        if stat.S_ISREG(info.st_mode):
            candidates = [(top, info)]
        elif stat.S_ISDIR(info.st_mode):
            candidates = _walk(top, scan)
        else:
            continue
        for path, info in candidates:
            if _excluded(path, exclude):
                continue
            if max_file_bytes and info.st_size > max_file_bytes:
                if scan is not None:
                    scan.skipped.append({'path': path, 'reason': f'larger than {max_file_bytes} bytes'})
                continue
            yield path


def _walk(top, scan):
    def onerror(exc):
        if scan is not None:
            scan.errors.append({'path': exc.filename or top, 'error': exc.strerror or str(exc)})

    for directory, dirs, files in os.walk(top, onerror=onerror):
        dirs.sort()
        for name in sorted(files):
            path = os.path.join(directory, name)
            try:
                info = os.lstat(path)
            except OSError:
                continue
            if stat.S_ISREG(info.st_mode):
                yield path, info


def scan_paths(paths, salt, exclude=(), allow_test_pans=False, max_findings=MAX_FINDINGS, max_file_bytes=0,
               chunk=CHUNK):
    """Scan files and directories; returns the result dict (see the pan_scan module's RETURN)."""
    scan = Scan(salt, allow_test_pans=allow_test_pans, max_findings=max_findings)
    for path in iter_files(paths, exclude, scan, max_file_bytes):
        try:
            _scan_file(path, scan, chunk)
            scan.files += 1
        except (OSError, EOFError, zlib.error, sqlite3.Error) as exc:
            message = getattr(exc, 'strerror', None) or str(exc)
            scan.errors.append({'path': path, 'error': message})
    return scan.result()
