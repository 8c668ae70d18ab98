# Copyright (c) posfleet developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The preconditions of every update and revert (firmware and software alike): the terminal is in maintenance
mode, its open batch is settled (or an override reason is recorded), a mobile terminal's battery holds enough
charge, and the terminal has the free space the update needs.

One home, so both modules refuse the same terminal for the same reasons with the same words. ``read_facts``
reads what the rules need (a read that fails is data, never an exception); ``problems`` judges those facts
and returns every problem, not only the first, so an admin fixes them all before the next run.

The battery rule: a terminal whose model has a battery is refused below ``min_battery_pct``, and also when its
charge cannot be read (a battery that does not report is not known to last the update); ``min_battery_pct: 0``
turns the battery rule off, the override for a terminal whose battery gauge is broken.

Private to the collection (leading underscore): it may change without notice.
Target-side code: Python >= 3.9 standard library only.
"""

from __future__ import annotations

from ansible_collections.posfleet.terminals.plugins.module_utils._platform import TerminalError

MAINTENANCE_FIX = 'enter it first with posfleet.terminals.maintenance_mode (state: enabled)'
SPACE_FIX = 'free space on the terminal (old logs, receipts), then run again'


def _number(value):
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def read_facts(platform, model=None, daemon=None):
    """``{mobile, maintenance, journal, battery}`` of the terminal for ``problems``.

    ``model`` and ``daemon`` are ``platform.model()`` and ``platform.daemon_info()`` when the caller has read them
    already. A daemon that is not running answers nothing live: maintenance mode and the batch then carry its
    error. ``battery`` is ``None`` for a terminal without one, else ``{charge_pct, charging, error}``."""
    model = model if model is not None else platform.model()
    down = None
    if daemon is not None and not daemon.get('running'):
        down = f'the terminal daemon is not running: {daemon.get("error") or "no answer"}'
    if down:
        maintenance, journal = {'enabled': False, 'error': down}, {'error': down}
    else:
        try:
            maintenance = platform.maintenance_state(live=True)
        except TerminalError as exc:
            maintenance = {'enabled': False, 'error': exc.message}
        try:
            journal = platform.journal_summary()
        except TerminalError as exc:
            journal = {'error': exc.message}
    mobile = bool((model.get('peripherals') or {}).get('battery'))
    battery = None
    if mobile:
        try:
            state = platform.peripherals().get('battery') or {}
        except TerminalError as exc:
            state = {'error': exc.message}
        error = state.get('error')
        if not error and not state.get('present'):
            error = 'the battery does not report'
        battery = {'charge_pct': state.get('charge_pct'), 'charging': state.get('charging'), 'error': error}
    return {'mobile': mobile, 'maintenance': maintenance, 'journal': journal, 'battery': battery}


def space_problem(free_bytes, need_bytes, step, terminal_id=None):
    """The free-space problem (a TerminalError) when ``free_bytes`` is short of ``need_bytes``, else ``None``."""
    if free_bytes >= need_bytes:
        return None
    return TerminalError(step, f'{free_bytes // 1048576} MiB are free, the update needs {-(-need_bytes // 1048576)} '
                         'MiB', SPACE_FIX, terminal_id)


def _batch_readable(journal):
    unsettled = journal.get('unsettled_count')
    return not journal.get('error') and isinstance(unsettled, int) and not isinstance(unsettled, bool)


def settlement_override(facts, options):
    """The ``settlement_override_reason`` the update goes ahead under (recorded in its result), or ``None`` when
    the open batch is settled and no override is needed."""
    journal = facts.get('journal') or {}
    if _batch_readable(journal) and journal.get('unsettled_count') == 0:
        return None
    return options.get('settlement_override_reason') or None


def problems(facts, options, step, terminal_id=None, space=None):
    """Every precondition the update breaks, in a fixed order, as TerminalErrors (``[]``: it may go ahead).

    ``facts`` is ``read_facts``' answer; ``options`` holds ``settlement_override_reason`` and
    ``min_battery_pct``; ``space`` is ``(free_bytes, need_bytes)`` when the sizes are known here."""
    found = []

    def refuse(message, fix):
        found.append(TerminalError(step, message, fix, terminal_id))

    maintenance = facts.get('maintenance') or {}
    if not maintenance.get('enabled'):
        why = maintenance.get('error')
        refuse('the terminal is not in maintenance mode' + (f' ({why})' if why else ''), MAINTENANCE_FIX)
    journal = facts.get('journal') or {}
    unsettled = journal.get('unsettled_count')
    if not options.get('settlement_override_reason'):
        if not _batch_readable(journal):
            refuse(f'the open batch cannot be read ({journal.get("error") or "no unsettled count"})',
                   'check the terminal daemon (posfleet.terminals.selftest), or give settlement_override_reason '
                   '(it is recorded)')
        elif unsettled:
            amount = f'{journal.get("unsettled_amount_minor")} {journal.get("currency") or ""}'.strip()
            refuse(f'the open batch is not settled: {unsettled} unsettled transaction(s), {amount} in minor units',
                   'settle the batch first, or give settlement_override_reason (it is recorded)')
    battery = facts.get('battery')
    floor = options.get('min_battery_pct') or 0
    if facts.get('mobile') and floor > 0:
        charge = (battery or {}).get('charge_pct')
        if not _number(charge):
            why = (battery or {}).get('error') or 'no charge reported'
            refuse(f'the battery charge of this mobile terminal cannot be read ({why})',
                   'check the battery (posfleet.terminals.selftest) or put the terminal on its charger; to update '
                   'it anyway, set min_battery_pct: 0 (no battery check)')
        elif charge < floor:
            refuse(f'the battery is at {charge}%, below min_battery_pct {floor}%',
                   f'put the terminal on its charger until it holds {floor}%, then run again')
    if space is not None:
        short = space_problem(space[0], space[1], step, terminal_id)
        if short:
            found.append(short)
    return found


def sentence(problem):
    """``Cause. Fix: what to do.`` of one problem (a TerminalError), for a list of several."""
    return f'{problem.message[:1].upper()}{problem.message[1:]}. Fix: {problem.fix}.'


def refusal(found, step, terminal_id=None):
    """One TerminalError that says every problem in ``found`` (non-empty): ``terminal X: step: Cause 1. Fix: fix 1.
    Cause 2. Fix: fix 2``; ``None`` when ``found`` is empty."""
    if not found:
        return None
    if len(found) == 1:
        return TerminalError(step, found[0].message, found[0].fix, terminal_id)
    last = found[-1]
    message = ' '.join(sentence(problem) for problem in found[:-1]) + f' {last.message[:1].upper()}{last.message[1:]}'
    return TerminalError(step, message, last.fix, terminal_id)
