# -*- coding: utf-8 -*-
# Copyright: papermerge.backup contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Getting restored files onto the disk: early writeback while staging, one flush before the commit.

Both use Linux system calls Python's os module lacks (sync_file_range, syncfs), reached through the C
library, which is loaded once and only when a restore first needs it.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import ctypes
import ctypes.util
import os

_SYNC_FILE_RANGE_WRITE = 2
_libc_cache = []


def _libc():
    """The C library, or None where it cannot be loaded."""
    if not _libc_cache:
        try:
            libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        except OSError:
            libc = None
        if hasattr(libc, "sync_file_range"):
            libc.sync_file_range.argtypes = [ctypes.c_int, ctypes.c_longlong, ctypes.c_longlong, ctypes.c_uint]
        _libc_cache.append(libc)
    return _libc_cache[0]


def start_writeback(descriptor):
    """Let the kernel start writing a file to disk now, without waiting (Linux sync_file_range).

    The restore flushes the media root's filesystem before its commit; writeback started file by file while
    the archive is still being read leaves that flush little to wait for.
    """
    sync_file_range = getattr(_libc(), "sync_file_range", None)
    if sync_file_range is not None:
        sync_file_range(descriptor, 0, 0, _SYNC_FILE_RANGE_WRITE)


def flush_filesystem(path):
    """Make every file written below path durable before the rows that name them are committed.

    Without it a crash right after the commit could leave rows pointing at files the disk never got.
    syncfs() flushes just that filesystem; where it is missing (not Linux), sync() flushes all.
    """
    descriptor = os.open(path, os.O_RDONLY)
    try:
        syncfs = getattr(_libc(), "syncfs", None)
        if syncfs is None or syncfs(descriptor) != 0:
            os.sync()
    finally:
        os.close(descriptor)
