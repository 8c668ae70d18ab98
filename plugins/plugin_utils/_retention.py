# Copyright (c) posfleet developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Which backup snapshots retention forgets, for ``posfleet.terminals.backup_retention``.

restic decides with its own keep policy (``restic forget --dry-run``, per terminal); then one rule overrides
it: a snapshot holding a settlement record younger than the settlement retention (three years at least) is never
forgotten. A snapshot's ``settled=`` tag (written by ``posfleet.terminals.backup``) says the date of the newest
settlement record it holds, or ``none``; a snapshot without a readable one (taken by another tool, or a terminal
that gave no date) is taken to hold a settlement as young as the snapshot itself, which only errs on keeping.

Pure logic, no restic (and the module's options). Private to the collection (leading underscore): it may change
without notice.
"""

from __future__ import annotations

import datetime

from ansible_collections.posfleet.terminals.plugins.module_utils._backup import get_repository_argument_spec
from ansible_collections.posfleet.terminals.plugins.module_utils._ranges import Range

SETTLEMENT_YEARS = 3  # the guides' minimum: settlement records are kept at least three years
POLICY_OPTIONS = ('keep_last', 'keep_hourly', 'keep_daily', 'keep_weekly', 'keep_monthly', 'keep_yearly')
# The options of posfleet.terminals.backup_retention (its action plugin validates them).
ARGUMENT_SPEC = dict(
    get_repository_argument_spec(), **{option: {'type': 'int'} for option in POLICY_OPTIONS},
    keep_within={'type': 'str'}, settlement_years={'type': 'int', 'default': SETTLEMENT_YEARS},
    terminal_ids={'type': 'list', 'elements': 'str'}, prune={'type': 'bool', 'default': True},
    check={'type': 'bool', 'default': True}, read_data_subset={'type': 'str'},
    check_reuse_hours={'type': 'int', 'default': 0}, prune_interval_hours={'type': 'int', 'default': 0})
OPTION_RANGES = dict({option: Range(0, 100000, 'snapshots') for option in POLICY_OPTIONS},
                     timeout=Range(1, 86400, 'seconds'), settlement_years=Range(SETTLEMENT_YEARS, 100, 'years'),
                     check_reuse_hours=Range(0, 168, 'hours'), prune_interval_hours=Range(0, 8784, 'hours'))


def years_before(day, years):
    """The date ``years`` before ``day`` (``years`` < 0: after it); 29 February becomes 28 February."""
    try:
        return day.replace(year=day.year - years)
    except ValueError:
        return day.replace(year=day.year - years, day=28)


def _date(text):
    try:
        return datetime.date.fromisoformat(str(text)[:10])
    except ValueError:
        return None


def settlement_hold(snapshot, today, years):
    """Why ``snapshot`` (as restic lists it) must be kept on ``today`` whatever the policy says, or None: it holds
    a settlement record younger than ``years``."""
    cutoff = years_before(today, years)  # a settlement made on or before this date is old enough to go
    values = [str(tag).split('=', 1)[1] for tag in snapshot.get('tags') or () if str(tag).startswith('settled=')]
    if values and values[0] == 'none':
        return None
    settled = _date(values[0]) if values else None
    if settled is not None:
        if settled > cutoff:
            return (f'holds a settlement of {settled.isoformat()}, younger than {years} years: kept until '
                    f'{years_before(settled, -years).isoformat()}')
        return None
    taken = _date(snapshot.get('time', ''))
    if taken is None:
        return f'may hold a settlement younger than {years} years (no settled= tag and no readable time)'
    if taken > cutoff:
        return (f'may hold a settlement as young as itself (no settled= tag), younger than {years} years: kept '
                f'until {years_before(taken, -years).isoformat()}')
    return None


def brief(snapshot):
    return {'id': snapshot.get('id'), 'short_id': str(snapshot.get('id') or '')[:8], 'time': snapshot.get('time'),
            'tags': list(snapshot.get('tags') or [])}


def decide(plan, today, years=SETTLEMENT_YEARS):
    """``plan``: ``Repository.forget_plan`` output. Returns ``{terminals: {host: {kept, forgotten, held}},
    forget: [ids]}``: ``kept`` the policy keeps (with restic's reasons), ``held`` the policy would remove and the
    settlement rule keeps (with why), ``forgotten`` the rest."""
    terminals, forget = {}, []
    for group in plan:
        host = group.get('host') or ''
        entry = terminals.setdefault(host, {'kept': [], 'forgotten': [], 'held': []})
        for snapshot in group['keep']:
            entry['kept'].append(dict(brief(snapshot), why=group['reasons'].get(snapshot.get('id'), [])))
        for snapshot in group['remove']:
            hold = settlement_hold(snapshot, today, years)
            if hold:
                entry['held'].append(dict(brief(snapshot), why=[hold]))
            else:
                entry['forgotten'].append(brief(snapshot))
                forget.append(snapshot['id'])
    return {'terminals': terminals, 'forget': forget}
