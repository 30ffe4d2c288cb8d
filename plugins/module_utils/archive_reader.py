# -*- coding: utf-8 -*-
# Copyright: papermerge.backup contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
#
# This module_utils is PRIVATE and should only be used by this collection. Breaking changes can occur any time.
"""Open a backup archive: one streaming pass (read_archive), then every check on what it found (open_archive).

Two kinds of archives are accepted: ours (backup.json first, docs/ and sidecars/, per-user folders, our
manifest last) and those of Papermerge 2.1's own ``manage.py backup`` (per-user folders and files first,
member names such as ``pages//000001/...``, backup.json last, no manifest).

read_archive() goes through the gzip stream to its end (so every gzip member's CRC and length are checked),
validates every member as it arrives (member_rules), hashes every file, and, when given a staging directory,
writes the files of docs/ and sidecars/ there under their normalised names (staging).  backup.json is spooled
to a file so it can be parsed after the pass, whichever end of the archive it sits at.  Nothing outside the
staging and spool directories is ever written: symlinks and directories are checked and recorded, never created.
An encrypted archive (age, `.tar.gz.age`) is decrypted on the way in with the identities given (encryption.py):
the archive's sha256 is the encrypted file's, and backup.json and the manifest go to sealed spools (spool.py).

open_archive() is what papermerge_restore and papermerge_archive_info both run: the pass, then the checksum
file, backup.json, the manifest, the per-user folders and the version files backup.json names.
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
from ansible_collections.papermerge.backup.plugins.module_utils.encryption import is_encrypted_file, open_plaintext
from ansible_collections.papermerge.backup.plugins.module_utils.errors import PapermergeBackupError
from ansible_collections.papermerge.backup.plugins.module_utils.gunzip import InflatedStream
from ansible_collections.papermerge.backup.plugins.module_utils.member_rules import (
    check_file_prefixes, check_symlinks, check_user_folders, is_media_name, member_kind, normalize_member_name,
    normalized_or_none, unsafe_member)
from ansible_collections.papermerge.backup.plugins.module_utils.spool import Spool
from ansible_collections.papermerge.backup.plugins.module_utils.staging import Stager
from ansible_collections.papermerge.backup.plugins.module_utils.tar_reader import TarFormatError, TarReader

MISSING_LISTED = 20


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
        self.encrypted = False


def read_archive(path, stage_dir=None, spool_dir=None, hash_files=True, identities=None):
    """One pass over the archive at path; returns ArchiveContents or raises PapermergeBackupError.

    stage_dir: when given, every docs/ and sidecars/ file is written below it under its normalised name.
    spool_dir: where backup.json is spooled (default: stage_dir; one of them is needed to keep it).
    identities: the age identities that open an encrypted archive (encryption.identities_from_options).
    """
    contents = ArchiveContents()
    spool_dir = spool_dir or stage_dir
    contents.encrypted = is_encrypted_file(path)
    try:
        raw = open(path, "rb")
    except (IOError, OSError) as error:
        raise PapermergeBackupError("cannot open archive %s: %s" % (path, error), archive=path)
    hashing = _HashingReader(raw)
    try:
        source = open_plaintext(hashing, path, identities) if contents.encrypted else hashing
    except BaseException:
        raw.close()
        raise
    inflated = InflatedStream(source)
    try:
        try:
            _read_members(inflated, contents, stage_dir, spool_dir, hash_files)
        except (EOFError, zlib.error, TarFormatError, age.AgeError) as error:
            where = _position(contents)
            raise PapermergeBackupError(
                "archive %s is truncated or corrupt%s (%s): it cannot be used; take another copy"
                % (path, where, error), archive=path, member=contents.current)
        except OSError as error:
            raise PapermergeBackupError("cannot read or stage archive %s: %s" % (path, error), archive=path)
        contents.sha256 = hashing.hexdigest()
        contents.size = hashing.size
    finally:
        inflated.close()
        raw.close()
    check_symlinks(contents)
    check_file_prefixes(contents)
    if contents.manifest_path is not None:
        contents.manifest = manifest.read_summary(contents.manifest_path)
    return contents


def _read_members(gz, contents, stage_dir, spool_dir, hash_files):
    tar = TarReader(gz)
    stager = Stager(stage_dir) if stage_dir is not None else None
    try:
        _read_tar(tar, contents, stager, spool_dir, hash_files)
        if stager is not None:
            stager.finish()
    finally:
        if stager is not None:
            stager.stop()
    # Drain the gzip stream: its CRC and length trailers (one per gzip member) are checked only at the end.
    contents.current = None
    while gz.read(archive_format.CHUNK_SIZE):
        pass


def _read_tar(tar, contents, stager, spool_dir, hash_files):
    seen_file = False
    while True:
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
            _spool_backup_json(tar, info, contents, spool_dir, first=not seen_file)
        elif name == MANIFEST_NAME:
            _spool_manifest(tar, info, contents, spool_dir)
        elif is_media_name(name):
            seen_file = True
            _take_file(tar, info, name, contents, stager, hash_files)
        else:
            raise unsafe_member(info.name, "regular files belong under docs/ or sidecars/ (or are backup.json or "
                                           "the manifest); this one is neither")


def _position(contents):
    if contents.current:
        return " while reading member %s" % contents.current
    if contents.previous:
        return " after member %s" % contents.previous
    return ""


def _take_file(tar, info, name, contents, stager, hash_files):
    if name in contents.files:
        raise unsafe_member(info.name, "a second member has the same name %r" % name)
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
    contents.files[name] = member


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


def missing_version_files(contents, backup):
    """file_path of every document version backup.json names whose file the archive lacks (sorted)."""
    missing = []
    for _index, node in backup.iter_nodes():
        for version in node.get("versions") or []:
            path = version.get("file_path")
            if path and normalized_or_none(path) not in contents.files:
                missing.append(path)
    return sorted(missing)


class OpenedArchive:
    """An archive read and checked by open_archive().

    contents: the ArchiveContents; backup: the loaded backup.json (backup_json.BackupJson); verified: whether
    every file matched the manifest (False without a manifest, or without verify); missing: file_path of the
    version files backup.json names that the archive lacks; checksum_file: True when ``<archive>.sha256``
    matched, None without one.
    """

    def __init__(self, contents, backup, verified, missing, checksum_file):
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
    def created(self):
        """The manifest's UTC time, else backup.json's 'created' as Papermerge writes it."""
        return (self.contents.manifest or {}).get("created") or self.backup.created


def open_archive(path, stage_dir=None, spool_dir=None, verify=True, identities=None):
    """Read the archive at path in one pass, then check it whole; an OpenedArchive or PapermergeBackupError.

    Always checked: the gzip stream to its end, every member's name and type, the checksum file beside the
    archive, backup.json's presence and shape, the per-user folders.  With verify, every file is hashed and
    compared with the manifest, and an archive without one (Papermerge's own backup, which cannot leave a
    version file out: it reads each one) is refused when a version file backup.json names is missing.
    stage_dir, spool_dir and identities are read_archive's.
    """
    contents = read_archive(path, stage_dir=stage_dir, spool_dir=spool_dir, hash_files=verify,
                            identities=identities)
    checksum_file = check_checksum_file(path, contents.sha256)
    if contents.backup_json is None:
        raise PapermergeBackupError(
            "archive %s has no backup.json member: it is not a Papermerge backup, or it is incomplete; nothing was "
            "written" % path, archive=path, member=BACKUP_JSON)
    verified = manifest.verify_manifest(contents) if verify else False
    backup = backup_json.load(contents.backup_json)
    check_user_folders(contents, [user["username"] for user in backup.users])
    missing = missing_version_files(contents, backup)
    if verify and missing and contents.manifest is None:
        # Our backup lists files it could not find in missing_files instead: there a gap is no damage.
        raise PapermergeBackupError(
            "archive member %s, named in backup.json, is missing from the archive (%d missing in all): the "
            "archive is incomplete" % (missing[0], len(missing)), member=missing[0],
            missing_files=missing[:MISSING_LISTED])
    return OpenedArchive(contents, backup, verified, missing, checksum_file)
