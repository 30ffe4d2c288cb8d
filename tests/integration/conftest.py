"""Fixtures for integration tests: real Papermerge 2.1.5 instances on SQLite and PostgreSQL.

Fixture names are a contract other tests code against:

- ``papermerge_venv`` (session): path of the Papermerge 2.1.5 venv (built once, then cached).
- ``pg_cluster`` (session): a running ``PostgresCluster`` on 127.0.0.1, stopped at the end.
- ``make_instance`` (function): factory ``make_instance(engine='sqlite'|'postgresql',
  migrated=True, seeded=False)`` -> a fresh ``PapermergeInstance`` under the test's tmp_path.
- ``seeded_sqlite`` / ``seeded_postgresql`` (session): seeded instances, READ-ONLY by contract:
  a test that changes one breaks every test after it.  Back them up, render their state; to
  change an instance, make your own with ``make_instance(seeded=True)``.
- ``seeded_instance``: parametrized over both engines, one of the two session instances.
"""

import fcntl
import itertools
import os
from pathlib import Path

import pytest

from papermerge_host import build_papermerge_venv, create_instance
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


def _new_database(request, engine, base_dir):
    """None for SQLite (the instance keeps its file under base_dir); a fresh PostgreSQL
    database with its own owner role otherwise."""
    if engine == 'sqlite':
        return None
    if engine != 'postgresql':
        raise ValueError('engine must be one of %s, not %r' % (ENGINES, engine))
    cluster = request.getfixturevalue('pg_cluster')
    worker = os.environ.get('PYTEST_XDIST_WORKER', 'main')
    return cluster.create_database('pm_%s_%d' % (worker, next(_database_numbers)))


@pytest.fixture
def make_instance(request, tmp_path, papermerge_venv):
    """Factory: make_instance(engine='sqlite', migrated=True, seeded=False)."""
    numbers = itertools.count(1)

    def make(engine='sqlite', migrated=True, seeded=False):
        base_dir = tmp_path / ('%s-%d' % (engine, next(numbers)))
        database = _new_database(request, engine, base_dir)
        return create_instance(base_dir, papermerge_venv, database, migrated=migrated,
                               seeded=seeded)

    return make


@pytest.fixture(scope='session')
def seeded_sqlite(tmp_path_factory, papermerge_venv):
    base_dir = tmp_path_factory.mktemp('seeded-sqlite')
    return create_instance(base_dir / 'instance', papermerge_venv, seeded=True)


@pytest.fixture(scope='session')
def seeded_postgresql(tmp_path_factory, papermerge_venv, pg_cluster):
    base_dir = tmp_path_factory.mktemp('seeded-postgresql')
    database = pg_cluster.create_database('pm_seeded_%s'
                                          % os.environ.get('PYTEST_XDIST_WORKER', 'main'))
    return create_instance(base_dir / 'instance', papermerge_venv, database, seeded=True)


@pytest.fixture(params=[
    'sqlite',
    pytest.param('postgresql', marks=pytest.mark.postgresql),
])
def seeded_instance(request):
    """One of the two read-only seeded session instances (the test runs once per engine)."""
    return request.getfixturevalue('seeded_%s' % request.param)
