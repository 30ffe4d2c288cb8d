# -*- coding: utf-8 -*-
# Copyright: papermerge.backup contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
#
# This module_utils is PRIVATE and should only be used by this collection. Breaking changes can occur any time.
"""Restore an archive into a migrated Papermerge 2.1 instance: all of it, or nothing.

Order of work (docs/design.md "Data flow"), one module per step:
1. preflight (restore_preflight): the archive is a file, the media root exists and is writable (a fresh
   instance's missing one is created in its parent, after the schema check), the schema is migrated;
2. the instance lock (instance_lock), held exclusively to the end: one restore per instance at a time, and no
   backup meanwhile; then whatever an interrupted restore left is finished or undone (restore_journal.recover);
3. read and validate (archive_reader.open_archive): one streaming pass, every member validated, every file
   hashed and staged in <media_root>/.papermerge-restore/; then checksum file, manifest, backup.json, per-user
   folders; the Papermerge version; the archive's label against the host's (aim: a restore onto
   another host takes a confirmation);
4. one database transaction: the plan (restore_plan: what exists, what would be created, what collides; on
   conflict fail: refuse, listing the collisions; skip: leave those out), the journal written and fsynced, the
   commit token, the rows Papermerge's ORM would write (restore_rows), files moved into place
   (media_placement), a filesystem flush that fails on a write error (disk), commit;
5. the journal marked committed, the token row and the staging directory removed; the result.
mode="replace" makes the instance exactly the archive (restore_replace): in the same transaction, what the
archive does not hold as it is (users, tags, folders, documents, media files) is planned away, the journal lists
the media paths moved aside, the rows go, the paths are renamed into the staging directory's aside/, then the
archive's rows and files go in as in a merge; aside/ goes with the staging directory after the commit, and any
failure or kill before it puts everything back.
Any failure before the commit rolls the transaction back and removes every file moved; when even that cannot be
done (or the database cannot tell whether a lost commit happened), the journal stays for the next run.  Check
mode takes the lock shared (it waits for a running restore), writes nothing, spools backup.json to a private
temporary directory, stops after the plan and predicts the failures a real run would meet first: a read-only
or too small media root.  Phase boundaries call phases.reached() (the fault-injection suite's seam); progress.Progress hears
how far the restore is (the roles' progress lines).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import errno
import os

from ansible_collections.papermerge.backup.plugins.module_utils.aim import aim_refusal
from ansible_collections.papermerge.backup.plugins.module_utils.archive_reader import open_archive
from ansible_collections.papermerge.backup.plugins.module_utils.database import CommitError, connect
from ansible_collections.papermerge.backup.plugins.module_utils.disk import FilesystemFlush
from ansible_collections.papermerge.backup.plugins.module_utils.encryption import identities_from_options
from ansible_collections.papermerge.backup.plugins.module_utils.errors import (
    CONFLICT_CHARS, PapermergeBackupError, describe, explained, listed, out_of_memory)
from ansible_collections.papermerge.backup.plugins.module_utils.instance import instance_from_params
from ansible_collections.papermerge.backup.plugins.module_utils.instance_lock import InstanceLock
from ansible_collections.papermerge.backup.plugins.module_utils.media_placement import MovedFiles, partial_dirs
from ansible_collections.papermerge.backup.plugins.module_utils.phases import reached
from ansible_collections.papermerge.backup.plugins.module_utils.restore_journal import (
    Journal, Staging, delete_token, describe_leftovers, insert_token, recover, token_committed, undo_journal)
from ansible_collections.papermerge.backup.plugins.module_utils.progress import Progress
from ansible_collections.papermerge.backup.plugins.module_utils.restore_plan import make_plan, refuse_conflicts
from ansible_collections.papermerge.backup.plugins.module_utils.restore_preflight import (
    check_free_space, check_media_root, check_source, check_version, check_writable, create_media_root,
    media_root_warning, no_space_error, no_space_text)
from ansible_collections.papermerge.backup.plugins.module_utils.restore_replace import (
    COUNT_KEYS as REPLACE_COUNT_KEYS, existing_document_dirs, move_aside, plan_replace, remove_rows, update_users)
from ansible_collections.papermerge.backup.plugins.module_utils.restore_rows import insert_rows
from ansible_collections.papermerge.backup.plugins.module_utils.schema import check_schema
from ansible_collections.papermerge.backup.plugins.module_utils.spool_dir import SpoolDir

LOCK_TIMEOUT = 600
CHECK_SPOOL_PREFIX = ".papermerge-restore-check-"
NO_SPACE = (errno.ENOSPC, errno.EDQUOT)


def run_restore(params, check_mode=False):
    """papermerge_restore: the instance and its version from the shared instance options, then restore()."""
    with explained("restore"):
        progress = Progress(params.get("progress_file"), "restore")
        try:
            instance, version = instance_from_params(params)
            result = restore(instance, params["src"], on_conflict=params.get("on_conflict") or "fail",
                             mode=params.get("mode") or "merge",
                             allow_newer_version=bool(params.get("allow_newer_version")), check_mode=check_mode,
                             instance_version=version, lock_timeout=params.get("lock_timeout", LOCK_TIMEOUT),
                             progress=progress, aim=(params.get("expected_label"), params.get("confirm_label")),
                             identities=identities_from_options(params))
        finally:
            progress.close()
    result["instance_version"] = version
    return result


def restore(instance, src, on_conflict="fail", allow_newer_version=False, check_mode=False,
            instance_version=None, lock_timeout=LOCK_TIMEOUT, progress=None, aim=(None, None),
            identities=None, mode="merge"):
    """Restore the archive src into instance; returns the result dict the module reports.

    mode: "merge" adds what the instance lacks; "replace" also removes and sets back what differs.

    progress (progress.Progress) hears how far the restore is; None: nobody asks.  aim: (the label of the host
    restored into, the confirmation of another label); (None, None): no check.  identities: what opens an
    encrypted archive (encryption.identities_from_options).
    """
    progress = progress or Progress(None, "restore")
    src = check_source(src)
    media_root, missing = check_media_root(instance.media_root)
    check_writable(media_root, missing)
    run = _Run(instance, src, media_root, on_conflict, allow_newer_version, instance_version, lock_timeout)
    run.progress, run.aim, run.identities, run.replace = progress, aim, identities, mode == "replace"
    db = connect(instance.database)
    try:
        check_schema(db)
        if missing and not check_mode:
            create_media_root(media_root)  # the lock and the staging directory live in it
        progress.phase("waiting for any other restore or backup of this instance")
        with InstanceLock(media_root, exclusive=not check_mode, timeout=lock_timeout, create=not check_mode,
                          holder=dict(operation="restore", archive=src)) as lock:
            reached("restore:locked")
            if check_mode:
                warnings = lock.warnings + describe_leftovers(media_root) + (
                    [media_root_warning(media_root)] if missing else [])
                result = run.check(db)
            else:
                warnings = lock.warnings + recover(media_root, db)
                reached("restore:recovered")
                result = run.restore(db)
    finally:
        db.close()
    result["warnings"] = warnings + result["warnings"]
    return result


class _Run:
    """One restore of src into an instance whose lock is held."""

    def __init__(self, instance, src, media_root, on_conflict, allow_newer_version, instance_version,
                 lock_timeout):
        self.instance = instance
        self.src = src
        self.media_root = media_root
        self.on_conflict = on_conflict
        self.allow_newer_version = allow_newer_version
        self.instance_version = instance_version
        self.lock_timeout = lock_timeout
        self.progress = Progress(None, "restore")
        self.aim = (None, None)
        self.identities = None
        self.replace = False

    def read(self, **where):
        """open_archive() with progress; then the checks on what it says: the aim, the version."""
        self.progress.phase("reading the archive", files_total=None, bytes_total=os.path.getsize(self.src))
        archive = open_archive(self.src, progress=self.progress, identities=self.identities, **where)
        reached("restore:staged")
        check_aim(archive, *self.aim)
        check_version(archive.papermerge_version, self.instance_version, self.allow_newer_version)
        return archive

    def plan(self, db, archive):
        """The plan (restore_plan); in replace mode with what goes first (plan.replace, else None)."""
        self.progress.phase("comparing the archive with the instance", files_total=len(archive.contents.files))
        replace = plan_replace(db, archive.backup, archive.contents, self.media_root,
                               progress=self.progress) if self.replace else None
        plan = make_plan(db, archive.backup, archive.contents, self.media_root, progress=self.progress,
                         replace=replace)
        plan.replace = replace
        refuse_conflicts(plan, self.on_conflict)
        return plan

    def check(self, db):
        """Check mode: read and validate the archive, predict what the real run would meet first, plan."""
        with SpoolDir(CHECK_SPOOL_PREFIX) as spool:
            archive = self.read(spool_dir=spool.path)
            check_free_space(self.media_root, archive.contents)
            plan = self.plan(db, archive)
        return _result(plan, archive, True, [])

    def restore(self, db):
        # The flush is opened before the first staged byte is written, so that it reports every write of this
        # restore that the disk failed, also those that failed before the flush.
        with Staging(self.media_root) as staging, FilesystemFlush(self.media_root) as flush:
            try:
                archive = self.read(stage_dir=staging.path, spool_dir=staging.path)
            except PapermergeBackupError as error:
                raise _staging_error(error, self.media_root)
            plan, warnings = self.apply(db, archive, staging, flush)
        return _result(plan, archive, False, warnings)

    def apply(self, db, archive, staging, flush):
        """One transaction: plan, journal, token, rows, files moved into place and flushed, commit.

        Returns (plan, warnings).  Nothing moves into the media root before the journal lists it.
        """
        moved = MovedFiles(self.media_root)
        journal = None
        try:
            with db.write_transaction():
                db.lock_restores(self.lock_timeout)
                plan = self.plan(db, archive)
                reached("restore:planned")
                if not _changes(plan):
                    return plan, []
                self.progress.phase("writing the rows and moving the files into place")
                moves = moved.plan_moves(plan.files, _partial_dirs(plan, archive))
                aside = plan.replace.aside if plan.replace else []
                journal = Journal(staging.path, self.src, moved_in=[name for name, _members in moves],
                                  made_dirs=moved.new_dirs, moved_aside=aside)
                staging.keep = True  # from here on the journal says what to undo, should this run be killed
                _write_media("writing the restore's journal", self.media_root, journal.write)
                insert_token(db, journal.token)
                reached("restore:journaled")
                self._remove(db, plan, staging)
                insert_rows(db, plan, archive.backup)
                if plan.replace:
                    update_users(db, plan.replace, plan, archive.backup)
                reached("restore:rows")
                _write_media("moving the staged files into place", self.media_root, moved.move_all, moves,
                             plan.targets)
                reached("restore:moved")
                if moved.count or aside:
                    _write_media("flushing the restored files to disk", self.media_root, flush.flush)
                reached("restore:flushed")
        except CommitError as error:
            return plan, self._after_failed_commit(error, journal, staging)
        except BaseException as error:
            if journal is None:
                raise  # nothing was written: the error speaks for itself
            raise self._rolled_back(error, journal, staging)
        reached("restore:committed")
        return plan, _finish(db, journal, staging)

    def _remove(self, db, plan, staging):
        """Replace mode: the rows that go deleted, the media paths that go renamed aside (the journal lists them)."""
        if plan.replace:
            remove_rows(db, plan.replace)
            _write_media("moving media files aside", self.media_root, move_aside, self.media_root, staging.path,
                         plan.replace.aside)

    def _after_failed_commit(self, error, journal, staging):
        """The COMMIT failed: ask the database (a new connection) whether it committed all the same."""
        try:
            fresh = connect(self.instance.database)
            try:
                if token_committed(fresh, journal.token):
                    return _finish(fresh, journal, staging) + [
                        "%s, but the database confirms the commit: the restore is complete" % error]
            finally:
                fresh.close()
        except PapermergeBackupError as check_error:
            raise PapermergeBackupError(
                "%s, and it cannot be told now whether the database committed the rows (%s). The files stay in "
                "place; the journal in %s tells the next restore or backup to keep them (rows committed) or "
                "remove them: run one once the database is reachable" % (error, check_error, staging.path))
        raise self._rolled_back(error, journal, staging)

    def _rolled_back(self, error, journal, staging):
        """The error to raise after a failure inside the transaction, once the files moved in are removed.

        The transaction is rolled back; the journal says what moved in.  A new connection answers which
        documents have rows (the one of the transaction may be dead).
        """
        try:
            fresh = connect(self.instance.database)
            try:
                removed = undo_journal(self.media_root, staging.path, journal.content, fresh)
            finally:
                fresh.close()
            staging.keep = False
            left = None
        except (OSError, PapermergeBackupError) as undo_error:
            removed, left = 0, undo_error
        if not isinstance(error, Exception):
            return error  # KeyboardInterrupt, SystemExit: not ours to explain
        if isinstance(error, PapermergeBackupError):
            text, details = str(error), error.details
        elif out_of_memory(error):
            text, details = ("the restore ran out of memory while writing (%s): give it more memory (the host's "
                             "free memory, the container's memory limit) and run it again" % describe(error)), {}
        else:
            text, details = "the restore failed while writing (%s)" % describe(error), {}
        if left is None:
            message = ("%s. The restore was rolled back: no rows were written and the %d file(s) already moved into "
                       "the media root were removed%s" % (text.rstrip("."), removed, " (and the files moved aside "
                                                          "put back)" if journal.content["moved_aside"] else ""))
        else:
            message = ("%s. The restore was rolled back: no rows were written, but the files it had moved into the "
                       "media root could not all be removed (%s): the journal in %s lists them, and the next "
                       "restore or backup removes them" % (text.rstrip("."), left, staging.path))
        return PapermergeBackupError(message, **details)


def check_aim(archive, expected_label, confirm_label):
    """Refuse an archive of another host than expected_label's unless confirmed (aim.py); no check without one."""
    if not expected_label:
        return
    refusal = aim_refusal(os.path.basename(archive.path), archive.label, expected_label, confirm_label)
    if refusal:
        raise PapermergeBackupError(refusal, label=archive.label)


def _write_media(what, media_root, action, *args):
    """Run action(*args); an OSError (the disk full or failing) becomes a message saying what to do."""
    try:
        return action(*args)
    except OSError as error:
        if error.errno in NO_SPACE:
            raise PapermergeBackupError(no_space_text(media_root, "the disk reported it while %s: %s" % (
                what, error.strerror or error)))
        raise PapermergeBackupError(
            "the filesystem of the media root %s reported a write error while %s (%s): the disk may have lost "
            "data, so nothing was committed. Check the disk (the kernel log says more), then run the restore "
            "again" % (media_root, what, describe(error)))


def _finish(db, journal, staging):
    """After the commit: the journal marked committed, the token row deleted; returns warnings."""
    try:
        journal.mark_committed()
        delete_token(db, journal.token)
    except (OSError, PapermergeBackupError) as error:
        return ["the restore is committed, but its cleanup did not finish (%s): the next restore or backup "
                "finishes it" % error]
    staging.keep = False
    reached("restore:finished")
    return []


def _staging_error(error, media_root):
    """A full media root while staging is said as such (check mode predicts it with the same words)."""
    cause = error.__context__
    for _depth in range(4):
        if isinstance(cause, OSError) and cause.errno in NO_SPACE:
            return no_space_error(media_root, "the disk reported it while staging them")
        cause = getattr(cause, "__context__", None)
    return error


def _changes(plan):
    return plan.changed or bool(plan.replace and plan.replace.changed)


def _partial_dirs(plan, archive):
    partial = partial_dirs(plan.files, archive.contents.files)
    if plan.replace:
        partial |= existing_document_dirs(plan.replace, plan.files)
    return partial


def _replace_result(plan):
    """What replace mode removed and set back (in check mode, would): lines and counts; empty in merge mode."""
    replace = plan.replace
    return dict(removed=listed(replace.removed if replace else []),
                reverted=listed(replace.reverted if replace else []),
                removed_counts=replace.counts if replace else dict((key, 0) for key in REPLACE_COUNT_KEYS))


def _result(plan, archive, check_mode, warnings):
    result = _replace_result(plan)
    result.update(
        changed=_changes(plan),
        counts=plan.created,
        # "skipped" is reserved in Ansible results (it marks a skipped task)
        skipped_counts=plan.skipped,
        unchanged_counts=plan.existing,
        conflicts=listed(plan.conflicts, chars=CONFLICT_CHARS),  # archive text: bounded (errors.listed)
        replaced_users=listed(user["username"] for user in plan.replaced_users),
        reindex_needed=plan.created["documents"] > 0 or plan.created["pages"] > 0 or bool(
            plan.replace and plan.replace.counts["documents"]),
        papermerge_version=archive.papermerge_version,
        label=archive.label,
        archive_sha256=archive.contents.sha256,
        checksum_file_verified=archive.checksum_file,
        verified=archive.verified,
        missing_files=listed(archive.missing),
        unknown_permissions=listed(plan.unknown_permissions),
        check_mode=check_mode,
        warnings=warnings,
    )
    return result
