# -*- coding: utf-8 -*-
# Copyright: papermerge.backup contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
#
# This module_utils is PRIVATE and should only be used by this collection. Breaking changes can occur any time.
"""What one backup will hold, gathered before the first archive byte is written (BackupPlan):

- the database, dumped from one read-only snapshot into a spooled backup.json (backup_dump.py; a sealed spool,
  spool.py, when the archive is encrypted);
- the media scan: every regular file below <media_root>/docs and <media_root>/sidecars that a row references,
  with size and time: each document version's file and the files below its sidecar folder (member_rules says
  why a restore refuses any other); the others are left out with a warning;
- the content fingerprint: sha256 over backup.json (but its creation time) and the media file names, sizes and
  times, so that equal fingerprints mean equal content and an unchanged instance needs no new archive.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import hashlib
import os
import stat

from ansible_collections.papermerge.backup.plugins.module_utils.archive_format import (
    MEDIA_FOLDERS, in_sidecar_folder)
from ansible_collections.papermerge.backup.plugins.module_utils.archive_writer import COMPRESSED_EXTENSIONS
from ansible_collections.papermerge.backup.plugins.module_utils.backup_dump import dump
from ansible_collections.papermerge.backup.plugins.module_utils.database import connect
from ansible_collections.papermerge.backup.plugins.module_utils.destination import write_error
from ansible_collections.papermerge.backup.plugins.module_utils.errors import PapermergeBackupError
from ansible_collections.papermerge.backup.plugins.module_utils.phases import reached
from ansible_collections.papermerge.backup.plugins.module_utils.schema import check_schema
from ansible_collections.papermerge.backup.plugins.module_utils.setting_names import setting
from ansible_collections.papermerge.backup.plugins.module_utils.spool import Spool

FINGERPRINT_SEED = b"papermerge.backup fingerprint v1\n"
UNREFERENCED_LISTED = 10


class _Sink:
    """Where backup.json goes: the spool (none in check mode), and the fingerprint."""

    def __init__(self, stream):
        self.stream = stream
        self.size = 0
        self.digest = None

    def start_fingerprint(self):
        self.digest = hashlib.sha256(FINGERPRINT_SEED)

    def write(self, data):
        if self.stream is not None:
            self.stream.write(data)
        if self.digest is not None:
            self.digest.update(data)
        self.size += len(data)


class BackupPlan:
    """Everything one archive will hold, gathered before the first archive byte is written."""

    def __init__(self, instance, version, target, now, check_mode, sealed=False):
        self.instance = instance
        self.version = version
        self.target = target
        self.now = now
        self.check_mode = check_mode
        self.sealed = sealed  # the archive is encrypted: nothing of it may reach the disk in plaintext
        self.spool = None
        self.warnings = []

    def __enter__(self):
        try:
            self._dump_database()
            self._scan_media()
        except BaseException:
            self._remove_spool()
            raise
        return self

    def __exit__(self, *exc):
        self._remove_spool()

    def _remove_spool(self):
        if self.spool is not None:
            self.spool.remove()
            self.spool = None

    def _dump_database(self):
        if not self.check_mode:
            try:
                self.spool = Spool.temporary(self.target.directory, "json", self.sealed)
            except OSError as error:
                raise write_error(error, self.target.directory, "cannot create a temporary file")
        self.sink = _Sink(self.spool)
        db = connect(self.instance.database, read_only=True)
        try:
            with db.read_snapshot():
                self.migrations = check_schema(db)
                reached("backup:snapshot")
                created = self.now.strftime("%d.%m.%Y-%H:%M:%S")
                self.dump = dump(db, self.sink, self.version, created, self._file_size)
            if self.spool is not None:
                self.spool.finish()
        except OSError as error:
            raise write_error(error, self.target.directory, "cannot write the database dump")
        finally:
            db.close()
        self.warnings.extend(self.dump.warnings)
        self.engine = db.engine

    def _file_size(self, relative):
        try:
            info = os.lstat(os.path.join(self.instance.media_root, *relative.split("/")))
        except (OSError, ValueError):
            return None
        return info.st_size if stat.S_ISREG(info.st_mode) else None

    def _scan_media(self):
        media_root = self.instance.media_root
        if not os.path.isdir(media_root):
            raise PapermergeBackupError(
                "media root %s does not exist: check [main] media_root in the configuration, or set %s"
                % (media_root, setting("media_root")))
        self.files = []
        for folder in MEDIA_FOLDERS:
            top = os.path.join(media_root, folder)
            if os.path.isdir(top):
                self._walk(top, folder)
        self.files = self._referenced(sorted(self.files))
        present = set(entry[0] for entry in self.files)
        self.missing_files = sorted(set(p for p in self.dump.version_files if p not in present))
        # Sorted by name, every folder comes before what it holds; links to missing files are left out.
        self.tree = sorted((name, target) for name, target in self.dump.tree
                           if target is None or self.dump.latest_files[name] in present)
        for name, size, mtime_ns, _mode in self.files:
            self.sink.digest.update(("%s\0%d\0%d\n" % (name, size, mtime_ns)).encode("utf-8", "surrogateescape"))
        self.fingerprint = self.sink.digest.hexdigest()

    def _referenced(self, files):
        """The files a row references (see the module's docstring); a warning names the others."""
        version_files = set(self.dump.version_files)
        folders = self.dump.version_folders
        kept, left_out = [], []
        for entry in files:
            name = entry[0]
            if name in version_files if name.startswith("docs/") else in_sidecar_folder(name, folders):
                kept.append(entry)
            else:
                left_out.append(name)
        if left_out:
            self.warnings.append(
                "%d file(s) in the media root belong to no document version in the database (%s%s): not "
                "archived, as Papermerge cannot reach them and a restore refuses files no row references"
                % (len(left_out), ", ".join(left_out[:UNREFERENCED_LISTED]),
                   ", ..." if len(left_out) > UNREFERENCED_LISTED else ""))
        return kept

    def _walk(self, directory, relative):
        # scandir, depth first, sorted: one lstat per entry (cached by DirEntry), no path arithmetic per file.
        try:
            entries = sorted(os.scandir(directory), key=lambda entry: entry.name)
        except OSError as error:
            raise unreadable(directory, error)
        for entry in entries:
            name = relative + "/" + entry.name
            try:
                if entry.is_dir(follow_symlinks=False):  # from the directory listing: no system call
                    self._walk(entry.path, name)
                    continue
                info = entry.stat(follow_symlinks=False)
            except OSError as error:
                raise unreadable(entry.path, error)
            if stat.S_ISREG(info.st_mode) and _utf8(name):
                self.files.append((name, info.st_size, info.st_mtime_ns, stat.S_IMODE(info.st_mode)))
            elif stat.S_ISREG(info.st_mode):
                self.warnings.append("%r is not a UTF-8 file name: not archived" % entry.path)
            else:
                self.warnings.append("%s is not a regular file (a symlink or special file): not archived"
                                     % entry.path)

    def counts(self):
        counts = dict(self.dump.counts)
        counts.update(files=len(self.files), bytes=sum(entry[1] for entry in self.files))
        return counts

    def estimated_size(self):
        """A rough size of the archive: stored data at full size, text at a third, tar headers included."""
        total = self.sink.size // 4 + 1024 * (len(self.files) + len(self.tree) + 4)
        for name, size, _mtime, _mode in self.files:
            compressed = os.path.splitext(name)[1].lower() in COMPRESSED_EXTENSIONS
            total += size if compressed else size // 3
        return total


def unreadable(path, error):
    return PapermergeBackupError("cannot read %s: %s (the user running the backup must be able to read the "
                                 "whole media root)" % (path, error.strerror or error))


def _utf8(name):
    try:
        name.encode("utf-8")
        return True
    except UnicodeEncodeError:
        return False
