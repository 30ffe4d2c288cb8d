"""Fixtures of the fault-injection suite (tests/faults, `make faults`).

One small seeded Papermerge 2.1.5 instance (the standard seed plus bulk documents, so that a run lasts long
enough for random kills to land in every phase), its archive, and a migrated blank instance to restore into;
each trial restores into or backs up a copy.  References: the blank instance ('before') and the archive restored
into it without faults ('restored', proven equal to the source through Papermerge's ORM).

Randomness is seeded: PAPERMERGE_FAULTS_SEED (default in fault_runs.py) picks the kill delays and disk sizes; the seed is
printed with the figures at the end of the run, and written to tests/output/faults-figures.txt.
"""

import fcntl
import os
import time
from pathlib import Path

import pytest

from fault_runs import SEED, Figures, References, Run, leftovers, python_of, run, snapshot
from papermerge_host import assert_states_equal, build_papermerge_venv, clone_instance, create_instance
from pg_cluster import PostgresCluster

BULK_DOCUMENTS = os.environ.get('PAPERMERGE_FAULTS_DOCUMENTS', '40')
REPO = Path(__file__).resolve().parents[2]
FIGURES = Figures(SEED)


def pytest_terminal_summary(terminalreporter):
    line = FIGURES.line()
    terminalreporter.write_line(line)
    output = REPO / 'tests' / 'output'
    output.mkdir(parents=True, exist_ok=True)
    (output / 'faults-figures.txt').write_text(line + '\n')


@pytest.fixture(scope='session')
def figures():
    return FIGURES


@pytest.fixture(scope='session')
def venv():
    cache = Path(os.environ.get('PAPERMERGE_TEST_CACHE', Path.home() / '.cache' / 'papermerge-backup-tests'))
    cache.mkdir(parents=True, exist_ok=True)
    with open(str(cache / '.build.lock'), 'w') as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        return build_papermerge_venv()


@pytest.fixture(scope='session')
def python(venv):
    return python_of(venv)


@pytest.fixture(scope='session')
def workdir(tmp_path_factory):
    return tmp_path_factory.mktemp('faults')


@pytest.fixture(scope='session')
def source(workdir, venv):
    instance = create_instance(workdir / 'source', venv, seeded=True)
    instance.seed('--documents', BULK_DOCUMENTS, '--pdf-size', '120000', '--username', 'bulk')
    return instance


@pytest.fixture(scope='session')
def blank(workdir, venv):
    return create_instance(workdir / 'blank', venv)


class Trials:
    """Copies of the session's instances and private directories for one test."""

    def __init__(self, tmp_path, python, blank, source, archive):
        self.tmp_path = tmp_path
        self.python = python
        self.blank = blank
        self.source = source
        self.archive = archive
        self.count = 0

    def target(self, template=None):
        """A copy of the blank instance (or of template) to restore into."""
        self.count += 1
        return clone_instance(template or self.blank, self.tmp_path / ('instance-%d' % self.count))

    def directory(self, name):
        self.count += 1
        path = self.tmp_path / ('%s-%d' % (name, self.count))
        path.mkdir()
        return path

    def restore_params(self, instance, **options):
        return dict(project_dir=str(instance.project_dir), src=str(self.archive), **options)

    def backup_params(self, instance, dest, **options):
        return dict(project_dir=str(instance.project_dir), dest=str(dest) + '/', label='faults', **options)

    def start(self, kind, params, stop_at=None, check=False, memory_mb=None):
        tmpdir = self.directory('tmp')
        started = Run(self.python, kind, params, tmpdir, stop_at=stop_at, check=check, memory_mb=memory_mb)
        started.tmpdir = tmpdir
        return started

    def run(self, kind, params, check=False):
        started = self.start(kind, params, check=check)
        result = started.result()
        result['_tmpdir'] = started.tmpdir
        return result


@pytest.fixture(scope='session')
def archive(workdir, python, source):
    dest = workdir / 'archive'
    dest.mkdir()
    result = run(python, 'backup', dict(project_dir=str(source.project_dir), dest=str(dest) + '/', label='src'),
                 workdir)
    assert not result['failed'], result['msg']
    return Path(result['archive'])


@pytest.fixture(scope='session')
def references(workdir, python, blank, source, archive):
    """'before' (the blank instance) and 'restored' (the archive restored into it), and how long a clean
    restore and a clean backup take (to spread random kills over a whole run)."""
    restored = []
    for number in (1, 2):
        target = clone_instance(blank, workdir / ('reference-%d' % number))
        started = time.monotonic()
        result = run(python, 'restore', dict(project_dir=str(target.project_dir), src=str(archive)), workdir)
        assert not result['failed'] and result['changed'], result
        restored.append((target, time.monotonic() - started))
    first, second = snapshot(restored[0][0]), snapshot(restored[1][0])
    assert first == second, 'two clean restores of one archive differ: the references would not be exact'
    assert_states_equal(restored[0][0].state(), source.state())  # the reference is the source, by Papermerge's ORM
    refs = References(before=snapshot(blank), restored=first)
    refs.restore_seconds = max(seconds for _target, seconds in restored)
    dest = workdir / 'timing'
    dest.mkdir()
    started = time.monotonic()
    result = run(python, 'backup', dict(project_dir=str(source.project_dir), dest=str(dest) + '/', label='t'),
                 workdir)
    assert not result['failed'], result['msg']
    refs.backup_seconds = time.monotonic() - started
    refs.source = snapshot(source)
    return refs


@pytest.fixture
def trials(tmp_path, python, blank, source, archive):
    return Trials(tmp_path, python, blank, source, archive)


@pytest.fixture
def verify(references, figures):
    """verify(instance, tmpdirs, dest=None, allowed=('before', 'restored')) after a fault and the run after it:
    the instance equals one of the allowed references, no byte of it is lost, nothing is left behind.
    Returns the name of the reference it equals."""

    def check(instance, tmpdirs=(), dest=None, allowed=('before', 'restored'), refs=None):
        refs = refs or references
        found = snapshot(instance)
        name = refs.match(found)
        lost = refs.bytes_lost(found, name)
        left = leftovers(instance, tmpdirs, dest) + ['extra media file: %s' % path
                                                     for path in refs.extra_files(found, name)]
        figures.add('bytes lost', lost)
        figures.add('leftovers', len(left))
        assert name in allowed, 'the database is neither %s' % ' nor '.join(allowed)
        assert lost == 0, '%d bytes of the %s instance are lost' % (lost, name)
        assert left == [], left
        return name

    check.references = references
    return check


@pytest.fixture(scope='session')
def pg_cluster():
    cluster = PostgresCluster().start()
    try:
        yield cluster
    finally:
        cluster.stop()


@pytest.fixture(scope='session')
def blank_pg(workdir, venv, pg_cluster):
    return create_instance(workdir / 'blank-pg', venv, pg_cluster.create_database('faults_blank'))


@pytest.fixture
def pg_target(request, tmp_path, blank_pg, pg_cluster):
    """A copy of the blank PostgreSQL instance; its database is dropped after the test."""
    made = []

    def make():
        name = 'faults_%d_%d' % (os.getpid(), len(made) + int(time.time() * 1000) % 100000)
        database = pg_cluster.clone_database(blank_pg.database, name)
        made.append(name)
        return clone_instance(blank_pg, tmp_path / name, database)

    yield make
    for name in made:
        pg_cluster.drop_database(name)
