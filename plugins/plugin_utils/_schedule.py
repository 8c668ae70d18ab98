# Copyright (c) posfleet developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Schedule export: the timetable rendered as a crontab, systemd units and an AWX configuration playbook.

All three come from the same entries (one per tier and store time zone): the job of a tier starts every
night at the tier's start time, local to the stores it serves; whether the tier actually runs on a terminal is
decided by the run itself (due according to the ledger, inside the window, no holiday, notice sent), which is
what makes catch-up after an offline night automatic.

A crontab and a unit file are line-based, cron turns ``%`` into a newline and systemd expands ``%`` and ``$``:
a store name with a newline would inject lines. Every value that goes into them is checked first and refused
with the host and the variable to fix (``check_values``, ``zones_from_hosts``); nothing is escaped into place.
"""

from __future__ import annotations

import datetime
import re
import shlex

from ansible_collections.posfleet.terminals.plugins.module_utils._untrusted import CONTROL_RE, shown
from ansible_collections.posfleet.terminals.plugins.plugin_utils._tiers import normalise_tiers
from ansible_collections.posfleet.terminals.plugins.plugin_utils._times import TimetableError, at_local, clock, zone

DTSTART_DAY = datetime.date(2026, 1, 1)
# An inventory limit of store groups (store_sh01,store_sh02): names, separators and Ansible's pattern operators.
LIMIT_RE = re.compile(r"[A-Za-z0-9_.,:&!*@\[\]-]{1,4000}")
LIMIT_RULE = "letters, digits and _ . , : & ! * @ [ ] -"
# Characters a value of a cron line or a unit file must not hold (beside control characters): cron makes % a
# newline, systemd expands % and $ in its settings.
EXPANDED = "%$"


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


def zones_from_hosts(items):
    """``{timezone: [limit, ...]}`` from one ``{host, timezone, limit}`` per terminal; a limit that is not one
    (a store name with a newline) is refused naming the host and the variable it comes from."""
    grouped = {}
    for item in items:
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
        grouped.setdefault(item["timezone"], set()).add(item["limit"])
    return {tz: sorted(limits) for tz, limits in grouped.items()}


def slug(text):
    return re.sub(r"[^a-z0-9]+", "-", str(text).lower()).strip("-")


def entries(tiers, zones, playbook_ns="posfleet.terminals"):
    """One entry per tier and time zone: ``zones`` maps an IANA zone to the inventory limit of its stores."""
    norm = normalise_tiers(tiers)
    if not isinstance(zones, dict) or not zones:
        raise TimetableError("no store time zones: give zones as {timezone: limit}")
    result = []
    for tz_name in sorted(zones):
        zone(tz_name)
        limit = zones[tz_name]
        if isinstance(limit, (list, tuple)):
            limit = ",".join(sorted(limit))
        problem = limit_problem(limit)
        if problem:
            raise TimetableError(f"schedule export: time zone {tz_name}: {problem}. Fix: name the stores' inventory "
                                 "groups with letters, digits, _ and -")
        for name, tier in norm.items():
            time_of_day = clock(tier["start"], f"tier {name} start")
            check_values(**{f"tier {name}'s name": name, f"tier {name}'s description": tier["description"]})
            result.append({
                "name": f"posfleet-{name}-{slug(tz_name)}",
                "tier": name,
                "description": tier["description"],
                "timezone": tz_name,
                "limit": limit,
                "hour": time_of_day.hour,
                "minute": time_of_day.minute,
                "playbook": f"{playbook_ns}.maintain",
                "playbook_path": "playbooks/maintain.yml",
            })
    return result


def _command(entry, workdir, inventory, ansible_playbook, log_dir):
    args = [ansible_playbook, "-i", inventory, entry["playbook"], "--limit", entry["limit"],
            "-e", f"posfleet_timetable_only={entry['tier']}"]
    line = " ".join(shlex.quote(a) for a in args)
    return (f"cd {shlex.quote(workdir)} && {line} >>{shlex.quote(log_dir)}/{entry['name']}.log 2>&1",
            args)


def crontab(items, workdir, inventory, ansible_playbook="ansible-playbook", log_dir="/var/log/posfleet"):
    check_values(workdir=workdir, inventory=inventory, ansible_playbook=ansible_playbook, log_dir=log_dir)
    lines = [
        "# posfleet.terminals maintenance timetable, generated by posfleet.terminals.schedule: do not edit.",
        "# CRON_TZ sets the time zone of the lines below it (cronie; on Debian: apt-get install cronie).",
        "SHELL=/bin/sh",
    ]
    current = None
    for entry in items:
        if entry["timezone"] != current:
            current = entry["timezone"]
            lines += ["", f"CRON_TZ={current}"]
        lines.append(f"# {entry['tier']}: {entry['description']} ({entry['limit']})")
        command, _args = _command(entry, workdir, inventory, ansible_playbook, log_dir)
        lines.append(f"{entry['minute']} {entry['hour']} * * * {command}")
    return "\n".join(lines) + "\n"


def systemd(items, workdir, inventory, ansible_playbook="ansible-playbook", user="posfleet"):
    """{file name: content} of a oneshot service and a timer per entry."""
    check_values(workdir=workdir, inventory=inventory, ansible_playbook=ansible_playbook, user=user)
    files = {}
    for entry in items:
        _command_line, args = _command(entry, workdir, inventory, ansible_playbook, "/dev/null")
        files[entry["name"] + ".service"] = "\n".join([
            "[Unit]",
            f"Description=posfleet {entry['tier']} maintenance ({entry['limit']}, {entry['timezone']})",
            "Wants=network-online.target",
            "After=network-online.target",
            "",
            "[Service]",
            "Type=oneshot",
            f"User={user}",
            f"WorkingDirectory={workdir}",
            "ExecStart=" + " ".join(shlex.quote(a) for a in args),
            "",
        ])
        files[entry["name"] + ".timer"] = "\n".join([
            "[Unit]",
            f"Description=posfleet {entry['tier']} maintenance timer ({entry['timezone']})",
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


def rrule(entry):
    start = datetime.datetime.combine(DTSTART_DAY, datetime.time(entry["hour"], entry["minute"]))
    return f"DTSTART;TZID={entry['timezone']}:{start:%Y%m%dT%H%M%S} RRULE:FREQ=DAILY;INTERVAL=1"


def _yaml_str(value):
    return '"' + str(value).replace("\\", "\\\\").replace('"', '\\"') + '"'


def awx(items, project_name="posfleet terminals", organization="Default", scm_url="", scm_branch="main",
        inventory_name="posfleet fleet", inventory_source_path="inventories/demo/hosts.yml"):
    """An Ansible playbook (text) that configures AWX / AAP with awx.awx: the project, the inventory sourced
    from it, one job template per tier and one schedule per tier and time zone (RRULE with TZID)."""
    tiers = []
    for entry in items:
        if entry["tier"] not in tiers:
            tiers.append(entry["tier"])
    out = [
        "---",
        "# AWX / Ansible Automation Platform configuration as code for the posfleet maintenance timetable,",
        "# generated by posfleet.terminals.schedule: do not edit. Run it with the controller's credentials in",
        "# the environment (CONTROLLER_HOST, CONTROLLER_USERNAME, CONTROLLER_PASSWORD or CONTROLLER_OAUTH_TOKEN).",
        "- name: Configure the posfleet maintenance timetable in AWX",
        "  hosts: localhost",
        "  connection: local",
        "  gather_facts: false",
        "  tasks:",
        "    - name: Project with the collection and the inventory",
        "      awx.awx.project:",
        f"        name: {_yaml_str(project_name)}",
        f"        organization: {_yaml_str(organization)}",
        "        scm_type: git",
        f"        scm_url: {_yaml_str(scm_url)}",
        f"        scm_branch: {_yaml_str(scm_branch)}",
        "        scm_update_on_launch: true",
        "",
        "    - name: Inventory of the terminals",
        "      awx.awx.inventory:",
        f"        name: {_yaml_str(inventory_name)}",
        f"        organization: {_yaml_str(organization)}",
        "",
        "    - name: Inventory source from the project",
        "      awx.awx.inventory_source:",
        f"        name: {_yaml_str(inventory_name + ' from project')}",
        f"        inventory: {_yaml_str(inventory_name)}",
        "        source: scm",
        f"        source_project: {_yaml_str(project_name)}",
        f"        source_path: {_yaml_str(inventory_source_path)}",
        "        overwrite: true",
        "        update_on_launch: true",
    ]
    for tier in tiers:
        first = next(e for e in items if e["tier"] == tier)
        out += [
            "",
            f"    - name: Job template for the {tier} tier",
            "      awx.awx.job_template:",
            f"        name: {_yaml_str('posfleet ' + tier)}",
            f"        description: {_yaml_str(first['description'])}",
            f"        organization: {_yaml_str(organization)}",
            f"        project: {_yaml_str(project_name)}",
            f"        inventory: {_yaml_str(inventory_name)}",
            f"        playbook: {_yaml_str(first['playbook_path'])}",
            f"        extra_vars: {{posfleet_timetable_only: [{first['tier']}]}}",
            "        ask_limit_on_launch: true",
            "        ask_variables_on_launch: true",
            "        allow_simultaneous: false",
        ]
    for entry in items:
        out += [
            "",
            f"    - name: Schedule {entry['tier']} for {entry['timezone']}",
            "      awx.awx.schedule:",
            f"        name: {_yaml_str(entry['name'])}",
            f"        unified_job_template: {_yaml_str('posfleet ' + entry['tier'])}",
            f"        rrule: {_yaml_str(rrule(entry))}",
            f"        limit: {_yaml_str(entry['limit'])}",
            "        enabled: true",
        ]
    return "\n".join(out) + "\n"


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
