"""Fixtures for integration tests: real Papermerge 2.1.5 instances on SQLite and PostgreSQL.

Fixture names are a contract other tests code against:

- ``papermerge_venv`` (session): path of the Papermerge 2.1.5 venv (built once, then cached).
- ``pg_cluster`` (session): a running ``PostgresCluster`` on 127.0.0.1, stopped at the end.
- ``make_instance`` (function): factory ``make_instance(engine='sqlite'|'postgresql',
  migrated=True, seeded=False)`` -> a fresh ``PapermergeInstance`` under the test's tmp_path,
  yours to change.  Migrated and seeded instances are copies of templates migrated (and
  seeded) once per session: a copy takes well under a second, migrate + seed several.
- ``seeded_sqlite`` / ``seeded_postgresql`` (session): seeded instances, READ-ONLY by contract:
  a test that changes one breaks every test after it (and the session ends with an error
  naming the change).  Back them up, render their state; to change an instance, make your
  own with ``make_instance(seeded=True)``.
- ``seeded_instance``: parametrized over both engines, one of the two session instances.
"""

import fcntl
import itertools
import os
from pathlib import Path

import pytest

from papermerge_host import build_papermerge_venv, clone_instance, create_instance, diff_states
from pg_cluster import PostgresCluster

ENGINES = ('sqlite', 'postgresql')
_database_numbers = itertools.count(1)


def _build_venv_once():
    """One builder at a time (pytest-xdist workers share the cache)."""
    cache = Path(os.environ.get('PAPERMERGE_TEST_CACHE',
                                Path.home() / '.cache' / 'papermerge-backup-tests'))
    cache.mkdir(parents=True, exist_ok=True)
    with open(cache / '.build.lock', 'w') as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        return build_papermerge_venv()


@pytest.fixture(scope='session')
def papermerge_venv():
    return _build_venv_once()


@pytest.fixture(scope='session')
def pg_cluster():
    cluster = PostgresCluster().start()
    try:
        yield cluster
    finally:
        cluster.stop()


def _database_name(prefix='pm'):
    worker = os.environ.get('PYTEST_XDIST_WORKER', 'main')
    return '%s_%s_%d' % (prefix, worker, next(_database_numbers))


def _new_database(cluster, engine):
    """None for SQLite (the instance keeps its file under its base dir); a fresh PostgreSQL
    database with its own owner role otherwise."""
    if engine not in ENGINES:
        raise ValueError('engine must be one of %s, not %r' % (ENGINES, engine))
    if engine == 'sqlite':
        return None
    return cluster.create_database(_database_name())


def _cluster_for(request, engine):
    return request.getfixturevalue('pg_cluster') if engine == 'postgresql' else None


@pytest.fixture(scope='session')
def _instance_templates(tmp_path_factory, papermerge_venv):
    """template(engine, seeded, cluster) -> an instance migrated (and seeded) once per session
    and only ever copied."""
    templates = {}

    def template(engine, seeded, cluster):
        if (engine, seeded) not in templates:
            base_dir = tmp_path_factory.mktemp('template-%s-%s' % (
                engine, 'seeded' if seeded else 'migrated'))
            templates[(engine, seeded)] = create_instance(
                base_dir / 'instance', papermerge_venv, _new_database(cluster, engine),
                seeded=seeded)
        return templates[(engine, seeded)]

    return template


def _copy_of_template(templates, engine, seeded, cluster, base_dir):
    template = templates(engine, seeded, cluster)
    database = None
    if engine == 'postgresql':
        database = cluster.clone_database(template.database, _database_name())
    return clone_instance(template, base_dir, database)


@pytest.fixture
def make_instance(request, tmp_path, papermerge_venv, _instance_templates):
    """Factory: make_instance(engine='sqlite', migrated=True, seeded=False)."""
    numbers = itertools.count(1)
    made = []

    def make(engine='sqlite', migrated=True, seeded=False):
        base_dir = tmp_path / ('%s-%d' % (engine, next(numbers)))
        cluster = _cluster_for(request, engine)
        if migrated or seeded:
            instance = _copy_of_template(_instance_templates, engine, seeded, cluster, base_dir)
        else:
            instance = create_instance(base_dir, papermerge_venv,
                                       _new_database(cluster, engine), migrated=False)
        made.append(instance)
        return instance

    yield make
    for instance in made:  # PostgreSQL databases outlive tmp_path: drop them
        if instance.engine == 'postgresql':
            request.getfixturevalue('pg_cluster').drop_database(instance.database['name'])


def _read_only(instance, name):
    """Yield ``instance``; at session end fail loudly if a test changed it."""
    before = instance.state()
    yield instance
    after = instance.state()
    if after != before:
        raise AssertionError('a test changed the read-only %s instance (use make_instance('
                             'seeded=True) for an instance you may change): %s'
                             % (name, diff_states(before, after)))


@pytest.fixture(scope='session')
def seeded_sqlite(tmp_path_factory, _instance_templates):
    base_dir = tmp_path_factory.mktemp('seeded-sqlite') / 'instance'
    yield from _read_only(
        _copy_of_template(_instance_templates, 'sqlite', True, None, base_dir), 'seeded_sqlite')


@pytest.fixture(scope='session')
def seeded_postgresql(tmp_path_factory, _instance_templates, pg_cluster):
    base_dir = tmp_path_factory.mktemp('seeded-postgresql') / 'instance'
    yield from _read_only(
        _copy_of_template(_instance_templates, 'postgresql', True, pg_cluster, base_dir),
        'seeded_postgresql')


@pytest.fixture(params=[
    'sqlite',
    pytest.param('postgresql', marks=pytest.mark.postgresql),
])
def seeded_instance(request):
    """One of the two read-only seeded session instances (the test runs once per engine)."""
    return request.getfixturevalue('seeded_%s' % request.param)
