# -*- coding: utf-8 -*-
# Copyright: papermerge.backup contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
#
# This module_utils is PRIVATE and should only be used by this collection. Breaking changes can occur any time.
"""Open a backup archive: one streaming pass (read_archive), then every check on what it found (open_archive).

Two kinds of archives are accepted: ours (backup.json first, docs/ and sidecars/, per-user folders, our
manifest last) and those of Papermerge 2.1's own ``manage.py backup`` (per-user folders and files first,
member names such as ``pages//000001/...``, backup.json last, no manifest).

read_archive() goes through the gzip stream to its end (so every gzip member's CRC and length are checked;
the inflated size is bounded, gunzip.inflate_limit), validates every member as it arrives (member_rules),
hashes every file, and, when given a staging directory, writes the files of docs/ and sidecars/ there under
their normalised names (staging).  backup.json is spooled to a file; when it comes first (ours), it is loaded
at once and every file is held to it on its header, before its data is read, and staged in the same pass.
When it comes last (Papermerge's), nothing is staged in the pass: open_archive() checks every file against it
first and then stages them in a second pass (stage_second_pass), so that no byte of a file backup.json does
not name is ever written.  Nothing outside the staging and spool directories is ever written: symlinks and
directories are checked and recorded, never created.
An encrypted archive (age, `.tar.gz.age`) is decrypted on the way in with the identities given (encryption.py):
the archive's sha256 is the encrypted file's, and backup.json and the manifest go to sealed spools (spool.py).

open_archive() is what papermerge_restore and papermerge_archive_info both run: the pass, then the checksum
file, backup.json, the manifest, the media files against backup.json, the per-user folders and the version
files backup.json names; then the deferred staging.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import hashlib
import os
import zlib

from ansible_collections.papermerge.backup.plugins.module_utils import age
from ansible_collections.papermerge.backup.plugins.module_utils import archive_format
from ansible_collections.papermerge.backup.plugins.module_utils import backup_json
from ansible_collections.papermerge.backup.plugins.module_utils import manifest
from ansible_collections.papermerge.backup.plugins.module_utils.archive_format import BACKUP_JSON, MANIFEST_NAME
from ansible_collections.papermerge.backup.plugins.module_utils.checksum_file import check_checksum_file
from ansible_collections.papermerge.backup.plugins.module_utils.encryption import open_plaintext
from ansible_collections.papermerge.backup.plugins.module_utils.errors import PapermergeBackupError, shown
from ansible_collections.papermerge.backup.plugins.module_utils.gunzip import (
    MAX_RATIO, InflatedStream, InflateLimitExceeded, inflate_limit)
from ansible_collections.papermerge.backup.plugins.module_utils.naming import parse_archive_name
from ansible_collections.papermerge.backup.plugins.module_utils.member_rules import (
    check_file_prefixes, check_media_size, check_symlinks, check_unique_names, check_user_folders, is_media_name,
    member_kind, normalize_member_name, unsafe_member)
from ansible_collections.papermerge.backup.plugins.module_utils.spool import Spool
from ansible_collections.papermerge.backup.plugins.module_utils.staging import Stager
from ansible_collections.papermerge.backup.plugins.module_utils.tar_reader import TarFormatError, TarReader

MISSING_LISTED = 20
# Tar programs pad an archive to a record after its end (GNU tar and tarfile: 10 KB; a large blocking factor:
# up to 1 MB); anything beyond this after the end is refused.
TRAILING_MAX = 1024 * 1024


class Member:
    """One archive member as validated: kind is 'file', 'dir' or 'symlink'; name is normalised.

    An archive holds tens of thousands of members, so a Member is kept small: the raw name only when it
    differs from the normalised one, the sha256 as 32 bytes, the staged file as the stage directory's path
    (shared): the file is staged under its normalised name below it.
    """

    __slots__ = ("name", "_raw_name", "kind", "size", "digest", "mtime", "linkname", "stage_dir", "verified")

    def __init__(self, name, raw_name, kind, size=0, mtime=0, linkname=None):
        self.name = name
        self._raw_name = None if raw_name == name else raw_name
        self.kind = kind
        self.size = size
        self.digest = None
        self.mtime = mtime
        self.linkname = linkname
        self.stage_dir = None
        self.verified = False

    @property
    def raw_name(self):
        return self._raw_name or self.name

    @property
    def sha256(self):
        """Hex sha256 of the content (None when the archive was read without hashing)."""
        return self.digest.hex() if self.digest is not None else None

    @property
    def staged(self):
        """Path of the staged copy, or None when the archive was read without staging."""
        if self.stage_dir is None:
            return None
        return os.path.join(self.stage_dir, *self.name.split("/"))

    def __repr__(self):
        return "Member(%r, %r, size=%r)" % (self.name, self.kind, self.size)


class ArchiveContents:
    """What one pass over an archive found.

    files: {normalised name: Member} for docs/ and sidecars/ files; dirs: set of directory names;
    symlinks: list of Member; backup_json: the spooled backup.json (a spool.Spool, or None when the archive
    has none); backup_json_first: whether it came before every file; manifest: the manifest's summary
    (manifest.read_summary) or None; sha256 / size: of the archive file itself; member_count: members seen;
    backup: backup.json loaded during the pass (backup_json.BackupJson) when it came before every file, else
    None; staging_deferred: files were to be staged but backup.json came after them (stage_second_pass());
    encrypted: whether the archive is an age file (then the spools are sealed).
    """

    def __init__(self):
        self.files = {}
        self.dirs = set()
        self.symlinks = []
        self.backup_json = None
        self.backup_json_size = 0
        self.backup_json_sha256 = None
        self.backup_json_first = False
        self.manifest = None
        self.manifest_path = None
        self.sha256 = None
        self.size = 0
        self.member_count = 0
        self.current = None
        self.previous = None
        self.backup = None
        self.staging_deferred = False
        self.encrypted = False


def read_archive(path, stage_dir=None, spool_dir=None, hash_files=True, progress=None, identities=None):
    """One pass over the archive at path; returns ArchiveContents or raises PapermergeBackupError.

    stage_dir: when given, the docs/ and sidecars/ files are written below it under their normalised names,
    during the pass if backup.json came before them (our archives: each file is checked against backup.json
    on its header, before its data is read).  Otherwise nothing is staged yet (contents.staging_deferred):
    open_archive() stages the files in a second pass, once every one of them is known to be what backup.json
    names, so that no byte of a file a hostile archive adds is ever written.
    spool_dir: where backup.json is spooled (default: stage_dir; one of them is needed to keep it).
    progress: a progress.Progress told the files and archive bytes read so far.
    identities: the age identities that open an encrypted archive (encryption.identities_from_options).
    """
    contents = ArchiveContents()
    reading = _Pass(contents, stage_dir, spool_dir or stage_dir, hash_files)
    _run_pass(path, contents, reading.read_members, progress, identities)
    check_symlinks(contents)
    check_file_prefixes(contents)
    check_unique_names(contents)
    if contents.manifest_path is not None:
        contents.manifest = manifest.read_summary(contents.manifest_path)
    return contents


def _run_pass(path, contents, read_members, progress=None, identities=None):
    """Open the archive, inflate it (bounded: gunzip.inflate_limit) and read its members with read_members,
    which calls report() before each member (progress hears the files and archive bytes read so far).
    An encrypted archive is decrypted with identities on the way in."""
    try:
        raw = open(path, "rb")
        limit = inflate_limit(os.fstat(raw.fileno()).st_size)
    except (IOError, OSError) as error:
        raise PapermergeBackupError("cannot open archive %s: %s" % (path, error), archive=path)
    hashing = _HashingReader(raw)
    try:
        # Whether it is an age file is told by its first bytes, read once as part of the pass (a restore
        # reads the archive no more often than it must).
        head = hashing.read(len(age.VERSION_LINE))
        contents.encrypted = age.is_age(head)
        stream = _Prefixed(head, hashing)
        source = open_plaintext(stream, path, identities) if contents.encrypted else stream
    except BaseException:
        raw.close()
        raise
    inflated = InflatedStream(source, limit)

    def report():
        if progress is not None:
            progress.update(len(contents.files), hashing.size)

    try:
        try:
            read_members(inflated, report)
        except (EOFError, zlib.error, TarFormatError, age.AgeError) as error:
            raise PapermergeBackupError(
                "archive %s is truncated or corrupt%s (%s): it cannot be used; take another copy"
                % (path, _position(contents), shown(str(error), 1000)), archive=path, member=_current(contents))
        except InflateLimitExceeded as error:
            raise PapermergeBackupError(
                "archive %s inflates to more than %d bytes%s, over %d times its size: no backup compresses that "
                "well, so it was refused as a decompression bomb while it was inflated; it is damaged or was made "
                "to fill the disk" % (path, error.limit, _position(contents), MAX_RATIO),
                archive=path, member=_current(contents))
        except OSError as error:
            raise PapermergeBackupError("cannot read or stage archive %s: %s" % (path, error), archive=path)
        contents.sha256 = hashing.hexdigest()
        contents.size = hashing.size
    finally:
        inflated.close()
        raw.close()


class _Pass:
    """The first pass over an archive: every member validated as it arrives, files hashed and (when backup.json
    came first) checked against it and staged."""

    def __init__(self, contents, stage_dir, spool_dir, hash_files):
        self.contents = contents
        self.stage_dir = stage_dir
        self.spool_dir = spool_dir
        self.hash_files = hash_files
        self.stager = None
        self.seen_file = False

    def read_members(self, gz, report):
        try:
            self._read_tar(TarReader(gz), report)
            if self.stager is not None:
                self.stager.finish()
        finally:
            if self.stager is not None:
                self.stager.stop()
        drain(gz, self.contents)

    def _read_tar(self, tar, report):
        contents = self.contents
        while True:
            report()
            contents.previous, contents.current = contents.current or contents.previous, None
            info = tar.next()
            if info is None:
                break
            contents.member_count += 1
            contents.current = info.name
            name = normalize_member_name(info.name)
            kind = member_kind(info)
            if kind == "dir":
                contents.dirs.add(name)
            elif kind == "symlink":
                contents.symlinks.append(Member(name, info.name, "symlink", linkname=info.linkname))
            elif name == BACKUP_JSON:
                self._take_backup_json(tar, info)
            elif name == MANIFEST_NAME:
                _spool_manifest(tar, info, contents, self.spool_dir)
            elif is_media_name(name):
                self._take_file(tar, info, name)
            else:
                raise unsafe_member(info.name, "regular files belong under docs/ or sidecars/ (or are backup.json "
                                               "or the manifest); this one is neither")

    def _take_backup_json(self, tar, info):
        _spool_backup_json(tar, info, self.contents, self.spool_dir, first=not self.seen_file)
        if self.contents.backup_json_first:
            # Known before any file: each file is held to it on its header, before its data is read.
            self.contents.backup = backup_json.load(self.contents.backup_json)

    def _take_file(self, tar, info, name):
        contents = self.contents
        self.seen_file = True
        check_media_size(name, info.size, info.name)
        if contents.backup is not None:
            contents.backup.media.check(name, info.size, info.name)
        if self.stage_dir is not None and contents.backup is None:
            contents.staging_deferred = True
        elif self.stage_dir is not None and self.stager is None:
            self.stager = Stager(self.stage_dir)
        member = take_file(tar, info, name, contents, self.stager, self.hash_files)
        contents.files[name] = member


def drain(gz, contents):
    """Read the gzip stream to its end: its CRC and length trailers (one per gzip member) are checked only there.

    Tar programs pad an archive to a whole record (10 KB by default) after its end; much more after it would
    be data that nothing reads, inflated for nothing: refused.
    """
    contents.current = None
    trailing = 0
    while True:
        data = gz.read(archive_format.CHUNK_SIZE)
        if not data:
            return
        trailing += len(data)
        if trailing > TRAILING_MAX:
            raise TarFormatError("more than %d bytes follow the end of the tar archive" % TRAILING_MAX)


def _position(contents):
    if contents.current:
        return " while reading member %s" % shown(contents.current)
    if contents.previous:
        return " after member %s" % shown(contents.previous)
    return ""


def _current(contents):
    return shown(contents.current) if contents.current else None


def take_file(tar, info, name, contents, stager, hash_files):
    """A file member's Member, its data hashed (hash_files) and staged (stager, when not None)."""
    if name in contents.files:
        raise unsafe_member(info.name, "a second member has the same name %r" % shown(name))
    member = Member(name, info.name, "file", size=info.size, mtime=info.mtime)
    digest = hashlib.sha256() if hash_files else None
    # A file of one chunk goes to the stager whole (most do: sidecars, most documents); larger ones stream.
    chunk_size = archive_format.CHUNK_SIZE
    whole = [] if stager is not None and info.size <= chunk_size else None
    if stager is not None:
        # Staged as the tree it will become: a restore can then move whole new directories into place with one
        # rename each, instead of making every directory and linking every file again in the media root.
        member.stage_dir = stager.stage_dir
        if whole is None:
            stager.begin(member)
    for chunk in tar.chunks(chunk_size):
        if digest is not None:
            digest.update(chunk)
        if whole is not None:
            whole.append(chunk)
        elif stager is not None:
            stager.write(chunk)
    if whole is not None:
        stager.add(member, whole)
    elif stager is not None:
        stager.end()
    member.digest = digest.digest() if digest is not None else None
    return member


def stage_second_pass(path, contents, stage_dir, identities=None, progress=None):
    """Stage the files of an archive whose backup.json came last, reading it again: every file must be the one
    the first pass read (same size and sha256, the archive the same sha256), or the archive changed meanwhile."""
    first = dict((name, member) for name, member in contents.files.items())
    again = ArchiveContents()
    again.encrypted = contents.encrypted
    staging = _Restage(again, first, stage_dir)
    if progress is not None:
        progress.phase("staging the files (a second read: backup.json came last)", files_total=len(first),
                       bytes_total=contents.size)
    _run_pass(path, again, staging.read_members, progress, identities)
    if again.sha256 != contents.sha256 or len(again.files) != len(first):
        raise PapermergeBackupError("archive %s changed while it was read (its sha256 differs between the two "
                                    "reads): nothing was written; run again on an archive nothing writes to"
                                    % path, archive=path)
    for name, member in again.files.items():
        first[name].stage_dir = member.stage_dir


class _Restage:
    """The second pass of stage_second_pass(): the files the first pass validated, staged and hashed again."""

    def __init__(self, contents, first, stage_dir):
        self.contents = contents
        self.first = first
        self.stage_dir = stage_dir
        self.stager = None

    def read_members(self, gz, report):
        tar = TarReader(gz)
        self.stager = Stager(self.stage_dir)
        try:
            while True:
                report()
                info = tar.next()
                if info is None:
                    break
                self.contents.current = info.name
                self._restage(tar, info)
            self.stager.finish()
        finally:
            self.stager.stop()
        drain(gz, self.contents)

    def _restage(self, tar, info):
        if not info.isreg():
            return
        name = normalize_member_name(info.name)
        expected = self.first.get(name)
        if expected is None:
            return  # backup.json, the manifest: spooled by the first pass
        member = take_file(tar, info, name, self.contents, self.stager, expected.digest is not None)
        if (member.size, member.digest) != (expected.size, expected.digest):
            raise TarFormatError("member %s differs from the first read of the archive" % shown(name))
        self.contents.files[name] = member


def _spool_backup_json(tar, info, contents, spool_dir, first):
    if contents.backup_json is not None:
        raise unsafe_member(info.name, "the archive holds backup.json twice")
    contents.backup_json, contents.backup_json_sha256 = _spool(
        tar, info, spool_dir, ".backup.json", contents.encrypted)
    contents.backup_json_size = info.size
    contents.backup_json_first = first


def _spool_manifest(tar, info, contents, spool_dir):
    if contents.manifest_path is not None:
        raise unsafe_member(info.name, "the archive holds the manifest twice")
    if info.size > manifest.MAX_SIZE:
        raise unsafe_member(info.name, "the manifest is implausibly large (%d bytes)" % info.size)
    contents.manifest_path = _spool(tar, info, spool_dir, ".manifest.json", contents.encrypted)[0]


def _spool(tar, info, spool_dir, file_name, sealed):
    """Copy a member's content to a spool at spool_dir/file_name (0600; sealed for an encrypted archive);
    returns (spool.Spool, sha256 hex)."""
    if spool_dir is None:
        raise PapermergeBackupError("internal error: nowhere to spool %s" % info.name)
    digest = hashlib.sha256()
    spool = Spool.at(os.path.join(spool_dir, file_name), sealed)
    try:
        for chunk in tar.chunks(archive_format.CHUNK_SIZE):
            digest.update(chunk)
            spool.write(chunk)
        spool.finish()
    except BaseException:
        spool.remove()
        raise
    return spool, digest.hexdigest()


class _Prefixed:
    """A reader that gives the bytes already read from the start of stream (head) again, then the rest."""

    def __init__(self, head, stream):
        self.head = head
        self.stream = stream

    def read(self, size=-1):
        if not self.head:
            return self.stream.read(size)
        if size is None or size < 0:
            data, self.head = self.head + self.stream.read(), b""
            return data
        data, self.head = self.head[:size], self.head[size:]
        if len(data) < size:
            data += self.stream.read(size - len(data))
        return data

    def readable(self):
        return True


class _HashingReader:
    """File wrapper that hashes and counts every byte read, so the archive's sha256 costs no extra pass."""

    def __init__(self, raw):
        self.raw = raw
        self.digest = hashlib.sha256()
        self.size = 0

    def read(self, size=-1):
        data = self.raw.read(size)
        self.digest.update(data)
        self.size += len(data)
        return data

    def readable(self):
        return True

    def hexdigest(self):
        return self.digest.hexdigest()


class OpenedArchive:
    """An archive read and checked by open_archive().

    contents: the ArchiveContents; backup: the loaded backup.json (backup_json.BackupJson); verified: whether
    every file matched the manifest (False without a manifest, or without verify); missing: file_path of the
    version files backup.json names that the archive lacks; checksum_file: True when ``<archive>.sha256``
    matched, None without one; path: the archive file.
    """

    def __init__(self, path, contents, backup, verified, missing, checksum_file):
        self.path = path
        self.contents = contents
        self.backup = backup
        self.verified = verified
        self.missing = missing
        self.checksum_file = checksum_file

    @property
    def papermerge_version(self):
        """The Papermerge version that made the archive: the manifest's, else backup.json's."""
        if self.contents.manifest and self.contents.manifest.get("papermerge_version"):
            return str(self.contents.manifest["papermerge_version"])
        return self.backup.version

    @property
    def label(self):
        """The label of the host the archive was made on: the manifest's (our archives since 0.2.0), else the one
        in its generated file name; None for other archives (Papermerge's own, names of one's own)."""
        recorded = (self.contents.manifest or {}).get("label")
        if recorded:
            return str(recorded)
        parsed = parse_archive_name(os.path.basename(self.path))
        return parsed.label if parsed else None

    @property
    def created(self):
        """The manifest's UTC time, else backup.json's 'created' as Papermerge writes it."""
        return (self.contents.manifest or {}).get("created") or self.backup.created


def open_archive(path, stage_dir=None, spool_dir=None, verify=True, progress=None, identities=None):
    """Read the archive at path in one pass, then check it whole; an OpenedArchive or PapermergeBackupError.

    Always checked: the gzip stream to its end (bounded, gunzip.inflate_limit), every member's name and type,
    the checksum file beside the archive, backup.json's presence, shape and bounds, that every media file is
    one backup.json names with the size it records (member_rules.DeclaredMedia), the per-user folders.  With
    verify, every file is hashed and compared with the manifest, and an archive without one (Papermerge's own
    backup, which cannot leave a version file out: it reads each one) is refused when a version file
    backup.json names is missing.  stage_dir and spool_dir are read_archive's; files whose staging it deferred
    are staged here, by a second pass, once all of that holds.  progress and identities are
    read_archive's.
    """
    contents = read_archive(path, stage_dir=stage_dir, spool_dir=spool_dir, hash_files=verify, progress=progress,
                            identities=identities)
    checksum_file = check_checksum_file(path, contents.sha256)
    if contents.backup_json is None:
        raise PapermergeBackupError(
            "archive %s has no backup.json member: it is not a Papermerge backup, or it is incomplete; nothing was "
            "written" % path, archive=path, member=BACKUP_JSON)
    verified = manifest.verify_manifest(contents) if verify else False
    backup = contents.backup
    if backup is None:
        backup = backup_json.load(contents.backup_json)
        for name, member in sorted(contents.files.items()):
            backup.media.check(name, member.size, member.raw_name)
    check_user_folders(contents, [user["username"] for user in backup.users])
    missing = backup.media.missing(contents.files)
    if verify and missing and contents.manifest is None:
        # Our backup lists files it could not find in missing_files instead: there a gap is no damage.
        raise PapermergeBackupError(
            "archive member %s, named in backup.json, is missing from the archive (%d missing in all): the "
            "archive is incomplete" % (missing[0], len(missing)), member=missing[0],
            missing_files=missing[:MISSING_LISTED])
    if contents.staging_deferred:
        stage_second_pass(path, contents, stage_dir, identities, progress)
    return OpenedArchive(path, contents, backup, verified, missing, checksum_file)
