"""Fixtures for tests against Papermerge in Docker (marker ``docker``).

Fixture names are a contract the Docker tests code against:

- ``docker_daemon`` (session): the shared test dockerd (docker_daemon.DockerDaemon), with a
  lease held for the session; ``docker_daemon.docker(*args)`` runs the CLI against it.
- ``docker_images`` (session): {'base'|'papermerge'|'postgres'|'redis': Image}, built when
  missing, else from the cache; ``docker_images['papermerge'].tag`` is the image.
- ``make_compose_deployment`` (function): factory ``make_compose_deployment(superuser='admin')``
  -> a started, init-ed ComposeDeployment (``.backend``, ``.worker``: PapermergeContainer;
  ``.database``, ``.ports``, ``.volume('media_root')``, ``.compose(*args)``), removed with its
  volumes after the test.
- ``make_quickstart_container`` (function): factory ``make_quickstart_container(superuser=
  'admin')`` -> a running, init-ed QuickstartContainer (SQLite in the writable layer).
- ``seeded_compose_deployment`` / ``seeded_quickstart_container`` (session): the two
  deployments with the standard seed (django_scripts/seed.py) in place of init's admin,
  READ-ONLY by contract (checked at session end, as the venv seeded instances are): back them
  up, read them, reach them with Ansible; to change one, make your own with the factories.
- ``ssh_docker_host`` (session): an SshDockerHost in front of the test daemon; inventories
  reach containers through it with ``container.inventory_vars(ssh_docker_host)`` and
  ``controller_environment(docker_daemon, ssh_docker_host)``.
"""

import itertools
from pathlib import Path

import pytest

from docker_daemon import DockerDaemon
from docker_images import ensure_images
from docker_ssh_host import SshDockerHost
from papermerge_container import ComposeDeployment, QuickstartContainer
from papermerge_host import diff_states


HERE = Path(__file__).resolve().parent


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(items):
    """Every test in this directory is a Docker test (``-m 'not docker'`` leaves them out), and
    they all run on one pytest-xdist worker (``--dist loadgroup``): two workers would each
    start their own deployments, and two cores do not run that many Papermerges well."""
    for item in items:
        if HERE in Path(item.path).resolve().parents:
            item.add_marker(pytest.mark.docker)
            item.add_marker(pytest.mark.xdist_group('docker'))


@pytest.fixture(scope='session')
def docker_daemon():
    daemon = DockerDaemon().acquire()
    try:
        yield daemon
    finally:
        daemon.release()


@pytest.fixture(scope='session')
def docker_images(docker_daemon):
    return ensure_images(docker_daemon)


@pytest.fixture(scope='session')
def _deployments(docker_daemon, docker_images):
    """deploy(kind, base_dir, superuser) -> a started ComposeDeployment or QuickstartContainer
    named pmbt<run id>x<n> (compose project names allow [a-z0-9_-])."""
    numbers = itertools.count(1)

    def deploy(kind, base_dir, superuser='admin'):
        name = 'pmbt%sx%d' % (docker_daemon.run_id, next(numbers))
        return kind(docker_daemon, docker_images, base_dir / name, name, superuser=superuser)

    return deploy


def _factory(deploy, kind, base_dir):
    """A test's factory of deployments of ``kind``, and the list to take down afterwards."""
    made = []

    def make(superuser='admin'):
        deployment = deploy(kind, base_dir, superuser)
        made.append(deployment)
        return deployment.up()

    return make, made


@pytest.fixture
def make_compose_deployment(_deployments, tmp_path):
    make, made = _factory(_deployments, ComposeDeployment, tmp_path)
    yield make
    for deployment in made:
        deployment.down()


@pytest.fixture
def make_quickstart_container(_deployments, tmp_path):
    make, made = _factory(_deployments, QuickstartContainer, tmp_path)
    yield make
    for container in made:
        container.down()


def _seeded_read_only(deployment, container, name):
    """Start ``deployment``, seed ``container``, yield the deployment, take it down; at session
    end fail loudly if a test changed the container's instance."""
    try:
        deployment.up()
        container.seed()
        before = container.state()
        yield deployment
        after = container.state()
        if after != before:
            raise AssertionError('a test changed the read-only %s (make your own with the '
                                 'factories): %s' % (name, diff_states(before, after)))
    finally:
        deployment.down()


@pytest.fixture(scope='session')
def seeded_compose_deployment(_deployments, tmp_path_factory):
    deployment = _deployments(ComposeDeployment, tmp_path_factory.mktemp('compose'))
    yield from _seeded_read_only(deployment, deployment.backend, 'seeded_compose_deployment')


@pytest.fixture(scope='session')
def seeded_quickstart_container(_deployments, tmp_path_factory):
    container = _deployments(QuickstartContainer, tmp_path_factory.mktemp('quickstart'))
    yield from _seeded_read_only(container, container, 'seeded_quickstart_container')


@pytest.fixture(scope='session')
def ssh_docker_host(docker_daemon):
    host = SshDockerHost(docker_daemon).start()
    try:
        yield host
    finally:
        host.stop()
