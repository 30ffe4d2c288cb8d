# -*- coding: utf-8 -*-
# Copyright: papermerge.backup contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
#
# This module_utils is PRIVATE and should only be used by this collection. Breaking changes can occur any time.
"""Back up a Papermerge 2.1 instance into one archive in Papermerge's documented format.

run_backup() is the whole of papermerge_backup:
  instance settings (instance.instance_from_params) -> lock the destination directory (destination.py) ->
  one read-only database snapshot dumped into a spooled backup.json, media scan, content fingerprint
  (backup_plan.py) -> keep the newest archive when it has that fingerprint -> archive written to a 0600 temp
  file in the destination directory (backup.json first, docs/, sidecars/, the per-user folder tree, the
  manifest last; archive_writer.py), encrypted with age on its way to the file when age_recipients or
  age_passphrase are given (encryption.py: then the spools are sealed too, and nothing of the archive reaches
  the disk in plaintext) -> fsync -> rename -> checksum file of the file written (checksum_file.py).

Archive members, in order:
  backup.json                       the database (see backup_dump.py)
  docs/..., sidecars/...            every regular file under <media_root>/docs and <media_root>/sidecars
  <username>/<folder>/...           a directory per folder, a relative symlink per document to its latest version
  papermerge-backup-manifest.json   size and sha256 of every file member (see manifest.py)
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import contextlib
import gc
import hashlib
import io
import os
import socket
import sys
import tempfile
from datetime import datetime, timezone

from ansible_collections.papermerge.backup.plugins.module_utils import archive_writer
from ansible_collections.papermerge.backup.plugins.module_utils.archive_format import (
    BACKUP_JSON, MANIFEST_NAME, TEMP_PREFIX, TEMP_SUFFIX)
from ansible_collections.papermerge.backup.plugins.module_utils.backup_plan import BackupPlan, unreadable
from ansible_collections.papermerge.backup.plugins.module_utils.checksum_file import checksum_path, write_checksum_file
from ansible_collections.papermerge.backup.plugins.module_utils.database import connect
from ansible_collections.papermerge.backup.plugins.module_utils.destination import (
    Destination, DirectoryLock, describe_existing, fsync_directory, remove_leftovers, remove_quietly, write_error)
from ansible_collections.papermerge.backup.plugins.module_utils.encryption import BackupEncryption
from ansible_collections.papermerge.backup.plugins.module_utils.errors import PapermergeBackupError, explained
from ansible_collections.papermerge.backup.plugins.module_utils.instance import instance_from_params
from ansible_collections.papermerge.backup.plugins.module_utils.instance_lock import InstanceLock
from ansible_collections.papermerge.backup.plugins.module_utils.manifest import ManifestWriter
from ansible_collections.papermerge.backup.plugins.module_utils.naming import default_label, format_time, validate_label
from ansible_collections.papermerge.backup.plugins.module_utils.phases import reached
from ansible_collections.papermerge.backup.plugins.module_utils.restore_journal import (
    describe_leftovers, recover, leftovers as restore_leftovers)
from ansible_collections.papermerge.backup.plugins.module_utils.progress import Progress
from ansible_collections.papermerge.backup.plugins.module_utils.setting_names import setting
from ansible_collections.papermerge.backup.plugins.module_utils.spool import Spool
from ansible_collections.papermerge.backup.plugins.module_utils.threads import BackgroundWorker

MISSING_SHOWN = 20


def run_backup(options, check_mode=False, hostname=None, now=None):
    """Make (or, in check mode, plan) one backup from the module's params; returns the module result."""
    progress = Progress(options.get("progress_file"), "backup")
    try:
        with explained("backup"), _collector_paused():
            return _run_backup(options, check_mode, hostname, now, progress)
    finally:
        progress.close()


@contextlib.contextmanager
def _collector_paused():
    # The media list and the folder tree are tens of thousands of tuples that live through the whole run:
    # the cyclic garbage collector would walk them again and again (about 5% of the CPU) and find nothing.
    # It is switched back on when the backup ends, however it ends.
    collecting = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if collecting:
            gc.enable()


def _run_backup(options, check_mode, hostname, now, progress):
    instance, version = instance_from_params(options)
    if not version:
        raise _version_unknown(instance.project_dir)
    label = validate_label(options["label"]) if options.get("label") else default_label(
        hostname or socket.gethostname())
    now = now or datetime.now(timezone.utc)
    encryption = BackupEncryption.from_options(options)
    target = Destination(options["dest"], label, version, now, encryption)
    timeout = options.get("lock_timeout", 600)
    progress.phase("waiting for any other backup into the same directory")
    with DirectoryLock(target.directory, timeout, check_mode):
        leftovers = [] if check_mode else remove_leftovers(target.directory)
        progress.phase("reading the database and listing the media files")
        with lock_instance(instance, timeout, check_mode) as lock, \
                BackupPlan(instance, version, target, now, check_mode, sealed=encryption is not None) as plan:
            reached("backup:planned")
            if options.get("strict") and plan.missing_files:
                raise _missing_files_error(plan.missing_files, instance.media_root)
            result = _result_base(instance, version, label, plan)
            result["encryption"] = encryption.describe() if encryption else None
            result["warnings"] = ["removed %s, left in %s by an interrupted backup" % (name, target.directory)
                                  for name in leftovers] + lock.warnings + result["warnings"]
            previous = target.previous_archive(plan.fingerprint) if options.get("skip_unchanged", True) else None
            if previous:
                result.update(describe_existing(previous), changed=False, reused=True)
                if not check_mode and options.get("checksum_file", True):
                    _complete_checksum_file(previous, result["sha256"], result["warnings"])
                return result
            if check_mode:
                result.update(changed=True, reused=False, archive=target.path(),
                              estimated_size=plan.estimated_size())
                return result
            counts = plan.counts()
            progress.phase("writing the archive", files_total=counts["files"], bytes_total=counts["bytes"])
            result.update(_write(plan, target, options, encryption, progress), changed=True, reused=False)
            return result


@contextlib.contextmanager
def lock_instance(instance, timeout, check_mode):
    """The instance lock, held shared (backups may run side by side, restores wait) once any interrupted
    restore has been finished or undone: a backup never archives a half-restored instance.

    Recovering needs the lock exclusively, for a moment; check mode recovers nothing and says what it found.
    """
    media_root = os.path.realpath(instance.media_root)
    if not os.path.isdir(media_root):
        yield _NoLock()  # BackupPlan says that the media root is missing
        return
    warnings = []
    for _attempt in range(3):
        if not check_mode and restore_leftovers(media_root):
            warnings.extend(_recover(instance, media_root, timeout))
        with InstanceLock(media_root, exclusive=False, timeout=timeout, create=not check_mode) as lock:
            if check_mode or not restore_leftovers(media_root):
                lock.warnings = warnings + lock.warnings + (describe_leftovers(media_root) if check_mode else [])
                reached("backup:locked")
                yield lock
                return
        # another restore was interrupted between the recovery and the shared lock: recover again
    raise PapermergeBackupError("restores of this instance keep being interrupted: run one to its end first")


def _recover(instance, media_root, timeout):
    with InstanceLock(media_root, exclusive=True, timeout=timeout, holder=dict(operation="backup")):
        db = connect(instance.database)
        try:
            return recover(media_root, db)
        except OSError as error:
            raise PapermergeBackupError(
                "an interrupted restore left files in the media root %s, and this backup cannot finish or undo it "
                "(%s): run the restore again (it does), or run the backup as the user Papermerge runs as"
                % (media_root, error))
        finally:
            db.close()


class _NoLock:
    warnings = []

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        pass


def _complete_checksum_file(archive, sha256, warnings):
    # A backup killed between its rename and its checksum file left a complete archive without one.
    if os.path.exists(checksum_path(archive)):
        return
    _write_checksum(archive, sha256)
    warnings.append("wrote the missing checksum file of %s (its backup was interrupted before it)" % archive)


def _version_unknown(project_dir):
    return PapermergeBackupError(
        "cannot tell the instance's Papermerge version: papermerge-core is not installed in the Python running the "
        "module (%s), %s/papermerge/core/version.py (the source tree of the official Docker images) does not "
        "exist, and no venv or .venv in or beside %s holds it. Point %s at the virtualenv Papermerge runs from, or "
        "give the version it runs: %s (for example 2.1.9)"
        % (sys.executable, project_dir, project_dir, setting("interpreter"), setting("papermerge_version")),
        python=sys.executable)


def _missing_files_error(missing, media_root):
    shown = ", ".join(missing[:MISSING_SHOWN]) + (" ..." if len(missing) > MISSING_SHOWN else "")
    return PapermergeBackupError(
        "%d document file(s) the database names are missing from the media root %s (%s: true): %s. Restore "
        "them, or set %s: false to archive everything else and list them in missing_files"
        % (len(missing), media_root, setting("strict"), shown, setting("strict")), missing_files=missing)


def _result_base(instance, version, label, plan):
    return dict(papermerge_version=version, label=label, counts=plan.counts(),
                missing_files=plan.missing_files, fingerprint=plan.fingerprint, warnings=plan.warnings,
                instance=dict(project_dir=instance.project_dir, media_root=instance.media_root,
                              engine=instance.database["engine"], config_file=instance.config_file,
                              config_sources=instance.config_sources))


def _write(plan, target, options, encryption, progress):
    final = target.path()
    encryptor = encryption.encryptor(plan.fingerprint) if encryption else None
    try:
        fd, temp = tempfile.mkstemp(prefix=TEMP_PREFIX + target.name + ".", suffix=TEMP_SUFFIX, dir=target.directory)
    except OSError as error:
        raise write_error(error, target.directory, "cannot create the archive's temporary file")
    try:
        # Members larger than the buffer go straight to the file; only headers and small ones are gathered.
        with os.fdopen(fd, "wb", 64 * 1024) as stream:
            hashing = HashingWriter(stream, encryptor)
            try:
                _write_members(plan, hashing, options, progress)
            except BaseException:
                hashing.finish(report=False)  # the first failure is the one to report
                raise
            hashing.finish()
            stream.flush()
            os.fsync(stream.fileno())
        reached("backup:written")
        os.rename(temp, final)
    except BaseException as error:
        remove_quietly(temp)
        if isinstance(error, OSError):
            raise write_error(error, target.directory, "cannot write the archive %s" % final)
        if isinstance(error, archive_writer.SourceReadError):
            raise unreadable(error.path, error.error)
        if isinstance(error, archive_writer.FileChangedError):
            raise PapermergeBackupError("media file %s changed while it was archived (%s): run the backup again"
                                        % (error.name, error))
        raise
    fsync_directory(target.directory)
    reached("backup:renamed")
    if options.get("checksum_file", True):
        _write_checksum(final, hashing.digest.hexdigest())
    return dict(archive=final, sha256=hashing.digest.hexdigest(), size=hashing.size)


def _write_members(plan, stream, options, progress):
    level = options.get("compression_level", 6)
    compression = options.get("compression", "adaptive")
    comment = archive_writer.FINGERPRINT_PREFIX + plan.fingerprint
    gz = archive_writer.ParallelGzipWriter(stream, level=level, threads=options.get("threads"), comment=comment)
    mtime = plan.now.timestamp()
    try:
        with Spool.temporary(plan.target.directory, "manifest", plan.sealed) as manifest_spool:
            listing = ManifestWriter(
                manifest_spool, papermerge_version=plan.version, created=format_time(plan.now),
                engine=plan.engine, migrations=plan.migrations, counts=plan.counts(), fingerprint=plan.fingerprint,
                label=plan.target.label)
            tar = archive_writer.TarStreamWriter(gz, compression)
            with plan.spool.open_binary() as spool:
                listing.add_member(BACKUP_JSON, plan.sink.size,
                                   tar.add_stream(BACKUP_JSON, spool, plan.sink.size, mtime))
            done = done_bytes = 0
            for name, size, mtime_ns, mode in plan.files:
                progress.update(done, done_bytes)
                _add_media_file(tar, plan.instance.media_root, name, size, mtime_ns, mode, listing)
                done, done_bytes = done + 1, done_bytes + size
            tar.drain()  # every file's checksum is in the manifest before its symlinks
            _write_tree(tar, plan.tree, mtime, listing)
            listing.finish()
            with manifest_spool.open_binary() as manifest:
                tar.add_stream(MANIFEST_NAME, manifest, manifest_spool.size, mtime)
        tar.finish()
        gz.close()
    except BaseException:
        gz.abort()
        raise


def _add_media_file(tar, media_root, name, size, mtime_ns, mode, listing):
    def record(sha256):
        listing.add_member(name, size, sha256)

    tar.add_file(name, os.path.join(media_root, name), size, mtime_ns // 10 ** 9, mode, record)


def _write_tree(tar, tree, mtime, listing):
    for name, target in tree:
        if target is None:
            tar.add_directory(name, mtime)
        else:
            tar.add_symlink(name, target, mtime)
            listing.add_symlink(name, target)


class HashingWriter:
    """A binary stream that writes to stream and takes the sha256 and size of what went out (the archive's,
    without reading it again), encrypting it first when given an encryptor (age.Encryptor): then the sha256 and
    size are the encrypted file's.

    Encrypting, hashing and writing run in a thread of their own (all release the GIL): in the calling thread
    they took more than half of a PDF backup's wall time, while it could be building the next tar headers. At
    most QUEUE_DEPTH writes wait, so memory stays at a few gzip members; finish() waits for the thread and
    raises what it raised.
    """

    QUEUE_DEPTH = 8

    def __init__(self, stream, encryptor=None):
        self.stream = stream
        self.fd = _file_descriptor(stream)
        self.encryptor = encryptor
        self.digest = hashlib.sha256()
        self.size = 0
        self.worker = BackgroundWorker(self._write, self.QUEUE_DEPTH, "archive-writer")

    def write(self, data):
        self.worker.put(data)

    def finish(self, report=True):
        """Wait until everything written is in the stream (and hashed); raise the thread's error, if any."""
        self.worker.finish(report)
        if report and self.encryptor is not None:
            self._output(self.encryptor.finish())

    def _write(self, data):
        if self.encryptor is None:
            self._output(data)
            return
        pieces = self.encryptor.update_chunks(data)
        for piece in pieces:
            self.digest.update(piece)
            self.size += len(piece)
        _write_pieces(self.stream, self.fd, pieces)

    def _output(self, data):
        if data:
            self.stream.write(data)
            self.digest.update(data)
            self.size += len(data)


def _file_descriptor(stream):
    try:
        return stream.fileno()
    except (AttributeError, io.UnsupportedOperation):
        return None


def _write_pieces(stream, fd, pieces):
    """Write pieces (the 64 KiB chunks of an encrypted archive) with one writev to fd, the file under stream:
    one write call each cost as much CPU as encrypting a third of them."""
    if fd is None or len(pieces) < 2:
        for piece in pieces:
            stream.write(piece)
        return
    stream.flush()
    written = os.writev(fd, pieces)
    for piece in pieces:  # a short write (a signal, a full disk): the rest as usual, which raises if it must
        if written >= len(piece):
            written -= len(piece)
            continue
        stream.write(piece[written:])
        written = 0


def _write_checksum(archive, sha256):
    try:
        write_checksum_file(archive, sha256)
    except OSError as error:
        raise write_error(error, os.path.dirname(archive), "the archive %s is complete, but its checksum file could "
                                                           "not be written" % archive)
