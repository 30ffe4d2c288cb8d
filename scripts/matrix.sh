#!/usr/bin/env bash
# Sanity and unit tests on every supported ansible-core (one toolchain venv each: the oldest and the
# newest release) and on every Python a Papermerge 2.1 host may run the modules with.
#
#   sanity  per toolchain: the full default `ansible-test sanity` on the toolchain's own (controller)
#           Python, then the two tests that depend on the target Python, compile and import (the
#           import test also proves module_utils import nothing but the standard library, ansible's
#           module_utils and each other), on every other Python of MATRIX_PYTHONS.
#   units   per toolchain and per Python: `ansible-test units` with that Python as the target.
#           tests/unit/plugins/module_utils and .../modules are target tests: ansible-test gives them
#           ansible-core's module_utils only, as a host has them.  Any other unit test needs the
#           controller and ansible-test runs it only on controller Pythons.  Each Python gets a venv
#           of its own from requirements-units.txt and constraints-units.txt (.cache/units).
#
# A Python that cannot be found (scripts/find-python.sh: PATH, then pyenv) is a failure when CI is
# set, as in .ci/run: CI's machines carry pyenv's 3.8 to 3.11.  Elsewhere, a machine without them
# (a fresh Debian 12 has only 3.11) runs what it can and ends with a NOT RUN line for every
# combination it skipped, so a pass there never hides what it did not test.
#
# Usage: scripts/matrix.sh sanity|units TOOLCHAIN_VENV...
# Environment: MATRIX_PYTHONS (default "3.8 3.9 3.10 3.11"), CI.
set -uo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
kind=${1:?usage: matrix.sh sanity|units TOOLCHAIN_VENV...}
shift
[ "$kind" = sanity ] || [ "$kind" = units ] || { echo "matrix.sh: unknown kind '$kind'" >&2; exit 2; }
[ $# -gt 0 ] || { echo "matrix.sh: name at least one toolchain venv" >&2; exit 2; }
read -r -a pythons <<< "${MATRIX_PYTHONS:-3.8 3.9 3.10 3.11}"

summary=()
failed=0
not_run=0

record() {  # record CELL STATUS [REASON]
    summary+=("$(printf '%-50s %s' "$1" "$2${3:+ ($3)}")")
}

# A venv for one target Python with what ansible-test units needs, rebuilt when the pins or the
# interpreter change.
units_venv() {
    local version=$1 venv=$root/.cache/units/python$1
    local stamp site
    stamp=$( (readlink "$root/.cache/pythons/python$version"; cat "$root/requirements-units.txt" \
        "$root/constraints-units.txt") | sha256sum | cut -c1-16)
    if [ "$(cat "$venv/.ready" 2>/dev/null)" != "$stamp" ]; then
        rm -rf "$venv"
        "$root/.cache/pythons/python$version" -m venv "$venv" &&
            "$venv/bin/python" -m pip install --quiet --disable-pip-version-check \
                -r "$root/requirements-units.txt" -c "$root/constraints-units.txt" &&
            echo "$stamp" > "$venv/.ready" || return 1
    fi
    # pytest.ini puts tests/support on the path (test helpers such as tar_headers); ansible-test
    # units reads its own pytest configuration, so the venv does it.
    site=$("$venv/bin/python" -c 'import site; print(site.getsitepackages()[0])') || return 1
    echo "$root/tests/support" > "$site/papermerge-backup-test-support.pth"
    echo "$venv/bin/python"
}

run_cell() {  # run_cell CELL COMMAND...
    local cell=$1
    shift
    echo
    echo "=== $kind: $cell ==="
    if "$@"; then
        record "$cell" passed
    else
        record "$cell" FAILED
        failed=$((failed + 1))
    fi
}

missing=$(bash "$root/scripts/link-pythons.sh" "${pythons[@]}")
for venv in "$@"; do
    venv=$(cd "$venv" && pwd)
    core=$("$venv/bin/python" -c 'from ansible.release import __version__; print(__version__)')
    controller=$("$venv/bin/python" -c 'import sys; print("%d.%d" % sys.version_info[:2])')
    if [ "$kind" = sanity ]; then
        run_cell "ansible-core $core, all tests, Python $controller" \
            bash "$root/scripts/ansible-test.sh" "$venv" sanity --venv --requirements --python "$controller"
    fi
    for version in "${pythons[@]}"; do
        [ "$kind" = sanity ] && [ "$version" = "$controller" ] && continue
        cell="ansible-core $core, Python $version"
        [ "$kind" = sanity ] && cell="ansible-core $core, compile+import, Python $version"
        if grep -qx "$version" <<< "$missing"; then
            record "$cell" "NOT RUN" "no python$version on PATH or in pyenv"
            not_run=$((not_run + 1))
        elif [ "$kind" = sanity ]; then
            run_cell "$cell" bash "$root/scripts/ansible-test.sh" "$venv" sanity --venv --requirements \
                --python "$version" --test compile --test import
        elif ! interpreter=$(units_venv "$version"); then
            record "$cell" FAILED "could not build .cache/units/python$version"
            failed=$((failed + 1))
        else
            run_cell "$cell" bash "$root/scripts/ansible-test.sh" "$venv" units --target-python "$version@$interpreter"
        fi
    done
done

echo
echo "=== $kind matrix ==="
printf '%s\n' "${summary[@]}"
# `make test` repeats what was not run at its very end, below the integration and Molecule output.
mkdir -p "$root/.cache/matrix"
printf '%s\n' "${summary[@]}" | sed -n "s/^/$kind: /; /NOT RUN/p" > "$root/.cache/matrix/$kind.not-run"
if [ "$not_run" -gt 0 ] && [ -n "${CI:-}" ]; then
    echo "$kind matrix: FAILED: $failed failed, $not_run NOT RUN: CI must run every Python" \
         "(scripts/find-python.sh looks on PATH, then in pyenv)" >&2
    exit 1
elif [ "$failed" -gt 0 ]; then
    echo "$kind matrix: FAILED: $failed failed, $not_run NOT RUN" >&2
    exit 1
elif [ "$not_run" -gt 0 ]; then
    echo "WARNING: $kind matrix: $not_run combination(s) listed above NOT RUN on this machine; every other one" \
         "passed (\`pyenv install\` the missing Pythons to run them all; CI fails without them)" >&2
else
    echo "$kind matrix: every combination passed"
fi
