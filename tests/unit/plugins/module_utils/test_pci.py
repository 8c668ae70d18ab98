# Copyright (c) posfleet developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""PCI DSS controls against file trees built from the reference terminal images' own configuration files.

``compliant`` is tests/images/terminal/rootfs + profiles/compliant, ``legacy`` adds profiles/legacy and the edits of
setup-profile.sh, so the tests follow the images: the legacy tree fails exactly the controls it breaks on purpose.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import sqlite3
import time

import pytest

from ansible_collections.posfleet.terminals.plugins.module_utils import _os, _pci

IMAGES = os.path.join(os.path.dirname(__file__), '..', '..', '..', 'images', 'terminal')
NOW = time.time()
DAY = int(NOW // 86400)

SSHD_DEFAULTS = {
    'permitrootlogin': 'prohibit-password', 'passwordauthentication': 'yes', 'permitemptypasswords': 'no',
    'hostbasedauthentication': 'no', 'ignorerhosts': 'yes', 'x11forwarding': 'no', 'allowtcpforwarding': 'yes',
    'permituserenvironment': 'no', 'loglevel': 'INFO', 'maxauthtries': '6', 'logingracetime': '120',
    'clientaliveinterval': '0', 'clientalivecountmax': '3',
    'ciphers': 'chacha20-poly1305@openssh.com,aes128-ctr,aes256-gcm@openssh.com',
    'macs': 'hmac-sha2-256-etm@openssh.com,hmac-sha2-512', 'kexalgorithms': 'curve25519-sha256',
    'hostkeyalgorithms': 'ssh-ed25519',
}

# The deliberate violations of the legacy image (docs/reference-terminal.md) -> the controls that must fail.
LEGACY_FAILS = {
    'ssh_permit_root_login', 'ssh_password_authentication', 'password_min_length', 'faillock_enabled',
    'faillock_deny', 'faillock_unlock_time', 'pam_no_nullok', 'vendor_default_passwords', 'listening_services',
    'no_insecure_protocols', 'enabled_services', 'file_journal', 'file_posd_logs', 'log_retention_posd',
    'acquirer_tls_version', 'pan_storage', 'sad_storage',
}


def sshd_t(root):
    """What ``sshd -T`` prints for the tree's sshd_config (first value wins, as in sshd)."""
    values = {}
    with open(os.path.join(root, 'etc/ssh/sshd_config'), encoding='utf-8') as handle:
        for line in handle:
            parts = line.split('#', 1)[0].split(None, 1)
            if len(parts) == 2 and parts[0].lower() != 'include':
                values.setdefault(parts[0].lower(), parts[1].strip().lower())
    merged = dict(SSHD_DEFAULTS, **values)
    return ''.join(f'{k} {v}\n' for k, v in merged.items())


def write(root, path, text, mode=0o644):
    full = os.path.join(root, path.lstrip('/'))
    os.makedirs(os.path.dirname(full), exist_ok=True)
    with open(full, 'w', encoding='utf-8') as handle:
        handle.write(text)
    os.chmod(full, mode)
    return full


def proc_tcp(ports):
    lines = ['  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode']
    for i, (addr, port) in enumerate(ports):
        lines.append(f'   {i}: {addr}:{port:04X} 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0 0 1')
    return '\n'.join(lines) + '\n'


def crypt_hash(password):
    crypt = _os.Crypt()
    if not crypt.available:
        pytest.skip('libcrypt not available')
    out = crypt._fn(password.encode(), b'$6$saltsaltsalt$')
    return out.decode()


def build(tmp_path, profile):
    root = str(tmp_path / profile)
    shutil.copytree(os.path.join(IMAGES, 'rootfs'), root, symlinks=True)
    shutil.copytree(os.path.join(IMAGES, 'profiles', profile), root, symlinks=True, dirs_exist_ok=True)
    write(root, '/usr/sbin/sshd', '', 0o755)
    write(root, '/etc/login.defs', 'PASS_MAX_DAYS\t90\nPASS_MIN_DAYS\t1\nENCRYPT_METHOD SHA512\n')
    write(root, '/etc/passwd', 'root:x:0:0:root:/root:/bin/bash\ndaemon:x:1:1::/usr/sbin:/usr/sbin/nologin\n'
          'posadmin:x:1000:1000::/home/posadmin:/bin/bash\nmaint:x:1001:1001::/home/maint:/bin/bash\n'
          'cashier:x:1002:1002::/home/cashier:/bin/bash\n')
    write(root, '/etc/group', 'root:x:0:\nadm:x:4:\nsudo:x:27:\nposadmin:x:1000:\n')
    maint = crypt_hash('posfleet') if profile == 'legacy' else crypt_hash('k7#Vq9!rT2xw')
    write(root, '/etc/shadow', f'root:*:{DAY}:0:99999:7:::\ndaemon:*:{DAY}:0:99999:7:::\n'
          f'posadmin:*:{DAY}:0::14:::\nmaint:{maint}:{DAY}:1:90:14:::\n'
          f'cashier:{crypt_hash("Zq8#mW2!pL5x")}:{DAY}:1:90:14:::\n', 0o640)
    os.chmod(os.path.join(root, 'etc/sudoers.d/posadmin'), 0o440)
    for name in ('ed25519', 'ecdsa', 'rsa'):
        write(root, f'/etc/ssh/ssh_host_{name}_key', 'key', 0o600)
    write(root, '/etc/posfleet/ca/acquirer-ca.pem', 'ca')
    write(root, '/etc/posfleet/terminal.json', json.dumps({'platform': 'posfleet-reference',
                                                           'terminal_id': 'SH01-T100-01', 'serial': 'PF1',
                                                           'model': 't100', 'store': 'sh01'}))
    write(root, '/var/log/auth.log', 'sshd[1]: Accepted publickey for posadmin\n', 0o640)
    os.makedirs(os.path.join(root, 'etc/posboot/services.d'), exist_ok=True)
    os.makedirs(os.path.join(root, 'var/log/posd'), exist_ok=True)
    os.chmod(os.path.join(root, 'var/log/posd'), 0o750)
    write(root, '/var/log/posd/posd.log', 'posd: sale approved pan=622848******1234\n', 0o640)
    journal = os.path.join(root, 'var/lib/posd/journal.db')
    os.makedirs(os.path.dirname(journal), exist_ok=True)
    conn = sqlite3.connect(journal)
    conn.execute('CREATE TABLE transactions (id INTEGER PRIMARY KEY, pan_masked TEXT NOT NULL)')
    conn.executemany('INSERT INTO transactions (pan_masked) VALUES (?)', [('622848******1234',), ('411111******1111',)])
    conn.commit()
    conn.close()
    os.chmod(journal, 0o600)
    listeners = [('00000000', 22), ('0B00007F', 45875)]
    if profile == 'legacy':
        sshd = os.path.join(root, 'etc/ssh/sshd_config')
        with open(sshd, encoding='utf-8') as handle:
            text = handle.read()
        text = re.sub(r'(?m)^PermitRootLogin .*', 'PermitRootLogin yes', text)
        text = re.sub(r'(?m)^PasswordAuthentication .*', 'PasswordAuthentication yes', text)
        write(root, '/etc/ssh/sshd_config', text)
        faillock = os.path.join(root, 'etc/security/faillock.conf')
        with open(faillock, encoding='utf-8') as handle:
            text = re.sub(r'(?m)^([a-z])', r'# \1', handle.read())
        write(root, '/etc/security/faillock.conf', text)
        os.chmod(journal, 0o644)
        os.chmod(os.path.join(root, 'var/log/posd'), 0o755)
        os.chmod(os.path.join(root, 'var/log/posd/debug.log'), 0o644)
        listeners.append(('00000000', 2323))
    else:
        os.chmod(os.path.join(root, 'etc/logrotate.d/posd'), 0o644)
    write(root, '/proc/net/tcp', proc_tcp(listeners))
    return root


def runner_for(root):
    def run(argv, timeout=30):
        assert argv[-1] == '-T'
        return 0, sshd_t(root), ''
    return run


OPTS = {'cashier_accounts': [{'name': 'cashier', 'reason': 'till login'}], 'pan_hash_key': 'unit-test-hash-key-0123',
        'approved_versions': {'firmware': '2.2.0'}}


def run_audit(root, fim_update=False, **opts):
    return _pci.audit(dict(OPTS, **opts), root=root, runner=runner_for(root), now=NOW, fim_update=fim_update)


def by_id(result):
    return {c['id']: c for c in result['controls']}


def test_at_least_forty_controls_each_mapped_to_pci_ids():
    assert len(_pci.CONTROLS) >= 40
    ids = [c.id for c in _pci.CONTROLS]
    assert len(ids) == len(set(ids))
    for spec in _pci.CONTROLS:
        assert spec.pci_dss and all(re.match(r'^\d+\.\d+(\.\d+)*$', ref) for ref in spec.pci_dss), spec.id
        assert spec.severity in ('low', 'medium', 'high', 'critical')
        assert spec.title and spec.remediation


def test_compliant_terminal_passes_everything(tmp_path):
    root = build(tmp_path, 'compliant')
    first = run_audit(root, fim_update=True)
    assert first['changed'] is True
    result = run_audit(root)
    controls = by_id(result)
    bad = {k: (v['status'], v['evidence']) for k, v in controls.items()
           if v['status'] not in ('pass', 'not_applicable')}
    assert bad == {}
    assert result['summary']['compliant'] is True and result['summary']['fail'] == 0
    assert controls['cashier_exemption']['status'] == 'not_applicable'
    assert 'POS cashier ID exempt' in controls['cashier_exemption']['evidence']
    assert controls['journald_retention']['status'] == 'not_applicable'
    assert run_audit(root, fim_update=True)['changed'] is False


def test_legacy_terminal_fails_each_deliberate_violation(tmp_path):
    root = build(tmp_path, 'legacy')
    run_audit(root, fim_update=True)
    result = run_audit(root)
    failing = {c['id'] for c in result['controls'] if c['status'] == 'fail'}
    assert failing == LEGACY_FAILS
    controls = by_id(result)
    assert 'maint' in controls['vendor_default_passwords']['evidence']
    assert 'posfleet' not in controls['vendor_default_passwords']['evidence']
    assert '4111111111111111' not in json.dumps(result)
    assert '************1111' in controls['pan_storage']['evidence']
    assert 'tcp/2323' in controls['listening_services']['evidence']
    assert result['summary']['compliant'] is False
    assert result['summary']['error'] == 0


def test_waiver_reports_waived_never_pass_and_expires(tmp_path):
    root = build(tmp_path, 'legacy')
    result = run_audit(root, waivers=[
        {'id': 'acquirer_tls_version', 'reason': 'acquirer migrates in Q1 (CHG-1)', 'expires': '2999-01-01'},
        {'id': 'password_min_length', 'reason': 'old', 'expires': '2000-01-01'},
        {'id': 'ssh_log_level', 'reason': 'passing control: waiver not used', 'expires': '2999-01-01'}])
    controls = by_id(result)
    assert controls['acquirer_tls_version']['status'] == 'waived'
    assert controls['acquirer_tls_version']['waiver']['reason'] == 'acquirer migrates in Q1 (CHG-1)'
    assert controls['password_min_length']['status'] == 'fail'
    assert 'waiver expired on 2000-01-01' in controls['password_min_length']['evidence']
    assert controls['ssh_log_level']['status'] == 'pass'
    assert result['summary']['waived'] == 1


def test_cashier_exemption_void_when_cashier_can_administer(tmp_path):
    root = build(tmp_path, 'compliant')
    write(root, '/etc/group', 'root:x:0:\nsudo:x:27:cashier\n')
    assert by_id(run_audit(root))['cashier_exemption']['status'] == 'fail'
    result = run_audit(root, cashier_accounts=[])
    assert by_id(result)['cashier_exemption']['evidence'].startswith('no POS cashier accounts')


def test_fim_detects_changes_and_check_mode_does_not_write(tmp_path):
    root = build(tmp_path, 'compliant')
    check = _pci.audit(dict(OPTS), root=root, runner=runner_for(root), now=NOW, fim_update=True, check_mode=True)
    assert check['changed'] is True
    assert not os.path.exists(os.path.join(root, 'var/lib/posfleet/fim-baseline.json'))
    run_audit(root, fim_update=True)
    write(root, '/etc/security/pwquality.conf', 'minlen = 14\nminclass = 3\n')
    write(root, '/etc/sudoers.d/extra', 'maint ALL=(ALL) ALL\n', 0o440)
    controls = by_id(run_audit(root))
    assert controls['fim_unchanged']['status'] == 'fail'
    assert '/etc/security/pwquality.conf' in controls['fim_unchanged']['evidence']
    assert '/etc/sudoers.d/extra' in controls['fim_unchanged']['evidence']


def test_approved_versions(tmp_path):
    root = build(tmp_path, 'compliant')
    write(root, '/var/lib/posboot/env.json', '{"active_slot": "a"}')
    write(root, '/slots/a/VERSION', '2.2.0\n')
    write(root, '/var/lib/dpkg/status', 'Package: openssh-server\nStatus: install ok installed\n'
          'Version: 1:9.2p1-2+deb12u3\n\nPackage: gone\nStatus: deinstall ok config-files\nVersion: 1\n')
    ok = by_id(run_audit(root, approved_versions={'firmware': '2.2.0', 'openssh-server': '1:9.2p1-2+deb12u3'}))
    assert ok['approved_versions']['status'] == 'pass'
    bad = by_id(run_audit(root, approved_versions={'firmware': '2.3.1', 'openssh-server': '1:9.2p1-2+deb12u5'}))
    assert bad['approved_versions']['status'] == 'fail'
    assert 'firmware 2.2.0 (approved 2.3.1)' in bad['approved_versions']['evidence']


@pytest.mark.parametrize('installed, minimum, ok', [
    ('1:9.2p1-2+deb12u5', '1:9.2p1-2+deb12u3', True),
    ('1:9.2p1-2+deb12u3', '1:9.2p1-2+deb12u5', False),
    ('9.2p1-2', '1:9.0', False),
    ('2.3.1', '2.3.1', True),
    ('2.3.1~rc1', '2.3.1', False),
    ('2.10.0', '2.9.9', True),
    ('3.0.20-1~deb12u2', '3.0.20-1', False),
    # dpkg says yes (a colon in the upstream part after an epoch); the comparison _os.py had raised on it.
    ('2:1.0:1-1', '2:1.0-1', True),
])
def test_approved_versions_use_debian_order(tmp_path, installed, minimum, ok):
    root = build(tmp_path, 'compliant')
    write(root, '/var/lib/dpkg/status', f'Package: pkg\nStatus: install ok installed\nVersion: {installed}\n')
    result = by_id(run_audit(root, approved_versions={'pkg': minimum}))['approved_versions']
    assert result['status'] == ('pass' if ok else 'fail'), result['evidence']


def test_approved_versions_fail_a_version_that_is_not_debian(tmp_path):
    root = build(tmp_path, 'compliant')
    write(root, '/var/lib/posboot/env.json', '{"active_slot": "a"}')
    write(root, '/slots/a/VERSION', 'v2.4\n')  # slots accept it; Debian order cannot place it
    result = by_id(run_audit(root, approved_versions={'firmware': '2.3.1'}))['approved_versions']
    assert result['status'] == 'fail'
    assert result['evidence'].startswith("not comparable as Debian versions: firmware v2.4 (approved 2.3.1): "
                                         "Debian version 'v2.4'")


@pytest.mark.parametrize('directives, months', [
    ({'daily': True, 'rotate': '365'}, 12.0),
    ({'weekly': True, 'rotate': '52'}, 12.0),
    ({'monthly': True, 'rotate': '3'}, 3.0),
    ({'daily': True, 'rotate': '365', 'maxage': '90'}, 3.0),
    ({'rotate': '4'}, 0.9),
    ({'daily': True}, 0.0),
])
def test_log_retention(directives, months):
    assert _os.retention_months(directives) == months


def test_unreadable_shadow_is_an_error_not_a_pass(tmp_path):
    root = build(tmp_path, 'compliant')
    os.remove(os.path.join(root, 'etc/shadow'))
    controls = by_id(run_audit(root))
    assert controls['vendor_default_passwords']['status'] == 'error'
    assert 'cannot read /etc/shadow' in controls['vendor_default_passwords']['evidence']


def test_no_sshd_is_not_applicable(tmp_path):
    root = build(tmp_path, 'compliant')
    os.remove(os.path.join(root, 'usr/sbin/sshd'))
    controls = by_id(run_audit(root))
    assert controls['ssh_permit_root_login']['status'] == 'not_applicable'


def test_inactive_account_and_weak_hash(tmp_path):
    root = build(tmp_path, 'compliant')
    old = DAY - 200
    write(root, '/etc/shadow', f'root:*:{DAY}:0:99999:7:::\nposadmin:*:{DAY}:0::14:::\n'
          f'maint:$1$abc$defdefdefdefdefdefdef12:{old}:1:90:14:::\ncashier:!:{old}:1:90:14:::\n', 0o640)
    controls = by_id(run_audit(root))
    assert controls['inactive_accounts']['status'] == 'fail'
    assert 'maint (200 days)' in controls['inactive_accounts']['evidence']
    assert controls['password_hashing']['status'] == 'fail'
    assert 'maint' in controls['password_hashing']['evidence']


def test_known_default_hash(tmp_path):
    root = build(tmp_path, 'compliant')
    with open(os.path.join(root, 'etc/shadow'), encoding='utf-8') as handle:
        maint_hash = [line.split(':')[1] for line in handle if line.startswith('maint:')][0]
    controls = by_id(run_audit(root, default_passwords=[], known_default_hashes=[maint_hash]))
    assert controls['vendor_default_passwords']['status'] == 'fail'


def test_firewall_policies(tmp_path):
    root = build(tmp_path, 'compliant')
    write(root, '/etc/nftables.conf', 'table inet filter {\n chain input {\n  type filter hook input priority 0; '
          'policy accept;\n  tcp dport { 22, 8080 } accept\n }\n}\n')
    controls = by_id(run_audit(root))
    assert controls['firewall_input_deny']['status'] == 'fail'
    assert controls['firewall_output_deny']['status'] == 'fail'
    assert controls['firewall_ruleset']['status'] == 'fail'
    assert '8080' in controls['firewall_inbound_ports']['evidence']


def test_remediable_controls_exist():
    ids = {c.id for c in _pci.CONTROLS}
    assert ids >= _pci.REMEDIABLE
    assert {c.id for c in _pci.CONTROLS if c.remediable} == set(_pci.REMEDIABLE)
    assert _pci.CONTROLS[0].tags == ['pci_2_2_7', 'pci_8_2_2']


# -- pan_storage and sad_storage fail closed: what the scan could not read is never a pass -------------------

def pan_controls(root, **opts):
    result = run_audit(root, controls=['pan_storage', 'sad_storage'], **opts)
    controls = by_id(result)
    return controls['pan_storage'], controls['sad_storage'], result


def test_pan_storage_with_zero_files_scanned_is_an_error(tmp_path):
    root = build(tmp_path, 'compliant')
    pan, sad, dummy = pan_controls(root, pan_paths=['/srv/nothing-here'])
    assert pan['status'] == 'error' and '0 files scanned' in pan['evidence']
    assert sad['status'] == 'error'


def test_pan_storage_with_a_symlinked_path_is_an_error_naming_it(tmp_path):
    root = build(tmp_path, 'compliant')
    os.symlink(os.path.join(root, 'var/log/posd'), os.path.join(root, 'var/posd-logs'))
    pan, dummy, result = pan_controls(root, pan_paths=['/var/log', '/var/posd-logs'])
    assert pan['status'] == 'error'
    assert '/var/posd-logs (is a symbolic link' in pan['evidence']
    assert result['pan_scan']['errors'][0]['path'] == '/var/posd-logs'


def test_pan_storage_budget_reached_is_an_error(tmp_path):
    root = build(tmp_path, 'compliant')
    write(root, '/var/log/big.log', 'x' * 3_000_000)
    pan, sad, result = pan_controls(root, pan_max_scan_mb=1)
    assert pan['status'] == 'error' and 'byte budget of 1000000 bytes reached' in pan['evidence']
    assert sad['status'] == 'error' and result['pan_scan']['complete'] is False


@pytest.mark.skipif(os.geteuid() == 0, reason='root reads every file')
def test_pan_storage_with_an_unreadable_file_is_an_error(tmp_path):
    root = build(tmp_path, 'compliant')
    write(root, '/var/log/secret.log', 'x', 0o000)
    pan, dummy, dummy2 = pan_controls(root)
    assert pan['status'] == 'error' and '/var/log/secret.log' in pan['evidence']


def test_pan_storage_finds_a_card_number_in_a_corrupt_database(tmp_path):
    root = build(tmp_path, 'compliant')
    path = os.path.join(root, 'var/log/posd/cache.db')
    conn = sqlite3.connect(path)
    conn.execute('CREATE TABLE tx (id INTEGER PRIMARY KEY, note TEXT)')
    conn.execute("INSERT INTO tx (note) VALUES ('pan=4532015112830366')")
    conn.commit()
    conn.close()
    with open(path, 'r+b') as handle:
        handle.seek(100)
        handle.write(b'\xff' * 12)
    pan, dummy, result = pan_controls(root)
    assert pan['status'] == 'fail' and '************0366' in pan['evidence']
    assert 'not fully read' in pan['evidence'] and 'scanned as raw bytes' in pan['evidence']
    assert result['pan_scan']['findings'][0]['container'] == 'sqlite-raw'
    assert '4532015112830366' not in json.dumps(result) and '453201' not in json.dumps(result)
