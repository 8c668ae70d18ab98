# Copyright (c) posfleet developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Whether the role (and tasks file) a timetable step names is installed on the controller."""

from __future__ import annotations

import os


def _has_tasks(role_dir, tasks_from):
    return any(os.path.isfile(os.path.join(role_dir, "tasks", tasks_from + ext)) for ext in ("", ".yml", ".yaml"))


def resolve_role(fqcn, tasks_from="main"):
    """True when the role ``fqcn`` (namespace.collection.role) and its tasks file are installed on the
    controller."""
    try:
        from ansible.utils.collection_loader._collection_finder import _get_collection_role_path
    except ImportError:  # pragma: no cover
        return True
    try:
        found = _get_collection_role_path(fqcn)
    except Exception:
        return False
    return bool(found) and _has_tasks(found[1], tasks_from)


def roles_dir_resolver(roles_dir):
    """A resolver for this collection's roles, from its roles directory (tests, and a fallback)."""
    def resolve(fqcn, tasks_from="main"):
        return _has_tasks(os.path.join(roles_dir, fqcn.split(".")[-1]), tasks_from)
    return resolve
