# Copyright (c) posfleet developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The card number cannot be rebuilt from the evidence (PCI DSS 3.5.1 and its note on hashed and truncated
versions of the same PAN): the attack the review ran - every hash in the output against every Luhn-valid number
that fits the truncated form, with every string of the output as a salt or a key - finds nothing, even when the
attacker is also given the first six digits, and finds the number at once when given the key (so the attack is
sound and the key is the only secret)."""

from __future__ import annotations

import hashlib
import json

from pan_rebuild import rebuild

from ansible_collections.posfleet.terminals.plugins.module_utils import _pan

KEY = 'fleet-run-key-7Qx2mP9vL4'
PAN = '4532015112830366'          # Visa, Luhn-valid, not a published test number


def values_of(value):
    """Every string value of a result: the attacker's salt and key guesses (the words of a JSON document's keys
    are no secret; tests/unit/pan_rebuild.py tries every token when it reads a whole console log)."""
    if isinstance(value, dict):
        return set().union(*(values_of(v) for v in value.values())) if value else set()
    if isinstance(value, list):
        return set().union(*(values_of(v) for v in value)) if value else set()
    return {value} if isinstance(value, str) else set()


def attack(output, prefix, suffix, length):
    return rebuild(json.dumps(output), prefix, suffix, length, sorted(values_of(output) | {''}))


def scan_output(tmp_path):
    (tmp_path / 'debug.log').write_text(f'2026-11-21 posd: DEBUG card={PAN} amount=1250\n')
    return _pan.scan_paths([str(tmp_path)], KEY)


def test_the_attack_rebuilt_the_number_from_the_old_evidence():
    """The evidence as it was: first six and last four next to sha256(salt + PAN), the salt in the same output
    (an ad-hoc run printed it): the attack gets the number back."""
    salt = 'posfleet'
    old = {'invocation': {'module_args': {'salt': salt}},
           'findings': [{'masked': PAN[:6] + '******' + PAN[-4:],
                         'hash': 'sha256:' + hashlib.sha256((salt + PAN).encode()).hexdigest()}]}
    masked = old['findings'][0]['masked']
    assert attack(old, masked[:6], masked[-4:], len(masked)) == PAN


def test_the_number_cannot_be_rebuilt_from_the_evidence(tmp_path):
    output = scan_output(tmp_path)
    text = json.dumps(output)
    finding = output['findings'][0]
    assert PAN not in text and KEY not in text
    assert PAN[:6] not in text                       # no first six next to a hash
    assert finding['masked'] == '*' * 12 + PAN[-4:] and finding['hash'].startswith('hmac-sha256:')
    # Even an attacker who knows the first six (a receipt, the issuer) has 10^5 candidates and nothing to test
    # them against.
    assert attack(output, PAN[:6], finding['masked'][-4:], finding['length']) is None


def test_with_the_key_the_same_attack_succeeds(tmp_path):
    output = scan_output(tmp_path)
    finding = output['findings'][0]
    assert attack(dict(output, leaked=KEY), PAN[:6], finding['masked'][-4:], finding['length']) == PAN
