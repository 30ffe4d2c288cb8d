# -*- coding: utf-8 -*-
# Copyright: papermerge.backup contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
#
# This module_utils is PRIVATE and should only be used by this collection. Breaking changes can occur any time.
"""A restore's staging directory and journal, and the recovery of a restore that was interrupted.

<media_root>/.papermerge-restore/ (0700) is the one staging directory of an instance (the instance lock makes it
one restore's at a time), at a fixed place so that the next run finds what a killed one left there:
  docs/, sidecars/     the archive's files, staged as the tree they become (staging.py)
  .backup.json, ...    spooled members (archive_reader.py); backup.json holds password hashes
  journal.json         written and fsynced BEFORE the first file moves into the media root
  committed.json       the journal, renamed so once its transaction has committed
  aside/               replace mode: the media paths it moved aside, each under its own name, until the commit

The journal lists, in order, the directories the restore creates in the media root (made_dirs), the files and
whole directories it moves in (moved_in), and what it moves aside (moved_aside: empty in merge mode).  It names
the commit token: the restore's transaction inserts one row besides the archive's, a django_session row whose
key is the token (an empty session that never expires and nobody can present: the key exists only in the
journal), so "committed" is a fact the database answers, not a guess: committed iff that row exists.  After
the commit the journal is renamed committed.json, then the row is deleted, then the directory.

recover() runs first in every restore and backup (holding the instance lock exclusively):
  committed.json, or journal.json whose token row exists: delete the row, remove the staging directory;
  journal.json without its row: undo (remove every file below the moved_in paths but those whose document has
  a row: the running app wrote them since; put every moved_aside path back; remove the folders left empty),
  then remove the staging directory;
  no journal: the restore was interrupted before anything moved; remove the staging directory.
Each is said in a warning.  Staging directories of older versions of the collection (.papermerge-restore-*)
hold only copies of archive files and are removed at once.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import os
import re
import shutil
import socket
import uuid
from datetime import datetime, timezone

from ansible_collections.papermerge.backup.plugins.module_utils.archive_format import MEDIA_FOLDERS
from ansible_collections.papermerge.backup.plugins.module_utils.database import normalize_uuid
from ansible_collections.papermerge.backup.plugins.module_utils.errors import PapermergeBackupError

STAGING_NAME = ".papermerge-restore"
LEGACY_PREFIX = ".papermerge-restore-"
JOURNAL_NAME = "journal.json"
COMMITTED_NAME = "committed.json"
ASIDE_NAME = "aside"
JOURNAL_FORMAT = 1
_TOKEN = re.compile(r"^restore-[0-9a-f]{32}$")
_DOCUMENT = re.compile(r"^(?:docs|sidecars)/user_[0-9a-fA-F-]{32,36}/document_([0-9a-fA-F-]{32,36})/")
BATCH_ROWS = 500
# django_session.expire_date of the token row: never expired, so clearsessions never removes it.
_NEVER = datetime(9999, 12, 31, tzinfo=timezone.utc)


def staging_path(media_root):
    return os.path.join(media_root, STAGING_NAME)


class Staging:
    """The staging directory of one restore, made on enter (recover() removed any older one) and removed on
    exit, unless keep is set: then its journal tells the next run what to finish or undo."""

    def __init__(self, media_root):
        self.media_root = media_root
        self.path = staging_path(media_root)
        self.keep = False

    def __enter__(self):
        try:
            os.mkdir(self.path, 0o700)
        except OSError as error:
            raise PapermergeBackupError("cannot create the staging directory %s: %s (is the media root writable by "
                                        "the user running the module?)" % (self.path, error.strerror or error))
        return self

    def __exit__(self, *exc):
        if not self.keep:
            shutil.rmtree(self.path, ignore_errors=True)


class Journal:
    """journal.json of a restore: what it moves into the media root, and its commit token."""

    def __init__(self, staging_dir, archive, moved_in=(), made_dirs=(), moved_aside=()):
        self.staging_dir = staging_dir
        self.token = "restore-" + uuid.uuid4().hex
        self.content = dict(
            format=JOURNAL_FORMAT, token=self.token, pid=os.getpid(), host=socket.gethostname(),
            started=datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"), archive=archive,
            made_dirs=list(made_dirs), moved_in=list(moved_in), moved_aside=list(moved_aside))

    def write(self):
        """Write the journal durably (temporary name, fsync, rename, fsync of both directories)."""
        path = os.path.join(self.staging_dir, JOURNAL_NAME)
        _write_durably(path, json.dumps(self.content, sort_keys=True).encode("utf-8"))
        _fsync_directory(os.path.dirname(self.staging_dir))

    def mark_committed(self):
        os.rename(os.path.join(self.staging_dir, JOURNAL_NAME), os.path.join(self.staging_dir, COMMITTED_NAME))
        _fsync_directory(self.staging_dir)


def insert_token(db, token):
    """The commit token row, inserted inside the restore's transaction."""
    db.execute("INSERT INTO django_session (session_key, session_data, expire_date) VALUES (%s, %s, %s)",
               (token, "", _db_time(db, _NEVER)))


def token_committed(db, token):
    """Whether the token row exists: the restore that inserted it has committed.

    On PostgreSQL the restore's transaction holds the restore lock (Database.lock_restores): taking it first
    waits until the server has ended the transaction of a killed run, committed or not, so the answer is final.
    """
    with db.write_transaction():
        db.lock_restores()
        return bool(db.scalar("SELECT count(*) FROM django_session WHERE session_key = %s", (token,)))


def delete_token(db, token):
    with db.write_transaction():
        db.execute("DELETE FROM django_session WHERE session_key = %s", (token,))


def leftovers(media_root):
    """Names of what interrupted restores left in the media root (the staging directory, older ones)."""
    found = [STAGING_NAME] if os.path.lexists(staging_path(media_root)) else []
    try:
        names = os.listdir(media_root)
    except OSError:
        return found
    return found + sorted(name for name in names if name.startswith(LEGACY_PREFIX))


def describe_leftovers(media_root):
    """Check mode: warnings saying what the real run would remove or finish first (nothing is changed)."""
    warnings = []
    for name in leftovers(media_root):
        journal = _read_journal(staging_path(media_root)) if name == STAGING_NAME else None
        what = "with a journal: it had started moving files into the media root" if journal else "staged files only"
        warnings.append("an interrupted restore left %s in %s (%s): the run will finish or undo it first"
                        % (name, media_root, what))
    return warnings


def recover(media_root, db):
    """Finish or undo what interrupted restores left in media_root; returns warnings saying what was done.

    Call only while holding the instance lock exclusively.  db: a read-write Database of the instance, used
    when a journal has to be checked against it (and its token row deleted).
    """
    warnings = [_remove_legacy(media_root, name) for name in leftovers(media_root) if name != STAGING_NAME]
    path = staging_path(media_root)
    if not os.path.lexists(path):
        return warnings
    if os.path.islink(path) or not os.path.isdir(path):
        _remove(path)
        return warnings + ["removed %s, which was not a staging directory" % path]
    committed, journal = _journal_state(path)
    if journal is None:
        warnings.append("removed the staging directory %s of a restore interrupted before it moved any file into "
                        "the media root (copies of archive files and of backup.json, which holds password hashes)"
                        % path)
    else:
        warnings.append(_settle(media_root, path, journal, committed, db))
    _remove_staging(path)
    return warnings


def _settle(media_root, path, journal, committed, db):
    if not committed and token_committed(db, journal["token"]):
        os.rename(os.path.join(path, JOURNAL_NAME), os.path.join(path, COMMITTED_NAME))
        committed = True
    if committed:
        delete_token(db, journal["token"])
    who = "the restore of %s (pid %s on %s, started %s)" % (
        journal.get("archive"), journal.get("pid"), journal.get("host"), journal.get("started"))
    if committed:
        return ("finished %s, which was interrupted after its commit: removed its staging directory %s"
                % (who, path))
    count = undo_journal(media_root, path, journal, db)
    return ("undid %s, which was interrupted before its commit: removed the %d file(s) it had moved into the media "
            "root without rows, and its staging directory %s (copies of archive files and of backup.json, which "
            "holds password hashes)" % (who, count, path))


def undo_journal(media_root, staging_dir, journal, db):
    """Undo an uncommitted restore from its journal; returns how many files were removed.

    Every file below a moved_in path goes, but one whose document has a row: that row is not the undone
    restore's (its rows were never committed), so the file is one the running Papermerge wrote there since, into
    a folder the restore had moved in.  A file moved_in names itself always goes: the restore put it there
    (link() never replaces a file), also into a document the instance has (replace mode).  Folders are removed
    once empty; then every moved_aside path is put back.  A path moved_aside names that is not in aside/ was never
    moved aside (the run was killed before): what is there is the instance's own and stays.
    """
    files = []
    for name in journal["moved_in"]:
        files.extend(_files_below(media_root, name))
    keep = _documents_with_rows(db, files)
    untouched = _never_moved_aside(staging_dir, journal)
    own = set(journal["moved_in"])
    removed = 0
    for name in files:
        if name in untouched:
            continue
        if name in own or _document_of(name) not in keep:
            os.unlink(_inside(media_root, name))
            removed += 1
    for name in reversed(journal["moved_in"]):
        _remove_empty_dirs(_inside(media_root, name))
    for name in reversed(journal["moved_aside"]):
        _put_back(media_root, staging_dir, name)
    for name in reversed(journal["made_dirs"]):
        try:
            os.rmdir(_inside(media_root, name))
        except OSError:
            pass  # not empty (something else is in it) or gone already
    return removed


def _files_below(media_root, name):
    """Relative names of the files at or below name in the media root (symlinks are files here: not followed)."""
    path = _inside(media_root, name)
    if not os.path.lexists(path):
        return []
    if os.path.islink(path) or not os.path.isdir(path):
        return [name]
    found = []
    for directory, _dirs, names in os.walk(path):
        relative = os.path.relpath(directory, media_root).replace(os.sep, "/")
        found.extend(relative + "/" + file_name for file_name in names)
    return found


def _remove_empty_dirs(path):
    if os.path.islink(path) or not os.path.isdir(path):
        return
    for directory, _dirs, _names in os.walk(path, topdown=False):
        try:
            os.rmdir(directory)
        except OSError:
            pass  # it holds a file that stays


def _document_of(name):
    match = _DOCUMENT.match(name)
    if not match:
        return None
    try:
        return normalize_uuid(match.group(1))
    except ValueError:
        return None


def _documents_with_rows(db, names):
    """The ids of the documents of names (their paths say them) that have a row in the database."""
    wanted = sorted(set(_document_of(name) for name in names) - set([None]))
    found = set()
    for start in range(0, len(wanted), BATCH_ROWS):
        chunk = wanted[start:start + BATCH_ROWS]
        rows = db.execute("SELECT id FROM core_basetreenode WHERE id IN (%s)" % ", ".join(["%s"] * len(chunk)),
                          [db.uuid_param(document) for document in chunk])
        found.update(normalize_uuid(row["id"]) for row in rows)
    return found


def _never_moved_aside(staging_dir, journal):
    """The moved_aside names the undone run had not moved aside yet."""
    return set(name for name in journal["moved_aside"]
               if not os.path.lexists(os.path.join(staging_dir, ASIDE_NAME, *name.split("/"))))


def _put_back(media_root, staging_dir, name):
    aside = os.path.join(staging_dir, ASIDE_NAME, *name.split("/"))
    if os.path.lexists(aside):
        target = _inside(media_root, name)
        if os.path.lexists(target):
            _remove(target)
        os.rename(aside, target)


def _journal_state(path):
    """(committed, journal or None)."""
    committed = _read_journal(path, COMMITTED_NAME)
    if committed is not None:
        return True, committed
    return False, _read_journal(path, JOURNAL_NAME)


def _read_journal(path, name=JOURNAL_NAME):
    file_name = os.path.join(path, name)
    if not os.path.lexists(file_name):
        return None
    try:
        with open(file_name, "rb") as handle:
            journal = json.loads(handle.read().decode("utf-8"))
        _check_journal(journal)
    except (IOError, OSError, ValueError, TypeError, KeyError) as error:
        raise PapermergeBackupError(
            "the journal %s of an interrupted restore cannot be read (%s): it cannot be told which files that "
            "restore moved into the media root. Nothing was changed; compare the media root with the database, "
            "then remove %s by hand" % (file_name, error, path))
    return journal


def _check_journal(journal):
    if journal.get("format") != JOURNAL_FORMAT or not _TOKEN.match(str(journal.get("token"))):
        raise ValueError("unknown format or token")
    for key in ("made_dirs", "moved_in", "moved_aside"):
        if not isinstance(journal.get(key), list):
            raise ValueError("%s is not a list" % key)
        for name in journal[key]:
            _check_name(name)


def _check_name(name):
    # Only what a restore writes: below docs/ or sidecars/, relative, no '.' or '..' parts.
    parts = str(name).split("/")
    if parts[0] not in MEDIA_FOLDERS or any(part in ("", ".", "..") for part in parts):
        raise ValueError("%r is not a media path" % (name,))


def _inside(media_root, name):
    """The path of name in the media root; refused when a symlink on the way leads elsewhere."""
    target = os.path.join(media_root, *name.split("/"))
    parent = os.path.realpath(os.path.dirname(target))
    if parent != media_root and not parent.startswith(media_root + os.sep):
        raise PapermergeBackupError("the journal names %s, which resolves outside the media root %s: nothing "
                                    "was removed there" % (name, media_root))
    return target


def _remove(path):
    if os.path.isdir(path) and not os.path.islink(path):
        shutil.rmtree(path)
    else:
        os.unlink(path)


def _remove_staging(path):
    try:
        shutil.rmtree(path)
    except OSError as error:
        raise PapermergeBackupError("cannot remove the staging directory %s of an interrupted restore: %s. Remove "
                                    "it by hand (it holds only copies of archive files)" % (path, error))


def _remove_legacy(media_root, name):
    path = os.path.join(media_root, name)
    if os.path.isdir(path) and not os.path.islink(path):
        _remove_staging(path)
    else:
        _remove(path)
    return ("removed %s, left in %s by a restore of an older papermerge.backup that was interrupted (copies of "
            "archive files only)" % (name, media_root))


def _write_durably(path, data):
    temp = path + ".tmp"
    descriptor = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | getattr(os, "O_NOFOLLOW", 0), 0o600)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(descriptor, view):]
        os.fsync(descriptor)
    finally:
        os.close(descriptor)
    os.rename(temp, path)
    _fsync_directory(os.path.dirname(path))


def _fsync_directory(path):
    descriptor = os.open(path, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def _db_time(db, value):
    if db.engine == "sqlite":
        return str(value.replace(tzinfo=None))  # Django's SQLite backend stores naive UTC text
    return value
