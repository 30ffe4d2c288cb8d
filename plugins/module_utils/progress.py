# -*- coding: utf-8 -*-
# Copyright: papermerge.backup contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
#
# This module_utils is PRIVATE and should only be used by this collection. Breaking changes can occur any time.
"""How far a long backup or restore is, for whoever polls its job: written here (Progress), read and put in words
by the papermerge_wait action (describe()).

The module writes a small JSON file, replaced whole (a temporary file in the same directory, then a rename), so a
reader never sees half of one::

    {"action": "restore", "phase": "reading the archive", "files": 4200, "files_total": null,
     "bytes": 220200960, "bytes_total": 356515840}

A total of 0 means the phase does not count that (writing rows counts no files); null means it counts without
knowing the total yet (a restore reads its archive's file list only as it reads the archive).

At most one write every INTERVAL seconds, phase changes aside: a job goes through thousands of files a second and
each pays one clock reading, nothing more.  Numbers and the phase only, never a name, a path or a value of the
instance, so nothing secret can leak through it.  A progress file that cannot be written is given up on without a
word: progress never fails a job.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import os
import tempfile
import time

INTERVAL = 1.0
_UNITS = (("GB", 1024 ** 3), ("MB", 1024 ** 2), ("KB", 1024))


class Progress:
    """Publishes a job's progress to path (None: publishes nothing, at the same negligible cost)."""

    def __init__(self, path, action, interval=INTERVAL, clock=time.monotonic):
        self.path = path
        self.state = dict(action=action, phase="starting", files=0, files_total=0, bytes=0, bytes_total=0)
        self.interval = interval
        self.clock = clock
        self.due = 0.0

    def phase(self, name, files_total=0, bytes_total=0):
        """A new phase of the job: its counts start at zero; written at once.  A total of 0: the phase does not
        count that; None: it counts without knowing the total."""
        self.state.update(phase=name, files=0, files_total=files_total, bytes=0, bytes_total=bytes_total)
        self._write()

    def update(self, files, done_bytes):
        """The files and bytes done so far in this phase; written when the last write is INTERVAL old."""
        if self.path is None or self.clock() < self.due:
            return
        self.state.update(files=files, bytes=done_bytes)
        self._write()

    def close(self):
        """The job is over: its progress file goes."""
        if self.path is not None:
            _remove(self.path)
            self.path = None

    def _write(self):
        if self.path is None:
            return
        self.due = self.clock() + self.interval
        directory = os.path.dirname(self.path) or "."
        try:
            fd, temp = tempfile.mkstemp(prefix=".papermerge-progress-", dir=directory)
        except (IOError, OSError):
            self.path = None
            return
        try:
            with os.fdopen(fd, "w") as handle:
                json.dump(self.state, handle)
            os.rename(temp, self.path)
        except (IOError, OSError):
            _remove(temp)
            self.path = None


def _remove(path):
    try:
        os.unlink(path)
    except OSError:
        pass


def describe(state, files_total=None):
    """One line a person reads: 'restore: 4,200 of 9,000 files, 210 MB of 340 MB (reading the archive)'.

    files_total stands in for a total the job counts towards without knowing it (null in the state: a restore
    learns how many files its archive holds only at the archive's end); a phase that counts no files (0) shows none.
    """
    if not isinstance(state, dict):
        return None
    action, phase = state.get("action") or "job", state.get("phase") or "running"
    total = files_total if state.get("files_total") is None else state.get("files_total")
    numbers = []
    if state.get("files") or total:
        numbers.append(_count(state.get("files") or 0, total, "files"))
    if state.get("bytes") or state.get("bytes_total"):
        numbers.append(_size(state.get("bytes") or 0, state.get("bytes_total")))
    if not numbers:
        return "%s: %s" % (action, phase)
    return "%s: %s (%s)" % (action, ", ".join(numbers), phase)


def _count(done, total, what):
    if total:
        return "{0:,} of {1:,} {2}".format(int(done), int(total), what)
    return "{0:,} {1}".format(int(done), what)


def _size(done, total):
    if total:
        return "%s of %s" % (human_size(done), human_size(total))
    return human_size(done)


def human_size(size):
    """'210 MB', '1.3 GB', '512 bytes': binary multiples, as Ansible's human_readable filter counts them."""
    unit, factor = next(((name, scale) for name, scale in _UNITS if size >= scale), ("bytes", 1))
    value = size / float(factor)
    return ("{0:.1f} {1}" if value < 10 and factor > 1 else "{0:,.0f} {1}").format(value, unit)
