# Copyright (c) posfleet developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The target-side platform layer (DESIGN decision 5).

Every module asks a terminal the same questions (who are you, which firmware is in which slot, how are
the peripherals, enter maintenance mode, ...) through a ``Platform`` (``base.py``: the contract).
``load_platform()`` reads ``/etc/posfleet/terminal.json`` and picks the class from its ``platform`` key in
``PLATFORMS``, so supporting a vendor's terminal means adding a module beside ``reference.py`` and one line
in the registry below, not editing every module. Each platform is imported statically so that Ansible ships
it with the modules.

Private to the collection (leading underscore): it may change without notice.
Target-side code: Python >= 3.9 standard library only.
"""

from __future__ import annotations

import os

from ansible_collections.posfleet.terminals.plugins.module_utils import _untrusted

# The write side's input rules (hash_problem, parse_key, manifest_problems) are re-exported for modules that
# check their input before they ask the platform to write (check mode, diff): the very functions the platforms
# apply, so a module never judges input differently.
from ansible_collections.posfleet.terminals.plugins.module_utils._platform.accounts import (  # noqa: F401
    hash_problem,
    parse_key,
)
from ansible_collections.posfleet.terminals.plugins.module_utils._platform.base import (  # noqa: F401 (re-exported)
    DEFAULT_MAINTENANCE_LEASE,
    DEVICES,
    IDENTITY_FILE,
    MAINTENANCE_LEASE_RANGE,
    MAX_MAINTENANCE_HOLDER,
    RECORD_KEYS,
    Platform,
    TerminalError,
    abstract,
    as_int,
    contract_methods,
    maintenance_lease,
    read_json,
    tcp_probe,
    unimplemented,
)
from ansible_collections.posfleet.terminals.plugins.module_utils._platform.reference import (  # noqa: F401
    DaemonClient,
    ReferencePlatform,
)
from ansible_collections.posfleet.terminals.plugins.module_utils._platform.slots import (  # noqa: F401
    manifest_problems,
)

# The registry: the ``platform`` key of /etc/posfleet/terminal.json -> the class that answers for it.
PLATFORMS = {
    ReferencePlatform.name: ReferencePlatform,
}


def load_platform(root='/', platforms=None, **kwargs):
    """The Platform of the terminal this code runs on, chosen by ``/etc/posfleet/terminal.json``."""
    registry = PLATFORMS if platforms is None else platforms
    path = IDENTITY_FILE if root in ('', '/') else os.path.join(root, IDENTITY_FILE.lstrip('/'))
    fix = f'boot the terminal once with POSFLEET_TERMINAL_ID set, or restore {IDENTITY_FILE}'
    try:
        terminal = read_json(path, 'identity', fix=fix)
    except TerminalError as exc:
        if 'does not exist' in exc.message:
            exc.message = (f'{IDENTITY_FILE} does not exist '
                           '(not a posfleet terminal, or it has not completed its first boot)')
            exc.fix = 'check that the inventory host is a terminal; ' + fix
        raise
    terminal_id = terminal.get('terminal_id') if _untrusted.is_identifier(terminal.get('terminal_id')) else None
    name = terminal.get('platform')
    supported = ', '.join(sorted(registry)) or 'none'
    if not name:
        raise TerminalError('identity', f'{IDENTITY_FILE} has no "platform" key (supported: {supported})',
                            f'add "platform": "{ReferencePlatform.name}" to {IDENTITY_FILE}', terminal_id)
    cls = registry.get(name)
    if cls is None:
        raise TerminalError('identity',
                            f'platform {name!r} is not supported by posfleet.terminals (supported: {supported})',
                            'upgrade the posfleet.terminals collection, or add a platform class to its platform '
                            'layer (plugins/module_utils/_platform/)', terminal_id)
    return cls(terminal, root=root, **kwargs)
