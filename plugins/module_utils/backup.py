# -*- coding: utf-8 -*-
# Copyright: papermerge.backup contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Back up a Papermerge 2.1 instance into one archive in Papermerge's documented format.

run_backup() is the whole of papermerge_backup:
  instance settings -> lock the destination directory -> one read-only database snapshot dumped into a
  spooled backup.json -> media scan -> content fingerprint (skip when the newest archive has it) ->
  archive written to a 0600 temp file in the destination directory (backup.json first, docs/, sidecars/,
  the per-user folder tree, the manifest last) -> fsync -> rename -> checksum file.

Archive members, in order:
  backup.json                       the database (see backup_dump.py)
  docs/..., sidecars/...            every regular file under <media_root>/docs and <media_root>/sidecars
  <username>/<folder>/...           a directory per folder, a relative symlink per document to its latest version
  papermerge-backup-manifest.json   size and sha256 of every file member (see manifest.py)
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import errno
import fcntl
import gc
import hashlib
import io
import os
import queue
import re
import socket
import stat
import tempfile
import threading
import time
from datetime import datetime, timedelta, timezone

from ansible_collections.papermerge.backup.plugins.module_utils import archive_writer
from ansible_collections.papermerge.backup.plugins.module_utils import backup_dump
from ansible_collections.papermerge.backup.plugins.module_utils import manifest
from ansible_collections.papermerge.backup.plugins.module_utils.database import connect
from ansible_collections.papermerge.backup.plugins.module_utils.errors import PapermergeBackupError
from ansible_collections.papermerge.backup.plugins.module_utils.instance import find_papermerge_version, resolve_instance
from ansible_collections.papermerge.backup.plugins.module_utils.naming import (
    archive_name, default_label, format_time, parse_archive_name, validate_label)
from ansible_collections.papermerge.backup.plugins.module_utils.schema import check_schema

BACKUP_JSON = "backup.json"
MEDIA_FOLDERS = ("docs", "sidecars")
LOCK_NAME = ".papermerge-backup.lock"
# Every temporary file a backup writes into the destination directory is named TEMP_PREFIX...TEMP_SUFFIX.
TEMP_PREFIX = ".papermerge-backup-"
TEMP_SUFFIX = ".tmp"
CHECKSUM_SUFFIX = ".sha256"
FINGERPRINT_SEED = b"papermerge.backup fingerprint v1\n"
MISSING_SHOWN = 20
NO_SPACE = (errno.ENOSPC, errno.EDQUOT)


def run_backup(options, check_mode=False, hostname=None, now=None):
    """Make (or, in check mode, plan) one backup; returns the module result (without 'changed' defaults)."""
    # The media list and the folder tree are tens of thousands of tuples that live through the whole run:
    # the cyclic garbage collector would walk them again and again (about 5% of the CPU) and find nothing.
    collecting = gc.isenabled()
    gc.disable()
    try:
        return _run_backup(options, check_mode, hostname, now)
    finally:
        if collecting:
            gc.enable()


def _run_backup(options, check_mode, hostname, now):
    instance = resolve_instance(options["project_dir"], options.get("config_file"), options.get("environment"),
                                options.get("media_root"), options.get("database"))
    version = detect_papermerge_version(options.get("papermerge_version"), instance.project_dir)
    label = validate_label(options["label"]) if options.get("label") else default_label(
        hostname or socket.gethostname())
    now = now or datetime.now(timezone.utc)
    target = Destination(options["dest"], label, version, now)
    with DirectoryLock(target.directory, options.get("lock_timeout", 600), check_mode):
        leftovers = [] if check_mode else remove_leftovers(target.directory)
        with Plan(instance, version, target, now, check_mode) as plan:
            if options.get("strict") and plan.missing_files:
                raise _missing_files_error(plan.missing_files, instance.media_root)
            result = _result_base(instance, version, label, plan)
            result["warnings"] = ["removed %s, left in %s by an interrupted backup" % (name, target.directory)
                                  for name in leftovers] + result["warnings"]
            previous = target.previous_archive(plan.fingerprint) if options.get("skip_unchanged", True) else None
            if previous:
                result.update(_describe_existing(previous), changed=False, reused=True)
                return result
            if check_mode:
                result.update(changed=True, reused=False, archive=target.path(),
                              estimated_size=plan.estimated_size())
                return result
            result.update(_write(plan, target, options), changed=True, reused=False)
            return result


def _missing_files_error(missing, media_root):
    shown = ", ".join(missing[:MISSING_SHOWN]) + (" ..." if len(missing) > MISSING_SHOWN else "")
    return PapermergeBackupError(
        "%d document file(s) the database names are missing from the media root %s (strict: true): %s. Restore "
        "them, or run with strict: false to archive everything else and list them in missing_files"
        % (len(missing), media_root, shown), missing_files=missing)


def _result_base(instance, version, label, plan):
    return dict(papermerge_version=version, label=label, counts=plan.counts(),
                missing_files=plan.missing_files, fingerprint=plan.fingerprint, warnings=plan.warnings,
                instance=dict(project_dir=instance.project_dir, media_root=instance.media_root,
                              engine=instance.database["engine"], config_file=instance.config_file,
                              config_sources=instance.config_sources))


# --- Papermerge version -------------------------------------------------------------------------------------

def detect_papermerge_version(override, project_dir):
    """The module option, else the instance's papermerge-core version (instance.find_papermerge_version)."""
    if override:
        return str(override)
    found = find_papermerge_version(project_dir)
    if found:
        return found
    raise PapermergeBackupError(
        "cannot tell the instance's Papermerge version: papermerge-core is not installed in the Python running "
        "the module, nor in a venv or .venv in or beside %s. Point ansible_python_interpreter at the Papermerge "
        "virtualenv, or set the papermerge_version option" % project_dir)


# --- destination --------------------------------------------------------------------------------------------

class Destination:
    """Where the archive goes: a directory with a generated name, or a given file path."""

    def __init__(self, dest, label, version, now):
        dest = os.path.expanduser(str(dest))
        self.label = label
        self.version = version
        self.now = now
        self.generated = dest.endswith("/") or os.path.isdir(dest)
        if self.generated:
            self.directory = os.path.abspath(dest)
            self._name = None
        else:
            self.directory = os.path.dirname(os.path.abspath(dest))
            self._name = os.path.basename(dest)
        if not os.path.isdir(self.directory):
            raise PapermergeBackupError(
                "destination directory %s does not exist: create it first (the backup role does), owned by the "
                "user running the backup and not readable by others" % self.directory)

    @property
    def name(self):
        # A generated name is chosen on first use, which run_backup() makes under the directory lock: a
        # backup that waited for another must see the archive that one wrote, not replace it.
        if self._name is None:
            self._name = self._free_name()
        return self._name

    def _free_name(self):
        # Two runs within one second (possible once the first has released the lock) must not collide:
        # take the next free second rather than replace an archive.
        for step in range(60):
            name = archive_name(self.label, self.now + timedelta(seconds=step), self.version)
            if not os.path.lexists(os.path.join(self.directory, name)):
                return name
        raise PapermergeBackupError("no free archive name in %s for label %s" % (self.directory, self.label))

    def path(self):
        return os.path.join(self.directory, self.name)

    def previous_archive(self, fingerprint):
        """The archive to keep instead of writing a new one: the newest of this label (or the given file)
        when its fingerprint equals the instance's now."""
        candidate = self._newest() if self.generated else self.path()
        if candidate and archive_writer.read_fingerprint(candidate) == fingerprint:
            return candidate
        return None

    def _newest(self):
        newest = None
        for name in os.listdir(self.directory):
            parsed = parse_archive_name(name)
            if parsed is None or parsed.label != self.label:
                continue
            if not stat.S_ISREG(os.lstat(os.path.join(self.directory, name)).st_mode):
                continue
            if newest is None or parsed.time > newest[0]:
                newest = (parsed.time, name)
        return os.path.join(self.directory, newest[1]) if newest else None


def _describe_existing(path):
    info = os.stat(path)
    return dict(archive=path, size=info.st_size, sha256=_known_sha256(path, info))


def _known_sha256(path, info):
    # The checksum file written with the archive saves reading the whole archive again.
    checksum = path + CHECKSUM_SUFFIX
    try:
        if os.stat(checksum).st_mtime >= info.st_mtime:
            with io.open(checksum, encoding="utf-8") as handle:
                value = handle.read().split()[0]
            if re.match(r"^[0-9a-f]{64}$", value):
                return value
    except (IOError, OSError, IndexError):
        pass
    with open(path, "rb") as handle:
        return manifest.digest_stream(handle)[1]


def remove_leftovers(directory):
    """Remove the temporary files a killed backup left in directory; call only while holding its lock.

    A backup removes its temporary files itself whatever fails, unless it is killed (a cancelled AWX job, the
    OOM killer). Every backup writes them under the directory lock, so with the lock held any such file is a
    leftover; each may be as large as an archive, and holds password hashes.
    """
    removed = []
    for name in sorted(os.listdir(directory)):
        path = os.path.join(directory, name)
        try:
            if name.startswith(TEMP_PREFIX) and name.endswith(TEMP_SUFFIX) and stat.S_ISREG(os.lstat(path).st_mode):
                os.unlink(path)
                removed.append(name)
        except OSError:
            continue
    return removed


class DirectoryLock:
    """An exclusive fcntl lock on <directory>/.papermerge-backup.lock (nothing in check mode)."""

    def __init__(self, directory, timeout, check_mode):
        self.path = os.path.join(directory, LOCK_NAME)
        self.timeout = float(timeout)
        self.check_mode = check_mode
        self.handle = None

    def __enter__(self):
        if self.check_mode:
            return self
        try:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        except OSError as error:
            raise _write_error(error, os.path.dirname(self.path), "cannot create the lock file %s" % self.path)
        self.handle = os.fdopen(fd, "r+")
        deadline = time.time() + self.timeout
        while True:
            try:
                fcntl.flock(self.handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return self
            except (IOError, OSError):
                if time.time() >= deadline:
                    self.handle.close()
                    raise PapermergeBackupError(
                        "another backup is writing into %s (it holds %s); waited %d s: let it finish or raise "
                        "lock_timeout" % (os.path.dirname(self.path), self.path, self.timeout))
                time.sleep(0.2)

    def __exit__(self, *exc):
        if self.handle is not None:
            self.handle.close()  # closing releases the lock; the file stays for the next run


def _unreadable(path, error):
    return PapermergeBackupError("cannot read %s: %s (the user running the backup must be able to read the "
                                 "whole media root)" % (path, error.strerror or error))


def _utf8(name):
    try:
        name.encode("utf-8")
        return True
    except UnicodeEncodeError:
        return False


def _write_error(error, directory, what):
    if error.errno in NO_SPACE:
        return PapermergeBackupError(
            "%s: no space left on the filesystem of %s. Free space there or choose another dest; no partial "
            "archive was left behind" % (what, directory))
    if error.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        return PapermergeBackupError(
            "%s: %s. The destination directory %s must be writable by the user running the backup"
            % (what, error.strerror, directory))
    return PapermergeBackupError("%s: %s" % (what, error))


# --- the plan: database dump and media scan -----------------------------------------------------------------

class _Sink:
    """Where backup.json goes: the spool file (none in check mode), and the fingerprint."""

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


class Plan:
    """Everything one archive will hold, gathered before the first archive byte is written."""

    def __init__(self, instance, version, target, now, check_mode):
        self.instance = instance
        self.version = version
        self.target = target
        self.now = now
        self.check_mode = check_mode
        self.spool_path = None
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
        if self.spool_path:
            _remove_quietly(self.spool_path)
            self.spool_path = None

    def _dump_database(self):
        stream = None
        if not self.check_mode:
            try:
                fd, self.spool_path = tempfile.mkstemp(prefix=TEMP_PREFIX, suffix=".json" + TEMP_SUFFIX,
                                                       dir=self.target.directory)
            except OSError as error:
                raise _write_error(error, self.target.directory, "cannot create a temporary file")
            stream = os.fdopen(fd, "wb", 1024 * 1024)
        self.sink = _Sink(stream)
        db = connect(self.instance.database, read_only=True)
        try:
            with db.read_snapshot():
                self.migrations = check_schema(db)
                created = self.now.strftime("%d.%m.%Y-%H:%M:%S")
                self.dump = backup_dump.dump(db, self.sink, self.version, created)
            if stream is not None:
                stream.close()
        except OSError as error:
            raise _write_error(error, self.target.directory, "cannot write the database dump")
        finally:
            db.close()
            if stream is not None and not stream.closed:
                _close_quietly(stream)
        self.warnings.extend(self.dump.warnings)
        self.engine = db.engine

    def _scan_media(self):
        media_root = self.instance.media_root
        if not os.path.isdir(media_root):
            raise PapermergeBackupError(
                "media root %s does not exist: check [main] media_root (PAPERMERGE__MAIN__MEDIA_ROOT) or the "
                "media_root option" % media_root)
        self.files = []
        for folder in MEDIA_FOLDERS:
            top = os.path.join(media_root, folder)
            if os.path.isdir(top):
                self._walk(top, folder)
        self.files = sorted(self.files)
        present = set(entry[0] for entry in self.files)
        self.missing_files = sorted(set(p for p in self.dump.version_files if p not in present))
        # Sorted by name, every folder comes before what it holds; links to missing files are left out.
        self.tree = sorted((name, target) for name, target in self.dump.tree
                           if target is None or self.dump.latest_files[name] in present)
        for name, size, mtime_ns, _mode in self.files:
            self.sink.digest.update(("%s\0%d\0%d\n" % (name, size, mtime_ns)).encode("utf-8", "surrogateescape"))
        self.fingerprint = self.sink.digest.hexdigest()

    def _walk(self, directory, relative):
        # scandir, depth first, sorted: one lstat per entry (cached by DirEntry), no path arithmetic per file.
        try:
            entries = sorted(os.scandir(directory), key=lambda entry: entry.name)
        except OSError as error:
            raise _unreadable(directory, error)
        for entry in entries:
            name = relative + "/" + entry.name
            try:
                if entry.is_dir(follow_symlinks=False):  # from the directory listing: no system call
                    self._walk(entry.path, name)
                    continue
                info = entry.stat(follow_symlinks=False)
            except OSError as error:
                raise _unreadable(entry.path, error)
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
            compressed = os.path.splitext(name)[1].lower() in archive_writer.COMPRESSED_EXTENSIONS
            total += size if compressed else size // 3
        return total


# --- writing ------------------------------------------------------------------------------------------------

def _write(plan, target, options):
    final = target.path()
    try:
        fd, temp = tempfile.mkstemp(prefix=TEMP_PREFIX + target.name + ".", suffix=TEMP_SUFFIX, dir=target.directory)
    except OSError as error:
        raise _write_error(error, target.directory, "cannot create the archive's temporary file")
    try:
        # Members larger than the buffer go straight to the file; only headers and small ones are gathered.
        with os.fdopen(fd, "wb", 64 * 1024) as stream:
            hashing = _HashingWriter(stream)
            try:
                _write_members(plan, hashing, options)
            except BaseException:
                hashing.finish(report=False)  # the first failure is the one to report
                raise
            hashing.finish()
            stream.flush()
            os.fsync(stream.fileno())
        os.rename(temp, final)
    except BaseException as error:
        _remove_quietly(temp)
        if isinstance(error, OSError):
            raise _write_error(error, target.directory, "cannot write the archive %s" % final)
        if isinstance(error, archive_writer.SourceReadError):
            raise _unreadable(error.path, error.error)
        if isinstance(error, archive_writer.FileChangedError):
            raise PapermergeBackupError("media file %s changed while it was archived (%s): run the backup again"
                                        % (error.name, error))
        raise
    _fsync_directory(target.directory)
    if options.get("checksum_file", True):
        _write_checksum(final, hashing.digest.hexdigest())
    return dict(archive=final, sha256=hashing.digest.hexdigest(), size=hashing.size)


def _write_members(plan, stream, options):
    level = options.get("compression_level", 6)
    compression = options.get("compression", "adaptive")
    comment = archive_writer.FINGERPRINT_PREFIX + plan.fingerprint
    gz = archive_writer.ParallelGzipWriter(stream, level=level, threads=options.get("threads"), comment=comment)
    mtime = plan.now.timestamp()
    try:
        with _Spool(plan.target.directory, "manifest") as manifest_spool:
            listing = manifest.ManifestWriter(
                manifest_spool, papermerge_version=plan.version, created=format_time(plan.now),
                engine=plan.engine, migrations=plan.migrations, counts=plan.counts(), fingerprint=plan.fingerprint)
            tar = archive_writer.TarStreamWriter(gz, compression)
            with open(plan.spool_path, "rb") as spool:
                listing.add_member(BACKUP_JSON, plan.sink.size,
                                   tar.add_stream(BACKUP_JSON, spool, plan.sink.size, mtime))
            for name, size, mtime_ns, mode in plan.files:
                _add_media_file(tar, plan.instance.media_root, name, size, mtime_ns, mode, listing)
            tar.drain()  # every file's checksum is in the manifest before its symlinks
            _write_tree(tar, plan.tree, mtime, listing)
            listing.finish()
            size = manifest_spool.tell()
            manifest_spool.seek(0)
            tar.add_stream(manifest.MANIFEST_NAME, manifest_spool, size, mtime)
        tar.finish()
        gz.close()
    except BaseException:
        gz.abort()
        raise


def _add_media_file(tar, media_root, name, size, mtime_ns, mode, listing):
    def record(sha256):
        listing.add_member(name, size, sha256)

    tar.add_file(name, os.path.join(media_root, name), size, mtime_ns // 10 ** 9, mode, record)


class _Spool:
    """A 0600 temporary file in the destination directory, removed on exit."""

    def __init__(self, directory, what):
        self.directory = directory
        self.what = what

    def __enter__(self):
        fd, self.path = tempfile.mkstemp(prefix=TEMP_PREFIX, suffix="." + self.what + TEMP_SUFFIX,
                                         dir=self.directory)
        self.stream = os.fdopen(fd, "w+b", 1024 * 1024)
        return self.stream

    def __exit__(self, *exc):
        _close_quietly(self.stream)
        _remove_quietly(self.path)


def _write_tree(tar, tree, mtime, listing):
    for name, target in tree:
        if target is None:
            tar.add_directory(name, mtime)
        else:
            tar.add_symlink(name, target, mtime)
            listing.add_symlink(name, target)


class _HashingWriter:
    """The archive's sha256 and size, taken as the bytes go out (no second read of the archive).

    Hashing and writing run in a thread of their own (both release the GIL): in the calling thread they took
    more than half of a PDF backup's wall time, while it could be building the next tar headers. The queue is
    bounded, so memory stays at a few gzip members; finish() waits for the thread and raises what it raised.
    """

    QUEUED = 8

    def __init__(self, stream):
        self.stream = stream
        self.digest = hashlib.sha256()
        self.size = 0
        self.error = None
        self.queue = queue.Queue(self.QUEUED)
        self.thread = threading.Thread(target=self._run, name="archive-writer")
        self.thread.daemon = True
        self.thread.start()

    def write(self, data):
        if self.error is not None:
            raise self.error
        self.queue.put(data)
        self.size += len(data)

    def _run(self):
        while True:
            data = self.queue.get()
            if data is None:
                return
            if self.error is not None:
                continue  # keep taking members, so that write() never blocks on a full queue
            try:
                self.stream.write(data)
                self.digest.update(data)
            except BaseException as error:  # handed to the writing thread
                self.error = error

    def finish(self, report=True):
        """Wait until everything written is in the stream (and hashed); raise the thread's error, if any."""
        if self.thread.is_alive():
            self.queue.put(None)
            self.thread.join()
        if report and self.error is not None:
            raise self.error


def _write_checksum(archive, sha256):
    path = archive + CHECKSUM_SUFFIX
    directory = os.path.dirname(archive)
    fd, temp = tempfile.mkstemp(prefix=TEMP_PREFIX + os.path.basename(path) + ".", suffix=TEMP_SUFFIX, dir=directory)
    try:
        with os.fdopen(fd, "w") as handle:
            handle.write("%s  %s\n" % (sha256, os.path.basename(archive)))
            handle.flush()
            os.fsync(handle.fileno())
        os.rename(temp, path)
    except OSError as error:
        _remove_quietly(temp)
        raise _write_error(error, directory, "the archive %s is complete, but its checksum file could not be "
                                             "written" % archive)


def _fsync_directory(directory):
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _remove_quietly(path):
    try:
        os.unlink(path)
    except OSError:
        pass


def _close_quietly(stream):
    try:
        stream.close()
    except OSError:
        pass
