# -*- coding: utf-8 -*-
# Copyright: papermerge.backup contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""papermerge_restore through ansible-playbook where it meets another run or a disk it cannot use (issue 10).

Check mode is honest: a read-only or too small media root is predicted as a failure, with the message the real
run gives; a fresh instance's media root that does not exist yet is announced, and created by the real run.  The
instance lock and lock_timeout reach the module; what an interrupted restore left is removed and reported in the
task's warnings.  (tests/faults kills, races and starves the same code far more.)
"""

import fcntl
import json
import os
import shutil
from pathlib import Path

import pytest

from ansible_run import run_module
from file_tree import INSTANCE_LOCK, media_snapshot, mounted_tmpfs

RESTORE = 'papermerge.backup.papermerge_restore'
BACKUP = 'papermerge.backup.papermerge_backup'
needs_root = pytest.mark.skipif(os.geteuid() != 0, reason='mounting a tmpfs needs root')


def restore(instance, src, check=False, **options):
    args = dict(project_dir=str(instance.project_dir), src=str(src), **options)
    return run_module(RESTORE, args, python=instance.python, check=check)


def users(instance):
    return instance.sql('SELECT count(*) FROM core_user')[0][0]


@pytest.fixture(scope='module')
def archive(tmp_path_factory, seeded_sqlite):
    dest = tmp_path_factory.mktemp('archive')
    result = run_module(BACKUP, dict(project_dir=str(seeded_sqlite.project_dir), dest=str(dest) + '/'),
                        python=seeded_sqlite.python)
    assert not result['failed'], result['msg']
    return Path(result['archive'])


@needs_root
def test_check_mode_predicts_a_read_only_media_root_with_the_real_runs_message(make_instance, archive):
    target = make_instance('sqlite')
    with mounted_tmpfs(target.media_root, 'ro,size=1m'):
        predicted = restore(target, archive, check=True)
        real = restore(target, archive)
    assert predicted['failed'], 'check mode predicted success on a read-only media root'
    assert real['failed'] and predicted['msg'] == real['msg'], (predicted['msg'], real['msg'])
    assert 'is on a read-only filesystem' in real['msg'] and 'nothing was written' in real['msg'], real['msg']
    assert users(target) == 0


@needs_root
def test_check_mode_predicts_a_media_root_too_small_for_the_archive(make_instance, archive):
    target = make_instance('sqlite')
    with mounted_tmpfs(target.media_root, 'size=16k'):
        predicted = restore(target, archive, check=True)
        real = restore(target, archive)
        left = media_snapshot(target.media_root)
    assert predicted['failed'], 'check mode predicted success on a media root too small for the archive'
    assert real['failed'], real
    stem = 'no space left on the filesystem of the media root %s' % target.media_root
    for result in (predicted, real):
        assert result['msg'].startswith(stem) and result['msg'].endswith('; nothing was written'), result['msg']
    assert predicted['msg'].split(' (')[0] == real['msg'].split(' (')[0]
    assert left == {} and users(target) == 0


def test_a_fresh_instance_s_missing_media_root_is_announced_by_the_check_and_created_by_the_restore(
        make_instance, archive, seeded_sqlite):
    """Papermerge makes its media root on the first upload: a fresh container has none.  The restore makes it,
    owned like its parent (a restore run as root leaves it to the user Papermerge runs as)."""
    target = make_instance('sqlite')
    shutil.rmtree(str(target.media_root))
    os.chown(str(target.base_dir), 4321, 4322)
    predicted = restore(target, archive, check=True)
    assert not predicted['failed'], predicted['msg']
    assert predicted['changed']
    assert ['the media root %s does not exist yet' % target.media_root in warning and 'the restore creates it'
            in warning for warning in predicted.get('warnings', [])] == [True], predicted.get('warnings')
    assert not os.path.lexists(str(target.media_root)), 'check mode wrote the media root'
    real = restore(target, archive)
    assert not real['failed'], real['msg']
    info = os.stat(str(target.media_root))
    assert (info.st_uid, info.st_gid) == (4321, 4322)
    assert media_snapshot(target.media_root) == media_snapshot(seeded_sqlite.media_root)
    assert users(target) == users(seeded_sqlite)


@needs_root
@pytest.mark.parametrize('where', ['parent missing', 'parent read-only'])
def test_a_missing_media_root_is_refused_where_it_cannot_be_created(make_instance, archive, tmp_path, where):
    target = make_instance('sqlite')
    parent = tmp_path / 'volume'
    media_root = parent / 'media'
    if where == 'parent missing':
        expected = 'media root %s does not exist (nor does its parent directory)' % media_root
        predicted = restore(target, archive, check=True, media_root=str(media_root))
        real = restore(target, archive, media_root=str(media_root))
    else:
        parent.mkdir()
        expected = 'the media root %s (still to be created, in %s) is on a read-only filesystem' % (media_root, parent)
        with mounted_tmpfs(parent, 'ro,size=1m'):
            predicted = restore(target, archive, check=True, media_root=str(media_root))
            real = restore(target, archive, media_root=str(media_root))
    for result in (predicted, real):
        assert result['failed'] and result['msg'].startswith(expected), result['msg']
    assert not os.path.lexists(str(media_root)) and users(target) == 0


def test_a_restore_waits_for_the_instance_lock_then_names_its_holder(make_instance, archive):
    target = make_instance('sqlite')
    holder = dict(pid=4242, host='docs01', started='2026-11-26T02:00:00Z', archive='/backups/other.tar.gz')
    with open(str(target.media_root / INSTANCE_LOCK), 'w') as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        lock.write(json.dumps(holder))
        lock.flush()
        result = restore(target, archive, lock_timeout=1)
        checked = restore(target, archive, check=True, lock_timeout=1)
    for failed in (result, checked):
        assert failed['failed'], failed
        assert failed['msg'].startswith('another restore is running on this instance (pid 4242 on docs01, started '
                                        '2026-11-26T02:00:00Z, archive /backups/other.tar.gz'), failed['msg']
        assert failed['holder'] == holder
    assert users(target) == 0
    assert not restore(target, archive)['failed']  # released: it goes through


def test_what_an_interrupted_restore_left_is_removed_and_reported(make_instance, archive):
    target = make_instance('sqlite')
    staging = target.media_root / '.papermerge-restore'
    (staging / 'docs').mkdir(parents=True)
    (staging / '.backup.json').write_text('{"users": [{"password": "pbkdf2_sha256$..."}]}')
    result = restore(target, archive)
    assert not result['failed'], result['msg']
    assert any('removed the staging directory %s' % staging in warning and 'password hashes' in warning
               for warning in result.get('warnings', [])), result.get('warnings')
    assert not staging.exists()
    assert sorted(os.listdir(str(target.media_root))) == [INSTANCE_LOCK, 'docs', 'sidecars']
