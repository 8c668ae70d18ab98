# Copyright (c) posfleet developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations


class ModuleDocFragment:
    # The options naming a restic repository, shared by the backup plugins (argument spec:
    # module_utils/_backup.py get_repository_argument_spec).
    DOCUMENTATION = r"""
options:
  repository:
    description:
      - The restic repository, required - a directory on the controller (created with C(restic init) by the first
        backup), or any restic location such as C(rest:http://127.0.0.1:8000/) (a restic REST server, e.g.
        C(rclone serve restic --append-only)), C(sftp:backup@host:/srv/restic) or C(s3:...).
      - Credentials do not belong here; give the REST server's in O(repository_user) and
        O(repository_user_password).
    type: str
  repository_password:
    description:
      - The repository's password (restic encrypts everything with it), required. Keep it in an Ansible Vault
        variable.
    type: str
  repository_user:
    description: The user name of a REST server that asks for one (HTTP basic authentication).
    type: str
  repository_user_password:
    description:
      - The password of O(repository_user). On an append-only server the backup credential can add snapshots and
        never remove one; retention runs with a maintenance credential that may delete.
    type: str
  cache_dir:
    description: restic's cache on the controller. Default C(~/.cache/posfleet/restic).
    type: path
  timeout:
    description: Seconds any one restic command may take (restic itself never gives up on a server that stops
      answering).
    type: int
    default: 600
requirements:
  - restic 0.14 or later on the controller (Debian's C(restic)).
notes:
  - The repository password and the REST server's credential are given to restic through pipes
    (C(--password-file /dev/fd/N), C(--repository-file /dev/fd/M)), never on a command line, in the environment
    or in the output.
"""
