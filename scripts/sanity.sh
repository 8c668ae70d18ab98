#!/usr/bin/env bash
# ansible-test needs the collection at ansible_collections/posfleet/terminals: run it on a copy of the
# tracked files (plus new, not ignored ones) so that the working tree stays clean.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
dest="$root/.cache/sanity/ansible_collections/posfleet/terminals"

# ansible-test bootstraps pip in its virtualenvs with a get-pip script from a host this network does not
# reach (cached as ~/.ansible/test/cache/get_pip_<version>.py, so a new machine has none); a stand-in
# bootstraps the interpreter's bundled pip instead and installs the pinned pip from PyPI. ansible-test passes
# it get-pip's own options (--no-setuptools, --no-wheel), which pip install does not know: a plain
# "pip install" of the pinned packages installs neither, so the stand-in drops them. Written on every run, so
# no earlier run's cache decides the outcome.
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
GET_PIP_ONLY = {"--no-setuptools", "--no-wheel"}
subprocess.check_call([sys.executable, "-m", "ensurepip", "--upgrade"], stdout=subprocess.DEVNULL)
args = [arg for arg in sys.argv[1:] if arg not in GET_PIP_ONLY]
sys.exit(subprocess.call([sys.executable, "-m", "pip", "install"] + args))
PY

rm -rf "$dest" && mkdir -p "$dest"
(cd "$root" && git ls-files -co --exclude-standard -z | xargs -0 cp --parents -t "$dest")
cd "$dest"
git init -q && git add -A   # ansible-test reads the file list from git
ansible-test sanity --python 3.11 --color no "$@"
