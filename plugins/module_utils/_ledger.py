# Copyright (c) posfleet developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The maintenance ledger's files: read, merge by entry time, write under a lock (stdlib only).

The copy on each terminal is the source of truth; the controller's copy is a cache (an AWX job starts without
one). Both are written the same way: under ``_io.locked``, read what is there, ``merge`` it with what the run
brings, write the result atomically. ``merge`` keeps, for every entry, the newer event by its own time, so two
overlapping runs, a stale cache or a second controller never take an entry away: the order of the writes does
not matter and writing the same document twice changes nothing.
"""

from __future__ import annotations

import contextlib
import json

from ansible_collections.posfleet.terminals.plugins.module_utils import _io

# A tier's entry is written by three kinds of event, each with its own time; the fields of one event travel
# together, taken from the copy whose event is newer.
TIER_EVENTS = (
    ('last_attempt', ('last_attempt', 'last_result', 'last_error', 'missing_steps', 'covered_by')),
    ('last_success', ('last_success',)),
    ('last_deferred', ('last_deferred', 'last_deferred_reason')),
)
# The ledger keeps the newest notices and overrides only (the timetable's record() trims with the same numbers).
NOTICES_KEPT = 20
OVERRIDES_KEPT = 50


def get_ledger_argument_spec():
    """The options of the ``ledger`` module and of its action plugin on the controller (one spec, two readers)."""
    return {
        'ledger': {'type': 'dict'},
        'path': {'type': 'path', 'default': '/var/lib/posfleet/ledger.json'},
        'merge': {'type': 'bool', 'default': True},
        'cache': {'type': 'path'},
        'mirror': {'type': 'bool', 'default': True},
    }


def read(path):
    """The document at ``path`` or None when missing or unreadable as JSON."""
    try:
        with open(path, encoding='utf-8') as handle:
            document = json.load(handle)
    except (OSError, ValueError):
        return None
    return document if isinstance(document, dict) else None


def _time(value):
    """A ledger time for comparison: UTC ISO 8601 strings compare in time order; anything else is oldest."""
    return value if isinstance(value, str) else ''


def _merge_tier(old, new):
    if not isinstance(old, dict):
        return dict(new) if isinstance(new, dict) else {}
    if not isinstance(new, dict):
        return dict(old)
    grouped = set()
    merged = {}
    for stamp, keys in TIER_EVENTS:
        grouped.update(keys)
        source = new if _time(new.get(stamp)) >= _time(old.get(stamp)) else old
        merged.update({key: source[key] for key in keys if key in source})
    old_newest = max(_time(old.get(stamp)) for stamp, dummy in TIER_EVENTS)
    ahead = new if max(_time(new.get(stamp)) for stamp, dummy in TIER_EVENTS) >= old_newest else old
    behind = old if ahead is new else new
    for key in set(old) | set(new):  # a field of no known event: the copy with the newer events has it
        if key not in grouped:
            merged[key] = ahead[key] if key in ahead else behind[key]
    return merged


def _newest(items, key, time_key, kept):
    """``items`` without repeats (one per ``key``, the newer by ``time_key``), oldest first, the newest ``kept``."""
    chosen = {}
    for item in items:
        if not isinstance(item, dict):
            continue
        ident = key(item)
        if ident not in chosen or _time(item.get(time_key)) >= _time(chosen[ident].get(time_key)):
            chosen[ident] = item
    ordered = sorted(chosen.values(), key=lambda item: (_time(item.get(time_key)), json.dumps(item, sort_keys=True)))
    return ordered[-kept:]


def merge(old, new):
    """One ledger from two copies of it, entry by entry, each entry from the copy where it is newer.

    Tiers: each event (attempt, success, deferral) from the copy with its later time. Notices: one per window,
    the later sent. Overrides: every distinct one. ``updated``: the later. Other keys: ``new``'s, else ``old``'s.
    ``merge(x, x) == x`` for a ledger the timetable wrote, and the result does not depend on which copy is older.
    """
    old = old if isinstance(old, dict) else {}
    new = new if isinstance(new, dict) else {}
    merged = dict(old)
    merged.update(new)
    if 'tiers' in old or 'tiers' in new:
        old_tiers, new_tiers = old.get('tiers') or {}, new.get('tiers') or {}
        merged['tiers'] = {name: _merge_tier(old_tiers.get(name), new_tiers.get(name))
                           for name in sorted(set(old_tiers) | set(new_tiers))}
    if 'notices' in old or 'notices' in new:
        merged['notices'] = _newest(list(old.get('notices') or []) + list(new.get('notices') or []),
                                    lambda notice: str(notice.get('window_start')), 'sent_at', NOTICES_KEPT)
    if 'overrides' in old or 'overrides' in new:
        merged['overrides'] = _newest(list(old.get('overrides') or []) + list(new.get('overrides') or []),
                                      lambda item: json.dumps(item, sort_keys=True), 'at', OVERRIDES_KEPT)
    if 'updated' in old or 'updated' in new:
        merged['updated'] = max(old.get('updated'), new.get('updated'), key=_time)
    return merged


def write(path, data, mode=0o644, check_mode=False, merge_with_current=False):
    """Write ``data`` as JSON to ``path`` when it differs, merged with the current file first when asked (under
    the file's lock: no run's entry is lost to another's write). Returns (changed, before, after)."""
    with contextlib.nullcontext() if check_mode else _io.locked(path):
        before = read(path)
        after = merge(before, data) if merge_with_current and before is not None else data
        if check_mode or before == after:
            return before != after, before, after
        _io.atomic_write_json(path, after, mode=mode)
    return True, before, after
