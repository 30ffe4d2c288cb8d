#!/usr/bin/env bash
# Build (or reuse) a virtualenv holding a real papermerge-core 2.1.5 from PyPI.
#
# papermerge-core 2.1.5 declares Python <3.11 and some dependencies that are not on PyPI, so a
# plain `pip install papermerge-core==2.1.5` cannot work; this script installs the package without
# its declared dependencies and then the set of versions in papermerge-2.1.5-constraints.txt
# (see docs/design.md "Papermerge 2.1 facts worth knowing").  Prefers pyenv's 3.10 (inside 2.1.5's range, what its
# Docker image ran); falls back to python3.11.
#
# Usage: build_papermerge_venv.sh [VENV_DIR]   (prints the venv path on its last line)
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
constraints="$here/papermerge-2.1.5-constraints.txt"
cache=${PAPERMERGE_TEST_CACHE:-$HOME/.cache/papermerge-backup-tests}

pick_python() {
    local candidate
    for candidate in "${PAPERMERGE_HOST_PYTHON:-}" "$HOME/.pyenv/versions/3.10.13/bin/python" \
                     "$(command -v python3.10 || true)" "$(command -v python3.11 || true)"; do
        if [ -n "$candidate" ] && [ -x "$candidate" ]; then
            echo "$candidate"
            return 0
        fi
    done
    echo "no Python 3.10 or 3.11 found for the Papermerge host venv" >&2
    return 1
}

python=$(pick_python)
pyver=$("$python" -c 'import sys; print("%d.%d" % sys.version_info[:2])')
venv=${1:-$cache/papermerge-2.1.5-py$pyver}
stamp="$venv/.papermerge-ready"

# The stamp records the constraints' checksum: a changed constraints file rebuilds the venv.
want=$(sha256sum "$constraints" | cut -d' ' -f1)
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
    echo "$venv"
    exit 0
fi

rm -rf "$venv"
mkdir -p "$(dirname "$venv")"
"$python" -m venv "$venv"
pip=("$venv/bin/python" -m pip --quiet --disable-pip-version-check)
"${pip[@]}" install --upgrade "pip<25" "setuptools<70" wheel >&2
# Everything the constraints pin except ocrmypdf-papermerge, which must come without its deps.
# The pins were taken on 3.11; a few of those releases need 3.11, so on an older Python each pin
# becomes an upper bound and pip takes the newest release that still runs there.
if [ "$pyver" = "3.11" ]; then
    grep -v -i '^ocrmypdf-papermerge' "$constraints" > "$venv/requirements.txt"
else
    grep -v -i '^ocrmypdf-papermerge' "$constraints" | sed 's/==/<=/' > "$venv/requirements.txt"
fi
"${pip[@]}" install -r "$venv/requirements.txt" >&2
"${pip[@]}" install --no-deps "ocrmypdf-papermerge==$(grep -i '^ocrmypdf-papermerge==' "$constraints" | cut -d= -f3)" >&2
"${pip[@]}" install --no-deps --ignore-requires-python papermerge-core==2.1.5 >&2
"$venv/bin/python" -c 'import papermerge.core, configula, django' >&2
echo "$want" > "$stamp"
echo "$venv"
