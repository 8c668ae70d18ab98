# Copyright (c) posfleet developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Controller side of ``posfleet.terminals.firmware`` (documentation: plugins/modules/firmware.py).

The bundle never leaves the controller: it is verified here before anything moves, the delta is planned against
what the terminal holds, and only the missing payload bytes travel, packed into piece files of a few MiB put over the
connection into a spool directory on the terminal, which the module's ``install`` stage takes in (``receive``
takes in what an interrupted run left there). Every other step on the terminal is one stage of the module
(``module_utils/_firmware.py``); the reboots are real ones, waited for by the boot id.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor

from ansible.errors import AnsibleConnectionFailure, AnsibleError
from ansible.plugins.action import ActionBase

from ansible_collections.posfleet.terminals.plugins.module_utils import _firmware, _update_preconditions
from ansible_collections.posfleet.terminals.plugins.plugin_utils import _bundle

MODULE = 'posfleet.terminals.firmware'
# Bytes per piece file: what an interrupted transfer may have to send again at most. Each piece costs one put
# (one SFTP exchange on the shared connection), so fewer, larger pieces are faster; 8 MiB keeps the loss small.
PIECE = 8 << 20
PACED_PIECE_S = 1  # under bandwidth_limit_kbps a piece is about this many seconds of the link
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
        self._spool = None
        try:
            result.update(self._update(args))
        except _UpdateStop as stop:
            result.update(stop.result)
        except _StageFailed as exc:  # before the trial started: the slots are as they were
            result.update(self._base(failed=True, msg=str(exc), reason=str(exc)))
        except AnsibleConnectionFailure as exc:
            result.update(self._base(unreachable=True, msg=f'terminal {self._host}: firmware: {exc}'))
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
        return ([_update_preconditions.sentence(problem) for problem in found],
                _update_preconditions.settlement_override(facts, args))

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

        # 4. the delta, in pieces, resumable
        began = time.monotonic()
        sent_bytes, sent_files = self._transfer(bundle, files, unique, partial, args['bandwidth_limit_kbps'])
        transfer_s = round(time.monotonic() - began, 2)

        # 5. stage + trial, a real reboot, the gate, the commit
        result = self._base(changed=True, bytes_transferred=sent_bytes, files_transferred=sent_files,
                            transfer_s=transfer_s, **base)
        if self._task.diff:
            result['diff'] = diff
        old_slot = fw['active_slot']
        install = self._stage('install', files={rel: {'sha256': e['sha256'], 'mode': e['mode']}
                                                for rel, e in files.items()},
                              manifest=_bundle.slot_manifest(manifest), spool=self._spool)
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

    def _transfer(self, bundle, files, unique, partial, limit_kbps):
        """Put the missing files into the terminal's spool as pieces (each file from where an interrupted transfer
        ended), for the install stage to take in; ``(bytes sent, files sent)``. The pieces an interrupted run left
        in the spool are taken in first and not sent again."""
        if not unique:
            return 0, 0
        self._spool, leftovers = self._open_spool()
        if leftovers:
            content = self._stage('receive', spool=self._spool)['content']
            partial = content['partial']
            unique, dummy = _firmware.plan_delta(files, content['held'], partial)
            if not unique:
                return 0, 0
        rate = limit_kbps * 1000 / 8 if limit_kbps else None
        piece_size = PIECE if rate is None else max(64 << 10, min(PIECE, int(rate * PACED_PIECE_S)))
        pieces = _firmware.plan_pieces(unique, partial, piece_size)
        local = tempfile.mkdtemp(prefix='posfleet-firmware-')
        source = _PayloadSource(bundle)
        sent = 0
        began = time.monotonic()
        try:
            with ThreadPoolExecutor(max_workers=1) as writer:  # the next piece is written while one travels
                upcoming = writer.submit(self._write_piece, source, local, 0, pieces[0])
                for index in range(len(pieces)):
                    path, name, payload = upcoming.result()
                    if index + 1 < len(pieces):
                        upcoming = writer.submit(self._write_piece, source, local, index + 1, pieces[index + 1])
                    self._transfer_file(path, self._connection._shell.join_path(self._spool, name))
                    os.unlink(path)
                    sent += payload
                    if rate is not None:  # pace: never ahead of the limit on average
                        ahead = sent / rate - (time.monotonic() - began)
                        if ahead > 0:
                            time.sleep(ahead)
        finally:
            source.close()
            shutil.rmtree(local, ignore_errors=True)
        return sent, len(unique)

    def _open_spool(self):
        """The spool directory (made when missing, as the connection's user, in its remote tmp: the pieces are put
        there) and the pieces an interrupted run left in it, in one round trip."""
        base = self.get_shell_option('remote_tmp', default='~/.ansible/tmp')
        command = (f'd="$(echo {base})/{_firmware.SPOOL_NAME}" && umask 77 && mkdir -p "$d" && cd "$d" && pwd '
                   '&& ls -1')
        answer = self._low_level_execute_command(command, sudoable=False)
        lines = [line.strip() for line in answer.get('stdout', '').splitlines()]
        spool = next((line for line in lines if line.startswith('/')), None)
        if answer.get('rc') != 0 or spool is None:
            raise _StageFailed('transfer', f'terminal {self._host}: transfer: cannot make the spool directory '
                               f'{base}/{_firmware.SPOOL_NAME} ({(answer.get("stderr") or "").strip() or "no path"}). '
                               'Fix: give the connection user a writable remote_tmp (nothing was staged)')
        return spool, [line for line in lines if _firmware.PIECE_NAME_RE.fullmatch(line)]

    def _write_piece(self, source, local, index, segments):
        """Write piece ``index`` (its header, then its segments read from the bundle's ``_PayloadSource``) under
        ``local``, named by its sha256: ``(path, name, payload bytes)``."""
        digest = hashlib.sha256()
        scratch = os.path.join(local, f'{index:05d}.tmp')
        payload = 0
        with open(scratch, 'wb') as out:
            header = _firmware.piece_header(segments)
            out.write(header)
            digest.update(header)
            for segment in segments:
                try:
                    for data in source.read(segment['rel'], segment['offset'], segment['length']):
                        if not data:
                            raise _bundle.BundleError(f'the bundle ends inside {segment["rel"]}', 'copy the bundle '
                                                      'again')
                        out.write(data)
                        digest.update(data)
                except _bundle.BundleError as exc:
                    raise _StageFailed('transfer', f'terminal {self._host}: transfer: {exc.message} (nothing was '
                                       f'staged). Fix: {exc.fix}') from None
                payload += segment['length']
        name = _firmware.piece_name(index, digest.hexdigest())
        path = os.path.join(local, name)
        os.rename(scratch, path)
        return path, name, payload


class _PayloadSource:
    """Reads the segments of the pieces from the bundle's payload files in order: one open member read on from
    piece to piece (a member reader does not seek; a file resumed at an offset is read up to it once)."""

    def __init__(self, bundle):
        self._bundle = bundle
        self._rel = self._reader = None
        self._at = 0

    def read(self, rel, offset, length):
        """The bytes ``[offset, offset + length)`` of payload ``rel`` in blocks; an empty block: the bundle ended."""
        if rel != self._rel or offset < self._at:
            self.close()
            self._reader, self._rel, self._at = self._bundle.open_payload(rel), rel, 0
        while self._at < offset:  # skipped: what the terminal holds already
            skipped = self._reader.read(min(1 << 20, offset - self._at))
            if not skipped:
                yield b''
                return
            self._at += len(skipped)
        while length:
            data = self._reader.read(min(1 << 20, length))
            yield data
            if not data:
                return
            self._at += len(data)
            length -= len(data)

    def close(self):
        if self._reader is not None:
            self._reader.close()
        self._rel = self._reader = None
        self._at = 0


class _StageFailed(Exception):
    def __init__(self, stage, msg):
        super().__init__(msg)
        self.stage = stage


class _UpdateStop(Exception):
    """Stop with this result (a refusal)."""

    def __init__(self, result):
        super().__init__(result.get('msg'))
        self.result = result
