# -*- coding: utf-8 -*-
# Copyright: papermerge.backup contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The manifest member papermerge_backup adds to its archives, so an archive can be verified on its own.

It is the LAST member of the archive (the checksums are known only once every file has been written) and
is named MANIFEST_NAME. Shape (format_version 1)::

    {
      "format": "papermerge.backup",
      "format_version": 1,
      "collection_version": "0.1.0",
      "papermerge_version": "2.1.5",
      "created": "2026-11-26T02:00:00Z",          # UTC
      "engine": "sqlite" | "postgresql",
      "migrations": {"core": ["0001_initial", ...], ...},   # applied migrations of the source database
      "counts": {"users": 2, "folders": 9, "documents": 12, "versions": 14, "pages": 30, "tags": 4,
                 "files": 130, "bytes": 123456},
      "fingerprint": "<sha256 hex of the instance content, see backup.py>",
      "members": {"backup.json": {"size": 1234, "sha256": "..."}, "docs/user_.../x.pdf": {...}, ...},
      "symlinks": {"<username>/.home/x.pdf": "../../docs/user_.../v1/x.pdf", ...}
    }

members lists every regular-file member (backup.json included, the manifest itself excluded).
Archives made by Papermerge's own `manage.py backup` have no manifest.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import hashlib
import json

MANIFEST_NAME = "papermerge-backup-manifest.json"
FORMAT = "papermerge.backup"
FORMAT_VERSION = 1
# Keep equal to galaxy.yml's version (tests/unit checks it): modules cannot read galaxy.yml on the host.
COLLECTION_VERSION = "0.1.0"
REQUIRED_KEYS = ("format_version", "papermerge_version", "created", "engine", "counts", "members")
CHUNK_SIZE = 1024 * 1024


class ManifestWriter:
    """Writes the manifest (the shape above) to a binary stream entry by entry, so that memory stays flat
    however many members the archive has: header fields, then add_member() for every file member, then
    add_symlink() for every symlink, then finish().  archive_reader reads and checks it."""

    def __init__(self, stream, papermerge_version, created, engine, migrations, counts, fingerprint=None):
        self.stream = stream
        header = dict(format=FORMAT, format_version=FORMAT_VERSION, collection_version=COLLECTION_VERSION,
                      papermerge_version=papermerge_version, created=created, engine=engine,
                      migrations=migrations, counts=counts, fingerprint=fingerprint)
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
