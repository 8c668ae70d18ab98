"""The collection's action plugins built for a task, on the controller, without a play."""

from __future__ import annotations

import importlib
import types

import pytest
from ansible.module_utils import _internal


@pytest.fixture
def make_action():
    """make_action(name, args, check_mode=False, diff=False) -> the action plugin ``name`` of this collection for a
    task with ``args`` (the attributes of a task that the actions read: Task.load would start the plugin loader).

    The controller side is imported here, not at collection: importing it flags the process as a controller (module
    warnings then go to the display), which the in-process module tests must not see."""
    was = _internal.is_controller
    from ansible.parsing.dataloader import DataLoader
    from ansible.playbook.play_context import PlayContext
    from ansible.plugins.connection.local import Connection
    from ansible.template import Templar

    def make(name, args, check_mode=False, diff=False):
        plugin = importlib.import_module(f'ansible_collections.posfleet.terminals.plugins.action.{name}')
        task = types.SimpleNamespace(action=f'posfleet.terminals.{name}', args=args, check_mode=check_mode,
                                     async_val=0, diff=diff)
        loader = DataLoader()
        context = PlayContext()
        # The connection is never used: these actions run on the controller.
        return plugin.ActionModule(task, Connection(context), context, loader, Templar(loader=loader), None)

    yield make
    _internal.is_controller = was
