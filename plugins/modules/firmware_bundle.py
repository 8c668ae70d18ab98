#!/usr/bin/python
# Copyright (c) posfleet developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

# This module is implemented as an action plugin (plugins/action/firmware_bundle.py): it runs on the controller.

from __future__ import annotations

DOCUMENTATION = r"""
module: firmware_bundle
short_description: Make signing keys, build and sign firmware bundles, inspect them (on the controller)
version_added: 0.1.0
author:
  - posfleet developers (@posfleet)
description:
  - A firmware bundle (C(.posfw)) is one file that carries a firmware slot for the terminals, with a manifest
    signed by an Ed25519 key. The manifest names the version, the terminal models and hardware revisions it fits,
    the minimum version a terminal must run before it may install it, a security version (the anti-rollback
    floor), when it was created and when it expires, and every payload file with its sha256, size and mode.
    M(posfleet.terminals.firmware) checks all of it on the controller before anything moves, and the terminal
    checks the sha256 of every file it receives.
  - The file is an uncompressed tar - C(manifest.json), C(manifest.sig), then C(payload/<path>) for each file -
    so C(tar tvf) lists it. Reading never extracts blindly - links, devices, absolute or C(..) names, duplicate
    members, members the manifest does not list, and a manifest or signature that is missing or not first are
    refused.
  - O(state=keypair) generates a signing key pair - the private key as PEM PKCS8, encrypted with O(passphrase)
    when one is given, with mode C(0600); the public key as PEM SubjectPublicKeyInfo. Terminals and playbooks
    trust a key by its public half (O(trusted_keys)); its key id is the first 16 hex digits of the sha256 of the
    raw public key.
  - O(state=bundle) builds and signs the bundle O(dest) from the payload directory O(src) (the slot's files;
    C(bin/posd) is required, regular files only). The bundle is written to a temporary file and renamed, so a
    reader sees the old bundle or the new one.
  - O(state=inspect) reads the bundle at O(path) and returns its manifest, key id, sha256 and size, and whether
    it verifies against O(trusted_keys) and O(revoked_keys) (signature by a trusted key that is not revoked, not
    expired, not created in the future, every payload file intact). A bundle that does not verify is reported
    (RV(verified=false), RV(problems)), not failed, unless O(verify=true). A file that is not a well-formed
    bundle fails the task.
  - Everything runs inside the controller process; no module is sent to a terminal and no connection is made.
    Run it on C(localhost), or with C(run_once) and C(delegate_to=localhost).
options:
  state:
    description: What to do; see the description.
    type: str
    required: true
    choices: [keypair, bundle, inspect]
  private_key:
    description:
      - The private key file. O(state=keypair) writes it; O(state=bundle) signs with it.
      - Keep it off the terminals and out of version control (or vault it).
    type: path
  public_key:
    description: The public key file that O(state=keypair) writes (or checks against O(private_key)).
    type: path
  passphrase:
    description:
      - The passphrase that encrypts the private key (O(state=keypair)) and unlocks it (O(state=bundle)).
      - Take it from a vaulted variable. It is never logged and never returned.
    type: str
  force:
    description:
      - O(state=keypair) - replace an existing key pair with a new one. Bundles signed with the old key then verify
        only as long as its public key stays trusted.
      - O(state=bundle) - rebuild the bundle even when it is up to date.
    type: bool
    default: false
  src:
    description: The payload directory (O(state=bundle)); its files become the slot's files, with their modes.
    type: path
  dest:
    description: The bundle file to write (O(state=bundle)), outside O(src). By convention C(<name>-<version>.posfw).
    type: path
  version:
    description: The firmware version the bundle installs (O(state=bundle)), compared in Debian version order.
    type: str
  models:
    description: The terminal models the bundle fits (O(state=bundle)), as the terminals report them (C(t100)).
    type: list
    elements: str
  hardware_revisions:
    description: The hardware revisions the bundle fits (O(state=bundle)); V([]) means every revision.
    type: list
    elements: str
    default: []
  min_source_version:
    description:
      - The oldest version a terminal may run to install this bundle (O(state=bundle)), for updates that need a
        bridge version first. Unset - any.
    type: str
  security_version:
    description:
      - The bundle's security version (O(state=bundle)), an integer that only goes up. A terminal remembers the
        highest one it committed and refuses bundles below it, even with
        O(posfleet.terminals.firmware#module:allow_downgrade). Raise it with every release that fixes a
        vulnerability, so that the fixed hole cannot be rolled back in.
    type: int
    default: 0
  valid_days:
    description:
      - How many days the bundle stays valid after it is created (O(state=bundle)). An expired bundle is refused,
        so an old bundle cannot be replayed forever (a freeze attack); rebuild bundles before they expire.
    type: int
    default: 365
  created:
    description:
      - The creation time to write into the manifest (O(state=bundle)), UTC, as C(2026-12-02T00:00:00Z). Default
        the current time.
      - For building test bundles only, such as one that is already expired. Bundles for terminals take the
        default.
      - When set, an existing bundle is up to date only if it was created at that time too.
    type: str
  description:
    description: Free text for people (O(state=bundle)), kept in the signed manifest.
    type: str
  path:
    description: The bundle to inspect (O(state=inspect)).
    type: path
  trusted_keys:
    description:
      - The public keys to verify against (O(state=inspect)), each PEM text or the path of a PEM file.
      - Without any, the bundle is read but not verified.
    type: list
    elements: str
    default: []
  revoked_keys:
    description:
      - Key ids that are no longer trusted (O(state=inspect)), even if their public key is in O(trusted_keys).
        Revoke a key when its private half may have leaked.
    type: list
    elements: str
    default: []
  verify:
    description: With O(state=inspect), fail the task when the bundle does not verify.
    type: bool
    default: false
extends_documentation_fragment:
  - posfleet.terminals.attributes.CONTROLLER
attributes:
  check_mode:
    description: Can run in C(check_mode) and return changed status prediction without modifying anything.
    support: full
    details: In check mode the key and the payload are read and the manifest is computed; nothing is written.
  diff_mode:
    support: full
    details:
      - O(state=bundle) shows the manifest before and after, with each payload file as its sha256.
      - O(state=keypair) shows which key files are present.
  idempotent:
    description: When run twice in a row with the same arguments, the second run reports no change.
    support: full
    details:
      - O(state=keypair) leaves an existing private key alone (it writes a missing public key from it).
      - O(state=bundle) leaves O(dest) alone (C(changed=false)) when it is a bundle signed by the same key, intact,
        not expired, whose manifest equals the one it would build in everything but C(created) and C(expires)
        (the same payload files, modes and options) and whose validity period is O(valid_days). RV(rebuild_reasons)
        says why it rebuilt.
notes:
  - The private key never leaves the controller and is never returned.
  - Building hashes every payload file twice (to plan and while writing, which catches a file changed mid-build).
seealso:
  - module: posfleet.terminals.firmware
"""

EXAMPLES = r"""
- name: Make the release signing key (once; keep the private key safe)
  posfleet.terminals.firmware_bundle:
    state: keypair
    private_key: /srv/posfleet/keys/release.key
    public_key: /srv/posfleet/keys/release.pub
    passphrase: "{{ vault_posfleet_release_passphrase }}"
  delegate_to: localhost
  run_once: true
  register: release_key

- name: Build and sign firmware 2.4.0 for the t100 and m200
  posfleet.terminals.firmware_bundle:
    state: bundle
    src: build/firmware-2.4.0/
    dest: /srv/posfleet/bundles/firmware-2.4.0.posfw
    private_key: /srv/posfleet/keys/release.key
    passphrase: "{{ vault_posfleet_release_passphrase }}"
    version: 2.4.0
    models: [t100, m200]
    min_source_version: 2.2.0
    security_version: 3
    description: Card reader timeout fix
  delegate_to: localhost
  run_once: true

- name: Inspect a bundle and fail unless it verifies
  posfleet.terminals.firmware_bundle:
    state: inspect
    path: /srv/posfleet/bundles/firmware-2.4.0.posfw
    trusted_keys:
      - /srv/posfleet/keys/release.pub
    revoked_keys:
      - 3f9a0c1d2e4b5a69
    verify: true
  delegate_to: localhost
  run_once: true
  register: inspected

- name: Show what it carries
  ansible.builtin.debug:
    msg: "{{ inspected.manifest.version }} for {{ inspected.manifest.models | join(', ') }}, {{ inspected.size }} bytes"
  run_once: true
"""

RETURN = r"""
msg:
  description: What was done, for people.
  returned: always
  type: str
  sample: built /srv/posfleet/bundles/firmware-2.4.0.posfw (version 2.4.0, 42 files, 20981760 bytes)
key_id:
  description: The key id - of the key pair (O(state=keypair)), of the signing key (O(state=bundle)), of the key
    the bundle says signed it (O(state=inspect)).
  returned: success, but not in check mode when a new key pair would be generated
  type: str
  sample: 3f9a0c1d2e4b5a69
private_key:
  description: The private key path (never its contents).
  returned: O(state=keypair)
  type: str
  sample: /srv/posfleet/keys/release.key
public_key:
  description: The public key path.
  returned: O(state=keypair)
  type: str
  sample: /srv/posfleet/keys/release.pub
public_key_pem:
  description: The public key as PEM text, to put into O(trusted_keys) or an inventory variable.
  returned: O(state=keypair), but not in check mode when a new key pair would be generated
  type: str
  sample: "-----BEGIN PUBLIC KEY-----\nMCowBQYDK2VwAyEA...\n-----END PUBLIC KEY-----\n"
dest:
  description: The bundle file.
  returned: O(state=bundle)
  type: str
  sample: /srv/posfleet/bundles/firmware-2.4.0.posfw
path:
  description: The bundle file.
  returned: O(state=inspect)
  type: str
  sample: /srv/posfleet/bundles/firmware-2.4.0.posfw
rebuild_reasons:
  description: Why O(dest) was (or in check mode would be) built; V([]) when it was up to date.
  returned: O(state=bundle)
  type: list
  elements: str
  sample: ["files differs"]
manifest:
  description:
    - The bundle's manifest. With O(state=bundle), the one written (or in check mode, the one that would be), or
      the existing bundle's when it was up to date.
  returned: O(state=bundle) or O(state=inspect)
  type: dict
  sample:
    format: posfleet-bundle/1
    kind: firmware
    version: 2.4.0
    models: [t100, m200]
    hardware_revisions: []
    min_source_version: 2.2.0
    security_version: 3
    created: "2026-12-02T00:00:00Z"
    expires: "2027-12-02T00:00:00Z"
    key_id: 3f9a0c1d2e4b5a69
    description: Card reader timeout fix
    files: {bin/posd: {sha256: 9d1c0e..., size: 39243, mode: "0755"}}
sha256:
  description: The sha256 of the whole bundle file.
  returned: O(state=inspect), and O(state=bundle) when not in check mode
  type: str
  sample: 5b0e2f8b1c1a4b5f0f4d1e0f7b2c3a4d5e6f708192a3b4c5d6e7f8091a2b3c4d
size:
  description: The size of the bundle file in bytes.
  returned: O(state=inspect), and O(state=bundle) when not in check mode
  type: int
  sample: 20981760
verified:
  description:
    - Whether the bundle is signed by a key of O(trusted_keys) that is not in O(revoked_keys), is not expired, was
      not created in the future (5 minutes of clock skew are allowed) and carries every payload file intact.
    - Compatibility with a terminal (model, revision, versions) is checked by M(posfleet.terminals.firmware).
  returned: O(state=inspect)
  type: bool
  sample: false
problems:
  description: Why the bundle does not verify, each ending with what to do (C(Fix:)); V([]) when it verifies.
  returned: O(state=inspect)
  type: list
  elements: str
  sample:
    - "bundle expired.posfw (version 2.4.0) expired at 2026-01-31T00:00:00Z. Fix: rebuild the bundle (an expired
      bundle may be an old one replayed: a freeze attack)"
"""
