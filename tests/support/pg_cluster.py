"""A throwaway PostgreSQL cluster for the integration tests.

initdb into a fresh directory under /tmp (as OS user ``postgres`` when running as root: initdb
refuses root), start it with pg_ctl on 127.0.0.1 and a free port (never 5432), password
authentication (scram-sha-256) for every connection, and a superuser password.  ``create_database(name)`` makes a login role
and a database owned by it and returns the database dict with configula keys that instances
and modules take.  ``stop()`` stops the server and removes the directory; it is safe to call
twice and also runs at interpreter exit.

Passwords reach initdb through a 0600 file and psql through PGPASSWORD, never argv.
"""

import atexit
import os
import pwd
import secrets
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

OS_USER = 'postgres'
SUPERUSER = 'postgres'
HOST = '127.0.0.1'


class PostgresClusterError(RuntimeError):
    pass


def free_port():
    """A TCP port on 127.0.0.1 that nothing listens on right now (never 5432)."""
    while True:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
            probe.bind((HOST, 0))
            port = probe.getsockname()[1]
        if port != 5432:
            return port


def _find_binary(name):
    found = shutil.which(name)
    if found:
        return found
    for candidate in sorted(Path('/usr/lib/postgresql').glob('*/bin/%s' % name), reverse=True):
        return str(candidate)
    raise PostgresClusterError('%s not found: install PostgreSQL (scripts/install-system-deps.sh)'
                               % name)


class PostgresCluster:
    """A running PostgreSQL server owned by the tests.

    Attributes: base_dir, data_dir, socket_dir, host, port, superuser, superuser_password.
    """

    def __init__(self, base_dir=None):
        self.base_dir = Path(base_dir or tempfile.mkdtemp(prefix='papermerge-pg-'))
        self.data_dir = self.base_dir / 'data'
        self.socket_dir = self.base_dir / 'socket'
        self.log_file = self.base_dir / 'server.log'
        self.host = HOST
        self.port = None
        self.superuser = SUPERUSER
        self.superuser_password = secrets.token_urlsafe(16)
        self._running = False
        # initdb refuses root: as root the server runs as ``postgres``, else as ourselves.
        self._account = pwd.getpwnam(OS_USER) if os.geteuid() == 0 else pwd.getpwuid(os.geteuid())

    # -- lifecycle ------------------------------------------------------------------------
    def start(self):
        self._prepare_dirs()
        self._initdb()
        for _attempt in range(5):  # a free port can be taken between probe and bind
            self.port = free_port()
            if self._pg_ctl_start():
                self._running = True
                atexit.register(self.stop)
                return self
        raise PostgresClusterError('PostgreSQL did not start; log:\n' + self._log_tail())

    def stop(self):
        """Stop the server (fast shutdown) and remove its directory."""
        if self._running:
            self._as_postgres([_find_binary('pg_ctl'), '-D', str(self.data_dir), '-m', 'fast',
                               '-w', 'stop'], check=False)
            self._running = False
        if self.base_dir.exists():
            shutil.rmtree(self.base_dir, ignore_errors=True)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    def _prepare_dirs(self):
        # /tmp is world-traversable; the directory itself belongs to postgres alone.
        self.base_dir.mkdir(parents=True, exist_ok=True)
        self.socket_dir.mkdir(exist_ok=True)
        for path in (self.base_dir, self.socket_dir):
            os.chown(path, self._account.pw_uid, self._account.pw_gid)
            os.chmod(path, 0o700)

    def _initdb(self):
        pwfile = self.base_dir / 'pwfile'
        pwfile.write_text(self.superuser_password + '\n')
        os.chown(pwfile, self._account.pw_uid, self._account.pw_gid)
        os.chmod(pwfile, 0o600)
        try:
            self._as_postgres([_find_binary('initdb'), '-D', str(self.data_dir),
                               '-U', self.superuser, '--pwfile', str(pwfile),
                               '--auth', 'scram-sha-256', '-E', 'UTF8', '--locale', 'C.UTF-8',
                               '--no-sync'])
        finally:
            pwfile.unlink()

    def _pg_ctl_start(self):
        options = ('-c listen_addresses=%s -p %d -c unix_socket_directories=%s '
                   '-c fsync=off -c synchronous_commit=off -c full_page_writes=off'
                   % (self.host, self.port, self.socket_dir))
        result = self._as_postgres([_find_binary('pg_ctl'), '-D', str(self.data_dir),
                                    '-l', str(self.log_file), '-o', options, '-w', '-t', '60',
                                    'start'], check=False)
        return result.returncode == 0

    def _as_postgres(self, argv, check=True):
        prefix = ['runuser', '-u', self._account.pw_name, '--'] if os.geteuid() == 0 else []
        result = subprocess.run(prefix + argv, cwd=str(self.base_dir),
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                check=False)
        if check and result.returncode != 0:
            raise PostgresClusterError('%s failed (%d):\n%s' % (argv[0], result.returncode,
                                                                result.stdout))
        return result

    def _log_tail(self):
        try:
            return self.log_file.read_text()[-4000:]
        except OSError:
            return '(no log)'

    # -- SQL ----------------------------------------------------------------------------------
    def psql(self, sql, database='postgres', user=None, password=None):
        """Run SQL with psql over TCP (password auth); return its stdout (unaligned, no headers)."""
        env = dict(os.environ, PGPASSWORD=password or self.superuser_password,
                   PGCONNECT_TIMEOUT='10')
        result = subprocess.run(
            [_find_binary('psql'), '-X', '-q', '-A', '-t', '-v', 'ON_ERROR_STOP=1',
             '-h', self.host, '-p', str(self.port), '-U', user or self.superuser, '-d', database,
             '-c', sql], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
            check=False)
        if result.returncode != 0:
            raise PostgresClusterError('psql failed: %s\n%s' % (sql, result.stderr))
        return result.stdout

    def database_dict(self, name, user=None, password=None):
        """Configula-style database dict for ``name`` (superuser credentials by default)."""
        return {'type': 'postgresql', 'name': name, 'user': user or self.superuser,
                'password': password or self.superuser_password, 'host': self.host,
                'port': self.port, 'dir': None}

    def create_database(self, name, owner=None):
        """Create login role ``owner`` (default: ``name``) with a fresh password and a database
        it owns; return the configula database dict for connecting as that role."""
        owner = owner or name
        password = secrets.token_urlsafe(16)
        self.psql('CREATE ROLE %s LOGIN PASSWORD %s' % (_ident(owner), _literal(password)))
        self.psql('CREATE DATABASE %s OWNER %s ENCODING \'UTF8\' TEMPLATE template0'
                  % (_ident(name), _ident(owner)))
        return self.database_dict(name, owner, password)

    def clone_database(self, database, name):
        """Copy ``database`` (a dict from create_database) to a new database ``name`` with the
        same owner; return its dict.  The source must have no open connections."""
        self.psql('CREATE DATABASE %s TEMPLATE %s OWNER %s'
                  % (_ident(name), _ident(database['name']), _ident(database['user'])))
        return dict(database, name=name)

    def drop_database(self, name, owner=None):
        self.psql('DROP DATABASE IF EXISTS %s WITH (FORCE)' % _ident(name))
        if owner:
            self.psql('DROP ROLE IF EXISTS %s' % _ident(owner))

    def wait_ready(self, timeout=30):
        deadline = time.monotonic() + timeout
        while True:
            try:
                self.psql('SELECT 1')
                return
            except PostgresClusterError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)


def _ident(name):
    return '"%s"' % name.replace('"', '""')


def _literal(text):
    return "'%s'" % text.replace("'", "''")
