# Copyright (c) posfleet developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Controller side of ``posfleet.terminals.firmware`` (documentation: plugins/modules/firmware.py).

The bundle never leaves the controller: it is verified here before anything moves, the delta is planned against
what the terminal holds, and only the missing payload bytes travel, as chunk files put over the connection and
taken in by the module's ``receive`` stage. Every other step on the terminal is one stage of the module
(``module_utils/_firmware.py``); the reboots are real ones, waited for by the boot id.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
import time

from ansible.errors import AnsibleConnectionFailure, AnsibleError
from ansible.plugins.action import ActionBase

from ansible_collections.posfleet.terminals.plugins.module_utils import _firmware, _update_preconditions
from ansible_collections.posfleet.terminals.plugins.plugin_utils import _bundle

MODULE = 'posfleet.terminals.firmware'
CHUNK = 4 << 20  # bytes per chunk file: what a resumed transfer may have to send again at most
BATCH = 2 * CHUNK  # bytes put before the terminal takes them in (one module call)
HEADROOM = 16 << 20  # free space kept beyond what staging needs


class UpdateFailed(Exception):
    """A step after the trial started failed: roll back."""


class ActionModule(ActionBase):
    TRANSFERS_FILES = True

    def run(self, tmp=None, task_vars=None):
        result = super().run(tmp, task_vars)
        del tmp
        self._task_vars = task_vars or {}
        self._start = time.monotonic()
        dummy, args = self.validate_argument_spec(argument_spec=_firmware.get_firmware_argument_spec(),
                                                  required_if=_firmware.FIRMWARE_REQUIRED_IF)
        self._args = args
        self._host = self._task_vars.get('inventory_hostname')
        self._remote_tmp = None
        try:
            result.update(self._update(args))
        except _UpdateStop as stop:
            result.update(stop.result)
        except _StageFailed as exc:  # before the trial started: the slots are as they were
            result.update(self._base(failed=True, msg=str(exc), reason=str(exc)))
        except AnsibleConnectionFailure as exc:
            result.update(self._base(unreachable=True, msg=f'terminal {self._host}: firmware: {exc}'))
        finally:
            if self._remote_tmp:
                with contextlib.suppress(Exception):  # the terminal may be rebooting: a leftover chunk dir is harmless
                    self._remove_tmp_path(self._remote_tmp)
        result['duration_s'] = round(time.monotonic() - self._start, 1)
        return result

    # -- helpers -----------------------------------------------------------------------------------------------

    def _base(self, **values):
        base = {'changed': False, 'terminal_id': self._host, 'previous_version': None, 'version': None,
                'bytes_transferred': 0, 'files_transferred': 0, 'bytes_total': 0, 'rolled_back': False,
                'fell_back': False, 'reason': None, 'refused': [], 'settlement_override_reason': None,
                'slot': None, 'out_of_service_s': 0.0, 'transfer_s': 0.0}
        base.update(values)
        return base

    def _stage(self, stage, **stage_args):
        module_args = {k: v for k, v in self._args.items() if not k.startswith('_')}
        module_args.update(_stage=stage, _stage_args=stage_args)
        answer = self._execute_module(module_name=MODULE, module_args=module_args, task_vars=self._task_vars)
        if answer.get('unreachable'):
            raise AnsibleConnectionFailure(answer.get('msg') or 'unreachable')
        if answer.get('failed'):
            raise _StageFailed(stage, answer.get('msg') or f'stage {stage} failed')
        return answer

    def _refusal(self, step, problems, **values):
        """The stop of a refused update (raise it): nothing was changed on the terminal."""
        problems = [problems] if isinstance(problems, str) else list(problems)
        msg = f'terminal {self._host}: {step}: ' + ' '.join(p[:1].upper() + p[1:] for p in problems)
        if 'Fix:' not in msg:
            msg += ' Fix: correct the bundle or the terminal as said, then run again (nothing was changed).'
        return _UpdateStop(self._base(failed=True, msg=msg, refused=problems, reason=' '.join(problems), **values))

    def _wait_for_boot(self, old_boot_id, timeout):
        """Wait for a new boot id and an answer over the connection; the ``boot_id`` stage's answer."""
        deadline = time.monotonic() + timeout
        last_error = None
        while time.monotonic() < deadline:
            time.sleep(1)
            try:
                self._connection.reset()
            except Exception as exc:  # a connection that cannot reset now reconnects on the next call
                last_error = exc
            try:
                answer = self._stage('boot_id')
            except (AnsibleConnectionFailure, AnsibleError, _StageFailed) as exc:
                last_error = exc
                continue
            if answer['boot_id'] != old_boot_id:
                return answer
        raise UpdateFailed(f'the terminal did not come back within {timeout} s of its reboot ({last_error})')

    def _reboot(self, boot_id):
        """A real reboot (the terminal's own ``reboot``); the answer of the first call after it."""
        # The connection drops as the terminal goes down: that error is the reboot working.
        with contextlib.suppress(AnsibleConnectionFailure, AnsibleError):
            self._low_level_execute_command('reboot', sudoable=True)
        return self._wait_for_boot(boot_id, self._args['reboot_timeout'])

    def _retry(self, stage, timeout, **stage_args):
        """Call a stage until the terminal answers (it may be rebooting by itself)."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                return self._stage(stage, **stage_args)
            except (AnsibleConnectionFailure, AnsibleError):
                if time.monotonic() >= deadline:
                    raise
                time.sleep(2)
                with contextlib.suppress(Exception):
                    self._connection.reset()

    # -- the update ----------------------------------------------------------------------------------------------

    def _preconditions(self, facts, args, step, space=None):
        """What keeps any change of the terminal's firmware from starting (``_update_preconditions``: maintenance
        mode, the open batch, the battery, the free space), each a sentence with its fix: ``(problems, the
        settlement override in force or None)``."""
        found = _update_preconditions.problems(facts, args, step, self._host, space=space)
        journal = facts.get('journal') or {}
        needs_override = bool(journal.get('error')) or journal.get('unsettled_count') != 0
        settlement_override = args['settlement_override_reason'] if needs_override else None
        return [_update_preconditions.sentence(problem) for problem in found], settlement_override

    def _update(self, args):
        check = self._task.check_mode
        try:
            _firmware.check_option_ranges(args, self._host)
        except Exception as exc:  # TerminalError: the option, its range and the fix
            raise _UpdateStop(self._base(failed=True, msg=str(exc))) from None
        if args['revert']:
            return self._revert(args)
        # 1. the bundle, on the controller, before anything moves
        try:
            bundle = _bundle.read_bundle(args['bundle'])
            trust = _bundle.load_trust(args['trusted_keys'], args['revoked_keys'])
            manifest = _bundle.verify(bundle, trust)
        except _bundle.BundleError as exc:
            raise self._refusal('verify', str(exc)) from None
        files = bundle.files()
        total = sum(entry['size'] for entry in files.values())
        if manifest['version'] != args['version']:
            raise self._refusal('verify', f'the bundle {args["bundle"]} holds firmware {manifest["version"]}, '
                                f'not {args["version"]}. Fix: pass the bundle of version {args["version"]}, or set '
                                f'version to {manifest["version"]}.', bytes_total=total)

        # 2. the terminal, in one round trip
        facts = self._stage('inspect')
        fw = facts['firmware']
        previous = fw['active_version']
        base = {'previous_version': previous, 'version': previous, 'slot': fw['active_slot'], 'bytes_total': total,
                'terminal_id': facts.get('terminal_id') or self._host}
        self._host = base['terminal_id']
        diff = {'before': {'version': previous}, 'after': {'version': manifest['version']}}
        if previous == manifest['version'] and fw['state'] == 'committed':
            return self._base(**base)
        pending_same = previous == manifest['version'] and fw['state'] == 'pending_trial'

        # 3. refusals, each with its fix; nothing has changed on the terminal
        problems = []
        if not pending_same:
            problems += _bundle.target_problems(manifest, {
                'model': facts['model'], 'hardware_revision': facts['hardware_revision'], 'active_version': previous,
                'security_version': fw.get('security_version', 0)}, allow_downgrade=args['allow_downgrade'])
            if fw['state'] == 'pending_trial':
                problems.append(_update_preconditions.sentence(_firmware.pending_trial_problem(fw, 'refused')))
        held, partial = facts['held'], facts['partial']
        unique, wire = _firmware.plan_delta(files, held, partial)
        space = None if pending_same else (facts['free_bytes'], wire + 2 * total + HEADROOM)
        more, settlement_override = self._preconditions(facts, args, 'refused', space)
        problems += more
        if problems:
            raise self._refusal('refused', problems, **base)
        base['settlement_override_reason'] = settlement_override
        if check:
            out = self._base(changed=True, bytes_transferred=wire, files_transferred=len(unique), **base)
            out['version'] = manifest['version']  # what it would be
            out['msg'] = (f'would send {wire} bytes in {len(unique)} files, stage slot {fw["inactive_slot"]}, reboot '
                          f'into a trial of {manifest["version"]}, run the health gate and commit')
            if self._task.diff:
                out['diff'] = diff
            return out

        # 4. the delta, chunked and resumable
        began = time.monotonic()
        sent_bytes = self._transfer(bundle, unique, partial, args['bandwidth_limit_kbps'])
        transfer_s = round(time.monotonic() - began, 2)

        # 5. stage + trial, a real reboot, the gate, the commit
        result = self._base(changed=True, bytes_transferred=sent_bytes, files_transferred=len(unique),
                            transfer_s=transfer_s, **base)
        if self._task.diff:
            result['diff'] = diff
        old_slot = fw['active_slot']
        install = self._stage('install', files={rel: {'sha256': e['sha256'], 'mode': e['mode']}
                                                for rel, e in files.items()},
                              manifest=_bundle.slot_manifest(manifest))
        trial_slot = install['slot']
        if pending_same:  # a run that died after the trial started: its fallback is the other slot
            old_slot = install['trial'].get('fallback_slot') or old_slot
        return self._boot_gate_commit(result, install, manifest['version'], trial_slot, previous, old_slot,
                                      prune=True)

    def _boot_gate_commit(self, result, started, version, trial_slot, previous, old_slot, prune=False):
        """After a trial of ``trial_slot`` (holding ``version``) started: a real reboot, the health gate, the commit;
        any failure rolls back to ``old_slot`` (``previous``). The result, failed after a rollback."""
        down = time.monotonic()
        reason = None
        gate = None
        try:
            if started['trial'].get('reboot_required', True):
                self._reboot(started['boot_id'])
            gate = self._retry('gate', self._args['reboot_timeout'], expect_version=version, expect_slot=trial_slot)
        except (UpdateFailed, AnsibleConnectionFailure, AnsibleError, _StageFailed) as exc:
            reason = f'the trial boot did not complete: {exc}'
        if gate is not None and gate.get('committed') and (gate.get('gate') or {}).get('ok'):
            result.update(version=version, slot=trial_slot, gate=gate.get('gate'),
                          out_of_service_s=round(time.monotonic() - down, 1))
            if prune:
                with contextlib.suppress(AnsibleConnectionFailure, AnsibleError, _StageFailed):
                    self._stage('finish', keep=[])  # a cache left behind is pruned by the next update
            return result
        if gate is not None:
            result['gate'] = gate.get('gate')
            result['fell_back'] = bool(gate.get('fell_back'))
            reason = gate.get('reason') or reason or 'the health gate failed'
            if result['fell_back']:
                reason = f'the trial of {version} did not hold, the terminal fell back by itself ({reason})'
        return self._roll_back(result, reason, previous, old_slot, trial_slot, down)

    def _revert(self, args):
        """Back to the firmware in the other slot (the one before the last update): a trial of that slot, the
        reboot, the gate, the commit; nothing is transferred."""
        facts = self._stage('inspect')
        fw = facts['firmware']
        current = fw['active_version']
        self._host = facts.get('terminal_id') or self._host
        other = fw.get('inactive_slot')
        target = (fw.get('slots') or {}).get(other) or {}
        base = {'previous_version': current, 'version': current, 'slot': fw['active_slot'], 'terminal_id': self._host}
        problems, settlement_override = self._preconditions(facts, args, 'revert')
        if fw['state'] == 'pending_trial':
            problems.append(_update_preconditions.sentence(_firmware.pending_trial_problem(fw, 'revert')))
        if not target.get('present'):
            problems.append(_update_preconditions.sentence(_firmware.empty_slot_problem(other, 'revert')))
        elif target.get('security_version') is None or target['security_version'] < fw.get('security_version', 0):
            problems.append(f'firmware {target["version"]} in slot {other} has security version '
                            f'{target.get("security_version")}, below the terminal\'s floor '
                            f'{fw.get("security_version", 0)} (anti-rollback). Fix: install a version of that security '
                            'version or higher from a signed bundle.')
        if problems:
            raise self._refusal('revert', problems, **base)
        base['settlement_override_reason'] = settlement_override
        diff = {'before': {'version': current}, 'after': {'version': target['version']}}
        result = self._base(changed=True, **base)
        if self._task.diff:
            result['diff'] = diff
        if self._task.check_mode:
            result['version'] = target['version']
            result['msg'] = f'would boot slot {other} ({target["version"]}) as a trial, run the health gate and commit'
            return result
        started = self._stage('revert')
        return self._boot_gate_commit(result, started, target['version'], other, current, fw['active_slot'])

    def _roll_back(self, result, reason, previous, old_slot, trial_slot, down):
        """End the trial, boot the old slot, verify the old version serves; the failed result."""
        served = None
        try:
            recover = self._retry('recover', self._args['reboot_timeout'], reason=reason)
            firmware = recover['firmware']
            if not recover['rolled_back_now'] and firmware['active_slot'] != trial_slot:
                result['fell_back'] = True  # PID 1 fell back (the trial daemon crashed, or the deadline passed)
                fallback = firmware.get('last_fallback_reason')
                if fallback and fallback not in reason:
                    reason = f'{reason}; the terminal fell back by itself ({fallback})'
            if recover['reboot_required']:
                self._reboot(recover['boot_id'])
            served = self._retry('verify', self._args['reboot_timeout'], expect_version=previous,
                                 expect_slot=old_slot)
        except (UpdateFailed, AnsibleConnectionFailure, AnsibleError, _StageFailed) as exc:
            served = {'gate': {'ok': False, 'reason': str(exc)}}
        verified = bool((served.get('gate') or {}).get('ok'))
        if verified:  # the failed version's files stay in the inactive slot; the cache copy is not needed
            with contextlib.suppress(AnsibleConnectionFailure, AnsibleError, _StageFailed):
                self._stage('finish', keep=[])
        firmware = served.get('firmware') or {}
        result.update(rolled_back=True, reason=reason, version=firmware.get('active_version', previous),
                      slot=firmware.get('active_slot', old_slot), out_of_service_s=round(time.monotonic() - down, 1),
                      old_version_serves=verified, failed=True)
        how = 'fell back' if result['fell_back'] else 'was rolled back'
        if verified:
            back = (f'{previous} serves again' if result['fell_back']
                    else f'the terminal was rolled back to {previous}, which serves')
            result['msg'] = (f'terminal {self._host}: firmware: {reason}; {back}. Fix: do not roll this firmware '
                             'out; check the bundle with the vendor')
        else:
            result['msg'] = (f'terminal {self._host}: firmware: {reason}; the terminal {how}, but {previous} does '
                             f'not serve yet ({(served.get("gate") or {}).get("reason")}). Fix: check the terminal '
                             'on site (posfleet.terminals.selftest), it boots its old slot')
        return result

    def _transfer(self, bundle, unique, partial, limit_kbps):
        """Send the missing files in chunks (from where an interrupted transfer ended); bytes sent."""
        if not unique:
            return 0
        rate = limit_kbps * 1000 / 8 if limit_kbps else None
        chunk_size = CHUNK if rate is None else max(64 << 10, min(CHUNK, int(rate * 2)))
        self._remote_tmp = self._make_tmp_path()
        local = tempfile.mkdtemp(prefix='posfleet-firmware-')
        sent = 0
        began = time.monotonic()
        batch, batch_bytes = [], 0
        try:
            for sha, (rel, entry) in sorted(unique.items(), key=lambda item: item[1][0]):
                offset = min(partial.get(sha, 0), entry['size'])
                with bundle.open_payload(rel) as source:
                    if offset:
                        source.seek(offset)
                    while True:  # a file of 0 bytes is one empty chunk
                        data = source.read(chunk_size)
                        if not data and offset < entry['size']:
                            raise _StageFailed('transfer', f'terminal {self._host}: transfer: the bundle ends '
                                               f'inside {rel}. Fix: copy the bundle again (nothing was staged)')
                        name = f'{sha}.{offset}'
                        path = os.path.join(local, name)
                        with open(path, 'wb') as handle:
                            handle.write(data)
                        remote = self._connection._shell.join_path(self._remote_tmp, name)
                        self._transfer_file(path, remote)
                        os.unlink(path)
                        batch.append({'sha256': sha, 'size': entry['size'], 'offset': offset, 'path': remote})
                        offset += len(data)
                        sent += len(data)
                        batch_bytes += len(data)
                        if rate is not None:  # pace: never ahead of the limit on average
                            ahead = sent / rate - (time.monotonic() - began)
                            if ahead > 0:
                                time.sleep(ahead)
                        if batch_bytes >= BATCH:
                            self._stage('receive', chunks=batch)
                            batch, batch_bytes = [], 0
                        if offset >= entry['size']:
                            break
            if batch:
                self._stage('receive', chunks=batch)
        finally:
            shutil.rmtree(local, ignore_errors=True)
        return sent


class _StageFailed(Exception):
    def __init__(self, stage, msg):
        super().__init__(msg)
        self.stage = stage


class _UpdateStop(Exception):
    """Stop with this result (a refusal)."""

    def __init__(self, result):
        super().__init__(result.get('msg'))
        self.result = result
