# Copyright (c) posfleet developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

from ansible_collections.posfleet.terminals.plugins.plugin_utils._pci_report import (
    pci_host_report,
    pci_junit,
    pci_summary,
)


class FilterModule:
    """PCI DSS audit evidence filters."""

    def filters(self):
        return {
            "pci_host_report": pci_host_report,
            "pci_junit": pci_junit,
            "pci_summary": pci_summary,
        }
