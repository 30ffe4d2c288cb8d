# -*- coding: utf-8 -*-
# Copyright: papermerge.backup contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
#
# This module_utils is PRIVATE and should only be used by this collection. Breaking changes can occur any time.
"""Dump a Papermerge 2.1 database into backup.json, streaming, in the shape Papermerge 2.1.5's restore reads.

The shape is that of papermerge.core.backup_restore (its DRF serializers), checked against the output of
Papermerge 2.1.5's own `manage.py backup`:

    {"created": "26.11.2026-02:00:00", "version": "2.1.5",
     "users": [{"id", "password", "last_login", "is_superuser", "username", "first_name", "last_name", "email",
                "is_staff", "is_active", "date_joined", "created_at", "updated_at", "groups": [],
                "user_permissions": [], "tags": [{"bg_color", "fg_color", "description", "pinned", "name"}],
                "nodes": [folder or document, ...]}]}
    folder:   {"breadcrumb": ".home/A/", "ctype": "folder", "title", "tags", "created_at", "updated_at"}
    document: {"id", "breadcrumb": ".home/A/doc", "ctype": "document", "title", "lang", "ocr", "ocr_status",
               "tags", "created_at", "updated_at",
               "versions": [{"file_path": "docs/user_<uuid>/document_<uuid>/v1/x.pdf", "lang", "number",
                             "file_name", "size", "page_count", "short_description", "text",
                             "pages": [{"file_path": ".../pages//000001/000001_ocr.svg", "text", "number",
                                        "page_count", "lang"}]}]}

Papermerge's restore ignores keys it does not know, so for a faithful restore by papermerge_restore we add:
top-level "groups" ([{"name", "permissions": ["app_label.codename"]}]); per user "group_names",
"permission_names" and "preferences" ([{"section", "name", "raw_value"}], django-dynamic-preferences' rows).
"groups" and "user_permissions" stay empty: Papermerge's restore checks them as ids of the target instance,
refusing the archive when they do not exist there, and then ignores them. Further, per tag "id" and "slug";
per folder "id" and "lang"; per version "id"; per page "id", "norm_doc_title", "norm_folder_title",
"norm_breadcrump", "norm_text", "image".

Memory stays flat: nodes, versions, pages and tags come from four ordered cursors merged by document id, and
each node is written as soon as it is complete. Only per-node summaries for the per-user folder tree (a name
and a link target per node) are kept.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json

from ansible_collections.papermerge.backup.plugins.module_utils.archive_format import (
    BACKUP_JSON, MEDIA_FOLDERS, version_folder)
from ansible_collections.papermerge.backup.plugins.module_utils.database import normalize_uuid
from ansible_collections.papermerge.backup.plugins.module_utils.errors import PapermergeBackupError
from ansible_collections.papermerge.backup.plugins.module_utils.timestamps import utc_iso

RESERVED_TOP_LEVEL = MEDIA_FOLDERS + (BACKUP_JSON,)

USER_COLUMNS = ("password", "last_login", "is_superuser", "username", "first_name", "last_name", "email",
                "is_staff", "is_active", "date_joined", "created_at", "updated_at")
BOOLEAN_COLUMNS = frozenset(("is_superuser", "is_staff", "is_active", "pinned", "ocr"))
DATETIME_COLUMNS = frozenset(("last_login", "date_joined", "created_at", "updated_at"))

NODES_SQL = """
WITH RECURSIVE tree(id, path) AS (
    SELECT id, CAST(title AS TEXT) FROM core_basetreenode WHERE parent_id IS NULL AND user_id = %s
    UNION ALL
    SELECT n.id, tree.path || '/' || n.title FROM core_basetreenode n JOIN tree ON n.parent_id = tree.id
)
SELECT n.id, n.title, n.lang, n.ctype, n.created_at, n.updated_at, tree.path,
       d.basetreenode_ptr_id AS document_id, d.ocr, d.ocr_status
FROM tree
JOIN core_basetreenode n ON n.id = tree.id
LEFT JOIN core_document d ON d.basetreenode_ptr_id = n.id
ORDER BY n.id
"""

VERSIONS_SQL = """
SELECT v.id, v.document_id, v.lang, v.number, v.file_name, v.size, v.page_count, v.short_description, v.text
FROM core_documentversion v JOIN core_basetreenode n ON n.id = v.document_id
WHERE n.user_id = %s
ORDER BY v.document_id, v.number, v.id
"""

PAGES_SQL = """
SELECT p.id, v.document_id, v.number AS version_number, p.number, p.page_count, p.text, p.lang,
       p.norm_doc_title, p.norm_folder_title, p.norm_breadcrump, p.norm_text, p.image
FROM core_page p
JOIN core_documentversion v ON v.id = p.document_version_id
JOIN core_basetreenode n ON n.id = v.document_id
WHERE n.user_id = %s
ORDER BY v.document_id, v.number, p.number, p.id
"""

NODE_TAGS_SQL = """
SELECT ct.object_id, t.bg_color, t.fg_color, t.description, t.pinned, t.name
FROM core_coloredtag ct
JOIN core_tag t ON t.id = ct.tag_id
JOIN django_content_type c ON c.id = ct.content_type_id
WHERE t.user_id = %s AND c.app_label = 'core' AND c.model = 'basetreenode'
ORDER BY ct.object_id, ct.id
"""


class DumpResult:
    """What dump() learnt besides the JSON: counts, the per-user tree, the files the database names."""

    def __init__(self):
        self.counts = dict(users=0, folders=0, documents=0, versions=0, pages=0, tags=0)
        self.tree = []            # (member name, None) for folders, (member name, link target) for documents
        self.version_files = []   # media-relative paths of every document version's file
        self.version_folders = set()  # archive_format.version_folder of every version (its sidecars are below)
        self.latest_files = {}    # member name of a document's symlink -> media-relative file of its latest version
        self.warnings = []


def dump(db, sink, papermerge_version, created, file_size=None):
    """Write backup.json to sink (an object with write(bytes) and start_fingerprint()); returns DumpResult.

    file_size(media-relative path) -> the size of a version's file, or None when it is not there: a version
    whose recorded size (when it has one) disagrees gets the file's size in backup.json, with a warning, as
    the restore holds every version file to the size backup.json records.
    """
    result = DumpResult()
    result.file_size = file_size
    sink.write(b'{"created": %s,\n' % _json(created))
    # Everything after "created" is content: the fingerprint covers it, so unchanged data hashes alike.
    sink.start_fingerprint()
    sink.write(b'"version": %s,\n"groups": %s,\n"users": [' % (_json(papermerge_version), _json(_groups(db))))
    for index, user in enumerate(db.iter_rows("SELECT * FROM core_user ORDER BY username, id")):
        sink.write(b"\n" if index == 0 else b",\n")
        _dump_user(db, sink, user, result)
    sink.write(b"\n]}\n")
    return result


def _json(value):
    return json.dumps(value, ensure_ascii=False, sort_keys=False).encode("utf-8")


def _groups(db):
    groups = []
    for group in db.execute("SELECT id, name FROM auth_group ORDER BY name, id"):
        rows = db.execute(
            "SELECT c.app_label, p.codename FROM auth_group_permissions gp "
            "JOIN auth_permission p ON p.id = gp.permission_id "
            "JOIN django_content_type c ON c.id = p.content_type_id "
            "WHERE gp.group_id = %s ORDER BY c.app_label, p.codename", (group["id"],))
        groups.append(dict(name=group["name"], permissions=["%s.%s" % (r["app_label"], r["codename"]) for r in rows]))
    return groups


def _dump_user(db, sink, user, result):
    user_id = normalize_uuid(user["id"])
    param = db.uuid_param(user_id)
    result.counts["users"] += 1
    entry = dict(id=user_id)
    for column in USER_COLUMNS:
        entry[column] = _value(column, user[column])
    entry.update(_memberships(db, param))
    entry["preferences"] = _preferences(db, param)
    entry["tags"] = _user_tags(db, param)
    result.counts["tags"] += len(entry["tags"])
    head = _json(entry)
    sink.write(head[:-1] + b', "nodes": [')
    tree_ok = tree_allowed(user["username"], result)
    for index, node in enumerate(_nodes(db, param, user_id, result)):
        sink.write(b"\n" if index == 0 else b",\n")
        sink.write(_json(node))
        if tree_ok:
            add_to_tree(user["username"], node, result)
    sink.write(b"\n]}")


def _memberships(db, param):
    groups = db.execute(
        "SELECT g.id, g.name FROM core_user_groups ug JOIN auth_group g ON g.id = ug.group_id "
        "WHERE ug.user_id = %s ORDER BY g.id", (param,))
    permissions = db.execute(
        "SELECT p.id, c.app_label, p.codename FROM core_user_user_permissions up "
        "JOIN auth_permission p ON p.id = up.permission_id JOIN django_content_type c ON c.id = p.content_type_id "
        "WHERE up.user_id = %s ORDER BY p.id", (param,))
    # Papermerge's restore validates "groups" and "user_permissions" as ids of the target instance and then
    # drops them: ids of this instance would make it refuse the archive. Names travel instead.
    return dict(
        groups=[],
        user_permissions=[],
        group_names=sorted(row["name"] for row in groups),
        permission_names=sorted("%s.%s" % (row["app_label"], row["codename"]) for row in permissions),
    )


def _preferences(db, param):
    rows = db.execute(
        "SELECT section, name, raw_value FROM dynamic_preferences_users_userpreferencemodel "
        "WHERE instance_id = %s ORDER BY section, name, id", (param,))
    return [dict(section=r["section"], name=r["name"], raw_value=r["raw_value"]) for r in rows]


def _user_tags(db, param):
    rows = db.execute(
        "SELECT id, bg_color, fg_color, description, pinned, name, slug FROM core_tag "
        "WHERE user_id = %s ORDER BY name, id", (param,))
    return [dict(bg_color=r["bg_color"], fg_color=r["fg_color"], description=r["description"],
                 pinned=bool(r["pinned"]), name=r["name"], id=normalize_uuid(r["id"]), slug=r["slug"])
            for r in rows]


def _nodes(db, param, user_id, result):
    versions = OrderedRows(db.iter_rows(VERSIONS_SQL, (param,)), "document_id")
    pages = OrderedRows(db.iter_rows(PAGES_SQL, (param,)), "document_id")
    tags = OrderedRows(db.iter_rows(NODE_TAGS_SQL, (param,)), "object_id")
    for row in db.iter_rows(NODES_SQL, (param,)):
        node_id = normalize_uuid(row["id"])
        node_tags = [_node_tag(t) for t in tags.take(node_id)]
        if row["document_id"] is None:
            result.counts["folders"] += 1
            yield _folder(row, node_tags)
            continue
        result.counts["documents"] += 1
        yield _document(row, node_id, user_id, node_tags, versions.take(node_id), pages.take(node_id), result)


def _folder(row, tags):
    return dict(breadcrumb=row["path"] + "/", tags=tags, ctype="folder", title=row["title"],
                created_at=_datetime(row["created_at"]), updated_at=_datetime(row["updated_at"]),
                id=normalize_uuid(row["id"]), lang=row["lang"])


def _document(row, node_id, user_id, tags, versions, pages, result):
    pages_of = {}
    for page in pages:
        pages_of.setdefault(page["version_number"], []).append(page)
    entries = []
    for version in versions:
        folder = version_folder(user_id, node_id, version["number"])
        file_path = "docs/%s/%s" % (folder, version["file_name"])
        result.version_files.append(file_path)
        result.version_folders.add(folder)
        entries.append(dict(
            pages=[_page(p, user_id, node_id) for p in pages_of.get(version["number"], [])],
            file_path=file_path, lang=version["lang"], number=version["number"], file_name=version["file_name"],
            size=_version_size(version["size"], file_path, result), page_count=version["page_count"],
            short_description=version["short_description"], text=version["text"],
            id=normalize_uuid(version["id"])))
        result.counts["versions"] += 1
        result.counts["pages"] += len(entries[-1]["pages"])
    return dict(id=node_id, breadcrumb=row["path"], tags=tags, versions=entries, ctype="document",
                title=row["title"], lang=row["lang"], created_at=_datetime(row["created_at"]),
                updated_at=_datetime(row["updated_at"]), ocr=bool(row["ocr"]), ocr_status=row["ocr_status"])


def _version_size(size, file_path, result):
    # Papermerge records 0 for versions made by OCR or page edits: no size to check.  Any other size is the
    # file's, unless the file changed behind Papermerge's back.
    actual = result.file_size(file_path) if size and result.file_size else None
    if actual is None or actual == size:
        return size
    result.warnings.append("the database records %d bytes for %s, the file has %d: the archive records the "
                           "file's size" % (size, file_path, actual))
    return actual


def _page(page, user_id, node_id):
    # The path Papermerge's PagePath.svg_url gives, double slash included: it is what its backup writes.
    number = "%06d" % page["number"]
    file_path = "sidecars/user_%s/document_%s/v%d/pages//%s/%s_ocr.svg" % (
        user_id, node_id, page["version_number"], number, number)
    return dict(file_path=file_path, text=page["text"], number=page["number"], page_count=page["page_count"],
                lang=page["lang"], id=normalize_uuid(page["id"]), norm_doc_title=page["norm_doc_title"],
                norm_folder_title=page["norm_folder_title"], norm_breadcrump=page["norm_breadcrump"],
                norm_text=page["norm_text"], image=page["image"])


def _node_tag(row):
    return dict(bg_color=row["bg_color"], fg_color=row["fg_color"], description=row["description"],
                pinned=bool(row["pinned"]), name=row["name"])


def tree_allowed(username, result):
    """Whether the user gets a folder tree in the archive; a warning in result when not."""
    # The per-user folders sit next to docs/ and sidecars/ at the archive's top: a user named like one of
    # them (or '.', '..') would mix into the media or escape; such a user gets no folder (the data is kept).
    if username in RESERVED_TOP_LEVEL or username in (".", "..", "") or "/" in username:
        result.warnings.append("user %r gets no folder tree in the archive: the name collides with a top-level "
                               "member; the user's data is archived all the same" % username)
        return False
    return True


def add_to_tree(username, node, result):
    """Add the node's entry to result.tree: a directory per folder, a relative symlink per document to the file of
    its latest version (none for a document without versions, a warning for a path with '.' or '..')."""
    parts = [part for part in node["breadcrumb"].split("/") if part]
    if any(part in (".", "..") for part in parts):
        result.warnings.append("node %r of user %r gets no entry in the folder tree: its path has a '.' or '..' "
                               "part" % (node["breadcrumb"], username))
        return
    name = "/".join([username] + parts)
    if node["ctype"] == "folder":
        result.tree.append((name, None))
        return
    if not node["versions"]:
        return
    latest = max(node["versions"], key=lambda v: v["number"])
    # Relative from the link's directory (<username>/<parts[:-1]>) back to the archive root.
    target = "../" * len(parts) + latest["file_path"]
    result.tree.append((name, target))
    result.latest_files[name] = latest["file_path"]


class OrderedRows:
    """Rows from a cursor ordered by key; take(k) returns the rows with key k (skipping orphans before it)."""

    def __init__(self, rows, key):
        self.rows = iter(rows)
        self.key = key
        self.current = self._next()

    def _next(self):
        row = next(self.rows, None)
        if row is not None:
            row[self.key] = normalize_uuid(row[self.key])
        return row

    def take(self, value):
        taken = []
        while self.current is not None and self.current[self.key] <= value:
            if self.current[self.key] == value:
                taken.append(self.current)
            self.current = self._next()
        return taken


def _value(column, value):
    if column in BOOLEAN_COLUMNS:
        return None if value is None else bool(value)
    if column in DATETIME_COLUMNS:
        return _datetime(value)
    return value


def _datetime(value):
    try:
        return utc_iso(value)
    except ValueError:
        raise PapermergeBackupError("unexpected date/time value %r in the database: is it a Papermerge 2.1 "
                                    "database?" % (value,))
