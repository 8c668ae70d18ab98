# Copyright (c) posfleet developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Controller-side store limit: how many terminals of a store may be out of service at once, and in which
batch each terminal that a run takes out of service goes, so that every store keeps a terminal trading.

Pure functions of the play's terminals: the playbooks compute the layout once per play (run_once) and run
the batches one after the other, each only after the previous one is back in service.
"""

from __future__ import annotations

from ansible_collections.posfleet.terminals.plugins.plugin_utils import _calendar, _tiers, _times

VARIABLE = "posfleet_store_max_out_of_service"
CODE = "store_limit"


class StoreLimitError(ValueError):
    """A store limit that cannot be used as given."""


def limit_value(store, value):
    """The validated limit of a store: None (the default, all but one terminal) or an integer >= 1."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    number = None
    if isinstance(value, int) and not isinstance(value, bool):
        number = value
    elif isinstance(value, str) and value.strip().isdigit():
        number = int(value.strip())
    if number is None or number < 1:
        raise StoreLimitError(
            f"store {store}: {VARIABLE} is {value!r}, not an integer >= 1 (how many of the store's terminals may "
            f"be out of service at once). Fix: set it to 1 or more in the store's group variables, or leave it "
            f"unset for all but one terminal")
    return number


def _store_of(row):
    # A terminal without a store is a store of its own: nothing else keeps it trading.
    return str(row.get("store") or "") or f"({row['host']})"


def layout(rows):
    """Which terminals go out of service in which batch.

    ``rows``: one dict per terminal of the play: ``host``, ``store`` (empty: a store of its own), ``limit``
    (the store's ``posfleet_store_max_out_of_service`` or None), ``takes_out`` (this run takes it out of
    service), ``out`` (already out of service: in maintenance mode, unreachable or failed), ``override`` (an
    emergency override is in force for it).

    Per store, terminals sorted by name: at most ``min(limit, serving - 1)`` of them out of service per batch,
    where ``serving`` counts the store's terminals not already out, so the last serving terminal is never
    taken out; the default limit is all but one terminal. A store of one terminal is worked on (the window
    gate decides when). A store with no capacity left defers its terminals (reason in ``deferred``), unless an
    emergency override is in force, which takes them one at a time. Terminals already out of service go into
    the first batch without using capacity: working on them takes nothing more out of service.

    Returns ``batches`` (list of host lists, in order), ``hosts`` (host: ``store``, ``batch`` (int or None),
    ``deferred`` (reason or None)) and ``stores`` (store: ``terminals``, ``serving``, ``limit``, ``per_batch``).
    """
    stores = {}
    for row in rows or []:
        if not isinstance(row, dict) or not row.get("host"):
            raise StoreLimitError(f"store limit: a terminal row needs a host, got {row!r}")
        stores.setdefault(_store_of(row), []).append(row)
    hosts, summary, batches = {}, {}, []
    for store, members in sorted(stores.items()):
        members = sorted(members, key=lambda r: str(r["host"]))
        limits = {limit_value(store, r.get("limit")) for r in members}
        if len(limits) > 1:
            values = ", ".join(f"{r['host']}: {r.get('limit')!r}" for r in members)
            raise StoreLimitError(f"store {store}: {VARIABLE} differs between its terminals ({values}). Fix: set it "
                                  f"once, in the store's group variables")
        limit = limits.pop()
        size = len(members)
        out = [r["host"] for r in members if r.get("out")]
        serving = size - len(out)
        limit = limit if limit is not None else max(size - 1, 1)
        per_batch = 1 if size == 1 else max(min(limit, serving - 1), 0)
        if per_batch == 0 and any(r.get("override") for r in members):
            per_batch = 1  # the emergency override takes the risk it names, one terminal at a time
        summary[store] = {"terminals": size, "serving": serving, "limit": limit, "per_batch": per_batch}
        fresh = []
        for row in members:
            entry = {"store": store, "batch": None, "deferred": None}
            hosts[row["host"]] = entry
            if not row.get("takes_out"):
                continue
            if row.get("out"):
                entry["batch"] = 0
            elif per_batch == 0:
                entry["deferred"] = (
                    f"store limit: store {store} has {serving} of its {size} terminals serving"
                    f"{' (' + ', '.join(out) + ' out of service or unreachable)' if out else ''}; taking "
                    f"{row['host']} out of service would leave none trading ({VARIABLE} {limit})")
            else:
                fresh.append(row["host"])
        for index, host in enumerate(fresh):
            hosts[host]["batch"] = index // per_batch
    for host, entry in sorted(hosts.items()):
        if entry["batch"] is not None:
            while len(batches) <= entry["batch"]:
                batches.append([])
            batches[entry["batch"]].append(host)
    return {"batches": batches, "hosts": hosts, "stores": summary}


def waiting_on(store_layout, host, returned):
    """The terminals of ``host``'s store from earlier batches that are not back in service (not in
    ``returned``): while there are any, ``host`` waits, so a failure never takes a store's last terminal out."""
    mine = (store_layout or {}).get("hosts", {}).get(host)
    if not mine or mine["batch"] is None:
        return []
    back = set(returned or [])
    return sorted(h for h, e in store_layout["hosts"].items()
                  if e["store"] == mine["store"] and e["batch"] is not None and e["batch"] < mine["batch"]
                  and h not in back)


def defer_plan(plan, tiers, reason, calendar=None, everything=False):
    """The timetable's plan (``_plan.plan``) with the tiers that interrupt trading (``everything``: all
    its tiers) moved from ``run`` to ``deferred`` (code ``store_limit``, the next window after this one),
    so the ledger keeps them due and the report says why."""
    plan = dict(plan or {})
    normalised = _tiers.normalise_tiers(tiers)
    run = list(plan.get("run") or [])
    moved = [t for t in run if everything or normalised.get(t, {}).get("interrupts_trading")]
    if not moved:
        return plan
    covered = dict(plan.get("covered") or {})
    moved += [inc for inc, by in covered.items() if by in moved]
    kept = [t for t in run if t not in moved]
    cal = _calendar.store_calendar(calendar)
    window_end = (plan.get("window") or {}).get("end")
    after = _times.parse_time(window_end, "window end") if window_end else None
    next_start = _calendar.next_window(cal, after)[0] if after else None
    deferred = list(plan.get("deferred") or []) + [
        {"tier": t, "codes": [CODE], "reasons": [reason], "reason": reason,
         "next_window_start": _times.iso(next_start),
         "next_window_start_local": _times.local_iso(next_start, cal["tz"]) if next_start else None}
        for t in sorted(moved, key=list(normalised).index)]
    covered = {inc: by for inc, by in covered.items() if by in kept}
    steps = [s for s in plan.get("steps") or [] if s.get("run_tier") in kept]
    plan.update(
        run=kept, covered=covered, deferred=deferred, steps=steps,
        records=[t for t in normalised if t in kept or t in covered],
        interrupts_trading=any(normalised[t]["interrupts_trading"] for t in kept),
        status="partial" if kept else "deferred",
        override=plan.get("override") if kept else None,
        skipped_steps=[s["notice"] for s in steps if not s.get("available", True)])
    return plan
