# -*- coding: utf-8 -*-
# Copyright: papermerge.backup contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
#
# This module_utils is PRIVATE and should only be used by this collection. Breaking changes can occur any time.
"""Staging: an archive's media files written below a private directory as the tree they will become.

Creating files and directories is the costliest part of staging (the kernel allocates an inode for each), so
the Stager writes in a thread of its own (threads.BackgroundWorker), overlapping with parsing and hashing the
tar stream.  Whole files travel in batches: one hand-off per file (thousands of small sidecars) cost a thread
wake-up each, which made the two threads take turns instead of working at the same time.  A file larger than
a chunk streams as begin, its chunks, end.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
import stat

from ansible_collections.papermerge.backup.plugins.module_utils.archive_format import CHUNK_SIZE
from ansible_collections.papermerge.backup.plugins.module_utils.disk import start_writeback
from ansible_collections.papermerge.backup.plugins.module_utils.member_rules import unsafe_member
from ansible_collections.papermerge.backup.plugins.module_utils.threads import BackgroundWorker

# Restored media files are readable by the web and worker processes, as Papermerge's own files are; the
# staging directory itself is 0700, so nobody sees them before they are moved into place.
STAGED_MODE = 0o644
# Staged files from this size on start their writeback as soon as they are written (see _finish_staged).
WRITEBACK_MIN_SIZE = 64 * 1024
QUEUE_DEPTH = 4                   # batches or chunks waiting: memory stays under ~12 MB
BATCH_BYTES = 2 * CHUNK_SIZE
BATCH_FILES = 256


class Stager:
    """Writes staged files below stage_dir, each under its member's normalised name, in a thread of its own.

    add() stages a whole file; begin(), write() and end() stream a large one.  An error in the thread is
    raised in the reading thread by the next call or by finish(); stop() ends the thread whatever happened.
    """

    def __init__(self, stage_dir):
        self.stage_dir = stage_dir
        self.made = []
        self.batch = []
        self.batch_bytes = 0
        self.streamed = None          # (descriptor, member) of the file being written
        self.worker = BackgroundWorker(self._handle, QUEUE_DEPTH, "papermerge-stage")

    def add(self, member, chunks):
        """Stage member's file, whose whole content is chunks."""
        self.batch.append((member, chunks))
        self.batch_bytes += member.size
        if len(self.batch) >= BATCH_FILES or self.batch_bytes >= BATCH_BYTES:
            self._send_batch()

    def begin(self, member):
        """Start streaming member's file: write() its chunks, then end()."""
        self._send_batch()
        self.worker.put(member)

    def write(self, chunk):
        self.worker.put(chunk)

    def end(self):
        self.worker.put(False)

    def finish(self):
        """Wait until every file is written; raise the thread's error, if any."""
        self._send_batch()
        self.stop(report=True)

    def stop(self, report=False):
        self.worker.finish(report=report)
        self._close_streamed()  # after a failure, the file the thread was writing

    def _send_batch(self):
        if self.batch:
            batch, self.batch, self.batch_bytes = self.batch, [], 0
            self.worker.put(batch)

    def _handle(self, item):
        if isinstance(item, list):
            for member, chunks in item:
                self._open(member)
                for chunk in chunks:
                    _write_all(self.streamed[0], chunk)
                self._close()
        elif isinstance(item, bytes):
            _write_all(self.streamed[0], item)
        elif item is False:
            self._close()
        else:
            self._open(item)

    def _open(self, member):
        _make_stage_dirs(self.stage_dir, member.name, self.made, member.raw_name)
        self.streamed = (_create_staged(member.staged, member.raw_name), member)

    def _close(self):
        descriptor, member = self.streamed
        _finish_staged(descriptor, member.mtime, member.size)
        self._close_streamed()

    def _close_streamed(self):
        if self.streamed is not None:
            os.close(self.streamed[0])
            self.streamed = None


def _write_all(descriptor, data):
    view = memoryview(data)
    while view:
        view = view[os.write(descriptor, view):]


def _finish_staged(descriptor, mtime, size):
    # Small files are left to the flush before the commit: starting writeback for each of thousands of sidecars
    # costs more than it saves, while the large ones (the documents) are most of the bytes to flush.
    if size >= WRITEBACK_MIN_SIZE:
        start_writeback(descriptor)
    os.fchmod(descriptor, STAGED_MODE)
    if mtime:
        os.utime(descriptor, (mtime, mtime))


def _make_stage_dirs(stage_dir, name, made, raw_name):
    """Create the staging directories of name; made: the parts of the directory made last (updated).

    Members come grouped by directory, so remembering the last one saves nearly every mkdir() that would
    fail, without a set of every directory (tens of thousands) in memory.
    """
    parts = name.split("/")[:-1]
    common = 0
    while common < min(len(parts), len(made)) and parts[common] == made[common]:
        common += 1
    for end in range(common + 1, len(parts) + 1):
        path = os.path.join(stage_dir, *parts[:end])
        try:
            os.mkdir(path, 0o755)
        except FileExistsError:
            # Only this module writes in the private staging directory: what exists there is a directory it
            # made for an earlier member, or a staged file.
            if not stat.S_ISDIR(os.lstat(path).st_mode):
                raise unsafe_member(raw_name, "it sits below the file member %r" % "/".join(parts[:end]))
        except (OSError, IOError) as error:
            raise unsafe_member(raw_name, "it cannot be staged (%s)" % error)
    made[:] = parts


def _create_staged(target, raw_name):
    """A new file's descriptor (0600 until finished: written while nobody may read it)."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0)
    try:
        return os.open(target, flags, 0o600)
    except (OSError, IOError) as error:
        raise unsafe_member(raw_name, "it cannot be staged (%s)" % error)
