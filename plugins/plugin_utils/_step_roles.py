# Copyright (c) posfleet developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Whether the role (and tasks file) a timetable step names is installed on the controller.

Found on public ground only: a collection is the Python package ``ansible_collections.<namespace>.<name>``
(the import path Ansible documents for a collection's Python content), so ``importlib.util.find_spec`` gives
its directory, whichever collections path it was installed in; this collection's own directory is the one
this file is in. A role is ``<collection>/roles/<role>`` with ``tasks/<tasks_from>[.yml|.yaml]``, the layout
of a collection role.
"""

from __future__ import annotations

import importlib.util
import os

# plugins/plugin_utils/_step_roles.py -> the collection's directory
OWN_COLLECTION = "posfleet.terminals"
OWN_COLLECTION_DIR = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def collection_dir(collection):
    """The directory of the installed collection ``namespace.name``, or None when it is not installed."""
    if collection == OWN_COLLECTION:
        return OWN_COLLECTION_DIR
    try:
        spec = importlib.util.find_spec(f"ansible_collections.{collection}")
    except (ImportError, ValueError):  # its namespace is not installed either, or the name is not a package name
        return None
    locations = list(spec.submodule_search_locations or []) if spec is not None else []
    return locations[0] if locations else None


def resolve_role(fqcn, tasks_from="main"):
    """True when the role ``fqcn`` (namespace.collection.role) and its tasks file are installed on the
    controller."""
    parts = str(fqcn).split(".")
    if len(parts) != 3 or not all(parts):
        return False
    found = collection_dir(".".join(parts[:2]))
    if found is None:
        return False
    tasks = os.path.join(found, "roles", parts[2], "tasks", tasks_from)
    return any(os.path.isfile(tasks + ext) for ext in ("", ".yml", ".yaml"))
