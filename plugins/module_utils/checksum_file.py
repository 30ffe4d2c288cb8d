# -*- coding: utf-8 -*-
# Copyright: papermerge.backup contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
#
# This module_utils is PRIVATE and should only be used by this collection. Breaking changes can occur any time.
"""The checksum file ``<archive>.sha256`` beside an archive (sha256sum format), and sha256 of streams.

papermerge_backup writes it; papermerge_restore and papermerge_archive_info check an archive against it when it
is there; a backup that keeps an unchanged archive reads the archive's sha256 from it instead of reading the
archive again.  One reader and one validator serve them all.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import hashlib
import io
import os
import tempfile

from ansible_collections.papermerge.backup.plugins.module_utils.archive_format import (
    CHECKSUM_SUFFIX, CHUNK_SIZE, TEMP_PREFIX, TEMP_SUFFIX)
from ansible_collections.papermerge.backup.plugins.module_utils.errors import PapermergeBackupError

HEX_DIGITS = frozenset("0123456789abcdef")


def checksum_path(archive):
    return archive + CHECKSUM_SUFFIX


def is_sha256(text):
    """True for 64 lower-case hex digits."""
    return len(text) == 64 and not set(text) - HEX_DIGITS


def read_checksum_file(archive):
    """The sha256 the checksum file of archive names (lower case), None when there is no such file.

    Raises PapermergeBackupError when the file cannot be read or is not in sha256sum format.
    """
    path = checksum_path(archive)
    if not os.path.isfile(path):
        return None
    try:
        with io.open(path, "r", encoding="utf-8", errors="replace") as handle:
            words = handle.read(4096).split()
    except (IOError, OSError) as error:
        raise PapermergeBackupError("cannot read the checksum file %s: %s" % (path, error), checksum_file=path)
    expected = words[0].lower() if words else ""
    if not is_sha256(expected):
        raise PapermergeBackupError("checksum file %s is not in sha256sum format: remove or fix it" % path,
                                    checksum_file=path)
    return expected


def check_checksum_file(archive, sha256):
    """Compare the archive's sha256 with its checksum file: None without one, True when it matches.

    Raises PapermergeBackupError when it does not match or is unreadable.
    """
    expected = read_checksum_file(archive)
    if expected is None:
        return None
    if expected != sha256:
        raise PapermergeBackupError(
            "archive %s does not match its checksum file %s (sha256 %s, the file says %s): the archive changed "
            "after it was written; use another copy" % (archive, checksum_path(archive), sha256, expected),
            checksum_file=checksum_path(archive))
    return True


def recorded_sha256(archive):
    """The archive's sha256: its checksum file's when that was written after the archive, else computed.

    The checksum file written with an archive saves reading the whole archive again; an older, unreadable or
    malformed one is not trusted.
    """
    try:
        if os.stat(checksum_path(archive)).st_mtime >= os.stat(archive).st_mtime:
            recorded = read_checksum_file(archive)
            if recorded:
                return recorded
    except (OSError, PapermergeBackupError):
        pass
    with open(archive, "rb") as handle:
        return digest_stream(handle)[1]


def write_checksum_file(archive, sha256):
    """Write ``<archive>.sha256`` atomically (temporary file, fsync, rename); OSError when it cannot be."""
    path = checksum_path(archive)
    fd, temp = tempfile.mkstemp(prefix=TEMP_PREFIX + os.path.basename(path) + ".", suffix=TEMP_SUFFIX,
                                dir=os.path.dirname(archive))
    try:
        with os.fdopen(fd, "w") as handle:
            handle.write("%s  %s\n" % (sha256, os.path.basename(archive)))
            handle.flush()
            os.fsync(handle.fileno())
        os.rename(temp, path)
    except BaseException:
        try:
            os.unlink(temp)
        except OSError:
            pass
        raise


def digest_stream(stream, chunk_size=CHUNK_SIZE):
    """(size, sha256 hex) of a binary stream, read in chunks."""
    digest = hashlib.sha256()
    size = 0
    while True:
        chunk = stream.read(chunk_size)
        if not chunk:
            break
        size += len(chunk)
        digest.update(chunk)
    return size, digest.hexdigest()
