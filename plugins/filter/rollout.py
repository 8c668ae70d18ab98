# Copyright (c) posfleet developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

from ansible.errors import AnsibleFilterError

from ansible_collections.posfleet.terminals.plugins.plugin_utils import _rollout


def _wrap(func):
    def run(*args, **kwargs):
        try:
            return func(*args, **kwargs)
        except _rollout.RolloutError as exc:
            raise AnsibleFilterError(str(exc)) from None
    run.__name__ = func.__name__
    run.__doc__ = func.__doc__
    return run


def rollout_order(hosts, rings=_rollout.DEFAULT_RINGS, groups=None, stores=None):
    """``_rollout.order``: ``groups`` is the ``groups`` magic variable (ring name -> hosts)."""
    return _rollout.order(hosts, rings, groups, stores)


def rollout_plan(ordered, waves=_rollout.DEFAULT_WAVES, stores=None, limits=None):
    return _rollout.plan(ordered, waves, stores, limits)


def rollout_verdict(batch, outcomes, ordered, waves=_rollout.DEFAULT_WAVES, thresholds=_rollout.DEFAULT_THRESHOLDS):
    """``_rollout.verdict`` of the wave ``batch`` (``ansible_play_batch``) belongs to."""
    wave = min((_rollout.wave_of(host, ordered, waves) for host in batch if host in ordered), default=0)
    return _rollout.verdict(wave, list(batch), outcomes or {}, thresholds)


def rollout_summary(ordered, outcomes, verdicts=(), stopped_at=None):
    return _rollout.summary(ordered, outcomes or {}, verdicts or (), stopped_at)


class FilterModule:
    """Rollout filters of update.yml: order, wave verdicts and the fleet summary."""

    def filters(self):
        return {
            "rollout_order": _wrap(rollout_order),
            "rollout_plan": _wrap(rollout_plan),
            "rollout_verdict": _wrap(rollout_verdict),
            "rollout_summary": _wrap(rollout_summary),
            "rollout_revert_targets": _wrap(_rollout.revert_targets),
        }
