# Copyright (c) posfleet developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

from ansible_collections.posfleet.terminals.plugins.plugin_utils._report import (
    fleet_html,
    fleet_report,
    fleet_summary,
    host_report,
)


class FilterModule:
    """Fleet report filters."""

    def filters(self):
        return {
            "host_report": host_report,
            "fleet_report": fleet_report,
            "fleet_summary": fleet_summary,
            "fleet_html": fleet_html,
        }
