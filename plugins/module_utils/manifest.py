# -*- coding: utf-8 -*-
# Copyright: papermerge.backup contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
#
# This module_utils is PRIVATE and should only be used by this collection. Breaking changes can occur any time.
"""The manifest member papermerge_backup adds to its archives, so an archive can be verified on its own:
written by ManifestWriter, read by read_summary() and verify_manifest().

It is the LAST member of the archive (the checksums are known only once every file has been written) and
is named MANIFEST_NAME. Shape (format_version 1)::

    {
      "format": "papermerge.backup",
      "format_version": 1,
      "collection_version": "0.1.0",
      "papermerge_version": "2.1.5",
      "created": "2026-11-26T02:00:00Z",          # UTC
      "label": "docs01",                          # the label in the archive's generated name (since 0.2.0)
      "engine": "sqlite" | "postgresql",
      "migrations": {"core": ["0001_initial", ...], ...},   # applied migrations of the source database
      "counts": {"users": 2, "folders": 9, "documents": 12, "versions": 14, "pages": 30, "tags": 4,
                 "files": 130, "bytes": 123456},
      "fingerprint": "<sha256 hex of the instance content, see backup.py>",
      "members": {"backup.json": {"size": 1234, "sha256": "..."}, "docs/user_.../x.pdf": {...}, ...},
      "symlinks": {"<username>/.home/x.pdf": "../../docs/user_.../v1/x.pdf", ...}
    }

members lists every regular-file member (backup.json included, the manifest itself excluded).
label names the host the archive was made on, so that a renamed archive still tells (manifests of collection
0.1.0 have none); readers take it when it is there and never require it.
Archives made by Papermerge's own `manage.py backup` have no manifest.

The member list names every file of the archive: it is written entry by entry and read as a stream, never
held in memory whole.  Reading it, every value is bounded (SUMMARY_FIELDS, ENTRY_MAX_CHARS) and of its type:
the summary is returned by papermerge_archive_info, so nothing of unbounded length may reach it; keys it does
not know are read within json_stream's bound and dropped.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json

from ansible_collections.papermerge.backup.plugins.module_utils.archive_format import BACKUP_JSON, MANIFEST_NAME
from ansible_collections.papermerge.backup.plugins.module_utils.errors import PapermergeBackupError, listed, shown
from ansible_collections.papermerge.backup.plugins.module_utils.json_stream import Scanner, json_chars
from ansible_collections.papermerge.backup.plugins.module_utils.member_rules import normalize_member_name
from ansible_collections.papermerge.backup.plugins.module_utils.spool import open_text

FORMAT = "papermerge.backup"
FORMAT_VERSION = 1
# Keep equal to galaxy.yml's version (tests/unit checks it): modules cannot read galaxy.yml on the host.
COLLECTION_VERSION = "0.1.0"
REQUIRED_KEYS = ("format_version", "papermerge_version", "created", "engine", "counts", "members")
MAX_SIZE = 256 * 1024 * 1024
MISSING_LISTED = 20
# The summary's keys: (the longest JSON text of the value, its type).  migrations: {app: [names]} of a few
# dozen apps; counts: a dozen numbers.
SUMMARY_FIELDS = {
    "format": (json_chars(64), str),
    "format_version": (32, int),
    "collection_version": (json_chars(64), str),
    "papermerge_version": (json_chars(64), str),
    "created": (json_chars(64), str),
    "engine": (json_chars(32), str),
    "migrations": (256 * 1024, dict),
    "counts": (4096, dict),
    "fingerprint": (json_chars(128), str),
    "label": (json_chars(256), str),  # an inventory hostname (at most 253 characters)
}
# One entry of 'members' ({"sha256": ..., "size": ...}) or of 'symlinks' (a link target).
ENTRY_MAX_CHARS = 64 * 1024


class ManifestWriter:
    """Writes the manifest (the shape above) to a binary stream entry by entry, so that memory stays flat
    however many members the archive has: header fields, then add_member() for every file member, then
    add_symlink() for every symlink, then finish()."""

    def __init__(self, stream, papermerge_version, created, engine, migrations, counts, fingerprint=None,
                 label=None):
        self.stream = stream
        header = dict(format=FORMAT, format_version=FORMAT_VERSION, collection_version=COLLECTION_VERSION,
                      papermerge_version=papermerge_version, created=created, engine=engine,
                      migrations=migrations, counts=counts, fingerprint=fingerprint)
        if label:
            header["label"] = label
        text = json.dumps(header, sort_keys=True, ensure_ascii=False)
        self.stream.write(text[:-1].encode("utf-8") + b', "members": {')
        self.section = "members"
        self.first = True

    def _entry(self, key, value):
        separator = b"\n" if self.first else b",\n"
        self.first = False
        self.stream.write(separator + json.dumps(key, ensure_ascii=False).encode("utf-8") + b": "
                          + json.dumps(value, sort_keys=True, ensure_ascii=False).encode("utf-8"))

    def add_member(self, name, size, sha256):
        if self.section != "members":
            raise ValueError("members must come before symlinks")
        # What _entry(name, dict(size=size, sha256=sha256)) writes, formatted directly: one entry per file.
        separator = b"\n" if self.first else b",\n"
        self.first = False
        self.stream.write(b'%s%s: {"sha256": "%s", "size": %d}' % (
            separator, json.dumps(name, ensure_ascii=False).encode("utf-8"), sha256.encode("ascii"), size))

    def add_symlink(self, name, target):
        if self.section == "members":
            self.stream.write(b'\n}, "symlinks": {')
            self.section, self.first = "symlinks", True
        self._entry(name, target)

    def finish(self):
        if self.section == "members":
            self.stream.write(b'\n}, "symlinks": {')
        self.stream.write(b"\n}}\n")


def read_summary(path):
    """The manifest spooled at path without its member and symlink lists, which are counted instead.

    Refuses a manifest of the wrong shape or of a newer format version.
    """
    summary = {}
    try:
        for key, entries in _sections(path, summary):
            if entries is None:
                continue
            count = 0
            for _name, entry in entries:
                if key == "members" and not (isinstance(entry, dict) and "size" in entry and "sha256" in entry):
                    raise ValueError("malformed entry in 'members'")
                count += 1
            summary["member_count" if key == "members" else "symlink_count"] = count
    except ValueError as error:
        raise _bad_manifest("it cannot be read: %s" % error)
    _check_summary(summary)
    return summary


def _check_counts(counts):
    if not all(isinstance(value, int) and not isinstance(value, bool) for value in counts.values()):
        raise _bad_manifest("'counts' holds something other than numbers")


def _sections(path, summary=None):
    """Yield (key, None) after storing plain top-level keys in summary, (key, iterator of (name, value))
    for 'members' and 'symlinks'."""
    with open_text(path) as handle:
        scanner = Scanner(handle)
        if scanner.peek() != "{":
            raise ValueError("the manifest is not a JSON object")
        for key in scanner.object_keys():
            if key in ("members", "symlinks"):
                if scanner.peek() != "{":
                    raise ValueError("%r is not an object" % key)
                entries = ((name, scanner.value(ENTRY_MAX_CHARS, "an entry of %r" % key))
                           for name in scanner.object_keys(key))
                yield key, entries
                for _entry in entries:  # whatever the caller left unread
                    pass
            else:
                value = _summary_value(scanner, key)
                if summary is not None and key in SUMMARY_FIELDS:
                    summary[key] = value
                yield key, None
        scanner.expect_end()


def _summary_value(scanner, key):
    limit, kind = SUMMARY_FIELDS.get(key, (None, None))
    value = scanner.value(limit, repr(key))
    if kind is not None and value is not None and (not isinstance(value, kind) or isinstance(value, bool)):
        raise ValueError("%r is not a %s" % (key, kind.__name__))
    return value


def _check_summary(summary):
    missing = [key for key in REQUIRED_KEYS if key not in summary and key != "members"]
    if "member_count" not in summary:
        missing.append("members")
    if missing:
        raise _bad_manifest("it lacks %s" % ", ".join(missing))
    _check_counts(summary["counts"] or {})
    version = summary["format_version"]
    if not isinstance(version, int) or version > FORMAT_VERSION:
        raise PapermergeBackupError(
            "the archive's manifest has format version %r, this collection (%s) reads up to %d: use a newer "
            "papermerge.backup collection" % (version, COLLECTION_VERSION, FORMAT_VERSION))


def _bad_manifest(reason):
    return PapermergeBackupError("the archive's manifest %s is unusable: %s. The archive is damaged; use another "
                                 "copy" % (MANIFEST_NAME, reason), member=MANIFEST_NAME)


def verify_manifest(contents):
    """Check every file member (and backup.json) against the manifest, naming the first that fails.

    Returns False when the archive has no manifest (Papermerge's own archives), True when all matched.
    """
    if contents.manifest_path is None:
        return False
    missing = []
    try:
        for key, entries in _sections(contents.manifest_path):
            if key == "members":
                for raw_name, entry in entries:
                    _verify_entry(contents, raw_name, entry, missing)
    except ValueError as error:
        raise _bad_manifest("it cannot be read: %s" % error)
    if missing:
        raise PapermergeBackupError(
            "archive member %s is listed in the manifest but missing from the archive (%d missing in all): "
            "the archive is incomplete; use another copy" % (shown(missing[0]), len(missing)),
            member=shown(missing[0]), missing_members=listed(missing, MISSING_LISTED))
    unlisted = sorted(name for name, member in contents.files.items() if not member.verified)
    if unlisted:
        raise PapermergeBackupError("archive member %s is not listed in the manifest (%d in all): the archive "
                                    "was altered" % (unlisted[0], len(unlisted)), member=unlisted[0])
    return True


def _verify_entry(contents, raw_name, entry, missing):
    name = normalize_member_name(raw_name)
    if name == BACKUP_JSON:
        found = (contents.backup_json_size, contents.backup_json_sha256) if contents.backup_json else None
    else:
        member = contents.files.get(name)
        found = (member.size, member.sha256) if member is not None else None
        if member is not None:
            member.verified = True
    if found is None:
        missing.append(name)
        return
    if found != (entry.get("size"), entry.get("sha256")):
        raise PapermergeBackupError(
            "archive member %s does not match the manifest (size %s, expected %s; sha256 %s, expected %s): the "
            "archive is corrupted; use another copy" % (name, found[0], shown(entry.get("size")), found[1],
                                                        shown(entry.get("sha256"))), member=name)
