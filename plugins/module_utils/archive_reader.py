# -*- coding: utf-8 -*-
# Copyright: papermerge.backup contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Read a backup archive in one streaming pass, refusing anything doubtful.

Two kinds of archives are accepted: ours (backup.json first, docs/ and sidecars/, per-user folders, our
manifest last) and those of Papermerge 2.1's own ``manage.py backup`` (per-user folders and files first,
member names such as ``pages//000001/...``, backup.json last, no manifest).

read_archive() goes through the gzip stream to its end (so every gzip member's CRC and length are checked),
validates every member as it arrives, hashes every file, and, when given a staging directory, writes the
files of docs/ and sidecars/ there under their normalised names.  backup.json is spooled to a file so it
can be parsed after the pass, whichever end of the archive it sits at.  Nothing outside the staging and
spool directories is ever written: symlinks and directories are checked and recorded, never created.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import hashlib
import io
import os
import posixpath
import queue
import stat
import threading
import zlib

from ansible_collections.papermerge.backup.plugins.module_utils import manifest as manifest_format
from ansible_collections.papermerge.backup.plugins.module_utils.backup_json import Scanner
from ansible_collections.papermerge.backup.plugins.module_utils.disk import start_writeback
from ansible_collections.papermerge.backup.plugins.module_utils.errors import PapermergeBackupError
from ansible_collections.papermerge.backup.plugins.module_utils.tar_reader import TarFormatError, TarReader

BACKUP_JSON = "backup.json"
MEDIA_FOLDERS = ("docs", "sidecars")
CHUNK_SIZE = 1024 * 1024
GZIP_WBITS = 16 + zlib.MAX_WBITS  # zlib reads (and checks) the gzip header and trailer itself
MANIFEST_MAX_SIZE = 256 * 1024 * 1024
# Restored media files are readable by the web and worker processes, as Papermerge's own files are; the
# staging directory itself is 0700, so nobody sees them before they are moved into place.
STAGED_MODE = 0o644
# Staged files from this size on start their writeback as soon as they are written (see _finish_staged).
WRITEBACK_MIN_SIZE = 64 * 1024


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
    symlinks: list of Member; backup_json: path of the spooled backup.json (or None when the archive has
    none); backup_json_first: whether it came before every file; manifest: parsed manifest dict or None;
    sha256 / size: of the archive file itself; member_count: members seen.
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
        self.checksum_file = None


def normalize_member_name(raw_name):
    """The safe, normalised form of a member name, or PapermergeBackupError naming the member.

    Empty and '.' components are dropped (Papermerge's own archives hold 'pages//000001/...', other tar
    tools write './docs/...'); absolute names, '..' components, drive-letter names ('C:...') and NUL
    characters are refused.
    """
    if not isinstance(raw_name, str) or not raw_name:
        raise _unsafe(raw_name, "the member has no name")
    if "\x00" in raw_name:
        raise _unsafe(raw_name, "the name contains a NUL character")
    if raw_name.startswith("/"):
        raise _unsafe(raw_name, "absolute member names would write outside the media root")
    if len(raw_name) > 1 and raw_name[1] == ":" and raw_name[0].isalpha():
        raise _unsafe(raw_name, "drive-letter names are absolute on Windows")
    parts = [part for part in raw_name.split("/") if part not in ("", ".")]
    if any(part == ".." for part in parts):
        raise _unsafe(raw_name, "'..' components would write outside the media root")
    if not parts:
        raise _unsafe(raw_name, "the name is empty once normalised")
    return "/".join(parts)


def _unsafe(raw_name, reason):
    return PapermergeBackupError(
        "archive member %r is unsafe: %s. The archive was refused and nothing was written; it is damaged "
        "or was not made by papermerge_backup or Papermerge's `manage.py backup`" % (raw_name, reason),
        member=raw_name)


def member_kind(info):
    """'file', 'dir' or 'symlink' for the member types a backup holds; refuse every other type."""
    if info.isreg():
        return "file"
    if info.isdir():
        return "dir"
    if info.issym():
        return "symlink"
    if info.islnk():
        reason = "hard links can point at files outside the archive (link to %r)" % info.linkname
    elif info.ischr() or info.isblk():
        reason = "device nodes have no place in a backup"
    elif info.isfifo():
        reason = "FIFOs have no place in a backup"
    else:
        reason = "member type %r is not a regular file, directory or symlink" % info.type
    raise _unsafe(info.name, reason)


def symlink_target(name, linkname):
    """The archive-relative name a symlink member points at; refuse targets that leave the archive."""
    if not linkname or linkname.startswith("/") or "\x00" in linkname:
        raise _unsafe(name, "symlink target %r is absolute or empty" % (linkname,))
    target = posixpath.normpath(posixpath.join(posixpath.dirname(name), linkname))
    if target == ".." or target.startswith("../") or target.startswith("/"):
        raise _unsafe(name, "symlink target %r points outside the archive" % (linkname,))
    return target


def is_media_name(name):
    """True for names under docs/ or sidecars/ (the only files a restore puts into the media root)."""
    return name.split("/", 1)[0] in MEDIA_FOLDERS and "/" in name


def read_archive(path, stage_dir=None, spool_dir=None, hash_files=True):
    """One pass over the archive at path; returns ArchiveContents or raises PapermergeBackupError.

    stage_dir: when given, every docs/ and sidecars/ file is written below it under its normalised name.
    spool_dir: where backup.json is spooled (default: stage_dir; one of them is needed to keep it).
    """
    contents = ArchiveContents()
    spool_dir = spool_dir or stage_dir
    try:
        raw = open(path, "rb")
    except (IOError, OSError) as error:
        raise PapermergeBackupError("cannot open archive %s: %s" % (path, error), archive=path)
    hashing = _HashingReader(raw)
    inflated = _Inflater(hashing)
    try:
        try:
            _read_members(inflated, contents, stage_dir, spool_dir, hash_files)
        except (EOFError, zlib.error, TarFormatError) as error:
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
    _check_symlinks(contents)
    _check_file_prefixes(contents)
    if contents.manifest_path is not None:
        _load_manifest(contents)
    return contents


def _read_members(gz, contents, stage_dir, spool_dir, hash_files):
    tar = TarReader(gz)
    stager = _Stager(stage_dir) if stage_dir is not None else None
    try:
        _read_tar(tar, contents, stager, spool_dir, hash_files)
        if stager is not None:
            stager.finish()
    finally:
        if stager is not None:
            stager.stop()
    # Drain the gzip stream: its CRC and length trailers (one per gzip member) are checked only at the end.
    contents.current = None
    while gz.read(CHUNK_SIZE):
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
        elif name == manifest_format.MANIFEST_NAME:
            _spool_manifest(tar, info, contents, spool_dir)
        elif is_media_name(name):
            seen_file = True
            _take_file(tar, info, name, contents, stager, hash_files)
        else:
            raise _unsafe(info.name, "regular files belong under docs/ or sidecars/ (or are backup.json or "
                                     "the manifest); this one is neither")


def _position(contents):
    if contents.current:
        return " while reading member %s" % contents.current
    if contents.previous:
        return " after member %s" % contents.previous
    return ""


def _take_file(tar, info, name, contents, stager, hash_files):
    if name in contents.files:
        raise _unsafe(info.name, "a second member has the same name %r" % name)
    member = Member(name, info.name, "file", size=info.size, mtime=info.mtime)
    digest = hashlib.sha256() if hash_files else None
    # A file of one chunk goes to the stager whole (most do: sidecars, most documents); larger ones stream.
    whole = [] if stager is not None and info.size <= CHUNK_SIZE else None
    if stager is not None:
        # Staged as the tree it will become: a restore can then move whole new directories into place with one
        # rename each, instead of making every directory and linking every file again in the media root.
        member.stage_dir = stager.stage_dir
        if whole is None:
            stager.begin(member)
    for chunk in tar.chunks(CHUNK_SIZE):
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


class _Stager:
    """Writes the staged files in a thread of its own, fed through a bounded queue.

    Creating files and directories is the costliest part of staging (the kernel allocates an inode for each);
    in this thread it overlaps with parsing and hashing the tar stream.  Whole files travel in batches: one
    hand-off per file (thousands of small sidecars) cost a thread wake-up each, which made the two threads take
    turns instead of working at the same time.  A file larger than a chunk streams as begin, its chunks, end.
    After an error the thread keeps taking items (and drops them) until stop(), so the reading thread never
    blocks on a full queue; the error is raised in the reading thread by the next call or by finish().
    """

    QUEUE_DEPTH = 4                   # batches or chunks waiting: memory stays under ~12 MB
    BATCH_BYTES = 2 * CHUNK_SIZE
    BATCH_FILES = 256

    def __init__(self, stage_dir):
        self.stage_dir = stage_dir
        self.made = []
        self.error = None
        self.stopped = False
        self.batch = []
        self.batch_bytes = 0
        self.streamed = None          # (descriptor, member) of the file being written
        self.queue = queue.Queue(self.QUEUE_DEPTH)
        self.thread = threading.Thread(target=self._run, name="papermerge-stage")
        self.thread.daemon = True
        self.thread.start()

    def add(self, member, chunks):
        """Stage member's file, whose whole content is chunks."""
        self.batch.append((member, chunks))
        self.batch_bytes += member.size
        if len(self.batch) >= self.BATCH_FILES or self.batch_bytes >= self.BATCH_BYTES:
            self._send_batch()

    def begin(self, member):
        """Start streaming member's file: write() its chunks, then end()."""
        self._send_batch()
        self._put(member)

    def write(self, chunk):
        self._put(chunk)

    def end(self):
        self._put(False)

    def finish(self):
        """Wait until every file is written; raise the thread's error, if any."""
        self._send_batch()
        self.stop()
        if self.error is not None:
            raise self.error

    def stop(self):
        if not self.stopped:
            self.stopped = True
            self.queue.put(None)
            self.thread.join()

    def _send_batch(self):
        if self.batch:
            batch, self.batch, self.batch_bytes = self.batch, [], 0
            self._put(batch)

    def _put(self, item):
        if self.error is not None:
            raise self.error
        self.queue.put(item)

    def _run(self):
        while True:
            item = self.queue.get()
            if item is None:
                break
            if self.error is not None:
                continue
            try:
                self._handle(item)
            except BaseException as error:  # raised in the reading thread
                self.error = error
                self._close_streamed()
        self._close_streamed()

    def _handle(self, item):
        if isinstance(item, list):
            for member, chunks in item:
                self._open(member)
                for chunk in chunks:
                    _write_all(self.streamed[0], chunk)
                self._close()
        elif isinstance(item, bytes):
            _write_all(self.streamed[0], item)
        elif item is False:
            self._close()
        else:
            self._open(item)

    def _open(self, member):
        _make_stage_dirs(self.stage_dir, member.name, self.made, member.raw_name)
        self.streamed = (_create_staged(member.staged, member.raw_name), member)

    def _close(self):
        descriptor, member = self.streamed
        _finish_staged(descriptor, member.mtime, member.size)
        self._close_streamed()

    def _close_streamed(self):
        if self.streamed is not None:
            os.close(self.streamed[0])
            self.streamed = None


def _write_all(descriptor, data):
    view = memoryview(data)
    while view:
        view = view[os.write(descriptor, view):]


def _finish_staged(descriptor, mtime, size):
    # Small files are left to the flush before the commit: starting writeback for each of thousands of sidecars
    # costs more than it saves, while the large ones (the documents) are most of the bytes to flush.
    if size >= WRITEBACK_MIN_SIZE:
        start_writeback(descriptor)
    os.fchmod(descriptor, STAGED_MODE)
    if mtime:
        os.utime(descriptor, (mtime, mtime))


def _make_stage_dirs(stage_dir, name, made, raw_name):
    """Create the staging directories of name; made: the parts of the directory made last (updated).

    Members come grouped by directory, so remembering the last one saves nearly every mkdir() that would
    fail, without a set of every directory (tens of thousands) in memory.
    """
    parts = name.split("/")[:-1]
    common = 0
    while common < min(len(parts), len(made)) and parts[common] == made[common]:
        common += 1
    for end in range(common + 1, len(parts) + 1):
        path = os.path.join(stage_dir, *parts[:end])
        try:
            os.mkdir(path, 0o755)
        except FileExistsError:
            # Only this module writes in the private staging directory: what exists there is a directory it
            # made for an earlier member, or a staged file.
            if not stat.S_ISDIR(os.lstat(path).st_mode):
                raise _unsafe(raw_name, "it sits below the file member %r" % "/".join(parts[:end]))
        except (OSError, IOError) as error:
            raise _unsafe(raw_name, "it cannot be staged (%s)" % error)
    made[:] = parts


def _create_staged(target, raw_name):
    """A new file's descriptor (0600 until finished: written while nobody may read it)."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0)
    try:
        return os.open(target, flags, 0o600)
    except (OSError, IOError) as error:
        raise _unsafe(raw_name, "it cannot be staged (%s)" % error)


def _spool_backup_json(tar, info, contents, spool_dir, first):
    if contents.backup_json is not None:
        raise _unsafe(info.name, "the archive holds backup.json twice")
    contents.backup_json, contents.backup_json_sha256 = _spool(tar, info, spool_dir, ".backup.json")
    contents.backup_json_size = info.size
    contents.backup_json_first = first


def _spool_manifest(tar, info, contents, spool_dir):
    if contents.manifest_path is not None:
        raise _unsafe(info.name, "the archive holds the manifest twice")
    if info.size > MANIFEST_MAX_SIZE:
        raise _unsafe(info.name, "the manifest is implausibly large (%d bytes)" % info.size)
    contents.manifest_path = _spool(tar, info, spool_dir, ".manifest.json")[0]


def _spool(tar, info, spool_dir, file_name):
    """Copy a member's content to spool_dir/file_name (0600); returns (path, sha256 hex)."""
    if spool_dir is None:
        raise PapermergeBackupError("internal error: nowhere to spool %s" % info.name)
    digest = hashlib.sha256()
    target = os.path.join(spool_dir, file_name)
    fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0), 0o600)
    with os.fdopen(fd, "wb") as handle:
        for chunk in tar.chunks(CHUNK_SIZE):
            digest.update(chunk)
            handle.write(chunk)
    return target, digest.hexdigest()


def _load_manifest(contents):
    """The manifest's summary: every top-level key but the member and symlink lists, which are counted.

    The member list names every file of the archive; it is streamed (here and by verify_manifest), never
    held in memory whole.
    """
    summary = {}
    try:
        for key, entries in _manifest_sections(contents.manifest_path, summary):
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
    _check_manifest_summary(summary, contents)
    contents.manifest = summary


def _manifest_sections(path, summary=None):
    """Yield (key, None) after storing plain top-level keys in summary, (key, iterator of (name, value))
    for 'members' and 'symlinks'."""
    with io.open(path, "r", encoding="utf-8") as handle:
        scanner = Scanner(handle)
        if scanner.peek() != "{":
            raise ValueError("the manifest is not a JSON object")
        for key in scanner.object_keys():
            if key in ("members", "symlinks"):
                if scanner.peek() != "{":
                    raise ValueError("%r is not an object" % key)
                entries = ((name, scanner.value()) for name in scanner.object_keys())
                yield key, entries
                for _entry in entries:  # whatever the caller left unread
                    pass
            else:
                value = scanner.value()
                if summary is not None:
                    summary[key] = value
                yield key, None
        scanner.expect_end()


def _check_manifest_summary(summary, contents):
    missing = [key for key in manifest_format.REQUIRED_KEYS if key not in summary and key != "members"]
    if "member_count" not in summary:
        missing.append("members")
    if missing:
        raise _bad_manifest("it lacks %s" % ", ".join(missing))
    version = summary["format_version"]
    if not isinstance(version, int) or version > manifest_format.FORMAT_VERSION:
        raise PapermergeBackupError(
            "the archive's manifest has format version %r, this collection (%s) reads up to %d: use a newer "
            "papermerge.backup collection" % (version, manifest_format.COLLECTION_VERSION,
                                              manifest_format.FORMAT_VERSION))


def _bad_manifest(reason):
    return PapermergeBackupError("the archive's manifest %s is unusable: %s. The archive is damaged; use another "
                                 "copy" % (manifest_format.MANIFEST_NAME, reason),
                                 member=manifest_format.MANIFEST_NAME)


def _check_symlinks(contents):
    """Symlinks may only live in the per-user folders and point inside the archive.

    They are never created on disk; this check refuses archives built to trick other tools (and us, were
    we ever to extract them).  Whether their first component is a user's name is checked against
    backup.json later (check_user_folders), because Papermerge's own archives put backup.json last.
    """
    for link in contents.symlinks:
        if link.name.split("/", 1)[0] in MEDIA_FOLDERS or "/" not in link.name:
            raise _unsafe(link.raw_name, "symlinks are allowed only inside the per-user folders")
        symlink_target(link.name, link.linkname)
        for prefix in _prefixes(link.name):
            if prefix in contents.files:
                raise _unsafe(link.raw_name, "it sits below the file member %r" % prefix)


def _check_file_prefixes(contents):
    """A file cannot also be a folder: 'docs/a' and 'docs/a/b' in one archive is refused."""
    for name, member in contents.files.items():
        for prefix in _prefixes(name):
            if prefix in contents.files:
                raise _unsafe(member.raw_name, "it sits below the file member %r" % prefix)


def check_user_folders(contents, usernames):
    """Every symlink must sit in a folder named after a user of the archive (directories are never created)."""
    allowed = set(usernames)
    for link in contents.symlinks:
        if link.name.split("/", 1)[0] not in allowed:
            raise _unsafe(link.raw_name, "symlinks are allowed only inside the per-user folders, and no user "
                                         "in backup.json is called %r" % link.name.split("/", 1)[0])


def _prefixes(name):
    parts = name.split("/")
    return ["/".join(parts[:i]) for i in range(1, len(parts))]


class _Inflater:
    """The decompressed stream, inflated ahead in a thread (zlib, hashlib and file reads release the GIL).

    Decompressing and hashing the archive then overlap with parsing, hashing and writing its members; at most
    QUEUE_DEPTH chunks wait in memory.  The thread reads the whole file (gunzip_chunks checks each gzip member's
    CRC and length and accepts nothing after the last one but zero padding), so the archive's sha256 covers
    every byte; its errors are raised in the reading thread, by read().
    """

    QUEUE_DEPTH = 4

    def __init__(self, hashing):
        self.hashing = hashing
        self.queue = queue.Queue(self.QUEUE_DEPTH)
        self.buffer = b""
        self.offset = 0
        self.finished = False
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self._run, name="papermerge-inflate")
        self.thread.daemon = True
        self.thread.start()

    def _run(self):
        try:
            for data in gunzip_chunks(self.hashing):
                if self.stopping.is_set():
                    return
                self._put(data)
            self._put(b"")
        except BaseException as error:  # handed over to the reading thread
            self._put(error)

    def _put(self, item):
        while not self.stopping.is_set():
            try:
                self.queue.put(item, timeout=0.1)
                return
            except queue.Full:
                continue

    def read(self, size=-1):
        """Up to size bytes (everything left when size is negative or None); b'' at the end."""
        size = -1 if size is None else size
        parts = []
        while size != 0 and not self.finished:
            if self.offset >= len(self.buffer):
                self._next_chunk()
                continue
            end = len(self.buffer) if size < 0 else self.offset + size
            piece = self.buffer[self.offset:end]
            self.offset += len(piece)
            if size > 0:
                size -= len(piece)
            parts.append(piece)
        return b"".join(parts)

    def _next_chunk(self):
        item = self.queue.get()
        if isinstance(item, BaseException):
            self.finished = True
            raise item
        if not item:
            self.finished = True
        self.buffer, self.offset = item, 0

    def close(self):
        self.stopping.set()
        self.thread.join()


def gunzip_chunks(raw):
    """Yield the decompressed content of a gzip file of one or more members, at most CHUNK_SIZE bytes at a time.

    zlib checks each member's header, CRC and length (zlib.error when one is wrong); zero bytes after a member
    are padding, as gzip(1) and Python's gzip allow; the file ending inside a member raises EOFError.  Reading
    the file in large blocks here, instead of through gzip.GzipFile (8 KB reads, the CRC kept in Python), halves
    the cost of inflating an archive of stored PDFs.
    """
    inflater = None
    pending = b""
    members = 0
    while True:
        if not pending:
            pending = raw.read(CHUNK_SIZE)
            if not pending:
                break
        if inflater is None:
            if members:
                pending = pending.lstrip(b"\0")
                if not pending:
                    continue
            inflater = zlib.decompressobj(GZIP_WBITS)
        data = inflater.decompress(pending, CHUNK_SIZE)
        pending = inflater.unconsumed_tail
        if data:
            yield data
        if inflater.eof:
            pending, inflater = inflater.unused_data, None
            members += 1
    while inflater is not None:  # the file ended: output zlib still holds, then the member's end or EOFError
        data = inflater.decompress(b"", CHUNK_SIZE)
        if data:
            yield data
        elif inflater.eof:
            inflater = None
        else:
            raise EOFError("the file ends inside gzip member %d (compressed data is missing)" % (members + 1))


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


def verify_manifest(contents):
    """Check every file member (and backup.json) against the manifest, naming the first that fails.

    Returns False when the archive has no manifest (Papermerge's own archives), True when all matched.
    """
    if contents.manifest_path is None:
        return False
    missing = []
    try:
        for key, entries in _manifest_sections(contents.manifest_path):
            if key == "members":
                for raw_name, entry in entries:
                    _verify_entry(contents, raw_name, entry, missing)
    except ValueError as error:
        raise _bad_manifest("it cannot be read: %s" % error)
    if missing:
        raise PapermergeBackupError(
            "archive member %s is listed in the manifest but missing from the archive (%d missing in all): "
            "the archive is incomplete; use another copy" % (missing[0], len(missing)),
            member=missing[0], missing_members=missing[:20])
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
            "archive is corrupted; use another copy" % (name, found[0], entry.get("size"), found[1],
                                                        entry.get("sha256")), member=name)


def missing_version_files(contents, backup):
    """file_path of every document version backup.json names whose file the archive lacks (sorted)."""
    missing = []
    for _index, node in backup.iter_nodes():
        for version in node.get("versions") or []:
            path = version.get("file_path")
            if path and _normalized_or_none(path) not in contents.files:
                missing.append(path)
    return sorted(missing)


def _normalized_or_none(name):
    try:
        return normalize_member_name(name)
    except PapermergeBackupError:
        return None


def check_checksum_file(path, sha256):
    """Compare the archive with the `<archive>.sha256` file next to it (sha256sum format), when there is one.

    Returns None without such a file, True when it matches; raises when it does not match or is unreadable.
    """
    sidecar = path + ".sha256"
    if not os.path.isfile(sidecar):
        return None
    try:
        with io.open(sidecar, "r", encoding="utf-8", errors="replace") as handle:
            words = handle.read(4096).split()
    except (IOError, OSError) as error:
        raise PapermergeBackupError("cannot read the checksum file %s: %s" % (sidecar, error), checksum_file=sidecar)
    expected = words[0].lower() if words else ""
    if len(expected) != 64 or any(c not in "0123456789abcdef" for c in expected):
        raise PapermergeBackupError("checksum file %s is not in sha256sum format: remove or fix it" % sidecar,
                                    checksum_file=sidecar)
    if expected != sha256:
        raise PapermergeBackupError(
            "archive %s does not match its checksum file %s (sha256 %s, the file says %s): the archive changed "
            "after it was written; use another copy" % (path, sidecar, sha256, expected), checksum_file=sidecar)
    return True
