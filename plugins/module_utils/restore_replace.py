# -*- coding: utf-8 -*-
# Copyright: papermerge.backup contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
#
# This module_utils is PRIVATE and should only be used by this collection. Breaking changes can occur any time.
"""Replace mode: what a restore removes so that the instance becomes exactly the archive.

plan_replace() compares the instance with the archive and decides, before anything is written:
- users: a user of the instance whose id and name are not a user of the archive goes, with everything they own;
  a user the archive holds under the same id and name stays, and columns, groups, permissions and preferences
  that differ are set back (update_users, after the rows);
- tags: a tag of a staying user that the archive lacks, or holds with other values, goes;
- folders and documents: a node stays only when the archive holds the same node (user, path, type, id) with the
  same values, tags and, for a document, the same versions and pages, and its folder stays; any other node goes
  with everything below it.  The archive's node is then created again by the ordinary (merge) plan, which sees
  the instance without what goes (make_plan's `replace`), so "changed since the backup" is "removed, then
  restored as the archive has it";
- media files: a file below docs/ or sidecars/ stays only when the archive holds it with the same content;
  the others, and whole folders holding nothing of the archive, are moved aside into the staging directory's
  aside/ (journal: moved_aside) and deleted only with it, after the commit.
Rows go in the restore's transaction (remove_rows), in dependency order; undo and recovery put moved_aside back.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
import stat

from ansible_collections.papermerge.backup.plugins.module_utils.backup_json import node_path, parent_path
from ansible_collections.papermerge.backup.plugins.module_utils.checksum_file import digest_stream
from ansible_collections.papermerge.backup.plugins.module_utils.database import normalize_uuid
from ansible_collections.papermerge.backup.plugins.module_utils.restore_replace_rows import (
    content_changes, instance_nodes, node_changes, remove_rows, tag_changes, update_users, user_changes)

__all__ = ["ReplacePlan", "plan_replace", "remove_rows", "update_users", "move_aside", "existing_document_dirs"]

MEDIA_TOPS = ("docs", "sidecars")
COUNT_KEYS = ("users", "folders", "documents", "versions", "pages", "tags", "files")
CONTENT_BATCH = 200


class ReplacePlan:
    """What a replace removes (ids, as normalize_uuid writes them) and puts back; lines that say it."""

    def __init__(self):
        self.users = set()
        self.nodes = set()
        self.tags = set()
        self.updated_users = []      # (user index, user id) whose row or memberships are set back
        self.special = {}            # user id -> {'.home': id, '.inbox': id} the archive gives a staying user
        self.aside = []              # media names (files, or folders holding nothing of the archive) moved aside
        self.same_files = set()      # archive names the instance holds with the same content
        self.aside_files = set()     # archive names the instance holds with other content (moved aside)
        self.documents = set()       # ids of the instance's documents (their files move in one by one)
        self.removed = []
        self.reverted = []
        self.counts = dict((key, 0) for key in COUNT_KEYS)

    @property
    def changed(self):
        return bool(self.users or self.nodes or self.tags or self.updated_users or self.aside)


def plan_replace(db, backup, contents, media_root, progress=None):
    """Compare the instance with the archive; nothing is written.  Returns a ReplacePlan.  progress
    (progress.Progress) hears how many of the archive's files were compared with the instance's."""
    plan = ReplacePlan()
    users = dict((normalize_uuid(row["id"]), row) for row in db.execute("SELECT * FROM core_user"))
    kept = _plan_users(db, plan, backup, users)
    _plan_tags(db, plan, backup, kept, users)
    _plan_nodes(db, plan, backup, kept, users)
    _plan_media(plan, contents, media_root, progress)
    return plan


def _plan_users(db, plan, backup, users):
    """{archive user index: user id} of the users that stay; the others of the instance go."""
    kept = {}
    archive_names = dict((user["username"], user) for user in backup.users)
    archive_ids = dict((normalize_uuid(user["id"]), user["username"]) for user in backup.users)
    for index, user in enumerate(backup.users):
        user_id = normalize_uuid(user["id"])
        row = users.get(user_id)
        if row is None or row["username"] != user["username"]:
            continue
        kept[index] = user_id
        changes = user_changes(db, row, user)
        if changes:
            plan.updated_users.append((index, user_id))
            plan.reverted.append("user %s: %s changed since the backup" % (user["username"], ", ".join(changes)))
    staying = set(kept.values())
    for user_id in sorted(users, key=lambda key: users[key]["username"]):
        if user_id in staying:
            continue
        name = users[user_id]["username"]
        plan.users.add(user_id)
        plan.counts["users"] += 1
        if user_id in archive_ids:
            plan.reverted.append("user %s: renamed since the backup, the archive has this account as %s" % (
                name, archive_ids[user_id]))
        elif name in archive_names:
            plan.removed.append("user %s (another account than the archive's user of that name), with all they own"
                                % name)
        else:
            plan.removed.append("user %s, with all they own" % name)
    return kept


def _plan_tags(db, plan, backup, kept, users):
    wanted = {}
    for index, user_id in kept.items():
        for tag in backup.users[index].get("tags") or []:
            wanted.setdefault((user_id, tag["name"]), tag)
    for row in db.execute("SELECT * FROM core_tag ORDER BY name"):
        owner, tag_id = normalize_uuid(row["user_id"]), normalize_uuid(row["id"])
        tag = wanted.get((owner, row["name"]))
        if owner in plan.users:
            changes = None
        elif tag is None:
            changes = []
            plan.removed.append("%s's tag %s" % (users[owner]["username"], row["name"]))
        else:
            changes = tag_changes(db, row, tag)
            if changes:
                plan.reverted.append("%s's tag %s: %s changed since the backup" % (
                    users[owner]["username"], row["name"], ", ".join(changes)))
        if changes is None or changes or tag is None:
            plan.tags.add(tag_id)
            plan.counts["tags"] += 1


def _plan_nodes(db, plan, backup, kept, users):
    """Decide every node of the instance: it stays (the archive has it as it is) or goes, with what is below."""
    found = instance_nodes(db, plan.tags)
    plan.documents = set(node_id for node_id, node in found.nodes.items() if node["ctype"] == "document")
    same, reasons, archive_paths = set(), {}, {}
    batch = []
    for index, node in backup.iter_nodes():
        user_id = kept.get(index)
        path = node_path(node)
        if node.get("id"):
            archive_paths[normalize_uuid(node["id"])] = (user_id, path)
        if user_id is None:
            continue
        _note_special(plan, user_id, path, node)
        node_id = found.by_path.get((user_id, path))
        if node_id is None:
            continue
        reason = node_changes(db, found.nodes[node_id], node, found.tags.get(node_id, set()))
        if reason:
            reasons[node_id] = reason
        elif node["ctype"] == "document":
            batch.append((node_id, node))
        else:
            same.add(node_id)
        if len(batch) >= CONTENT_BATCH:
            _compare_contents(db, batch, same, reasons)
    _compare_contents(db, batch, same, reasons)
    _settle_nodes(plan, found, same, reasons, archive_paths, users)


def _note_special(plan, user_id, path, node):
    if path in (".home", ".inbox") and node.get("id"):
        plan.special.setdefault(user_id, {})[path] = normalize_uuid(node["id"])


def _compare_contents(db, batch, same, reasons):
    for node_id, changes in content_changes(db, batch).items():
        if changes:
            reasons[node_id] = "its %s changed since the backup" % ", ".join(changes)
        else:
            same.add(node_id)
    del batch[:]


def _settle_nodes(plan, found, same, reasons, archive_paths, users):
    """Parent first: a node goes when it is not the archive's as it is, or its folder goes."""
    for node_id in sorted(found.nodes, key=lambda key: found.paths[key].count("/")):
        node = found.nodes[node_id]
        parent = normalize_uuid(node["parent_id"])
        owner = normalize_uuid(node["user_id"])
        if node_id in same and owner not in plan.users and parent not in plan.nodes:
            continue
        plan.nodes.add(node_id)
        plan.counts["folders" if node["ctype"] == "folder" else "documents"] += 1
        plan.counts["versions"] += found.versions.get(node_id, 0)
        plan.counts["pages"] += found.pages.get(node_id, 0)
        if owner in plan.users or parent in plan.nodes:
            continue  # said with the user or the folder it is in
        name, path = users[owner]["username"], found.paths[node_id]
        line = _node_line(name, node["ctype"], path, node_id, reasons, archive_paths, owner)
        (plan.reverted if node_id in archive_paths else plan.removed).append(line)


def _node_line(username, ctype, path, node_id, reasons, archive_paths, owner):
    what = "%s's %s %s" % (username, ctype, path)
    if node_id not in archive_paths:
        return what + (", with everything in it" if ctype == "folder" else "")
    archive_owner, archive_path = archive_paths[node_id]
    if archive_owner == owner and archive_path != path:
        moved = parent_path(archive_path) != parent_path(path)
        return "%s: %s since the backup, the archive has it as %s" % (
            what, "moved" if moved else "renamed", archive_path)
    return "%s: %s" % (what, reasons.get(node_id) or "changed since the backup")


def _plan_media(plan, contents, media_root, progress):
    """Every media file the archive does not hold as it is goes aside; a folder holding none of the archive's
    goes aside whole."""
    folders = set()
    for name in contents.files:
        end = name.rfind("/")
        while end > 0 and name[:end] not in folders:
            folders.add(name[:end])
            end = name.rfind("/", 0, end)
    for top in MEDIA_TOPS:
        if os.path.isdir(os.path.join(media_root, top)) and not os.path.islink(os.path.join(media_root, top)):
            _plan_folder(plan, contents.files, folders, media_root, top, progress)


def _plan_folder(plan, files, folders, media_root, name, progress):
    for entry in sorted(os.listdir(os.path.join(media_root, *name.split("/")))):
        child = name + "/" + entry
        path = os.path.join(media_root, *child.split("/"))
        mode = os.lstat(path).st_mode
        if stat.S_ISDIR(mode) and child in folders:
            _plan_folder(plan, files, folders, media_root, child, progress)
        elif stat.S_ISDIR(mode):
            plan.aside.append(child)
            plan.counts["files"] += sum(len(names) for _dir, _subdirs, names in os.walk(path))
            _say_media(plan, child, "media folder %s, which the archive does not have" % child)
        elif child in files and _same_file(path, files[child]):
            plan.same_files.add(child)
            if progress is not None:
                progress.update(len(plan.same_files), 0)
        else:
            plan.aside.append(child)
            plan.counts["files"] += 1
            if child in files:
                plan.aside_files.add(child)
                _say_media(plan, child, "media file %s: its content changed since the backup" % child, True)
            else:
                _say_media(plan, child, "media file %s, which the archive does not have" % child)


def _say_media(plan, name, line, reverted=False):
    """Files of a user or document that goes are said with it."""
    parts = name.split("/")
    for part in parts[1:3]:
        for prefix, ids in (("user_", plan.users), ("document_", plan.nodes)):
            if part.startswith(prefix) and _uuid_or_none(part[len(prefix):]) in ids:
                return
    (plan.reverted if reverted else plan.removed).append(line)


def _uuid_or_none(text):
    try:
        return normalize_uuid(text)
    except ValueError:
        return None


def _same_file(path, member):
    try:
        info = os.lstat(path)
        if not stat.S_ISREG(info.st_mode) or info.st_size != member.size:
            return False
        with open(path, "rb") as handle:
            return digest_stream(handle)[1] == member.sha256
    except (IOError, OSError):
        return False


def existing_document_dirs(plan, members):
    """Folders (relative names) that the files of documents the instance has must not be moved in as whole:
    each such file moves in by itself, so that the journal names it and an undo removes it, although its
    document has rows (the instance's own, the undone restore's are gone)."""
    partial = set()
    for member in members:
        parts = member.name.split("/")
        if len(parts) > 2 and parts[2].startswith("document_") and \
                _uuid_or_none(parts[2][len("document_"):]) in plan.documents:
            for end in range(1, len(parts)):
                partial.add("/".join(parts[:end]))
    return partial


def move_aside(media_root, staging_dir, names):
    """Rename each of names (listed in the journal first) into <staging>/aside/, where it stays until the
    commit (then the staging directory goes) or is put back (restore_journal.undo_journal)."""
    aside = os.path.join(staging_dir, "aside")
    for name in names:
        target = os.path.join(aside, *name.split("/"))
        parent = os.path.dirname(target)
        if not os.path.isdir(parent):
            os.makedirs(parent, 0o700)
        os.rename(os.path.join(media_root, *name.split("/")), target)
