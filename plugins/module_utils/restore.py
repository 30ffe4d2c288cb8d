# -*- coding: utf-8 -*-
# Copyright: papermerge.backup contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Restore an archive into a migrated Papermerge 2.1 instance: all of it, or nothing.

Order of work (DESIGN.md "Data flow"):
1. schema check, then one streaming pass over the archive: every member validated, every file hashed and
   staged in a private directory inside the media root (same filesystem, so moving into place is a rename);
2. manifest checksums, backup.json shape, per-user folders, Papermerge version;
3. a plan: what exists already (same user id and name, same folder path, same document id and path, same
   file content), what would be created, what collides with different data (on_conflict fail: refuse,
   listing the collisions; skip: leave those out, with everything below them);
4. one database transaction with the rows Papermerge's ORM would write, files renamed into place, commit.
Any failure rolls the transaction back and removes every file moved or staged; the staging directory is
always removed.  Check mode stops after 3 (the archive is read without staging) and reports the plan.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import collections
import datetime
import os
import re
import shutil
import stat
import tempfile
import time
import unicodedata
import uuid

from ansible_collections.papermerge.backup.plugins.module_utils import archive_reader
from ansible_collections.papermerge.backup.plugins.module_utils import backup_json
from ansible_collections.papermerge.backup.plugins.module_utils.database import connect, normalize_uuid
from ansible_collections.papermerge.backup.plugins.module_utils.disk import flush_filesystem
from ansible_collections.papermerge.backup.plugins.module_utils.errors import PapermergeBackupError
from ansible_collections.papermerge.backup.plugins.module_utils.instance import find_papermerge_version
from ansible_collections.papermerge.backup.plugins.module_utils.manifest import digest_stream
from ansible_collections.papermerge.backup.plugins.module_utils.schema import check_schema

BATCH_ROWS = 500
CONFLICTS_IN_MESSAGE = 10
HOME_TITLE = ".home"
INBOX_TITLE = ".inbox"
DEFAULT_LANG = "deu"
STAGE_PREFIX = ".papermerge-restore-"
STALE_STAGE_SECONDS = 24 * 3600
_OWNER = re.compile(r"^(?:docs|sidecars)/user_([0-9a-fA-F-]{32,36})/(?:document_([0-9a-fA-F-]{32,36})/)?")
COUNT_KEYS = ("users", "groups", "folders", "documents", "versions", "pages", "tags", "files")


def restore(instance, src, on_conflict="fail", allow_newer_version=False, check_mode=False,
            instance_version=None):
    """Restore the archive src into instance; returns the result dict the module reports."""
    src = _check_source(src)
    media_root = _check_media_root(instance.media_root)
    db = connect(instance.database)
    try:
        check_schema(db)
        work_dir = _make_work_dir(media_root, check_mode)
        try:
            stage_dir = None if check_mode else work_dir
            contents = archive_reader.read_archive(src, stage_dir=stage_dir, spool_dir=work_dir)
            contents.checksum_file = archive_reader.check_checksum_file(src, contents.sha256)
            backup, verified, missing = _validate(contents, allow_newer_version, instance_version)
            plan = make_plan(db, backup, contents, media_root)
            _refuse_conflicts(plan, on_conflict)
            if not check_mode and plan.changed:
                apply_plan(db, plan, backup, media_root, contents)
        finally:
            shutil.rmtree(work_dir, ignore_errors=True)
    finally:
        db.close()
    return _result(plan, backup, contents, verified, missing, check_mode)


def _check_source(src):
    src = os.path.abspath(os.path.expanduser(src))
    if not os.path.isfile(src):
        raise PapermergeBackupError("archive %s does not exist (or is not a file): give src the path of the "
                                    "archive on the host" % src, archive=src)
    return src


def _check_media_root(media_root):
    if not os.path.isdir(media_root):
        raise PapermergeBackupError(
            "media root %s does not exist: create it (owned by the user Papermerge runs as) or point media_root "
            "at the instance's media directory" % media_root, media_root=media_root)
    return os.path.realpath(media_root)


def _make_work_dir(media_root, check_mode):
    # Staging inside the media root keeps the final move a rename on one filesystem; check mode writes
    # nothing there and spools backup.json to the system's temporary directory instead.
    try:
        if check_mode:
            return tempfile.mkdtemp(prefix=STAGE_PREFIX)
        remove_stale_stages(media_root)
        return tempfile.mkdtemp(prefix=STAGE_PREFIX, dir=media_root)
    except (IOError, OSError) as error:
        raise PapermergeBackupError("cannot create a staging directory in %s: %s (is the media root writable by "
                                    "the user running the module?)" % (media_root, error))


def remove_stale_stages(media_root, now=None):
    """Remove staging directories a killed restore left behind (older than STALE_STAGE_SECONDS).

    A restore removes its own staging directory whatever happens, unless the process is killed; such a
    leftover holds only copies of archive files, never anything the instance uses.
    """
    now = time.time() if now is None else now
    removed = []
    for name in os.listdir(media_root):
        path = os.path.join(media_root, name)
        if not name.startswith(STAGE_PREFIX) or os.path.islink(path) or not os.path.isdir(path):
            continue
        if now - os.lstat(path).st_mtime > STALE_STAGE_SECONDS:
            shutil.rmtree(path, ignore_errors=True)
            removed.append(name)
    return removed


def _validate(contents, allow_newer_version, instance_version):
    if contents.backup_json is None:
        raise PapermergeBackupError(
            "the archive has no backup.json member: it is not a Papermerge backup (or is incomplete); nothing "
            "was written")
    verified = archive_reader.verify_manifest(contents)
    backup = backup_json.load(contents.backup_json)
    archive_reader.check_user_folders(contents, [user["username"] for user in backup.users])
    check_version(archive_version(contents, backup), instance_version, allow_newer_version)
    return backup, verified, archive_reader.missing_version_files(contents, backup)


def installed_papermerge_version(instance):
    """The instance's papermerge-core version, or None when it cannot be found."""
    return find_papermerge_version(instance.project_dir)


def archive_version(contents, backup):
    """The Papermerge version that made the archive: the manifest's, else backup.json's."""
    if contents.manifest and contents.manifest.get("papermerge_version"):
        return str(contents.manifest["papermerge_version"])
    return backup.version


def version_tuple(text):
    """(2, 1, 5) for '2.1.5', '2.1.5rc1' or 'v2.1.5'; None when text holds no version."""
    match = re.match(r"^v?(\d+(?:\.\d+)*)", str(text or "").strip())
    if not match:
        return None
    numbers = [int(part) for part in match.group(1).split(".")]
    while len(numbers) < 3:
        numbers.append(0)
    return tuple(numbers)


def check_version(archive, instance, allow_newer):
    """Refuse an archive from a newer Papermerge than the instance's, unless allowed."""
    if allow_newer or not instance:
        return
    made_by, running = version_tuple(archive), version_tuple(instance)
    if made_by is None:
        raise PapermergeBackupError(
            "the archive does not say which Papermerge version made it (backup.json 'version' is %r): set "
            "allow_newer_version=true if you know it is not newer than this instance's %s" % (archive, instance))
    if made_by > running:
        raise PapermergeBackupError(
            "the archive was made by Papermerge %s, newer than this instance's %s: upgrade the instance first, or "
            "set allow_newer_version=true to restore it anyway (its data may not fit the older schema)"
            % (archive, instance), archive_version=archive, instance_version=instance)


# ---------------------------------------------------------------------------------------------------------
# The plan: what exists, what will be created, what collides.


class _Node:
    __slots__ = ("path", "ctype", "id", "status", "user_index", "title", "versions", "pages")

    def __init__(self, path, ctype, node_id, user_index, title):
        self.path = path
        self.ctype = ctype
        self.id = node_id
        self.status = None
        self.user_index = user_index
        self.title = title
        self.versions = 0
        self.pages = 0


class Plan:
    """Decisions for every user, tag, node and file of the archive."""

    def __init__(self):
        self.user_status = []          # per user index: 'new', 'existing' or 'conflict'
        self.user_ids = []             # per user index: canonical UUID string
        self.nodes = []                # per user index: {path: _Node}
        self.tags = []                 # per user index: {name: tag id}
        self.new_tags = []             # (user index, tag dict, tag id, slug)
        self.special = []              # per user index: {'.home': id, '.inbox': id} to set on new users
        self.synthetic = []            # (user index, title, id) special folders the archive lacks
        self.files = []                # Members to move into place
        self.conflicts = []
        self.created = dict((key, 0) for key in COUNT_KEYS)
        self.skipped = dict((key, 0) for key in COUNT_KEYS)
        self.existing = dict((key, 0) for key in COUNT_KEYS)
        self.content_type_id = None
        self.group_ids = {}
        self.permission_ids = {}
        self.new_groups = []
        self.unknown_permissions = []
        self.targets = None

    @property
    def changed(self):
        return any(self.created.values())

    def node_status(self, user_index, path):
        node = self.nodes[user_index].get(path)
        return node.status if node else None


def make_plan(db, backup, contents, media_root):
    """Compare the archive with the instance; nothing is written."""
    plan = Plan()
    users_by_id, users_by_name = _existing_users(db)
    slugs = set(row["slug"] for row in db.execute("SELECT slug FROM core_tag"))
    existing = [_plan_user(db, plan, user, users_by_id, users_by_name) for user in backup.users]
    node_tags = _index_nodes(plan, backup, existing)
    del existing
    for index, user in enumerate(backup.users):
        _plan_tags(db, plan, index, user, node_tags[index], slugs)
    _plan_node_ids(db, plan)
    for index in range(len(backup.users)):
        _settle_nodes(plan, index)
    clashing = _plan_files(plan, contents, media_root)
    if clashing and _demote_documents(plan, clashing):
        # A new document must not come to point at a file someone else left at its path: skip it whole.
        _plan_files(plan, contents, media_root, report=False)
    _plan_groups(db, plan, backup)
    plan.content_type_id = _content_type_id(db)
    return plan


def _plan_groups(db, plan, backup):
    """Groups travel by name (our archives: top-level "groups"), permissions as 'app_label.codename'."""
    plan.group_ids = dict((row["name"], row["id"]) for row in db.execute("SELECT id, name FROM auth_group"))
    plan.permission_ids = dict(("%s.%s" % (row["app_label"], row["codename"]), row["id"]) for row in db.execute(
        "SELECT p.id, c.app_label, p.codename FROM auth_permission p "
        "JOIN django_content_type c ON c.id = p.content_type_id"))
    plan.new_groups = [group for group in backup.extra.get("groups") or []
                       if isinstance(group, dict) and group.get("name") and group["name"] not in plan.group_ids]
    plan.created["groups"] = len(plan.new_groups)
    plan.existing["groups"] = len(backup.extra.get("groups") or []) - len(plan.new_groups)
    plan.unknown_permissions = sorted(set(
        name for group in plan.new_groups for name in group.get("permissions") or []
        if name not in plan.permission_ids) | set(
        name for index, user in enumerate(backup.users) if plan.user_status[index] == "new"
        for name in user.get("permission_names") or [] if name not in plan.permission_ids))


def _existing_users(db):
    by_id, by_name = {}, {}
    for row in db.execute("SELECT id, username FROM core_user"):
        user_id = normalize_uuid(row["id"])
        by_id[user_id] = row["username"]
        by_name[row["username"]] = user_id
    return by_id, by_name


def _plan_user(db, plan, user, users_by_id, users_by_name):
    """Decide a user's status; returns the user's existing nodes by path (empty unless the user exists)."""
    user_id = normalize_uuid(user["id"])
    name = user["username"]
    plan.user_ids.append(user_id)
    plan.special.append({})
    if user_id in users_by_id and users_by_id[user_id] == name:
        status, existing = "existing", _existing_nodes(db, user_id)
    elif user_id in users_by_id:
        status, existing = "conflict", {}
        plan.conflicts.append("user %s: the id %s belongs to the existing user %s" % (
            name, user_id, users_by_id[user_id]))
    elif name in users_by_name:
        status, existing = "conflict", {}
        plan.conflicts.append("user %s: a different user of that name exists (id %s, the archive has %s)" % (
            name, users_by_name[name], user_id))
    else:
        status, existing = "new", {}
    plan.user_status.append(status)
    _count(plan, status, "users")
    plan.nodes.append({})
    return existing


def _existing_nodes(db, user_id):
    """{path: (id, ctype)} of every node the user has, paths built from titles as breadcrumbs are."""
    rows = db.execute("SELECT id, parent_id, title, ctype FROM core_basetreenode WHERE user_id = %s",
                      (db.uuid_param(user_id),))
    by_id = dict((normalize_uuid(row["id"]), row) for row in rows)
    paths = {}

    def path_of(node_id, depth=0):
        if node_id in paths:
            return paths[node_id]
        row = by_id[node_id]
        parent = normalize_uuid(row["parent_id"])
        if parent is None or parent not in by_id or depth > 1000:
            path = row["title"]
        else:
            path = path_of(parent, depth + 1) + "/" + row["title"]
        paths[node_id] = path
        return path

    return dict((path_of(node_id), (node_id, by_id[node_id]["ctype"])) for node_id in by_id)


def _index_nodes(plan, backup, existing):
    """One pass over the nodes: a small _Node per node, matched against the user's existing nodes.

    Returns, per user, the tags nodes carry that the user's own tag list lacks (first occurrence wins).
    """
    node_tags = [{} for _user in backup.users]
    for index, node in backup.iter_nodes():
        nodes = plan.nodes[index]
        path = backup_json.node_path(node)
        if path in nodes:
            raise PapermergeBackupError(
                "the archive's backup.json lists %r twice for user %s: it is damaged; nothing was written"
                % (node["breadcrumb"], backup.users[index]["username"]))
        node_id = normalize_uuid(node["id"]) if node.get("id") else None
        entry = _Node(path, node["ctype"], node_id, index, node["title"])
        entry.versions = len(node.get("versions") or [])
        entry.pages = sum(len(v.get("pages") or []) for v in node.get("versions") or [])
        if plan.user_status[index] == "conflict":
            entry.status = "skip"
        elif path in existing[index]:
            _match_existing(entry, existing[index][path])
        nodes[path] = entry
        for tag in node.get("tags") or []:
            node_tags[index].setdefault(tag["name"], tag)
    return node_tags


def _match_existing(entry, found):
    found_id, found_ctype = found
    if found_ctype != entry.ctype:
        entry.status = "conflict:an existing %s has the same path" % found_ctype
    elif entry.ctype == "folder":
        entry.status, entry.id = "existing", found_id
    elif entry.id == found_id:
        entry.status = "existing"
    else:
        entry.status = "conflict:a different document (id %s) has the same path" % found_id


def _plan_node_ids(db, plan):
    """Archive ids of nodes still undecided must not be in use by any other node."""
    wanted = {}
    for nodes in plan.nodes:
        for entry in nodes.values():
            if entry.status is None and entry.id:
                if entry.id in wanted:
                    raise PapermergeBackupError(
                        "the archive's backup.json uses the node id %s twice: it is damaged; nothing was written"
                        % entry.id)
                wanted[entry.id] = entry
    taken = _ids_in_use(db, "core_basetreenode", list(wanted))
    for node_id in taken:
        wanted[node_id].status = "conflict:its id %s is used by another node of the instance" % node_id


def _ids_in_use(db, table, ids):
    taken = set()
    for start in range(0, len(ids), BATCH_ROWS):
        chunk = ids[start:start + BATCH_ROWS]
        marks = ", ".join(["%s"] * len(chunk))
        for row in db.execute("SELECT id FROM %s WHERE id IN (%s)" % (table, marks),
                              [db.uuid_param(i) for i in chunk]):
            taken.add(normalize_uuid(row["id"]))
    return taken


def _settle_nodes(plan, index):
    """Decide the undecided nodes parent-first: below a skipped or conflicting folder everything is skipped."""
    nodes = plan.nodes[index]
    username = plan.user_ids[index]
    for path in sorted(nodes, key=lambda p: p.count("/")):
        entry = nodes[path]
        parent = backup_json.parent_path(path)
        parent_entry = nodes.get(parent) if parent else None
        if parent is not None and parent_entry is None:
            raise PapermergeBackupError(
                "the archive's backup.json lists %r but not its folder %r (user id %s): it is damaged; nothing "
                "was written" % (path, parent, username))
        if parent_entry is not None and parent_entry.ctype != "folder":
            raise PapermergeBackupError(
                "the archive's backup.json puts %r inside a document: it is damaged; nothing was written" % path)
        if parent_entry is not None and parent_entry.status in ("skip", "conflict") and entry.status != "skip":
            entry.status = "skip"
        if entry.status and entry.status.startswith("conflict:"):
            plan.conflicts.append("%s %s of user id %s: %s" % (entry.ctype, path, username, entry.status[9:]))
            entry.status = "conflict"
        if entry.status is None:
            entry.status = "new"
            entry.id = entry.id or str(uuid.uuid4())
        _count_node(plan, entry)
    _plan_special_folders(plan, index)


def _count_node(plan, entry):
    status = {"new": "new", "existing": "existing"}.get(entry.status, "conflict")
    _count(plan, status, "folders" if entry.ctype == "folder" else "documents")
    if entry.ctype == "document":
        _count(plan, status, "versions", entry.versions)
        _count(plan, status, "pages", entry.pages)


def _count(plan, status, key, amount=1):
    target = {"new": plan.created, "existing": plan.existing}.get(status, plan.skipped)
    target[key] += amount


def _plan_special_folders(plan, index):
    # Papermerge creates .inbox and .home with every user (post_save signal) and points the user at them.
    if plan.user_status[index] != "new":
        return
    for title in (INBOX_TITLE, HOME_TITLE):
        entry = plan.nodes[index].get(title)
        # An archive folder left out (on_conflict=skip: its id belongs to another node) must not become the
        # user's home or inbox: that id names someone else's folder. The user gets a new one instead.
        if entry is None or entry.status != "new":
            folder_id = str(uuid.uuid4())
            plan.synthetic.append((index, title, folder_id))
            plan.created["folders"] += 1
        else:
            folder_id = entry.id
        plan.special[index][title] = folder_id


def _plan_tags(db, plan, index, user, node_tags, slugs):
    existing = {}
    if plan.user_status[index] == "existing":
        for row in db.execute("SELECT id, name FROM core_tag WHERE user_id = %s",
                              (db.uuid_param(plan.user_ids[index]),)):
            existing[row["name"]] = normalize_uuid(row["id"])
    plan.tags.append(existing)
    if plan.user_status[index] == "conflict":
        plan.skipped["tags"] += len(user.get("tags") or [])
        return
    for tag in _all_tags(user, node_tags):
        if tag["name"] in existing:
            plan.existing["tags"] += 1
            continue
        tag_id = _free_tag_id(db, tag.get("id"))
        slug = tag["slug"] if tag.get("slug") and tag["slug"] not in slugs else unique_slug(tag["name"], slugs)
        slugs.add(slug)
        existing[tag["name"]] = tag_id
        plan.new_tags.append((index, tag, tag_id, slug))
        plan.created["tags"] += 1


def _free_tag_id(db, archive_id):
    """The archive's tag id (our archives carry it) unless another tag has it; a new one otherwise."""
    try:
        wanted = normalize_uuid(archive_id) if archive_id else None
    except ValueError:
        wanted = None
    if wanted and not _ids_in_use(db, "core_tag", [wanted]):
        return wanted
    return str(uuid.uuid4())


def _all_tags(user, node_tags):
    """The user's tags, then any tag a node carries that the user's list lacks (first occurrence wins)."""
    seen = set()
    for tag in list(user.get("tags") or []):
        if tag["name"] not in seen:
            seen.add(tag["name"])
            yield tag
    for name in sorted(node_tags):
        if name not in seen:
            seen.add(name)
            yield node_tags[name]


def slugify(value):
    """django.utils.text.slugify(value, allow_unicode=True), which django-taggit uses for tag slugs."""
    value = unicodedata.normalize("NFKC", str(value))
    value = re.sub(r"[^\w\s-]", "", value.lower())
    return re.sub(r"[-\s]+", "-", value).strip("-_")


def unique_slug(name, taken):
    """taggit's rule: the slug of the name, or slug_1, slug_2 ... when the slug is taken."""
    slug = slugify(name)
    if slug not in taken:
        return slug
    counter = 1
    while "%s_%d" % (slug, counter) in taken:
        counter += 1
    return "%s_%d" % (slug, counter)


def _plan_files(plan, contents, media_root, report=True):
    """Sort every file into plan.files (to place), existing, skipped; returns the document ids whose files
    collide with different content."""
    for counts in (plan.created, plan.existing, plan.skipped):
        counts["files"] = 0
    plan.files = []
    skipped_users = set(plan.user_ids[i] for i, s in enumerate(plan.user_status) if s == "conflict")
    skipped_docs = set(entry.id for nodes in plan.nodes for entry in nodes.values()
                       if entry.ctype == "document" and entry.status in ("skip", "conflict") and entry.id)
    targets = plan.targets = MediaTargets(media_root)
    clashing = set()
    for name in sorted(contents.files):
        member = contents.files[name]
        if _owned_by(name, skipped_users, skipped_docs):
            plan.skipped["files"] += 1
            continue
        target, in_missing_dir = targets.locate(name)
        state = "absent" if in_missing_dir else _file_state(target, member)
        if state == "same":
            plan.existing["files"] += 1
        elif state == "absent":
            plan.files.append(member)
            plan.created["files"] += 1
        else:
            if report:
                plan.conflicts.append("media file %s exists with different content (never overwritten)" % name)
            plan.skipped["files"] += 1
            clashing.add(_document_of(name))
    clashing.discard(None)
    return clashing


def _demote_documents(plan, document_ids):
    """Turn new documents with clashing files into skipped ones; True when any was new."""
    demoted = False
    for nodes in plan.nodes:
        for entry in nodes.values():
            if entry.ctype == "document" and entry.status == "new" and entry.id in document_ids:
                for key, amount in (("documents", 1), ("versions", entry.versions), ("pages", entry.pages)):
                    plan.created[key] -= amount
                    plan.skipped[key] += amount
                entry.status = "conflict"
                demoted = True
    return demoted


def _document_of(name):
    match = _OWNER.match(name)
    return _uuid_or_none(match.group(2)) if match else None


def _owned_by(name, skipped_users, skipped_docs):
    match = _OWNER.match(name)
    if not match:
        return False
    user_id = _uuid_or_none(match.group(1))
    doc_id = _uuid_or_none(match.group(2))
    return user_id in skipped_users or (doc_id is not None and doc_id in skipped_docs)


def _uuid_or_none(text):
    try:
        return normalize_uuid(text) if text else None
    except ValueError:
        return None


class MediaTargets:
    """Paths in the media root for docs/ and sidecars/ members, refusing any that resolves outside it.

    Names are asked for in sorted order (tens of thousands of files in thousands of folders), so the folders
    checked last are the ones asked about next: only the most recent RECENT are remembered, which spares nearly
    every repeated check while memory stays flat.  A folder found missing tells that the files in it are absent
    without asking the disk.
    """

    RECENT = 64

    def __init__(self, media_root):
        self.media_root = media_root
        self.recent = collections.OrderedDict()  # directory -> True when it is missing

    def path(self, name):
        return self.locate(name)[0]

    def locate(self, name):
        """(path in the media root, True when its directory does not exist yet)."""
        target = os.path.join(self.media_root, *name.split("/"))
        return target, self._missing(os.path.dirname(target), name)

    def _missing(self, directory, name):
        known = self.recent.get(directory)
        if known is not None:
            self.recent.move_to_end(directory)
            return known
        # What counts is the nearest directory that exists: a missing one is only as safe as its parent.
        if directory != self.media_root and not os.path.lexists(directory):
            self._missing(os.path.dirname(directory), name)
            missing = True
        else:
            resolved = os.path.realpath(directory)
            if resolved != self.media_root and not resolved.startswith(self.media_root + os.sep):
                raise PapermergeBackupError(
                    "media file %s would be written through %s, which resolves outside the media root %s: remove "
                    "that symlink or give media_root the real directory; nothing was written"
                    % (name, directory, self.media_root), member=name)
            missing = False
        self.recent[directory] = missing
        if len(self.recent) > self.RECENT:
            self.recent.popitem(last=False)
        return missing


def _file_state(target, member):
    try:
        info = os.lstat(target)
    except OSError:
        return "absent"
    if not stat.S_ISREG(info.st_mode) or info.st_size != member.size:
        return "different"  # a symlink, a folder or another size: never replaced
    try:
        with open(target, "rb") as handle:
            digest = digest_stream(handle)[1]
    except (IOError, OSError):
        return "different"  # unreadable: it cannot be shown to be the same, so it is a collision
    return "same" if digest == member.sha256 else "different"


def _content_type_id(db):
    return db.scalar("SELECT id FROM django_content_type WHERE app_label = %s AND model = %s",
                     ("core", "basetreenode"))


def _refuse_conflicts(plan, on_conflict):
    if not plan.conflicts or on_conflict == "skip":
        return
    shown = "; ".join(plan.conflicts[:CONFLICTS_IN_MESSAGE])
    more = len(plan.conflicts) - CONFLICTS_IN_MESSAGE
    raise PapermergeBackupError(
        "the archive collides with existing data (%d collision%s): %s%s. Nothing was written: restore into an "
        "empty instance, remove the colliding data, or set on_conflict=skip to restore everything else"
        % (len(plan.conflicts), "" if len(plan.conflicts) == 1 else "s", shown,
           " (and %d more)" % more if more > 0 else ""), conflicts=plan.conflicts)


# ---------------------------------------------------------------------------------------------------------
# Applying the plan: one transaction, files moved before the commit and removed again on any failure.


def apply_plan(db, plan, backup, media_root, contents):
    moved = _MovedFiles(media_root)
    try:
        with db.write_transaction():
            writer = _RowWriter(db)
            _insert_rows(db, writer, plan, backup)
            writer.flush()
            _point_users_at_special_folders(db, plan)
            moved.move_all(plan.files, plan.targets, _partial_dirs(plan, contents))
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


def _insert_rows(db, writer, plan, backup):
    if plan.content_type_id is None and (plan.created["documents"] or plan.created["folders"]):
        db.execute("INSERT INTO django_content_type (app_label, model) VALUES (%s, %s)", ("core", "basetreenode"))
        plan.content_type_id = _content_type_id(db)
    _insert_groups(db, plan)
    for index, user in enumerate(backup.users):
        if plan.user_status[index] == "new":
            writer.add("core_user", _user_row(db, user))
            _add_memberships(db, writer, plan, user)
    for index, tag, tag_id, slug in plan.new_tags:
        writer.add("core_tag", _tag_row(db, plan.user_ids[index], tag, tag_id, slug))
    for index, title, folder_id in plan.synthetic:
        _add_node(db, writer, plan, index, dict(title=title, ctype="folder", breadcrumb=title + "/"), folder_id)
    for index, node in backup.iter_nodes():
        if plan.user_status[index] == "conflict":
            continue
        entry = plan.nodes[index][backup_json.node_path(node)]
        if entry.status == "new":
            _add_node(db, writer, plan, index, node, entry.id)


def _add_node(db, writer, plan, index, node, node_id):
    user_id = plan.user_ids[index]
    path = backup_json.node_path(node)
    parent = backup_json.parent_path(path)
    parent_id = plan.nodes[index][parent].id if parent else None
    now = _now()
    writer.add("core_basetreenode", dict(
        id=db.uuid_param(node_id), title=node["title"], lang=node.get("lang") or DEFAULT_LANG,
        created_at=db_datetime(db, node.get("created_at"), now), updated_at=db_datetime(db, node.get("updated_at"), now),
        user_id=db.uuid_param(user_id), ctype=node["ctype"],
        parent_id=db.uuid_param(parent_id) if parent_id else None))
    if node["ctype"] == "folder":
        writer.add("core_folder", dict(basetreenode_ptr_id=db.uuid_param(node_id)))
    else:
        writer.add("core_document", dict(
            basetreenode_ptr_id=db.uuid_param(node_id), ocr=db_bool(db, node.get("ocr", True)),
            ocr_status=node.get("ocr_status") or "unknown"))
        for version in node.get("versions") or []:
            _add_version(db, writer, node_id, node, version)
    for tag in node.get("tags") or []:
        writer.add("core_coloredtag", dict(
            object_id=db.uuid_param(node_id), content_type_id=plan.content_type_id,
            tag_id=db.uuid_param(plan.tags[index][tag["name"]])))


def _add_version(db, writer, document_id, node, version):
    version_id = normalize_uuid(version["id"]) if version.get("id") else str(uuid.uuid4())
    lang = version.get("lang") or node.get("lang") or DEFAULT_LANG
    writer.add("core_documentversion", dict(
        id=db.uuid_param(version_id), lang=lang, number=version["number"], file_name=version.get("file_name"),
        size=int(version.get("size") or 0), page_count=int(version.get("page_count") or 0),
        short_description=version.get("short_description") or "", text=version.get("text") or "",
        document_id=db.uuid_param(document_id)))
    for page in version.get("pages") or []:
        page_id = normalize_uuid(page["id"]) if page.get("id") else str(uuid.uuid4())
        writer.add("core_page", dict(
            id=db.uuid_param(page_id), number=page["number"], page_count=int(page.get("page_count") or 0),
            text=page.get("text") or "", norm_doc_title=page.get("norm_doc_title") or "",
            norm_folder_title=page.get("norm_folder_title") or "", norm_breadcrump=page.get("norm_breadcrump") or "",
            norm_text=page.get("norm_text") or "", lang=page.get("lang") or lang, image=page.get("image") or "",
            document_version_id=db.uuid_param(version_id)))


def _insert_groups(db, plan):
    for group in plan.new_groups:
        db.execute("INSERT INTO auth_group (name) VALUES (%s)", (group["name"],))
        group_id = db.scalar("SELECT id FROM auth_group WHERE name = %s", (group["name"],))
        plan.group_ids[group["name"]] = group_id
        for name in sorted(set(group.get("permissions") or [])):
            if name in plan.permission_ids:
                db.execute("INSERT INTO auth_group_permissions (group_id, permission_id) VALUES (%s, %s)",
                           (group_id, plan.permission_ids[name]))


def _add_memberships(db, writer, plan, user):
    user_id = db.uuid_param(user["id"])
    for name in sorted(set(user.get("group_names") or [])):
        if name in plan.group_ids:
            writer.add("core_user_groups", dict(user_id=user_id, group_id=plan.group_ids[name]))
    for name in sorted(set(user.get("permission_names") or [])):
        if name in plan.permission_ids:
            writer.add("core_user_user_permissions", dict(user_id=user_id, permission_id=plan.permission_ids[name]))
    for section, name, raw_value in _preferences(user.get("preferences")):
        writer.add("dynamic_preferences_users_userpreferencemodel", dict(
            section=section, name=name, raw_value=raw_value, instance_id=user_id))


def _preferences(value):
    """(section, name, raw_value) from [{"section", "name", "raw_value"}] or {"section__name": raw_value}."""
    if isinstance(value, dict):
        for key in sorted(value):
            section, name = (str(key).split("__", 1) + [""])[:2]
            yield (section, name, value[key]) if name else (None, section, value[key])
    elif isinstance(value, list):
        for item in value:
            if isinstance(item, dict) and item.get("name"):
                yield item.get("section"), item["name"], item.get("raw_value")


def _user_row(db, user):
    now = _now()
    return dict(
        id=db.uuid_param(user["id"]), password=user["password"],
        last_login=db_datetime(db, user.get("last_login"), None),
        is_superuser=db_bool(db, user.get("is_superuser", False)), username=user["username"],
        first_name=user.get("first_name") or "", last_name=user.get("last_name") or "",
        email=user.get("email") or "", is_staff=db_bool(db, user.get("is_staff", False)),
        is_active=db_bool(db, user.get("is_active", True)),
        date_joined=db_datetime(db, user.get("date_joined"), now),
        created_at=db_datetime(db, user.get("created_at"), now), updated_at=db_datetime(db, user.get("updated_at"), now),
        home_folder_id=None, inbox_folder_id=None)


def _tag_row(db, user_id, tag, tag_id, slug):
    return dict(
        id=db.uuid_param(tag_id), bg_color=tag.get("bg_color") or "#c41fff", fg_color=tag.get("fg_color") or "#FFFFFF",
        description=tag.get("description"), pinned=db_bool(db, tag.get("pinned", False)), name=tag["name"],
        user_id=db.uuid_param(user_id), slug=slug)


def _point_users_at_special_folders(db, plan):
    for index, special in enumerate(plan.special):
        if special:
            db.execute("UPDATE core_user SET home_folder_id = %s, inbox_folder_id = %s WHERE id = %s", (
                db.uuid_param(special[HOME_TITLE]), db.uuid_param(special[INBOX_TITLE]),
                db.uuid_param(plan.user_ids[index])))


class _RowWriter:
    """Buffers rows per table and inserts them with executemany, in dependency order at every flush."""

    ORDER = ("core_user", "core_user_groups", "core_user_user_permissions",
             "dynamic_preferences_users_userpreferencemodel", "core_tag", "core_basetreenode", "core_folder",
             "core_document", "core_documentversion", "core_page", "core_coloredtag")

    def __init__(self, db):
        self.db = db
        self.rows = dict((table, []) for table in self.ORDER)
        self.pending = 0

    def add(self, table, row):
        self.rows[table].append(row)
        self.pending += 1
        if self.pending >= BATCH_ROWS:
            self.flush()

    def flush(self):
        for table in self.ORDER:
            rows = self.rows[table]
            if not rows:
                continue
            columns = list(rows[0])
            values = [[row[c] for c in columns] for row in rows]
            if not self._insert_values(table, columns, values):
                sql = "INSERT INTO %s (%s) VALUES (%s)" % (
                    table, ", ".join(columns), ", ".join(["%s"] * len(columns)))
                self.db.executemany(sql, values)
            del rows[:]
        self.pending = 0

    def _insert_values(self, table, columns, values):
        """One multi-row INSERT per batch with psycopg2 (its executemany makes a round trip per row)."""
        if getattr(self.db, "driver_name", None) != "psycopg2":
            return False
        from psycopg2.extras import execute_values
        cursor = self.db.connection.cursor()
        try:
            execute_values(cursor, "INSERT INTO %s (%s) VALUES %%s" % (table, ", ".join(columns)), values,
                           page_size=BATCH_ROWS)
        except Exception as error:
            raise PapermergeBackupError("inserting into %s failed: %s" % (table, str(error).strip()))
        finally:
            cursor.close()
        return True


def _partial_dirs(plan, contents):
    """Directories (relative names) holding a staged file that is not to be placed (skipped or existing).

    Usually none: memory grows with what is left out, not with the size of the archive.
    """
    placed = set(id(member) for member in plan.files)
    partial = set()
    for name, member in contents.files.items():
        if member.stage_dir is None or id(member) in placed:
            continue
        end = name.rfind("/")
        while end > 0:
            partial.add(name[:end])
            end = name.rfind("/", 0, end)
    return partial


class _MovedFiles:
    """Moves staged files into the media root and remembers what it did, to undo it on failure."""

    def __init__(self, media_root):
        self.media_root = media_root
        self.files = []
        self.trees = []                # (target, staged) directories moved whole
        self.count = 0
        self.dirs = []
        self.known_dirs = set()
        owner = _owner_of(media_root)
        # Files restored as root must still belong to the user Papermerge runs as (the media root's owner).
        self.owner = owner if owner and hasattr(os, "geteuid") and owner != (os.geteuid(), os.getegid()) else None

    def move_all(self, members, targets, partial_dirs):
        """Place members (staged as a tree; sorted by name, so the files below one directory come one after
        the other): a directory missing from the media root all of whose staged files are to be placed is moved
        with one rename; other files one by one."""
        present = set()
        index = 0
        while index < len(members):
            member = members[index]
            directory = self._new_tree_of(member, partial_dirs, present)
            if directory is None:
                self.move(member, targets.path(member.name))
                index += 1
                continue
            end = index + 1
            while end < len(members) and members[end].name.startswith(directory + "/"):
                end += 1
            staged = os.path.join(member.stage_dir, *directory.split("/"))
            self._move_tree(staged, targets.path(directory), directory, end - index)
            index = end

    def _new_tree_of(self, member, partial_dirs, present):
        """The topmost directory of member's name that the media root lacks and that is restored whole, or None."""
        parts = member.name.split("/")
        for end in range(1, len(parts)):
            directory = "/".join(parts[:end])
            if directory in present:
                continue
            if os.path.lexists(os.path.join(self.media_root, *parts[:end])):
                present.add(directory)
                continue
            if directory not in partial_dirs:
                return directory
            # missing, but not all of it is restored: a directory below may be
        return None

    def _move_tree(self, staged, target, name, count):
        self._make_dirs(os.path.dirname(target))
        if self.owner:
            for root, _subdirs, files in os.walk(staged):
                for entry in [root] + [os.path.join(root, f) for f in files]:
                    os.lchown(entry, self.owner[0], self.owner[1])
        # rename() refuses a target that is a file, a symlink or a non-empty directory, so nothing that
        # appeared since the plan is overwritten (an empty directory made meanwhile is replaced: it held nothing).
        try:
            os.rename(staged, target)
        except OSError:
            if os.path.lexists(target):
                raise PapermergeBackupError("media folder %s appeared while restoring; it was not overwritten"
                                            % name, member=name)
            raise
        self.trees.append((target, staged))
        self.count += count

    def move(self, member, target):
        self._make_dirs(os.path.dirname(target))
        self._place(member.staged, target, member.name)
        self.files.append(target)
        self.count += 1
        if self.owner:
            os.lchown(target, self.owner[0], self.owner[1])

    @staticmethod
    def _place(staged, target, name):
        # link() never replaces an existing file (rename() would): a file that appeared since the plan is
        # a collision, not something to overwrite.  Filesystems without hard links fall back to rename().
        try:
            os.link(staged, target)
        except FileExistsError:
            raise PapermergeBackupError("media file %s appeared while restoring; it was not overwritten" % name,
                                        member=name)
        except OSError:
            if os.path.lexists(target):
                raise PapermergeBackupError("media file %s appeared while restoring; it was not overwritten"
                                            % name, member=name)
            os.rename(staged, target)
            return
        os.unlink(staged)

    def _make_dirs(self, directory):
        if directory in self.known_dirs:
            return
        missing = []
        while directory not in self.known_dirs and not os.path.isdir(directory):
            missing.append(directory)
            directory = os.path.dirname(directory)
        for path in reversed(missing):
            os.mkdir(path, 0o755)
            self.dirs.append(path)
            if self.owner:
                os.lchown(path, self.owner[0], self.owner[1])
        self.known_dirs.update(missing)
        self.known_dirs.add(directory)

    def undo(self):
        for target, staged in reversed(self.trees):
            try:
                os.rename(target, staged)  # back into the staging directory, which is removed afterwards
            except OSError:
                pass
        for path in reversed(self.files):
            try:
                os.unlink(path)
            except OSError:
                pass
        for path in reversed(self.dirs):
            try:
                os.rmdir(path)
            except OSError:
                pass


def _owner_of(path):
    try:
        info = os.stat(path)
    except OSError:
        return None
    return info.st_uid, info.st_gid


# ---------------------------------------------------------------------------------------------------------
# Values as each engine stores them (what Django would write).


def parse_datetime(value):
    """Aware UTC datetime from an ISO 8601 string (Papermerge writes '2026-11-26T16:40:22.9+01:00'); naive
    strings are UTC (SQLite stores UTC without offset)."""
    if value is None or value == "":
        return None
    if isinstance(value, datetime.datetime):
        parsed = value
    else:
        text = str(value).strip().replace(" ", "T", 1)
        if text.endswith("Z") or text.endswith("z"):
            text = text[:-1] + "+00:00"
        match = re.match(r"^(.*T\d\d:\d\d:\d\d)(\.\d+)?([+-]\d\d:?\d\d)?$", text)
        if not match:
            raise PapermergeBackupError("the archive's backup.json has an unreadable date %r" % value)
        base, fraction, offset = match.groups()
        fraction = (fraction or ".0")[1:7].ljust(6, "0")
        offset = offset.replace(":", "") if offset else ""
        text = base + "." + fraction + (offset[:3] + ":" + offset[3:] if offset else "")
        try:
            parsed = datetime.datetime.fromisoformat(text)
        except ValueError:
            raise PapermergeBackupError("the archive's backup.json has an unreadable date %r" % value)
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=_UTC)
    return parsed.astimezone(_UTC)


_UTC = datetime.timezone.utc


def _now():
    return datetime.datetime.now(_UTC)


def db_datetime(db, value, default):
    parsed = parse_datetime(value)
    if parsed is None:
        parsed = default
    if parsed is None:
        return None
    if db.engine == "sqlite":
        # Django's SQLite backend stores naive UTC as str(datetime): '2026-11-26 15:40:22.857647'
        return str(parsed.replace(tzinfo=None))
    return parsed


def db_bool(db, value):
    value = bool(value)
    return int(value) if db.engine == "sqlite" else value


# ---------------------------------------------------------------------------------------------------------


def _result(plan, backup, contents, verified, missing, check_mode):
    return dict(
        changed=plan.changed,
        counts=plan.created,
        # "skipped" is reserved in Ansible results (it marks a skipped task)
        skipped_counts=plan.skipped,
        unchanged_counts=plan.existing,
        conflicts=plan.conflicts,
        reindex_needed=plan.created["documents"] > 0 or plan.created["pages"] > 0,
        papermerge_version=archive_version(contents, backup),
        archive_sha256=contents.sha256,
        checksum_file_verified=contents.checksum_file,
        verified=verified,
        missing_files=missing,
        unknown_permissions=plan.unknown_permissions,
        check_mode=check_mode,
    )
