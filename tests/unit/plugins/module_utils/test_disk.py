"""Writeback and flushing of restored files (plugins/module_utils/disk.py).

The system calls leave nothing a test could see on a healthy disk, so a C library stand-in records each call
(and, for syncfs, which directory its descriptor was open on); the real library is called as well.
"""

import errno
import os

import pytest

from ansible_collections.papermerge.backup.plugins.module_utils import disk


class RecordingLibc:
    """The two C library functions disk.py calls, recording their arguments."""

    def __init__(self, syncfs_result=0, errno=0):
        self.calls = []
        self.descriptors = []
        self.syncfs_result = syncfs_result
        self.errno = errno  # what errno says after a failing call

    def sync_file_range(self, descriptor, offset, length, flags):
        self.calls.append(('sync_file_range', os.fstat(descriptor).st_ino, offset, length, flags))
        return 0

    def syncfs(self, descriptor):
        self.calls.append(('syncfs', os.fstat(descriptor).st_ino))
        self.descriptors.append(descriptor)
        return self.syncfs_result


def test_flush_filesystem_syncs_the_filesystem_of_the_directory(tmp_path):
    (tmp_path / 'moved.pdf').write_bytes(b'%PDF-1.4')
    libc = RecordingLibc()
    disk.flush_filesystem(str(tmp_path), libc=libc)
    assert libc.calls == [('syncfs', os.stat(str(tmp_path)).st_ino)]
    with pytest.raises(OSError):
        disk.flush_filesystem(str(tmp_path / 'missing'), libc=libc)
    assert len(libc.calls) == 1  # nothing to sync without the directory


@pytest.mark.parametrize('number', [errno.EIO, errno.ENOSPC])
def test_a_failing_syncfs_raises_its_error_and_never_falls_back_to_sync(tmp_path, monkeypatch, number):
    # sync() reports nothing: falling back to it would let the restore commit rows over files the disk lost.
    synced = []
    monkeypatch.setattr(os, 'sync', lambda: synced.append(True))
    libc = RecordingLibc(syncfs_result=-1, errno=number)
    with pytest.raises(OSError) as raised:
        disk.flush_filesystem(str(tmp_path), libc=libc)
    assert raised.value.errno == number
    assert str(tmp_path) in str(raised.value) and 'syncfs' in str(raised.value)
    assert libc.calls == [('syncfs', os.stat(str(tmp_path)).st_ino)] and synced == []


def test_a_failing_syncfs_without_errno_is_an_input_output_error(tmp_path):
    with pytest.raises(OSError) as raised:
        disk.flush_filesystem(str(tmp_path), libc=RecordingLibc(syncfs_result=-1, errno=0))
    assert raised.value.errno == errno.EIO


def test_sync_flushes_everything_only_where_there_is_no_syncfs(tmp_path, monkeypatch):
    synced = []
    monkeypatch.setattr(os, 'sync', lambda: synced.append(True))
    disk.flush_filesystem(str(tmp_path), libc=object())  # a C library without syncfs (not Linux)
    assert synced == [True]


def test_start_writeback_asks_for_the_whole_file_and_leaves_it_as_written(tmp_path):
    target = tmp_path / 'staged.pdf'
    libc = RecordingLibc()
    with open(str(target), 'wb') as handle:
        handle.write(b'x' * 100000)
        handle.flush()
        disk.start_writeback(handle.fileno(), libc=libc)
        disk.start_writeback(handle.fileno())  # the real call, too
    assert libc.calls == [('sync_file_range', os.stat(str(target)).st_ino, 0, 0, disk.SYNC_FILE_RANGE_WRITE)]
    assert target.read_bytes() == b'x' * 100000


def test_the_c_library_is_loaded_once_and_has_both_calls(tmp_path):
    first = disk.c_library()
    disk.flush_filesystem(str(tmp_path))
    assert disk.c_library() is first
    assert hasattr(first, 'syncfs') and hasattr(first, 'sync_file_range')  # Linux, as on every Papermerge host


def test_the_flush_reports_on_a_descriptor_opened_before_the_files_were_written(tmp_path):
    # Linux reports to syncfs the writeback errors since its descriptor was opened: one opened only at the flush
    # would miss those of writeback started early that failed meanwhile.
    libc = RecordingLibc(syncfs_result=-1, errno=errno.EIO)
    flush = disk.FilesystemFlush(str(tmp_path), libc=libc)
    opened = flush.descriptor
    (tmp_path / 'staged.pdf').write_bytes(b'%PDF-1.4')
    with pytest.raises(OSError):
        flush.flush()
    assert libc.descriptors == [opened]
    flush.close()
    assert flush.descriptor is None
