# Copyright (c) posfleet developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Controller side of the maintenance ledger (documentation: plugins/modules/ledger.py).

The cache on the controller is read and written here, with ``_runrecord.update_json`` (locked, atomic,
read-merge-write); the module runs on the terminal only when the terminal's copy is needed: to rebuild a
missing cache, and to record a run. Replaces a ``lookup`` of the cache, a ``copy`` delegated to localhost and
the module call that mirrored it: a stale read can no longer overwrite what another run wrote meanwhile.
"""

from __future__ import annotations

import os

from ansible.errors import AnsibleConnectionFailure
from ansible.plugins.action import ActionBase

from ansible_collections.posfleet.terminals.plugins.module_utils import _ledger
from ansible_collections.posfleet.terminals.plugins.plugin_utils import _runrecord

MODULE = "posfleet.terminals.ledger"


class ActionModule(ActionBase):
    TRANSFERS_FILES = False

    def run(self, tmp=None, task_vars=None):
        result = super().run(tmp, task_vars)
        del tmp
        task_vars = task_vars or {}
        _validation, args = self.validate_argument_spec(argument_spec=_ledger.get_ledger_argument_spec())
        self._host = task_vars.get("inventory_hostname")
        try:
            if args["ledger"] is None:
                result.update(self._read(args, task_vars))
            else:
                result.update(self._record(args, task_vars))
        except _runrecord.RunRecordError as exc:
            result.update(failed=True, msg=f"terminal {self._host}: ledger: {exc}")
        return result

    def _terminal(self, task_vars, **module_args):
        try:
            return self._execute_module(module_name=MODULE, module_args=module_args, task_vars=task_vars)
        finally:
            self._remove_tmp_path(self._connection._shell.tmpdir)  # left on the terminal without pipelining

    def _cache_merge(self, cache, ledger):
        """Merge ``ledger`` into the cache under its lock; the cache as it is now (nothing written in check mode)."""
        if not cache:
            return ledger
        if self._task.check_mode:
            return _ledger.merge(_ledger.read(cache), ledger)
        return _runrecord.update_json(cache, lambda current: _ledger.merge(current, ledger))[1]

    def _read(self, args, task_vars):
        cache = args["cache"]
        if cache and os.path.isfile(cache):
            cached = _ledger.read(cache)
            if cached is not None:
                return {"changed": False, "ledger": cached, "source": "cache", "path": args["path"]}
            self._display.warning(f"terminal {self._host}: ledger: the cache {cache} is not a JSON document; "
                                  "it is rebuilt from the terminal's copy")
        try:
            found = self._terminal(task_vars, path=args["path"])
        except AnsibleConnectionFailure:
            found = {"unreachable": True}
        if found.get("unreachable"):
            # As before there was a terminal copy to read: the plan starts from nothing and the run reports the
            # terminal as unreachable when it needs it (a deferred terminal is not contacted).
            self._display.warning(f"terminal {self._host}: ledger: unreachable and no cache on the controller; "
                                  "planned as a terminal without a ledger")
            return {"changed": False, "ledger": {}, "source": "none", "path": args["path"]}
        if found.get("failed"):
            return {"failed": True, "path": args["path"],
                    "msg": f"terminal {self._host}: ledger: cannot read {args['path']}: {found.get('msg')}. Fix: "
                           "make it readable by the become user, or remove it if it is damaged"}
        ledger = found.get("ledger") or {}
        if ledger:
            ledger = self._cache_merge(cache, ledger)  # the rebuilt cache
        return {"changed": False, "ledger": ledger, "source": found.get("source", "terminal"), "path": args["path"]}

    def _record(self, args, task_vars):
        cache = args["cache"]
        merged = self._cache_merge(cache, args["ledger"])
        if not args["mirror"]:
            return {"changed": False, "ledger": merged, "source": "recorded", "path": args["path"]}
        # The union of both copies goes to the terminal, which merges it with its own under its lock; what the
        # terminal holds then (entries of another controller included) comes back into the cache.
        mirrored = self._terminal(task_vars, ledger=merged, path=args["path"], merge=args["merge"])
        if mirrored.get("unreachable") or mirrored.get("failed"):
            return mirrored  # the cache holds the run already; the terminal is reported as Ansible reports it
        mirrored["ledger"] = self._cache_merge(cache, mirrored.get("ledger") or merged)
        return mirrored
