"""The instance lock (plugins/module_utils/instance_lock.py): restores exclusive, backups shared, a run that
waits in vain names the one it waited for, and a user who cannot create the lock file still gets a backup."""

import errno
import json
import os
import socket

import pytest

from ansible_collections.papermerge.backup.plugins.module_utils.errors import PapermergeBackupError
from ansible_collections.papermerge.backup.plugins.module_utils.instance_lock import LOCK_NAME, InstanceLock


def restore_lock(media, timeout=0, archive='/backups/a.tar.gz'):
    return InstanceLock(str(media), exclusive=True, timeout=timeout, holder=dict(operation='restore', archive=archive))


def backup_lock(media, timeout=0, create=True):
    return InstanceLock(str(media), exclusive=False, timeout=timeout, create=create)


def test_a_second_restore_is_refused_naming_the_first(tmp_path):
    with restore_lock(tmp_path):
        holder = json.loads((tmp_path / LOCK_NAME).read_text())
        assert holder['pid'] == os.getpid() and holder['host'] == socket.gethostname()
        with pytest.raises(PapermergeBackupError) as refused:
            restore_lock(tmp_path, timeout=0.3, archive='/backups/b.tar.gz').__enter__()
    message = str(refused.value)
    assert message.startswith('another restore is running on this instance (pid %d on %s, started '
                              % (os.getpid(), socket.gethostname()))
    assert 'archive /backups/a.tar.gz' in message and 'waited 0 s' in message and 'lock_timeout' in message
    assert refused.value.details['holder']['archive'] == '/backups/a.tar.gz'
    # The refused run did not wipe the description; the first one's release did, and the file stays.
    assert (tmp_path / LOCK_NAME).read_text() == ''


def test_backups_share_the_lock_and_restores_wait_for_them(tmp_path):
    with backup_lock(tmp_path), backup_lock(tmp_path):
        with pytest.raises(PapermergeBackupError, match='a backup is reading this instance.*run the restore again'):
            restore_lock(tmp_path).__enter__()
    with restore_lock(tmp_path):
        with pytest.raises(PapermergeBackupError) as refused:
            backup_lock(tmp_path).__enter__()
    assert 'a restore is running on this instance (pid %d' % os.getpid() in str(refused.value)
    assert 'a backup never archives a half-restored instance' in str(refused.value)


def test_a_backup_that_cannot_create_the_lock_file_opens_it_read_only_or_runs_unlocked(tmp_path, monkeypatch):
    real_open = os.open

    def not_creatable(path, flags, *mode):
        if flags & os.O_CREAT:
            raise OSError(errno.EACCES, 'Permission denied', path)
        return real_open(path, flags, *mode)

    monkeypatch.setattr(os, 'open', not_creatable)
    with backup_lock(tmp_path) as lock:
        assert lock.descriptor is None and 'does not exist and the user running this cannot create it' in \
            lock.warnings[0]
    monkeypatch.setattr(os, 'open', real_open)
    (tmp_path / LOCK_NAME).write_text('')
    monkeypatch.setattr(os, 'open', not_creatable)
    with backup_lock(tmp_path) as lock:  # an existing file is locked read-only: flock needs no write access
        assert lock.descriptor is not None and lock.warnings == []
        monkeypatch.setattr(os, 'open', real_open)
        with pytest.raises(PapermergeBackupError, match='a backup is reading'):
            restore_lock(tmp_path).__enter__()


def test_check_mode_creates_nothing(tmp_path):
    with backup_lock(tmp_path, create=False) as lock:
        assert lock.descriptor is None and lock.warnings == []
    assert os.listdir(str(tmp_path)) == []


def test_a_symlink_in_place_of_the_lock_file_is_not_followed(tmp_path):
    target = tmp_path / 'precious'
    target.write_text('keep me')
    media = tmp_path / 'media'
    media.mkdir()
    os.symlink(str(target), str(media / LOCK_NAME))
    with pytest.raises(PapermergeBackupError, match='cannot open the instance lock'):
        restore_lock(media).__enter__()
    assert target.read_text() == 'keep me'
