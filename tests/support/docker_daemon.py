"""The Docker daemon the tests share: one dockerd, its own socket and data root, host network only.

Several test runs (checkouts, pytest-xdist workers, Molecule) use it at the same time.  Each
takes a *lease* for as long as it needs the daemon; the first lease starts dockerd, the last
one released stops it, so nothing of ours outlives the last run that used it, and no run
stops the daemon under another.  A lease is a shared ``flock`` on ``users.lock``: the kernel
drops it when its process dies, however it dies, so a killed run never keeps the daemon
alive.  Starting and stopping happen under ``control.lock``, so a run never starts a second
daemon beside a running one, nor stops one another run is just starting to use.

Everything lives under ``/var/lib/papermerge-backup-tests/docker`` (``PAPERMERGE_DOCKER_STATE``
overrides it): ``data/`` (images and volumes, kept between runs: the image cache), ``exec/``
(runtime state), ``docker.sock``, ``dockerd.pid``, ``dockerd.log``.  The daemon runs with
``--bridge=none --iptables=false --ip-masq=false``: containers use ``--network host`` (services
on loopback ports) or none at all, so no container ever gets an address of its own.

Containers, volumes and networks that tests create carry the label ``RUN_LABEL=<run id>``
(and ``PID_LABEL=<pid>``); a run removes its own when it releases its lease, and removes those
of runs whose process is gone when it takes one.

Command line (as root), for make targets and Molecule::

    python3 tests/support/docker_daemon.py status
    python3 tests/support/docker_daemon.py lease -- COMMAND...   run COMMAND holding a lease
                                                                   (DOCKER_HOST set for it, and
                                                                   PAPERMERGE_DOCKER_LEASE: see
                                                                   DockerDaemon.of_lease())
    python3 tests/support/docker_daemon.py stop                  stop the daemon if unused
"""

import errno
import fcntl
import json
import os
import shutil
import signal
import subprocess
import sys
import time
import uuid
from contextlib import contextmanager
from pathlib import Path

STATE_DIR = Path(os.environ.get('PAPERMERGE_DOCKER_STATE',
                                '/var/lib/papermerge-backup-tests/docker'))
DOCKERD = '/usr/sbin/dockerd'
LABEL_PREFIX = 'papermerge-backup-tests'
RUN_LABEL = LABEL_PREFIX + '.run'
PID_LABEL = LABEL_PREFIX + '.pid'
LEASE_VARIABLE = 'PAPERMERGE_DOCKER_LEASE'
START_TIMEOUT = 60
STOP_TIMEOUT = 60


class DockerError(RuntimeError):
    """A docker command or the daemon failed; the message carries the output."""


def _flock(handle, operation):
    """flock that retries when a signal interrupts the wait."""
    while True:
        try:
            fcntl.flock(handle, operation)
            return
        except InterruptedError:
            continue


@contextmanager
def _locked(path):
    with open(path, 'a+') as handle:
        _flock(handle, fcntl.LOCK_EX)
        try:
            yield handle
        finally:
            _flock(handle, fcntl.LOCK_UN)


def docker_binary():
    """The docker CLI on PATH: the one Ansible's community.docker.docker connection runs."""
    found = shutil.which('docker')
    if not found:
        raise DockerError('the docker CLI is not installed: run scripts/install-system-deps.sh '
                          '(package docker.io)')
    return found


class DockerDaemon:
    """The shared test daemon, seen from one process.  ``acquire()`` takes a lease (starting
    dockerd when nobody runs it), ``release()`` gives it back (stopping dockerd when this was
    the last lease).  ``docker(*args)`` runs the docker CLI against it."""

    def __init__(self, state_dir=STATE_DIR):
        self.state_dir = Path(state_dir)
        self.data_root = self.state_dir / 'data'
        self.exec_root = self.state_dir / 'exec'
        self.socket = self.state_dir / 'docker.sock'
        self.pid_file = self.state_dir / 'dockerd.pid'
        self.log_file = self.state_dir / 'dockerd.log'
        self.config_file = self.state_dir / 'daemon.json'
        self.client_config_dir = self.state_dir / 'client-config'
        self.run_id = uuid.uuid4().hex[:8]
        self.owner_pid = os.getpid()
        self._lease = None

    @classmethod
    def of_lease(cls):
        """The daemon as a child of ``lease -- COMMAND`` uses it, without a lease of its own:
        what it creates carries the lease's run id and process, which outlive the child (each
        of Molecule's steps is a process of its own), and goes when the lease ends."""
        run_id, _colon, pid = os.environ.get(LEASE_VARIABLE, '').partition(':')
        if not run_id or not pid.isdigit():
            raise DockerError('%s is not set: run this under `python3 tests/support/'
                              'docker_daemon.py lease -- ...`' % LEASE_VARIABLE)
        daemon = cls()
        daemon.run_id = run_id
        daemon.owner_pid = int(pid)
        return daemon

    @property
    def host(self):
        """The DOCKER_HOST value (``unix://...``) of the daemon."""
        return 'unix://%s' % self.socket

    def environment(self, base=None):
        """``base`` (default: this process's environment) made to talk to this daemon, for
        docker, docker-compose and Ansible's docker connection alike: DOCKER_HOST set, no
        docker context or client config of the user's, the classic builder."""
        env = dict(os.environ if base is None else base)
        for key in ('DOCKER_CONTEXT', 'DOCKER_TLS_VERIFY', 'DOCKER_CERT_PATH'):
            env.pop(key, None)
        env.update({'DOCKER_HOST': self.host, 'DOCKER_CONFIG': str(self.client_config_dir),
                    'DOCKER_BUILDKIT': '0', 'COMPOSE_DOCKER_CLI_BUILD': '0'})
        return env

    def labels(self):
        """{label: value} for everything this run creates: its run id and its process."""
        return {RUN_LABEL: self.run_id, PID_LABEL: str(self.owner_pid)}

    # -- running the CLI ----------------------------------------------------------------------
    def run(self, args, stdin=None, timeout=600, env=None):
        """Run ``docker <args>`` against this daemon; the CompletedProcess (text, or bytes
        when ``stdin`` is bytes), whatever its exit code."""
        return subprocess.run(
            [docker_binary()] + [str(a) for a in args], input=stdin,
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=timeout, check=False,
            env=self.environment(env), text=not isinstance(stdin, bytes))

    def docker(self, *args, stdin=None, timeout=600, check=True, env=None):
        """Run ``docker <args>`` against this daemon; return stdout.  A failure raises
        DockerError with the output (``check=False``: returns stdout anyway)."""
        result = self.run(args, stdin=stdin, timeout=timeout, env=env)
        if check and result.returncode != 0:
            raise DockerError('docker %s exited %d\n--- stdout ---\n%s\n--- stderr ---\n%s' % (
                ' '.join(str(a) for a in args), result.returncode,
                _tail(result.stdout), _tail(result.stderr)))
        return result.stdout

    def is_answering(self):
        if not self.socket.exists():
            return False
        try:
            self.docker('version', '--format', '{{.Server.Version}}', timeout=20)
        except (DockerError, subprocess.TimeoutExpired):
            return False
        return True

    # -- leases -------------------------------------------------------------------------------
    def acquire(self):
        """Take a lease; start dockerd when it is not answering.  Returns self."""
        if self._lease is not None:
            return self
        _require_root()
        self.state_dir.mkdir(parents=True, exist_ok=True)
        lease = open(self.state_dir / 'users.lock', 'a+')
        try:
            with _locked(self.state_dir / 'control.lock'):
                if not self.is_answering():
                    self._start(alone=_try_exclusive(lease))
                _flock(lease, fcntl.LOCK_SH)
        except BaseException:
            lease.close()
            raise
        self._lease = lease
        self.remove_leftovers()
        return self

    def release(self):
        """Remove what this run created, give the lease back, and stop dockerd if no other
        lease is held."""
        if self._lease is None:
            return
        try:
            self.remove_labelled({RUN_LABEL: self.run_id})
        finally:
            with _locked(self.state_dir / 'control.lock'):
                _flock(self._lease, fcntl.LOCK_UN)
                if _try_exclusive(self._lease):
                    self._stop()
                self._lease.close()
                self._lease = None

    def stop_if_unused(self):
        """Stop dockerd unless some run holds a lease; True when it is (now) stopped."""
        self.state_dir.mkdir(parents=True, exist_ok=True)
        with open(self.state_dir / 'users.lock', 'a+') as probe:
            with _locked(self.state_dir / 'control.lock'):
                if not _try_exclusive(probe):
                    return False
                self._stop()
                return True

    # -- starting and stopping ----------------------------------------------------------------
    def _start(self, alone):
        """Start dockerd (under control.lock).  ``alone``: no lease is held, so a dockerd of
        ours that is running but not answering may be killed, and runtime state reset."""
        stale = self._running_pid()
        if stale is not None:
            if not alone:
                raise DockerError('the test dockerd (pid %d) does not answer on %s while other '
                                  'runs hold leases; see %s' % (stale, self.socket, self.log_file))
            self._terminate(stale)
        _unmount_below(self.state_dir)
        shutil.rmtree(self.exec_root, ignore_errors=True)
        for path in (self.socket, self.pid_file):
            _unlink(path)
        self.data_root.mkdir(parents=True, exist_ok=True)
        self.client_config_dir.mkdir(parents=True, exist_ok=True)
        # An empty config file of our own: /etc/docker/daemon.json must not change the daemon.
        self.config_file.write_text('{}\n')
        with open(self.log_file, 'ab') as log:
            process = subprocess.Popen(
                [DOCKERD, '--config-file', str(self.config_file),
                 '--data-root', str(self.data_root), '--exec-root', str(self.exec_root),
                 '--host', self.host, '--pidfile', str(self.pid_file),
                 '--bridge=none', '--iptables=false', '--ip-masq=false', '--ip6tables=false',
                 '--userland-proxy=false', '--group', 'docker', '--log-level', 'warn'],
                stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                start_new_session=True, close_fds=True)
        deadline = time.monotonic() + START_TIMEOUT
        while not self.is_answering():
            if process.poll() is not None or time.monotonic() > deadline:
                if process.poll() is None:
                    self._terminate(process.pid)
                _unmount_below(self.state_dir)
                raise DockerError('dockerd did not start (exit %s); its log is %s:\n%s' % (
                    process.poll(), self.log_file, _tail(_read(self.log_file))))
            time.sleep(0.2)

    def _stop(self):
        pid = self._running_pid()
        if pid is not None:
            self._terminate(pid)
        _unlink(self.socket)
        # dockerd leaves its default network namespace mounted under exec/netns (and a dockerd
        # that died leaves its data root mounted).
        _unmount_below(self.state_dir)

    def _terminate(self, pid):
        """SIGTERM dockerd (it stops its containers and containerd), SIGKILL after a wait."""
        _signal(pid, signal.SIGTERM)
        deadline = time.monotonic() + STOP_TIMEOUT
        while process_is_alive(pid) and time.monotonic() < deadline:
            time.sleep(0.2)
        if process_is_alive(pid):
            _signal(pid, signal.SIGKILL)
        _reap(pid)
        _unlink(self.pid_file)

    def _running_pid(self):
        """The pid of a dockerd running with our data root, if any (never another dockerd)."""
        candidates = []
        try:
            candidates.append(int(self.pid_file.read_text().strip()))
        except (OSError, ValueError):
            pass
        candidates.extend(int(p) for p in os.listdir('/proc') if p.isdigit())
        for pid in candidates:
            argv = _cmdline(pid)
            if argv and argv[0].endswith('dockerd') and str(self.data_root) in argv:
                return pid
        return None

    # -- cleaning up ----------------------------------------------------------------------------
    def remove_labelled(self, labels):
        """Remove containers (with their anonymous volumes), volumes and networks carrying all
        of ``labels``."""
        filters = []
        for key, value in labels.items():
            filters += ['--filter', 'label=%s=%s' % (key, value)]
        containers = self.docker('ps', '-aq', *filters).split()
        if containers:
            self.docker('rm', '-f', '-v', *containers, check=False)
        volumes = self.docker('volume', 'ls', '-q', *filters).split()
        if volumes:
            self.docker('volume', 'rm', '-f', *volumes, check=False)
        networks = self.docker('network', 'ls', '-q', *filters).split()
        if networks:
            self.docker('network', 'rm', *networks, check=False)

    def remove_leftovers(self):
        """Remove what runs whose process has ended left behind (killed test sessions)."""
        owner = '{{.Label "%s"}} {{.Label "%s"}}' % (RUN_LABEL, PID_LABEL)
        listing = self.docker('ps', '-a', '--filter', 'label=' + PID_LABEL, '--format', owner)
        listing += self.docker('volume', 'ls', '--filter', 'label=' + PID_LABEL, '--format', owner)
        dead_runs = set()
        for line in listing.splitlines():
            run, pid = (line.split(' ', 1) + [''])[:2]
            if run and run != self.run_id and pid.isdigit() and not process_is_alive(int(pid)):
                dead_runs.add(run)
        for run in sorted(dead_runs):
            self.remove_labelled({RUN_LABEL: run})

    def status(self):
        return {'socket': str(self.socket), 'answering': self.is_answering(),
                'pid': self._running_pid(), 'data_root': str(self.data_root)}


# -- small helpers ------------------------------------------------------------------------------
def _require_root():
    if os.geteuid() != 0:
        raise DockerError('the Docker tests run dockerd and must run as root (as CI does)')
    if not os.access(DOCKERD, os.X_OK):
        raise DockerError('%s is missing: run scripts/install-system-deps.sh (package docker.io)'
                          % DOCKERD)


def _try_exclusive(handle):
    """True when an exclusive lock on ``handle`` was taken: nobody else holds a lease.  The
    exclusive lock becomes the caller's (a shared lease replaces it, or close() drops it)."""
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as error:
        if error.errno in (errno.EAGAIN, errno.EACCES):
            return False
        raise
    return True


def _cmdline(pid):
    try:
        with open('/proc/%d/cmdline' % pid, 'rb') as handle:
            return handle.read().decode('utf-8', 'replace').split('\0')
    except OSError:
        return None


def process_is_alive(pid):
    """True while ``pid`` runs (a zombie has stopped)."""
    try:
        with open('/proc/%d/stat' % pid) as handle:
            state = handle.read().rsplit(')', 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != 'Z'


def _reap(pid):
    """Collect the exit status of a dockerd this process started (no zombie left behind)."""
    try:
        os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        pass


def _signal(pid, signum):
    try:
        os.kill(pid, signum)
    except ProcessLookupError:
        pass


def _unmount_below(directory):
    """Unmount every mount point below ``directory``, deepest first."""
    prefix = str(directory).rstrip('/') + '/'
    with open('/proc/self/mounts') as mounts:
        points = [line.split()[1] for line in mounts]
    for point in sorted((p for p in points if p.startswith(prefix)), key=len, reverse=True):
        subprocess.run(['umount', '-l', point], check=False, stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL)


def _unlink(path):
    try:
        Path(path).unlink()
    except FileNotFoundError:
        pass


def _read(path):
    try:
        return Path(path).read_text(errors='replace')
    except OSError:
        return ''


def _tail(text, size=5000):
    if isinstance(text, bytes):
        text = text.decode('utf-8', 'replace')
    return (text or '')[-size:]


def main(argv):
    daemon = DockerDaemon()
    command = argv[0] if argv else 'status'
    if command == 'status':
        print(json.dumps(daemon.status(), indent=1))
        return 0
    if command == 'stop':
        if daemon.stop_if_unused():
            print('test dockerd stopped (or was not running)')
            return 0
        print('test dockerd left running: other runs hold leases', file=sys.stderr)
        return 1
    if command == 'lease' and argv[1:2] == ['--'] and argv[2:]:
        daemon.acquire()
        try:
            env = daemon.environment()
            env[LEASE_VARIABLE] = '%s:%d' % (daemon.run_id, daemon.owner_pid)
            return subprocess.call(argv[2:], env=env)
        finally:
            daemon.release()
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == '__main__':
    sys.exit(main(sys.argv[1:]))
