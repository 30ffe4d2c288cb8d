"""The Docker test deployments themselves: the shared daemon, the images built here, upstream's
compose deployment and quick start, seeding and state inside containers, Ansible's docker
connection with the image's Python, and a Docker host reached over SSH."""

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from docker_daemon import PID_LABEL, DockerDaemon
from docker_images import ensure_images, image_tags
from papermerge_container import container_inventory, controller_environment, run_ad_hoc
from papermerge_host import PapermergeCommandError, assert_states_equal, without_keys

UPSTREAM_VOLUMES = ('media_root', 'xapian_index', 'postgres_data', 'redis_data')


def _dockerd_pids(data_root):
    pids = []
    for entry in os.listdir('/proc'):
        if entry.isdigit():
            try:
                with open('/proc/%s/cmdline' % entry, 'rb') as handle:
                    argv = handle.read().decode().split('\0')
            except OSError:
                continue
            if argv[0].endswith('dockerd') and str(data_root) in argv:
                pids.append(int(entry))
    return pids


def _in_image(daemon, image, script):
    return daemon.docker('run', '--rm', '--network', 'none', '--entrypoint', 'bash', image,
                         '-c', script)


def test_images_are_cached_and_a_second_build_does_nothing(docker_daemon, docker_images):
    ids = {name: docker_daemon.docker('image', 'inspect', '--format', '{{.Id}}', image.tag)
           for name, image in docker_images.items()}
    started = time.monotonic()
    again = ensure_images(docker_daemon)
    assert time.monotonic() - started < 20
    assert not any(image.built for image in again.values()), again
    assert {name: image.tag for name, image in again.items()} == image_tags()
    assert {name: docker_daemon.docker('image', 'inspect', '--format', '{{.Id}}', image.tag)
            for name, image in again.items()} == ids


def test_papermerge_image_is_laid_out_like_the_official_one(docker_daemon, docker_images):
    image = docker_images['papermerge'].tag
    config = json.loads(docker_daemon.docker('image', 'inspect', image))[0]['Config']
    assert config['Entrypoint'] == ['/run.bash'] and config['Cmd'] == ['server']
    assert config['WorkingDir'] == '/app'
    assert 'VIRTUAL_ENV=/venv' in config['Env']
    assert config['Env'][0].startswith('PATH=/venv/bin:')
    listing = _in_image(docker_daemon, image, (
        'ls /app; cat /app/papermerge/core/version.py; '
        'find / -xdev \\( -iname "papermerge_core*" -o -iname "papermerge-core*" \\) | wc -l; '
        'python -c "import sys; print(sys.executable, sys.version.split()[0])"; '
        'git --version; test -x /run.bash && grep -c exec_init /run.bash; '
        'grep http-socket /etc/uwsgi/papermerge.ini; /venv/bin/pip show django | head -2'))
    lines = listing.splitlines()
    assert lines[:3] == ['config', 'manage.py', 'papermerge']
    assert lines[3] == '__version__ = "2.1.9"'
    assert lines[4] == '0'  # no dist-info, no egg-info: the version is only in version.py
    executable, version = lines[5].split()
    assert executable == '/venv/bin/python'
    label = json.loads(docker_daemon.docker(
        'image', 'inspect', '--format', '{{json .Config.Labels}}', image))
    if version.startswith('3.10'):  # what the official image runs
        assert label['papermerge-backup-tests.python'] == \
            'CPython %s (pyenv build copied to /usr/local)' % version
    else:
        assert label['papermerge-backup-tests.python'].startswith("Debian's python3.11")
    assert lines[6].startswith('git version')
    assert lines[8] == 'http-socket = :8000'  # upstream's, untouched in the image
    assert lines[9:11] == ['Name: Django', 'Version: 4.0.8']


def test_compose_deployment_initialises_like_upstream(make_compose_deployment, docker_daemon):
    deployment = make_compose_deployment()
    backend = deployment.backend
    assert backend.is_running() and deployment.worker.is_running()
    backend.manage('migrate', '--check')  # exits non-zero while a migration is unapplied
    users = backend.state()['users']
    assert [(u['username'], u['is_superuser']) for u in users] == [('admin', True)]
    assert users[0]['home_folder']['path'] == '.home'
    assert backend.sql('SELECT version()')[0][0].startswith('PostgreSQL 15')
    environment = backend.environment()
    assert environment['PAPERMERGE__DATABASE__TYPE'] == 'postgres'
    assert environment['PAPERMERGE__DATABASE__PORT'] == str(deployment.ports['db'])
    assert environment['DJANGO_SUPERUSER_USERNAME'] == 'admin'
    # Media on upstream's named volume; every volume named as upstream names it.
    mounts = {m['Destination']: m for m in backend.inspect()['Mounts']}
    assert mounts['/app/media']['Type'] == 'volume'
    assert mounts['/app/media']['Name'] == deployment.volume('media_root')
    volumes = docker_daemon.docker('volume', 'ls', '--format', '{{.Name}}').split()
    assert {deployment.volume(v) for v in UPSTREAM_VOLUMES} <= set(volumes)
    # The worker is the same image with `worker`: a celery worker taking tasks from redis.
    worker = deployment.worker.inspect()
    assert worker['Config']['Cmd'] == ['worker']
    assert worker['Config']['Image'] == backend.inspect()['Config']['Image']
    ping = deployment.worker.exec(['celery', '--app', 'config', 'inspect', 'ping',
                                   '--timeout', '10'], timeout=120)
    assert 'pong' in ping


def test_no_container_gets_an_address_of_its_own(seeded_compose_deployment,
                                                 seeded_quickstart_container, docker_daemon):
    names = docker_daemon.docker('network', 'ls', '--format', '{{.Name}}').split()
    assert set(names) <= {'host', 'none'}, names
    containers = [seeded_compose_deployment.container_name(service)
                  for service in seeded_compose_deployment.SERVICES]
    for name in containers + [seeded_quickstart_container.name]:
        settings = json.loads(docker_daemon.docker('inspect', name))[0]
        assert settings['HostConfig']['NetworkMode'] == 'host'
        networks = settings['NetworkSettings']['Networks']
        assert list(networks) == ['host'] and networks['host']['IPAddress'] == ''
    listening = subprocess.run(['ss', '-Hltn'], stdout=subprocess.PIPE, text=True,
                               check=True).stdout
    ports = list(seeded_compose_deployment.ports.values()) + [seeded_quickstart_container.port]
    for port in ports:
        assert '127.0.0.1:%d ' % port in listening, (port, listening)
        assert '0.0.0.0:%d ' % port not in listening and '*:%d ' % port not in listening


def test_seeded_containers_render_like_a_seeded_venv_instance(seeded_compose_deployment,
                                                              seeded_quickstart_container,
                                                              seeded_sqlite):
    """Seed and state run inside containers: a seeded container renders like a seeded venv
    instance, and two containers of one image on PostgreSQL and on SQLite render identically,
    media sha256 included."""
    on_postgresql = seeded_compose_deployment.backend
    state = on_postgresql.state()
    assert state['counts']['documents'] == 9 and state['counts']['users'] == 3
    assert_states_equal(state, seeded_quickstart_container.state())
    venv_state = seeded_sqlite.state()
    # The files' bytes come from reportlab and Pillow, whose versions may differ between the
    # image's Python and the host venv's; names and everything in the database must not.
    assert sorted(state['files']) == sorted(venv_state['files'])
    assert_states_equal(without_keys(state, {'files'}), without_keys(venv_state, {'files'}))
    assert on_postgresql.sql('SELECT count(*) FROM core_document') == [[9]]
    seeded_quickstart_container.smoke()
    with pytest.raises(PapermergeCommandError, match='owns documents or folders'):
        seeded_quickstart_container.seed()


def test_sqlite_quick_start_keeps_everything_in_the_writable_layer(seeded_quickstart_container):
    container = seeded_quickstart_container
    assert container.engine == 'sqlite'
    # No volume: only the loopback uwsgi.ini the tests mount (see UWSGI_INI).
    assert [m['Destination'] for m in container.inspect()['Mounts']] == \
        ['/etc/uwsgi/papermerge.ini']
    changed = container.daemon.docker('diff', container.name).splitlines()
    assert 'A /app/db.sqlite3' in changed and 'A /app/media' in changed
    assert container.sql('SELECT sqlite_version()')[0][0].startswith('3.')
    assert not any(key.startswith('PAPERMERGE__DATABASE__') for key in container.environment())


def test_ad_hoc_modules_run_in_the_backend_with_the_image_python(
        seeded_compose_deployment, docker_daemon):
    inventory = container_inventory({'backend': seeded_compose_deployment.backend})
    env = controller_environment(docker_daemon)
    results = run_ad_hoc(inventory, 'backend', 'ansible.builtin.setup', 'gather_subset=min',
                         env=env)
    facts = results['backend']['ansible_facts']
    assert facts['ansible_python']['executable'] == '/venv/bin/python'
    stat = run_ad_hoc(inventory, 'backend', 'ansible.builtin.stat',
                      'path=/app/papermerge/core/version.py', env=env)['backend']
    assert not stat.get('failed') and stat['stat']['exists'] and stat['stat']['isreg']
    # A module's process inherits the container's environment, PAPERMERGE__* included.
    printed = run_ad_hoc(inventory, 'backend', 'ansible.builtin.command',
                         'printenv PAPERMERGE__DATABASE__TYPE', env=env)['backend']
    assert printed['stdout'] == 'postgres'


def test_remote_docker_host_over_ssh_reaches_the_containers(ssh_docker_host,
                                                            seeded_compose_deployment,
                                                            docker_daemon):
    deployment = seeded_compose_deployment
    names = ssh_docker_host.docker('ps', '--filter',
                                   'label=com.docker.compose.project=%s' % deployment.project,
                                   '--filter', 'label=com.docker.compose.service=backend',
                                   '--format', '{{.Names}}').split()
    assert names == [deployment.backend.name]
    inventory = container_inventory({'docs01': deployment.backend}, docker_host=ssh_docker_host)
    assert inventory['papermerge']['hosts']['docs01']['ansible_docker_extra_args'] == \
        '-H ' + ssh_docker_host.url
    results = run_ad_hoc(inventory, 'docs01', 'ansible.builtin.stat', 'path=/app/manage.py',
                         env=controller_environment(docker_daemon, ssh_docker_host))
    assert results['docs01']['stat']['exists'], results
    # It really went over SSH, as the Docker host's user.
    log = (ssh_docker_host.state_dir / 'sshd.log').read_text()
    assert 'Accepted publickey for pmdocker' in log


@pytest.fixture
def short_state_dir():
    """A state dir with a short path: containerd's sockets below it must fit in 104 bytes."""
    path = tempfile.mkdtemp(prefix='pmdk', dir='/tmp')
    yield Path(path)
    shutil.rmtree(path, ignore_errors=True)


def test_daemon_leases_start_once_and_stop_with_the_last(short_state_dir):
    """A daemon of its own (another state dir): the first lease starts it, a second user keeps
    it running when the first leaves, a killed holder does not keep it alive, and the last
    release stops it and leaves no process."""
    state = short_state_dir
    first = DockerDaemon(state).acquire()
    pids = _dockerd_pids(first.data_root)
    assert len(pids) == 1
    second = DockerDaemon(state).acquire()
    assert _dockerd_pids(first.data_root) == pids
    first.release()
    assert second.is_answering()
    holder = subprocess.Popen([sys.executable, '-c', (
        'import sys, time; sys.path[:0] = %r; from docker_daemon import DockerDaemon; '
        'd = DockerDaemon(%r).acquire(); '
        'labels = [a for k, v in d.labels().items() for a in ("--label", k + "=" + v)]; '
        'd.docker("create", *labels, "--network", "none", %r, "true"); '
        'print("ready", flush=True); time.sleep(600)')
        % (sys.path, str(state), _any_image(second))],
        stdout=subprocess.PIPE, text=True)
    assert holder.stdout.readline().strip() == 'ready'
    holder.kill()
    holder.wait()
    assert second.docker('ps', '-aq', '--filter', 'label=' + PID_LABEL).split()
    third = DockerDaemon(state).acquire()  # removes what dead runs left behind
    assert third.docker('ps', '-aq', '--filter', 'label=' + PID_LABEL).split() == []
    third.release()
    assert second.is_answering()
    second.release()
    assert _dockerd_pids(first.data_root) == []
    assert not second.is_answering()


def _any_image(daemon):
    """A local image for a container that never runs (the fresh daemon has none: import one
    from an empty tarball)."""
    tag = 'papermerge-backup-test/empty:latest'
    if not daemon.docker('images', '-q', tag).strip():
        daemon.docker('import', '-', tag, stdin=_empty_tar())
    return tag


def _empty_tar():
    import io
    import tarfile
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode='w'):
        pass
    return buffer.getvalue()
