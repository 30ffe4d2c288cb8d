# -*- coding: utf-8 -*-
# Copyright: papermerge.backup contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
#
# This module_utils is PRIVATE and should only be used by this collection. Breaking changes can occur any time.
"""The destination directory of a backup: the archive's name there, one backup at a time, nothing partial.

- Destination: a generated name (chosen under the lock) or the given file; the archive to keep when nothing
  changed (for an encrypted archive, encryption.BackupEncryption tells from outside the ciphertext).
- DirectoryLock: <directory>/.papermerge-backup.lock, so two backups into one directory never interleave.
- Every file a backup writes there starts as a 0600 temporary file named TEMP_PREFIX...TEMP_SUFFIX (the
  spools of spool.py, TempFile, and the archive itself), fsynced and renamed into place; remove_leftovers()
  removes those a killed backup left behind.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import errno
import fcntl
import os
import stat
import tempfile
import time
from datetime import timedelta

from ansible_collections.papermerge.backup.plugins.module_utils.archive_format import TEMP_PREFIX, TEMP_SUFFIX
from ansible_collections.papermerge.backup.plugins.module_utils.archive_writer import read_fingerprint
from ansible_collections.papermerge.backup.plugins.module_utils.checksum_file import recorded_sha256
from ansible_collections.papermerge.backup.plugins.module_utils.encryption import is_encrypted_name
from ansible_collections.papermerge.backup.plugins.module_utils.errors import PapermergeBackupError
from ansible_collections.papermerge.backup.plugins.module_utils.naming import archive_name, parse_archive_name
from ansible_collections.papermerge.backup.plugins.module_utils.setting_names import setting

LOCK_NAME = ".papermerge-backup.lock"
NO_SPACE = (errno.ENOSPC, errno.EDQUOT)


class Destination:
    """Where the archive goes: a directory with a generated name, or a given file path. encryption: None, or
    the encryption.BackupEncryption the archive is written with."""

    def __init__(self, dest, label, version, now, encryption=None):
        dest = os.path.expanduser(str(dest))
        self.label = label
        self.version = version
        self.now = now
        self.encryption = encryption
        self.generated = dest.endswith("/") or os.path.isdir(dest)
        if self.generated:
            self.directory = os.path.abspath(dest)
            self._name = None
        else:
            self.directory = os.path.dirname(os.path.abspath(dest))
            self._name = os.path.basename(dest)
        if not os.path.isdir(self.directory):
            raise PapermergeBackupError(
                "destination directory %s does not exist: create it first (the backup role does), owned by the "
                "user running the backup and not readable by others" % self.directory)
        if self._name is not None and is_encrypted_name(self._name) != (encryption is not None):
            raise _suffix_mismatch(self._name, encryption is not None)

    @property
    def name(self):
        # A generated name is chosen on first use, which run_backup() makes under the directory lock: a
        # backup that waited for another must see the archive that one wrote, not replace it.
        if self._name is None:
            self._name = self._free_name()
        return self._name

    def _free_name(self):
        # Two runs within one second (possible once the first has released the lock) must not collide:
        # take the next free second rather than replace an archive.
        for step in range(60):
            name = archive_name(self.label, self.now + timedelta(seconds=step), self.version,
                                encrypted=self.encryption is not None)
            if not os.path.lexists(os.path.join(self.directory, name)):
                return name
        raise PapermergeBackupError("no free archive name in %s for label %s" % (self.directory, self.label))

    def path(self):
        return os.path.join(self.directory, self.name)

    def previous_archive(self, fingerprint):
        """The archive to keep instead of writing a new one: the newest of this label (or the given file)
        when it is encrypted as this backup would be and its fingerprint equals the instance's now."""
        candidate = self._newest() if self.generated else self.path()
        if not candidate or not os.path.isfile(candidate):
            return None
        if is_encrypted_name(candidate) != (self.encryption is not None):
            return None  # encryption switched on or off: the next archive must be the other kind
        if self.encryption is not None:
            return candidate if self.encryption.holds(candidate, fingerprint) else None
        return candidate if read_fingerprint(candidate) == fingerprint else None

    def _newest(self):
        newest = None
        for name in os.listdir(self.directory):
            parsed = parse_archive_name(name)
            if parsed is None or parsed.label != self.label:
                continue
            if not stat.S_ISREG(os.lstat(os.path.join(self.directory, name)).st_mode):
                continue
            if newest is None or parsed.time > newest[0]:
                newest = (parsed.time, name)
        return os.path.join(self.directory, newest[1]) if newest else None


def _suffix_mismatch(name, encrypted):
    if encrypted:
        return PapermergeBackupError(
            "dest names the file %s, but an encrypted archive's name must end in .tar.gz.age: name it so, or give "
            "a directory for a generated name" % name)
    return PapermergeBackupError(
        "dest names the file %s, which ends in .age, but no age_recipients or age_passphrase were given: an "
        "unencrypted archive must not look encrypted" % name)


def describe_existing(path):
    """archive, size and sha256 of an archive kept instead of a new one."""
    return dict(archive=path, size=os.stat(path).st_size, sha256=recorded_sha256(path))


def remove_leftovers(directory):
    """Remove the temporary files a killed backup left in directory; call only while holding its lock.

    A backup removes its temporary files itself whatever fails, unless it is killed (a cancelled AWX job, the
    OOM killer). Every backup writes them under the directory lock, so with the lock held any such file is a
    leftover; each may be as large as an archive, and holds password hashes.
    """
    removed = []
    for name in sorted(os.listdir(directory)):
        path = os.path.join(directory, name)
        try:
            if name.startswith(TEMP_PREFIX) and name.endswith(TEMP_SUFFIX) and stat.S_ISREG(os.lstat(path).st_mode):
                os.unlink(path)
                removed.append(name)
        except OSError:
            continue
    return removed


class DirectoryLock:
    """An exclusive fcntl lock on <directory>/.papermerge-backup.lock (nothing in check mode)."""

    def __init__(self, directory, timeout, check_mode):
        self.path = os.path.join(directory, LOCK_NAME)
        self.timeout = float(timeout)
        self.check_mode = check_mode
        self.handle = None

    def __enter__(self):
        if self.check_mode:
            return self
        try:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        except OSError as error:
            raise write_error(error, os.path.dirname(self.path), "cannot create the lock file %s" % self.path)
        self.handle = os.fdopen(fd, "r+")
        deadline = time.time() + self.timeout
        while True:
            try:
                fcntl.flock(self.handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return self
            except (IOError, OSError):
                if time.time() >= deadline:
                    self.handle.close()
                    raise PapermergeBackupError(
                        "another backup is writing into %s (it holds %s); waited %d s: let it finish or raise %s"
                        % (os.path.dirname(self.path), self.path, self.timeout, setting("lock_timeout")))
                time.sleep(0.2)

    def __exit__(self, *exc):
        if self.handle is not None:
            self.handle.close()  # closing releases the lock; the file stays for the next run


def write_error(error, directory, what):
    """The error to report for an OSError while writing what into directory, saying what to do about it."""
    if error.errno in NO_SPACE:
        return PapermergeBackupError(
            "%s: no space left on the filesystem of %s. Free space there or set %s to another directory; no "
            "partial archive was left behind" % (what, directory, setting("dest")))
    if error.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        return PapermergeBackupError(
            "%s: %s. The destination directory %s must be writable by the user running the backup"
            % (what, error.strerror, directory))
    return PapermergeBackupError("%s: %s" % (what, error))


class TempFile:
    """A 0600 temporary file in the destination directory (a binary stream), removed on exit."""

    def __init__(self, directory, what):
        self.directory = directory
        self.what = what

    def __enter__(self):
        fd, self.path = tempfile.mkstemp(prefix=TEMP_PREFIX, suffix="." + self.what + TEMP_SUFFIX,
                                         dir=self.directory)
        self.stream = os.fdopen(fd, "w+b", 1024 * 1024)
        return self.stream

    def __exit__(self, *exc):
        close_quietly(self.stream)
        remove_quietly(self.path)


def fsync_directory(directory):
    """Make a rename in directory durable."""
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def remove_quietly(path):
    try:
        os.unlink(path)
    except OSError:
        pass


def close_quietly(stream):
    try:
        stream.close()
    except OSError:
        pass
