# -*- coding: utf-8 -*-
# Copyright: papermerge.backup contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
#
# This module_utils is PRIVATE and should only be used by this collection. Breaking changes can occur any time.
"""Describe and verify an archive without an instance (on the host or on the controller).

The result quotes archive text only through errors.shown() and errors.listed(): at most 200 characters of a
value and 1000 entries of a list, however long the archive's are.

The archive is always read to its end, so the gzip stream is checked whole (CRC and length of every gzip
member) and the manifest, which sits last, is found.  With verify, every file is hashed and compared with
the manifest; archives of Papermerge's own backup have no manifest, so there verification means the gzip
check plus the consistency of backup.json with the file members, and the result says that checksums were
not available.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os

from ansible_collections.papermerge.backup.plugins.module_utils.archive_reader import open_archive
from ansible_collections.papermerge.backup.plugins.module_utils.encryption import identities_from_options
from ansible_collections.papermerge.backup.plugins.module_utils.errors import (
    LISTED, PapermergeBackupError, explained, listed, shown)
from ansible_collections.papermerge.backup.plugins.module_utils.spool_dir import SpoolDir

MANIFEST_SUMMARY_KEYS = ("format", "format_version", "collection_version", "papermerge_version", "created",
                         "label", "engine", "migrations", "counts", "fingerprint")


def run_archive_info(params):
    """papermerge_archive_info: the identities from the module's options, then archive_info()."""
    return archive_info(params["path"], verify=params.get("verify", False),
                        identities=identities_from_options(params))


def archive_info(path, verify=False, identities=None):
    """The result dict of papermerge_archive_info; PapermergeBackupError names the failing member.
    identities: what opens an encrypted archive (encryption.identities_from_options)."""
    path = os.path.abspath(os.path.expanduser(path))
    if not os.path.isfile(path):
        raise PapermergeBackupError("archive %s does not exist (or is not a file)" % path, archive=path)
    # backup.json (password hashes) is spooled to a private directory that a killed run's successor removes.
    with explained("archive check"), SpoolDir(".papermerge-archive-info-") as spool:
        return _result(path, open_archive(path, spool_dir=spool.path, verify=verify, identities=identities), verify)


def _result(path, archive, verify):
    contents, backup, manifest = archive.contents, archive.backup, archive.contents.manifest
    counts = backup.counts()
    counts["files"] = len(contents.files)
    counts["bytes"] = sum(member.size for member in contents.files.values())
    notes = []
    if manifest is None:
        # Without verify, files missing from such an archive are listed, not refused: say only what was checked.
        checked = "the gzip stream and backup.json's consistency with the files were" if verify else "the gzip stream was"
        notes.append("the archive has no manifest (made by Papermerge's own `manage.py backup`): checksums of its "
                     "members were not available; %s checked" % checked)
    if archive.missing:
        notes.append("%d document version file(s) named in backup.json are not in the archive" % len(archive.missing))
    if len(backup.users) > LISTED or len(archive.missing) > LISTED:
        notes.append("usernames and missing_files list at most %d entries each" % LISTED)
    return dict(
        changed=False,
        path=path,
        encrypted=contents.encrypted,
        size=contents.size,
        sha256=contents.sha256,
        checksum_file_verified=archive.checksum_file,
        format="papermerge.backup" if manifest is not None else "papermerge",
        papermerge_version=_shown_or_none(archive.papermerge_version),
        created=_shown_or_none(archive.created),
        label=_shown_or_none(archive.label),
        counts=counts,
        manifest=_summary(manifest),
        verified=bool(verify),
        checksums_verified=bool(archive.verified),
        backup_json_first=contents.backup_json_first,
        usernames=listed(user["username"] for user in backup.users),
        missing_files=listed(archive.missing),
        notes=notes,
    )


def _shown_or_none(value):
    # backup.json and the manifest bound these already (64 characters); a result never relies on that alone.
    return None if value is None else shown(value)


def _summary(manifest):
    """The manifest without its (possibly huge) member and symlink lists, plus how many there are."""
    if manifest is None:
        return None
    summary = dict((key, manifest.get(key)) for key in MANIFEST_SUMMARY_KEYS if key in manifest)
    summary["member_count"] = manifest.get("member_count", 0)
    summary["symlink_count"] = manifest.get("symlink_count", 0)
    return summary
