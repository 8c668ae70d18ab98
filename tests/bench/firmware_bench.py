#!/usr/bin/env python
"""Firmware benchmark: bytes on the wire, throughput against scp, time out of service, a rollout in waves.

Measured side by side in one run, on one machine:
  1. bytes for a full install (good-2.4.0 onto a 2.3.1 terminal), a minor update (minor-2.4.1 after it, 2 of 42
     files changed) and a re-run (minor-2.4.1 again): the module's bytes_transferred, and the bytes the terminal's
     container really received (rx_bytes of its eth0) while the firmware task ran. A reboot starts a new network
     namespace whose counter begins at 0, so the counter is sampled every 0.2 s and summed over reboots. The idle
     traffic (the simulated sales) is measured in service and in maintenance mode, and given per second;
  2. the transfer throughput of the full bundle (bytes_transferred / transfer_s) against plain scp of the same
     bundle file to the same terminal (same key, known_hosts and port; to /tmp, then removed), alternated over
     ROUNDS rounds; each round's full install starts from a fresh container on 2.3.1;
  3. the seconds out of service of each update (the module's out_of_service_s) and the whole maintenance-mode
     time (maintenance_mode's out_of_service_seconds when it is left);
  4. the wall time of playbooks/update.yml for the bench fleet (3 terminals, two stores, a canary), in waves,
     split per wave from the per-host records of results/update/.
Writes results/bench/firmware.json.

The benchmark makes its own fleet (playbooks/demo_fleet.yml with a generated inventory: containers NAME-bench-NN,
SSH on 127.0.0.1 ports PORT..PORT+2) and its own fixture bundles (tests/fixtures/firmware/make_bundles.yml), and
removes the fleet at the end. Usage (from the repository root, after `source scripts/lib.sh && ensure_venv &&
ensure_collection_path`, images built by tests/images/build.sh):
    python tests/bench/firmware_bench.py [--rounds 3] [--name fwbench] [--port 2900] [--idle-seconds 15]
        [--keep] [--workdir DIR]
"""

from __future__ import annotations

import argparse
import calendar
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time

import _fleet

ROOT = _fleet.ROOT
BENCH = os.path.join(ROOT, "tests", "bench")
STEP = os.path.join(BENCH, "firmware_step.yml")
# The bench fleet: the first terminal takes the measurements 1-3 (re-created fresh each round), all take part in the
# rollout. Two stores, the canary ring first.
FLEET = (("bench-01", "s01", "t100"), ("bench-02", "s01", "m200"), ("bench-03", "s02", "t100"))
CANARY = "bench-01"
# Inside the stores' off-peak window (02:00-05:00 Asia/Shanghai) on a working day.
WINDOW_NOW = "2026-12-08T03:10:00+08:00"
OVERRIDE = "firmware bench: the reference terminals' synthetic sales (their batch is never settled)"
RX = "/sys/class/net/eth0/statistics/rx_bytes"
GOALS = {"minor_over_full": 0.15, "rerun_bytes": 0, "throughput_over_scp": 0.8, "out_of_service_s": 90}


def write_inventory(directory, name, port):
    _fleet.write_group_vars(directory, name)
    hosts = [(host, store, model, port + index) for index, (host, store, model) in enumerate(FLEET)]
    return _fleet.write_hosts(os.path.join(directory, "hosts.yml"), hosts, groups={"canary": [CANARY]})


def playbook(argv, env=None, log=None):
    """ansible-playbook ARGV from the repository root: (rc, wall seconds); the output goes to ``log``."""
    start = time.monotonic()
    with open(log or os.devnull, "w") as out:
        proc = subprocess.run(["ansible-playbook", *argv], cwd=ROOT, env=dict(os.environ, **(env or {})),
                              stdout=out, stderr=subprocess.STDOUT, check=False)
    return proc.returncode, time.monotonic() - start


def tail(path, lines=40):
    with open(path, errors="replace") as handle:
        return "".join(handle.readlines()[-lines:])


def fleet(inventory, state, work):
    _fleet.demo_fleet(inventory, state, log=os.path.join(work, f"fleet-{state}.log"))


def fresh_terminal(inventory, name, host, work):
    """The terminal as it left the factory (2.3.1, empty slot b and content cache): a new container."""
    subprocess.run(["docker", "rm", "-f", f"{name}-{host}"], stdout=subprocess.DEVNULL, check=True)
    fleet(inventory, "present", work)  # re-creates it, and known_hosts with its new host key


class RxCounter:
    """The bytes a container's eth0 received, summed over reboots: sampled every 0.2 s by one shell loop in the
    container (a new loop after each reboot; a new network namespace's counter starts at 0)."""

    def __init__(self, container):
        self.container = container
        self.samples = []  # (epoch seconds, bytes received since the counter was started)
        self.resets = 0
        self._last = None
        self._total = 0
        self._stop = threading.Event()
        self._loop_pid = None
        self._thread = threading.Thread(target=self._run, daemon=True)

    def start(self):
        self._thread.start()
        deadline = time.monotonic() + 30
        while not self.samples and time.monotonic() < deadline:
            time.sleep(0.1)
        if not self.samples:
            sys.exit(f"{self.container}: cannot read {RX}")
        return self

    def _run(self):
        # The loop ends by itself after an hour, so no reader is ever left behind in the container.
        script = (f'echo $$; end=$(( $(date +%s) + 3600 )); while [ "$(date +%s)" -lt "$end" ] && cat {RX}; '
                  'do sleep 0.2; done')
        while not self._stop.is_set():
            proc = subprocess.Popen(["docker", "exec", self.container, "sh", "-c", script], stdout=subprocess.PIPE,
                                    stderr=subprocess.DEVNULL, text=True)
            first = True
            for line in proc.stdout:
                if first:
                    self._loop_pid, first = line.strip(), False
                    continue
                try:
                    value = int(line)
                except ValueError:
                    continue
                if self._last is not None:
                    if value >= self._last:
                        self._total += value - self._last
                    else:  # a new network namespace: its counter started at 0
                        self._total += value
                        self.resets += 1
                self._last = value
                self.samples.append((time.time(), self._total))
            proc.wait()
            self._loop_pid = None
            self._stop.wait(0.3)  # the container is rebooting

    def at(self, moment):
        """Bytes counted up to ``moment`` (the last sample at or before it)."""
        value = self.samples[0][1]
        for stamp, total in self.samples:
            if stamp > moment:
                break
            value = total
        return value

    def between(self, begin, end):
        return self.at(end) - self.at(begin)

    def stop(self):
        self._stop.set()
        if self._loop_pid:  # end the loop this counter started, by its id
            subprocess.run(["docker", "exec", self.container, "kill", self._loop_pid], stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL, check=False)
        self._thread.join(timeout=10)


def read_rx(container):
    out = subprocess.run(["docker", "exec", container, "cat", RX], stdout=subprocess.PIPE, text=True, check=True)
    return int(out.stdout)


def firmware_step(inventory, container, host, bundle, version, key, work, label, idle_s=0):
    """One firmware step (tests/bench/firmware_step.yml): the module's figures and the bytes really received."""
    out = os.path.join(work, f"step-{label}.json")
    log = os.path.join(work, f"step-{label}.log")
    rx_raw_before = read_rx(container)
    counter = RxCounter(container).start()
    try:
        rc, wall = playbook(["-i", inventory, STEP, "-e", f"fw_bench_host={host}", "-e", f"fw_bench_version={version}",
                             "-e", f"fw_bench_bundle={bundle}", "-e", f"fw_bench_key={key}", "-e",
                             f"fw_bench_out={out}", "-e", f"fw_bench_idle_s={idle_s}"],
                            env={"ANSIBLE_SSH_CONTROL_PATH_DIR": os.path.join(work, f"cp-{label}")}, log=log)
        time.sleep(0.5)  # the last sample after the run
    finally:
        counter.stop()
    rx_raw_after = read_rx(container)
    if not os.path.exists(out):
        sys.exit(f"{label}: the step wrote no figures (rc {rc}):\n{tail(log)}")
    with open(out) as handle:
        figures = json.load(handle)
    fw = figures["firmware"]
    if rc or fw.get("failed"):
        sys.exit(f"{label}: the firmware step failed (rc {rc}): {fw.get('msg')}\n{tail(log)}")
    t0, t1 = float(figures["t0"]), float(figures["t1"])
    step = {
        "label": label, "version": version, "changed": fw.get("changed"),
        "previous_version": fw.get("previous_version"), "version_after": fw.get("version"),
        "bytes_transferred": fw.get("bytes_transferred"), "files_transferred": fw.get("files_transferred"),
        "bytes_total": fw.get("bytes_total"), "transfer_s": fw.get("transfer_s"),
        "out_of_service_s": fw.get("out_of_service_s"), "duration_s": fw.get("duration_s"),
        "maintenance_out_of_service_s": float(figures["maintenance_out_of_service_s"] or 0),
        "task_s": round(t1 - t0, 2), "playbook_wall_s": round(wall, 1),
        "rx_bytes": counter.between(t0, t1), "rx_counter_resets": counter.resets,
        "rx_raw_before": rx_raw_before, "rx_raw_after": rx_raw_after,
    }
    step["maintenance_for_update_s"] = step["maintenance_out_of_service_s"]
    if idle_s:  # the idle interval is not part of the update's time in maintenance mode
        i0, i1 = float(figures["idle_t0"]), float(figures["idle_t1"])
        step["idle_maintenance"] = {"seconds": round(i1 - i0, 2), "rx_bytes": counter.between(i0, i1)}
        step["maintenance_for_update_s"] = round(step["maintenance_out_of_service_s"] - (i1 - i0), 1)
    return step


def idle_in_service(container, seconds):
    counter = RxCounter(container).start()
    begin = time.time()
    time.sleep(seconds)
    end = time.time()
    time.sleep(0.5)
    counter.stop()
    return {"seconds": round(end - begin, 2), "rx_bytes": counter.between(begin, end)}


def scp_step(state, port, bundle, container, label):
    """Plain scp of the bundle to the terminal's /tmp (the automation account's key and known_hosts), then removed."""
    opts = ["-i", os.path.join(state, "id_ed25519"), "-o", f"UserKnownHostsFile={os.path.join(state, 'known_hosts')}",
            "-o", "StrictHostKeyChecking=yes", "-o", "IdentitiesOnly=yes"]
    remote = f"/tmp/fwbench-{label}.posfw"
    before = read_rx(container)
    start = time.monotonic()
    subprocess.run(["scp", "-q", *opts, "-P", str(port), bundle, f"posadmin@127.0.0.1:{remote}"], check=True)
    seconds = time.monotonic() - start
    after = read_rx(container)
    subprocess.run(["ssh", *opts, "-p", str(port), "posadmin@127.0.0.1", "rm", "-f", remote], check=True)
    size = os.path.getsize(bundle)
    return {"label": label, "bytes": size, "seconds": round(seconds, 2), "mb_per_s": round(size / seconds / 1e6, 2),
            "rx_bytes": after - before}


def epoch(stamp):
    return calendar.timegm(time.strptime(stamp, "%Y-%m-%dT%H:%M:%SZ"))


def rollout(inventory, fixtures, work):
    """playbooks/update.yml for the bench fleet: wall time, and per wave the time until its last record."""
    results = os.path.join(work, "results-update")
    shutil.rmtree(results, ignore_errors=True)
    log = os.path.join(work, "update.log")
    started = time.time()
    rc, wall = playbook(["-i", inventory, os.path.join(ROOT, "playbooks", "update.yml"),
                         "-e", "posfleet_firmware_version=2.4.0",
                         "-e", f"posfleet_firmware_bundle={fixtures}/bundles/good-2.4.0.posfw",
                         "-e", json.dumps({"posfleet_firmware_trusted_keys": [f"{fixtures}/keys/trusted.pub"]}),
                         "-e", f"posfleet_now={WINDOW_NOW}", "-e", f"posfleet_run_id=fwbench-{int(started)}",
                         "-e", json.dumps({"posfleet_firmware_settlement_override_reason": OVERRIDE})],
                        env={"POSFLEET_RESULTS_DIR": results,
                             "ANSIBLE_SSH_CONTROL_PATH_DIR": os.path.join(work, "cp-up")}, log=log)
    path = os.path.join(results, "update", "fleet.json")
    if rc or not os.path.exists(path):
        sys.exit(f"update.yml exited {rc}:\n{tail(log)}")
    with open(path) as handle:
        record = json.load(handle)
    recorded = {h["host"]: epoch(h["recorded_at"]) for h in record["hosts"] if h.get("recorded_at")}
    terminals = record["rollout"]["terminals"]
    waves, previous_end = [], started
    for wave in sorted({t["wave"] for t in terminals if t.get("wave") is not None}):
        hosts = [t["host"] for t in terminals if t.get("wave") == wave]
        end = max(recorded[h] for h in hosts)
        waves.append({"wave": wave + 1, "terminals": hosts, "seconds": round(end - previous_end),
                      "statuses": sorted({t["status"] for t in terminals if t.get("wave") == wave})})
        previous_end = end
    return {"wall_s": round(wall, 1), "terminals": len(terminals), "waves": waves,
            "per_terminal": [{k: t.get(k) for k in ("host", "wave", "status", "previous_version", "version",
                                                    "out_of_service_s")} for t in terminals],
            "summary": record["rollout"]["text"]}


def ratio(a, b):
    return round(a / b, 4) if b else None


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3, help="rounds of firmware full install against scp")
    parser.add_argument("--name", default="fwbench", help="container name prefix")
    parser.add_argument("--port", type=int, default=2900, help="first SSH port on 127.0.0.1")
    parser.add_argument("--idle-seconds", type=int, default=15, help="length of each idle interval measured")
    parser.add_argument("--keep", action="store_true", help="leave the fleet running")
    parser.add_argument("--workdir", help="keep the generated inventory, keys, bundles and logs here")
    args = parser.parse_args()
    link = os.path.join(ROOT, ".cache", "collections", "ansible_collections", "posfleet", "terminals")
    if os.path.realpath(link) != os.path.realpath(ROOT):
        sys.exit(f"{link} is not this checkout. Fix: source scripts/lib.sh && ensure_venv && ensure_collection_path")

    work = os.path.abspath(args.workdir or tempfile.mkdtemp(prefix=f"{args.name}-bench-"))
    os.makedirs(work, exist_ok=True)
    inventory = write_inventory(work, args.name, args.port)
    state = os.path.join(work, "state")
    fixtures = os.path.join(work, "fixtures")
    host, port, container = FLEET[0][0], args.port, f"{args.name}-{FLEET[0][0]}"
    full = os.path.join(fixtures, "bundles", "good-2.4.0.posfw")
    minor = os.path.join(fixtures, "bundles", "minor-2.4.1.posfw")
    key = os.path.join(fixtures, "keys", "trusted.pub")
    report = {"rounds": args.rounds, "goals": GOALS, "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
              "cpus": os.cpu_count()}

    print(f"fixture bundles in {fixtures}", flush=True)
    log = os.path.join(work, "fixtures.log")
    rc, dummy = playbook([os.path.join(ROOT, "tests", "fixtures", "firmware", "make_bundles.yml"),
                          "-e", f"posfleet_fixture_dir={fixtures}"], log=log)
    if rc:
        sys.exit(f"make_bundles.yml exited {rc}:\n{tail(log)}")
    print(f"starting {len(FLEET)} terminals ({args.name}-bench-NN, ports {port}-{port + len(FLEET) - 1})", flush=True)
    # A clean start, also after a run with --keep: every terminal as it left the factory.
    subprocess.run(["docker", "rm", "-f", *(f"{args.name}-{row[0]}" for row in FLEET)],
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)
    fleet(inventory, "present", work)
    steps, scps = [], []
    try:
        report["idle_in_service"] = idle_in_service(container, args.idle_seconds)
        print(f"idle in service: {report['idle_in_service']['rx_bytes']} B in {args.idle_seconds} s", flush=True)
        for round_no in range(1, args.rounds + 1):
            if round_no > 1:
                fresh_terminal(inventory, args.name, host, work)
            firmware_first = round_no % 2 == 0  # alternate, so that drift on the machine hits both alike
            if not firmware_first:
                scps.append(scp_step(state, port, full, container, f"scp-{round_no}"))
            steps.append(firmware_step(inventory, container, host, full, "2.4.0", key, work, f"full-{round_no}",
                                       idle_s=args.idle_seconds if round_no == 1 else 0))
            if firmware_first:
                scps.append(scp_step(state, port, full, container, f"scp-{round_no}"))
            s, f = scps[-1], steps[-1]
            print(f"round {round_no}: scp {s['mb_per_s']} MB/s ({s['seconds']} s); firmware "
                  f"{f['bytes_transferred']} B in {f['transfer_s']} s, {f['rx_bytes']} B received, out of service "
                  f"{f['out_of_service_s']} s, maintenance mode {f['maintenance_for_update_s']} s", flush=True)
            if round_no == 1:
                for label in ("minor", "rerun"):
                    steps.append(firmware_step(inventory, container, host, minor, "2.4.1", key, work, label))
                    f = steps[-1]
                    print(f"{label}: {f['bytes_transferred']} B in {f['files_transferred']} files, {f['rx_bytes']} "
                          f"B received, changed {f['changed']}, out of service {f['out_of_service_s']} s", flush=True)
        print("the rollout: update.yml on a fresh fleet on 2.3.1", flush=True)
        fresh_terminal(inventory, args.name, host, work)
        report["rollout"] = rollout(inventory, fixtures, work)
        print(f"update.yml: {report['rollout']['wall_s']} s", flush=True)
    finally:
        if not args.keep:
            fleet(inventory, "absent", work)
            if not args.workdir:
                shutil.rmtree(work, ignore_errors=True)

    by_label = {s["label"]: s for s in steps}
    fulls = [s for s in steps if s["label"].startswith("full-")]
    first = by_label["full-1"]
    idle_m = first["idle_maintenance"]
    idle_s = report["idle_in_service"]
    idle_rate = {"in_service_b_per_s": round(idle_s["rx_bytes"] / idle_s["seconds"], 1),
                 "maintenance_b_per_s": round(idle_m["rx_bytes"] / idle_m["seconds"], 1)}
    fw_rates = [s["bytes_transferred"] / s["transfer_s"] / 1e6 for s in fulls]
    scp_rates = [s["mb_per_s"] for s in scps]
    report.update(
        steps=steps, scp=scps, idle_rx=idle_rate,
        bytes={"full": {k: first[k] for k in ("bytes_transferred", "files_transferred", "rx_bytes")},
               "minor": {k: by_label["minor"][k] for k in ("bytes_transferred", "files_transferred", "rx_bytes")},
               "rerun": {k: by_label["rerun"][k] for k in ("bytes_transferred", "files_transferred", "rx_bytes",
                                                           "changed")},
               "minor_over_full_module": ratio(by_label["minor"]["bytes_transferred"], first["bytes_transferred"]),
               "minor_over_full_rx": ratio(by_label["minor"]["rx_bytes"], first["rx_bytes"])},
        throughput={"firmware_mb_per_s": [round(r, 2) for r in fw_rates], "scp_mb_per_s": scp_rates,
                    "median_firmware_mb_per_s": round(statistics.median(fw_rates), 2),
                    "median_scp_mb_per_s": round(statistics.median(scp_rates), 2),
                    "ratio_per_round": [round(f / s, 3) for f, s in zip(fw_rates, scp_rates)],
                    "median_ratio": round(statistics.median(f / s for f, s in zip(fw_rates, scp_rates)), 3)},
        out_of_service={"module_out_of_service_s": [s["out_of_service_s"] for s in fulls + [by_label["minor"]]],
                        "maintenance_mode_s": [s["maintenance_for_update_s"] for s in fulls + [by_label["minor"]]],
                        "rerun_out_of_service_s": by_label["rerun"]["out_of_service_s"]})

    b, t, o, r = report["bytes"], report["throughput"], report["out_of_service"], report["rollout"]
    print()
    print(f"{'figure':<52} {'measured':>24} {'goal':>10}")
    rows = [
        ("full install 2.3.1 -> 2.4.0, bytes_transferred", f"{b['full']['bytes_transferred']:,}", ""),
        ("  received by the terminal (rx_bytes)", f"{b['full']['rx_bytes']:,}", ""),
        ("minor update 2.4.0 -> 2.4.1, bytes_transferred", f"{b['minor']['bytes_transferred']:,}", ""),
        ("  received by the terminal (rx_bytes)", f"{b['minor']['rx_bytes']:,}", ""),
        ("  minor / full (module; rx)", f"{b['minor_over_full_module']}; {b['minor_over_full_rx']}", "<= 0.15"),
        ("re-run 2.4.1, bytes_transferred (changed)",
         f"{b['rerun']['bytes_transferred']} ({b['rerun']['changed']})", "0"),
        ("  received by the terminal (rx_bytes)", f"{b['rerun']['rx_bytes']:,}", ""),
        ("idle rx in service; in maintenance (B/s)", f"{idle_rate['in_service_b_per_s']}; "
         f"{idle_rate['maintenance_b_per_s']}", ""),
        ("firmware full transfer MB/s (median)", f"{t['median_firmware_mb_per_s']}", ""),
        ("scp of the bundle MB/s (median)", f"{t['median_scp_mb_per_s']}", ""),
        ("firmware / scp (median of the rounds)", f"{t['median_ratio']}", ">= 0.8"),
        ("out of service per update, module (s)", ", ".join(f"{v:g}" for v in o["module_out_of_service_s"]), "<= 90"),
        ("  maintenance mode in all (s)", ", ".join(f"{v:g}" for v in o["maintenance_mode_s"]), ""),
        (f"update.yml, {r['terminals']} terminals in {len(r['waves'])} waves (s)", f"{r['wall_s']}", ""),
    ] + [(f"  wave {w['wave']} ({', '.join(w['terminals'])})", f"{w['seconds']}", "") for w in r["waves"]]
    for name, value, goal in rows:
        print(f"{name:<52} {value:>24} {goal:>10}")
    _fleet.write_report("firmware", report)


if __name__ == "__main__":
    main()
