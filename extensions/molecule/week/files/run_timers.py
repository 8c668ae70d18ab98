"""Run exported systemd timers at fake times: the simulated week of the `week` scenario.

Reads every *.timer of a directory (OnCalendar=, Unit=), asks systemd-analyze when each would elapse between
--start and --end (so the calendar logic under test is systemd's own, not ours), and runs the ExecStart= of each
elapsed service in time order, with ``-e posfleet_now=<elapse time>`` appended, in its WorkingDirectory= with its
Environment= (as systemd would), except that each run gets its own POSFLEET_RESULTS_DIR under --outputs so the
verifier can read every run. One JSON line per run goes to --log: the time, the unit, the exit status and the file
holding its output.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import shlex
import subprocess
import sys

UTC = datetime.timezone.utc
ELAPSE_PREFIXES = ("Next elapse:", "Iter. #")


def unit_file(path):
    """The [section] -> {key: [values]} of a unit file (keys may repeat, as OnCalendar= does)."""
    sections = {}
    current = None
    with open(path, encoding="utf-8") as handle:
        for raw in handle:
            line = raw.strip()
            if not line or line.startswith(("#", ";")):
                continue
            if line.startswith("[") and line.endswith("]"):
                current = sections.setdefault(line[1:-1], {})
                continue
            key, _sep, value = line.partition("=")
            current.setdefault(key.strip(), []).append(value.strip())
    return sections


def elapses(expression, start, end):
    """Every elapse of a calendar expression in [start, end), as systemd-analyze computes it."""
    result = []
    base = start - datetime.timedelta(seconds=1)
    while True:
        out = subprocess.run(
            ["systemd-analyze", "calendar", "--iterations=50", f"--base-time=@{int(base.timestamp())}", expression],
            check=True, capture_output=True, text=True, env={**os.environ, "TZ": "UTC", "LC_ALL": "C"},
        ).stdout
        found = []
        for line in out.splitlines():
            line = line.strip()
            if line.startswith(ELAPSE_PREFIXES):
                stamp = line.split(":", 1)[1].strip()
                found.append(datetime.datetime.strptime(stamp, "%a %Y-%m-%d %H:%M:%S UTC").replace(tzinfo=UTC))
        if not found:
            return result
        for when in found:
            if when >= end:
                return result
            if when >= start:
                result.append(when)
        base = found[-1]


def events(units_dir, start, end):
    timers = sorted(name for name in os.listdir(units_dir) if name.endswith(".timer"))
    result = []
    for name in timers:
        timer = unit_file(os.path.join(units_dir, name)).get("Timer", {})
        service = (timer.get("Unit") or [name[:-len(".timer")] + ".service"])[-1]
        unit = unit_file(os.path.join(units_dir, service))["Service"]
        environment = dict(assignment.split("=", 1) for line in unit.get("Environment", [])
                           for assignment in shlex.split(line))
        for expression in timer.get("OnCalendar", []):
            for when in elapses(expression, start, end):
                result.append({"time": when, "timer": name, "service": service, "environment": environment,
                               "workdir": unit.get("WorkingDirectory", ["/"])[-1],
                               "argv": shlex.split(unit["ExecStart"][-1])})
    return sorted(result, key=lambda event: (event["time"], event["service"]))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("units_dir")
    parser.add_argument("--start", required=True, help="ISO 8601 time with offset")
    parser.add_argument("--end", required=True, help="ISO 8601 time with offset")
    parser.add_argument("--log", required=True, help="JSON lines, one per run")
    parser.add_argument("--outputs", required=True, help="directory for each run's output")
    parser.add_argument("--list", action="store_true", help="print the elapses, run nothing")
    args = parser.parse_args(argv)
    start = datetime.datetime.fromisoformat(args.start)
    end = datetime.datetime.fromisoformat(args.end)
    planned = events(args.units_dir, start, end)
    if args.list:
        for event in planned:
            print(event["time"].isoformat(), event["service"])
        return 0
    os.makedirs(args.outputs, exist_ok=True)
    with open(args.log, "a", encoding="utf-8") as log:
        for number, event in enumerate(planned):
            now = event["time"].isoformat().replace("+00:00", "Z")
            output = os.path.join(args.outputs, f"{number:03d}-{event['service']}.log")
            env = {**os.environ, **event["environment"],
                   "POSFLEET_RESULTS_DIR": os.path.join(args.outputs, f"{number:03d}-results")}
            with open(output, "w", encoding="utf-8") as handle:
                run = subprocess.run(event["argv"] + ["-e", f"posfleet_now={now}"], cwd=event["workdir"], env=env,
                                     stdout=handle, stderr=subprocess.STDOUT, check=False)
            log.write(json.dumps({"time": now, "service": event["service"], "rc": run.returncode,
                                  "output": output}) + "\n")
            log.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
