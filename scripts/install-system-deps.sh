#!/usr/bin/env bash
# Install the Debian packages the demo and the tests need, when missing: Python with its venv module (for .venv,
# the Papermerge host venv and ansible-test's virtualenvs), libmagic (Papermerge imports python-magic), sshd for
# SSH test hosts, rsync (ansible-test sanity's copy), pigz for the benchmark, sudo for `become`, shellcheck for
# sanity, strace for the test that counts archive reads, git; dockerd, docker-compose and mmdebstrap for the Docker
# tests (docs/testing-docker.md).  PostgreSQL 15 server binaries (initdb, pg_ctl) are expected on the machine;
# postgresql-15 is installed when missing.  A fresh Debian 12 needs only make to run this (README: `apt-get
# install git make`).
set -euo pipefail

packages=(python3 python3-venv libmagic1 openssh-server openssh-client rsync pigz sudo shellcheck strace git
          docker.io docker-compose mmdebstrap)
command -v initdb >/dev/null || [ -x /usr/lib/postgresql/15/bin/initdb ] || packages+=(postgresql-15)

missing=()
for package in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" || missing+=("$package")
done
# promtool checks the alert rules of docs/monitoring.md: unpacked from Debian's prometheus package into
# PROMTOOL_ROOT, not installed, because installing the package starts a Prometheus server on every interface.
PROMTOOL_ROOT=/usr/local/lib/papermerge-backup-tests/prometheus
if ! command -v promtool >/dev/null && [ ! -x "$PROMTOOL_ROOT/usr/bin/promtool" ]; then
    promtool_download=$(mktemp -d)
    promtool_sudo=()
    [ "$(id -u)" -eq 0 ] || promtool_sudo=(sudo)
    (cd "$promtool_download" && { apt-get download prometheus >/dev/null 2>&1 ||
        { "${promtool_sudo[@]}" apt-get update -qq && apt-get download prometheus >/dev/null; }; } &&
        "${promtool_sudo[@]}" mkdir -p "$PROMTOOL_ROOT" && "${promtool_sudo[@]}" dpkg-deb -x prometheus_*.deb "$PROMTOOL_ROOT")
    rm -rf "$promtool_download"
fi

[ ${#missing[@]} -eq 0 ] && exit 0

sudo=()
[ "$(id -u)" -eq 0 ] || sudo=(sudo)
echo "installing system packages: ${missing[*]}"
"${sudo[@]}" apt-get update -qq
"${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
