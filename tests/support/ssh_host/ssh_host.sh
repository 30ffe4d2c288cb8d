#!/usr/bin/env bash
# Start and stop SSH test hosts: one root sshd per host on 127.0.0.1, so that playbooks reach a
# "host" the way they reach a real server (AnsiballZ over SSH, files over SFTP, sudo for become).
#
# Every host lives in its own state directory: generated host key, generated ed25519 client key,
# authorized_keys, sshd_config, PidFile, sshd.log, sftp.log, and `base/` (the host's own base directory;
# hosts share this machine's filesystem, so each one keeps its files under its base directory).
# The login user (default pmtest) is created when missing, with passwordless sudo.
#
# Usage (as root):
#   ssh_host.sh start STATE_DIR [PORT|auto] [USER]   start, print connection details as JSON
#   ssh_host.sh stop STATE_DIR                       stop the sshd and its sessions, remove STATE_DIR
#   ssh_host.sh stop-all ROOT_DIR                    stop every host whose state dir is under ROOT_DIR
#
# `auto` takes the first port from 2201 on that nobody listens on (and retries on a lost race).
# SSH_TEST_HOST_LOG_LEVEL sets sshd's LogLevel (default VERBOSE; DEBUG1 also logs every port
# forwarding, which shows that a host served as a jump host).
# SSH_TEST_HOST_SETENV="NAME=value ..." sets variables in every session (sshd's SetEnv), e.g. the DOCKER_HOST
# of the test dockerd for a Docker host reached with `docker -H ssh://...`.
set -euo pipefail

readonly SSHD=/usr/sbin/sshd
readonly MARKER=.ssh-test-host
readonly FIRST_AUTO_PORT=2201
readonly LAST_AUTO_PORT=2299

die() {
    echo "ssh_host.sh: $*" >&2
    exit 1
}

require_root() {
    [ "$(id -u)" -eq 0 ] || die "must run as root: sshd binds as root and the login user needs sudo"
    [ -x "$SSHD" ] || die "$SSHD is missing: run scripts/install-system-deps.sh (package openssh-server)"
}

# The login user has no usable password ('*', which sshd does not treat as locked, unlike '!'),
# so key authentication is the only way in; sudo needs no password so that `become` works.
ensure_user() {
    local user=$1 sudoers="/etc/sudoers.d/ssh-test-host-$1"
    if ! id "$user" >/dev/null 2>&1; then
        useradd --create-home --shell /bin/bash --password '*' "$user"
    fi
    if [ ! -f "$sudoers" ]; then
        local tmp
        tmp=$(mktemp /etc/sudoers.d/.ssh-test-host.XXXXXX)
        printf '%s ALL=(ALL:ALL) NOPASSWD: ALL\n' "$user" >"$tmp"
        chmod 0440 "$tmp"
        visudo -cqf "$tmp" || { rm -f "$tmp"; die "generated sudoers entry for $user is invalid"; }
        mv "$tmp" "$sudoers"
    fi
}

# StrictModes stays on: every directory from / down to the state dir must be root-owned and not
# group/world-writable (true of the checkout's .cache, not of /tmp); the modes we create are set.
check_strict_modes() {
    local dir=$1
    while :; do
        if [ "$(stat -c %u "$dir")" != 0 ] || [ -n "$(find "$dir" -maxdepth 0 -perm /022)" ]; then
            die "sshd (StrictModes) refuses keys below $dir: it is not root-owned or is group/world-writable; put the state dir elsewhere (SSH_TEST_HOSTS_DIR)"
        fi
        [ "$dir" = / ] && return 0
        dir=$(dirname "$dir")
    done
}

prepare_state_dir() {
    local state=$1 user=$2
    mkdir -p "$state"
    check_strict_modes "$(dirname "$state")"
    chmod 0755 "$state"
    touch "$state/$MARKER"
    [ -f "$state/ssh_host_ed25519_key" ] || ssh-keygen -q -t ed25519 -N '' -C "test host key" -f "$state/ssh_host_ed25519_key"
    [ -f "$state/id_ed25519" ] || ssh-keygen -q -t ed25519 -N '' -C "$user@ssh-test-host" -f "$state/id_ed25519"
    install -m 0644 "$state/id_ed25519.pub" "$state/authorized_keys"
    # The login user may read the client key too: a host reaches another test host as that user
    # (ssh from one host to the other without become); root reads it anyway.
    chown "$user:" "$state/id_ed25519"
    mkdir -p "$state/base"
    chown "$user:" "$state/base"
    touch "$state/sftp.log"
    chown "$user:" "$state/sftp.log"
    chmod 0755 "$state/base"
}

write_sshd_config() {
    local state=$1 port=$2 user=$3
    cat >"$state/sshd_config" <<EOF
# SSH test host: written by tests/support/ssh_host/ssh_host.sh
ListenAddress 127.0.0.1
Port $port
HostKey $state/ssh_host_ed25519_key
PidFile $state/sshd.pid
AuthorizedKeysFile $state/authorized_keys
AllowUsers $user
PermitRootLogin no
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
StrictModes yes
X11Forwarding no
PrintMotd no
LogLevel ${SSH_TEST_HOST_LOG_LEVEL:-VERBOSE}
MaxStartups 50:30:100
MaxSessions 50
AcceptEnv LANG LC_*
# The subsystem runs through the login user's shell: sftp-server logs every file it opens to
# sftp.log, so tests can tell what travelled over SFTP.
Subsystem sftp /usr/lib/openssh/sftp-server -e -l INFO 2>>$state/sftp.log
EOF
    if [ -n "${SSH_TEST_HOST_SETENV:-}" ]; then
        printf 'SetEnv %s\n' "$SSH_TEST_HOST_SETENV" >>"$state/sshd_config"
    fi
    chmod 0644 "$state/sshd_config"
}

is_listening() {
    [ -n "$(ss -Hltn "sport = :$1" 2>/dev/null)" ]
}

# The pid of the listening sshd started with this state dir's config, if it is running.
# The check on the command line keeps a stale PidFile from pointing us at an unrelated process.
sshd_pid() {
    local state=$1 pid
    pid=$(cat "$state/sshd.pid" 2>/dev/null || true)
    if [ -n "$pid" ] && tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -qF -- "-f $state/sshd_config"; then
        echo "$pid"
        return 0
    fi
    for cmdline in /proc/[0-9]*/cmdline; do
        if tr '\0' ' ' <"$cmdline" 2>/dev/null | grep -qF -- "$SSHD -f $state/sshd_config"; then
            pid=${cmdline#/proc/}
            echo "${pid%/cmdline}"
            return 0
        fi
    done
    return 1
}

wait_listening() {
    local port=$1 pid=$2
    for _ in $(seq 50); do
        is_listening "$port" && return 0
        kill -0 "$pid" 2>/dev/null || return 1
        sleep 0.1
    done
    return 1
}

# Start sshd on one port; sshd binds before it daemonizes, so a port taken meanwhile fails here.
try_start() {
    local state=$1 port=$2 user=$3 pid
    write_sshd_config "$state" "$port" "$user"
    "$SSHD" -t -f "$state/sshd_config" || die "sshd rejects $state/sshd_config"
    rm -f "$state/sshd.pid"
    "$SSHD" -f "$state/sshd_config" -E "$state/sshd.log" || return 1
    for _ in $(seq 50); do
        [ -s "$state/sshd.pid" ] && break
        sleep 0.1
    done
    pid=$(cat "$state/sshd.pid" 2>/dev/null) || return 1
    wait_listening "$port" "$pid"
}

start() {
    local state=$1 port=${2:-auto} user=${3:-pmtest} candidate
    require_root
    state=$(realpath -m "$state")
    ensure_user "$user"
    prepare_state_dir "$state" "$user"
    # sshd's privilege separation directory; tmpfs /run starts without it when no system sshd runs.
    mkdir -p /run/sshd
    chmod 0755 /run/sshd
    if sshd_pid "$state" >/dev/null; then
        port=$(cat "$state/port")
    elif [ "$port" = auto ]; then
        for candidate in $(seq "$FIRST_AUTO_PORT" "$LAST_AUTO_PORT"); do
            is_listening "$candidate" && continue
            if try_start "$state" "$candidate" "$user"; then
                port=$candidate
                break
            fi
        done
        [ "$port" != auto ] || die "no free port in $FIRST_AUTO_PORT-$LAST_AUTO_PORT (see $state/sshd.log)"
    else
        is_listening "$port" && die "port $port is already in use: pick another ssh_port or use auto"
        try_start "$state" "$port" "$user" || die "sshd did not start on port $port (see $state/sshd.log)"
    fi
    echo "$port" >"$state/port"
    printf '{"address": "127.0.0.1", "port": %s, "user": "%s", "identity_file": "%s", "state_dir": "%s", "base_dir": "%s", "pid": %s}\n' \
        "$port" "$user" "$state/id_ed25519" "$state" "$state/base" "$(sshd_pid "$state")"
}

# True while any of the given processes runs; a zombie (killed, not yet reaped by init) has stopped.
any_running() {
    local pid state
    for pid in "$@"; do
        state=$(sed -n 's/^[0-9]* (.*) \([A-Za-z]\) .*/\1/p' "/proc/$pid/stat" 2>/dev/null || true)
        [ -n "$state" ] && [ "$state" != Z ] && return 0
    done
    return 1
}

# Stop the listener and the per-connection sshd processes it forked (their sessions would
# otherwise outlive it, and with them Ansible's ControlPersist masters).
stop() {
    local state pid
    local -a processes
    state=$(realpath -m "$1")
    [ -d "$state" ] || return 0
    [ -f "$state/$MARKER" ] || die "$state is not an SSH test host state dir (no $MARKER): not touching it"
    if pid=$(sshd_pid "$state"); then
        read -r -a processes <<<"$pid $(pgrep -P "$pid" | tr '\n' ' ')"
        kill "${processes[@]}" 2>/dev/null || true
        for _ in $(seq 50); do
            any_running "${processes[@]}" || break
            sleep 0.1
        done
        kill -KILL "${processes[@]}" 2>/dev/null || true
    fi
    rm -rf "$state"
}

stop_all() {
    local root marker
    root=$(realpath -m "$1")
    [ -d "$root" ] || return 0
    for marker in "$root"/*/"$MARKER"; do
        [ -e "$marker" ] && stop "$(dirname "$marker")"
    done
    rmdir "$root" 2>/dev/null || true
}

case "${1:-}" in
    start) shift; [ $# -ge 1 ] || die "usage: start STATE_DIR [PORT|auto] [USER]"; start "$@" ;;
    stop) shift; [ $# -eq 1 ] || die "usage: stop STATE_DIR"; stop "$1" ;;
    stop-all) shift; [ $# -eq 1 ] || die "usage: stop-all ROOT_DIR"; stop_all "$1" ;;
    *) die "usage: ssh_host.sh start STATE_DIR [PORT|auto] [USER] | stop STATE_DIR | stop-all ROOT_DIR" ;;
esac
