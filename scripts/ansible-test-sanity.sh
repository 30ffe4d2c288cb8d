#!/usr/bin/env bash
# Run `ansible-test sanity` offline.
#
# ansible-test needs the collection under a real ansible_collections/<namespace>/<name> path (a
# symlink resolves away), so the checkout is copied there first.  Its per-test virtualenvs are
# bootstrapped by a get-pip script it normally downloads from a host this machine cannot reach;
# ansible-test looks first in ~/.ansible/test/cache/get_pip_<version>.py, so a stand-in that uses
# ensurepip and then pip itself is placed there.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
venv=$root/.venv
copy=$root/.cache/ansible-test/ansible_collections/papermerge/backup
python_version=${SANITY_PYTHON:-3.11}

pip_version=$("$venv/bin/python" - <<'PY'
import re, ansible_test._internal.python_requirements as r, inspect
print(re.search(r"pip='([^']+)'", inspect.getsource(r.get_venv_packages)).group(1))
PY
)
bootstrap=$HOME/.ansible/test/cache/get_pip_${pip_version//./_}.py
mkdir -p "$(dirname "$bootstrap")"
cat > "$bootstrap" <<'PY'
"""Offline stand-in for get-pip.py: ensurepip, then `pip install` with the arguments given."""
import os
import subprocess
import sys

subprocess.check_call([sys.executable, "-m", "ensurepip", "--upgrade"])
# ensurepip points PIP_CONFIG_FILE at /dev/null; the machine's pip configuration (mirrors) must apply.
environment = dict(os.environ)
environment.pop("PIP_CONFIG_FILE", None)
arguments = [a for a in sys.argv[1:] if a not in ("--no-setuptools", "--no-wheel")]
sys.exit(subprocess.call([sys.executable, "-m", "pip", "install"] + arguments, env=environment))
PY

mkdir -p "$copy"
rsync -a --delete --exclude .venv --exclude .cache --exclude .git --exclude tests/output \
    --exclude __pycache__ "$root/" "$copy/"
cd "$copy"
# ansible-test lists a collection's files through git; the copy gets a throwaway repository of its own.
rm -rf .git
git init -q && git add -A && git -c user.name=sanity -c user.email=sanity@localhost commit -qm snapshot
"$venv/bin/ansible-test" sanity --venv --requirements --python "$python_version" "$@"
