#!/usr/bin/env bash
# Check that execution-environment.yml is a valid ansible-builder v3 definition that renders a build context.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
out="$root/.cache/ee-context"
rm -rf "$out"
ansible-builder create -f "$root/execution-environment.yml" -c "$out" --output-filename Containerfile
test -s "$out/Containerfile"
echo "build context written to $out"
