#!/usr/bin/env python
"""The platform's write side against a real reference terminal container (no mocks).

Builds the images (tests/images/build.sh), starts its own terminal container, copies plugins/module_utils into
it and drives the ReferencePlatform write methods there with the terminal's python3: stage a slot, start a
trial, reboot (the terminal's own `reboot`: PID 1 exits, Docker's restart policy boots it again), see the trial
boot, let the deadline pass and see the automatic fallback with its reason; stage + trial + commit; a quiesced
daemon killed during a trial is not a failed boot; snapshot the journal while transactions run; quiesce and
resume; restore; password hash + PAM check without a faillock count; authorized keys; records.
Usage: platform_write.py [--no-build] [--keep]. Ends with "N passed, N failed"; exit status 1 on any failure.
Removes its container unless --keep.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
# Container names start with POSFLEET_TEST_PREFIX (default: write), so parallel runs never meet.
NAME = f"{os.environ.get('POSFLEET_TEST_PREFIX', 'write')}-t100-{os.getpid()}"
IMAGE = 'posfleet/terminal:t100'
COLLECTION = '/tmp/posfleet-collection'
TRIAL_SECONDS = 30  # the platform's shortest trial deadline
PRELUDE = f'''
import json, os, sys, time
sys.path.insert(0, {COLLECTION!r})
from ansible_collections.posfleet.terminals.plugins.module_utils._platform import load_platform
from ansible_collections.posfleet.terminals.plugins.module_utils._platform import TerminalError, slots
p = load_platform()
'''
RESULTS = {'passed': 0, 'failed': 0}


def sh(argv, check=True, input_text=None, timeout=120):
    result = subprocess.run(argv, input=input_text, text=True, capture_output=True, timeout=timeout, check=False)
    if check and result.returncode != 0:
        raise RuntimeError(f'{" ".join(argv[:4])} ... exited {result.returncode}: {result.stderr.strip()[-800:]}')
    return result


def on_terminal(code, check=True):
    """Run Python ``code`` in the terminal (the platform is ``p``); it sets ``out``, printed back as JSON."""
    script = PRELUDE + textwrap.dedent(code) + '\nprint("@@" + json.dumps(out, default=str))\n'
    result = sh(['docker', 'exec', '-i', NAME, 'python3', '-'], check=check, input_text=script)
    for line in result.stdout.splitlines():
        if line.startswith('@@'):
            return json.loads(line[2:])
    raise RuntimeError(f'no answer from the terminal: {result.stdout[-500:]} {result.stderr[-1500:]}')


def call(expr):
    """``expr`` evaluated in the terminal; a TerminalError comes back as ``{"error": str}``."""
    return on_terminal(f'''
try:
    out = {expr}
except TerminalError as exc:
    out = {{"error": str(exc)}}
''')


def check(name, condition, detail=''):
    if condition:
        RESULTS['passed'] += 1
        print(f'ok   {name}', flush=True)
    else:
        RESULTS['failed'] += 1
        print(f'FAIL {name}', flush=True)
        if detail:
            print(textwrap.indent(str(detail)[-1500:], '     '), flush=True)
    return condition


def bootenv():
    return json.loads(sh(['docker', 'exec', NAME, 'posboot-env', 'get']).stdout)


def restart_count():
    return int(sh(['docker', 'inspect', '-f', '{{.RestartCount}}', NAME]).stdout.strip())


def wait_posd(timeout=90):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        res = sh(['docker', 'exec', NAME, 'posctl', 'status'], check=False, timeout=20)
        if res.returncode == 0:
            return json.loads(res.stdout)
        time.sleep(1)
    return None


def reboot():
    """The terminal's own reboot: SIGTERM to PID 1, which exits; Docker's restart policy boots it again."""
    before = restart_count()
    sh(['docker', 'exec', NAME, 'reboot'], check=False)
    return wait_restart(before)


def wait_restart(before, timeout=120):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and restart_count() <= before:
        time.sleep(1)
    return wait_posd()


def rows():
    out = sh(['docker', 'exec', NAME, 'sqlite3', '/var/lib/posd/journal.db', 'select count(*) from transactions'])
    return int(out.stdout.strip())


def image_is_current():
    hashes = dict(line.split() for line in sh(['bash', f'{HERE}/build.sh', '--print-hash']).stdout.splitlines())
    label = sh(['docker', 'image', 'inspect', '-f', '{{index .Config.Labels "posfleet.inputs"}}', IMAGE],
               check=False).stdout.strip()
    return label == hashes['terminal'] + '-t100'


def start_terminal():
    if '--no-build' not in sys.argv or not image_is_current():
        build = sh(['bash', f'{HERE}/build.sh'], check=False, timeout=3600)
        if build.returncode != 0:
            raise RuntimeError('build.sh failed: ' + build.stderr[-1500:])
    # Another checkout may retag the shared image between our build and our run: use it by id.
    image_id = sh(['docker', 'image', 'inspect', '-f', '{{.Id}}', IMAGE]).stdout.strip()
    if not image_is_current():
        raise RuntimeError(f'{IMAGE} was rebuilt from another checkout meanwhile; run again')
    sh(['docker', 'run', '-d', '--name', NAME, '--hostname', 'sh09-t100-01', '--restart', 'unless-stopped',
        '-e', 'POSFLEET_TERMINAL_ID=SH09-T100-01', '-e', 'POSD_TRICKLE_SECONDS=0.3', image_id])
    sh(['docker', 'exec', NAME, 'mkdir', '-p', f'{COLLECTION}/ansible_collections/posfleet/terminals/plugins'])
    sh(['docker', 'cp', f'{REPO}/plugins/module_utils',
        f'{NAME}:{COLLECTION}/ansible_collections/posfleet/terminals/plugins/module_utils'])


def firmware_checks():
    status = wait_posd()
    check('terminal boots slot a', status and status['slot'] == 'a', status)
    first_boot_id = call('p.boot_id()')
    staged = call('p.stage_slot("b", "/usr/lib/posfleet/firmware/2.2.0", '
                  'json.load(open("/usr/lib/posfleet/firmware/2.2.0/manifest.json")))')
    check('stage_slot writes the inactive slot', staged.get('changed') and staged.get('version') == '2.2.0', staged)
    check('staged slot b is bootable by the shared definition, slot a untouched',
          on_terminal('out = [slots.slot_problems("/slots/b"), slots.slot_problems("/slots/a"), '
                      'open("/slots/a/VERSION").read().strip()]') == [[], [], '2.3.1'])
    again = call('p.stage_slot("b", "/usr/lib/posfleet/firmware/2.2.0", '
                 'json.load(open("/usr/lib/posfleet/firmware/2.2.0/manifest.json")))')
    check('stage_slot again: not changed', again.get('changed') is False, again)
    refused = call('p.stage_slot("a", "/usr/lib/posfleet/firmware/2.2.0", '
                   'json.load(open("/usr/lib/posfleet/firmware/2.2.0/manifest.json")))')
    check('stage_slot refuses the active slot', 'active slot' in refused.get('error', ''), refused)

    trial = call(f'p.start_trial("b", {TRIAL_SECONDS})')
    started = time.monotonic()
    check('start_trial', trial.get('changed') and trial.get('reboot_required'), trial)
    early = call('p.commit_slot()')
    check('commit_slot refuses a trial that has not booted', 'has not booted' in early.get('error', ''), early)
    status = reboot()
    check('reboot: the trial boots slot b (2.2.0)', status and status['slot'] == 'b' and status['version'] == '2.2.0',
          status)
    check('boot_id changed with the reboot', call('p.boot_id()') not in (first_boot_id, None))
    env = bootenv()
    check('trial pending with bootcount 1', env['upgrade_available'] == 1 and env['bootcount'] == 1, env)
    count = restart_count()
    remaining = TRIAL_SECONDS - (time.monotonic() - started)
    print(f'     waiting {max(0, remaining):.0f} s for the trial deadline', flush=True)
    status = wait_restart(count, timeout=remaining + 90)
    env = bootenv()
    check('deadline passed: the terminal rebooted by itself into slot a', restart_count() > count and status
          and status['slot'] == 'a' and status['version'] == '2.3.1', status)
    check('boot environment keeps the fallback and its reason', env['active_slot'] == 'a'
          and env['upgrade_available'] == 0 and env['last_fallback']
          and 'not committed within its deadline' in (env.get('last_fallback_reason') or ''), env)
    facts = call('p.firmware()')
    check('firmware() reads the fallback', facts.get('active_slot') == 'a' and facts.get('state') == 'committed',
          facts)

    # Stage + trial + commit; on the way, a quiesced daemon that dies is not a failed trial boot.
    call('p.stage_slot("b", "/usr/lib/posfleet/firmware/2.2.0", '
         'json.load(open("/usr/lib/posfleet/firmware/2.2.0/manifest.json")))')
    trial = call('p.start_trial("b", 600)')
    status = reboot()
    check('second trial boots slot b', status and status['slot'] == 'b', status)
    count = restart_count()
    quiesced = call('p.quiesce_journal()')
    check('quiesce during the trial', quiesced.get('quiesced') is True, quiesced)
    sh(['docker', 'exec', NAME, 'kill', str(status['pid'])])
    time.sleep(4)
    after = wait_posd(30)
    env = bootenv()
    check('posd killed while quiesced: restarted, not a failed trial boot', restart_count() == count and after
          and after['pid'] != status['pid'] and after['slot'] == 'b' and env['upgrade_available'] == 1,
          {'after': after, 'env': env})
    check('a restarted posd holds its journal open again', after and not after.get('quiesced')
          and after['journal']['transactions_today'] is not None, after)
    committed = call('p.commit_slot()')
    check('commit_slot after the trial boot', committed.get('changed') and committed.get('slot') == 'b', committed)
    env = bootenv()
    check('committed: no trial pending, no deadline', env['upgrade_available'] == 0 and env['trial_deadline'] is None,
          env)
    status = reboot()
    check('reboot after commit stays on slot b', status and status['slot'] == 'b', status)
    check('commit_slot again: not changed', call('p.commit_slot()').get('changed') is False)

    staged = call('p.stage_slot("a", "/usr/lib/posfleet/firmware/2.3.1", '
                  'json.load(open("/usr/lib/posfleet/firmware/2.3.1/manifest.json")))')
    call('p.start_trial("a", 600)')
    rolled = call('p.rollback_slot("health check failed: printer")')
    env = bootenv()
    check('rollback_slot before the trial boot: back to b, reason kept, no reboot needed',
          rolled.get('changed') and rolled.get('reboot_required') is False and env['active_slot'] == 'b'
          and env['last_fallback_reason'] == 'rollback: health check failed: printer', {'rolled': rolled, 'env': env})

    # Firmware that passes every check but whose daemon crashes: the trial boots fail until bootlimit.
    crashing = on_terminal('''
import hashlib
os.makedirs("/tmp/crash/bin", exist_ok=True)
files = {}
for rel, text in (("bin/posd", "#!/bin/sh\\nexit 3\\n"), ("bin/posctl", "#!/bin/sh\\n")):
    with open("/tmp/crash/" + rel, "w") as handle:
        handle.write(text)
    os.chmod("/tmp/crash/" + rel, 0o755)
    files[rel] = hashlib.sha256(text.encode()).hexdigest()
manifest = {"version": "9.9.9", "models": ["t100"], "files": files}
out = [p.stage_slot("a", "/tmp/crash", manifest), p.start_trial("a", 600)]
''')
    check('stage + trial of firmware whose daemon crashes', all(r.get('changed') for r in crashing), crashing)
    before = restart_count()
    sh(['docker', 'exec', NAME, 'reboot'], check=False)
    deadline = time.monotonic() + 180
    env = {}
    while time.monotonic() < deadline:
        time.sleep(2)
        res = sh(['docker', 'exec', NAME, 'posboot-env', 'get'], check=False)
        if res.returncode == 0:
            env = json.loads(res.stdout)
            if env['active_slot'] == 'b' and env['upgrade_available'] == 0:
                break
    status = wait_posd()
    check('crashing trial: failed boots until bootlimit, then back on slot b by itself',
          restart_count() - before >= env.get('bootlimit', 3) + 1 and status and status['slot'] == 'b'
          and 'exceeded bootlimit' in (env.get('last_fallback_reason') or ''),
          {'restarts': restart_count() - before, 'env': env, 'status': status})


def journal_checks():
    # Transactions keep coming (trickle every 0.3 s plus a writer of training transactions).
    writer = subprocess.Popen(['docker', 'exec', NAME, 'sh', '-c',
                               'for i in $(seq 1 400); do posctl test_transaction >/dev/null 2>&1; done'])
    try:
        before = rows()
        snaps = [call(f'p.snapshot_journal("/var/tmp/snap{i}.db")') for i in range(3)]
        after = rows()
        check('snapshots while posd writes: integrity ok', all(s.get('integrity') == 'ok' for s in snaps), snaps)
        counts = [s.get('transactions') for s in snaps]
        check('snapshot row counts between the live counts before and after, and growing',
              before <= counts[0] <= counts[1] <= counts[2] <= after and after > before,
              {'before': before, 'snapshots': counts, 'after': after})
        check('each snapshot holds its rows 1..n without a gap', all(s['max_id'] == s['transactions'] for s in snaps),
              snaps)
        mode = sh(['docker', 'exec', NAME, 'stat', '-c', '%a', '/var/tmp/snap0.db']).stdout.strip()
        check('snapshot file is 0600 and self-contained (no -wal)', mode == '600' and sh(
            ['docker', 'exec', NAME, 'test', '!', '-e', '/var/tmp/snap0.db-wal'], check=False).returncode == 0, mode)
    finally:
        writer.kill()
        writer.wait()

    pid = wait_posd()['pid']
    quiesced = call('p.quiesce_journal()')
    check('quiesce_journal', quiesced.get('changed') and quiesced.get('quiesced'), quiesced)
    frozen = rows()
    time.sleep(2)
    status = wait_posd(10)
    refused = sh(['docker', 'exec', NAME, 'posctl', 'test_transaction'], check=False)
    check('quiesced: no new rows, posd answers, sales refused', rows() == frozen and status
          and status.get('quiesced') and 'quiesced' in refused.stdout, {'status': status, 'sale': refused.stdout})
    check('quiesced: the -wal is checkpointed away', sh(['docker', 'exec', NAME, 'test', '!', '-e',
                                                         '/var/lib/posd/journal.db-wal'], check=False).returncode == 0)
    resumed = call('p.resume_journal()')
    time.sleep(2)
    status = wait_posd(10)
    check('resume_journal: same posd trades again', resumed.get('changed') and status and status['pid'] == pid
          and not status.get('quiesced') and rows() > frozen, {'resumed': resumed, 'status': status})

    snap = call('p.snapshot_journal("/var/tmp/restore.db")')
    time.sleep(2)
    grown = rows()
    bad = call('p.restore_journal("/etc/passwd")')
    check('restore_journal refuses a file that is not a journal', 'not a transaction journal' in bad.get('error', '')
          and rows() >= grown, bad)
    restored = call('p.restore_journal("/var/tmp/restore.db")')
    check('restore_journal puts the snapshot back', restored.get('changed')
          and restored.get('transactions') == snap['transactions'] and grown > snap['transactions'],
          {'restored': restored, 'snapshot': snap['transactions'], 'live before': grown})
    time.sleep(2)
    status = wait_posd(10)
    integrity = sh(['docker', 'exec', NAME, 'sqlite3', '/var/lib/posd/journal.db', 'pragma integrity_check']).stdout
    check('after restore: posd serves and writes the restored journal', status and not status.get('quiesced')
          and integrity.strip() == 'ok' and snap['transactions'] < rows() < grown + 200,
          {'status': status and status.get('journal'), 'integrity': integrity})


def account_checks():
    good = 'Correct-Horse-9-Battery'
    hashed = sh(['docker', 'exec', '-i', NAME, 'openssl', 'passwd', '-6', '-stdin'], input_text=good).stdout.strip()
    result = call(f'p.set_password_hash("maint", {hashed!r})')
    check('set_password_hash', result.get('changed'), result)
    check('set_password_hash again: not changed', call(f'p.set_password_hash("maint", {hashed!r})').get('changed')
          is False)
    refused = call('p.set_password_hash("maint", "plain-text-password")')
    check('set_password_hash refuses a clear password', 'not a crypt(5) hash' in refused.get('error', ''), refused)
    entry = [a for a in call('p.accounts()') if a['user'] == 'maint']
    check('accounts() shows a hash (not the hash) and today as last change',
          entry and entry[0]['password'] == 'hash' and hashed not in json.dumps(entry)
          and entry[0]['last_change'] == time.strftime('%Y-%m-%d', time.gmtime()), entry)

    # One real failed login first (through PAM, not restored): the checks must leave it exactly as it is.
    on_terminal('''
from ansible_collections.posfleet.terminals.plugins.module_utils._platform import pam
out = pam.pam_authenticate("login", "maint", "a real typo")
''')
    tally_before = sh(['docker', 'exec', NAME, 'faillock', '--user', 'maint'], check=False).stdout
    answers = [call(f'p.verify_password("maint", {pw!r})') for pw in [good] + ['wrong'] * 8 + [good]]
    tally_after = sh(['docker', 'exec', NAME, 'faillock', '--user', 'maint'], check=False).stdout
    check('verify_password: true, false x8, true (deny = 6: no lockout)', answers == [True] + [False] * 8 + [True],
          answers)
    failures = [line for line in tally_after.splitlines() if line[:1].isdigit()]
    check('faillock counter unchanged by the checks (the one real failure kept)',
          tally_before == tally_after and len(failures) == 1, tally_after)

    index = call(f'p.password_hash_index("maint", ["$6$othersalt$" + "y" * 86, {hashed!r}])')
    check('password_hash_index: the stored one of two hashes (never the hash itself)', index == 1, index)
    defaults = [call(f'p.password_is_one_of("maint", ["pos123", {good!r}])'),
                call('p.password_is_one_of("maint", ["pos123", "166816"])')]
    check('password_is_one_of: a vendor default found by crypt, not by a login', defaults == [True, False], defaults)
    check('password_is_one_of counted no failed login',
          sh(['docker', 'exec', NAME, 'faillock', '--user', 'maint'], check=False).stdout == tally_after)
    methods = call('p.password_methods()')
    check('password_methods: yescrypt first (bookworm libcrypt1)', methods[:1] == ['yescrypt'], methods)
    aging = [call('p.set_password_aging("maint", 60, 7)'), call('p.set_password_aging("maint", 60, 7)')]
    entry = [a for a in call('p.accounts()') if a['user'] == 'maint']
    back = call('p.set_password_aging("maint", 90, 14)')  # the image's own
    check('set_password_aging: changed, then not; accounts() shows it',
          [a.get('changed') for a in aging + [back]] == [True, False, True] and entry
          and (entry[0]['max_days'], entry[0]['warn_days']) == (60, 7), {'aging': aging, 'entry': entry})

    keys = on_terminal('''
import subprocess
made = []
for i in range(2):
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", f"tech{i}@posfleet", "-f", f"/tmp/k{i}"],
                   check=True)
    made.append(open(f"/tmp/k{i}.pub").read().strip())
fingerprints = [subprocess.run(["ssh-keygen", "-lf", f"/tmp/k{i}.pub"], capture_output=True,
                               text=True).stdout.split()[1] for i in range(2)]
out = {"keys": made, "fingerprints": fingerprints}
''')
    written = call(f'p.set_authorized_keys("cashier", {keys["keys"]!r})')
    check('set_authorized_keys', written.get('changed') and written.get('fingerprints') == keys['fingerprints'],
          written)
    read = call('p.authorized_keys("cashier")')
    check('authorized_keys reads them back with ssh-keygen\'s fingerprints',
          [k['fingerprint'] for k in read] == keys['fingerprints'] and read[0]['comment'] == 'tech0@posfleet', read)
    owner = sh(['docker', 'exec', NAME, 'stat', '-c', '%U %a', '/home/cashier/.ssh/authorized_keys']).stdout.strip()
    check('authorized_keys file: owned by the user, 0600', owner == 'cashier 600', owner)
    check('set_authorized_keys again: not changed',
          call(f'p.set_authorized_keys("cashier", {keys["keys"]!r})').get('changed') is False)
    bad = call('p.set_authorized_keys("cashier", ["ssh-ed25519 AAAAnotakey x\\nssh-rsa AAAA"])')
    check('set_authorized_keys refuses a line that is not a key', 'not an OpenSSH public key' in bad.get('error', ''),
          bad)


def record_checks():
    written = call('p.write_record("last_backup", 1795000000)')
    check('write_record', written.get('changed') and written.get('value') == '2026-11-18T11:06:40Z', written)
    facts = on_terminal('''
from ansible_collections.posfleet.terminals.plugins.module_utils import _facts
out = _facts.gather(p, ["records"])
''')
    gathered = facts[0] if isinstance(facts, list) else facts  # (facts, warnings)
    records = gathered.get('records') if isinstance(gathered, dict) else None
    check('facts read the record', isinstance(records, dict) and records.get('last_backup') == '2026-11-18T11:06:40Z'
          and 'last_audit' in records, facts)
    check('write_record again: not changed', call('p.write_record("last_backup", "2026-11-18T11:06:40Z")')
          .get('changed') is False)
    check('write_record refuses an unknown key', 'not a record key' in call('p.write_record("x", 1)').get('error', ''))


def main():
    started = time.monotonic()
    try:
        start_terminal()
        for group in (firmware_checks, journal_checks, account_checks, record_checks):
            try:
                group()
            except Exception as exc:  # one broken group must not hide the others' results
                check(f'{group.__name__} ran to the end', False, f'{type(exc).__name__}: {exc}')
    finally:
        if '--keep' not in sys.argv:
            sh(['docker', 'rm', '-f', '-v', NAME], check=False)
    print(f'{RESULTS["passed"]} passed, {RESULTS["failed"]} failed ({time.monotonic() - started:.0f} s)')
    return 1 if RESULTS['failed'] else 0


if __name__ == '__main__':
    sys.exit(main())
