# -*- coding: utf-8 -*-
# Copyright: papermerge.backup contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
#
# This module_utils is PRIVATE and should only be used by this collection. Breaking changes can occur any time.
"""Names and sizes the archive format fixes, defined once for the writer, the reader and the destination.

An archive is a .tar.gz whose members are BACKUP_JSON, the files of MEDIA_FOLDERS (media-relative names), a
folder per user and, in ours, MANIFEST_NAME last.  Beside it may sit ``<archive>`` + CHECKSUM_SUFFIX; while a
backup writes, its temporary files in the destination directory are named TEMP_PREFIX...TEMP_SUFFIX.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

BACKUP_JSON = "backup.json"
MANIFEST_NAME = "papermerge-backup-manifest.json"
MEDIA_FOLDERS = ("docs", "sidecars")
CHECKSUM_SUFFIX = ".sha256"
# Every temporary file a backup writes into the destination directory is named TEMP_PREFIX...TEMP_SUFFIX, so
# that the next backup can tell a killed one's leftovers from everything else there.
TEMP_PREFIX = ".papermerge-backup-"
TEMP_SUFFIX = ".tmp"
# Files are read, hashed, staged and inflated in pieces of this size: memory stays flat whatever their size.
CHUNK_SIZE = 1024 * 1024
