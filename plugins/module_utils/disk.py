# -*- coding: utf-8 -*-
# Copyright: papermerge.backup contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
#
# This module_utils is PRIVATE and should only be used by this collection. Breaking changes can occur any time.
"""Getting restored files onto the disk: early writeback while staging, one flush before the commit.

Both use Linux system calls Python's os module lacks (sync_file_range, syncfs), reached through the C
library, which is loaded once and only when a restore first needs it.  Both take the library as an optional
argument (c_library() by default), so that a test can hand in one that records the calls.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import ctypes
import ctypes.util
import os

SYNC_FILE_RANGE_WRITE = 2
_loaded = []


def c_library():
    """The C library (loaded on first use, then the same object), or None where it cannot be loaded."""
    if not _loaded:
        try:
            libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        except OSError:
            libc = None
        if hasattr(libc, "sync_file_range"):
            libc.sync_file_range.argtypes = [ctypes.c_int, ctypes.c_longlong, ctypes.c_longlong, ctypes.c_uint]
        _loaded.append(libc)
    return _loaded[0]


def start_writeback(descriptor, libc=None):
    """Let the kernel start writing a file to disk now, without waiting (Linux sync_file_range).

    The restore flushes the media root's filesystem before its commit; writeback started file by file while
    the archive is still being read leaves that flush little to wait for.  Without sync_file_range, nothing.
    """
    sync_file_range = getattr(libc or c_library(), "sync_file_range", None)
    if sync_file_range is not None:
        sync_file_range(descriptor, 0, 0, SYNC_FILE_RANGE_WRITE)


def flush_filesystem(path, libc=None):
    """Make every file written below path durable before the rows that name them are committed.

    Without it a crash right after the commit could leave rows pointing at files the disk never got.
    syncfs() flushes just that filesystem; where it is missing (not Linux) or fails, sync() flushes all.
    """
    descriptor = os.open(path, os.O_RDONLY)
    try:
        syncfs = getattr(libc or c_library(), "syncfs", None)
        if syncfs is None or syncfs(descriptor) != 0:
            os.sync()
    finally:
        os.close(descriptor)
