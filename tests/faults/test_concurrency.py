"""Restores and backups of one instance at the same time.

One restore per instance at a time: a second one waits for the first (up to lock_timeout), then plans what the
first left, or refuses naming it; never a raw "UNIQUE constraint failed", never rows over files that the first
one's roll-back removes (issue 10, item 2).  A backup never archives a half-restored instance (item 4).
"""

import hashlib
import io
import json
import sqlite3
import tarfile
import time

import pytest

from fault_runs import complete_archives, randomness

MANIFEST_NAME = 'papermerge-backup-manifest.json'
RESTORE_PAIRS = 3
BACKUP_RESTORE_PAIRS = 6
# Fails the commit of a restore that inserts the tag 'fail-me' (a deferred foreign key, checked at the COMMIT,
# after the restore moved its files into place); restores without that tag commit.
FAIL_COMMIT_WITH_TAG = ("CREATE TRIGGER test_fail AFTER INSERT ON core_tag WHEN NEW.name = 'fail-me' BEGIN "
                        "INSERT INTO core_folder (basetreenode_ptr_id) VALUES ('00000000000000000000000000000000'); "
                        "END;")


def with_extra_tag(archive, path):
    """A copy of archive whose first user has one tag more, 'fail-me' (manifest updated to match)."""
    with tarfile.open(str(archive)) as source, tarfile.open(str(path), 'w:gz') as target:
        members = [(info, source.extractfile(info).read() if info.isreg() else None) for info in source]
        backup = json.loads(dict((info.name, data) for info, data in members)['backup.json'])
        backup['users'][0]['tags'].append({'name': 'fail-me', 'bg_color': '#000000', 'fg_color': '#ffffff',
                                           'description': None, 'pinned': False})
        changed = {'backup.json': json.dumps(backup).encode()}
        manifest = json.loads(dict((info.name, data) for info, data in members)[MANIFEST_NAME])
        manifest['members']['backup.json'] = {'size': len(changed['backup.json']),
                                              'sha256': hashlib.sha256(changed['backup.json']).hexdigest()}
        changed[MANIFEST_NAME] = json.dumps(manifest).encode()
        for info, data in members:
            data = changed.get(info.name, data)
            if data is not None:
                info.size = len(data)
            target.addfile(info, io.BytesIO(data) if data is not None else None)
    return path


def sql(instance, statement):
    connection = sqlite3.connect(str(instance.sqlite_file))
    try:
        connection.executescript(statement)
    finally:
        connection.close()


def test_a_second_restore_waits_then_refuses_naming_the_first(trials, verify, figures):
    target = trials.target()
    first = trials.start('restore', trials.restore_params(target), stop_at='restore:planned').wait_stopped()
    second = trials.run('restore', trials.restore_params(target, lock_timeout=1))
    figures.add('concurrent pairs')
    assert second['failed'], second
    assert second['msg'].startswith('another restore is running on this instance (pid %d on ' % first.pid), \
        second['msg']
    assert 'archive %s' % trials.archive in second['msg'] and 'waited 1 s' in second['msg']
    result = first.go_on().result()
    assert not result['failed'], result['msg']
    verify(target, [first.tmpdir, second['_tmpdir']], allowed=('restored',))


def test_a_restore_never_commits_rows_over_files_another_one_rolls_back(trials, verify, figures, tmp_path):
    """Issue 10 item 2: restore A moved its files in, then fails at its commit and removes them; restore B,
    started meanwhile, must not have counted them as present."""
    target = trials.target()
    sql(target, FAIL_COMMIT_WITH_TAG)
    failing = with_extra_tag(trials.archive, tmp_path / 'with-fail-me.tar.gz')
    first = trials.start('restore', dict(trials.restore_params(target), src=str(failing)),
                         stop_at='restore:moved').wait_stopped()
    second = trials.start('restore', trials.restore_params(target, lock_timeout=120))
    time.sleep(2)  # the second restore reads the archive and gets as far as it may while the first holds on
    failed = first.go_on().result()
    assert failed['failed'] and 'FOREIGN KEY' in failed['msg'] and 'rolled back' in failed['msg'], failed
    result = second.result()
    figures.add('concurrent pairs')
    figures.add('faults')
    assert not result['failed'], result['msg']
    sql(target, 'DROP TRIGGER test_fail;')
    verify(target, [first.tmpdir, second.tmpdir], allowed=('restored',))


@pytest.mark.parametrize('number', range(RESTORE_PAIRS))
def test_two_restores_started_together_end_restored_once(request, trials, verify, figures, number):
    offset = randomness(request.node.name).uniform(0, 0.5)
    target = trials.target()
    first = trials.start('restore', trials.restore_params(target))
    time.sleep(offset)
    second = trials.start('restore', trials.restore_params(target))
    results = [first.result(), second.result()]
    figures.add('concurrent pairs')
    for result in results:
        assert not result['failed'], result['msg']
        assert 'UNIQUE' not in json.dumps(result)
    assert sorted(result['changed'] for result in results) == [False, True]  # the second found it all there
    verify(target, [first.tmpdir, second.tmpdir], allowed=('restored',))


def test_a_backup_waits_for_a_running_restore_instead_of_archiving_half_of_it(trials, verify, figures):
    """Issue 10 item 4: files moved in, rows not committed; a backup then must not archive that."""
    target = trials.target()
    restoring = trials.start('restore', trials.restore_params(target), stop_at='restore:moved').wait_stopped()
    dest = trials.directory('dest')
    waited = trials.run('backup', trials.backup_params(target, dest, lock_timeout=1))
    figures.add('concurrent pairs')
    assert waited['failed'], waited
    assert waited['msg'].startswith('a restore is running on this instance (pid %d on ' % restoring.pid)
    assert 'a backup never archives a half-restored instance' in waited['msg']
    assert not any(p.name.endswith('.tar.gz') for p in dest.iterdir())
    restored = restoring.go_on().result()
    assert not restored['failed'], restored['msg']
    result = trials.run('backup', trials.backup_params(target, dest))
    assert not result['failed'], result['msg']
    source = verify.references.snapshots['restored']
    assert result['counts']['files'] == len(source['files']) and result['counts']['documents'] > 0
    complete_archives(dest)
    verify(target, [restoring.tmpdir, waited['_tmpdir'], result['_tmpdir']], dest=dest, allowed=('restored',))


@pytest.mark.parametrize('number', range(BACKUP_RESTORE_PAIRS))
def test_a_backup_and_a_restore_started_together(request, trials, verify, figures, number):
    offset = randomness(request.node.name).uniform(-0.7, 0.7)
    target = trials.target()
    dest = trials.directory('dest')
    runs = [('restore', trials.restore_params(target)), ('backup', trials.backup_params(target, dest))]
    if offset < 0:
        runs.reverse()
    first = trials.start(*runs[0])
    time.sleep(abs(offset))
    second = trials.start(*runs[1])
    results = dict((kind, started.result()) for (kind, _params), started in zip(runs, (first, second)))
    figures.add('concurrent pairs')
    for result in results.values():
        assert not result['failed'], result['msg']
    counts = results['backup']['counts']
    full = verify.references.snapshots['restored']['files']
    # The archive holds the instance before the restore (nothing) or after it (everything), never a half.
    assert (counts['documents'], counts['files']) in ((0, 0), (counts['documents'], len(full))), counts
    assert counts['files'] == 0 or counts['documents'] > 0
    complete_archives(dest)
    verify(target, [first.tmpdir, second.tmpdir], dest=dest, allowed=('restored',))
