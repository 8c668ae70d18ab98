#!/usr/bin/env bash
# ansible-test needs the collection at ansible_collections/posfleet/terminals: run it on a copy of the
# tracked files (plus new, not ignored ones) so that the working tree stays clean.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
dest="$root/.cache/sanity/ansible_collections/posfleet/terminals"

# ansible-test bootstraps pip in its virtualenvs with a get-pip script from a host this network does not
# reach; a stand-in bootstraps the interpreter's bundled pip instead and installs the pinned pip from PyPI.
pip_version=$(python - <<'PY'
import re, ansible_test, pathlib
src = (pathlib.Path(ansible_test.__file__).parent / "_internal" / "python_requirements.py").read_text()
print(re.search(r"pip='([0-9.]+)'", src).group(1))
PY
)
cache=~/.ansible/test/cache
mkdir -p "$cache"
cat >"$cache/get_pip_${pip_version//./_}.py" <<'PY'
import subprocess, sys
subprocess.check_call([sys.executable, "-m", "ensurepip", "--upgrade"], stdout=subprocess.DEVNULL)
sys.exit(subprocess.call([sys.executable, "-m", "pip", "install"] + sys.argv[1:]))
PY

rm -rf "$dest" && mkdir -p "$dest"
(cd "$root" && git ls-files -co --exclude-standard -z | xargs -0 cp --parents -t "$dest")
cd "$dest"
git init -q && git add -A   # ansible-test reads the file list from git
ansible-test sanity --python 3.11 --color no "$@"
