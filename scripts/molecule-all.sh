#!/usr/bin/env bash
# Run `molecule test` for every scenario under extensions/molecule (or only those named on the
# command line), one after the other, and fail if any of them fails.  Non-interactive: CI=true and
# no stdin.  The collection loads from this checkout through .cache/collections.
#
# Usage: scripts/molecule-all.sh [SCENARIO...]
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

export PATH="$root/.venv/bin:$PATH"
export ANSIBLE_COLLECTIONS_PATH="${ANSIBLE_COLLECTIONS_PATH:-$root/.cache/collections}"
export CI=true
export ANSIBLE_NOCOLOR=${ANSIBLE_NOCOLOR:-1}
# sshd's StrictModes refuses keys below a group- or world-writable directory, and a checkout may
# well sit below /tmp: test hosts keep their state in a root-owned place, one folder per checkout.
checkout_id=$(printf '%s' "$root" | sha1sum | cut -c1-12)
export SSH_TEST_HOSTS_DIR=${SSH_TEST_HOSTS_DIR:-/var/lib/papermerge-backup-tests/molecule-hosts/$checkout_id}
hosts_root=$SSH_TEST_HOSTS_DIR
mkdir -p "$hosts_root"

[ -x "$root/.venv/bin/molecule" ] || { echo "molecule-all: no .venv: run \`make venv\` first" >&2; exit 1; }
make --no-print-directory -C "$root" collection-link

# Scenarios are the directories holding a molecule.yml; shared/ (create/destroy) holds none.
scenarios=("$@")
if [ ${#scenarios[@]} -eq 0 ]; then
    while IFS= read -r file; do
        scenario=${file#extensions/molecule/}
        scenarios+=("${scenario%/molecule.yml}")
    done < <(find extensions/molecule -mindepth 2 -name molecule.yml -not -path '*/shared/*' | sort)
fi
[ ${#scenarios[@]} -gt 0 ] || { echo "molecule-all: no scenarios under extensions/molecule" >&2; exit 1; }

# Whatever happens to molecule itself, no sshd test host outlives this script.
stop_hosts() {
    local scenario
    for scenario in "${scenarios[@]}"; do
        bash tests/support/ssh_host/ssh_host.sh stop-all "$hosts_root/${scenario//\//--}" || true
    done
}
trap stop_hosts EXIT

# Scenarios against Papermerge in Docker run under one lease of the shared test dockerd: it runs
# while they do, and what their steps create goes with the lease (tests/support/docker_daemon.py).
docker_scenarios=" docker "
runner() {
    if [[ "$docker_scenarios" == *" $1 "* ]]; then
        echo python3 tests/support/docker_daemon.py lease --
    fi
}

failed=()
for scenario in "${scenarios[@]}"; do
    echo "=== molecule test -s $scenario"
    # shellcheck disable=SC2046  # runner prints a command prefix, or nothing
    if $(runner "$scenario") molecule test -s "$scenario" </dev/null; then
        echo "=== $scenario: passed"
    else
        echo "=== $scenario: FAILED"
        failed+=("$scenario")
    fi
    stop_hosts
done

if [ ${#failed[@]} -gt 0 ]; then
    echo "molecule-all: ${#failed[@]} of ${#scenarios[@]} scenario(s) failed: ${failed[*]}" >&2
    exit 1
fi
echo "molecule-all: all ${#scenarios[@]} scenario(s) passed: ${scenarios[*]}"
