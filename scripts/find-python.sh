#!/usr/bin/env bash
# Print the path of a working Python X.Y interpreter, or fail with what was looked at.
#
# Looks at `pythonX.Y` on PATH first, then at pyenv's installed versions (the newest X.Y.*).  A
# pyenv shim on PATH is not enough: it answers "command not found" unless that version is selected,
# so every candidate is asked for its version before it is taken.
#
# Usage: scripts/find-python.sh X.Y
set -euo pipefail

version=${1:?usage: find-python.sh X.Y}

# The interpreter behind a candidate (a shim or a venv's python resolves to the real one).
real_interpreter() {
    "$1" -c 'import os, sys; print("%d.%d %s" % (sys.version_info[:2] + (os.path.realpath(sys.executable),)))' 2>/dev/null
}

candidates=()
if on_path=$(command -v "python$version"); then
    candidates+=("$on_path")
fi
pyenv_root=${PYENV_ROOT:-$HOME/.pyenv}
while IFS= read -r installed; do
    candidates+=("$installed/bin/python$version")
done < <(printf '%s\n' "$pyenv_root/versions/$version".* | sort -rV)

for candidate in "${candidates[@]}"; do
    if [ -x "$candidate" ] && answer=$(real_interpreter "$candidate") && [ "${answer%% *}" = "$version" ]; then
        echo "${answer#* }"
        exit 0
    fi
done
echo "find-python: no working python$version on PATH or under $pyenv_root/versions" >&2
exit 1
