"""Writeback and flushing of restored files (plugins/module_utils/disk.py)."""

import os

import pytest

from ansible_collections.papermerge.backup.plugins.module_utils import disk


def test_flush_filesystem_flushes_a_directory_and_refuses_a_missing_one(tmp_path):
    (tmp_path / 'moved.pdf').write_bytes(b'%PDF-1.4')
    disk.flush_filesystem(str(tmp_path))
    with pytest.raises(OSError):
        disk.flush_filesystem(str(tmp_path / 'missing'))


def test_start_writeback_leaves_the_file_as_written(tmp_path):
    target = tmp_path / 'staged.pdf'
    with open(str(target), 'wb') as handle:
        handle.write(b'x' * 100000)
        handle.flush()
        disk.start_writeback(handle.fileno())
    assert target.read_bytes() == b'x' * 100000


def test_the_c_library_is_loaded_once(tmp_path):
    disk.flush_filesystem(str(tmp_path))
    first = disk._libc()
    descriptor = os.open(str(tmp_path), os.O_RDONLY)
    try:
        disk.start_writeback(descriptor)
    finally:
        os.close(descriptor)
    assert disk._libc() is first and len(disk._libc_cache) == 1
