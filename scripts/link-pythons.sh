#!/usr/bin/env bash
# Link a working interpreter for each Python X.Y given into .cache/pythons (as pythonX.Y), where
# scripts/ansible-test.sh puts them first on PATH.  Prints the versions it could not find, one a
# line, on stdout; what it linked goes to stderr.  A version not found has its old link removed, so
# a stale link never stands in for a missing interpreter.
#
# Usage: scripts/link-pythons.sh X.Y...
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
links=$root/.cache/pythons
mkdir -p "$links"
for version in "$@"; do
    if interpreter=$(bash "$root/scripts/find-python.sh" "$version" 2>/dev/null); then
        ln -sfn "$interpreter" "$links/python$version"
        echo "Python $version: $interpreter" >&2
    else
        rm -f "$links/python$version"
        echo "$version"
    fi
done
