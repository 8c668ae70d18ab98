#!/usr/bin/env bash
# The scenario's restic REST servers (rclone serve restic) on one directory, on 127.0.0.1 only:
#   rest_servers.sh start DIR APPEND_PORT FULL_PORT   a new DIR: credentials (0600), htpasswd files, both servers
#   rest_servers.sh ensure DIR APPEND_PORT FULL_PORT  start again a server that is not running (says so, with its log)
#   rest_servers.sh stop DIR
# APPEND_PORT serves --append-only to user "backup"; FULL_PORT serves everything to user "maint" (retention).
set -euo pipefail
action=$1 dir=$2
if [ "$action" = stop ]; then
  for name in append full; do
    if [ -f "$dir/rclone-$name.pid" ]; then kill "$(cat "$dir/rclone-$name.pid")" 2>/dev/null || true; fi
    rm -f "$dir/rclone-$name.pid"
  done
  exit 0
fi
append_port=$3 full_port=$4
umask 077
start() {  # start NAME PORT [FLAGS...]
  local name=$1 port=$2
  shift 2
  if [ -f "$dir/rclone-$name.log" ]; then mv "$dir/rclone-$name.log" "$dir/rclone-$name.log.before"; fi
  # A session of its own: no signal to the process group of the playbook that started it reaches the server.
  setsid nohup rclone serve restic "$dir/rest" --addr "127.0.0.1:$port" --htpasswd "$dir/$name.htpasswd" \
    --config /dev/null "$@" >"$dir/rclone-$name.log" 2>&1 </dev/null &
  echo $! >"$dir/rclone-$name.pid"
  for _ in $(seq 1 100); do
    grep -q 'Serving restic REST API' "$dir/rclone-$name.log" && return 0
    sleep 0.1
  done
  echo "rclone serve restic on port $port did not start:" >&2
  cat "$dir/rclone-$name.log" >&2
  return 1
}
running() { (echo >"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }  # it answers on its port (a pid may be a zombie)
if [ "$action" = ensure ]; then
  running "$append_port" || { echo "restarted append (it had exited):"; tail -n 5 "$dir/rclone-append.log"
    start append "$append_port" --append-only; }
  running "$full_port" || { echo "restarted full (it had exited):"; tail -n 5 "$dir/rclone-full.log"
    start full "$full_port"; }
  exit 0
fi
rm -rf "$dir"  # every run starts from no repository at all
mkdir -p "$dir/rest"
for secret in repository backup maint; do
  [ -s "$dir/$secret.pass" ] || openssl rand -hex 16 >"$dir/$secret.pass"
done
printf 'backup:%s\n' "$(openssl passwd -apr1 -in "$dir/backup.pass")" >"$dir/append.htpasswd"
printf 'maint:%s\n' "$(openssl passwd -apr1 -in "$dir/maint.pass")" >"$dir/full.htpasswd"
start append "$append_port" --append-only
start full "$full_port"
