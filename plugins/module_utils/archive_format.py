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


# A document version's folder below docs/ and sidecars/, as Papermerge 2.1's DocumentPath makes it: a version 0
# has none of its own.  Its file is docs/<folder>/<file_name>; its sidecars are below sidecars/<folder>/.
def version_folder(user_id, document_id, number):
    """'user_<id>/document_<id>/v<number>' (ids as str(uuid.UUID) writes them), the folder of a version."""
    folder = "user_%s/document_%s" % (user_id, document_id)
    return "%s/v%d" % (folder, number) if number > 0 else folder


def in_sidecar_folder(name, folders):
    """Whether the media file name (sidecars/...) lies below the sidecar folder of one of the version folders."""
    parts = name.split("/")
    return ((len(parts) > 4 and "/".join(parts[1:4]) in folders)
            or (len(parts) > 3 and "/".join(parts[1:3]) in folders))


# Files are read, hashed, staged and inflated in pieces of this size: memory stays flat whatever their size.
CHUNK_SIZE = 1024 * 1024
