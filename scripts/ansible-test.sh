#!/usr/bin/env bash
# Run `ansible-test` from a toolchain venv, offline.
#
# ansible-test needs the collection under a real ansible_collections/<namespace>/<name> path (a
# symlink resolves away), so the checkout is copied there first, one copy per ansible-core release:
# each keeps its own ansible-test venvs under tests/output, and two releases sharing one would
# reinstall each other's requirements on every run.  Its per-test virtualenvs are bootstrapped by a
# get-pip script it normally downloads from a host this machine cannot reach; ansible-test looks
# first in ~/.ansible/test/cache/get_pip_<version>.py, so a stand-in that uses ensurepip and then
# pip itself (PyPI is reachable) is placed there.  Nothing is fetched from Galaxy: the modules need
# no other collection.
#
# Interpreters in .cache/pythons (linked by scripts/link-pythons.sh) come first on PATH, so
# `--python 3.8` finds pyenv's 3.8 even where only a pyenv shim is on PATH.
#
# Usage: scripts/ansible-test.sh TOOLCHAIN_VENV COMMAND [ARGUMENTS...]
#   e.g. scripts/ansible-test.sh .venv sanity --venv --requirements --python 3.11
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
venv=$(cd "${1:?usage: ansible-test.sh TOOLCHAIN_VENV COMMAND [ARGUMENTS...]}" && pwd)
shift
[ -x "$venv/bin/ansible-test" ] || { echo "ansible-test.sh: no ansible-test in $venv" >&2; exit 1; }

core_release=$("$venv/bin/python" -c 'from ansible.release import __version__ as v; print(".".join(v.split(".")[:2]))')
copy=$root/.cache/ansible-test/$core_release/ansible_collections/papermerge/backup

pip_version=$("$venv/bin/python" - <<'PY'
import re, ansible_test._internal.python_requirements as r, inspect
print(re.search(r"pip='([^']+)'", inspect.getsource(r.get_venv_packages)).group(1))
PY
)
bootstrap=$HOME/.ansible/test/cache/get_pip_${pip_version//./_}.py
mkdir -p "$(dirname "$bootstrap")"
cat > "$bootstrap.$$" <<'PY'
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
mv "$bootstrap.$$" "$bootstrap"  # others may be reading it: replace, never truncate

mkdir -p "$copy"
rsync -a --delete --exclude .venv --exclude .cache --exclude .git --exclude tests/output \
    --exclude __pycache__ "$root/" "$copy/"
cd "$copy"
# ansible-test lists a collection's files through git; the copy gets a throwaway repository of its own.
rm -rf .git
git init -q && git add -A && git -c user.name=ansible-test -c user.email=ansible-test@localhost commit -qm snapshot
export PATH="$root/.cache/pythons:$PATH"
exec "$venv/bin/ansible-test" "$@"
