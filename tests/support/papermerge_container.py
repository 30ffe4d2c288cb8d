"""Papermerge 2.1.9 deployed in Docker the way users run it, for the integration tests.

Two deployments of the test image (docker_images.py), both on the host's network with every
service on a free loopback port:

- ``ComposeDeployment``: upstream's docker/docker-compose.yml (docker/compose/docker-compose.yml
  here): ``backend`` and ``worker`` on the image, ``db`` (PostgreSQL), ``redis``, media on the
  volume ``media_root:/app/media``, settings from PAPERMERGE__* variables; the backend's
  ``server`` command runs ``init`` (collectstatic, migrate, createsuperuser) first.
- ``QuickstartContainer``: upstream's quick start, ``docker run`` of the image with only a
  secret key and a superuser password: SQLite and media inside the container's writable layer.

``PapermergeContainer`` drives one app container through ``docker exec`` with the same API as
papermerge_host.PapermergeInstance (manage, run_django_script, migrate, seed, state, sql,
smoke), so tests compare containers and venv instances with the same helpers; and it gives the
Ansible inventory variables that reach it (``inventory_vars``).
"""

import http.client
import json
import os
import secrets
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

from ansible_run import ANSIBLE_BIN, ansible_environment
from docker_daemon import DockerError, PID_LABEL, RUN_LABEL
from papermerge_host import (SEED_SCRIPT, SMOKE_SCRIPT, SQL_SCRIPT, STATE_SCRIPT,
                             PapermergeCommandError)
from pg_cluster import free_port

SUPPORT_DIR = Path(__file__).resolve().parent
COMPOSE_FILE = SUPPORT_DIR / 'docker' / 'compose' / 'docker-compose.yml'
PROJECT_DIR = '/app'
VENV = '/venv'
PYTHON = VENV + '/bin/python'
MEDIA_ROOT = PROJECT_DIR + '/media'
SUPERUSER = 'admin'
READY_TIMEOUT = 300

# Upstream's docker/prod/uwsgi.ini, but on a loopback port of the tests' choosing: with the
# host's network, upstream's ':8000' would be every interface and one port for all deployments.
UWSGI_INI = """[uwsgi]
module = config.wsgi
home = /venv
http-socket = 127.0.0.1:%d
master = true
workers = 2
die-on-term = true
threads = 4
socket-timeout = 30
"""

# A freshly init-ed container has the superuser `init` created; the standard seed wants an
# instance without users, so seed() removes that user first, if it owns nothing but the
# .home and .inbox folders Papermerge makes for every user (all users or none).
_REMOVE_FRESH_USERS = """
import sys
import django
django.setup()
from django.db import transaction
from papermerge.core.models import BaseTreeNode, User
with transaction.atomic():
    users = list(User.objects.all())
    for user in users:
        if BaseTreeNode.objects.filter(user=user).exclude(
                pk__in=[user.home_folder_id, user.inbox_folder_id]).exists():
            sys.exit('user %s owns documents or folders: not a fresh instance' % user.username)
    for user in users:
        user.delete()
"""


class PapermergeContainer:
    """One container of the Papermerge image, driven through ``docker exec``.

    Attributes as PapermergeInstance's: project_dir (/app), venv (/venv), python
    (/venv/bin/python), media_root (/app/media), config_file (None: settings come from the
    container's PAPERMERGE__* variables), database (configula keys), engine ('sqlite' |
    'postgresql'); and name, daemon, superuser (the user `init` created), superuser_password.
    """

    def __init__(self, daemon, name, database, superuser=SUPERUSER, superuser_password=None):
        self.daemon = daemon
        self.name = name
        self.project_dir = PROJECT_DIR
        self.venv = VENV
        self.python = PYTHON
        self.media_root = MEDIA_ROOT
        self.config_file = None
        self.database = dict(database)
        self.engine = 'postgresql' if self.database.get('type') in (
            'pg', 'postgre', 'postgres', 'postgresql') else 'sqlite'
        self.superuser = superuser
        self.superuser_password = superuser_password

    def __repr__(self):
        return 'PapermergeContainer(%s, %s)' % (self.name, self.engine)

    # -- docker -------------------------------------------------------------------------------
    def exec(self, argv, stdin=None, env=None, timeout=600):
        """Run ``argv`` in the container (working directory /app, the container's environment
        plus DJANGO_SETTINGS_MODULE as run.bash sets it, plus ``env``); return stdout."""
        variables = {'DJANGO_SETTINGS_MODULE': 'config.settings', 'PYTHONIOENCODING': 'utf-8',
                     'LC_ALL': 'C.UTF-8', 'LANG': 'C.UTF-8'}
        variables.update(env or {})
        args = ['exec', '-i', '-w', self.project_dir]
        for key, value in variables.items():
            args += ['-e', '%s=%s' % (key, value)]
        args += [self.name] + [str(a) for a in argv]
        result = self.daemon.run(args, stdin=stdin or '', timeout=timeout)
        if result.returncode != 0:
            raise PapermergeCommandError(
                'docker exec %s %s exited %d\n--- stdout ---\n%s\n--- stderr ---\n%s'
                % (self.name, ' '.join(str(a) for a in argv)[:300], result.returncode,
                   result.stdout[-5000:], result.stderr[-10000:]))
        return result.stdout

    def inspect(self):
        return json.loads(self.daemon.docker('inspect', self.name))[0]

    def is_running(self):
        return self.inspect()['State']['Running']

    def environment(self):
        """The container's environment ({name: value}), as a process started with docker exec
        inherits it."""
        return dict(item.split('=', 1) for item in self.inspect()['Config']['Env'])

    def logs(self, tail=200):
        return self.daemon.docker('logs', '--tail', str(tail), self.name, check=False)

    def stop(self):
        self.daemon.docker('stop', self.name)

    def start(self):
        self.daemon.docker('start', self.name)

    # -- the operations tests use (PapermergeInstance's API) ----------------------------------
    def manage(self, *args, env=None, timeout=600):
        """Run ``manage.py <args>`` with /venv's python; return stdout."""
        return self.exec([self.python, 'manage.py'] + list(args), env=env, timeout=timeout)

    def run_django_script(self, path, *args, env=None, timeout=600, stdin=None):
        """Run one of django_scripts/ in the container; its source goes in as ``python -c``,
        so nothing is written into the container and stdin stays the script's."""
        source = Path(path).read_text(encoding='utf-8')
        return self.exec([self.python, '-c', source] + list(args), env=env, timeout=timeout,
                         stdin=stdin)

    def migrate(self):
        self.manage('migrate', '--noinput', '-v', '0')
        return self

    def remove_fresh_users(self):
        """Delete the users that own nothing but their .home and .inbox (what ``init`` made)."""
        self.exec([self.python, '-c', _REMOVE_FRESH_USERS])
        return self

    def seed(self, *args):
        """The standard data set (django_scripts/seed.py), after removing the superuser
        ``init`` created; with args (e.g. '--documents', '100') the bulk one, added."""
        if not args or args == ('--no-groups',):
            self.remove_fresh_users()
        self.run_django_script(SEED_SCRIPT, *args)
        return self

    def state(self, timestamps=True):
        """The instance as a JSON-able dict (django_scripts/state.py, media sha256 included)."""
        args = [] if timestamps else ['--no-timestamps']
        return json.loads(self.run_django_script(STATE_SCRIPT, *args))

    def sql(self, statement):
        """Run one SQL statement through Django's connection; its rows as lists."""
        return json.loads(self.run_django_script(SQL_SCRIPT, stdin=statement))

    def smoke(self):
        self.run_django_script(SMOKE_SCRIPT)
        return self

    # -- Ansible ------------------------------------------------------------------------------
    def inventory_vars(self, docker_host=None):
        """Host variables that make this container an inventory host: the docker connection
        (``docker_host``: None for the local test daemon, else an SshDockerHost), the image's
        /venv/bin/python, and the Papermerge host variables."""
        docker_args = '-H %s' % (docker_host.url if docker_host else self.daemon.host)
        return {
            'ansible_connection': 'community.docker.docker',
            'ansible_host': self.name,
            'ansible_docker_extra_args': docker_args,
            'ansible_python_interpreter': self.python,
            'papermerge_project_dir': self.project_dir,
            'papermerge_venv': self.venv,
        }


def container_inventory(containers, group='papermerge', docker_host=None):
    """A YAML-shaped inventory: {inventory hostname: PapermergeContainer} in ``group``."""
    return {group: {'hosts': {name: container.inventory_vars(docker_host)
                              for name, container in containers.items()}}}


def controller_environment(daemon, docker_host=None):
    """What ansible-playbook / ansible need in their environment to reach the containers
    (run_playbook(env=...)): the docker CLI's client config, and for a remote Docker host the
    ssh client settings."""
    env = {'DOCKER_CONFIG': str(daemon.client_config_dir)}
    if docker_host is not None:
        env.update(docker_host.client_environment())
    return env


def run_ad_hoc(inventory, pattern, module, args='', env=None, timeout=300):
    """``ansible PATTERN -m MODULE -a ARGS`` (an ad-hoc run, as a user tries a host first);
    return {host: result} from the json callback."""
    with tempfile.TemporaryDirectory(prefix='papermerge-adhoc-') as work_dir:
        os.chmod(work_dir, 0o700)
        path = Path(work_dir) / 'inventory.json'
        path.write_text(json.dumps(inventory), encoding='utf-8')
        environment = ansible_environment(work_dir)
        environment['ANSIBLE_LOAD_CALLBACK_PLUGINS'] = '1'
        environment.update(env or {})
        argv = [str(ANSIBLE_BIN / 'ansible'), '-i', str(path), pattern, '-m', module]
        if args:
            argv += ['-a', args]
        result = subprocess.run(argv, env=environment, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True, timeout=timeout, check=False)
    try:
        report = json.loads(result.stdout)
        return report['plays'][0]['tasks'][0]['hosts']
    except (ValueError, KeyError, IndexError):
        raise AssertionError(
            'ansible exited %d without a json report\n--- stdout ---\n%s\n--- stderr ---\n%s'
            % (result.returncode, result.stdout[-3000:], result.stderr[-3000:]))


# -- deployments ----------------------------------------------------------------------------------
def _write_private(path, text):
    """A file only root reads (passwords go to docker/docker-compose through files)."""
    path = Path(path)
    with open(os.open(str(path), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), 'w') as out:
        out.write(text)
    return path


def _env_file(variables):
    return ''.join('%s=%s\n' % (key, value) for key, value in variables.items())


def _wait_until_serving(container, port, timeout=READY_TIMEOUT):
    """Until the backend answers HTTP on its port (``server`` runs init first, then uwsgi)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        connection = http.client.HTTPConnection('127.0.0.1', port, timeout=5)
        try:
            connection.request('GET', '/api/')
            connection.getresponse()
            return  # any HTTP answer: uwsgi serves Django
        except (OSError, http.client.HTTPException):
            pass
        finally:
            connection.close()
        if not container.is_running():
            raise DockerError('container %s exited before serving:\n%s'
                              % (container.name, container.logs()))
        time.sleep(1)
    raise DockerError('container %s did not serve on port %d within %d s:\n%s'
                      % (container.name, port, timeout, container.logs()))


class ComposeDeployment:
    """Upstream's compose deployment of Papermerge, on the test daemon.

    ``ComposeDeployment(daemon, images, base_dir, name).up()`` starts db and redis, waits for
    PostgreSQL, then starts backend and worker and waits until the backend serves (init done).
    Attributes: project (compose project name), ports {'db', 'redis', 'backend'}, database,
    backend and worker (PapermergeContainer), volume(name) -> the Docker volume upstream's
    volume ``name`` became.  ``down()`` removes containers and volumes.
    """

    SERVICES = ('backend', 'worker', 'db', 'redis')

    def __init__(self, daemon, images, base_dir, name, superuser=SUPERUSER):
        self.daemon = daemon
        self.images = images
        self.base_dir = Path(base_dir)
        self.project = name
        self.superuser = superuser
        self.superuser_password = secrets.token_urlsafe(12)
        self.ports = {'db': free_port(), 'redis': free_port(), 'backend': free_port()}
        self.database = {'type': 'postgres', 'name': 'papermerge', 'user': 'papermerge',
                         'password': secrets.token_urlsafe(16), 'host': '127.0.0.1',
                         'port': self.ports['db'], 'dir': None}
        self.backend = PapermergeContainer(daemon, None, self.database, superuser,
                                           self.superuser_password)
        self.worker = PapermergeContainer(daemon, None, self.database, superuser,
                                          self.superuser_password)

    def __repr__(self):
        return 'ComposeDeployment(%s)' % self.project

    def _write_files(self):
        self.base_dir.mkdir(parents=True, exist_ok=True)
        uwsgi_ini = self.base_dir / 'uwsgi.ini'
        uwsgi_ini.write_text(UWSGI_INI % self.ports['backend'])
        labels = self.daemon.labels()
        _write_private(self.base_dir / '.env', _env_file({
            'PAPERMERGE_IMAGE': self.images['papermerge'].tag,
            'POSTGRES_IMAGE': self.images['postgres'].tag,
            'REDIS_IMAGE': self.images['redis'].tag,
            'UWSGI_INI': uwsgi_ini,
            'RUN_ID': labels[RUN_LABEL], 'RUN_PID': labels[PID_LABEL],
            'SECRET_KEY': secrets.token_urlsafe(24),
            'DB_USER': self.database['user'], 'DB_NAME': self.database['name'],
            'DB_PASSWORD': self.database['password'], 'DB_HOST': self.database['host'],
            'DB_PORT': self.ports['db'], 'REDIS_PORT': self.ports['redis'],
            'SUPERUSER_USERNAME': self.superuser, 'SUPERUSER_EMAIL': 'admin@example.com',
            'SUPERUSER_PASSWORD': self.superuser_password,
        }))

    def compose(self, *args, timeout=600):
        """Run ``docker-compose <args>`` for this project; return stdout."""
        argv = ['docker-compose', '--project-name', self.project, '--file', str(COMPOSE_FILE),
                '--project-directory', str(self.base_dir), '--env-file',
                str(self.base_dir / '.env')] + [str(a) for a in args]
        result = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                timeout=timeout, check=False, env=self.daemon.environment())
        if result.returncode != 0:
            raise DockerError('%s exited %d\n--- stdout ---\n%s\n--- stderr ---\n%s' % (
                ' '.join(argv[5:]), result.returncode, result.stdout[-3000:],
                result.stderr[-5000:]))
        return result.stdout

    def container_name(self, service):
        """The container compose made for ``service`` (compose v1 names it
        <project>_<service>_1; found by its labels, as a user would with docker ps)."""
        names = self.daemon.docker(
            'ps', '-a', '--filter', 'label=com.docker.compose.project=%s' % self.project,
            '--filter', 'label=com.docker.compose.service=%s' % service,
            '--format', '{{.Names}}').split()
        if len(names) != 1:
            raise DockerError('expected one container of service %s in %s, found %s'
                              % (service, self.project, names))
        return names[0]

    def volume(self, name):
        """The Docker volume of upstream's volume ``name`` (media_root, postgres_data, ...)."""
        return '%s_%s' % (self.project, name)

    def up(self):
        if shutil.which('docker-compose') is None:
            raise DockerError('docker-compose is missing: run scripts/install-system-deps.sh')
        self._write_files()
        self.compose('up', '-d', '--no-build', 'db', 'redis')
        self._wait_for_database()
        self.compose('up', '-d', '--no-build', 'backend', 'worker')
        self.backend.name = self.container_name('backend')
        self.worker.name = self.container_name('worker')
        _wait_until_serving(self.backend, self.ports['backend'])
        return self

    def _wait_for_database(self, timeout=120):
        db = self.container_name('db')
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            ready = self.daemon.run(['exec', db, 'pg_isready', '-q', '-h', '127.0.0.1', '-p',
                                     self.ports['db'], '-d', self.database['name']])
            if ready.returncode == 0:
                return
            time.sleep(0.5)
        raise DockerError('PostgreSQL in %s did not get ready:\n%s'
                          % (db, self.daemon.docker('logs', db, check=False)))

    def down(self):
        if (self.base_dir / '.env').exists():
            self.compose('down', '--volumes', '--remove-orphans', '--timeout', '5')


class QuickstartContainer(PapermergeContainer):
    """Upstream's quick start: ``docker run`` of the image with PAPERMERGE__MAIN__SECRET_KEY and
    DJANGO_SUPERUSER_PASSWORD only, so SQLite (/app/db.sqlite3) and the media (/app/media) live
    in the container's writable layer.  ``up()`` starts it (``server``: init, then uwsgi on a
    free loopback port) and waits until it serves; ``down()`` removes it.  Both deployments
    (this and ComposeDeployment) have up() and down()."""

    def __init__(self, daemon, images, base_dir, name, superuser=SUPERUSER):
        super().__init__(daemon, name, {'type': 'sqlite', 'dir': PROJECT_DIR}, superuser,
                         secrets.token_urlsafe(12))
        self.images = images
        self.base_dir = Path(base_dir)
        self.port = free_port()

    def up(self):
        self.base_dir.mkdir(parents=True, exist_ok=True)
        uwsgi_ini = self.base_dir / 'uwsgi.ini'
        uwsgi_ini.write_text(UWSGI_INI % self.port)
        env_file = _write_private(self.base_dir / 'quickstart.env', _env_file({
            'PAPERMERGE__MAIN__SECRET_KEY': secrets.token_urlsafe(24),
            'DJANGO_SUPERUSER_USERNAME': self.superuser,
            'DJANGO_SUPERUSER_PASSWORD': self.superuser_password}))
        labels = []
        for key, value in self.daemon.labels().items():
            labels += ['--label', '%s=%s' % (key, value)]
        self.daemon.docker('run', '-d', '--name', self.name, '--network', 'host', *labels,
                           '--env-file', env_file,
                           '-v', '%s:/etc/uwsgi/papermerge.ini:ro' % uwsgi_ini,
                           self.images['papermerge'].tag)
        _wait_until_serving(self, self.port)
        return self

    def down(self):
        self.daemon.docker('rm', '-f', '-v', self.name, check=False)
