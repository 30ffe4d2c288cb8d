# -*- coding: utf-8 -*-
# Copyright: papermerge.backup contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
#
# This module_utils is PRIVATE and should only be used by this collection. Breaking changes can occur any time.
"""Spools: temporary files that hold what a run writes once and reads back (backup.json, the manifest).

A backup spools backup.json and the manifest before they go into the archive; a read spools them out of the
archive to parse them after the pass. When the archive is encrypted, the plaintext must not reach a disk, so a
spool is *sealed*: written through age's STREAM construction (ChaCha20-Poly1305 chunks, age.PayloadSealer) with
a random key that lives only in this process's memory. What lands on the disk is ciphertext that nobody can read
once the process is gone, even when a killed run leaves the file behind; reading it back also proves that
nothing changed it meanwhile. Unsealed spools are plain files, as fast as before.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import io
import os
import tempfile

from ansible_collections.papermerge.backup.plugins.module_utils import age
from ansible_collections.papermerge.backup.plugins.module_utils.archive_format import TEMP_PREFIX, TEMP_SUFFIX
from ansible_collections.papermerge.backup.plugins.module_utils.errors import PapermergeBackupError

WRITE_BUFFER = 1024 * 1024
READ_BUFFER = 256 * 1024


class Spool:
    """A 0600 file written once (write(), then finish()), read back any number of times (open_binary(),
    open_text()); remove() deletes it. `size` counts the plaintext bytes written."""

    def __init__(self, path, fd, sealed):
        self.path = path
        self.size = 0
        self._key = os.urandom(32) if sealed else None
        self._sealer = age.PayloadSealer(self._key) if sealed else None
        self._stream = os.fdopen(fd, "wb", WRITE_BUFFER)

    @classmethod
    def temporary(cls, directory, what, sealed):
        """A spool named TEMP_PREFIX...TEMP_SUFFIX in directory (a backup's destination: the next backup
        removes it if this one is killed)."""
        fd, path = tempfile.mkstemp(prefix=TEMP_PREFIX, suffix="." + what + TEMP_SUFFIX, dir=directory)
        return cls(path, fd, sealed)

    @classmethod
    def at(cls, path, sealed):
        """A spool at path, which must not exist yet (never follows a symlink planted there)."""
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0), 0o600)
        return cls(path, fd, sealed)

    @property
    def sealed(self):
        return self._key is not None

    def write(self, data):
        self.size += len(data)
        self._stream.write(self._sealer.update(data) if self._sealer else data)

    def finish(self):
        """End the writing: the final sealed chunk, the file closed."""
        if self._stream.closed:
            return
        if self._sealer:
            self._stream.write(self._sealer.finish())
        self._stream.close()

    def open_binary(self):
        """A new buffered binary reader of the plaintext, from its start."""
        self.finish()
        handle = open(self.path, "rb")
        if not self.sealed:
            return handle
        return io.BufferedReader(_SealedReader(age.PayloadReader(handle, self._key), handle), READ_BUFFER)

    def open_text(self):
        """A new UTF-8 text reader of the plaintext, from its start."""
        return io.TextIOWrapper(self.open_binary(), encoding="utf-8")

    def remove(self):
        try:
            self._stream.close()
        except OSError:
            pass
        try:
            os.unlink(self.path)
        except OSError:
            pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.remove()


class _SealedReader(io.RawIOBase):
    """age.PayloadReader as a raw stream, so io's buffered and text readers can sit on it."""

    def __init__(self, payload, handle):
        super(_SealedReader, self).__init__()
        self._payload = payload
        self._handle = handle

    def readable(self):
        return True

    def readinto(self, buffer):
        try:
            data = self._payload.read(len(buffer))
        except age.AgeError as error:
            # Only this process wrote the spool, with a key only it has: something changed the file under it.
            raise PapermergeBackupError("the temporary file %s of this run was changed by something else (%s): "
                                        "check who else writes there, and run again" % (self._handle.name, error))
        buffer[:len(data)] = data
        return len(data)

    def close(self):
        self._handle.close()
        super(_SealedReader, self).close()


def open_text(source):
    """A UTF-8 text reader of a spooled member: source is a Spool, or the path of a plain file."""
    if isinstance(source, Spool):
        return source.open_text()
    return io.open(source, "r", encoding="utf-8")
