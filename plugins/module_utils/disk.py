# -*- coding: utf-8 -*-
# Copyright: papermerge.backup contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
#
# This module_utils is PRIVATE and should only be used by this collection. Breaking changes can occur any time.
"""Getting restored files onto the disk: early writeback while staging, one flush before the commit that
reports every write the disk failed.

Both use Linux system calls Python's os module lacks (sync_file_range, syncfs), reached through the C
library, which is loaded once and only when a restore first needs it.  Both take the library as an optional
argument (c_library() by default), so that a test can hand in one that records the calls.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import ctypes
import ctypes.util
import errno
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


class FilesystemFlush:
    """A descriptor on a directory, opened before the files to flush are written; flush() syncs its filesystem.

    syncfs() flushes just that filesystem and reports a write error the disk gave (EIO after a failed
    writeback, ENOSPC on thin storage; Linux 5.8 and later) as OSError, so that the caller rolls back instead
    of committing rows over lost files.  Linux reports the errors of writeback since the descriptor was opened:
    opened first, it also sees writeback that start_writeback() began early and that failed before the flush.
    Only where there is no syncfs (not Linux) does sync() flush everything, which reports nothing.
    """

    def __init__(self, path, libc=None):
        self.path = path
        self.library = libc or c_library()
        self.descriptor = os.open(path, os.O_RDONLY)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def flush(self):
        syncfs = getattr(self.library, "syncfs", None)
        if syncfs is None:
            os.sync()
        elif syncfs(self.descriptor) != 0:
            number = _errno_of(self.library)
            raise OSError(number, "%s, reported by syncfs on %s" % (os.strerror(number), self.path))

    def close(self):
        if self.descriptor is not None:
            os.close(self.descriptor)
            self.descriptor = None


def flush_filesystem(path, libc=None):
    """Make every file written below path durable (see FilesystemFlush; this one sees only errors from now)."""
    with FilesystemFlush(path, libc) as flush:
        flush.flush()


def _errno_of(library):
    """errno after a failed call: ctypes keeps it for the C library; a stand-in (tests) says it as .errno."""
    if isinstance(library, ctypes.CDLL):
        return ctypes.get_errno() or errno.EIO
    return getattr(library, "errno", 0) or errno.EIO
