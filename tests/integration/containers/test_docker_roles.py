"""The playbooks against Papermerge in Docker, as users run it (issue 11): an inventory host is the app
container, reached with community.docker.docker, with papermerge_project_dir /app and papermerge_venv /venv and
nothing else of ours.  Backups leave the container; restores go into freshly `init`-ed containers (their own
admin), on the local Docker host and on a Docker host reached over SSH (AWX's topology); every error a Docker user
meets says what to do.

Deployments are few and shared: the session's read-only seeded compose deployment and quick start are the
sources; each round trip restores into one fresh container of its own.
"""

from pathlib import Path

import pytest

from papermerge_container import container_inventory, controller_environment
from papermerge_host import PapermergeCommandError, assert_states_equal
from pg_cluster import free_port
from playbook_run import REPO, run_playbook

BACKUP = REPO / 'playbooks' / 'backup.yml'
RESTORE = REPO / 'playbooks' / 'restore.yml'
HOST = 'docs01'
IN_CONTAINER_DIR = '/var/backups/papermerge'
ARCHIVE_SUFFIXES = ('.tar.gz', '.tar.gz.sha256')


def user_inventory(container, docker_host=None, **more):
    """The inventory a user writes: the container, the docker connection (with -H for the test daemon, which
    is not the default one), /app and /venv; no interpreter: Ansible finds one for its own modules, the roles
    run ours with /venv/bin/python."""
    inventory = container_inventory({HOST: container}, docker_host=docker_host)
    host = inventory['papermerge']['hosts'][HOST]
    del host['ansible_python_interpreter']
    host.update(more)
    return inventory


def messages(run, task):
    return [result.get('msg', '') for result in run.results(task, host=HOST)]


def warnings_of(run):
    found = []
    for play in run.report.get('plays', []):
        for task in play.get('tasks', []):
            found += task['hosts'].get(HOST, {}).get('warnings', [])
    return found


def archives_left_in(container):
    """Archives anywhere in the container's writable layer (docker diff lists what it added)."""
    added = container.daemon.docker('diff', container.name).splitlines()
    return [line for line in added if line.endswith(ARCHIVE_SUFFIXES)]


def fetched_archive(fetch_dir):
    archives = sorted(Path(fetch_dir).glob('papermerge-*.tar.gz'))
    assert len(archives) == 1, archives
    assert Path(str(archives[0]) + '.sha256').is_file()
    assert not list(Path(fetch_dir).glob('.*')), 'a partial copy was left behind'
    return archives[0]


def back_up(container, tmp_path, env, docker_host=None):
    """playbooks/backup.yml with a controller copy, the archive leaving the container; the fetched archive and
    the run."""
    fetch_dir = tmp_path / 'fetched'
    run = run_playbook(BACKUP, user_inventory(container, docker_host), env=env, extravars={
        'papermerge_backup_fetch_dir': str(fetch_dir), 'papermerge_backup_poll_interval': '1'})
    assert run.ok, run.explain()
    assert archives_left_in(container) == []
    said = messages(run, 'Say where the archives of this container are kept')
    assert len(said) == 1 and "is in the container's writable layer" in said[0], said
    assert 'removed from the container' in said[0] and 'the controller' in said[0]
    return fetched_archive(fetch_dir), run


def restore(container, archive, env, docker_host=None, check=False, **extravars):
    extravars.update(papermerge_restore_archive=str(archive), papermerge_restore_poll_interval='1')
    run = run_playbook(RESTORE, user_inventory(container, docker_host), extravars, check=check, env=env)
    assert run.ok, run.explain()
    return run


def planned(run):
    """What papermerge_restore in check mode, run by the role before the restore, said."""
    return run.results('Ask papermerge_restore in check mode what restoring the archive would do', host=HOST)[0]


def restored_result(run):
    results = run.results('Wait for the restore to finish', host=HOST)
    return results[-1] if results else {}


def started_at(container):
    return container.inspect()['State']['StartedAt']


def test_quick_start_backs_up_with_one_warning_each_and_restores_into_a_fresh_compose_deployment(
        seeded_quickstart_container, make_compose_deployment, docker_daemon, tmp_path):
    """SQLite and media in the writable layer: the backup works and warns once about each; the archive goes
    into a new compose deployment whose init made its own admin, with the worker stopped meanwhile."""
    env = controller_environment(docker_daemon)
    archive, run = back_up(seeded_quickstart_container, tmp_path, env)
    warnings = warnings_of(run)
    assert len([w for w in warnings if 'the media root /app/media' in w]) == 1, warnings
    sqlite = [w for w in warnings if 'the SQLite database /app/db.sqlite3' in w]
    assert len(sqlite) == 1 and 'PAPERMERGE__DATABASE__DIR' in sqlite[0], warnings
    assert archive.name.endswith('-2.1.9.tar.gz')  # from /app/papermerge/core/version.py

    target = make_compose_deployment()
    worker_started = started_at(target.worker)
    fresh = target.backend.state()
    restore(target.backend, archive, env, check=True)  # nothing to read in the container yet: nothing written
    assert target.backend.state() == fresh and archives_left_in(target.backend) == []

    first = restore(target.backend, archive, env, papermerge_restore_containers='worker')
    assert planned(first)['replaced_users'] == ['admin']  # the check before the restore says so
    assert restored_result(first)['replaced_users'] == ['admin']
    assert_states_equal(target.backend.state(), seeded_quickstart_container.state())
    assert target.worker.is_running() and started_at(target.worker) != worker_started, \
        'the worker was not stopped and started again around the restore'
    assert archives_left_in(target.backend) == []
    assert warnings_of(first) == []  # media on upstream's volume, database in PostgreSQL

    worker_started = started_at(target.worker)
    second = restore(target.backend, archive, env, papermerge_restore_containers='worker')
    assert second.changed(HOST) == 0, second.changed_tasks(HOST)
    assert started_at(target.worker) == worker_started  # nothing to restore: nothing stopped


def test_compose_over_ssh_backs_up_and_restores_with_the_roles_defaults(
        seeded_compose_deployment, make_quickstart_container, ssh_docker_host, docker_daemon, tmp_path):
    """AWX's topology: the controller is not the Docker host and reaches it with `-H ssh://...`; the roles'
    defaults and the inventory above, nothing else."""
    source = seeded_compose_deployment.backend
    env = controller_environment(docker_daemon, ssh_docker_host)
    archive, _run = back_up(source, tmp_path, env, docker_host=ssh_docker_host)

    target = make_quickstart_container()
    first = restore(target, archive, env, docker_host=ssh_docker_host)
    assert planned(first)['replaced_users'] == ['admin']
    assert restored_result(first)['replaced_users'] == ['admin']
    assert_states_equal(target.state(), source.state())
    assert archives_left_in(target) == []
    said = messages(first, 'Say that the upload leaves the container with the run')
    assert len(said) == 1 and 'removed when it ends' in said[0]

    second = restore(target, archive, env, docker_host=ssh_docker_host)
    assert second.changed(HOST) == 0, second.changed_tasks(HOST)
    assert archives_left_in(target) == []
    log = (ssh_docker_host.state_dir / 'sshd.log').read_text()
    assert 'Accepted publickey for pmdocker' in log


@pytest.fixture
def created_container(docker_daemon, docker_images):
    """A container of the Papermerge image that was created and never started."""
    labels = [a for key, value in docker_daemon.labels().items() for a in ('--label', '%s=%s' % (key, value))]
    name = 'pmbt%screated' % docker_daemon.run_id
    docker_daemon.docker('create', '--name', name, '--network', 'none', *labels, docker_images['papermerge'].tag)
    yield name
    docker_daemon.docker('rm', '-f', name, check=False)


def failure_of(run):
    assert not run.ok and run.returncode != 0
    failed = [result.get('msg', '') for play in run.report['plays'] for task in play['tasks']
              for result in task['hosts'].values() if result.get('failed') or result.get('unreachable')]
    # The backup role records a failure for the monitoring (its rescue), then fails the run again with the same
    # message: one failure, told twice at most.
    assert 1 <= len(failed) <= 2 and failed[-1] == failed[0], run.explain()
    return failed[0]


def test_docker_errors_say_what_to_do(seeded_compose_deployment, created_container, docker_daemon, tmp_path):
    """Each mistake a Docker user makes ends in one failure that names the fix; none writes an archive."""
    backend = seeded_compose_deployment.backend
    env = controller_environment(docker_daemon)
    fetch = {'papermerge_backup_fetch_dir': str(tmp_path / 'fetched')}

    def backup_fails(inventory, extravars=None):
        return failure_of(run_playbook(BACKUP, inventory, fetch if extravars is None else extravars, env=env))

    missing = backup_fails(user_inventory(backend, ansible_host='pmbt-no-such-container'))
    assert 'There is no container pmbt-no-such-container on the Docker host' in missing
    assert 'com.docker.compose.service=backend' in missing

    stopped = backup_fails(user_inventory(backend, ansible_host=created_container))
    assert 'The container %s is created on the Docker host' % created_container in stopped
    assert 'docker start %s' % created_container in stopped

    no_python = backup_fails(user_inventory(backend, papermerge_venv='/opt/venv'))
    assert '/opt/venv/bin/python is not an executable in docs01' in no_python and '/venv/bin/python' in no_python

    unreachable = backup_fails(user_inventory(backend, papermerge_environment={
        'PAPERMERGE__DATABASE__PORT': str(free_port())}))  # nobody listens there
    assert 'the server is not reachable' in unreachable and "inside the app's container" in unreachable

    nowhere = backup_fails(user_inventory(backend), extravars={})
    assert "papermerge_backup_dir (/var/backups/papermerge) is in the writable layer of the container docs01" \
        in nowhere and 'Set papermerge_backup_fetch_dir' in nowhere
    with pytest.raises(PapermergeCommandError):
        backend.exec(['test', '-e', IN_CONTAINER_DIR])  # failed before creating anything
    assert not (tmp_path / 'fetched').exists()
    assert archives_left_in(backend) == []


def test_papermerge_version_set_in_the_inventory_wins(seeded_compose_deployment, docker_daemon, tmp_path):
    # A check run into a directory that exists with mode 0700 (/root) says the name the archive would have.
    run = run_playbook(BACKUP, user_inventory(seeded_compose_deployment.backend, papermerge_version='2.1.8'),
                       {'papermerge_backup_fetch_dir': str(tmp_path), 'papermerge_backup_dir': '/root'}, check=True,
                       env=controller_environment(docker_daemon))
    assert run.ok, run.explain()
    said = messages(run, 'Report the archive')
    assert len(said) == 1 and said[0].startswith('Would write /root/papermerge-'), said
    assert '-2.1.8.tar.gz' in said[0]
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize('names, refusal', [
    ('backend', 'is the container the collection\'s modules run in: it cannot be stopped'),
    ('worker, pmbt-nothing', 'pmbt-nothing: not a service of the compose project'),
])
def test_containers_to_stop_are_checked_before_any_is_stopped(seeded_compose_deployment, docker_daemon, names,
                                                              refusal):
    deployment = seeded_compose_deployment
    worker_started = started_at(deployment.worker)
    play = [{'name': 'Stop containers', 'hosts': 'papermerge', 'gather_facts': False, 'roles': [{
        'role': 'papermerge.backup.container',
        'vars': {'papermerge_container_action': 'stop', 'papermerge_container_names': names}}]}]
    message = failure_of(run_playbook(play, user_inventory(deployment.backend),
                                      env=controller_environment(docker_daemon)))
    assert refusal in message, message
    assert deployment.backend.is_running() and started_at(deployment.worker) == worker_started
