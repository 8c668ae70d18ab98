# Copyright (c) posfleet developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Time on the terminal: the one place that turns epochs into ISO 8601 strings and back.

Private to the collection (leading underscore): it may change without notice.
Target-side code: Python >= 3.9 standard library only.
"""

from __future__ import annotations

import datetime
import math
import time


def utc_iso(epoch=None):
    """Seconds since the epoch (default: now) as ``2026-11-20T02:10:00Z``."""
    if epoch is None:
        epoch = time.time()
    stamp = datetime.datetime.fromtimestamp(float(epoch), tz=datetime.timezone.utc)
    return stamp.replace(microsecond=0).isoformat().replace('+00:00', 'Z')


def _epoch(number):
    """``number`` as epoch seconds when a clock can show it (finite, within datetime's years), else ``None``."""
    if not math.isfinite(number):
        return None
    try:
        datetime.datetime.fromtimestamp(float(number), tz=datetime.timezone.utc)
    except (OverflowError, ValueError, OSError):
        return None
    return float(number)


def parse_time(value):
    """Epoch seconds (float) from an epoch number or an ISO 8601 string; ``None`` when unknown (also for ``NaN``
    and the infinities, which a terminal's file may hold and no clock shows)."""
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return _epoch(value)
    text = str(value).strip()
    if not text:
        return None
    try:
        number = float(text)
    except ValueError:
        pass
    else:
        return _epoch(number)
    if text.endswith('Z'):
        text = text[:-1] + '+00:00'
    try:
        stamp = datetime.datetime.fromisoformat(text)
    except ValueError:
        return None
    if stamp.tzinfo is None:
        stamp = stamp.replace(tzinfo=datetime.timezone.utc)
    return stamp.timestamp()


def seconds_since(since, now=None):
    """Seconds (one decimal, never negative) from ``since`` (epoch or ISO 8601) to ``now``; ``None`` when unknown."""
    start = parse_time(since)
    if start is None:
        return None
    return round(max(0.0, (time.time() if now is None else now) - start), 1)


def local_midnight_utc_iso(now=None):
    """The start of the terminal's local day, as a UTC ISO string (journals store UTC, days are local)."""
    moment = datetime.datetime.fromtimestamp(time.time() if now is None else now).astimezone()
    return utc_iso(moment.replace(hour=0, minute=0, second=0, microsecond=0).timestamp())


def utc_date(epoch=None):
    """The UTC calendar date of ``epoch`` (default: now)."""
    return datetime.datetime.fromtimestamp(time.time() if epoch is None else epoch, tz=datetime.timezone.utc).date()
