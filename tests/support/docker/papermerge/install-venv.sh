#!/usr/bin/env bash
# /venv of the test image, from the wheels the host made for this Python in /wheelhouse (no network needed).
# Upstream runs `poetry install --no-root --no-dev`: the dependencies only, never papermerge-core itself, so
# nothing in /venv knows Papermerge's version.  Runs inside the image build (stage "build").
set -euo pipefail

pip=(/venv/bin/python -m pip --quiet --disable-pip-version-check --no-cache-dir install --no-index
     --find-links /wheelhouse)

python3 -m venv /venv
"${pip[@]}" --upgrade "pip<25" "setuptools<70" wheel
"${pip[@]}" -r /requirements.txt
# ocrmypdf-papermerge pins an old ocrmypdf; upstream's lock resolves it away, pip needs --no-deps.
"${pip[@]}" --no-deps ocrmypdf-papermerge
/venv/bin/python -c 'import django, configula, celery, psycopg2, reportlab, PIL'
test -x /venv/bin/uwsgi
if /venv/bin/python -m pip show papermerge-core >/dev/null 2>&1; then
    echo "papermerge-core must not be installed in /venv (the official image has no dist-info)" >&2
    exit 1
fi
