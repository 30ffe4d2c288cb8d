# -*- coding: utf-8 -*-
# Copyright: papermerge.backup contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
#
# This module_utils is PRIVATE and should only be used by this collection. Breaking changes can occur any time.
"""Private spool directories in the system's temporary directory, for runs that write nothing where the
instance lives (papermerge_archive_info, a check-mode restore) but must spool backup.json, which holds password
hashes.

A SpoolDir is 0700 and its run holds a flock on it while it exists; the run removes it whatever happens, unless
it is killed.  So every new SpoolDir first removes those of its kind whose lock nobody holds (their run is gone):
a killed run's copy of backup.json lasts until the next run, not for ever.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import fcntl
import os
import shutil
import tempfile


class SpoolDir:
    """A new private directory named prefix* in the temporary directory; path is set on enter."""

    def __init__(self, prefix):
        self.prefix = prefix
        self.path = None
        self.descriptor = None

    def __enter__(self):
        remove_abandoned(self.prefix)
        while True:
            self.path = tempfile.mkdtemp(prefix=self.prefix)
            try:
                self.descriptor = os.open(self.path, os.O_RDONLY)
            except OSError:
                continue  # another run removed it as abandoned before it was locked: make another
            fcntl.flock(self.descriptor, fcntl.LOCK_EX)
            if _same_directory(self.descriptor, self.path):
                return self
            os.close(self.descriptor)

    def __exit__(self, *exc):
        shutil.rmtree(self.path, ignore_errors=True)
        os.close(self.descriptor)


def remove_abandoned(prefix, directory=None):
    """Remove prefix* directories of this user in the temporary directory that no run holds; returns names."""
    directory = directory or tempfile.gettempdir()
    removed = []
    try:
        names = [name for name in os.listdir(directory) if name.startswith(prefix)]
    except OSError:
        return removed
    for name in names:
        path = os.path.join(directory, name)
        if _abandoned(path):
            shutil.rmtree(path, ignore_errors=True)
            removed.append(name)
    return removed


def _same_directory(descriptor, path):
    try:
        return os.path.samestat(os.fstat(descriptor), os.lstat(path))
    except OSError:
        return False


def _abandoned(path):
    try:
        info = os.lstat(path)
        if not os.path.isdir(path) or os.path.islink(path) or info.st_uid != os.geteuid():
            return False
        descriptor = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
    except OSError:
        return False
    try:
        fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
        return True
    except (IOError, OSError):
        return False  # its run is still going
    finally:
        os.close(descriptor)
