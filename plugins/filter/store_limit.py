# Copyright (c) posfleet developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

from ansible.errors import AnsibleFilterError

from ansible_collections.posfleet.terminals.plugins.plugin_utils import _store_limit, _timetable


def _wrap(func):
    def run(*args, **kwargs):
        try:
            return func(*args, **kwargs)
        except (_store_limit.StoreLimitError, _timetable.TimetableError) as exc:
            raise AnsibleFilterError(str(exc)) from None
    run.__name__ = func.__name__
    run.__doc__ = func.__doc__
    return run


def store_batches(hosts, rows, reachable=None, stores=None):
    """The layout of ``_store_limit.layout`` for the play's terminals: ``rows`` are the terminals' own rows
    (None for a terminal that never wrote one); a terminal not in ``reachable`` counts as out of service,
    with its store from ``stores``."""
    reachable = set(hosts if reachable is None else reachable)
    table = []
    for index, host in enumerate(hosts or []):
        own = rows[index] if rows and index < len(rows) and isinstance(rows[index], dict) else {}
        store = own.get("store", stores[index] if stores and index < len(stores) else None)
        table.append(dict(own, host=host, store=store, out=bool(own.get("out")) or host not in reachable,
                          takes_out=bool(own.get("takes_out")) and host in reachable))
    return _store_limit.layout(table)


def store_waiting_on(layout, host, returned=None):
    return _store_limit.waiting_on(layout, host, returned)


def store_limit_defer(plan, tiers, reason, calendar=None, everything=False):
    return _store_limit.defer_plan(plan, tiers, reason, calendar=calendar, everything=everything)


class FilterModule:
    """Store limit filters: which terminals of a store may be out of service at once."""

    def filters(self):
        return {
            "store_batches": _wrap(store_batches),
            "store_waiting_on": _wrap(store_waiting_on),
            "store_limit_defer": _wrap(store_limit_defer),
        }
