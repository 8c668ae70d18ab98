#!/usr/bin/env bash
# Smoke test of the built images, end to end: an acquirer and a t100, m200 and legacy terminal on their own
# network, SSH as posadmin on 127.0.0.1 ports, the control socket commands, faults, maintenance, a reboot and
# the A/B fallback after bootlimit. Removes everything it made (containers, network, volume, key); keeps images.
# Usage: smoke.sh   (run build.sh first). Ends with "N passed, N failed"; exit status 1 when anything failed.
# shellcheck disable=SC2016  # single-quoted $(...) in the checks are for the terminal's shell, not this one
set -uo pipefail

P="posfleet-smoke-$$"
WORK="$(mktemp -d)"
PASS=0
FAIL=0
CONTAINERS=()

cleanup() {
  [ "${#CONTAINERS[@]}" -gt 0 ] && docker rm -f -v "${CONTAINERS[@]}" >/dev/null 2>&1
  docker network rm "$P-net" >/dev/null 2>&1
  docker volume rm "$P-ca" >/dev/null 2>&1
  rm -rf "$WORK"
}
trap cleanup EXIT

check() {  # check NAME COMMAND...: passes when the command succeeds
  local name="$1"
  shift
  if "$@" >"$WORK/out" 2>&1; then
    PASS=$((PASS + 1))
    echo "ok   $name"
  else
    FAIL=$((FAIL + 1))
    echo "FAIL $name"
    sed 's/^/     /' "$WORK/out" | tail -n 15
  fi
}

ssh-keygen -q -t ed25519 -N '' -f "$WORK/key"
docker network create "$P-net" >/dev/null
docker volume create "$P-ca" >/dev/null
docker run -d --name "$P-acquirer" --hostname acquirer --network "$P-net" --network-alias acquirer \
  -v "$P-ca:/ca" --restart unless-stopped posfleet/acquirer:latest >/dev/null
CONTAINERS+=("$P-acquirer")

start_terminal() {  # start_terminal NAME IMAGE [docker run args]
  local name="$1" image="$2"
  shift 2
  docker run -d --name "$P-$name" --hostname "$name" --network "$P-net" -v "$P-ca:/etc/posfleet/ca:ro" \
    -p 127.0.0.1::22 --restart unless-stopped -e "POSFLEET_TERMINAL_ID=${name^^}" \
    -e POSFLEET_TIMEZONE=Asia/Shanghai -e "POSFLEET_AUTHORIZED_KEY=$(cat "$WORK/key.pub")" -e POSD_TRICKLE_SECONDS=2 \
    "$@" "$image" >/dev/null
  CONTAINERS+=("$P-$name")
}
start_terminal sh01-t100-01 posfleet/terminal:t100
start_terminal sh01-m200-01 posfleet/terminal:m200 -e POSFLEET_FIRMWARE=2.2.0 -e 'POSFLEET_HW_BATTERY={"charge_pct": 5}'
start_terminal sh02-legacy-01 posfleet/terminal:legacy

port_of() { docker port "$P-$1" 22/tcp | head -n1 | sed 's/.*://'; }
on() {  # on TERMINAL COMMAND: run over SSH as posadmin
  local port
  port="$(port_of "$1")"
  ssh -i "$WORK/key" -p "$port" -o UserKnownHostsFile=/dev/null -o StrictHostKeyChecking=no -o LogLevel=ERROR \
    -o BatchMode=yes -o ConnectTimeout=5 posadmin@127.0.0.1 "$2"
}
wait_ssh() {
  local _
  for _ in $(seq 1 60); do
    on "$1" 'sudo test -S /run/posd/posd.sock' >/dev/null 2>&1 && return 0
    sleep 1
  done
  return 1
}
# jq is not assumed: assertions on posctl's JSON are Python expressions over `d`.
expect() {  # expect TERMINAL 'POSCTL ARGS' PYTHON-EXPR
  on "$1" "sudo posctl $2; true" | python3 -c "import json, sys; d = json.load(sys.stdin); sys.exit(0 if ($3) else 1)"
}

for t in sh01-t100-01 sh01-m200-01 sh02-legacy-01; do
  check "$t: ssh key login and posd up" wait_ssh "$t"
done

check "t100: status" expect sh01-t100-01 status \
  'd["ok"] and d["version"] == "2.3.1" and d["slot"] == "a" and not d["hardware"]["battery"]["present"]'
check "m200: firmware from POSFLEET_FIRMWARE, seeded battery fault, no scanner" expect sh01-m200-01 status \
  'd["version"] == "2.2.0" and not d["hardware"]["battery"]["ok"] and not d["hardware"]["scanner"]["present"]'
check "t100: selftest prints a receipt" expect sh01-t100-01 "selftest --json '{\"print_receipt\": true}'" \
  'd["healthy"] and d["receipt_printed"] and len(d["devices"]) == 5'
for t in sh01-t100-01 sh01-m200-01 sh02-legacy-01; do
  check "$t: test_transaction approved over TLS >= 1.2" expect "$t" test_transaction \
    'd["ok"] and d["approved"] and d["tls_version"] in ("TLSv1.2", "TLSv1.3")'
done
check "t100: synthetic transactions reach the journal" bash -c "sleep 5; docker exec $P-sh01-t100-01 \
  sqlite3 /var/lib/posd/journal.db \"select count(*) from transactions where training = 0 and status = 'approved'\" \
  | grep -qv '^0$'"
check "t100: journal is 0600, PANs masked" docker exec "$P-sh01-t100-01" sh -c \
  '[ "$(stat -c %a /var/lib/posd/journal.db)" = 600 ] &&
   ! sqlite3 /var/lib/posd/journal.db "select pan_masked from transactions" | grep -vqE "^[0-9]{6}\*{6}[0-9]{4}$"'
check "t100: the applications are dpkg packages, their manifests owned by them (first boot recreated the dirs)" \
  docker exec "$P-sh01-t100-01" sh -c \
  '[ "$(dpkg-query -W -f "\${Version} \${db:Status-Status}" posfleet-emv-kernel posfleet-loyalty)" = \
     "7.1.0 installed3.4.2 installed" ] && dpkg --verify posfleet-emv-kernel posfleet-loyalty &&
   [ "$(dpkg-query -S /opt/posapps/emv-kernel/manifest.json)" = \
     "posfleet-emv-kernel: /opt/posapps/emv-kernel/manifest.json" ]'

docker exec "$P-sh01-t100-01" sh -c 'echo "{\"paper_pct\": 0}" > /var/lib/posd/hw/printer.json;
  echo "{\"acquirer\": \"down\"}" > /var/lib/posd/hw/network.json; echo "{broken" > /var/lib/posd/hw/scanner.json'
check "fault: paper out and malformed scanner file" expect sh01-t100-01 selftest \
  'not d["healthy"] and [x["detail"] for x in d["devices"] if x["device"] == "printer"] == ["paper out"]
   and "malformed" in [x["detail"] for x in d["devices"] if x["device"] == "scanner"][0]'
check "fault: acquirer down fails at the link stage" expect sh01-t100-01 test_transaction \
  'not d["ok"] and d["stage"] == "link"'
docker exec "$P-sh01-t100-01" sh -c 'rm /var/lib/posd/hw/printer.json /var/lib/posd/hw/scanner.json;
  echo "{\"acquirer\": \"slow\", \"delay_ms\": 1500}" > /var/lib/posd/hw/network.json'
check "fault: slow acquirer shows in connect_ms" expect sh01-t100-01 test_transaction \
  'd["ok"] and d["connect_ms"] >= 1500'
docker exec "$P-sh01-t100-01" sh -c 'echo "{\"acquirer\": \"up\"}" > /var/lib/posd/hw/network.json'

check "maintenance: enter drains and shows the message" expect sh01-t100-01 \
  "maintenance_enter --json '{\"message\": \"功能维护中\", \"drain_timeout\": 30}'" \
  'd["changed"] and d["drained"] and d["message"] == "功能维护中"'
check "maintenance: display and persisted state" on sh01-t100-01 \
  'grep -qx 功能维护中 /run/posd/display.txt && sudo grep -q "\"enabled\": true" /var/lib/posd/maintenance.json'
check "maintenance: leave reports the time out of service" expect sh01-t100-01 maintenance_leave \
  'd["changed"] and d["out_of_service_seconds"] > 0'

before="$(on sh01-t100-01 'cat /etc/posfleet/terminal.json; sudo cat /etc/ssh/ssh_host_ed25519_key.pub')"
rows_before="$(docker exec "$P-sh01-t100-01" sqlite3 /var/lib/posd/journal.db 'select count(*) from transactions')"
on sh01-t100-01 'sudo reboot' >/dev/null 2>&1
sleep 3
check "reboot: the terminal comes back" wait_ssh sh01-t100-01
check "reboot: Docker restarted it" bash -c "[ \"\$(docker inspect -f '{{.RestartCount}}' $P-sh01-t100-01)\" -ge 1 ]"
check "reboot: same identity and host key" bash -c "[ \"\$1\" = \"\$2\" ]" _ "$before" \
  "$(on sh01-t100-01 'cat /etc/posfleet/terminal.json; sudo cat /etc/ssh/ssh_host_ed25519_key.pub')"
check "reboot: journal intact" bash -c "docker exec $P-sh01-t100-01 sqlite3 /var/lib/posd/journal.db \
  'pragma integrity_check; select count(*) >= $rows_before from transactions' | tr '\n' ' ' | grep -q '^ok 1 $'"

on sh01-t100-01 'sudo sh -c "mkdir -p /slots/b/bin && printf \"#!/bin/sh\nexit 3\n\" > /slots/b/bin/posd &&
  chmod 755 /slots/b/bin/posd && echo 9.9.9 > /slots/b/VERSION &&
  posboot-env set active_slot=b upgrade_available=1 bootcount=0 && reboot"' >/dev/null 2>&1
sleep 5
check "fallback: back on slot a after bootlimit" wait_ssh sh01-t100-01
check "fallback: boot environment records it" bash -c "docker exec $P-sh01-t100-01 posboot-env get | python3 -c '
import json, sys; e = json.load(sys.stdin)
sys.exit(0 if e[\"active_slot\"] == \"a\" and e[\"upgrade_available\"] == 0 and e[\"last_fallback\"] else 1)'"
check "fallback: posd of slot a answers" expect sh01-t100-01 status 'd["slot"] == "a" and d["version"] == "2.3.1"'

check "legacy: violations in place" docker exec "$P-sh02-legacy-01" sh -c \
  'sshd -T | grep -qx "permitrootlogin yes" && sshd -T | grep -qx "passwordauthentication yes" &&
   ! grep -q pam_faillock /etc/pam.d/common-auth && grep -q "^minlen = 6" /etc/security/pwquality.conf &&
   grep -q "\"min_tls\": \"1.0\"" /etc/posfleet/acquirer.json && grep -q 4111111111111111 /var/log/posd/debug.log &&
   [ "$(stat -c %a /var/lib/posd/journal.db)" = 644 ] && [ ! -e /etc/logrotate.d/posd ] &&
   ss -ltn | grep -q ":2323 " && grep -q "^maint:[$]6[$]" /etc/shadow'
check "compliant: hardened config" docker exec "$P-sh01-m200-01" sh -c \
  'sshd -T | grep -qx "permitrootlogin no" && sshd -T | grep -qx "passwordauthentication no" &&
   grep -q pam_faillock /etc/pam.d/common-auth && grep -q "^minlen = 12" /etc/security/pwquality.conf &&
   grep -q "rotate 365" /etc/logrotate.d/posd && ! ss -ltn | grep -q ":2323 "'

echo "$PASS passed, $FAIL failed"
[ "$FAIL" = 0 ]
