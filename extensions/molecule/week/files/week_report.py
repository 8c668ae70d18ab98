"""What the simulated week did, from its own evidence, as one JSON document for the verifier.

Reads the runner's log (one line per scheduled run), the host records each maintain.yml run wrote, and the
serving poller's log, and prints: every tier that ran on a terminal (store, local time, result), every deferral
(with its codes), the longest gap between two poller samples, and per store how many samples had no terminal of
the store trading and how many had one in maintenance mode.

    python3 week_report.py --runs FILE --serving FILE --store CONTAINER=STORE:ZONE ...
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import zoneinfo


def tier_runs(runs_log, zones):
    result, deferred = [], []
    with open(runs_log, encoding="utf-8") as handle:
        runs = [json.loads(line) for line in handle if line.strip()]
    for run in runs:
        hosts_dir = os.path.join(os.path.dirname(run["output"]), os.path.basename(run["output"])[:3] + "-results",
                                 "maintain", "hosts")
        if not os.path.isdir(hosts_dir):
            continue
        for name in sorted(n for n in os.listdir(hosts_dir) if n.endswith(".json")):
            with open(os.path.join(hosts_dir, name), encoding="utf-8") as handle:
                record = json.load(handle)
            store = record.get("store")
            local = datetime.datetime.fromisoformat(run["time"].replace("Z", "+00:00")).astimezone(
                zoneinfo.ZoneInfo(zones[store]))
            for item in record.get("deferred") or []:
                deferred.append({"host": name[:-len(".json")], "tier": item.get("tier"), "local": local.isoformat(),
                                 "codes": item.get("codes")})
            for tier in record.get("ran") or []:
                result.append({"host": name[:-len(".json")], "store": store, "tier": tier, "service": run["service"],
                               "local": local.isoformat(), "local_date": local.date().isoformat(),
                               "local_time": local.strftime("%H:%M"), "weekday": local.strftime("%a").lower(),
                               "status": record.get("status")})
    return runs, result, deferred


def serving(log, stores):
    with open(log, encoding="utf-8") as handle:
        header, *lines = handle.read().splitlines()
    containers = header.split()[2:]
    counts = {store: {"no_terminal_trading": 0, "in_maintenance": 0} for store in set(stores.values())}
    times = [float(line.split()[0]) for line in lines]
    for line in lines:
        states = dict(zip(containers, line.split()[1:]))
        for store in counts:
            mine = [states.get(c) for c in containers if stores[c] == store]
            if "0" not in mine:
                counts[store]["no_terminal_trading"] += 1
            if "1" in mine:
                counts[store]["in_maintenance"] += 1
    # The longest time between two samples: an outage shorter than that could have gone unseen.
    gap = max((later - earlier for earlier, later in zip(times, times[1:])), default=None)
    return {"samples": len(lines), "max_gap_seconds": gap, "stores": counts}


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", required=True)
    parser.add_argument("--serving", required=True)
    parser.add_argument("--store", action="append", required=True, help="CONTAINER=STORE:ZONE")
    opts = parser.parse_args()
    stores, zones = {}, {}
    for item in opts.store:
        container, _sep, rest = item.partition("=")
        store, _sep, tz_name = rest.partition(":")
        stores[container] = store
        zones[store] = tz_name
    runs, ran, deferred = tier_runs(opts.runs, zones)
    print(json.dumps({"runs": runs, "tier_runs": ran, "deferred": deferred, "serving": serving(opts.serving, stores)}))


if __name__ == "__main__":
    main()
