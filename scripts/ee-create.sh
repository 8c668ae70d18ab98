#!/usr/bin/env bash
# Check that execution-environment.yml is a valid ansible-builder v3 definition that renders a build context
# holding this collection's own artifact (built here, so the image carries the checked-out revision).
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
out="$root/.cache/ee-context"
artifact_dir="$root/.cache/ee-artifact"
rm -rf "$out" "$artifact_dir"
mkdir -p "$artifact_dir"
ansible-galaxy collection build --output-path "$artifact_dir" "$root" >/dev/null
mv "$artifact_dir"/posfleet-terminals-*.tar.gz "$artifact_dir/posfleet-terminals.tar.gz"
ansible-builder create -f "$root/execution-environment.yml" -c "$out" --output-filename Containerfile
test -s "$out/Containerfile"
test -s "$out/_build/posfleet/posfleet-terminals.tar.gz"
grep -q 'ansible-galaxy collection install --offline --no-deps .*posfleet-terminals.tar.gz' "$out/Containerfile"
echo "build context written to $out"
