#!/usr/bin/env bash
# Peers: Lynis (Debian's lynis) and OpenSCAP (openscap-scanner with ssg-debian) against the same fresh legacy and
# compliant (t100) reference terminals as posfleet.terminals.pci_audit, and the wall time of each on one terminal.
# Run by hand (not part of the test suite):   bash tests/bench/pci_peers.sh [ROUNDS]
# Results: results/bench/peers/ (Lynis reports, OpenSCAP results, pci_audit results, timings.json).
#
# Notes on the method:
# - Lynis runs inside the terminal (its scripts are copied in: a terminal has no package mirror).
# - ssg-debian ships SCAP content up to Debian 11 only; its platform check reads /etc/debian_version. OpenSCAP
#   therefore evaluates an exported copy of the terminal's file system (OSCAP_PROBE_ROOT) in which that file
#   reads 11.11; the terminal itself is not changed. There is no PCI DSS profile for Debian: the profiles run are
#   `standard` and `anssi_np_nt28_high` (the largest).
# - pci_audit is timed twice: as Ansible runs it (the module over the docker connection, one round trip) and
#   in-process on the terminal (python3, what the module does once it is there).
# - Lynis is timed fairly: the harness (a container with no network and a boot loader as PID 1, no kernel
#   package) would make Lynis hit four exceptions that it displays with a 5 s pause each: GetHostID twice (no MAC
#   address to derive its host ID from), BOOT-5104 (PID 1 is no service manager it knows) and PKGS-7410 (no
#   kernel package in a container). A profile (custom.prf) gives it the host IDs that it would derive on a real
#   terminal and skips those two tests, which only measure the harness. Round 1 also runs Lynis as it comes
#   (lynis_harness_exceptions) so that the cost of the exceptions shows side by side.
# Container names start with $POSFLEET_BENCH_PREFIX (default posfleet-peers).
set -euo pipefail
# shellcheck source=scripts/lib.sh disable=SC1091  # lib.sh is checked on its own
source "$(dirname "${BASH_SOURCE[0]}")/../../scripts/lib.sh"
root=$POSFLEET_ROOT
rounds=${1:-3}
prefix=${POSFLEET_BENCH_PREFIX:-posfleet-peers}
out="$root/results/bench/peers"
mkdir -p "$out"
apt_install lynis openscap-scanner ssg-debian bc
ensure_docker
ensure_venv
ensure_collection_path
ensure_images
content=/usr/share/xml/scap/ssg/content/ssg-debian11-ds.xml
work=$(mktemp -d)
containers=()
cleanup() {
  for c in "${containers[@]}"; do docker rm -f "$c" >/dev/null 2>&1 || true; done
  rm -rf "$work"
}
trap cleanup EXIT

now() { date +%s.%N; }

for profile in legacy t100; do
  c="$prefix-$profile"
  containers+=("$c")
  docker rm -f "$c" >/dev/null 2>&1 || true
  docker run -d --name "$c" --hostname "$c" --network none -e POSFLEET_TERMINAL_ID="PEERS-$profile" \
    "posfleet/terminal:$profile" >/dev/null
  for _ in $(seq 1 30); do docker exec "$c" test -s /etc/posfleet/terminal.json && break; sleep 1; done
  # No acquirer here: a stand-in CA file where the acquirer's volume would be mounted.
  docker exec "$c" sh -c 'test -s /etc/posfleet/ca/acquirer-ca.pem || echo stand-in >/etc/posfleet/ca/acquirer-ca.pem'
  # pci_audit in-process: the collection's target-side code, as the module runs it.
  docker exec "$c" mkdir -p /tmp/pcibench/ansible_collections/posfleet/terminals/plugins
  docker cp "$root/plugins/module_utils" "$c:/tmp/pcibench/ansible_collections/posfleet/terminals/plugins/"
  # Lynis, copied in.
  docker cp /usr/share/lynis "$c:/usr/share/lynis"
  docker cp /etc/lynis "$c:/etc/lynis"
  docker cp /usr/sbin/lynis "$c:/usr/sbin/lynis"
  # Lynis' own host IDs come from a MAC address (hostid) and the host name (hostid2): the same kind of
  # identifiers, from the terminal ID. The two skipped tests cannot pass in a container whatever the terminal.
  {
    echo "hostid=$(printf %s "PEERS-$profile" | sha1sum | cut -d' ' -f1)"
    echo "hostid2=$(printf %s "PEERS-$profile" | sha256sum | cut -d' ' -f1)"
    echo 'skip-test=BOOT-5104'
    echo 'skip-test=PKGS-7410'
  } | docker exec -i "$c" sh -c 'cat >/etc/lynis/harness.prf'
  # The compliant terminal is enrolled (file-integrity baseline), as a provisioned terminal would be.
  enrol=False; [ "$profile" = t100 ] && enrol=True
  docker exec "$c" python3 -c "
import sys; sys.path.insert(0, '/tmp/pcibench')
from ansible_collections.posfleet.terminals.plugins.module_utils import _pci
_pci.audit({'pan_exclude': ['/tmp/pcibench/*']}, fim_update=$enrol)" >/dev/null

  for round in $(seq 1 "$rounds"); do
    t0=$(now)
    docker exec "$c" python3 -c "
import json, sys; sys.path.insert(0, '/tmp/pcibench')
from ansible_collections.posfleet.terminals.plugins.module_utils import _pci
r = _pci.audit({'pan_exclude': ['/tmp/pcibench/*'], 'cashier_accounts': [{'name': 'cashier', 'reason': 'till login'}]})
json.dump(r, open('/tmp/pci_audit.json', 'w'), indent=1)" >/dev/null
    t1=$(now)
    ansible all -i "$c," -c community.docker.docker -e ansible_python_interpreter=/usr/bin/python3 \
      -m posfleet.terminals.pci_audit -a '{"pan_exclude": ["/tmp/pcibench/*"]}' >/dev/null || true
    t2=$(now)
    docker exec "$c" lynis audit system --quick --no-colors --profile /etc/lynis/harness.prf --logfile /tmp/lynis.log \
      --report-file /tmp/lynis-report.dat >"$work/lynis-$profile.out" 2>&1 || true
    t3=$(now)
    {
      echo "$profile $round pci_audit_inprocess $(echo "$t1 - $t0" | bc)"
      echo "$profile $round pci_audit_module $(echo "$t2 - $t1" | bc)"
      echo "$profile $round lynis $(echo "$t3 - $t2" | bc)"
    } >>"$work/times"
    if [ "$round" = 1 ]; then
      t0=$(now)
      docker exec "$c" lynis audit system --quick --no-colors --logfile /tmp/lynis-plain.log \
        --report-file /tmp/lynis-plain-report.dat >"$work/lynis-plain-$profile.out" 2>&1 || true
      t1=$(now)
      echo "$profile $round lynis_harness_exceptions $(echo "$t1 - $t0" | bc)" >>"$work/times"
      docker cp "$c:/tmp/lynis-plain-report.dat" "$out/$profile-lynis-plain-report.dat"
    fi
  done
  docker cp "$c:/tmp/pci_audit.json" "$out/$profile-pci_audit.json"
  docker cp "$c:/tmp/lynis-report.dat" "$out/$profile-lynis-report.dat"

  # OpenSCAP on an exported copy of the file system.
  fs="$work/fs-$profile"
  mkdir -p "$fs"
  docker export "$c" | tar -x -C "$fs" 2>/dev/null || true
  echo 11.11 >"$fs/etc/debian_version"
  for xprofile in standard anssi_np_nt28_high; do
    t0=$(now)
    OSCAP_PROBE_ROOT="$fs" oscap xccdf eval --profile "xccdf_org.ssgproject.content_profile_$xprofile" \
      --results "$out/$profile-oscap-$xprofile.xml" "$content" >"$out/$profile-oscap-$xprofile.txt" 2>/dev/null || true
    t1=$(now)
    echo "$profile 1 oscap_$xprofile $(echo "$t1 - $t0" | bc)" >>"$work/times"
  done
done

python3 - "$work/times" "$out" <<'PY'
import collections, json, os, re, statistics, sys
times, out = sys.argv[1], sys.argv[2]
runs = collections.defaultdict(list)
for line in open(times):
    profile, _round, tool, seconds = line.split()
    runs[(profile, tool)].append(float(seconds))
report = {'rounds': {f'{p}/{t}': v for (p, t), v in runs.items()}}
medians = {f'{p}/{t}': round(statistics.median(v), 2) for (p, t), v in runs.items()}
report['median_s'] = medians
for profile in ('legacy', 't100'):
    lyn = medians.get(f'{profile}/lynis')
    lyn_plain = medians.get(f'{profile}/lynis_harness_exceptions')
    for mode in ('inprocess', 'module'):
        ours = medians.get(f'{profile}/pci_audit_{mode}')
        if lyn and ours:
            report[f'{profile}_lynis_over_pci_audit_{mode}'] = round(lyn / ours, 1)
        if lyn_plain and ours:
            report[f'{profile}_lynis_harness_exceptions_over_pci_audit_{mode}'] = round(lyn_plain / ours, 1)
    data = open(os.path.join(out, f'{profile}-lynis-report.dat'), errors='replace').read()
    plain = open(os.path.join(out, f'{profile}-lynis-plain-report.dat'), errors='replace').read()
    report[f'{profile}_lynis_harness_exceptions'] = {
        'exceptions': re.findall(r'^exception_event\[\]=([^|]+\|[^|]*)', plain, re.M),
        'suggestions': len(re.findall(r'^suggestion\[\]=', plain, re.M)),
        'seconds_round_1': runs[(profile, 'lynis_harness_exceptions')][0],
    }
    report[f'{profile}_lynis'] = {
        'exceptions': re.findall(r'^exception_event\[\]=([^|]+\|[^|]*)', data, re.M),
        'warnings': re.findall(r'^warning\[\]=([^|]+)', data, re.M),
        'suggestions': len(re.findall(r'^suggestion\[\]=', data, re.M)),
        'suggestion_tests': sorted(set(re.findall(r'^suggestion\[\]=([^|]+)', data, re.M))),
        'hardening_index': (re.findall(r'^hardening_index=(\d+)', data, re.M) or [None])[0],
        'tests_done': len((re.findall(r'^tests_executed=(.*)$', data, re.M) or [''])[0].split('|')) - 1,
    }
    for xprofile in ('standard', 'anssi_np_nt28_high'):
        text = open(os.path.join(out, f'{profile}-oscap-{xprofile}.txt')).read()
        titles = re.findall(r'^Title\s+(.*)$', text, re.M)
        results = re.findall(r'^Result\s+(.*)$', text, re.M)
        report[f'{profile}_oscap_{xprofile}'] = {
            'counts': dict(collections.Counter(results)),
            'fail': [t for t, r in zip(titles, results) if r == 'fail'],
        }
    audit = json.load(open(os.path.join(out, f'{profile}-pci_audit.json')))
    report[f'{profile}_pci_audit'] = {'summary': audit['summary'],
                                      'fail': [c['id'] for c in audit['controls'] if c['status'] == 'fail']}
json.dump(report, open(os.path.join(out, 'timings.json'), 'w'), indent=1)
print(json.dumps({k: v for k, v in report.items() if k != 'rounds'}, indent=1))
PY
