#!/usr/bin/env bash
# Install the Debian packages the tests need, when missing: sshd for SSH test hosts, rsync for
# ansible.posix.synchronize, pigz for the benchmark, sudo for `become`, shellcheck for sanity; dockerd,
# docker-compose and mmdebstrap for the Docker tests (docs/testing-docker.md).  PostgreSQL 15 server
# binaries (initdb, pg_ctl) are expected on the machine; postgresql-15 is installed when missing.
set -euo pipefail

packages=(openssh-server openssh-client rsync pigz sudo shellcheck git docker.io docker-compose mmdebstrap)
command -v initdb >/dev/null || [ -x /usr/lib/postgresql/15/bin/initdb ] || packages+=(postgresql-15)

missing=()
for package in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" || missing+=("$package")
done
[ ${#missing[@]} -eq 0 ] && exit 0

sudo=()
[ "$(id -u)" -eq 0 ] || sudo=(sudo)
echo "installing system packages: ${missing[*]}"
"${sudo[@]}" apt-get update -qq
DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
