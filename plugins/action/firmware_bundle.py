# Copyright (c) posfleet developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Controller side of firmware_bundle (documentation: plugins/modules/firmware_bundle.py).

Key pairs, bundles and their inspection all live on the controller: the action runs in the worker process with
``plugin_utils/_bundle.py``; no module is shipped and no connection is made. The signing key never leaves the
controller and never enters a result.
"""

from __future__ import annotations

import os

from ansible.plugins.action import ActionBase

from ansible_collections.posfleet.terminals.plugins.plugin_utils import _bundle

ARGUMENT_SPEC = {
    "state": {"type": "str", "required": True, "choices": ["keypair", "bundle", "inspect"]},
    "private_key": {"type": "path"},
    "public_key": {"type": "path"},
    "passphrase": {"type": "str", "no_log": True},
    "force": {"type": "bool", "default": False},
    "src": {"type": "path"},
    "dest": {"type": "path"},
    "version": {"type": "str"},
    "models": {"type": "list", "elements": "str"},
    "hardware_revisions": {"type": "list", "elements": "str", "default": []},
    "min_source_version": {"type": "str"},
    "security_version": {"type": "int", "default": 0},
    "valid_days": {"type": "int", "default": 365},
    "created": {"type": "str"},
    "description": {"type": "str"},
    "path": {"type": "path"},
    "trusted_keys": {"type": "list", "elements": "str", "default": []},
    "revoked_keys": {"type": "list", "elements": "str", "default": []},
    "verify": {"type": "bool", "default": False},
}
REQUIRED_IF = [
    ["state", "keypair", ["private_key", "public_key"]],
    ["state", "bundle", ["src", "dest", "private_key", "version", "models"]],
    ["state", "inspect", ["path"]],
]


def _diffable(manifest):
    """A manifest as a diff shows it: the payload as ``{rel: sha256}``, so a changed file is one line."""
    if manifest is None:
        return {}
    shown = {name: value for name, value in manifest.items() if name != "files"}
    shown["files"] = {rel: entry["sha256"] for rel, entry in sorted(manifest["files"].items())}
    return shown


def _public_pem(path):
    with open(path, "rb") as handle:
        return handle.read().decode("ascii", "replace")


class ActionModule(ActionBase):
    TRANSFERS_FILES = False
    _requires_connection = False

    def run(self, tmp=None, task_vars=None):
        result = super().run(tmp, task_vars)
        del tmp
        _validation, args = self.validate_argument_spec(argument_spec=ARGUMENT_SPEC, required_if=REQUIRED_IF)
        result["changed"] = False
        state = args["state"]
        try:
            result.update(getattr(self, f"_state_{state}")(args))
        except _bundle.BundleError as exc:
            result.update(failed=True, msg=f"firmware_bundle state={state}: {exc}")
        return result

    # --- state=keypair ----------------------------------------------------------------------------------------

    def _state_keypair(self, args):
        private, public, passphrase = args["private_key"], args["public_key"], args["passphrase"]
        have_private, have_public = os.path.exists(private), os.path.exists(public)
        before = {"private_key": "present" if have_private else "absent",
                  "public_key": "present" if have_public else "absent"}
        if have_private and not args["force"]:
            # Keep the key that bundles are already signed with; only a missing public half is written again.
            pem, key_id = _bundle.public_key_of(private, passphrase)
            if have_public:
                if _bundle.key_id(_public_pem(public)) != key_id:
                    raise _bundle.BundleError(f"the public key {public} is not the public half of {private}",
                                              "give the matching public key path, or force: true to make a new "
                                              "key pair (bundles signed with the old key stop verifying)")
                return {"key_id": key_id, "private_key": private, "public_key": public, "public_key_pem": pem}
            if not self._task.check_mode:
                _bundle.write_public_key(public, pem)
            return self._with_diff({"changed": True, "key_id": key_id, "private_key": private, "public_key": public,
                                    "public_key_pem": pem, "msg": f"wrote the public key {public} of {private}"},
                                   before, {"private_key": "present", "public_key": "present"})
        after = {"private_key": "present", "public_key": "present"}
        if self._task.check_mode:
            return self._with_diff({"changed": True, "private_key": private, "public_key": public,
                                    "msg": "would generate a new key pair"}, before, after)
        made = _bundle.generate_keypair(private, public, passphrase)
        made.update(changed=True, public_key_pem=_public_pem(public), msg=f"generated key {made['key_id']}")
        return self._with_diff(made, before, after)

    # --- state=bundle -----------------------------------------------------------------------------------------

    def _state_bundle(self, args):
        plan = _bundle.plan_build(
            args["src"], args["private_key"], passphrase=args["passphrase"], version=args["version"],
            models=args["models"], hardware_revisions=args["hardware_revisions"],
            min_source_version=args["min_source_version"], security_version=args["security_version"],
            valid_days=args["valid_days"], description=args["description"], now=args["created"])
        dest = args["dest"]
        reasons = (["force: true"] if args["force"] else
                   _bundle.stale_reasons(dest, plan, pinned_created=args["created"] is not None))
        result = {"dest": dest, "key_id": plan.manifest["key_id"], "rebuild_reasons": reasons}
        if not reasons:
            existing = _bundle.read_bundle(dest)
            result.update(manifest=existing.manifest, sha256=existing.sha256, size=existing.size,
                          msg=f"{dest} is up to date (version {existing.manifest['version']})")
            return result
        old = None
        if os.path.exists(dest):
            try:
                old = _bundle.read_bundle(dest).manifest
            except _bundle.BundleError:
                old = None
        result.update(changed=True, manifest=plan.manifest)
        if self._task.check_mode:
            result["msg"] = f"would build {dest} (version {plan.manifest['version']}): {'; '.join(reasons)}"
        else:
            _bundle.write_plan(plan, dest)
            written = _bundle.read_bundle(dest)
            result.update(sha256=written.sha256, size=written.size,
                          msg=f"built {dest} (version {plan.manifest['version']}, {len(plan.manifest['files'])} "
                              f"files, {written.size} bytes)")
        return self._with_diff(result, _diffable(old), _diffable(plan.manifest))

    # --- state=inspect ----------------------------------------------------------------------------------------

    def _state_inspect(self, args):
        bundle = _bundle.read_bundle(args["path"])
        result = {"path": args["path"], "manifest": bundle.manifest, "key_id": bundle.manifest["key_id"],
                  "sha256": bundle.sha256, "size": bundle.size, "verified": False, "problems": []}
        if not args["trusted_keys"]:
            result["problems"] = [f"not verified: no trusted_keys given. Fix: give the public keys you trust "
                                  f"(this bundle is signed by key {bundle.manifest['key_id']})"]
        else:
            trust = _bundle.load_trust(args["trusted_keys"], args["revoked_keys"])
            try:
                _bundle.verify(bundle, trust)
                result["verified"] = True
            except _bundle.BundleError as exc:
                result["problems"] = [str(exc)]
        if result["verified"]:
            result["msg"] = f"{args['path']}: version {bundle.manifest['version']}, signed by trusted key " \
                            f"{bundle.manifest['key_id']}, intact"
        else:
            result["msg"] = f"{args['path']}: version {bundle.manifest['version']}, NOT verified: " \
                            f"{result['problems'][0]}"
            if args["verify"]:
                result["failed"] = True
        return result

    def _with_diff(self, result, before, after):
        if self._task.diff:
            result["diff"] = {"before": before, "after": after}
        return result
