"""Run a command (an ansible-playbook: the controller) and SIGKILL its whole process group the moment its output
shows a given point, as a power cut or a killed CI job would stop it there.

    python3 kill_on_output.py --arm REGEX --kill REGEX --log FILE -- COMMAND...

The first output line matching ``--kill`` after a line matching ``--arm`` kills the group; the result is one
JSON line: ``{"killed": bool, "rc": int, "trigger": str}``. The whole output goes to ``--log``.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import signal
import subprocess
import sys


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument('--arm', required=True)
    parser.add_argument('--kill', required=True)
    parser.add_argument('--log', required=True)
    parser.add_argument('command', nargs=argparse.REMAINDER)
    args = parser.parse_args()
    command = args.command[1:] if args.command[:1] == ['--'] else args.command
    env = dict(os.environ, ANSIBLE_NOCOLOR='1', ANSIBLE_FORCE_COLOR='0', PYTHONUNBUFFERED='1')
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env,
                            start_new_session=True, text=True, bufsize=1)
    armed, trigger = False, None
    with open(args.log, 'w', encoding='utf-8') as log:
        for line in proc.stdout:
            log.write(line)
            if not armed and re.search(args.arm, line):
                armed = True
            elif armed and re.search(args.kill, line):
                os.killpg(proc.pid, signal.SIGKILL)
                trigger = line.strip()
                break
        log.flush()
    rc = proc.wait()
    print(json.dumps({'killed': trigger is not None, 'rc': rc, 'trigger': trigger}))
    return 0


if __name__ == '__main__':
    sys.exit(main())
