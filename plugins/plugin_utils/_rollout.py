# Copyright (c) posfleet developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Controller-side rollout logic of ``playbooks/update.yml``: the order in which terminals are updated (rings,
then stores spread over the waves), the error threshold of each wave, which terminals a stopped rollout puts back,
and the fleet summary. Pure functions of the play's data: no I/O.

A terminal's outcome is a dict written by the ``firmware``/``software`` roles: ``status`` (one of ``STATUSES``),
``previous_version``, ``version``, ``reason``, ``out_of_service_s``, ``wave`` (0-based).
"""

from __future__ import annotations

import math
import re

from ansible_collections.posfleet.terminals.plugins.plugin_utils import _runrecord

DEFAULT_RINGS = ("ring_canary", "ring_early", "ring_broad")
DEFAULT_WAVES = (1, "10%", "30%", "100%")
DEFAULT_THRESHOLDS = (0, "10%")

UPDATED = "updated"          # moved to the new version, health gate passed, committed
UNCHANGED = "unchanged"      # already there: nothing transferred, no reboot
ROLLED_BACK = "rolled_back"  # the health gate failed: back on the old version, serving
REFUSED = "refused"          # a precondition failed (model, battery, batch, ...): nothing changed
FAILED = "failed"            # the step failed in another way
UNREACHABLE = "unreachable"
DEFERRED = "deferred"        # the window gate or the store limit held it back: nothing changed, next window
NOT_STARTED = "not_started"  # the rollout stopped before this terminal's wave
REVERTED = "reverted"        # updated, then put back on the old version because a later wave crossed its threshold
STATUSES = (UPDATED, UNCHANGED, ROLLED_BACK, REFUSED, DEFERRED, FAILED, UNREACHABLE, NOT_STARTED, REVERTED)
# What counts against a wave's error threshold: the update went wrong on the terminal. A refusal (wrong model, low
# battery, unsettled batch) or a deferral says nothing about the new version and changes nothing: it is reported,
# not counted.
COUNTED = frozenset((ROLLED_BACK, FAILED, UNREACHABLE))

# The keys of an outcome a terminal's record keeps (``packages_before``/``packages_after``: a package update's
# versions, package to version).
OUTCOME_KEYS = ("wave", "kind", "previous_version", "version", "target_version", "reason", "out_of_service_s",
                "bytes_transferred", "backup", "packages_before", "packages_after")
FIRMWARE = "firmware"
SOFTWARE = "software"
KINDS = (FIRMWARE, SOFTWARE)
_PERCENT = re.compile(r"\s*(\d+(?:\.\d+)?)\s*%\s*")


class RolloutError(ValueError):
    """A rollout setting that cannot be used as given."""


def _amount(value, what, fix):
    """``("count", n)`` or ``("percent", p)`` from an int or a ``"N%"`` string."""
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return "count", value
    if isinstance(value, str):
        if value.strip().isdigit():
            return "count", int(value.strip())
        match = _PERCENT.fullmatch(value)
        if match and float(match.group(1)) <= 100:
            return "percent", float(match.group(1))
    raise RolloutError(f"{what} {value!r} is neither a count >= 0 nor a percentage such as \"10%\". Fix: {fix}")


def wave_sizes(total, waves=DEFAULT_WAVES):
    """The sizes of the waves for ``total`` terminals, as Ansible's ``serial`` list makes them: each entry a count
    or a percentage of all terminals (at least 1), the last entry repeated until every terminal had its turn."""
    entries = list(waves) or [total]
    fix = "give posfleet_update_waves as a list such as [1, \"10%\", \"30%\", \"100%\"]"
    sizes, done, index = [], 0, 0
    while done < total:
        kind, amount = _amount(entries[min(index, len(entries) - 1)], "wave size", fix)
        size = amount if kind == "count" else int(total * amount / 100.0)
        size = max(1, min(size, total - done))
        sizes.append(size)
        done += size
        index += 1
    return sizes


def plan(ordered, waves=DEFAULT_WAVES, stores=None, limits=None):
    """Waves that never take a store's last serving terminal out of service: ``{order, sizes, wave_of}``, the
    sizes for ``serial``.

    The waves get the sizes ``wave_sizes`` gives, filled in rollout order, but a terminal whose store already has
    its limit in the wave (``limits``: store -> ``posfleet_store_max_out_of_service``, None = all but one of the
    store's terminals, a store of one terminal: 1) waits for the next wave, and a wave that cannot be filled that
    way is cut short. ``sizes`` are exact counts, so ``serial`` runs the waves as planned; ``wave_of`` maps each
    terminal to its 0-based wave (computed here once, not once per terminal)."""
    stores, limits = stores or {}, limits or {}
    store_of = {host: str(stores.get(host) or f"({host})") for host in ordered}
    members = {}
    for host in ordered:
        members.setdefault(store_of[host], []).append(host)
    cap = {}
    for store, hosts in members.items():
        limit = limits.get(store)
        cap[store] = max(1, len(hosts) - 1) if limit is None else max(1, min(int(limit), max(1, len(hosts) - 1)))
    requested = wave_sizes(len(ordered), waves)
    pending, new_order, sizes, wave = list(ordered), [], [], 0
    while pending:
        target = requested[min(wave, len(requested) - 1)]
        taken, in_wave = [], {}
        for host in list(pending):
            if len(taken) >= target:
                break
            store = store_of[host]
            if in_wave.get(store, 0) < cap[store]:
                taken.append(host)
                in_wave[store] = in_wave.get(store, 0) + 1
                pending.remove(host)
        new_order.extend(taken)
        sizes.append(len(taken))
        wave += 1
    return {"order": new_order, "sizes": sizes, "wave_of": wave_index(new_order, sizes)}


def wave_index(ordered, waves=DEFAULT_WAVES):
    """``{host: 0-based wave}`` of every terminal of the rollout order ``ordered``, the wave sizes computed once;
    ``waves`` as ``serial`` takes it (the exact sizes of ``plan`` or the requested list)."""
    index, start = {}, 0
    for wave, size in enumerate(wave_sizes(len(ordered), waves)):
        for host in ordered[start:start + size]:
            index.setdefault(host, wave)
        start += size
    return index


def wave_of(host, ordered, waves=DEFAULT_WAVES):
    """The 0-based wave of ``host`` in the rollout order ``ordered`` (None when it is not in it). For every host of
    a plan, read ``plan["wave_of"]`` instead: this computes the waves again."""
    return wave_index(ordered, waves).get(host)


def batch(ordered, sizes, wave):
    """The terminals of wave ``wave`` (0-based) when ``ordered`` runs in waves of ``sizes``."""
    start = sum(sizes[:wave])
    return list(ordered[start:start + sizes[wave]]) if 0 <= wave < len(sizes) else []


def allowed_failures(wave, size, thresholds=DEFAULT_THRESHOLDS):
    """How many terminals of wave ``wave`` (0-based) of ``size`` terminals may fail before the rollout stops: the
    wave's entry of ``thresholds`` (the last one repeated), a count or a percentage of the wave (rounded down)."""
    entries = list(thresholds) or [0]
    kind, amount = _amount(entries[min(wave, len(entries) - 1)], "error threshold",
                           "give posfleet_update_max_failures as a list such as [0, \"10%\"]")
    return amount if kind == "count" else int(math.floor(size * amount / 100.0 + 1e-9))


def order(hosts, rings=DEFAULT_RINGS, ring_members=None, stores=None):
    """The terminals in rollout order: ring after ring (``ring_members``: ring name -> hosts; a terminal in several
    rings belongs to the first; terminals in no ring come last, as the broadest ring). Within a ring the stores take
    turns: the first terminal of every store, then the second of every store, ... so the waves spread a store's
    terminals and a store keeps terminals serving while the others are updated."""
    ring_members = ring_members or {}
    stores = stores or {}
    wanted = list(dict.fromkeys(hosts or []))
    in_play = set(wanted)
    seen, rings_of_hosts = set(), []
    for ring in list(rings or []) + [None]:
        members = wanted if ring is None else [h for h in ring_members.get(ring) or [] if h in in_play]
        ring_hosts = [h for h in members if h not in seen]
        seen.update(ring_hosts)
        rings_of_hosts.append(ring_hosts)
    ordered = []
    for ring_hosts in rings_of_hosts:
        by_store = {}
        for host in sorted(ring_hosts):
            by_store.setdefault(str(stores.get(host) or f"({host})"), []).append(host)
        turns = max((len(v) for v in by_store.values()), default=0)
        for turn in range(turns):
            ordered.extend(store_hosts[turn] for _store, store_hosts in sorted(by_store.items())
                           if turn < len(store_hosts))
    return ordered


def ring_of(host, rings=DEFAULT_RINGS, ring_members=None):
    for ring in rings or []:
        if host in ((ring_members or {}).get(ring) or []):
            return ring
    return None


def verdict(wave, batch, outcomes, thresholds=DEFAULT_THRESHOLDS):
    """Whether wave ``wave`` (0-based) whose terminals are ``batch`` crossed its error threshold: ``{wave, size,
    failed: [host], allowed, crossed, reasons: {host: reason}}``. A terminal of the batch without an outcome failed
    before it wrote one (unreachable or an error in the role): it counts."""
    failed, reasons = [], {}
    for host in batch:
        outcome = outcomes.get(host)
        status = outcome.get("status") if isinstance(outcome, dict) else None
        if status is None or status in COUNTED:
            failed.append(host)
            reasons[host] = (outcome or {}).get("reason") or (status or "no outcome (unreachable or failed)")
    allowed = allowed_failures(wave, len(batch), thresholds)
    return {"wave": wave, "size": len(batch), "failed": failed, "allowed": allowed,
            "crossed": len(failed) > allowed, "reasons": reasons}


def revert_targets(outcomes):
    """The terminals this rollout moved to the new version (``updated``), which a stopped rollout puts back."""
    return sorted(host for host, outcome in (outcomes or {}).items()
                  if isinstance(outcome, dict) and outcome.get("status") == UPDATED)


def _packages_text(versions):
    """``{package: version}`` as one line (``None``: not installed), e.g. ``posfleet-emv-kernel 7.1.1``."""
    if not isinstance(versions, dict) or not versions:
        return None
    return ", ".join(f"{name} {version or '(none)'}" for name, version in sorted(versions.items()))


def _status(result):
    if result.get("unreachable"):
        return UNREACHABLE
    if result.get("rolled_back"):
        return ROLLED_BACK
    if result.get("refused"):
        return REFUSED
    if result.get("failed"):
        return FAILED
    return UPDATED if result.get("changed") else UNCHANGED


def outcome(result, kind=FIRMWARE, target=None, backup=None):
    """How one terminal's update (or revert) ended, from the registered result of ``posfleet.terminals.firmware``
    (``kind`` firmware, ``target`` the version) or ``posfleet.terminals.software`` (``kind`` software, ``target``
    the packages, a list of ``{name, version}``): the outcome the roles set and update.yml records. A failed task's
    result (``ansible_failed_result``) or none at all gives ``failed`` with the task's message."""
    if kind not in KINDS:
        raise RolloutError(f"update outcome: kind {kind!r} is not one of {', '.join(KINDS)}. Fix: give firmware or "
                           "software")
    result = result if isinstance(result, dict) else {"failed": True, "msg": "the update did not run"}
    status = _status(result)
    reason = result.get("reason") or (result.get("msg") if result.get("failed") or result.get("unreachable")
                                      else None)
    found = {
        "status": status,
        "kind": kind,
        "reason": reason or None,
        "out_of_service_s": result.get("out_of_service_s"),
        "bytes_transferred": result.get("bytes_transferred"),
        "backup": backup or None,
    }
    if kind == FIRMWARE:
        found.update(previous_version=result.get("previous_version"), version=result.get("version"),
                     target_version=target or None)
    else:
        wanted = {p.get("name"): p.get("version") for p in target or [] if isinstance(p, dict)}
        before, after = result.get("previous_versions"), result.get("versions")
        found.update(packages_before=before if isinstance(before, dict) else None,
                     packages_after=after if isinstance(after, dict) else None,
                     previous_version=_packages_text(before), version=_packages_text(after),
                     target_version=_packages_text(wanted))
    return found


def revert_packages(previous_versions, packages, repository=None, find_deb=None):
    """What a package revert installs: ``{packages: [{name, version[, deb]}], problems: [text]}``.

    ``previous_versions`` are the update outcome's ``packages_before`` (package -> version, ``None`` when the update
    installed it first), ``packages`` the update's list. From a ``repository`` apt fetches the old version; from
    files, ``find_deb(directory, name, version)`` finds the old version's ``.deb`` beside the new one (its
    Debian file name ``name_version_arch.deb``) or, when there is none, the version is given without a deb: the
    module then installs it from the terminal's package cache (or refuses, changing nothing, when the cache does
    not hold it). A package that was not installed before cannot be put back: the module does not remove
    packages."""
    chosen, problems = [], []
    for package in packages or []:
        name = package.get("name")
        if name not in (previous_versions or {}):
            continue
        old = previous_versions[name]
        if not old:
            problems.append(f"{name} was not installed before the update and posfleet.terminals.software does not "
                            "remove packages")
            continue
        if repository:
            chosen.append({"name": name, "version": old})
            continue
        deb = find_deb(package.get("deb") or "", name, old) if find_deb else None
        chosen.append({"name": name, "version": old, "deb": deb} if deb else {"name": name, "version": old})
    return {"packages": chosen, "problems": problems}


def deb_file_name(name, version, arch):
    """The Debian file name of a package (``dpkg-name``): the epoch is not part of it."""
    return f"{name}_{version.split(':', 1)[-1]}_{arch}.deb"


def host_record(host, run_id, outcome=None, error=None, store=None, user=None):
    """One terminal's record of a rollout (results/update/hosts/<host>.json): the outcome's status and keys, the
    versions before and after (the firmware, or each package)."""
    outcome = dict(outcome or {})
    status = outcome.get("status") if outcome.get("status") in STATUSES else (FAILED if error else UNREACHABLE)
    if outcome.get("kind") == SOFTWARE:
        before = {k: v for k, v in (outcome.get("packages_before") or {}).items() if v}
        after = {k: v for k, v in (outcome.get("packages_after") or {}).items() if v}
        changed = sorted(name for name in after if after[name] != before.get(name))
    else:
        before = {"firmware": outcome["previous_version"]} if outcome.get("previous_version") else {}
        after = {"firmware": outcome["version"]} if outcome.get("version") else {}
        changed = ["firmware"]
    return _runrecord.host_record(host, run_id, status, error=error, user=user, store=store,
                                  changed=changed if status in (UPDATED, REVERTED) else [],
                                  versions_before=before, versions_after=after,
                                  **{key: outcome.get(key) for key in OUTCOME_KEYS})


def summary(ordered, outcomes, verdicts=(), stopped_at=None):
    """The fleet summary: per terminal its move (from -> to), rollbacks and reverts with their reasons, the time
    out of service; counts per status; the wave that stopped the rollout. A terminal without an outcome did not
    start when the rollout stopped, else it was unreachable (or the run ended before it)."""
    rows, counts = [], dict.fromkeys(STATUSES, 0)
    for host in ordered:
        outcome = outcomes.get(host) if isinstance(outcomes.get(host), dict) else {}
        status = outcome.get("status") or (NOT_STARTED if stopped_at is not None else UNREACHABLE)
        counts[status] = counts.get(status, 0) + 1
        rows.append({"host": host, "status": status, "wave": outcome.get("wave"),
                     "previous_version": outcome.get("previous_version"), "version": outcome.get("version"),
                     "reason": outcome.get("reason"), "out_of_service_s": outcome.get("out_of_service_s")})
    lines = []
    for row in rows:
        move = f"{row['previous_version'] or '?'} -> {row['version'] or '?'}"
        oos = row["out_of_service_s"]
        line = f"{row['host']}: {row['status']}, {move}"
        if isinstance(oos, (int, float)) and not isinstance(oos, bool):
            line += f", {oos:g} s out of service"
        if row["reason"]:
            line += f" ({row['reason']})"
        lines.append(line)
    head = ", ".join(f"{counts[s]} {s.replace('_', ' ')}" for s in STATUSES if counts.get(s))
    if stopped_at is not None:
        crossed = next((v for v in verdicts if v.get("wave") == stopped_at), {})
        head += (f"; stopped at wave {stopped_at + 1}: {len(crossed.get('failed') or [])} failed of "
                 f"{crossed.get('size', '?')}, {crossed.get('allowed', '?')} allowed")
    return {"terminals": rows, "counts": {k: v for k, v in counts.items() if v}, "stopped_at_wave": stopped_at,
            "waves": list(verdicts), "text": "\n".join([f"{len(rows)} terminals: {head or 'none'}"] + lines)}


def fleet_summary(records, run_id="", expected=None, order=None, verdicts=(), stopped_at=None):
    """The fleet record of a rollout from this run's per-host records: ``_runrecord.rollup`` plus ``summary``
    (terminals in rollout order, ``order``; the run's wave ``verdicts`` and the wave it ``stopped_at``)."""
    fleet = _runrecord.as_fleet(records, run_id=run_id, expected=expected)
    by_host = {record["host"]: record for record in fleet["hosts"]}
    ordered = list(order or []) + sorted(set(by_host) - set(order or []))
    if isinstance(stopped_at, str):
        stopped_at = int(stopped_at) if stopped_at.strip().isdigit() else None
    rollout = summary(ordered, by_host, verdicts or (), stopped_at)
    fleet.update(rollout=rollout, text=rollout["text"], unreachable=[
        row["host"] for row in rollout["terminals"] if row["status"] == UNREACHABLE])
    return fleet
