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
import tempfile
from datetime import datetime, timezone

from ansible_collections.papermerge.backup.plugins.module_utils import archive_writer
from ansible_collections.papermerge.backup.plugins.module_utils.archive_format import (
    BACKUP_JSON, MANIFEST_NAME, TEMP_PREFIX, TEMP_SUFFIX)
from ansible_collections.papermerge.backup.plugins.module_utils.backup_plan import BackupPlan, unreadable
from ansible_collections.papermerge.backup.plugins.module_utils.checksum_file import write_checksum_file
from ansible_collections.papermerge.backup.plugins.module_utils.destination import (
    Destination, DirectoryLock, describe_existing, fsync_directory, remove_leftovers, remove_quietly, write_error)
from ansible_collections.papermerge.backup.plugins.module_utils.encryption import BackupEncryption
from ansible_collections.papermerge.backup.plugins.module_utils.errors import PapermergeBackupError
from ansible_collections.papermerge.backup.plugins.module_utils.instance import instance_from_params
from ansible_collections.papermerge.backup.plugins.module_utils.manifest import ManifestWriter
from ansible_collections.papermerge.backup.plugins.module_utils.naming import default_label, format_time, validate_label
from ansible_collections.papermerge.backup.plugins.module_utils.spool import Spool
from ansible_collections.papermerge.backup.plugins.module_utils.threads import BackgroundWorker

MISSING_SHOWN = 20


def run_backup(options, check_mode=False, hostname=None, now=None):
    """Make (or, in check mode, plan) one backup from the module's params; returns the module result."""
    with _collector_paused():
        return _run_backup(options, check_mode, hostname, now)


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


def _run_backup(options, check_mode, hostname, now):
    instance, version = instance_from_params(options)
    if not version:
        raise _version_unknown(instance.project_dir)
    label = validate_label(options["label"]) if options.get("label") else default_label(
        hostname or socket.gethostname())
    now = now or datetime.now(timezone.utc)
    encryption = BackupEncryption.from_options(options)
    target = Destination(options["dest"], label, version, now, encryption)
    with DirectoryLock(target.directory, options.get("lock_timeout", 600), check_mode):
        leftovers = [] if check_mode else remove_leftovers(target.directory)
        with BackupPlan(instance, version, target, now, check_mode, sealed=encryption is not None) as plan:
            if options.get("strict") and plan.missing_files:
                raise _missing_files_error(plan.missing_files, instance.media_root)
            result = _result_base(instance, version, label, plan)
            result["encryption"] = encryption.describe() if encryption else None
            result["warnings"] = ["removed %s, left in %s by an interrupted backup" % (name, target.directory)
                                  for name in leftovers] + result["warnings"]
            previous = target.previous_archive(plan.fingerprint) if options.get("skip_unchanged", True) else None
            if previous:
                result.update(describe_existing(previous), changed=False, reused=True)
                return result
            if check_mode:
                result.update(changed=True, reused=False, archive=target.path(),
                              estimated_size=plan.estimated_size())
                return result
            result.update(_write(plan, target, options, encryption), changed=True, reused=False)
            return result


def _version_unknown(project_dir):
    return PapermergeBackupError(
        "cannot tell the instance's Papermerge version: papermerge-core is not installed in the Python running "
        "the module, nor in a venv or .venv in or beside %s. Point ansible_python_interpreter at the Papermerge "
        "virtualenv, or set the papermerge_version option" % project_dir)


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


def _write(plan, target, options, encryption):
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
                _write_members(plan, hashing, options)
            except BaseException:
                hashing.finish(report=False)  # the first failure is the one to report
                raise
            hashing.finish()
            stream.flush()
            os.fsync(stream.fileno())
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
        with Spool.temporary(plan.target.directory, "manifest", plan.sealed) as manifest_spool:
            listing = ManifestWriter(
                manifest_spool, papermerge_version=plan.version, created=format_time(plan.now),
                engine=plan.engine, migrations=plan.migrations, counts=plan.counts(), fingerprint=plan.fingerprint)
            tar = archive_writer.TarStreamWriter(gz, compression)
            with plan.spool.open_binary() as spool:
                listing.add_member(BACKUP_JSON, plan.sink.size,
                                   tar.add_stream(BACKUP_JSON, spool, plan.sink.size, mtime))
            for name, size, mtime_ns, mode in plan.files:
                _add_media_file(tar, plan.instance.media_root, name, size, mtime_ns, mode, listing)
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
