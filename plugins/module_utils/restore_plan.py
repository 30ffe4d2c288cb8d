# -*- coding: utf-8 -*-
# Copyright: papermerge.backup contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
#
# This module_utils is PRIVATE and should only be used by this collection. Breaking changes can occur any time.
"""A restore's plan: the archive compared with the instance, before anything is written.

For every user, tag, folder, document and media file: what exists already (same user id and name, same folder
path, same document id and path, same file content), what would be created, and what collides with different
data.  Collisions are listed (refuse_conflicts() refuses them for on_conflict=fail); with on_conflict=skip they
are left out with everything below them: a user's data, a folder's contents, a document whose file path holds
other content.

Collisions are told as the user knows the data: usernames and folder paths, never ids alone; a user, folder or
document whose id the instance has under another name or path was "renamed (or moved) since the backup".

A user of the archive whose name an existing user with another id has is not a collision when that existing user
owns nothing but the .home and .inbox folders Papermerge gives every user (no other node, no tag): a fresh
instance's superuser, made by the image's `init` before anyone restores.  That user is replaced by the archive's
(plan.replaced_users; restore_rows removes it in the restore's transaction).

In replace mode (restore_replace) the plan is made of the instance as it will be once what the replace removes
is gone: those users, nodes and tags are not seen (plan.hidden), the media files it moves aside are absent and
those it found the same are not read again.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
import re
import stat
import unicodedata
import uuid

from ansible_collections.papermerge.backup.plugins.module_utils.backup_json import node_path, parent_path
from ansible_collections.papermerge.backup.plugins.module_utils.checksum_file import digest_stream
from ansible_collections.papermerge.backup.plugins.module_utils.database import normalize_uuid
from ansible_collections.papermerge.backup.plugins.module_utils.errors import CONFLICT_CHARS, PapermergeBackupError, listed
from ansible_collections.papermerge.backup.plugins.module_utils.media_placement import MediaTargets
from ansible_collections.papermerge.backup.plugins.module_utils.setting_names import setting

BATCH_ROWS = 500
CONFLICTS_IN_MESSAGE = 10
HOME_TITLE = ".home"
INBOX_TITLE = ".inbox"
_OWNER = re.compile(r"^(?:docs|sidecars)/user_([0-9a-fA-F-]{32,36})/(?:document_([0-9a-fA-F-]{32,36})/)?")
COUNT_KEYS = ("users", "groups", "folders", "documents", "versions", "pages", "tags", "files")


class Node:
    """One folder or document of the archive as planned (tens of thousands of them: kept small).

    status: None while undecided, then 'new', 'existing', 'skip' (below something left out) or 'conflict';
    id: the archive's id, the existing node's for an existing folder, a new one for a new node without one.
    """

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
        self.usernames = []            # per user index: the archive's username
        self.nodes = []                # per user index: {path: Node}
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
        self.replaced_users = []       # {'id', 'username'} of existing users the archive's users replace
        self.hidden = _NOTHING_HIDDEN  # what a replace removes: not seen (restore_replace.ReplacePlan)
        self.replace = None            # that ReplacePlan (restore.py sets it), None in merge mode

    @property
    def changed(self):
        return any(self.created.values())

    def node_status(self, user_index, path):
        node = self.nodes[user_index].get(path)
        return node.status if node else None


class _NothingHidden:
    users = nodes = tags = same_files = aside_files = frozenset()


_NOTHING_HIDDEN = _NothingHidden()


def make_plan(db, backup, contents, media_root, progress=None, replace=None):
    """Compare the archive with the instance; nothing is written.  progress (progress.Progress) hears how many
    of the archive's files were compared with the media root.  replace: a restore_replace.ReplacePlan, whose
    removals the plan takes as done."""
    plan = Plan()
    plan.hidden = replace or _NOTHING_HIDDEN
    users_by_id, users_by_name = _existing_users(db, plan.hidden.users)
    slugs = set(row["slug"] for row in db.execute("SELECT id, slug FROM core_tag")
                if normalize_uuid(row["id"]) not in plan.hidden.tags)
    existing = [_plan_user(db, plan, user, users_by_id, users_by_name) for user in backup.users]
    node_tags = _index_nodes(plan, backup, existing)
    del existing
    for index, user in enumerate(backup.users):
        _plan_tags(db, plan, index, user, node_tags[index], slugs)
    _plan_node_ids(db, plan)
    for index in range(len(backup.users)):
        _settle_nodes(plan, index)
    clashing = _plan_files(plan, contents, media_root, progress=progress)
    if clashing and _demote_documents(plan, clashing):
        # A new document must not come to point at a file someone else left at its path: skip it whole.
        _plan_files(plan, contents, media_root, report=False)
    _plan_groups(db, plan, backup)
    plan.content_type_id = content_type_id(db)
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


def _existing_users(db, hidden):
    by_id, by_name = {}, {}
    for row in db.execute("SELECT id, username FROM core_user"):
        user_id = normalize_uuid(row["id"])
        if user_id in hidden:
            continue
        by_id[user_id] = row["username"]
        by_name[row["username"]] = user_id
    return by_id, by_name


def _plan_user(db, plan, user, users_by_id, users_by_name):
    """Decide a user's status; returns the user's existing nodes by path (empty unless the user exists)."""
    user_id = normalize_uuid(user["id"])
    name = user["username"]
    plan.user_ids.append(user_id)
    plan.usernames.append(name)
    plan.special.append({})
    if user_id in users_by_id and users_by_id[user_id] == name:
        status, existing = "existing", _existing_nodes(db, user_id, plan.hidden.nodes)
    elif user_id in users_by_id:
        # One id, one account: the archive's user is the instance's, under another name now.
        status, existing = "conflict", {}
        plan.conflicts.append("user %s was renamed since the backup: the instance has this account as %s" % (
            name, users_by_id[user_id]))
    elif name in users_by_name and owns_nothing(db, users_by_name[name]):
        status, existing = "new", {}
        plan.replaced_users.append(dict(id=users_by_name[name], username=name))
    elif name in users_by_name:
        status, existing = "conflict", {}
        plan.conflicts.append("user %s: the instance has another account of that name (a different user, not "
                              "the one in the archive) and it owns documents, folders or tags, so it is not "
                              "replaced" % name)
    else:
        status, existing = "new", {}
    plan.user_status.append(status)
    _count(plan, status, "users")
    plan.nodes.append({})
    return existing


def owns_nothing(db, user_id):
    """Whether the user has no node but its own .home and .inbox, nothing below them, and no tag."""
    param = db.uuid_param(user_id)
    if db.scalar("SELECT count(*) FROM core_tag WHERE user_id = %s", (param,)):
        return False
    nodes = set(normalize_uuid(row["id"]) for row in db.execute(
        "SELECT id FROM core_basetreenode WHERE user_id = %s", (param,)))
    folders = db.execute("SELECT home_folder_id, inbox_folder_id FROM core_user WHERE id = %s", (param,))
    special = set(normalize_uuid(value) for row in folders for value in row.values() if value is not None)
    if not nodes <= special:
        return False
    return not _any_node_below(db, nodes)


def _any_node_below(db, parent_ids):
    """Whether any node, whoever owns it, sits in one of the folders parent_ids."""
    parents = [db.uuid_param(node_id) for node_id in parent_ids]
    if not parents:
        return False
    marks = ", ".join(["%s"] * len(parents))
    return bool(db.scalar("SELECT count(*) FROM core_basetreenode WHERE parent_id IN (%s)" % marks, parents))


def _existing_nodes(db, user_id, hidden=()):
    """{path: (id, ctype)} of every node the user has (but hidden ones), paths built from titles as breadcrumbs
    are."""
    rows = db.execute("SELECT id, parent_id, title, ctype FROM core_basetreenode WHERE user_id = %s",
                      (db.uuid_param(user_id),))
    by_id = dict((normalize_uuid(row["id"]), row) for row in rows if normalize_uuid(row["id"]) not in hidden)
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
    """One pass over the nodes: a small Node per node, matched against the user's existing nodes.

    Returns, per user, the tags nodes carry that the user's own tag list lacks (first occurrence wins).
    """
    node_tags = [{} for _user in backup.users]
    for index, node in backup.iter_nodes():
        nodes = plan.nodes[index]
        path = node_path(node)
        if path in nodes:
            raise PapermergeBackupError(
                "the archive's backup.json lists %r twice for user %s: it is damaged; nothing was written"
                % (node["breadcrumb"], backup.users[index]["username"]))
        node_id = normalize_uuid(node["id"]) if node.get("id") else None
        entry = Node(path, node["ctype"], node_id, index, node["title"])
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
        entry.status = "conflict:collides with a %s of the instance at the same path" % found_ctype
    elif entry.ctype == "folder":
        entry.status, entry.id = "existing", found_id
    elif entry.id == found_id:
        entry.status = "existing"
    else:
        entry.status = ("conflict:collides with another document of the instance at the same path (a different "
                        "document, not the one in the archive)")


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
    taken = _ids_in_use(db, "core_basetreenode", list(wanted)) - plan.hidden.nodes
    found = _nodes_by_id(db, taken)
    for node_id in taken:
        entry = wanted[node_id]
        entry.status = "conflict:" + _taken_id_reason(entry, plan.usernames[entry.user_index], found.get(node_id))


def _taken_id_reason(entry, username, found):
    """Why a node of the archive cannot have its id: the instance's node with that id, as the user knows it."""
    if found is None:
        return "cannot be restored under its id, which another node of the instance has"
    owner, path, ctype, title = found
    if owner == username and ctype == entry.ctype:
        # One id, one node: the archive's folder or document is the instance's, under another title or folder.
        if title != entry.title:
            return "was renamed since the backup: the instance has it as %s" % path
        return "was moved since the backup: the instance has it at %s" % path
    return "cannot be restored under its id, which %s's %s %s has in the instance" % (owner, ctype, path)


def _nodes_by_id(db, ids):
    """{id: (username, path, ctype, title)} of the instance's nodes with these ids (paths as breadcrumbs show)."""
    rows = []
    ids = list(ids)
    for start in range(0, len(ids), BATCH_ROWS):
        chunk = ids[start:start + BATCH_ROWS]
        rows.extend(db.execute(
            "SELECT n.id, n.user_id, n.title, n.ctype, u.username FROM core_basetreenode n "
            "LEFT JOIN core_user u ON u.id = n.user_id WHERE n.id IN (%s)" % ", ".join(["%s"] * len(chunk)),
            [db.uuid_param(i) for i in chunk]))
    paths = {}
    found = {}
    for row in rows:
        owner = normalize_uuid(row["user_id"])
        if owner not in paths:
            paths[owner] = dict((node_id, path) for path, (node_id, _ctype) in _existing_nodes(db, owner).items())
        node_id = normalize_uuid(row["id"])
        found[node_id] = (row["username"], paths[owner].get(node_id, row["title"]), row["ctype"], row["title"])
    return found


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
    username = plan.usernames[index]
    for path in sorted(nodes, key=lambda p: p.count("/")):
        entry = nodes[path]
        parent = parent_path(path)
        parent_entry = nodes.get(parent) if parent else None
        if parent is not None and parent_entry is None:
            raise PapermergeBackupError(
                "the archive's backup.json lists %r but not its folder %r (user %s): it is damaged; nothing "
                "was written" % (path, parent, username))
        if parent_entry is not None and parent_entry.ctype != "folder":
            raise PapermergeBackupError(
                "the archive's backup.json puts %r inside a document: it is damaged; nothing was written" % path)
        if parent_entry is not None and parent_entry.status in ("skip", "conflict") and entry.status != "skip":
            entry.status = "skip"
        if entry.status and entry.status.startswith("conflict:"):
            plan.conflicts.append("%s's %s %s %s" % (username, entry.ctype, path, entry.status[9:]))
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
            if normalize_uuid(row["id"]) not in plan.hidden.tags:
                existing[row["name"]] = normalize_uuid(row["id"])
    plan.tags.append(existing)
    if plan.user_status[index] == "conflict":
        plan.skipped["tags"] += len(user.get("tags") or [])
        return
    for tag in _all_tags(user, node_tags):
        if tag["name"] in existing:
            plan.existing["tags"] += 1
            continue
        tag_id = _free_tag_id(db, tag.get("id"), plan.hidden.tags)
        slug = tag["slug"] if tag.get("slug") and tag["slug"] not in slugs else unique_slug(tag["name"], slugs)
        slugs.add(slug)
        existing[tag["name"]] = tag_id
        plan.new_tags.append((index, tag, tag_id, slug))
        plan.created["tags"] += 1


def _free_tag_id(db, archive_id, hidden):
    """The archive's tag id (our archives carry it) unless another tag (but a hidden one) has it; a new one
    otherwise."""
    try:
        wanted = normalize_uuid(archive_id) if archive_id else None
    except ValueError:
        wanted = None
    if wanted and not _ids_in_use(db, "core_tag", [wanted]) - hidden:
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


def _plan_files(plan, contents, media_root, report=True, progress=None):
    """Sort every file into plan.files (to place), existing, skipped; returns the document ids whose files
    collide with different content."""
    for counts in (plan.created, plan.existing, plan.skipped):
        counts["files"] = 0
    plan.files = []
    skipped_users = set(plan.user_ids[i] for i, s in enumerate(plan.user_status) if s == "conflict")
    skipped_docs = set(entry.id for nodes in plan.nodes for entry in nodes.values()
                       if entry.ctype == "document" and entry.status in ("skip", "conflict") and entry.id)
    targets = plan.targets = MediaTargets(media_root)
    clashing = {}
    for compared, name in enumerate(sorted(contents.files)):
        member = contents.files[name]
        if progress is not None:
            progress.update(compared, 0)
        if _owned_by(name, skipped_users, skipped_docs):
            plan.skipped["files"] += 1
            continue
        target, in_missing_dir = targets.locate(name)
        state = "absent" if in_missing_dir else _known_state(plan.hidden, name) or _file_state(target, member)
        if state == "same":
            plan.existing["files"] += 1
        elif state == "absent":
            plan.files.append(member)
            plan.created["files"] += 1
        else:
            plan.skipped["files"] += 1
            clashing.setdefault(_document_of(name), []).append(name)
    if report:
        plan.conflicts.extend(_file_conflicts(plan, clashing))
    clashing.pop(None, None)
    return set(clashing)


def _file_conflicts(plan, clashing):
    """One line per document whose media files the instance has with other content (files of no document of
    the archive: one line each)."""
    documents = dict((entry.id, (plan.usernames[entry.user_index], entry.path))
                     for nodes in plan.nodes for entry in nodes.values() if entry.ctype == "document")
    lines = []
    for document_id in sorted(clashing, key=lambda key: key or ""):
        names = clashing[document_id]
        if document_id not in documents:
            lines.extend("media file %s exists in the instance with other content (never overwritten)" % name
                         for name in names)
            continue
        username, path = documents[document_id]
        lines.append("%s's document %s: %s in the instance with other content (never overwritten): %s%s" % (
            username, path, "its media file exists" if len(names) == 1 else "%d of its media files exist" % len(names),
            names[0], " and %d more" % (len(names) - 1) if len(names) > 1 else ""))
    return lines


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


def _known_state(hidden, name):
    """What a replace found already: a file it moves aside is absent, one it compared is the same."""
    if name in hidden.aside_files:
        return "absent"
    return "same" if name in hidden.same_files else None


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


def content_type_id(db):
    return db.scalar("SELECT id FROM django_content_type WHERE app_label = %s AND model = %s",
                     ("core", "basetreenode"))


def refuse_conflicts(plan, on_conflict):
    if not plan.conflicts or on_conflict == "skip":
        return
    shown = "; ".join(plan.conflicts[:CONFLICTS_IN_MESSAGE])
    more = len(plan.conflicts) - CONFLICTS_IN_MESSAGE
    raise PapermergeBackupError(
        "the archive collides with existing data (%d collision%s): %s%s. Nothing was written: restore into an "
        "empty instance, remove the colliding data, or set %s: skip to restore everything else"
        % (len(plan.conflicts), "" if len(plan.conflicts) == 1 else "s", shown,
           " (and %d more)" % more if more > 0 else "", setting("on_conflict")), conflicts=listed(plan.conflicts, chars=CONFLICT_CHARS))
