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
stream; SQLite databases are read row by row through a read-only connection (a database SQLite cannot read is
scanned as raw bytes and reported). Evidence never holds a full number, nor the first six digits next to a hash:
the last four digits and HMAC-SHA256 under a secret key (PCI DSS 3.5.1: a keyed cryptographic hash of the whole
PAN; without the key, the about 10^5 candidates a truncated form leaves cannot be tested against it).

Every scan is bounded: a byte and a time budget (reaching one makes the result incomplete, never clean),
pseudo-filesystems (proc, sysfs, devtmpfs ...) are not entered, the holes of sparse files are not read, files
are opened with O_NOFOLLOW | O_NONBLOCK and must be regular files by fstat, and a scan whose Ansible task is
gone (parent process changed, or nobody reads its output any more) stops by itself.

Private to the collection. Target-side code: Python >= 3.9 standard library only.
"""

from __future__ import annotations

import bisect
import contextlib
import ctypes
import errno
import fnmatch
import gzip
import hashlib
import hmac
import os
import platform
import re
import select
import sqlite3
import stat
import time
import zlib

from ansible_collections.posfleet.terminals.plugins.module_utils._ranges import Range

CHUNK = 1 << 18          # bytes read per step: 256 KiB stays in the CPU caches (posd keeps its latency)
# KEEP: bytes kept at the end of a buffer for matches that continue in the next chunk; more than the longest
# card number (37) and track/CVV match (about 55).
KEEP = 96
CONTEXT = 4              # bytes kept before the resume point so the look-behinds still see them
MAX_FINDINGS = 100       # findings listed per scan (all are counted)
# Budgets of one scan; they fit a maintenance window: 10 GB is two minutes at the measured 82 MB/s and about
# eight at a 20 MB/s rate limit, 20 minutes leaves the rest of a night's window to the other work.
MAX_SCAN_BYTES = 10 * 1000 ** 3
MAX_SCAN_SECONDS = 1200
# The allowed range of each numeric option of pan_scan (``_ranges``): every scan has a byte and a time budget.
PAN_SCAN_RANGES = {
    'max_findings': Range(0, 100000, 'findings'),
    'max_file_mb': Range(0, 10000000, 'MB'),
    'max_scan_mb': Range(1, 10000000, 'MB'),
    'max_scan_seconds': Range(1, 86400, 'seconds'),
    'rate_limit': Range(0, 10 ** 10, 'bytes per second'),
}
MIN_KEY_LENGTH = 16      # characters of the hash key: a short key could be guessed along with the PAN
HASH_PREFIX = 'hmac-sha256:'
LIVENESS_SECONDS = 1.0   # how often a scan checks that its task still waits for it
# File systems that hold no stored data, only views of the kernel (reading /proc/kcore or a sysfs tree never
# ends, and /proc repeats every process's memory map). tmpfs is not among them: /tmp may be one.
PSEUDO_FILESYSTEMS = frozenset((
    'proc', 'sysfs', 'devtmpfs', 'devpts', 'cgroup', 'cgroup2', 'securityfs', 'debugfs', 'tracefs', 'pstore',
    'bpf', 'configfs', 'fusectl', 'mqueue', 'hugetlbfs', 'autofs', 'binfmt_misc', 'efivarfs', 'rpc_pipefs',
    'nsfs', 'selinuxfs', 'ramfs',
))
# Used when /proc/self/mountinfo cannot be read: where Linux mounts them.
PSEUDO_PREFIXES = ('/proc', '/sys', '/dev')
SPARSE_SLACK = 1 << 20   # a file is read by its data segments when its allocated blocks are this far below its size
OPEN_FLAGS = os.O_RDONLY | getattr(os, 'O_NOFOLLOW', 0) | getattr(os, 'O_NONBLOCK', 0) | getattr(os, 'O_CLOEXEC', 0) \
    | getattr(os, 'O_NOCTTY', 0)

# The first digit comes first so that the regex engine can skip non-digits fast; the look-behinds then check
# what precedes it: no letter/digit/'+' right before, no "digit + separator" before (a longer run).
CANDIDATE = re.compile(
    rb'[0-9](?<![0-9A-Za-z+][0-9])(?<![0-9][ -][0-9])'
    rb'(?:[ -]?[0-9]){12,18}'
    rb'(?![0-9A-Za-z])(?![ -][0-9])'
)
MAX_CANDIDATE = 37       # 19 digits and 18 separators

# Pre-filter without the regex engine (which would try a match at every digit of a log): two translated copies
# of the buffer and bytes.find for a fixed needle. A candidate without separators is a run of 13+ digits
# (PLAIN in DIGIT_MAP's copy); one with separators is a run of 14+ digits, spaces and dashes (SEPARATED in
# RUN_MAP's copy). Batch ids such as 20261121-0001 (13 characters, 12 digits) are in neither.
# DIGIT_MAP also marks "c" + v/a/i for the CVV labels below (one pass for both); a digit run right after such a
# letter is glued to it, so never a candidate, and PLAIN may miss it.
DIGIT_MAP = bytes(48 if 48 <= c <= 57 else 99 if c in b'cC' else 118 if c in b'vVaAiI' else 46 for c in range(256))
RUN_MAP = bytes(48 if 48 <= c <= 57 or c in (32, 45) else 46 for c in range(256))
PLAIN = b'.' + b'0' * 13
# What may not touch a candidate (CANDIDATE's look-arounds), as byte -> 1 tables.
GLUED_BEFORE = bytes(1 if chr(c).isalnum() and c < 128 or c == 43 else 0 for c in range(256))
GLUED_AFTER = bytes(1 if chr(c).isalnum() and c < 128 else 0 for c in range(256))
SEPARATED = b'.' + b'0' * 14

# Sensitive authentication data: magnetic stripe track 1/2 layouts, and labelled CVV/PIN block values. Each is
# found through a single byte that bytes.find scans with memchr ('%', ';', 'k' of track and block) or through
# "c" + one of v/a/i in DIGIT_MAP's copy (cvv, cvc, cav2, cid), then checked with TRACKS or LABELLED there.
TRACKS = re.compile(rb'%B[0-9]{13,19}\^[^^\n]{2,26}\^[0-9]{4}|;[0-9]{13,19}=[0-9]{4}[0-9]{3}')
LABELLED = re.compile(rb'(?<![a-z0-9_])(track ?[12]|cvv2?|cvc2?|cav2|cid|pin[ _-]?block)(?![a-z0-9])'
                      rb'[^\n]{0,40}?[=:] ?[0-9a-f]{3,}')
LABEL_SPAN = 64          # longest label, 40 characters, separator and 3 value characters, rounded up
K_OFFSETS = (4, 7, 8)    # where the 'k' of "track", "pinblock" and "pin block" sits after the label's start


def _label_at(buf, start, stop, hits):
    if start < 0:
        return
    window = buf[max(start - 1, 0):min(start + LABEL_SPAN, stop)].lower()
    match = LABELLED.match(window, 1 if start else 0)
    if match is not None:
        hits.append((start, match.group(1).replace(b' ', b'').replace(b'_', b'').replace(b'-', b'')
                     .decode('ascii')))


def sad_hits(buf, pos, end, stop=None, marked=None):
    """``[(start, kind)]`` of sensitive authentication data starting in ``buf[pos:end]``, in order.

    A hit may run on past ``end`` up to ``stop`` (default: the end of ``buf``), so data that starts before a
    chunk boundary and ends after it is found once, in the round where it starts. ``marked`` is
    ``buf.translate(DIGIT_MAP)`` when the caller has it already."""
    stop = len(buf) if stop is None else stop
    hits = []
    for marker in (b'%', b';'):
        at = buf.find(marker, pos, stop)
        while -1 < at < end:
            match = TRACKS.match(buf, at, stop)
            if match is not None:
                hits.append((at, 'track1' if marker == b'%' else 'track2'))
            at = buf.find(marker, at + 1, stop)
    for marker in (b'k', b'K'):
        at = buf.find(marker, pos, min(end + max(K_OFFSETS), stop))
        while at != -1:
            for offset in K_OFFSETS:
                if pos <= at - offset < end:
                    _label_at(buf, at - offset, stop, hits)
            at = buf.find(marker, at + 1, min(end + max(K_OFFSETS), stop))
    marked = buf.translate(DIGIT_MAP) if marked is None else marked
    at = marked.find(b'cv', pos, stop)
    while -1 < at < end:
        _label_at(buf, at, stop, hits)
        at = marked.find(b'cv', at + 1, stop)
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


# The digit sum of twice each digit, for every second digit from the right.
DOUBLED = bytes.maketrans(b'0123456789', b'0246813579')


def luhn_ok(digits):
    """Luhn (mod 10) check of a string (or bytes) of digits."""
    if isinstance(digits, str):
        digits = digits.encode('ascii')
    backwards = digits[::-1]
    return (sum(backwards[0::2]) + sum(backwards[1::2].translate(DOUBLED)) - 48 * len(digits)) % 10 == 0


def brand_of(digits):
    """The brand whose IIN range and length fit ``digits`` (str or bytes of digits), or ``None``."""
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
    digits = candidate.translate(None, b' -')
    if not 13 <= len(digits) <= 19 or not digits.isdigit():
        return None
    brand = brand_of(digits)
    if brand is None or not luhn_ok(digits):
        return None
    return digits.decode('ascii'), brand


def mask(digits):
    """The last four digits, the rest as ``*``. Never the first six: they sit next to a hash of the same PAN in
    the evidence, and first six + last four + a hash leave about 10^5 candidates to test (PCI DSS 3.5.1, note on
    hashed and truncated versions of the same PAN)."""
    return '*' * (len(digits) - 4) + digits[-4:]


def keyed_hash(digits, key):
    """``hmac-sha256:<hex>`` of the digits under ``key``: correlates one card across files and terminals (same
    key) without revealing it; without the key no candidate can be tested against it."""
    return HASH_PREFIX + hmac.new(key.encode('utf-8'), digits.encode('ascii'), hashlib.sha256).hexdigest()


def check_key(key):
    """Raise ValueError (without the key in its text) when ``key`` is too short to be kept secret."""
    if len(key) < MIN_KEY_LENGTH:
        raise ValueError(f'the hash key has {len(key)} characters; it needs at least {MIN_KEY_LENGTH}')


def random_key():
    """A key for one run: hashes then correlate within that run only."""
    return os.urandom(24).hex()


class BudgetReached(Exception):
    """The scan stopped before it read everything: a budget ran out or its task went away."""


def _pseudo_devices(mountinfo='/proc/self/mountinfo'):
    """``{st_dev: fstype}`` of the mounted pseudo-filesystems, or ``None`` when the mount table cannot be read."""
    devices = {}
    try:
        with open(mountinfo, encoding='utf-8', errors='replace') as handle:
            for line in handle:
                fields, dummy, rest = line.partition(' - ')
                parts = fields.split()
                fstype = rest.split(' ', 1)[0]
                if len(parts) > 2 and fstype in PSEUDO_FILESYSTEMS:
                    major, dummy, minor = parts[2].partition(':')
                    devices[os.makedev(int(major), int(minor))] = fstype
    except (OSError, ValueError):
        return None
    return devices


def _stdout_gone():
    """``True`` when this process's standard output is a pipe nobody reads any more (its task was given up)."""
    try:
        if not stat.S_ISFIFO(os.fstat(1).st_mode):
            return False
        poller = select.poll()
        poller.register(1, 0)
        return any(events & (select.POLLERR | select.POLLHUP) for dummy, events in poller.poll(0))
    except (OSError, ValueError, AttributeError):
        return False


class Scan:
    """One scan's counters and findings (findings capped at ``max_findings``; every hit is counted) and its
    budgets (``max_bytes`` read, ``max_seconds`` of wall time; 0: no budget)."""

    def __init__(self, key, allow_test_pans=False, max_findings=MAX_FINDINGS, rate_limit=0,
                 max_bytes=MAX_SCAN_BYTES, max_seconds=MAX_SCAN_SECONDS):
        check_key(key)
        self._key = key
        self.rate_limit = rate_limit      # bytes per second, 0: as fast as the terminal gives it
        self.throttled = 0.0              # seconds slept to keep to rate_limit
        self.allow_test_pans = allow_test_pans
        self.max_findings = max_findings
        self.max_bytes = max_bytes
        self.max_seconds = max_seconds
        self.findings = []
        self.count = 0
        self.allowed = 0
        self.sad_count = 0
        self.sad = []
        self.files = 0
        self.bytes = 0
        self.hole_bytes = 0
        self.errors = []
        self.skipped = []
        self.by_brand = {}
        self.stop_reason = None
        self.started = time.monotonic()
        self.deadline = self.started + max_seconds if max_seconds else None
        self.parent = os.getppid()
        self.next_liveness = self.started + LIVENESS_SECONDS
        self.pseudo = _pseudo_devices()

    def check_budget(self):
        """Raise BudgetReached when a budget ran out or the task that started the scan is gone."""
        if self.stop_reason is not None:
            raise BudgetReached(self.stop_reason)
        now = time.monotonic()
        if self.max_bytes and self.bytes >= self.max_bytes:
            self.stop_reason = f'byte budget of {self.max_bytes} bytes reached'
        elif self.deadline is not None and now >= self.deadline:
            self.stop_reason = f'time budget of {self.max_seconds} s reached'
        elif now >= self.next_liveness:
            self.next_liveness = now + LIVENESS_SECONDS
            if os.getppid() != self.parent or _stdout_gone():
                self.stop_reason = 'the task that started the scan is gone'
        if self.stop_reason is not None:
            raise BudgetReached(self.stop_reason)

    def pseudo_fs(self, path, info):
        """The pseudo-filesystem type ``path`` (with lstat/fstat ``info``) lives on, or ``None``."""
        if self.pseudo is None:
            return 'pseudo' if any(path == p or path.startswith(p + '/') for p in PSEUDO_PREFIXES) else None
        return self.pseudo.get(info.st_dev)

    def throttle(self):
        """Sleep as long as the bytes read so far are ahead of ``rate_limit`` (never past the time budget)."""
        if self.rate_limit:
            ahead = self.bytes / self.rate_limit - (time.monotonic() - self.started)
            if self.deadline is not None:
                ahead = min(ahead, self.deadline - time.monotonic())
            if ahead > 0:
                time.sleep(ahead)
                self.throttled += ahead

    def checkpoint(self):
        """What :meth:`rollback` returns to (a database scanned again as raw bytes is not counted twice)."""
        return (self.count, len(self.findings), dict(self.by_brand), self.allowed, self.sad_count, len(self.sad))

    def rollback(self, point):
        self.count, findings, self.by_brand, self.allowed, self.sad_count, sad = point
        del self.findings[findings:]
        del self.sad[sad:]

    def add(self, digits, brand, where):
        if self.allow_test_pans and digits in TEST_PANS:
            self.allowed += 1
            return
        self.count += 1
        self.by_brand[brand] = self.by_brand.get(brand, 0) + 1
        if len(self.findings) < self.max_findings:
            finding = {'brand': brand, 'length': len(digits), 'masked': mask(digits),
                       'hash': keyed_hash(digits, self._key)}
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
            'complete': self.stop_reason is None and not self.errors,
            'stop_reason': self.stop_reason,
            'budget': {'max_bytes': self.max_bytes, 'max_seconds': self.max_seconds},
            'files_scanned': self.files,
            'bytes_scanned': self.bytes,
            'sparse_bytes_skipped': self.hole_bytes,
            'duration_ms': int(round(seconds * 1000)),
            'throughput_mbps': round(self.bytes / seconds / 1e6, 1),
            'throttled_ms': int(round(self.throttled * 1000)),
            'pan_count': self.count,
            'allowed_test_pans': self.allowed,
            'by_brand': dict(sorted(self.by_brand.items())),
            'findings': self.findings,
            'sad_count': self.sad_count,
            'sad_findings': self.sad,
            'errors': self.errors,
            'skipped_paths': self.skipped,
        }


def pan_hits(buf, pos, limit, eof, digits=None):
    """``([(start, (digits, brand))], resume)``: card numbers starting in ``buf[pos:resume]``.

    ``resume`` is ``limit`` unless a run of digits and separators reaches past it into data not read yet; the
    candidates of that run that could still grow are left to the next round. ``digits`` is
    ``buf.translate(DIGIT_MAP)`` when the caller has it already."""
    digits = buf.translate(DIGIT_MAP) if digits is None else digits
    runs = buf.translate(RUN_MAP)
    size = len(buf)
    resume = limit
    hits = []
    plain = digits.find(PLAIN, max(pos - 1, 0))
    separated = runs.find(SEPARATED, max(pos - 1, 0))
    # A run that begins at pos (the stream start, or a run deferred by the last round) has no '.' before it.
    start = pos if pos < size and runs[pos] == 48 and (pos == 0 or runs[pos - 1] == 48) else -1
    while True:
        if start == -1:
            if plain == -1:
                if separated == -1:
                    break
                start = separated + 1
            elif separated == -1 or plain < separated:
                start = plain + 1
            else:
                start = separated + 1
        if start >= resume:
            break
        end = runs.find(b'.', start)
        if end == -1:
            end = size
        if end > limit and not eof:
            # A run that continues past the kept tail: finish what cannot reach the tail, defer the rest.
            resume = max(start, limit - 2 * MAX_CANDIDATE)
            if start >= resume:
                break
        text = buf[start:end]
        core = text.lstrip(b' -')
        lead = len(text) - len(core)
        core = core.rstrip(b' -')
        if end < size and start and runs[start - 1] == 46 and core.isdigit():
            # Digits only, with at most separators before and after them and nothing but a non-digit,
            # non-separator around the run: the digits are the only candidate (the common case, decided
            # without the regex engine; CANDIDATE's look-arounds reduce to the two glue checks).
            length = len(core)
            if 13 <= length <= 19 and (lead or not GLUED_BEFORE[buf[start - 1]]) and (
                    lead + length < len(text) or not GLUED_AFTER[buf[end]]):
                starts, ends, names = BRAND_INDEX[length]
                iin = int(core[:IIN_DIGITS])
                at = bisect.bisect_right(starts, iin) - 1
                if at >= 0 and iin <= ends[at] and luhn_ok(core):
                    hits.append((start + lead, (core.decode('ascii'), names[at])))
        else:
            for match in CANDIDATE.finditer(buf, start, min(end + 2, size)):
                if match.start() >= resume:
                    break
                hit = classify(match.group(0))
                if hit is not None:
                    hits.append((match.start(), hit))
        if plain != -1 and plain < end:
            plain = digits.find(PLAIN, end - 1)
        if separated != -1 and separated < end:
            separated = runs.find(SEPARATED, end - 1)
        start = -1
    return hits, resume


def scan_stream(read, scan, where, chunk=CHUNK, offset=0, line=1):
    """Scan a byte stream given by ``read(size)`` with bounded memory; ``where`` is added to every finding.

    ``offset`` and ``line`` are the stream's first byte's offset and line number in its file (a sparse file's
    data segments are streams of their own); returns the line number at the end of the stream. Raises
    BudgetReached when the scan's budget runs out."""
    buf = b''
    pos = 0            # where new match starts may begin in buf
    base = offset      # file offset of buf[0]
    eof = False
    while not eof:
        scan.check_budget()
        data = read(chunk)
        if not data:
            eof = True
        else:
            scan.bytes += len(data)
            scan.throttle()
            buf += data
        limit = len(buf) if eof else len(buf) - KEEP
        if limit <= pos:
            continue
        marked = buf.translate(DIGIT_MAP)
        hits, resume = pan_hits(buf, pos, limit, eof, marked)
        sads = sad_hits(buf, pos, resume, marked=marked)
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
    return line


def _record_pan(scan, hit, where):
    scan.add(hit[0], hit[1], where)


def _record_sad(scan, kind, where):
    scan.add_sad(kind, where)


def open_regular(path):
    """``(fd, fstat)`` of ``path`` opened for reading without following a symbolic link and without blocking
    on a FIFO or a device; OSError(EINVAL) when what was opened is not a regular file (replaced after the
    directory was listed)."""
    fd = os.open(path, OPEN_FLAGS)
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise OSError(errno.EINVAL, 'not a regular file when opened (replaced while scanning)', path)
        # O_NONBLOCK only mattered for the open; regular files ignore it, clear it all the same.
        os.set_blocking(fd, True)
    except BaseException:
        os.close(fd)
        raise
    return fd, info


def data_segments(fd, size):
    """``[(start, end)]`` of the parts of a file that hold data (SEEK_DATA/SEEK_HOLE); the whole file where the
    file system cannot tell."""
    if not hasattr(os, 'SEEK_DATA'):
        return [(0, size)]
    segments = []
    pos = 0
    try:
        while pos < size:
            try:
                start = os.lseek(fd, pos, os.SEEK_DATA)
            except OSError as exc:
                if exc.errno == errno.ENXIO:     # only a hole is left
                    break
                raise
            end = min(os.lseek(fd, start, os.SEEK_HOLE), size)
            segments.append((start, end))
            pos = end
    except OSError as exc:
        if exc.errno in (errno.EINVAL, errno.EOPNOTSUPP):
            return [(0, size)]
        raise
    return segments


def _segment_reader(fd, start, end):
    """``read(size)`` of ``fd`` from ``start`` to ``end`` (pread: the file position is not used)."""
    position = [start]

    def read(size):
        left = end - position[0]
        if left <= 0:
            return b''
        data = os.pread(fd, min(size, left), position[0])
        position[0] += len(data)
        return data
    return read


def _scan_file(path, scan, chunk):
    fd, info = open_regular(path)
    with os.fdopen(fd, 'rb') as handle:
        head = handle.read(16)
        handle.seek(0)
        if head.startswith(SQLITE_MAGIC):
            return _scan_sqlite_or_raw(path, handle, scan, chunk)
        if head.startswith(GZIP_MAGIC):
            with gzip.GzipFile(fileobj=handle) as stream:
                scan_stream(stream.read, scan, {'path': path, 'container': 'gzip'}, chunk)
            return 'gzip'
        where = {'path': path, 'container': 'file'}
        if info.st_blocks * 512 + SPARSE_SLACK >= info.st_size:
            scan_stream(handle.read, scan, where, chunk)
            return 'file'
        # Sparse: read only the data segments. Holes read as zeros, which hold neither a card number nor a
        # line break, so offsets and line numbers carry over from one segment to the next.
        line = 1
        data = 0
        for start, end in data_segments(handle.fileno(), info.st_size):
            line = scan_stream(_segment_reader(handle.fileno(), start, end), scan, where, chunk, offset=start,
                               line=line)
            data += end - start
        scan.hole_bytes += max(info.st_size - data, 0)
        return 'file'


def _scan_sqlite_or_raw(path, handle, scan, chunk):
    """A database row by row; one SQLite cannot read (corrupt, truncated, not a database after all) is scanned
    as raw bytes, so the card numbers stored as text in it are still found, and the corruption is reported."""
    point = scan.checkpoint()
    try:
        _scan_sqlite(path, scan)
        return 'sqlite'
    except sqlite3.DatabaseError as exc:
        scan.rollback(point)
        handle.seek(0)
        scan_stream(handle.read, scan, {'path': path, 'container': 'sqlite-raw'}, chunk)
        scan.errors.append({'path': path, 'error': f'SQLite cannot read it ({exc}); scanned as raw bytes, where card '
                                                   'numbers stored as integers or split over pages can be missed'})
        return 'sqlite-raw'


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
                scan.check_budget()
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
    """Regular files under ``paths`` (files or directories), without following symbolic links.

    A path given that is a symbolic link is an error (named, never skipped silently: give its target); the
    links met inside a directory are not followed. Pseudo-filesystems are not entered (listed in ``skipped``)."""
    scan = scan if scan is not None else _NoScan()
    for top in paths:
        try:
            info = os.lstat(top)
        except FileNotFoundError:
            scan.skipped.append({'path': top, 'reason': 'does not exist'})
            continue
        except OSError as exc:
            scan.errors.append({'path': top, 'error': exc.strerror or str(exc)})
            continue
        if stat.S_ISLNK(info.st_mode):
            scan.errors.append({'path': top, 'error': 'is a symbolic link: not followed; scan the path it points '
                                                      'to instead'})
            continue
        fstype = scan.pseudo_fs(top, info)
        if fstype is not None:
            scan.skipped.append({'path': top, 'reason': f'pseudo-filesystem ({fstype}): holds no stored data'})
            continue
        if stat.S_ISREG(info.st_mode):
            candidates = [(top, info)]
        elif stat.S_ISDIR(info.st_mode):
            candidates = _walk(top, scan)
        else:
            scan.skipped.append({'path': top, 'reason': 'not a regular file or directory'})
            continue
        for path, entry in candidates:
            if _excluded(path, exclude):
                continue
            if max_file_bytes and entry.st_size > max_file_bytes:
                scan.skipped.append({'path': path, 'reason': f'larger than {max_file_bytes} bytes'})
                continue
            yield path


class _NoScan:
    """Stands in for a Scan when iter_files is called alone: collects, checks nothing."""

    def __init__(self):
        self.skipped = []
        self.errors = []
        self.pseudo = _pseudo_devices()

    pseudo_fs = Scan.pseudo_fs

    def check_budget(self):
        pass


def _walk(top, scan):
    def onerror(exc):
        scan.errors.append({'path': exc.filename or top, 'error': exc.strerror or str(exc)})

    top_dev = os.lstat(top).st_dev
    for directory, dirs, files in os.walk(top, onerror=onerror):
        scan.check_budget()
        kept = []
        for name in sorted(dirs):
            path = os.path.join(directory, name)
            try:
                info = os.lstat(path)
            except OSError:
                continue
            # A mount point inside the tree: a pseudo-filesystem there is not entered.
            fstype = scan.pseudo_fs(path, info) if info.st_dev != top_dev else None
            if fstype is not None:
                scan.skipped.append({'path': path, 'reason': f'pseudo-filesystem ({fstype}): holds no stored data'})
            else:
                kept.append(name)
        dirs[:] = kept
        for name in sorted(files):
            path = os.path.join(directory, name)
            try:
                info = os.lstat(path)
            except OSError:
                continue
            if stat.S_ISREG(info.st_mode):
                yield path, info


# ioprio_set/ioprio_get syscall numbers per machine (the C library has no wrapper); IOPRIO_WHO_PROCESS = 1,
# the class sits above bit 13 of the value: IOPRIO_CLASS_IDLE = 3.
IOPRIO_SYSCALLS = {'x86_64': (251, 252), 'i686': (289, 290), 'i386': (289, 290), 'aarch64': (30, 31),
                   'riscv64': (30, 31), 'armv7l': (314, 315), 'armv6l': (314, 315)}
IOPRIO_CLASSES = {0: 'none', 1: 'realtime', 2: 'best-effort', 3: 'idle'}
IOPRIO_CLASS_IDLE = 3
LOW_NICE = 19


def io_class(set_idle=False):
    """This process's I/O scheduling class (``'idle'``, ``'best-effort'`` ...), after moving it to the idle class
    when ``set_idle``; ``None`` where the machine or the kernel does not say."""
    numbers = IOPRIO_SYSCALLS.get(platform.machine())
    if numbers is None or not os.path.exists('/proc/self'):
        return None
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        set_nr, get_nr = numbers
        if set_idle and libc.syscall(set_nr, 1, 0, IOPRIO_CLASS_IDLE << 13) != 0:
            return None
        value = libc.syscall(get_nr, 1, 0)
    except (OSError, AttributeError):
        return None
    return IOPRIO_CLASSES.get(value >> 13) if value >= 0 else None


def cpu_policy():
    """This process's CPU scheduling policy (``'idle'``, ``'other'`` ...), or ``None`` where not known."""
    try:
        policy = os.sched_getscheduler(0)
    except (AttributeError, OSError):
        return None
    return {getattr(os, name, None): name[6:].lower() for name in ('SCHED_OTHER', 'SCHED_BATCH', 'SCHED_IDLE',
                                                                   'SCHED_FIFO', 'SCHED_RR')}.get(policy)


def current_priority():
    """``{'nice': ..., 'cpu_policy': ..., 'io_class': ...}`` of this process, without changing it."""
    try:
        nice = os.getpriority(os.PRIO_PROCESS, 0)
    except (AttributeError, OSError):
        nice = None
    return {'nice': nice, 'cpu_policy': cpu_policy(), 'io_class': io_class()}


def lower_priority():
    """Lower this process's CPU priority (nice 19 and the SCHED_IDLE policy: it only runs when nothing else on
    the terminal wants the CPU) and I/O priority (idle class), so that a terminal trades at full speed while it
    is scanned. Quietly does what the system supports; returns what is in effect (``{'nice': 19, 'cpu_policy':
    'idle', 'io_class': 'idle'}``, ``None`` for what could not be read)."""
    try:
        if os.getpriority(os.PRIO_PROCESS, 0) < LOW_NICE:
            os.setpriority(os.PRIO_PROCESS, 0, LOW_NICE)
    except (AttributeError, OSError):
        pass
    with contextlib.suppress(AttributeError, OSError):
        os.sched_setscheduler(0, os.SCHED_IDLE, os.sched_param(0))
    applied = current_priority()
    applied['io_class'] = io_class(set_idle=True)
    return applied


def scan_paths(paths, key, exclude=(), allow_test_pans=False, max_findings=MAX_FINDINGS, max_file_bytes=0,
               chunk=CHUNK, rate_limit=0, max_bytes=MAX_SCAN_BYTES, max_seconds=MAX_SCAN_SECONDS):
    """Scan files and directories; returns the result dict (see the pan_scan module's RETURN).

    ``key`` is the secret of the findings' HMAC (at least MIN_KEY_LENGTH characters; never in the result).
    ``rate_limit`` caps the bytes read per second (0: no cap); ``max_bytes`` and ``max_seconds`` are the scan's
    budgets (0: none): reaching one stops the scan with ``complete: false`` and ``stop_reason``."""
    scan = Scan(key, allow_test_pans=allow_test_pans, max_findings=max_findings, rate_limit=rate_limit,
                max_bytes=max_bytes, max_seconds=max_seconds)
    try:
        for path in iter_files(paths, exclude, scan, max_file_bytes):
            scan.check_budget()
            try:
                _scan_file(path, scan, chunk)
                scan.files += 1
            except FileNotFoundError:
                scan.skipped.append({'path': path, 'reason': 'removed while scanning'})
            except (OSError, EOFError, zlib.error, sqlite3.Error) as exc:
                message = getattr(exc, 'strerror', None) or str(exc)
                scan.errors.append({'path': path, 'error': message})
    except BudgetReached:
        pass
    return scan.result()
