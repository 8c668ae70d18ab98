# Copyright (c) posfleet developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

from ansible.errors import AnsibleFilterError

from ansible_collections.posfleet.terminals.plugins.plugin_utils import _store_limit, _times


def _wrap(func):
    def run(*args, **kwargs):
        try:
            return func(*args, **kwargs)
        except (_store_limit.StoreLimitError, _times.TimetableError) as exc:
            raise AnsibleFilterError(str(exc)) from None
    run.__name__ = func.__name__
    run.__doc__ = func.__doc__
    return run


def store_batches(hosts, rows, reachable=None, stores=None, batch=None):
    """The layout of ``_store_limit.layout`` for the play's terminals ``hosts``: ``rows`` are the rows the
    terminals wrote (each with its ``host``); a terminal without a row or not in ``reachable`` counts as out
    of service, its store from ``stores`` (host: store). With ``batch`` (``ansible_play_batch`` of a play that
    runs in ``serial`` waves) only the batch's terminals are worked on: a reachable terminal of another wave is
    serving (the rows of earlier waves are theirs, not this one's)."""
    reachable = set(hosts if reachable is None else reachable)
    batch = None if batch is None else set(batch)
    own = {row.get("host"): row for row in rows or [] if isinstance(row, dict)}
    stores = stores or {}
    # A terminal of another wave takes its store's limit from the rows of this one (the same store variable).
    store_limits = {row.get("store"): row.get("limit") for host, row in own.items() if batch is None or host in batch}
    table = []
    for host in hosts or []:
        row = own.get(host)
        if batch is not None and host not in batch:
            store = (row or {}).get("store") or stores.get(host)
            table.append({"host": host, "store": store, "limit": store_limits.get(store),
                          "out": host not in reachable, "takes_out": False})
        elif row is None:
            table.append({"host": host, "store": stores.get(host), "out": True})
        else:
            table.append(dict(row, host=host, out=bool(row.get("out")) or host not in reachable,
                              takes_out=bool(row.get("takes_out")) and host in reachable))
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
