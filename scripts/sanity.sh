#!/usr/bin/env bash
# ansible-test needs the collection at ansible_collections/posfleet/terminals: run it on a copy of the
# tracked files (plus new, not ignored ones) so that the working tree stays clean.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
dest="$root/.cache/sanity/ansible_collections/posfleet/terminals"
rm -rf "$dest" && mkdir -p "$dest"
(cd "$root" && git ls-files -co --exclude-standard -z | xargs -0 cp --parents -t "$dest")
cd "$dest"
git init -q && git add -A   # ansible-test reads the file list from git
ansible-test sanity --python 3.11 --color no "$@"
