# Copyright (c) posfleet developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

import glob
import os

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


def rollout_wave(plan, host):
    """The 0-based wave of ``host`` in ``plan`` (``rollout_plan``'s result; None when it is not in the plan)."""
    if "wave_of" in plan:  # computed once by rollout_plan
        return plan["wave_of"].get(host)
    return _rollout.wave_of(host, plan["order"], plan["sizes"])


def rollout_batch(plan, wave):
    """The terminals of wave ``wave`` (0-based) of ``plan``, also those a failure removed from the play."""
    return _rollout.batch(plan["order"], plan["sizes"], int(wave))


def rollout_verdict(batch, outcomes, thresholds=_rollout.DEFAULT_THRESHOLDS, wave=0):
    return _rollout.verdict(int(wave), list(batch), outcomes or {}, thresholds)


def update_outcome(result, kind=_rollout.FIRMWARE, target=None, backup=None):
    return _rollout.outcome(result, kind, target, backup)


def _deb_beside(new_deb, name, version):
    """The .deb of ``name`` ``version`` in the directory of ``new_deb`` (any architecture), or None."""
    pattern = os.path.join(os.path.dirname(new_deb) or ".", _rollout.deb_file_name(glob.escape(name),
                                                                                   glob.escape(version), "*"))
    found = sorted(glob.glob(pattern))
    return found[0] if found else None


def software_revert_packages(previous_versions, packages, repository=None):
    return _rollout.revert_packages(previous_versions, packages, repository, find_deb=_deb_beside)


class FilterModule:
    """Rollout filters of update.yml: order, wave verdicts and the fleet summary."""

    def filters(self):
        return {
            "rollout_order": _wrap(rollout_order),
            "rollout_plan": _wrap(rollout_plan),
            "rollout_wave": _wrap(rollout_wave),
            "rollout_batch": _wrap(rollout_batch),
            "rollout_verdict": _wrap(rollout_verdict),
            "rollout_revert_targets": _wrap(_rollout.revert_targets),
            "update_outcome": _wrap(update_outcome),
            "software_revert_packages": _wrap(software_revert_packages),
        }
