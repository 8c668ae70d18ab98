# Copyright (c) posfleet developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Controller side of the run-record layer (documentation: plugins/modules/run_record.py).

Runs in the controller's worker process and writes files with ``_runrecord.atomic_write``: no module is
shipped, no Python is started, no connection is made. Replaces the ``file`` + ``copy`` tasks delegated to
localhost that wrote the records before (three module runs per terminal per record).
"""

from __future__ import annotations

import os

from ansible.plugins.action import ActionBase

from ansible_collections.posfleet.terminals.plugins.plugin_utils import (
    _drill_report,
    _maintenance_report,
    _pci_report,
    _report,
    _rollout,
    _runrecord,
)


def _health_host(host, run_id, data, error, user):
    return _report.host_report(host, run_id, facts=data.get("facts"), selftest=data.get("selftest"), error=error,
                               user=user, maintenance_release=data.get("maintenance_release") or None)


def _maintenance_host(host, run_id, data, error, user):
    return _maintenance_report.host_record(host, run_id, data.get("plan") or None, data.get("outcomes") or None,
                                           error, data.get("store"), user=user)


def _audit_host(host, run_id, data, error, user):
    return _pci_report.pci_host_report(host, audit=data.get("audit"), run_id=run_id, error=error, user=user,
                                       remediation=data.get("remediation"))


def _update_host(host, run_id, data, error, user):
    return _rollout.host_record(host, run_id, data.get("outcome") or None, error, data.get("store"), user=user)


def _drill_host(host, run_id, data, error, user):
    return _drill_report.host_record(host, run_id, data.get("drill") or None, error, user=user)


def _health_fleet(fleet, title, data):
    text = _report.fleet_summary(fleet)
    return fleet, text, {
        "fleet.json": _runrecord.to_json(fleet), "summary.txt": text,
        "report.html": _report.fleet_html(fleet, title or "Daily maintenance")}


def _maintenance_fleet(fleet, title, data):
    fleet = _maintenance_report.fleet_summary(fleet)
    return fleet, fleet["text"], {"fleet.json": _runrecord.to_json(fleet), "summary.txt": fleet["text"]}


def _audit_fleet(fleet, title, data):
    text = _pci_report.pci_summary(fleet)
    return fleet, text, {
        "fleet.json": _runrecord.to_json(fleet), "summary.txt": text,
        "junit.xml": _pci_report.pci_junit(fleet, name=title or _pci_report.DEFAULT_NAME)}


def _update_fleet(fleet, title, data):
    fleet = _rollout.fleet_summary(fleet, order=data.get("order"), verdicts=data.get("verdicts") or (),
                                   stopped_at=data.get("stopped_at"))
    return fleet, fleet["text"], {"fleet.json": _runrecord.to_json(fleet), "summary.txt": fleet["text"]}


def _drill_fleet(fleet, title, data):
    fleet = _drill_report.fleet_summary(fleet)
    return fleet, fleet["text"], {"fleet.json": _runrecord.to_json(fleet), "summary.txt": fleet["text"]}


# concern: (directory under posfleet_results_dir, per-host record builder, fleet files writer)
CONCERNS = {
    "health": ("daily", _health_host, _health_fleet),
    "maintenance": ("maintain", _maintenance_host, _maintenance_fleet),
    "audit": ("audit", _audit_host, _audit_fleet),
    "update": ("update", _update_host, _update_fleet),
    "drill": ("drill", _drill_host, _drill_fleet),
}

ARGUMENT_SPEC = {
    "scope": {"type": "str", "required": True, "choices": ["run", "host", "fleet"]},
    "concern": {"type": "str", "choices": sorted(CONCERNS)},
    "dest": {"type": "path"},
    "run_id": {"type": "str"},
    "results_dir": {"type": "path"},
    "data": {"type": "dict", "default": {}},
    "error": {"type": "str"},
    "expected": {"type": "list", "elements": "str"},
    "title": {"type": "str"},
    "user": {"type": "str"},
}
REQUIRED_IF = [["scope", "host", ["concern"]], ["scope", "fleet", ["concern"]]]


class ActionModule(ActionBase):
    TRANSFERS_FILES = False
    _requires_connection = False

    def _var(self, task_vars, name):
        value = task_vars.get(name)
        return self._templar.template(value) if value is not None else None

    def run(self, tmp=None, task_vars=None):
        result = super().run(tmp, task_vars)
        del tmp
        task_vars = task_vars or {}
        _validation, args = self.validate_argument_spec(argument_spec=ARGUMENT_SPEC, required_if=REQUIRED_IF)
        host = task_vars.get("inventory_hostname")
        results_dir = args["results_dir"] or self._var(task_vars, "posfleet_results_dir")
        run_id = args["run_id"] or self._var(task_vars, "posfleet_run_id")
        result["changed"] = False  # records are written on the controller, nothing changes on the terminal

        if args["scope"] == "run":
            run = _runrecord.resolve_run(results_dir, run_id)
            run["posfleet_results_dir"] = os.path.abspath(run["posfleet_results_dir"])
            result.update(ansible_facts=run, msg=f"run {run['posfleet_run_id']}, results in "
                                                 f"{run['posfleet_results_dir']}")
            if args["concern"] and not self._task.check_mode:
                # The concern's fleet files say at once that no terminal has reported to this run yet: a run that
                # ends early (every terminal unreachable, the controller killed) never leaves the previous run's
                # files standing as if they were this run's.
                try:
                    result["files"] = self._write_fleet(args, task_vars, run["posfleet_run_id"], os.path.join(
                        run["posfleet_results_dir"], CONCERNS[args["concern"]][0]))[1]
                except _runrecord.RunRecordError as exc:
                    result.update(failed=True, msg=f"{host}: run record: {exc}")
            return result

        subdir, build_host = CONCERNS[args["concern"]][:2]
        if not run_id:
            result.update(failed=True, msg=f"{host}: run record: no run id. Fix: run posfleet.terminals.run_record "
                                           "with scope=run (run_once) first, or set posfleet_run_id")
            return result
        dest = args["dest"] or os.path.join(_runrecord.resolve_run(results_dir, run_id)["posfleet_results_dir"],
                                            subdir)
        user = args["user"] or self._var(task_vars, "awx_user_name") or self._var(task_vars, "tower_user_name")
        result.update(dest=dest, run_id=run_id)
        try:
            if args["scope"] == "host":
                record = build_host(host, run_id, args["data"], args["error"] or None, user)
                result["record"] = record
                if self._task.check_mode:
                    result["path"] = _runrecord.host_record_path(dest, host)
                else:
                    result["path"] = _runrecord.write_host_record(dest, record)
                return result
            fleet, written, text = self._write_fleet(args, task_vars, run_id, dest)
            # Printed by the callback as a debug task would print it: one task less per run. Not "unreachable":
            # Ansible reads a true "unreachable" in a result as the host being unreachable.
            result.update(msg=text, files=written, terminals=fleet["terminals"], counts=fleet["counts"],
                          unreachable_hosts=fleet["unreachable"], _ansible_verbose_always=bool(fleet["terminals"]))
        except _runrecord.RunRecordError as exc:
            result.update(failed=True, msg=f"{host}: run record: {exc}")
        return result

    def _write_fleet(self, args, task_vars, run_id, dest):
        """Roll this run's records in ``dest`` up against the expected terminals (the play's, unless given) and
        write the concern's fleet files: ``(fleet, files written, text)``."""
        expected = args["expected"]
        if expected is None:
            expected = task_vars.get("ansible_play_hosts_all") or []
        fleet = _runrecord.rollup(_runrecord.read_records(dest), run_id=run_id, expected=expected)
        fleet, text, files = CONCERNS[args["concern"]][2](fleet, args["title"], args["data"])
        written = []
        if fleet["terminals"] and not self._task.check_mode:
            written = [_runrecord.atomic_write(os.path.join(dest, name), content) for name, content in files.items()]
        return fleet, written, text
