# shellcheck shell=bash
# Shared set-up for the project's commands: each step installs what it needs, once, and is cached.
set -euo pipefail

POSFLEET_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
export POSFLEET_ROOT
POSFLEET_CACHE=${POSFLEET_CACHE:-$HOME/.cache/posfleet}

log() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }

apt_install() {
  # Install Debian packages that are missing; apt-get update only when something is.
  local missing=()
  for pkg in "$@"; do dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg"); done
  [ ${#missing[@]} -eq 0 ] && return 0
  log "installing Debian packages: ${missing[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
}

ensure_system_packages() {
  # systemd: systemd-analyze, systemctl --root and systemd-sysusers for the schedule export tests.
  # dpkg-dev (dpkg-scanpackages) and gpg: the software scenario's test packages and signed apt repository.
  # restic stores the backups (posfleet.terminals.backup); rclone serves the tests' restic REST repositories;
  # age encrypts the password escrow to the security officers' public keys.
  apt_install python3-venv openssh-client debootstrap docker.io ca-certificates systemd dpkg-dev gpg restic rclone age
}

ensure_docker() {
  # Use the engine that answers; otherwise start Debian's dockerd in the background.
  docker info >/dev/null 2>&1 && return 0
  command -v dockerd >/dev/null 2>&1 || apt_install docker.io
  log "starting the Docker engine (dockerd)"
  mkdir -p /var/log
  # Not a job of the calling shell: a script's plain `wait` must not wait for the engine.
  nohup dockerd >/var/log/posfleet-dockerd.log 2>&1 </dev/null &
  disown
  for _ in $(seq 1 60); do
    docker info >/dev/null 2>&1 && return 0
    sleep 1
  done
  echo "dockerd did not answer within 60 s: see /var/log/posfleet-dockerd.log" >&2
  return 1
}

ensure_venv() {
  # One virtualenv per requirements.txt content, reused across clones of the same revision.
  local hash
  hash=$(sha256sum "$POSFLEET_ROOT/requirements.txt" | cut -c1-12)
  POSFLEET_VENV=${POSFLEET_VENV:-$POSFLEET_CACHE/venv-$hash}
  if [ ! -x "$POSFLEET_VENV/bin/ansible-playbook" ]; then
    log "creating the virtualenv $POSFLEET_VENV"
    rm -rf "$POSFLEET_VENV"
    python3 -m venv "$POSFLEET_VENV"
    "$POSFLEET_VENV/bin/pip" install -q --upgrade pip
    "$POSFLEET_VENV/bin/pip" install -q -r "$POSFLEET_ROOT/requirements.txt"
  fi
  export PATH="$POSFLEET_VENV/bin:$PATH" POSFLEET_VENV
}

ensure_collection_path() {
  # Ansible finds this checkout as posfleet.terminals through a symlinked collections tree.
  local tree="$POSFLEET_ROOT/.cache/collections/ansible_collections/posfleet"
  mkdir -p "$tree"
  ln -sfn "$POSFLEET_ROOT" "$tree/terminals"
  export ANSIBLE_COLLECTIONS_PATH="$POSFLEET_ROOT/.cache/collections"
}

ensure_images() {
  bash "$POSFLEET_ROOT/tests/images/build.sh"
}

setup_all() {
  ensure_system_packages
  ensure_docker
  ensure_venv
  ensure_collection_path
  ensure_images
}
