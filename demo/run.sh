#!/usr/bin/env bash
# The demo behind `make demo`: a throwaway local Papermerge 2.1.5, backed up with
# playbooks/backup.yml and restored with playbooks/restore.yml into a second throwaway instance.
# Everything lives under demo/work/ (removed and rebuilt on each run).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
export ANSIBLE_COLLECTIONS_PATH=$root/.cache/collections
exec "$root/.venv/bin/python" "$root/demo/demo.py" "$@"
