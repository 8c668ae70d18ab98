# Copyright (c) posfleet developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Controller side of ``posfleet.terminals.software`` (documentation: plugins/modules/software.py).

With pushed files: read each .deb on the controller (package, version, sha256) and refuse a wrong one before
anything moves; ask the terminal what it would change and which sha256 its package cache holds (check mode ends
there); send only the .deb files it lacks; then run the install. From a repository the module runs alone.
"""

from __future__ import annotations

import os
import time

from ansible.plugins.action import ActionBase

from ansible_collections.posfleet.terminals.plugins.module_utils._software import (
    SOFTWARE_CONSTRAINTS,
    get_software_argument_spec,
)
from ansible_collections.posfleet.terminals.plugins.plugin_utils import _action, _deb

MODULE = 'posfleet.terminals.software'


class ActionModule(ActionBase):
    TRANSFERS_FILES = True

    def run(self, tmp=None, task_vars=None):
        result = super().run(tmp, task_vars)
        del tmp
        task_vars = task_vars or {}
        self._host = task_vars.get('inventory_hostname')
        args, private = _action.task_args(self, self._host, 'software', get_software_argument_spec(),
                                          **SOFTWARE_CONSTRAINTS)
        if private:
            return dict(result, failed=True, msg=private)
        started = time.monotonic()
        try:
            if args['repository']:
                result.update(self._module(task_vars, args))
            else:
                result.update(self._push(task_vars, args))
        finally:
            self._remove_tmp_path(self._connection._shell.tmpdir)
        if 'duration_s' in result:
            result['duration_s'] = round(time.monotonic() - started, 1)
        return result

    def _module(self, task_vars, args):
        return self._execute_module(module_name=MODULE, module_args=args, task_vars=task_vars)

    def _local_debs(self, args):
        """{name: {path, sha256, size}} for each package, each checked against its name and version."""
        local = {}
        for package in args['packages']:
            path = package.get('deb')
            if not path:
                continue  # the module says which package lacks its deb
            path = self._find_needle('files', path)
            info = _deb.read_control(path)
            if (info['package'], info['version']) != (package['name'], package['version']):
                raise _deb.DebError(f'{path} is {info["package"]} {info["version"]}, not {package["name"]} '
                                    f'{package["version"]}; nothing was sent', 'give the .deb of that version')
            local[package['name']] = dict(info, path=path)
        return local

    def _push(self, task_vars, args):
        try:
            local = self._local_debs(args)
        except _deb.DebError as exc:
            return {'failed': True, 'msg': f'terminal {self._host}: software: {exc}'}
        except Exception as exc:  # _find_needle: a path that does not exist
            return {'failed': True, 'msg': f'terminal {self._host}: software: {exc}. Fix: check the deb paths'}
        planned = self._module(task_vars, dict(args, _plan=True))
        plan = planned.pop('plan', None)
        if planned.get('failed') or planned.get('unreachable') or not planned.get('changed') or plan is None \
                or self._task.check_mode:
            return planned
        held = set(plan['held'])
        tmpdir = self._make_tmp_path()
        debs, sent_bytes, sent_files, remote = {}, 0, 0, []
        for name in sorted(plan['todo']):
            info = local.get(name)
            if info is None:
                continue  # given without a deb: the module takes it from the terminal's package cache
            if info['sha256'] in held:
                debs[name] = {'sha256': info['sha256'], 'path': None}
                continue
            dest = self._connection._shell.join_path(tmpdir, os.path.basename(info['path']))
            self._transfer_file(info['path'], dest)
            remote.append(dest)
            sent_bytes += info['size']
            sent_files += 1
            debs[name] = {'sha256': info['sha256'], 'path': dest}
        if remote:
            self._fixup_perms2([tmpdir] + remote)
        done = self._module(task_vars, dict(args, _debs=debs))
        if 'bytes_transferred' in done or not done.get('failed'):
            done.update(bytes_transferred=sent_bytes, files_transferred=sent_files)
        return done
