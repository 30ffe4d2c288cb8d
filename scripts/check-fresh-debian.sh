#!/usr/bin/env bash
# shellcheck disable=SC2317  # functions that run through step() and the EXIT trap look unreachable to it
# Check that the README's commands work on a truly fresh Debian 12: a minbase bookworm made by mmdebstrap,
# imported into a Docker daemon of this script's own, a copy of this checkout in it (as a clone would be), and in
# there, as root, the README's commands: install git and make, `make demo`, then `make test` (or the stages given).
# Slow (the toolchain, the Papermerge venv and every system package come from the network), so not part of
# `make test`.  Prints the time each step took; every step's output goes to a log in the work directory.
#
# Usage: scripts/check-fresh-debian.sh [--work DIR] [--rootfs TAR] [--ca-bundle FILE] [--keep] [STAGE...]
#   STAGE      make targets to run after `make demo`, each timed on its own (default: the stages of `make test`:
#              lint sanity-matrix units units-matrix fuzz integration faults molecule); `none` runs the demo only
#   --work     work directory (default: /tmp/papermerge-fresh-debian): rootfs, daemon, logs
#   --rootfs   a minbase tarball made earlier (default: make one with mmdebstrap)
#   --ca-bundle  a CA bundle pip must trust in the container, for a machine whose HTTPS goes through a
#              TLS-intercepting proxy (default: $PIP_CERT when set): the container's /etc/pip.conf names it, as such a
#              machine's own does (ansible-test passes no PIP_* variable on, but its pip reads /etc/pip.conf)
#   --keep     leave the container and the daemon running for a look inside (stop them with --stop)
#   --stop     stop what --keep left running, and exit
#
# Needs root, mmdebstrap and dockerd.  The daemon gets its own socket, data root and exec root under the work
# directory, no bridge, no iptables rules; the container runs with --network host (the tests listen on loopback).
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
work=/tmp/papermerge-fresh-debian
rootfs=
ca_bundle=${PIP_CERT:-}
keep=false
stages=()
while [ $# -gt 0 ]; do
    case "$1" in
        --work) work=$2; shift 2 ;;
        --rootfs) rootfs=$2; shift 2 ;;
        --ca-bundle) ca_bundle=$2; shift 2 ;;
        --keep) keep=true; shift ;;
        --stop) stop_only=true; shift ;;
        -h|--help) sed -n '2,20p' "$0"; exit 0 ;;
        *) stages+=("$1"); shift ;;
    esac
done
[ ${#stages[@]} -gt 0 ] || stages=(lint sanity-matrix units units-matrix fuzz integration faults molecule)
[ "$(id -u)" -eq 0 ] || { echo "check-fresh-debian: run as root (mmdebstrap and dockerd need it)" >&2; exit 1; }

mkdir -p "$work/logs"
socket=$work/docker.sock
docker=(docker -H "unix://$socket")
image=papermerge-backup-fresh-debian:bookworm
container=papermerge-backup-fresh-debian

stop_daemon() {
    "${docker[@]}" rm -f "$container" >/dev/null 2>&1 || true
    if [ -f "$work/docker.pid" ]; then
        kill "$(cat "$work/docker.pid")" 2>/dev/null || true
        for _ in $(seq 50); do [ -f "$work/docker.pid" ] || break; sleep 0.2; done
    fi
}
if [ "${stop_only:-false}" = true ]; then stop_daemon; exit 0; fi

# step NAME COMMAND...: runs the command, its output in logs/NAME.log, and prints how long it took.
step() {
    local name=$1 started status
    shift
    started=$(date +%s)
    printf '%-34s ' "$name"
    set +e
    "$@" >"$work/logs/$name.log" 2>&1
    status=$?
    set -e
    printf '%5d s  %s\n' "$(( $(date +%s) - started ))" "$([ $status -eq 0 ] && echo ok || echo "FAILED ($status): $work/logs/$name.log")"
    return $status
}

start_daemon() {
    dockerd --host "unix://$socket" --data-root "$work/docker-data" --exec-root "$work/docker-exec" \
        --pidfile "$work/docker.pid" --bridge=none --iptables=false --ip-masq=false \
        >"$work/logs/dockerd.log" 2>&1 &
    for _ in $(seq 100); do "${docker[@]}" info >/dev/null 2>&1 && return 0; sleep 0.2; done
    echo "dockerd did not answer on $socket" >&2
    return 1
}

# The README's commands, as root in the container, from the copy of the checkout.
in_container() {
    "${docker[@]}" exec -e DEBIAN_FRONTEND=noninteractive -w /root/papermerge.backup "$container" bash -c "$1"
}

copy_checkout() {
    # What a clone holds: the tracked files as they are in this checkout, nothing it generated.
    "${docker[@]}" exec "$container" mkdir -p /root/papermerge.backup
    git -C "$root" ls-files -z | tar -C "$root" --null -T - -c | "${docker[@]}" exec -i "$container" \
        tar -C /root/papermerge.backup -x
    if [ -n "$ca_bundle" ]; then
        "${docker[@]}" exec -i "$container" sh -c 'mkdir -p /etc/ssl && cat > /etc/ssl/extra-ca-bundle.pem' \
            < "$ca_bundle"
        printf '[global]\ncert = /etc/ssl/extra-ca-bundle.pem\n' | "${docker[@]}" exec -i "$container" \
            sh -c 'cat > /etc/pip.conf'
    fi
}

trap '[ "$keep" = true ] || stop_daemon' EXIT
if [ -z "$rootfs" ]; then
    rootfs=$work/bookworm-minbase.tar
    step mmdebstrap-minbase mmdebstrap --variant=minbase bookworm "$rootfs" http://deb.debian.org/debian
fi
step start-dockerd start_daemon
step import-rootfs "${docker[@]}" import "$rootfs" "$image"
"${docker[@]}" rm -f "$container" >/dev/null 2>&1 || true
# ptrace for strace (the test that counts archive reads); nothing else beyond Docker's defaults.
step start-container "${docker[@]}" run -d --name "$container" --network host --cap-add SYS_PTRACE \
    --security-opt seccomp=unconfined "$image" sleep infinity
step copy-checkout copy_checkout
# Docker's mark: without it the roles see a plain machine, as the README's fresh Debian 12 is, and keep and rotate
# the archives on the host instead of treating the demo's directories as a container's writable layer.
step drop-dockerenv "${docker[@]}" exec "$container" rm -f /.dockerenv
failed=0
step readme-install-git-make in_container 'apt-get update && apt-get install -y git make'
step make-demo in_container 'make demo' || failed=$((failed + 1))
for stage in "${stages[@]}"; do
    [ "$stage" = none ] && break
    step "make-$stage" in_container "make $stage" || failed=$((failed + 1))
done
exit $failed
