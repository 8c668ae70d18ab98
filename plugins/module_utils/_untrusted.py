# Copyright (c) posfleet developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Values from terminals are untrusted input: the one home of the rules that check them and make them safe.

A terminal's files and its daemon's answers may hold anything: a newline or an escape sequence in its identity,
``NaN`` or ``-Infinity`` where a number belongs, a paper level that is a word. Two lines of defence use these
helpers. At the seam (the platform's read methods) identifiers must come from a safe character set and numbers
must be finite: anything else is rejected with an error that names the field and the fix. In every writer (text,
XML, JSON, cron, systemd) what still gets through is escaped, so that no value can forge a row, break a document
or inject a line.

Used on both sides: target code (Python >= 3.9 standard library only) and the controller's writers.
Private to the collection (leading underscore): it may change without notice.
"""

from __future__ import annotations

import json
import math
import re

# Terminal ids, serials, stores, models, versions, application names: letters, digits and a few separators,
# starting with a letter or a digit, at most 64 characters. Nothing that a shell, a crontab, a unit file, XML or
# a text table treats specially.
IDENTIFIER_RE = re.compile(r'[A-Za-z0-9][A-Za-z0-9._+:~@-]{0,63}')
IDENTIFIER_RULE = 'letters, digits and . _ + : ~ @ -, starting with a letter or digit, at most 64 characters'
# IANA time zone names (Europe/Berlin, America/Argentina/Buenos_Aires, Etc/GMT+8).
TIMEZONE_RE = re.compile(r'[A-Za-z0-9][A-Za-z0-9._+/-]{0,63}')
TIMEZONE_RULE = 'an IANA time zone name such as Europe/Berlin'

# What a one-line text field must not hold: C0 and C1 control characters, DEL and the Unicode line and paragraph
# separators (all of them end or rewrite a line in some terminal, log viewer or spreadsheet).
CONTROL_RE = re.compile('[\x00-\x1f\x7f-\x9f\u2028\u2029]')
# Characters XML 1.0 does not allow at all, not even escaped: C0 controls other than tab, newline, carriage
# return; surrogates; U+FFFE and U+FFFF.
XML_ILLEGAL_RE = re.compile('[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]')
NON_FINITE = ('NaN', 'Infinity', '-Infinity')


def shown(value, limit=40):
    """``value`` for an error message: quoted, every control and non-ASCII character escaped, cut to ``limit``."""
    text = ascii(value if isinstance(value, str) else str(value))
    return text if len(text) <= limit else text[:limit - 4] + '...' + text[0]


def identifier_problem(value, pattern=IDENTIFIER_RE, rule=IDENTIFIER_RULE):
    """Why ``value`` is not an identifier (``None`` when it is one, or when it is absent)."""
    if value is None:
        return None
    if not isinstance(value, str):
        return f'holds a JSON {type(value).__name__} ({shown(value)}), not a string of {rule}'
    if not pattern.fullmatch(value):
        return f'holds {shown(value)}, outside the allowed characters ({rule})'
    return None


def timezone_problem(value):
    return identifier_problem(value, TIMEZONE_RE, TIMEZONE_RULE)


def is_identifier(value):
    return isinstance(value, str) and bool(IDENTIFIER_RE.fullmatch(value))


def _constant(token):
    # Python's json accepts NaN, Infinity and -Infinity although JSON has no such values. They become the string
    # they were written as: a value no numeric check accepts and every JSON writer can write.
    return token


def loads(text):
    """``json.loads`` that reads ``NaN``, ``Infinity`` and ``-Infinity`` as the strings they are written as."""
    return json.loads(text, parse_constant=_constant)


def finite(value):
    """``value`` when it is a finite int or float (not a bool), else ``None``."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def number_problem(value):
    """Why a value that should be a number is not a finite one (``None`` when it is, or when it is absent)."""
    if value is None or finite(value) is not None:
        return None
    return f'{shown(value)} is not a finite number'


def clean_numbers(state, keys):
    """``(a copy of state with every key of keys that is not a finite number set to None, {key: problem})``;
    ``state`` that is not a dict counts as empty."""
    cleaned = dict(state) if isinstance(state, dict) else {}
    problems = {}
    for key in keys:
        problem = number_problem(cleaned.get(key))
        if problem:
            problems[key] = problem
            cleaned[key] = None
    return cleaned, problems


def json_safe(value):
    """``value`` with every non-finite float replaced by ``None`` (JSON has no NaN), containers copied."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    return value


def _escape_control(match):
    char = match.group(0)
    return {'\n': '\\n', '\r': '\\r', '\t': '\\t'}.get(char) or (
        f'\\x{ord(char):02x}' if ord(char) < 0x100 else f'\\u{ord(char):04x}')


def one_line(value):
    """``value`` as text that stays on one line and moves no cursor: control characters become visible escapes
    (``\\n``, ``\\x1b``)."""
    text = '' if value is None else str(value)
    return text if text.isprintable() else CONTROL_RE.sub(_escape_control, text)  # the common case: no scan


def xml_text(value):
    """``value`` as text XML 1.0 can hold (the characters it forbids even escaped become escapes)."""
    text = '' if value is None else str(value)
    return text if text.isprintable() else XML_ILLEGAL_RE.sub(_escape_control, text)
