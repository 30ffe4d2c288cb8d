# -*- coding: utf-8 -*-
# Copyright: papermerge.backup contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
#
# This module_utils is PRIVATE and should only be used by this collection. Breaking changes can occur any time.
"""Restore an archive into a migrated Papermerge 2.1 instance: all of it, or nothing.

Order of work (docs/design.md "Data flow"), one module per step:
1. preflight (restore_preflight): the archive is a file, the media root exists, the schema is migrated, a
   private staging directory inside the media root (same filesystem, so moving into place is a rename);
2. read and validate (archive_reader.open_archive): one streaming pass, every member validated, every file
   hashed and staged; then checksum file, manifest, backup.json, per-user folders; the Papermerge version;
3. plan (restore_plan): what exists, what would be created, what collides (on_conflict fail: refuse, listing
   the collisions; skip: leave those out, with everything below them);
4. apply: one database transaction with the rows Papermerge's ORM would write (restore_rows), files moved into
   place (media_placement), a filesystem flush, commit;
5. the result.
Any failure rolls the transaction back and removes every file moved or staged; the staging directory is
always removed.  Check mode stops after 3 (the archive is read without staging) and reports the plan.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import shutil

from ansible_collections.papermerge.backup.plugins.module_utils.archive_reader import open_archive
from ansible_collections.papermerge.backup.plugins.module_utils.database import connect
from ansible_collections.papermerge.backup.plugins.module_utils.disk import flush_filesystem
from ansible_collections.papermerge.backup.plugins.module_utils.encryption import identities_from_options
from ansible_collections.papermerge.backup.plugins.module_utils.errors import PapermergeBackupError
from ansible_collections.papermerge.backup.plugins.module_utils.instance import instance_from_params
from ansible_collections.papermerge.backup.plugins.module_utils.media_placement import MovedFiles, partial_dirs
from ansible_collections.papermerge.backup.plugins.module_utils.restore_plan import make_plan, refuse_conflicts
from ansible_collections.papermerge.backup.plugins.module_utils.restore_preflight import (
    check_media_root, check_source, check_version, make_work_dir)
from ansible_collections.papermerge.backup.plugins.module_utils.restore_rows import insert_rows
from ansible_collections.papermerge.backup.plugins.module_utils.schema import check_schema


def run_restore(params, check_mode=False):
    """papermerge_restore: the instance and its version from the shared instance options, then restore()."""
    instance, version = instance_from_params(params)
    result = restore(instance, params["src"], on_conflict=params.get("on_conflict") or "fail",
                     allow_newer_version=bool(params.get("allow_newer_version")), check_mode=check_mode,
                     instance_version=version, identities=identities_from_options(params))
    result["instance_version"] = version
    return result


def restore(instance, src, on_conflict="fail", allow_newer_version=False, check_mode=False,
            instance_version=None, identities=None):
    """Restore the archive src into instance; returns the result dict the module reports. identities: what
    opens an encrypted archive (encryption.identities_from_options)."""
    src = check_source(src)
    media_root = check_media_root(instance.media_root)
    db = connect(instance.database)
    try:
        check_schema(db)
        work_dir = make_work_dir(media_root, check_mode)
        try:
            archive = open_archive(src, stage_dir=None if check_mode else work_dir, spool_dir=work_dir,
                                   identities=identities)
            check_version(archive.papermerge_version, instance_version, allow_newer_version)
            plan = make_plan(db, archive.backup, archive.contents, media_root)
            refuse_conflicts(plan, on_conflict)
            if not check_mode and plan.changed:
                apply_plan(db, plan, archive, media_root)
        finally:
            shutil.rmtree(work_dir, ignore_errors=True)
    finally:
        db.close()
    return _result(plan, archive, check_mode)


def apply_plan(db, plan, archive, media_root):
    """One transaction: the rows, the files moved into place and flushed to disk, then the commit."""
    moved = MovedFiles(media_root)
    try:
        with db.write_transaction():
            insert_rows(db, plan, archive.backup)
            moved.move_all(plan.files, plan.targets, partial_dirs(plan.files, archive.contents.files))
            if moved.count:
                flush_filesystem(media_root)
    except BaseException as error:
        moved.undo()
        if isinstance(error, PapermergeBackupError):
            raise PapermergeBackupError(
                "%s. The restore was rolled back: no rows were written and the %d file(s) already moved into the "
                "media root were removed" % (error, moved.count), **error.details)
        if isinstance(error, Exception):
            raise PapermergeBackupError(
                "the restore failed while writing (%s: %s). It was rolled back: no rows were written and the %d "
                "file(s) already moved into the media root were removed"
                % (type(error).__name__, error, moved.count))
        raise


def _result(plan, archive, check_mode):
    return dict(
        changed=plan.changed,
        counts=plan.created,
        # "skipped" is reserved in Ansible results (it marks a skipped task)
        skipped_counts=plan.skipped,
        unchanged_counts=plan.existing,
        conflicts=plan.conflicts,
        reindex_needed=plan.created["documents"] > 0 or plan.created["pages"] > 0,
        papermerge_version=archive.papermerge_version,
        archive_sha256=archive.contents.sha256,
        checksum_file_verified=archive.checksum_file,
        verified=archive.verified,
        missing_files=archive.missing,
        unknown_permissions=plan.unknown_permissions,
        check_mode=check_mode,
    )
