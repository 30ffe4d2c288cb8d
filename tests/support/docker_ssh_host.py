"""A remote Docker host for the tests: the controller reaches the test dockerd over SSH.

This is the topology AWX has (the controller is not the Docker host): ``docker -H
ssh://USER@127.0.0.1:PORT ...`` runs ``ssh ... docker system dial-stdio`` on the "Docker host",
an sshd test host (tests/support/ssh_host/ssh_host.sh) whose login user is in the group
``docker`` that owns the test daemon's socket, and whose sessions get the daemon's DOCKER_HOST
(sshd's SetEnv), as a Docker host's own daemon would be the default there.

The docker CLI starts ``ssh`` from PATH with no way to pass options, so the controller side is a
directory holding an ``ssh`` wrapper that adds ``-F <config>``: the host's client key, its
known host key (StrictHostKeyChecking yes), batch mode.  ``client_environment()`` puts that
directory first on PATH, for the docker CLI and for Ansible's community.docker.docker
connection (``ansible_docker_extra_args: "-H ssh://..."``) alike.
"""

import json
import os
import shutil
import subprocess
from pathlib import Path

from docker_daemon import DockerError, process_is_alive

SSH_HOST_SCRIPT = Path(__file__).resolve().parent / 'ssh_host' / 'ssh_host.sh'
HOSTS_ROOT = Path('/var/lib/papermerge-backup-tests/docker-ssh-hosts')
USER = 'pmdocker'
DOCKER_GROUP = 'docker'


class SshDockerHost:
    """An sshd on 127.0.0.1 in front of the test daemon.  ``start()`` / ``stop()``; attributes
    url (``ssh://pmdocker@127.0.0.1:PORT``), port, user, identity_file, state_dir,
    client_dir (the ssh wrapper and its config).  Its directories are named after the run and
    its process, so that a later run stops the hosts of a run that was killed."""

    def __init__(self, daemon):
        self.daemon = daemon
        name = 'host-%s-%d' % (daemon.run_id, os.getpid())
        self.state_dir = HOSTS_ROOT / name
        self.client_dir = HOSTS_ROOT / (name + '-client')
        self.user = USER
        self.port = None
        self.identity_file = None

    @property
    def url(self):
        return 'ssh://%s@127.0.0.1:%d' % (self.user, self.port)

    def start(self):
        HOSTS_ROOT.mkdir(parents=True, exist_ok=True)
        os.chmod(HOSTS_ROOT, 0o755)
        stop_hosts_of_ended_runs()
        env = dict(os.environ, SSH_TEST_HOST_SETENV='DOCKER_HOST=%s' % self.daemon.host)
        result = subprocess.run(['bash', str(SSH_HOST_SCRIPT), 'start', str(self.state_dir),
                                 'auto', self.user], env=env, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True, check=False)
        if result.returncode != 0:
            raise DockerError('ssh_host.sh start failed:\n%s' % result.stderr[-3000:])
        details = json.loads(result.stdout.strip().splitlines()[-1])
        self.port = details['port']
        self.identity_file = details['identity_file']
        # The socket is root:docker 0660: membership is what lets the login user reach it.
        subprocess.run(['usermod', '-a', '-G', DOCKER_GROUP, self.user], check=True)
        self._write_client()
        return self

    def _write_client(self):
        self.client_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        host_key = (self.state_dir / 'ssh_host_ed25519_key.pub').read_text().split()
        known_hosts = self.client_dir / 'known_hosts'
        known_hosts.write_text('[127.0.0.1]:%d %s %s\n' % (self.port, host_key[0], host_key[1]))
        config = self.client_dir / 'ssh_config'
        config.write_text(
            'Host 127.0.0.1\n'
            '  IdentityFile %s\n  IdentitiesOnly yes\n  UserKnownHostsFile %s\n'
            '  StrictHostKeyChecking yes\n  BatchMode yes\n  LogLevel ERROR\n'
            % (self.identity_file, known_hosts))
        wrapper = self.client_dir / 'ssh'
        wrapper.write_text('#!/bin/sh\n# ssh for `docker -H ssh://...`: the test host\'s key and '
                           'known host key\nexec /usr/bin/ssh -F %s "$@"\n' % config)
        os.chmod(wrapper, 0o755)

    def client_environment(self):
        """Variables for the controller's docker CLI (or ansible) to reach this host."""
        return {'PATH': '%s:%s' % (self.client_dir, os.environ.get('PATH', '/usr/bin:/bin'))}

    def docker(self, *args, timeout=120):
        """``docker -H ssh://... <args>`` from the controller; return stdout."""
        env = self.daemon.environment()
        env.pop('DOCKER_HOST')
        env.update(self.client_environment())
        result = subprocess.run(['docker', '-H', self.url] + [str(a) for a in args], env=env,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                timeout=timeout, check=False)
        if result.returncode != 0:
            raise DockerError('docker -H %s %s exited %d:\n%s' % (
                self.url, ' '.join(str(a) for a in args), result.returncode,
                result.stderr[-3000:]))
        return result.stdout

    def stop(self):
        _stop_host(self.state_dir)


def _stop_host(state_dir):
    subprocess.run(['bash', str(SSH_HOST_SCRIPT), 'stop', str(state_dir)], check=False)
    shutil.rmtree('%s-client' % state_dir, ignore_errors=True)


def stop_hosts_of_ended_runs():
    """Stop the hosts whose run's process is gone (a killed test session)."""
    for state_dir in HOSTS_ROOT.glob('host-*-*'):
        pid = state_dir.name.rsplit('-', 1)[1]
        if pid.isdigit() and not process_is_alive(int(pid)):  # '...-client' dirs: not digits
            _stop_host(state_dir)
