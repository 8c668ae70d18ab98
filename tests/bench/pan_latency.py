#!/usr/bin/env python
# Copyright (c) posfleet developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Training-transaction latency on a real terminal at rest and while pan_scan scans a large file on it.

Starts the acquirer simulator and a t100 reference terminal (containers ``pan-lat-*`` on their own network,
nothing published), copies ``module_utils/_pan.py`` and a generated log corpus (pan_bench's generator, default
200 MB) into the terminal, then runs ``--rounds`` alternating rounds of four phases:

- ``rest``: ``--tx`` training transactions one after the other through posd's control socket
  (``test_transaction``: TLS to the acquirer, journal write), timed inside the terminal;
- ``low``: the same while the terminal scans the corpus in a loop the way the pan_scan module does by default
  (``lower_priority()``: SCHED_IDLE, nice 19, idle I/O class);
- ``limited``: the same with ``rate_limit`` 20 MB/s on top;
- ``normal``: the same while it scans at normal priority (the control: what the low priority buys).

Prints each phase's median and 90th percentile per round (and the CPU the scan used meanwhile), then the medians
over all rounds and the ratios to rest; the goal is ``low`` within 20% of ``rest``. Removes everything it made.
Run by hand (not in the suite):

    python tests/bench/pan_latency.py [--rounds 7] [--tx 20] [--mb 200] [--out results/bench/pan_latency.json]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, HERE)
import pan_bench  # noqa: E402  (the corpus generator)

PREFIX = 'pan-lat'
TERMINAL = f'{PREFIX}-t100'
ACQUIRER = f'{PREFIX}-acquirer'
NETWORK = f'{PREFIX}-net'
VOLUME = f'{PREFIX}-ca'
IMAGES = ('posfleet/terminal:t100', 'posfleet/acquirer:latest')
PAN_PY = os.path.join(REPO, 'plugins', 'module_utils', '_pan.py')

# Runs inside the terminal: N training transactions in a row over posd's control socket, latency of each in ms.
PROBE = r'''
import json, socket, sys, time
out = []
for _i in range(int(sys.argv[1])):
    started = time.monotonic()
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.settimeout(60)
        s.connect("/run/posd/posd.sock")
        s.sendall(b'{"cmd": "test_transaction"}\n')
        data = b""
        while not data.endswith(b"\n"):
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
    answer = json.loads(data)
    if not answer.get("ok"):
        sys.exit("test_transaction failed: " + data.decode())
    out.append(round((time.monotonic() - started) * 1000, 2))
print(json.dumps(out))
'''

# Runs inside the terminal: scan the corpus again and again, as pan_scan does, until the benchmark ends it
# (SIGTERM to the pid it wrote). argv: priority (low/normal), rate limit in bytes per second (0: none).
SCANNER = r'''
import json, os, sys
sys.path.insert(0, "/tmp/pan")
import _pan
priority = _pan.lower_priority() if sys.argv[1] == "low" else _pan.current_priority()
with open("/tmp/pan/scanner.json.tmp", "w") as f:
    json.dump({"pid": os.getpid(), "priority": priority}, f)
os.rename("/tmp/pan/scanner.json.tmp", "/tmp/pan/scanner.json")
while True:
    _pan.scan_paths(["/tmp/pan/corpus.log"], "benchmark-hash-key-0", max_findings=0, rate_limit=int(sys.argv[2]))
'''


def docker(*args, check=True, capture=True):
    proc = subprocess.run(['docker', *args], capture_output=capture, text=True, check=False)
    if check and proc.returncode != 0:
        raise SystemExit(f'pan_latency: docker {" ".join(args[:3])} ...: {proc.stderr.strip()}')
    return proc.stdout.strip() if capture else ''


def cleanup():
    subprocess.run(['docker', 'rm', '-f', '-v', TERMINAL, ACQUIRER], capture_output=True, check=False)
    subprocess.run(['docker', 'network', 'rm', NETWORK], capture_output=True, check=False)
    subprocess.run(['docker', 'volume', 'rm', VOLUME], capture_output=True, check=False)


def wait_for(what, argv, seconds=120):
    deadline = time.monotonic() + seconds
    while subprocess.run(argv, capture_output=True, check=False).returncode != 0:
        if time.monotonic() > deadline:
            raise SystemExit(f'pan_latency: {what} not ready after {seconds} s')
        time.sleep(1)


def start(tmp, megabytes):
    for image in IMAGES:
        if subprocess.run(['docker', 'image', 'inspect', image], capture_output=True, check=False).returncode != 0:
            subprocess.run(['bash', os.path.join(REPO, 'tests', 'images', 'build.sh')], check=True)
    cleanup()
    docker('network', 'create', NETWORK)
    docker('volume', 'create', VOLUME)
    # A real acquirer is another machine and a real terminal has its CPU to itself: both containers get a large
    # CPU weight (cpu.shares) against the other containers of this shared host, the same in every phase. Without
    # it, the scan's CPU time counts against the terminal container's share at the host level, where SCHED_IDLE
    # does not reach, and other tenants' load decides posd's latency.
    docker('run', '-d', '--name', ACQUIRER, '--hostname', 'acquirer', '--network', NETWORK, '--network-alias',
           'acquirer', '--cpu-shares', '8192', '-v', f'{VOLUME}:/ca', IMAGES[1])
    wait_for('acquirer CA', ['docker', 'exec', ACQUIRER, 'test', '-s', '/ca/acquirer-ca.pem'])
    docker('run', '-d', '--name', TERMINAL, '--hostname', 'sh01-t100-01', '--network', NETWORK, '--cpu-shares', '8192',
           '-v', f'{VOLUME}:/etc/posfleet/ca:ro', '-e', 'POSFLEET_TERMINAL_ID=SH01-T100-01',
           '-e', 'POSFLEET_TIMEZONE=Asia/Shanghai', '-e', 'POSD_TRICKLE_SECONDS=600', IMAGES[0])
    wait_for('posd', ['docker', 'exec', TERMINAL, 'posctl', 'status'])
    corpus, _planted, _sad, _size = pan_bench.corpus(tmp, megabytes)
    docker('exec', TERMINAL, 'mkdir', '-p', '/tmp/pan')
    for source, name in ((PAN_PY, '_pan.py'), (corpus, 'corpus.log')):
        docker('cp', source, f'{TERMINAL}:/tmp/pan/{name}')
    for text, name in ((PROBE, 'probe.py'), (SCANNER, 'scanner.py')):
        path = os.path.join(tmp, name)
        with open(path, 'w', encoding='utf-8') as handle:
            handle.write(text)
        docker('cp', path, f'{TERMINAL}:/tmp/pan/{name}')
    probe(3)  # the first transactions open the TLS context and the journal: not measured


def probe(count):
    return json.loads(docker('exec', TERMINAL, 'python3', '/tmp/pan/probe.py', str(count)))


# phase -> (scanner priority, rate limit in bytes per second); rest runs no scanner.
PHASES = {'rest': None, 'low': ('low', 0), 'limited': ('low', 20_000_000), 'normal': ('normal', 0)}


def cpu_ticks(pid):
    """utime + stime of a process in the terminal, in clock ticks (1/100 s)."""
    fields = docker('exec', TERMINAL, 'cat', f'/proc/{pid}/stat').rsplit(')', 1)[1].split()
    return int(fields[11]) + int(fields[12])


def phase(mode, count):
    """Latencies of ``count`` transactions, and the CPU share the scan got meanwhile (None at rest)."""
    if PHASES[mode] is None:
        return probe(count), None
    priority, rate = PHASES[mode]
    docker('exec', TERMINAL, 'rm', '-f', '/tmp/pan/scanner.json')
    docker('exec', '-d', TERMINAL, 'python3', '/tmp/pan/scanner.py', priority, str(rate))
    wait_for('scanner', ['docker', 'exec', TERMINAL, 'test', '-s', '/tmp/pan/scanner.json'], 60)
    pid = json.loads(docker('exec', TERMINAL, 'cat', '/tmp/pan/scanner.json'))['pid']
    time.sleep(1.5)  # the scan is under way, its file in the page cache
    ticks, started = cpu_ticks(pid), time.monotonic()
    latencies = probe(count)
    share = (cpu_ticks(pid) - ticks) / 100 / (time.monotonic() - started)
    docker('exec', TERMINAL, 'kill', str(pid))
    return latencies, round(share, 2)


def percentile(values, share):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(share * (len(ordered) - 1))))]


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n', maxsplit=1)[0])
    parser.add_argument('--rounds', type=int, default=7)
    parser.add_argument('--tx', type=int, default=20, help='training transactions per phase')
    parser.add_argument('--mb', type=int, default=200, help='size of the file scanned on the terminal')
    parser.add_argument('--corpus-dir', default=None, help='reuse the corpus generated here by pan_bench')
    parser.add_argument('--out', default=os.path.join(REPO, 'results', 'bench', 'pan_latency.json'))
    args = parser.parse_args()
    modes = tuple(PHASES)
    samples = {mode: [] for mode in modes}
    per_round = []
    scanners = {mode: [] for mode in modes if PHASES[mode]}
    try:
        with tempfile.TemporaryDirectory() as tmp:
            start(args.corpus_dir or tmp, args.mb)
            for index in range(args.rounds):
                medians = {}
                for mode in modes:
                    latencies, scanner = phase(mode, args.tx)
                    samples[mode] += latencies
                    medians[mode] = percentile(latencies, 0.5)
                    if scanner is not None:
                        scanners[mode].append(scanner)
                    print(f'round {index + 1} {mode:<7} median {medians[mode]:7.1f} ms  p90 '
                          f'{percentile(latencies, 0.9):7.1f} ms'
                          + (f'   scan used {scanner:.2f} CPU' if scanner is not None else ''), flush=True)
                per_round.append(medians)
    finally:
        cleanup()
    report = {'rounds': args.rounds, 'transactions_per_phase': args.tx, 'corpus_mb': args.mb}
    for mode in modes:
        report[mode] = {'median_ms': percentile(samples[mode], 0.5), 'p90_ms': percentile(samples[mode], 0.9)}
    for mode in scanners:
        ratios = sorted(r[mode] / r['rest'] for r in per_round)
        report[mode]['ratio_to_rest'] = round(ratios[len(ratios) // 2], 2)
        report[mode]['pooled_ratio_to_rest'] = round(report[mode]['median_ms'] / report['rest']['median_ms'], 2)
        report[mode]['scan_cpu_share'] = sorted(scanners[mode])[len(scanners[mode]) // 2]
        report[mode]['scanner'] = PHASES[mode]
    os.makedirs(os.path.dirname(args.out), exist_ok=True)
    with open(args.out, 'w', encoding='utf-8') as handle:
        json.dump(report, handle, indent=1)
    print(f'\nmedian of {args.rounds} alternating rounds, {args.tx} training transactions per phase:')
    print(f"{'phase':<52} {'median ms':>10} {'p90 ms':>8} {'ratio':>6} {'pooled':>7} {'scan CPU':>9}")
    labels = {'rest': 'at rest', 'low': 'during pan_scan, low priority (default)',
              'limited': 'during pan_scan, low priority + rate_limit 20 MB/s',
              'normal': 'during a scan at normal priority (control)'}
    for mode in modes:
        r = report[mode]
        print(f"{labels[mode]:<52} {r['median_ms']:>10} {r['p90_ms']:>8} {r.get('ratio_to_rest', 1.0):>6} "
              f"{r.get('pooled_ratio_to_rest', 1.0):>7} {r.get('scan_cpu_share', ''):>9}")
    print('ratio: median over rounds of (phase median / rest median of the same round); pooled: median of all '
          'transactions of the phase / median of all at rest; scan CPU: CPUs the scan used meanwhile')
    verdict = 'within' if report['low']['ratio_to_rest'] <= 1.2 else 'NOT within'
    print(f"latency during a low-priority scan: x{report['low']['ratio_to_rest']} of rest ({verdict} 20%)")


if __name__ == '__main__':
    main()
