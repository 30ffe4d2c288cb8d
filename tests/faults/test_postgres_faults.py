"""PostgreSQL: the restore's connection killed by the server mid-transaction (pg_terminate_backend from the
test's own cluster), a restore killed while its transaction is open, a backup whose snapshot connection dies.

The server rolls the transaction back; the restore must say so, remove the files it moved, and leave nothing;
when the connection dies at the COMMIT itself, the restore asks a new connection whether the commit happened.
Instances are compared through Papermerge's ORM (tests/support/django_scripts/state.py) and their media files.
"""

import pytest

from fault_runs import complete_archives, leftovers, media_files, run
from papermerge_host import clone_instance

pytestmark = pytest.mark.postgresql


def terminate(pg_cluster, instance):
    """End the collection's server processes on the instance's database; returns how many there were."""
    ended = pg_cluster.psql(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '%s' "
        "AND application_name = 'papermerge.backup'" % instance.database['name'])
    return len(ended.split())


def tokens(pg_cluster, instance):
    return int(pg_cluster.psql("SELECT count(*) FROM django_session WHERE session_key LIKE 'restore-%%'",
                               database=instance.database['name']).strip())


def comparable(instance):
    state = instance.state()
    state.pop('files')
    state['counts'].pop('files')
    return dict(state=state, files=media_files(instance.media_root))


@pytest.fixture(scope='session')
def pg_references(workdir, python, blank_pg, pg_cluster, archive):
    target = clone_instance(blank_pg, workdir / 'pg-reference',
                            pg_cluster.clone_database(blank_pg.database, 'faults_reference'))
    result = run(python, 'restore', dict(project_dir=str(target.project_dir), src=str(archive)), workdir)
    assert not result['failed'], result['msg']
    return dict(before=comparable(blank_pg), restored=comparable(target))


def check(pg_cluster, pg_references, figures, instance, tmpdirs, allowed, dest=None):
    found = comparable(instance)
    name = [key for key, reference in pg_references.items() if reference['state'] == found['state']]
    reference = pg_references[name[0] if name else 'restored']['files']
    lost = sum(size for path, (size, digest) in reference.items() if found['files'].get(path) != (size, digest))
    left = leftovers(instance, tmpdirs, dest) + ['token row'] * tokens(pg_cluster, instance)
    figures.add('bytes lost', lost)
    figures.add('leftovers', len(left))
    assert name and name[0] in allowed, 'the database is neither %s' % ' nor '.join(allowed)
    assert lost == 0 and left == [], (lost, left)


@pytest.mark.parametrize('phase', ['restore:rows', 'restore:moved', 'restore:flushed'])
def test_the_connection_killed_mid_transaction_rolls_the_restore_back(trials, figures, pg_cluster, pg_target,
                                                                      pg_references, phase):
    target = pg_target()
    restoring = trials.start('restore', trials.restore_params(target), stop_at=phase).wait_stopped()
    assert terminate(pg_cluster, target) == 1
    result = restoring.go_on().result()
    figures.add('faults')
    assert result['failed'], result
    assert 'terminat' in result['msg'] or 'server closed the connection' in result['msg'], result['msg']
    assert 'The restore was rolled back' in result['msg'], result['msg']
    if phase == 'restore:flushed':  # it died at the COMMIT: a new connection said there was none
        assert result['msg'].startswith('the commit failed on PostgreSQL database'), result['msg']
    check(pg_cluster, pg_references, figures, target, [restoring.tmpdir], allowed=('before',))
    again = trials.run('restore', trials.restore_params(target))
    assert not again['failed'], again['msg']
    check(pg_cluster, pg_references, figures, target, [again['_tmpdir']], allowed=('restored',))


@pytest.mark.parametrize('phase', ['restore:moved', 'restore:committed'])
def test_a_killed_restore_is_settled_by_the_next_backup(trials, figures, pg_cluster, pg_target, pg_references,
                                                        phase):
    """The next run waits for the server to end the killed run's transaction (an advisory lock) before it
    asks whether it committed."""
    target = pg_target()
    restoring = trials.start('restore', trials.restore_params(target), stop_at=phase).wait_stopped()
    assert restoring.kill()
    figures.add('kills')
    dest = trials.directory('dest')
    result = trials.run('backup', trials.backup_params(target, dest))
    assert not result['failed'], result['msg']
    assert any('interrupted' in warning for warning in result['warnings']), result['warnings']
    complete_archives(dest)
    check(pg_cluster, pg_references, figures, target, [restoring.tmpdir, result['_tmpdir']], dest=dest,
          allowed=('restored',) if phase == 'restore:committed' else ('before',))


def test_the_connection_killed_during_a_backup_snapshot(trials, figures, pg_cluster, pg_target, pg_references):
    target = pg_target()
    restored = trials.run('restore', trials.restore_params(target))
    assert not restored['failed'], restored['msg']
    dest = trials.directory('dest')
    backing_up = trials.start('backup', trials.backup_params(target, dest), stop_at='backup:snapshot')
    backing_up.wait_stopped()
    assert terminate(pg_cluster, target) == 1
    result = backing_up.go_on().result()
    figures.add('faults')
    assert result['failed'] and 'database query failed on PostgreSQL database' in result['msg'], result
    assert leftovers(dest=dest, tmpdirs=[backing_up.tmpdir]) == [] and complete_archives(dest) == []
    again = trials.run('backup', trials.backup_params(target, dest))
    assert not again['failed'], again['msg']
    assert len(complete_archives(dest)) == 1
    check(pg_cluster, pg_references, figures, target, [backing_up.tmpdir, again['_tmpdir']], dest=dest,
          allowed=('restored',))
