# -*- coding: utf-8 -*-
# Copyright: papermerge.backup contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
#
# This module_utils is PRIVATE and should only be used by this collection. Breaking changes can occur any time.
"""One lock per Papermerge instance: <media_root>/.papermerge-backup-instance.lock (flock).

A restore holds it exclusively from before it plans until its files and rows are in place (or rolled back), so
two restores never interleave; a backup holds it shared for its whole run, so it never archives a half-restored
instance, while backups of one instance may still run side by side.  The media root is the one place every run
on an instance knows, containers included (it is the volume the app's containers share).

The file stays (removing a lock file races with the next run opening it).  While a restore holds it, it holds
that run's pid, host, start time and archive, which a run that waits in vain names.  flock() needs no write
access: a backup run as a user who may only read the media root opens the file read-only; where the file does
not exist and cannot be created, it runs unlocked, with a warning.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import errno
import fcntl
import json
import os
import socket
import stat
import time
from datetime import datetime, timezone

from ansible_collections.papermerge.backup.plugins.module_utils.errors import PapermergeBackupError

LOCK_NAME = ".papermerge-backup-instance.lock"
POLL_SECONDS = 0.2
_NOT_CREATABLE = (errno.EACCES, errno.EPERM, errno.EROFS)


class InstanceLock:
    """The instance's lock, taken on enter (waiting up to timeout seconds) and released on exit.

    exclusive: a restore's lock (or a backup's while it undoes an interrupted restore); else shared (a backup, a
    check-mode restore).  create: make the file when it is missing (never in check mode, which writes nothing).
    holder: what this run is ({'operation': 'restore' or 'backup', 'archive': ...}), written into the file while
    it holds the lock exclusively.  warnings: what the caller should report (running unlocked).
    """

    def __init__(self, media_root, exclusive, timeout, create=True, holder=None):
        self.path = os.path.join(media_root, LOCK_NAME)
        self.exclusive = exclusive
        self.timeout = max(0.0, float(timeout))
        self.create = create
        self.holder = holder or {}
        self.operation = self.holder.get("operation", "restore" if exclusive else "backup")
        self.descriptor = None
        self.writable = False
        self.held = False
        self.warnings = []

    def __enter__(self):
        self.descriptor = self._open()
        if self.descriptor is None:
            return self
        try:
            self._wait()
            if self.exclusive and self.writable:
                self._write_holder(self.holder)
        except BaseException:
            self.release()
            raise
        return self

    def __exit__(self, *exc):
        self.release()

    def release(self):
        if self.descriptor is None:
            return
        try:
            if self.held and self.exclusive and self.writable:
                os.ftruncate(self.descriptor, 0)  # nobody holds it now: name no one
        except OSError:
            pass
        finally:
            os.close(self.descriptor)  # closing releases the lock
            self.descriptor = None

    def _open(self):
        flags = getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)
        if self.create:
            try:
                descriptor = os.open(self.path, os.O_RDWR | os.O_CREAT | flags, 0o644)
                self.writable = True
                return self._checked(descriptor, created=True)
            except OSError as error:
                if error.errno not in _NOT_CREATABLE:
                    raise self._open_error(error)
        try:
            return self._checked(os.open(self.path, os.O_RDONLY | flags), created=False)
        except OSError as error:
            if error.errno != errno.ENOENT:
                raise self._open_error(error)
        if self.create:
            self.warnings.append(
                "the instance lock %s does not exist and the user running this cannot create it: this run did "
                "not wait for a restore that may be running. Any restore creates it; or create it once "
                "(an empty file, mode 0644) as the owner of the media root" % self.path)
        return None

    def _checked(self, descriptor, created):
        # O_NOFOLLOW refused a symlink; anything else but a regular file (a FIFO would block) is refused too.
        info = os.fstat(descriptor)
        if not stat.S_ISREG(info.st_mode):
            os.close(descriptor)
            raise PapermergeBackupError("%s is not a regular file: remove it (it is the instance's lock file, "
                                        "which the next run creates again)" % self.path)
        if created and hasattr(os, "geteuid") and os.geteuid() == 0:
            _give_to_owner_of(descriptor, os.path.dirname(self.path))
        return descriptor

    def _open_error(self, error):
        return PapermergeBackupError("cannot open the instance lock %s: %s" % (self.path, error.strerror or error))

    def _wait(self):
        mode = fcntl.LOCK_EX if self.exclusive else fcntl.LOCK_SH
        deadline = time.time() + self.timeout
        while True:
            try:
                fcntl.flock(self.descriptor, mode | fcntl.LOCK_NB)
                self.held = True
                return
            except (IOError, OSError) as error:
                if error.errno not in (errno.EAGAIN, errno.EACCES, errno.EWOULDBLOCK):
                    raise self._open_error(error)
            if time.time() >= deadline:
                raise PapermergeBackupError(self._busy_message(), holder=self._holder_info())
            time.sleep(POLL_SECONDS)

    def _busy_message(self):
        waited = "waited %d s" % self.timeout
        info = self._holder_info()
        if info is None:
            # Only shared holders: backups (or check-mode restores) reading the instance.
            return ("a backup is reading this instance (it holds %s shared); %s: run the %s again when it has "
                    "finished, or raise lock_timeout" % (self.path, waited, self.operation))
        who = describe_holder(info)
        if self.operation == "restore":
            return ("another restore is running on this instance (%s; it holds %s); %s for it: let it finish, "
                    "then run this one again, or raise lock_timeout" % (who, self.path, waited))
        return ("a restore is running on this instance (%s; it holds %s), and a backup never archives a "
                "half-restored instance; %s for it: run the backup again when the restore has finished, or raise "
                "lock_timeout" % (who, self.path, waited))

    def _holder_info(self):
        """The exclusive holder's description from the file, or None when only shared holders hold it."""
        if self.exclusive:
            try:
                fcntl.flock(self.descriptor, fcntl.LOCK_SH | fcntl.LOCK_NB)
                fcntl.flock(self.descriptor, fcntl.LOCK_UN)
                return None
            except (IOError, OSError):
                pass
        try:
            with open(self.path, "r") as handle:
                return json.loads(handle.read(4096) or "{}")
        except (IOError, OSError, ValueError):
            return {}

    def _write_holder(self, holder):
        info = dict(pid=os.getpid(), host=socket.gethostname(),
                    started=datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"))
        info.update(holder)
        data = json.dumps(info, sort_keys=True).encode("utf-8")
        try:
            os.ftruncate(self.descriptor, 0)
            os.pwrite(self.descriptor, data, 0)
        except OSError:
            pass  # only a description for others: the lock itself is held


def describe_holder(info):
    """'pid 4242 on docs01, started 2026-11-26T02:00:00Z, archive /var/...' from a lock file's content."""
    if not info:
        return "its pid is not recorded"
    parts = ["pid %s on %s" % (info.get("pid", "?"), info.get("host", "?"))]
    if info.get("started"):
        parts.append("started %s" % info["started"])
    if info.get("archive"):
        parts.append("archive %s" % info["archive"])
    return ", ".join(parts)


def _give_to_owner_of(descriptor, directory):
    # A lock file made by root must stay usable by the user Papermerge runs as (the media root's owner).
    try:
        owner = os.stat(directory)
        os.fchown(descriptor, owner.st_uid, owner.st_gid)
    except OSError:
        pass
