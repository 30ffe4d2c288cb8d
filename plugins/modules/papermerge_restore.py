#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: papermerge.backup contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r'''
---
module: papermerge_restore
short_description: Restore a Papermerge 2.1 backup archive into a migrated instance, all or nothing
version_added: 0.1.0
author:
  - papermerge.backup maintainers (@papermerge)
description:
  - Restores an archive made by M(papermerge.backup.papermerge_backup) or by Papermerge 2.1's own
    C(manage.py backup) into the instance on the host, on SQLite or PostgreSQL, whichever engine made the archive.
  - Everything is validated before the first write. The database schema must be migrated (C(manage.py migrate),
    the migrate role); otherwise the module fails and says so. The archive is read once, to its end, checking the
    gzip checksums of every gzip member, every member's name and type, and hashing every file while it is staged
    in the private (0700) directory C(.papermerge-restore) inside the media root (the same file system, so moving
    a file into place is a rename). C(backup.json) is spooled wherever it sits in the archive (first in ours, last in
    Papermerge's). Then the archive must match the checksum file C(<src>.sha256) when there is one, every file
    must match the archive's manifest (size and sha256) when it has one, C(backup.json) must parse and have the
    expected shape, and the archive must not come from a newer Papermerge than the instance's (see
    O(allow_newer_version)). A refused archive leaves the database, the media root and everything outside it as
    they were.
  - Refused archives are those with an absolute member name or a C(..) component; a hard link, device node or
    FIFO; a symlink under C(docs/) or C(sidecars/), outside the folder of a user of the archive, or pointing out of
    the archive (a file reached through such a symlink is refused with it; symlinks are never created); a regular
    file outside C(docs/) and C(sidecars/) other than C(backup.json) and the manifest; two members with one name; a
    member that does not match the manifest, or a manifest entry without a member; no C(backup.json) or a broken
    one; a newer Papermerge version; a truncated or damaged gzip stream. Media paths that resolve outside the media
    root through an existing symlink are refused too.
  - Refused as well are archives that lie about what they hold. A media file must be one C(backup.json) names,
    under C(docs/) the file of one of its document versions (C(docs/user_<id>/document_<id>/v<N>/<file_name>),
    of the size C(backup.json) records for the version, unless that is 0, as Papermerge leaves it for versions
    made by OCR or page edits), under C(sidecars/) a file below the folder of one of its versions
    (C(sidecars/user_<id>/document_<id>/v<N>/)) and at most 256 MiB. A directory may not share a name with a file
    or symlink, nor a symlink with another; nothing may sit below a symlink. Every C(backup.json) value is
    bounded while it is read, text by its Papermerge 2.1 column (a user name has at most 150 characters, a title
    200, ...; the failure names the field and where it is), any other value by 64 MiB of JSON text and a whole
    document by 256 MiB. The archive may inflate to at most 100 times its size plus 32 MiB (a decompression bomb
    is refused while inflating), and hold at most 1 MiB after the end of its tar stream. Our archives are checked
    member by member as they are read (C(backup.json) comes first); those of Papermerge's own backup
    (C(backup.json) last) are read once to check everything and again to stage their files, so no byte of a file
    they should not hold is written.
  - All or nothing. After validation, within one database transaction, the module plans what exists already,
    what it creates and what collides. Then users, groups, permissions, preferences, tags, the node tree, folders,
    documents, versions, pages and tag links go in, in batches; files are moved into place and flushed to disk,
    then the transaction commits. Any failure (a constraint, a full disk, a write error the disk reports at the
    flush, the commit itself) rolls the transaction back and removes every file moved or staged.
  - One restore per instance at a time. The module holds the instance's lock
    (C(<media_root>/.papermerge-backup-instance.lock)) exclusively from before it plans until its rows and files
    are in place or rolled back; a second restore waits for it (O(lock_timeout)), then plans what the first left
    or fails naming it (pid, host, start time, archive). Backups hold the same lock shared, so a restore waits for
    running backups and no backup archives a half-restored instance. On PostgreSQL an advisory lock also keeps
    restores into one database apart.
  - Nothing is left after a kill. Before the first file moves into the media root, a journal listing what will
    move is written to the staging directory and fsynced; the transaction also inserts a commit token (a
    C(django_session) row, an empty session that never expires and that nobody can present, deleted right after
    the commit), so whether an interrupted restore committed is read from the database. The next restore or
    backup finishes or undoes an interrupted restore at once, removing the staging directory (with its copy of
    C(backup.json), which holds password hashes) and the files moved in without committed rows, and says so in a
    warning. Details in the collection's docs/reliability.md.
  - Idempotent. A user is matched by id and name, a folder by its path below the user's top folder, a document by
    id and path, a tag by user and name, a media file by path and content. What matches is left alone
    (RV(unchanged_counts)), so restoring the same archive twice reports RV(ignore:changed=false) the second time.
    Different data in the same place is a collision, handled as O(on_conflict) says. An existing media file is
    never overwritten; files are put in place with the C(link) system call, which fails rather than replace a file
    that appeared since the plan.
  - A freshly initialised instance is not a collision. An existing user with the name of one of the archive's
    users but another id, who owns nothing but the C(.home) and C(.inbox) folders Papermerge creates for every
    user (no other folder, no document, no tag), such as the superuser C(admin) that the official image's
    C(init) creates, is replaced by the archive's user, id, password hash and all, within the restore's
    transaction; RV(replaced_users) names them, in check mode too. A user who owns anything stays a collision.
  - The restored data equals the source as Papermerge's ORM sees it, dates and ids included. Rows are written as
    Papermerge 2.1.5's ORM writes them (UUIDs as 32 hex digits on SQLite and C(uuid) on PostgreSQL, naive UTC
    dates on SQLite, tag slugs by django-taggit's rule, C(.home) and C(.inbox) set on the user), so an archive of
    a SQLite instance restores into PostgreSQL and back.
  - From archives of M(papermerge.backup.papermerge_backup) everything is kept, user ids, password hashes, flags,
    names and dates, groups, user permissions and preferences (by name), folder ids and languages, document ids,
    OCR flag and status, version and page ids and page text, node creation dates, tags with their colours,
    pinned flag, description, ids and slugs, and every file of C(docs/) and C(sidecars/) byte for byte.
  - Archives of Papermerge's own backup carry no groups, user permissions or preferences, no folder ids or folder
    languages, no version, page or tag ids; those get new values (folders the language C(deu)), as with
    Papermerge's restore, and these archives hold only the documents and the page SVGs of the sidecars.
    Papermerge's own C(manage.py restore) also loses groups, permissions and preferences, gives folders, versions,
    pages and tags new ids, and resets the users' C(created_at) and every node's creation date to the restore time.
  - The search index is not rebuilt; RV(reindex_needed) says whether it has to be (the restore role does it).
  - With O(expected_label), an archive made on another host is refused unless O(confirm_label) confirms it.
  - O(mode=replace) rolls the instance back to the archive, see O(mode).
  - In check mode the archive is read and validated completely, without staging anything, and the module reports
    what it would create (RV(counts)), skip and leave alone.
  - An encrypted archive (C(.tar.gz.age)) is decrypted on the fly with O(age_identity_file) or O(age_passphrase);
    one that they do not open is refused before anything is written. Its temporary copies of C(backup.json) and
    the manifest are sealed with a key that exists only in the module's memory.
extends_documentation_fragment:
  - papermerge.backup.instance
  - papermerge.backup.setting_names
  - papermerge.backup.age_identity
options:
  src:
    description:
      - Path of the archive on the host (C(.tar.gz), or C(.tar.gz.age) when encrypted).
    type: path
    required: true
  on_conflict:
    description:
      - What to do when users, folders, documents or media files of the archive collide with different existing
        data (a user of the same name with another id who owns folders, documents or tags, or of the same id with
        another name, another node at a document's path, a node id used elsewhere, a media file with other
        content).
      - V(fail) refuses the archive, listing the collisions, and writes nothing.
      - V(skip) restores everything else; a colliding user is skipped with all their data, a colliding folder
        with everything inside it, a new document whose media file path holds other content with its versions and
        files. The collisions are returned in RV(conflicts).
    type: str
    choices: [fail, skip]
    default: fail
  mode:
    description:
      - V(merge) adds to the instance what the archive has and it lacks; what exists is left alone and differing data
        is a collision (O(on_conflict)).
      - V(replace) makes the instance exactly the archive. Users, folders, documents (with their versions and
        pages), tags and media files the archive does not hold are removed; those it holds otherwise (a document
        renamed, moved or given another version since the backup, a user's changed email or password, a tag's
        colour, a media file's content) are put back as the archive has them. A user stays only when the archive
        has the same id and name, a folder or document only when the archive has it at the same path with the
        same id and values (else it is removed with everything in it and the archive's restored). Groups are not
        removed. There are no collisions in this mode.
      - It is one transaction. Media files that go are moved aside into C(.papermerge-restore/aside/) in the
        media root (never deleted before the commit), after the journal lists them; a failure, or a kill followed
        by the next restore or backup, puts them back, so the instance is either as it was or exactly the
        archive. After the commit they are deleted with the staging directory.
      - In check mode nothing changes; RV(removed) and RV(reverted) list what would go and what would be put
        back (usernames, paths).
    type: str
    choices: [merge, replace]
    default: merge
  lock_timeout:
    description:
      - Seconds to wait for a restore or backup running on the same instance before failing (naming the restore
        that holds the instance's lock). V(0) fails at once.
    type: int
    default: 600
  allow_newer_version:
    description:
      - Restore an archive made by a newer Papermerge than the instance's. Its data may not fit the older
        schema; upgrading the instance first is the safe way.
      - When the instance's Papermerge version cannot be found (the module does not run in its virtualenv and
        none is found in or beside O(project_dir), as for M(papermerge.backup.papermerge_backup)), the check is
        skipped and RV(instance_version) is null.
    type: bool
    default: false
  expected_label:
    description:
      - The label of the host restored into, for example its inventory hostname (what the backup role labels its
        archives with). When given, an archive made on a host of another label is refused before anything is written,
        unless O(confirm_label) repeats the archive's label, so that a restore onto the wrong host takes a deliberate
        act.
      - The archive's label is the one its manifest records, else the one in its generated name
        (C(papermerge-<label>-<time>-<version>.tar.gz)). An archive that carries none (Papermerge's own backups,
        archives of collection 0.1.0 under names of one's own) is refused unless O(confirm_label) repeats its file
        name.
      - Left out, any archive is restored (the module used alone, as before).
    type: str
  confirm_label:
    description:
      - Confirms restoring an archive whose label is not O(expected_label) by repeating that label (or, for an archive
        without one, its file name). Another value refuses the archive all the same.
    type: str
  progress_file:
    description:
      - A file in which the module publishes how far it is while it runs in the background (C(async)), for
        M(papermerge.backup.papermerge_wait) to show a line on every poll. It is replaced whole (a temporary file in
        its directory, then a rename) at most once a second, holds numbers and the phase only (no names, paths or
        secrets) and is removed when the module ends.
      - Left out, no progress is published.
    type: path
attributes:
  check_mode:
    support: full
    description:
      - Reads and validates the whole archive and reports the plan (RV(counts), RV(conflicts)); writes nothing,
        not even the lock file (it waits for a running restore, holding the lock shared when it exists).
      - Predicts the failures the real run would meet first, with the same message, a media root that is not
        writable (a read-only file system, another user's) or too small to stage the archive.
      - A media root that does not exist yet is announced in a warning (the real run creates it).
  diff_mode:
    support: none
    description: Restored data has no useful diff; RV(counts) and RV(conflicts) say what changes.
notes:
  - Run the module with the Python of the virtualenv Papermerge runs from (set C(ansible_python_interpreter)), which
    has the PostgreSQL driver and tells the instance's Papermerge version for the version check.
  - Run the module as the user Papermerge runs as, or as root; files restored as root are given to the owner of
    the media root.
  - A fresh instance has no media root until its first upload (Papermerge creates it then, as in a new container).
    The restore creates a missing media root in its parent, owned like the parent; it refuses one whose parent
    does not exist (a mistyped path, a volume not mounted) or cannot be written.
  - A restore that is killed (SIGKILL, power loss) never commits half the rows; the transaction is gone with the
    process. The next restore or backup on the instance removes what it left (the staging directory, the files it
    had moved into the media root without committed rows) or, had it committed, finishes its cleanup, and says so
    in a warning. Staging directories of older versions of the collection (C(.papermerge-restore-*)) are removed
    at once too.
  - Every failure has a message saying what to do, running out of memory included.
  - Memory stays flat. The archive is read in one pass, C(backup.json) and the manifest are spooled to disk and
    streamed node by node and entry by entry, rows go in in batches of 500, and each archive member costs about a
    hundred bytes (name, size, sha256). Most of a restore's time is the file system creating the instance's
    files and folders (a 1,000-document instance has about 9,000 files in 7,000 folders).
  - Papermerge's own archives hold only the page SVGs of C(sidecars/); page images, text and hOCR files are
    regenerated by Papermerge (or by OCR) as needed.
seealso:
  - module: papermerge.backup.papermerge_backup
  - module: papermerge.backup.papermerge_archive_info
  - name: Backup and restore benchmarks
    description: How fast the restore is, and how much memory it takes, next to C(manage.py restore).
    link: https://github.com/papermerge/papermerge.backup/blob/main/docs/benchmark.md
'''

EXAMPLES = r'''
- name: Check what restoring last night's archive would do
  papermerge.backup.papermerge_restore:
    project_dir: /opt/papermerge
    src: /var/backups/papermerge/papermerge-docs01-20261126T020000Z-2.1.5.tar.gz
  check_mode: true
  register: plan

- name: Restore it
  papermerge.backup.papermerge_restore:
    project_dir: /opt/papermerge
    src: /var/backups/papermerge/papermerge-docs01-20261126T020000Z-2.1.5.tar.gz
  register: restored

- name: See what rolling the instance back to last night's archive would remove and put back
  papermerge.backup.papermerge_restore:
    project_dir: /opt/papermerge
    src: /var/backups/papermerge/papermerge-docs01-20261126T020000Z-2.1.5.tar.gz
    mode: replace
  check_mode: true
  register: rollback

- name: Roll it back (the instance becomes exactly the archive)
  papermerge.backup.papermerge_restore:
    project_dir: /opt/papermerge
    src: /var/backups/papermerge/papermerge-docs01-20261126T020000Z-2.1.5.tar.gz
    mode: replace
  when: rollback.changed

- name: Rebuild the search index when documents were restored
  ansible.builtin.command:
    cmd: /opt/papermerge/.venv/bin/python manage.py update_index
    chdir: /opt/papermerge
  when: restored.reindex_needed

- name: Restore into a PostgreSQL instance configured through the environment, keeping what exists
  papermerge.backup.papermerge_restore:
    project_dir: /opt/papermerge
    environment:
      PAPERMERGE__DATABASE__TYPE: postgres
      PAPERMERGE__DATABASE__HOST: db.example.org
      PAPERMERGE__DATABASE__USER: papermerge
    database:
      password: "{{ vault_papermerge_db_password }}"
    src: /var/backups/papermerge/backup_26_11_2026-02_00_00.tar.gz
    on_conflict: skip
'''

RETURN = r'''
counts:
  description: What was created (in check mode, what would be created), by kind, users, groups, folders, documents,
    versions, pages, tags and files.
  returned: success
  type: dict
  sample: {"users": 2, "groups": 1, "folders": 9, "documents": 12, "versions": 14, "pages": 30, "tags": 4, "files": 130}
skipped_counts:
  description: What was left out because it collides with existing data (O(on_conflict=skip)), same keys as RV(counts).
  returned: success
  type: dict
  sample: {"users": 0, "groups": 0, "folders": 0, "documents": 0, "versions": 0, "pages": 0, "tags": 0, "files": 0}
unchanged_counts:
  description: What the instance already had unchanged (a repeated restore finds everything here), same keys as RV(counts).
  returned: success
  type: dict
  sample: {"users": 0, "groups": 0, "folders": 0, "documents": 0, "versions": 0, "pages": 0, "tags": 0, "files": 0}
conflicts:
  description:
    - One line per collision with existing data; with O(on_conflict=fail) the module fails when it is not empty.
    - At most 1000 lines; text from the archive in them is cut after 200 characters (ending in
      C(...[N more characters])), as in every result and message of the module.
  returned: success, and on failure caused by collisions
  type: list
  elements: str
  sample: ["user alice: a different user of that name exists (id 7f3c..., the archive has 1a60...)"]
replaced_users:
  description:
    - Names of existing users that owned nothing but their C(.home) and C(.inbox) folders and were replaced by the
      archive's user of the same name (in check mode, would be). They are counted in RV(counts) as created users.
  returned: success
  type: list
  elements: str
  sample: ["admin"]
removed:
  description:
    - "O(mode=replace) only (empty otherwise): what was removed because the archive does not hold it (in check mode,
      would be), one line each, as the user knows it: C(user bob, with all they own), C(alice's document
      .home/Drafts/new.pdf), C(alice's folder .home/Drafts, with everything in it), C(alice's tag urgent),
      C(media file docs/...) (files of a removed user or document are not listed one by one)."
    - At most 1000 lines; text from the archive or the instance cut after 200 characters.
  returned: success
  type: list
  elements: str
  sample: ["user bob, with all they own", "alice's document .home/Drafts/new.pdf"]
reverted:
  description:
    - "O(mode=replace) only (empty otherwise): what the archive holds otherwise and was put back as it has it (in
      check mode, would be), with what changed, for example C(alice's document .home/offer.pdf: renamed since the
      backup, the archive has it as .home/quote.pdf) or C(user alice: email, password changed since the backup). A
      changed folder or document is removed and restored from the archive; the files of the archive that the
      instance holds unchanged stay where they are."
    - At most 1000 lines.
  returned: success
  type: list
  elements: str
  sample: ["alice's document .home/offer.pdf: renamed since the backup, the archive has it as .home/quote.pdf"]
removed_counts:
  description:
    - "O(mode=replace) only (zeros otherwise): rows and media files removed (in check mode, would be), by kind, users,
      folders, documents, versions, pages, tags and files. What is put back counts here as removed and in
      RV(counts) as created."
  returned: success
  type: dict
  sample: {"users": 1, "folders": 1, "documents": 2, "versions": 2, "pages": 3, "tags": 1, "files": 9}
reindex_needed:
  description: Whether documents or pages were restored or removed, so the search index must be rebuilt.
  returned: success
  type: bool
  sample: true
papermerge_version:
  description: The Papermerge version that made the archive.
  returned: success
  type: str
  sample: 2.1.5
label:
  description:
    - The label of the host the archive was made on, as recorded in the archive's manifest, else as its generated
      file name says (C(papermerge-<label>-<time>-<version>.tar.gz)).
    - Null for archives that carry none (Papermerge's own backups, archives of collection 0.1.0 under names of
      one's own).
  returned: success
  type: str
  sample: docs01.example.com
instance_version:
  description: The instance's Papermerge version as found on the host, or null when it could not be found.
  returned: success
  type: str
  sample: 2.1.5
verified:
  description:
    - Whether every file was checked against the archive's manifest (size and sha256).
    - V(false) for archives of Papermerge's own backup, which have no manifest (their gzip checksums are still checked).
  returned: success
  type: bool
  sample: true
missing_files:
  description: Document version files backup.json names but the archive does not hold (the backup lacked them too);
    at most 1000.
  returned: success
  type: list
  elements: str
  sample: []
unknown_permissions:
  description: Permissions (C(app_label.codename)) the archive grants that this instance does not have; they were left
    out. At most 1000.
  returned: success
  type: list
  elements: str
  sample: []
check_mode:
  description: Whether this was a check-mode run (nothing written).
  returned: success
  type: bool
  sample: false
checksum_file_verified:
  description:
    - V(true) when a checksum file C(<src>.sha256) (sha256sum format, as M(papermerge.backup.papermerge_backup) writes
      it) sits next to the archive and matches it; null when there is none. A mismatch fails the module.
  returned: success
  type: bool
  sample: true
archive_sha256:
  description: SHA-256 of the archive file, computed while reading it.
  returned: success
  type: str
  sample: 2c26b46b68ffc68ff99b453c1d30413413422d706483bfa0f98a5e886266e7ae
'''

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.papermerge.backup.plugins.module_utils.encryption import identity_argument_spec
from ansible_collections.papermerge.backup.plugins.module_utils.errors import PapermergeBackupError
from ansible_collections.papermerge.backup.plugins.module_utils.instance import instance_argument_spec
from ansible_collections.papermerge.backup.plugins.module_utils.restore import run_restore
from ansible_collections.papermerge.backup.plugins.module_utils.setting_names import (
    name_settings, setting_names_argument_spec)


def argument_spec():
    spec = instance_argument_spec()
    spec.update(setting_names_argument_spec())
    spec.update(identity_argument_spec())
    spec.update(
        src=dict(type='path', required=True),
        on_conflict=dict(type='str', choices=['fail', 'skip'], default='fail'),
        mode=dict(type='str', choices=['merge', 'replace'], default='merge'),
        lock_timeout=dict(type='int', default=600),
        allow_newer_version=dict(type='bool', default=False),
        progress_file=dict(type='path'),
        expected_label=dict(type='str'),
        confirm_label=dict(type='str'),
    )
    return spec


def main():
    module = AnsibleModule(argument_spec=argument_spec(), supports_check_mode=True)
    try:
        result = run_restore(module.params, check_mode=module.check_mode)
    except PapermergeBackupError as error:
        module.fail_json(msg=name_settings(str(error), module.params['setting_names']), **error.details)
    # Ansible reserves "warnings" in results (ansible-core 2.19 deprecates passing them): they go through module.warn().
    for warning in result.pop('warnings', []):
        module.warn(warning)
    module.exit_json(**result)


if __name__ == '__main__':
    main()
