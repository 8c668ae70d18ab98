# Copyright (c) posfleet developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

from ansible.errors import AnsibleFilterError

from ansible_collections.posfleet.terminals.plugins.plugin_utils import (
    _maintenance_report,
    _notice_due,
    _plan,
    _schedule,
    _step_roles,
    _tier_ledger,
    _times,
)


def _wrap(func):
    def run(*args, **kwargs):
        try:
            return func(*args, **kwargs)
        except _times.TimetableError as exc:
            raise AnsibleFilterError(str(exc)) from None
    run.__name__ = func.__name__
    run.__doc__ = func.__doc__
    return run


def maintenance_window(host, tiers, calendar=None, ledger=None, now=None, journal=None, notice_lead_hours=24,
                       override_reason=None, only=None):
    return _plan.plan(host, tiers, calendar=calendar, ledger=ledger, now=now or None, journal=journal,
                      notice_lead_hours=notice_lead_hours, override_reason=override_reason or None,
                      only=_only(only) or None, resolve=_step_roles.resolve_role)


def maintenance_ledger(ledger, host, plan, results=None, now=None, notice=None):
    updated = _tier_ledger.record(ledger, host, plan, results=results, now=now or None) if plan else dict(ledger or {})
    if notice:
        updated = _tier_ledger.record_notice(updated, host, notice)
    return updated


def maintenance_outcomes(plan, failures=None, ran=None):
    return _tier_ledger.tier_outcomes(plan or {}, failures or None, ran)


def maintenance_notice(host, tiers, calendar=None, ledger=None, now=None, notice_lead_hours=24):
    return _notice_due.upcoming(host, tiers, calendar=calendar, ledger=ledger, now=now or None,
                                notice_lead_hours=notice_lead_hours)


def maintenance_notice_groups(entries):
    return _notice_due.notice_groups(entries)


def maintenance_record(host, run_id, plan=None, outcomes=None, error=None, store=None, user=None):
    return _maintenance_report.host_record(host, run_id, plan or None, outcomes or None, error or None, store,
                                           user=user)


def maintenance_summary(records, run_id="", expected=None):
    return _maintenance_report.fleet_summary(records, run_id=run_id, expected=expected)


def _only(value):
    if isinstance(value, str):
        return [v.strip() for v in value.split(",") if v.strip()]
    return value


def schedule_export(zones, tiers, workdir, inventory, ansible_playbook="ansible-playbook", log_dir="/var/log/posfleet",
                    user="posfleet", scm_url="", scm_branch="main", organization="Default", controller_timezone="",
                    environment=None, vault_password_file="", home="/var/lib/posfleet",
                    notice_margin_hours=_schedule.NOTICE_MARGIN_HOURS, ee_image="", job_slice_count=0,
                    hosts_per_slice=200, collection_source="", machine_username="posadmin"):
    notices = None
    fleet_size = 0
    if isinstance(zones, list):
        fleet_size = len(zones)
        notices = _schedule.notices_from_hosts(zones, notice_margin_hours)
        zones = _schedule.zones_from_hosts(zones)
    items = _schedule.entries(tiers, zones, notices=notices)
    return {
        "entries": items,
        "crontab": _schedule.crontab(items, workdir, inventory, ansible_playbook, log_dir,
                                     controller_timezone=controller_timezone or None, environment=environment,
                                     vault_password_file=vault_password_file),
        "systemd": _schedule.systemd(items, workdir, inventory, ansible_playbook, user, environment=environment,
                                     vault_password_file=vault_password_file, home=home),
        "sysusers": _schedule.sysusers(user, home),
        "awx": _schedule.awx(items, scm_url=scm_url, scm_branch=scm_branch, organization=organization,
                             inventory_source_path=inventory, ee_image=ee_image, machine_username=machine_username,
                             job_slice_count=_schedule.slice_count(fleet_size, hosts_per_slice, job_slice_count)),
        "awx_requirements": _schedule.requirements(collection_source),
    }


class FilterModule:
    """Maintenance timetable filters."""

    def filters(self):
        return {
            "maintenance_window": _wrap(maintenance_window),
            "maintenance_ledger": _wrap(maintenance_ledger),
            "maintenance_notice": _wrap(maintenance_notice),
            "maintenance_outcomes": _wrap(maintenance_outcomes),
            "maintenance_notice_groups": _wrap(maintenance_notice_groups),
            "maintenance_record": _wrap(maintenance_record),
            "maintenance_summary": _wrap(maintenance_summary),
            "schedule_export": _wrap(schedule_export),
        }
