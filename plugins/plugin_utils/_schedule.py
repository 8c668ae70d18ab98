# Copyright (c) posfleet developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Schedule export: the timetable rendered as a crontab, systemd units and an AWX configuration playbook.

All three come from the same entries: one per tier and store time zone (the job of a tier starts every night
at the tier's start time, local to the stores it serves), and one notify job per store time zone (and notice
time) that sends the merchant notices early enough for the lead time (``notify_time``). Whether a tier
actually runs on a terminal is decided by the run itself (due according to the ledger, inside the window, no
holiday, notice sent), which is what makes catch-up after an offline night automatic.

A crontab and a unit file are line-based, cron turns ``%`` into a newline and systemd expands ``%`` and ``$``:
a store name with a newline would inject lines. Every value that goes into them is checked first and refused
with the host and the variable to fix (``check_values``, ``zones_from_hosts``); nothing is escaped into place.
"""

from __future__ import annotations

import datetime
import json
import math
import os
import re
import shlex

import yaml

from ansible_collections.posfleet.terminals.plugins.module_utils._untrusted import CONTROL_RE, shown
from ansible_collections.posfleet.terminals.plugins.plugin_utils._tiers import normalise_tiers
from ansible_collections.posfleet.terminals.plugins.plugin_utils._times import (
    UTC,
    TimetableError,
    at_local,
    clock,
    zone,
)

DTSTART_DAY = datetime.date(2026, 1, 1)
COLLECTION_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
# An inventory limit of store groups (store_sh01,store_sh02): names, separators and Ansible's pattern operators.
LIMIT_RE = re.compile(r"[A-Za-z0-9_.,:&!*@\[\]-]{1,4000}")
LIMIT_RULE = "letters, digits and _ . , : & ! * @ [ ] -"
# Characters a value of a cron line or a unit file must not hold (beside control characters): cron makes % a
# newline, systemd expands % and $ in its settings.
EXPANDED = "%$"
# Environment variable names the exports may set (no secrets go there: the vault password comes from a file).
ENV_NAME_RE = re.compile(r"[A-Z_][A-Z0-9_]{0,63}")
SECRET_NAME_RE = re.compile(r"PASS|SECRET|TOKEN|KEY", re.I)
NOTIFY = "notify"
# Hours between the notify job and the latest moment a notice for the next window may go out (see notify_time).
NOTICE_MARGIN_HOURS = 6
DEFAULT_WINDOW_START = "02:00"
DEFAULT_LEAD_HOURS = 24
# Minutes a cron line may start late and still run (cron starts jobs in the first seconds of the minute).
CRON_SLACK_MINUTES = 5


def limit_problem(limit):
    """Why ``limit`` cannot be a job's inventory limit (``None`` when it can)."""
    if not isinstance(limit, str) or not LIMIT_RE.fullmatch(limit):
        return f"{shown(limit)} is not an inventory limit ({LIMIT_RULE} only)"
    return None


def check_values(**values):
    """Refuse a value for a cron line or a unit file that holds a control character (a newline starts a new
    line), ``%`` or ``$``; the error names the option."""
    for name, value in values.items():
        text = str(value)
        if CONTROL_RE.search(text) or any(char in text for char in EXPANDED):
            raise TimetableError(f"schedule export: {name} {shown(text)} holds a control character, % or $, which "
                                 f"would inject or change lines of the crontab and the systemd units. Fix: set {name} "
                                 "without them")


def check_environment(environment):
    """The exports' environment as sorted ``(name, value)`` pairs; a name that is not one, or that looks like a
    secret (the vault password goes through a file, never the environment), is refused."""
    pairs = []
    for name, value in sorted((environment or {}).items()):
        if not ENV_NAME_RE.fullmatch(str(name)):
            raise TimetableError(f"schedule export: environment variable name {shown(name)} is not one. Fix: use "
                                 "upper-case letters, digits and _")
        if SECRET_NAME_RE.search(str(name)) and not str(name).endswith("_FILE"):
            raise TimetableError(f"schedule export: environment variable {name} looks like a secret; the units and "
                                 "the crontab are readable by every local user. Fix: put the secret in a file "
                                 "readable by the service user only and pass its path (a *_FILE variable)")
        check_values(**{f"environment variable {name}": value})
        if any(char in str(value) for char in " \"'\\"):
            raise TimetableError(f"schedule export: environment variable {name} {shown(value)} holds a space, a "
                                 "quote or a backslash. Fix: use a value without them")
        pairs.append((str(name), str(value)))
    return pairs


def _check_host(item):
    problem = limit_problem(item.get("limit"))
    if problem:
        raise TimetableError(f"host {item.get('host') or '?'}: schedule export: posfleet_store (through "
                             f"posfleet_timetable_export_limit_format): {problem}. "
                             "Fix: give the host a posfleet_store of letters, digits, _ and - (it names the "
                             "store's inventory group)")
    if CONTROL_RE.search(str(item.get("timezone"))):
        raise TimetableError(f"host {item.get('host') or '?'}: schedule export: posfleet_timetable_timezone "
                             f"{shown(item.get('timezone'))} is not a time zone. Fix: use an IANA name such as "
                             "Europe/Berlin")


def zones_from_hosts(items):
    """``{timezone: [limit, ...]}`` from one ``{host, timezone, limit}`` per terminal; a limit that is not one
    (a store name with a newline) is refused naming the host and the variable it comes from."""
    grouped = {}
    for item in items:
        _check_host(item)
        grouped.setdefault(item["timezone"], set()).add(item["limit"])
    return {tz: sorted(limits) for tz, limits in grouped.items()}


def notify_time(window_start=DEFAULT_WINDOW_START, lead_hours=DEFAULT_LEAD_HOURS, margin_hours=NOTICE_MARGIN_HOURS):
    """The local time of day of a store's daily notify job: ``margin_hours`` before the window start minus the
    lead time (02:00 window, 24 h lead, 6 h margin: 20:00).

    Why that guarantees the notice: notify.yml run at ``t`` announces the first usable window starting at or
    after ``t + lead`` (``_notice_due.upcoming``), and maintain.yml accepts a notice sent at least ``lead``
    before the window's start. The run at this time on day D-2 (for lead 24) has ``t + lead`` ``margin`` hours
    before the window of day D and after the window of day D-1, so it announces day D's window
    ``lead + margin`` hours ahead; the next day's run announces day D+1's. Each window is announced by exactly
    one daily run, as long as that run computes its notice less than ``margin`` minus one hour (the DST change
    can shorten a day by one hour between the run and the window) after its start: 5 hours of slack for a slow
    or late run (a timer caught up after the controller was off). A run later than that announces a later
    window, and the missed one stays deferred for ``notice``, as it must."""
    start = clock(window_start, "posfleet_timetable_window_start")
    try:
        lead = float(lead_hours)
        margin = float(margin_hours)
    except (TypeError, ValueError):
        raise TimetableError(f"schedule export: notice lead {shown(lead_hours)} or margin {shown(margin_hours)} is "
                             "not a number of hours. Fix: set posfleet_timetable_notice_lead_hours to a number"
                             ) from None
    if not 2 <= margin <= 22 or lead < 0:
        raise TimetableError(f"schedule export: notice margin {margin:g} h is outside 2..22 h (or the lead {lead:g} "
                             "h is negative). Fix: set posfleet_timetable_export_notice_margin_hours between 2 and 22")
    minutes = (start.hour * 60 + start.minute - round((lead + margin) * 60)) % (24 * 60)
    return datetime.time(minutes // 60, minutes % 60)


def notices_from_hosts(items, margin_hours=NOTICE_MARGIN_HOURS):
    """``{timezone: {"HH:MM": [limit, ...]}}``: the notify job times of the stores, from one ``{host, timezone,
    limit, window_start, notice_lead_hours}`` per terminal (stores of one zone with the same window and lead
    share a job)."""
    grouped = {}
    for item in items:
        _check_host(item)
        when = notify_time(item.get("window_start") or DEFAULT_WINDOW_START,
                           item.get("notice_lead_hours", DEFAULT_LEAD_HOURS), margin_hours)
        grouped.setdefault(item["timezone"], {}).setdefault(f"{when:%H:%M}", set()).add(item["limit"])
    return {tz: {at: sorted(limits) for at, limits in times.items()} for tz, times in grouped.items()}


def slug(text):
    return re.sub(r"[^a-z0-9]+", "-", str(text).lower()).strip("-")


def _joined_limit(tz_name, limit):
    if isinstance(limit, (list, tuple)):
        limit = ",".join(sorted(limit))
    problem = limit_problem(limit)
    if problem:
        raise TimetableError(f"schedule export: time zone {tz_name}: {problem}. Fix: name the stores' inventory "
                             "groups with letters, digits, _ and -")
    return limit


def entries(tiers, zones, playbook_ns="posfleet.terminals", notices=None):
    """One entry per tier and time zone (``zones`` maps an IANA zone to the inventory limit of its stores),
    and the notify jobs: ``notices`` maps a zone to ``{"HH:MM": limit}`` (``notices_from_hosts``); without it,
    each zone's stores get one at the time for the default window and lead (``notify_time()``)."""
    norm = normalise_tiers(tiers)
    if not isinstance(zones, dict) or not zones:
        raise TimetableError("no store time zones: give zones as {timezone: limit}")
    if NOTIFY in norm:
        raise TimetableError(f"schedule export: a tier is named {NOTIFY!r}, the name of the notice job. Fix: rename "
                             "the tier")
    if notices is None:
        notices = {tz: {f"{notify_time():%H:%M}": limit} for tz, limit in zones.items()}
    result = []
    for tz_name in sorted(zones):
        zone(tz_name)
        limit = _joined_limit(tz_name, zones[tz_name])
        for name, tier in norm.items():
            time_of_day = clock(tier["start"], f"tier {name} start")
            check_values(**{f"tier {name}'s name": name, f"tier {name}'s description": tier["description"]})
            result.append({
                "name": f"posfleet-{name}-{slug(tz_name)}",
                "kind": "tier",
                "tier": name,
                "description": tier["description"],
                "timezone": tz_name,
                "limit": limit,
                "hour": time_of_day.hour,
                "minute": time_of_day.minute,
                "playbook": f"{playbook_ns}.maintain",
                "playbook_path": "playbooks/maintain.yml",
                "extra_vars": {"posfleet_timetable_only": name},
            })
        times = notices.get(tz_name) or {}
        for at in sorted(times):
            time_of_day = clock(at, f"notice time of {tz_name}")
            suffix = "" if len(times) == 1 else f"-{time_of_day:%H%M}"
            result.append({
                "name": f"posfleet-{NOTIFY}-{slug(tz_name)}{suffix}",
                "kind": NOTIFY,
                "tier": NOTIFY,
                "description": "Merchant notices of the next windows that interrupt trading",
                "timezone": tz_name,
                "limit": _joined_limit(tz_name, times[at]),
                "hour": time_of_day.hour,
                "minute": time_of_day.minute,
                "playbook": f"{playbook_ns}.notify",
                "playbook_path": "playbooks/notify.yml",
                "extra_vars": {},
            })
    return result


def _args(entry, inventory, ansible_playbook):
    args = [ansible_playbook, "-i", inventory, entry["playbook"], "--limit", entry["limit"]]
    for key, value in entry["extra_vars"].items():
        args += ["-e", f"{key}={value}"]
    return args


# ---------------------------------------------------------------- crontab (Debian's cron: no CRON_TZ)

def controller_zone_name():
    """The IANA name of this machine's time zone: $TZ, /etc/timezone, the /etc/localtime link; else UTC."""
    candidates = [os.environ.get("TZ", "").lstrip(":")]
    try:
        with open("/etc/timezone", encoding="utf-8") as handle:
            candidates.append(handle.read().strip())
    except OSError:
        pass
    link = os.path.realpath("/etc/localtime")
    if "/zoneinfo/" in link:
        candidates.append(link.split("/zoneinfo/", 1)[1])
    for name in candidates:
        if name and not name.startswith("/"):
            try:
                zone(name)
                return name
            except TimetableError:
                continue
    return "UTC"


def cron_times(entry, controller_tz, years):
    """``(controller-local times, store-local times)`` of the entry's start over ``years``: the controller-local
    times of day at which it happens (one in a zone pair without DST between them, two when the offsets of the
    store and the controller differ by season), and the store-local wall times it happens at (the start, and
    the start moved forward by the DST gap on a night the start does not exist)."""
    store_tz = zone(entry["timezone"])
    wanted = datetime.time(entry["hour"], entry["minute"])
    controller_times, store_times = set(), set()
    for year in years:
        day = datetime.date(year, 1, 1)
        while day.year == year:
            when = at_local(day, wanted, store_tz)
            local = when.astimezone(controller_tz)
            controller_times.add((local.hour, local.minute))
            store_times.add((when.hour, when.minute))
            day += datetime.timedelta(days=1)
    return sorted(controller_times), sorted(store_times)


def _store_clock_guard(timezone, store_times, command):
    """``case`` on the store's wall clock: only the line that fires at the store-local start runs (up to
    CRON_SLACK_MINUTES late, a busy cron), the other one exits at once. ``\\%`` is cron's escaped percent."""
    accepted = []
    for hour, minute in store_times:
        for late in range(CRON_SLACK_MINUTES):
            total = (hour * 60 + minute + late) % (24 * 60)
            accepted.append(f"{total // 60:02d}:{total % 60:02d}")
    return f'case "$(TZ={shlex.quote(timezone)} date +\\%H:\\%M)" in {"|".join(accepted)}) {command};; esac'


def crontab(items, workdir, inventory, ansible_playbook="ansible-playbook", log_dir="/var/log/posfleet",
            controller_timezone=None, environment=None, vault_password_file="", years=None):
    """A user crontab (``crontab -u posfleet FILE``) for Debian's cron, in the controller's time zone.

    Debian's cron knows no ``CRON_TZ``. Each job's store-local start is converted to the controller's zone for
    every day of ``years`` (this year and the next), and one line is written per distinct controller-local time
    it maps to (Berlin 03:15 on a UTC controller: 01:15 in summer, 02:15 in winter). Both lines fire every day;
    each one first reads the store's wall clock (``TZ=<zone> date``) and runs the job only when it shows the
    start, so the job runs once a night at the store-local time, in the tiers' order, across both DST changes.
    Should a guard let an extra run through (a start inside a DST gap is accepted at two wall times),
    maintain.yml's window gate defers a run outside the window, the ledger makes a tier that already ran not
    due, and a second notify run finds its notice sent.
    One hourly line per store letting the gate decide was not chosen: 24 runs a night per tier and zone, the
    tiers not in their order, and an hourly notify job would send each notice at the last possible hour, with no
    slack for a slow run."""
    controller_timezone = controller_timezone or controller_zone_name()
    check_values(workdir=workdir, inventory=inventory, ansible_playbook=ansible_playbook, log_dir=log_dir,
                 vault_password_file=vault_password_file, controller_timezone=controller_timezone)
    controller_tz = zone(controller_timezone)
    if years is None:
        this_year = datetime.datetime.now(UTC).year
        years = (this_year, this_year + 1)
    env = check_environment(environment)
    path_dirs = [os.path.dirname(ansible_playbook)] if os.path.dirname(ansible_playbook) else []
    lines = [
        "# posfleet.terminals maintenance timetable, generated by posfleet.terminals.schedule: do not edit.",
        f"# For Debian's cron (no CRON_TZ), in the controller's time zone {controller_timezone}: each store-local",
        "# start is converted, one line per controller-local time it maps to over "
        + ", ".join(str(y) for y in years) + ";",
        "# each line checks the store's clock and runs only at the store-local start. Export again when the",
        "# controller's time zone changes, and every year. Install as the service user: crontab -u posfleet FILE",
        "SHELL=/bin/sh",
        "PATH=" + ":".join(path_dirs + ["/usr/local/bin", "/usr/bin", "/bin"]),
    ]
    lines += [f"{name}={value}" for name, value in env]
    if vault_password_file:
        lines.append(f"ANSIBLE_VAULT_PASSWORD_FILE={vault_password_file}")
    for entry in items:
        times, store_times = cron_times(entry, controller_tz, years)
        shown_times = " or ".join(f"{h:02d}:{m:02d}" for h, m in times)
        lines += ["", f"# {entry['tier']}: {entry['description']} ({entry['limit']})",
                  f"# {entry['hour']:02d}:{entry['minute']:02d} {entry['timezone']} = {shown_times} "
                  f"{controller_timezone}"]
        line = " ".join(shlex.quote(a) for a in _args(entry, inventory, ansible_playbook))
        command = f"cd {shlex.quote(workdir)} && {line} >>{shlex.quote(log_dir)}/{entry['name']}.log 2>&1"
        guarded = _store_clock_guard(entry["timezone"], store_times, command)
        lines += [f"{minute} {hour} * * * {guarded}" for hour, minute in times]
    return "\n".join(lines) + "\n"


# ---------------------------------------------------------------- systemd

def sysusers(user="posfleet", home="/var/lib/posfleet"):
    """A sysusers.d(5) file that creates the service user (``systemd-sysusers``), a system user without login."""
    check_values(user=user, home=home)
    return ("# The account the posfleet timers run as: its home holds ~/.ssh (key and known_hosts of the fleet).\n"
            f'u {user} - "posfleet maintenance timetable" {home} /usr/sbin/nologin\n')


def _unit_env(env, vault_password_file):
    lines = [f"Environment={name}={value}" for name, value in env]
    if vault_password_file:
        # systemd reads the file as root (mode 0400 root:root is enough) and hands the service a private copy
        # only its user can read; the password never appears in argv or the environment, only the copy's path.
        lines += [f"LoadCredential=vault-password:{vault_password_file}",
                  "Environment=ANSIBLE_VAULT_PASSWORD_FILE=%d/vault-password"]
    return lines


def systemd(items, workdir, inventory, ansible_playbook="ansible-playbook", user="posfleet", environment=None,
            vault_password_file="", home="/var/lib/posfleet"):
    """{file name: content} of a oneshot service and a timer per entry (notify jobs included); the service
    user comes from ``sysusers``."""
    check_values(workdir=workdir, inventory=inventory, ansible_playbook=ansible_playbook, user=user,
                 vault_password_file=vault_password_file, home=home)
    env = check_environment(environment)
    files = {}
    for entry in items:
        what = "merchant notices" if entry["kind"] == NOTIFY else f"{entry['tier']} maintenance"
        files[entry["name"] + ".service"] = "\n".join([
            "[Unit]",
            f"Description=posfleet {what} ({entry['limit']}, {entry['timezone']})",
            "Documentation=https://github.com/posfleet/terminals/blob/main/docs/timetable.md",
            "Wants=network-online.target",
            "After=network-online.target",
            "",
            "[Service]",
            "Type=oneshot",
            f"User={user}",
            f"WorkingDirectory={workdir}",
            # The user's home: ~/.ssh and ~/.ansible; created and owned by the user on the first start.
            "StateDirectory=posfleet",
            *_unit_env(env, vault_password_file),
            "NoNewPrivileges=yes",
            "PrivateTmp=yes",
            "ProtectSystem=full",
            "ExecStart=" + " ".join(shlex.quote(a) for a in _args(entry, inventory, ansible_playbook)),
            "",
        ])
        files[entry["name"] + ".timer"] = "\n".join([
            "[Unit]",
            f"Description=posfleet {what} timer ({entry['timezone']})",
            "",
            "[Timer]",
            f"OnCalendar=*-*-* {entry['hour']:02d}:{entry['minute']:02d}:00 {entry['timezone']}",
            # A missed start (controller off) runs at boot; the run's own gates decide what may still happen.
            "Persistent=true",
            f"Unit={entry['name']}.service",
            "",
            "[Install]",
            "WantedBy=timers.target",
            "",
        ])
    return files


# ---------------------------------------------------------------- AWX

def rrule(entry):
    start = datetime.datetime.combine(DTSTART_DAY, datetime.time(entry["hour"], entry["minute"]))
    return f"DTSTART;TZID={entry['timezone']}:{start:%Y%m%dT%H%M%S} RRULE:FREQ=DAILY;INTERVAL=1"


def collection_info(root=COLLECTION_ROOT):
    """This collection's namespace, name, version and dependencies: galaxy.yml in a checkout, MANIFEST.json
    in an installed collection."""
    galaxy = os.path.join(root, "galaxy.yml")
    if os.path.isfile(galaxy):
        with open(galaxy, encoding="utf-8") as handle:
            info = yaml.safe_load(handle)
    else:
        with open(os.path.join(root, "MANIFEST.json"), encoding="utf-8") as handle:
            info = json.load(handle)["collection_info"]
    return {k: info.get(k) for k in ("namespace", "name", "version", "dependencies")}


def requirements(source="", info=None):
    """``collections/requirements.yml`` of the AWX project: this collection (from Galaxy at its version, or
    from ``source``: a git URL, or the URL of a built tarball) and the collections it depends on."""
    info = info or collection_info()
    fqcn = f"{info['namespace']}.{info['name']}"
    if not source:
        own = {"name": fqcn, "version": str(info["version"])}
    elif source.endswith(".tar.gz"):
        own = {"name": source, "type": "url"}
    else:
        own = {"name": source, "type": "git", "version": str(info["version"])}
    listed = [own] + [{"name": name, "version": str(version)}
                      for name, version in sorted((info.get("dependencies") or {}).items())]
    head = (f"---\n# Collections the AWX project needs (AWX installs them on project sync): {fqcn} and its\n"
            "# dependencies (galaxy.yml). Generated by posfleet.terminals.schedule; commit it to the project.\n")
    return head + _dump({"collections": listed})


class _Dumper(yaml.SafeDumper):
    """Block style with list items indented under their key (yamllint's and ansible-lint's default)."""

    def increase_indent(self, flow=False, indentless=False):
        return super().increase_indent(flow, False)


def _plain(data):
    """``data`` with plain Python types (Ansible hands filters tagged str and dict subclasses)."""
    if isinstance(data, dict):
        return {str(k): _plain(v) for k, v in data.items()}
    if isinstance(data, (list, tuple)):
        return [_plain(v) for v in data]
    if isinstance(data, bool) or data is None:
        return data
    if isinstance(data, int):
        return int(data)
    if isinstance(data, float):
        return float(data)
    return str(data)


def _dump(data):
    return yaml.dump(_plain(data), Dumper=_Dumper, sort_keys=False, default_flow_style=False, width=100,
                     allow_unicode=True)


def slice_count(fleet_size, hosts_per_slice=200, fixed=0):
    """AWX job slices of a maintenance job: ``fixed`` when given, else one per ``hosts_per_slice`` terminals."""
    if fixed:
        return max(1, int(fixed))
    return max(1, math.ceil(int(fleet_size) / max(1, int(hosts_per_slice))))


def awx(items, project_name="posfleet terminals", organization="Default", scm_url="", scm_branch="main",
        inventory_name="posfleet fleet", inventory_source_path="inventories/demo/hosts.yml",
        ee_image="", job_slice_count=1, machine_username="posadmin"):
    """An Ansible playbook (text) that configures AWX / AAP with awx.awx: the machine (with become) and vault
    credentials from variables given when it runs, the execution environment, the project, the inventory
    sourced from it, one job template per tier plus the notify job, one schedule per job and time zone (RRULE
    with TZID). The maintenance templates are sliced (``job_slice_count``); the notify job is not (it contacts
    no terminal, and a store split across slices would get its notice twice)."""
    tiers = []
    for entry in items:
        if entry["tier"] not in [t["tier"] for t in tiers]:
            tiers.append(entry)
    ee_name = f"{project_name} execution environment"
    machine, vault = f"{project_name} machine", f"{project_name} vault"
    variables = {
        "posfleet_awx_organization": organization,
        "posfleet_awx_scm_url": scm_url,
        "posfleet_awx_scm_branch": scm_branch,
        "posfleet_awx_ee_image": ee_image,
        "posfleet_awx_machine_username": machine_username,
        "posfleet_awx_job_slice_count": int(job_slice_count),
    }
    org = "{{ posfleet_awx_organization }}"
    tasks = [
        {"name": "Check that the secrets are given",
         "ansible.builtin.assert": {
             "that": ["posfleet_awx_machine_ssh_key_data is defined", "posfleet_awx_vault_password is defined"],
             "fail_msg": ("give posfleet_awx_machine_ssh_key_data (the automation account's private key), "
                          "optionally posfleet_awx_become_password, and posfleet_awx_vault_password, e.g. "
                          "-e @awx-secrets.yml from a vault-encrypted file"),
             "quiet": True}},
        {"name": "Machine credential of the automation account, with become",
         "awx.awx.credential": {
             "name": machine, "organization": org, "credential_type": "Machine",
             "inputs": {"username": "{{ posfleet_awx_machine_username }}",
                        "ssh_key_data": "{{ posfleet_awx_machine_ssh_key_data }}",
                        "become_method": "sudo", "become_username": "root",
                        "become_password": "{{ posfleet_awx_become_password | default(omit) }}"}},
         "no_log": True},
        {"name": "Vault credential of the inventory's secrets",
         "awx.awx.credential": {
             "name": vault, "organization": org, "credential_type": "Vault",
             "inputs": {"vault_password": "{{ posfleet_awx_vault_password }}"}},
         "no_log": True},
        {"name": "Execution environment with this collection",
         "awx.awx.execution_environment": {
             "name": ee_name, "organization": org, "image": "{{ posfleet_awx_ee_image }}", "pull": "missing"}},
        {"name": "Project with the playbooks, the inventory and collections/requirements.yml",
         "awx.awx.project": {
             "name": project_name, "organization": org, "scm_type": "git", "scm_url": "{{ posfleet_awx_scm_url }}",
             "scm_branch": "{{ posfleet_awx_scm_branch }}", "scm_update_on_launch": True,
             "default_environment": ee_name}},
        {"name": "Inventory of the terminals",
         "awx.awx.inventory": {"name": inventory_name, "organization": org}},
        {"name": "Inventory source from the project",
         "awx.awx.inventory_source": {
             "name": f"{inventory_name} from project", "inventory": inventory_name, "source": "scm",
             "source_project": project_name, "source_path": inventory_source_path, "overwrite": True,
             "update_on_launch": True, "execution_environment": ee_name}},
    ]
    for first in tiers:
        notify = first["kind"] == NOTIFY
        template = {
            "name": f"posfleet {first['tier']}", "description": first["description"], "organization": org,
            "job_type": "run", "project": project_name, "inventory": inventory_name,
            "playbook": first["playbook_path"], "credentials": [machine, vault], "execution_environment": ee_name,
            "ask_limit_on_launch": True, "allow_simultaneous": False,
            "job_slice_count": 1 if notify else "{{ posfleet_awx_job_slice_count }}",
        }
        if first["extra_vars"]:
            template["extra_vars"] = {k: [v] for k, v in first["extra_vars"].items()}
        what = "the merchant notices" if notify else f"the {first['tier']} tier"
        tasks.append({"name": f"Job template for {what}", "awx.awx.job_template": template})
    for entry in items:
        tasks.append({"name": f"Schedule {entry['tier']} for {entry['timezone']} ({entry['limit']})",
                      "awx.awx.schedule": {
                          "name": entry["name"], "unified_job_template": f"posfleet {entry['tier']}",
                          "rrule": rrule(entry), "limit": entry["limit"], "enabled": True}})
    play = [{"name": "Configure the posfleet maintenance timetable in AWX", "hosts": "localhost",
             "connection": "local", "gather_facts": False, "vars": variables, "tasks": tasks}]
    head = ("---\n"
            "# AWX / Ansible Automation Platform configuration as code for the posfleet maintenance timetable,\n"
            "# generated by posfleet.terminals.schedule: do not edit. Run it with the controller's address and token\n"
            "# in the environment (CONTROLLER_HOST, CONTROLLER_OAUTH_TOKEN) and the secrets from a vault file:\n"
            "#   ansible-playbook posfleet_awx.yml -e @awx-secrets.yml --ask-vault-pass\n"
            "# (posfleet_awx_machine_ssh_key_data, posfleet_awx_become_password, posfleet_awx_vault_password).\n")
    return head + _dump(play)


def next_runs(entry, after, count=5):
    """The next ``count`` start instants of an entry after ``after`` (aware), computed from the timetable."""
    tz = zone(entry["timezone"])
    day = after.astimezone(tz).date() - datetime.timedelta(days=1)
    result = []
    while len(result) < count:
        when = at_local(day, datetime.time(entry["hour"], entry["minute"]), tz)
        if when > after:
            result.append(when)
        day += datetime.timedelta(days=1)
    return result
