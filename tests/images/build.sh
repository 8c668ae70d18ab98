#!/usr/bin/env bash
# Build the reference terminal images offline: a debootstrap base imported with `docker import`, then the
# terminal and acquirer images layered on it with Dockerfiles that need no network.
# Usage: build.sh [--print-hash] [--force]
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
SELF="$HERE/$(basename "${BASH_SOURCE[0]}")"
PRINT_HASH=0
FORCE=0
for arg in "$@"; do
  case "$arg" in
    --print-hash) PRINT_HASH=1 ;;
    --force) FORCE=1 ;;
    -h|--help) sed -n '2,4p' "$SELF"; exit 0 ;;
    *) echo "build.sh: unknown argument $arg" >&2; exit 2 ;;
  esac
done

# The legacy builder is all this docker engine (20.10, no buildx) offers; say so to silence the hint.
export DOCKER_BUILDKIT=0

log() { printf '[build.sh %(%H:%M:%S)T] %s\n' -1 "$*" >&2; }

# >>> base section (hashed: any change here rebuilds the base image)
BASE_SUITE=bookworm
BASE_PACKAGES=(
  python3 python3-apt openssh-server openssh-client openssh-sftp-server sudo
  libpam-pwquality libpam-modules libpam-runtime passwd login
  nftables logrotate chrony cron openssl ca-certificates
  procps iproute2 sqlite3 tzdata acl rsync xz-utils
)
# dpkg drops these paths in the image (as Debian's own slim images do) to keep it small.
DPKG_EXCLUDES='path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/man/*
path-exclude /usr/share/info/*
path-exclude /usr/share/locale/*
path-include /usr/share/locale/locale.alias
path-exclude /usr/share/lintian/*'

base_mirror() {
  local m
  m="$(awk '/^URIs:/ {print $2; exit}' /etc/apt/sources.list.d/debian.sources 2>/dev/null || true)"
  [ -n "$m" ] || m="$(awk '$1 == "deb" {print $2; exit}' /etc/apt/sources.list 2>/dev/null || true)"
  echo "${m:-http://deb.debian.org/debian}"
}

# A failed debootstrap can leave /proc, /sys or a bound /dev mounted inside the tree: never rm through those.
remove_rootfs() {
  awk -v d="$1/" 'index($2, d) == 1 {print $2}' /proc/mounts | sort -r | xargs -r -n1 umount -l 2>/dev/null || true
  rm -rf --one-file-system "$1"
}

build_base() {
  local tag="$1" mirror rootfs
  command -v debootstrap >/dev/null || [ -x /usr/sbin/debootstrap ] || {
    log "installing debootstrap"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq debootstrap >/dev/null
  }
  mirror="$(base_mirror)"
  rootfs="$(mktemp -d /var/tmp/posfleet-rootfs.XXXXXX)"
  trap 'remove_rootfs "$rootfs"' EXIT
  # dpkg excludes must be in place before the packages unpack.
  mkdir -p "$rootfs/etc/dpkg/dpkg.cfg.d" /var/cache/posfleet-debootstrap
  printf '%s\n' "$DPKG_EXCLUDES" >"$rootfs/etc/dpkg/dpkg.cfg.d/01-posfleet-slim"
  log "debootstrap $BASE_SUITE from $mirror"
  PATH="$PATH:/usr/sbin:/sbin" debootstrap --variant=minbase --cache-dir=/var/cache/posfleet-debootstrap \
    --include="$(IFS=,; echo "${BASE_PACKAGES[*]}")" "$BASE_SUITE" "$rootfs" "$mirror" \
    >/var/tmp/posfleet-debootstrap.log 2>&1 || { tail -n 30 /var/tmp/posfleet-debootstrap.log >&2; return 1; }
  # Each terminal makes its own host keys at first boot; nothing else of the build host may leak in.
  rm -f "$rootfs"/etc/ssh/ssh_host_* "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/cache/apt/*.bin
  rm -rf "$rootfs"/var/lib/apt/lists/* "$rootfs"/var/log/*.log "$rootfs"/var/log/apt/* "$rootfs"/tmp/*
  # The essential packages were unpacked before the dpkg excludes applied: trim what they left.
  find "$rootfs/usr/share/doc" -mindepth 1 ! -type d ! -name copyright -delete
  find "$rootfs/usr/share/locale" -mindepth 1 -maxdepth 1 -type d -exec rm -rf {} +
  rm -rf "$rootfs"/usr/share/man/* "$rootfs"/usr/share/info/*
  : >"$rootfs/etc/machine-id"
  echo "posfleet" >"$rootfs/etc/hostname"
  log "docker import $tag"
  tar -C "$rootfs" --numeric-owner -c . | docker import \
    --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    --change 'ENV LANG=C.UTF-8' \
    --change "LABEL posfleet.inputs=$BASE_HASH" \
    --change 'CMD ["/bin/bash"]' - "$tag" >/dev/null
  remove_rootfs "$rootfs"
  trap - EXIT
}
# <<< base section

sha() { sha256sum | cut -d' ' -f1; }
BASE_HASH="$(sed -n '/^# >>> base section/,/^# <<< base section/p' "$SELF" | sha)"
BASE_TAG="posfleet/base:${BASE_HASH:0:16}"

# Hash of every file a layered image is built from (paths and contents), plus the base it sits on.
tree_hash() {
  (cd "$HERE" && find "$@" -type f ! -name '*.pyc' -print0 | LC_ALL=C sort -z | xargs -0 sha256sum | sha)
}
# Files of the collection that the terminal image carries too (one definition on both sides): source -> path in
# the build context. posboot imports the slot rules from there.
REPO="$(cd "$HERE/../.." && pwd)"
SHARED_FILES=("plugins/module_utils/_platform/slots.py:shared/posfleet_slots.py")
shared_hash() {
  local spec
  for spec in "${SHARED_FILES[@]}"; do
    printf '%s ' "${spec#*:}"
    sha <"$REPO/${spec%%:*}"
  done
}
TERMINAL_HASH="$( { echo "$BASE_TAG"; tree_hash terminal; shared_hash; } | sha)"
ACQUIRER_HASH="$( { echo "$BASE_TAG"; tree_hash acquirer; } | sha)"

if [ "$PRINT_HASH" = 1 ]; then
  printf 'base %s\nterminal %s\nacquirer %s\n' "$BASE_HASH" "$TERMINAL_HASH" "$ACQUIRER_HASH"
  exit 0
fi

command -v docker >/dev/null || { echo "build.sh: docker is required" >&2; exit 1; }
# One build at a time on this machine: two concurrent debootstraps would fight over the cache.
exec 9>/var/tmp/posfleet-build.lock
flock 9

BUILD_LOG=/var/tmp/posfleet-docker-build.log

label_of() { docker image inspect -f '{{index .Config.Labels "posfleet.inputs"}}' "$1" 2>/dev/null || true; }

T0=$SECONDS
if [ "$FORCE" = 1 ] || ! docker image inspect "$BASE_TAG" >/dev/null 2>&1; then
  t=$SECONDS
  build_base "$BASE_TAG"
  log "base image $BASE_TAG built in $((SECONDS - t)) s"
  # Older bases only take space; images still built on one keep their layers anyway.
  docker images --format '{{.Repository}}:{{.Tag}}' posfleet/base | grep -vxF "$BASE_TAG" | xargs -r docker rmi \
    >/dev/null 2>&1 || true
else
  log "base image $BASE_TAG is up to date"
fi

# The build context: tests/images plus the shared files, in a temporary copy (the checkout is never written).
CONTEXT="$(mktemp -d /var/tmp/posfleet-context.XXXXXX)"
trap 'rm -rf "$CONTEXT"' EXIT
cp -a "$HERE/." "$CONTEXT/"
for spec in "${SHARED_FILES[@]}"; do
  install -D -m 0644 "$REPO/${spec%%:*}" "$CONTEXT/${spec#*:}"
done

# build_layer TAG HASH DOCKERFILE [BUILD-ARG ...]
build_layer() {
  local tag="$1" hash="$2" dockerfile="$3" args=() t
  shift 3
  if [ "$FORCE" = 0 ] && [ "$(label_of "$tag")" = "$hash" ]; then
    log "$tag is up to date"
    return 0
  fi
  for a in "$@"; do args+=(--build-arg "$a"); done
  t=$SECONDS
  if ! docker build -f "$CONTEXT/$dockerfile" --build-arg "BASE_IMAGE=$BASE_TAG" "${args[@]}" \
    --label "posfleet.inputs=$hash" --label "posfleet.base=$BASE_TAG" -t "$tag" "$CONTEXT" >"$BUILD_LOG" 2>&1; then
    tail -n 40 "$BUILD_LOG" >&2
    log "building $tag failed (full log: $BUILD_LOG)"
    return 1
  fi
  log "$tag built in $((SECONDS - t)) s"
}

build_layer posfleet/terminal:t100 "$TERMINAL_HASH-t100" terminal/Dockerfile MODEL=t100 PROFILE=compliant
build_layer posfleet/terminal:m200 "$TERMINAL_HASH-m200" terminal/Dockerfile MODEL=m200 PROFILE=compliant
build_layer posfleet/terminal:legacy "$TERMINAL_HASH-legacy" terminal/Dockerfile MODEL=t100 PROFILE=legacy
build_layer posfleet/acquirer:latest "$ACQUIRER_HASH" acquirer/Dockerfile

# Rebuilds leave the previous images untagged: drop those of ours that nothing uses any more.
docker image prune -f --filter label=posfleet.inputs >/dev/null 2>&1 || true

log "done in $((SECONDS - T0)) s"
for tag in "$BASE_TAG" posfleet/terminal:t100 posfleet/terminal:m200 posfleet/terminal:legacy \
  posfleet/acquirer:latest; do
  echo "$tag"
done
