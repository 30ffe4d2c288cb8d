# -*- coding: utf-8 -*-
# Copyright: papermerge.backup contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
#
# This module_utils is PRIVATE and should only be used by this collection. Breaking changes can occur any time.
"""Replace mode, the database side: the instance's rows compared with what a restore of the archive writes
(restore_rows: the same defaults), and the rows a replace removes or sets back.

Values are compared as both engines give them back: dates as aware UTC datetimes, booleans as booleans, UUIDs
as canonical strings.  What the archive does not carry (dates and ids Papermerge's own archives leave out, which
a restore fills with the time of the restore or new ids) is not compared: no restore could make it equal.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.papermerge.backup.plugins.module_utils.database import normalize_uuid
from ansible_collections.papermerge.backup.plugins.module_utils.restore_rows import (
    DEFAULT_LANG, USER_REFERENCES, RowWriter, add_memberships, preferences, user_row)
from ansible_collections.papermerge.backup.plugins.module_utils.timestamps import parse_datetime

BATCH = 500
_DATES = ("last_login", "date_joined", "created_at", "updated_at")
_BOOLS = ("is_superuser", "is_staff", "is_active", "pinned", "ocr")
USER_COLUMNS = ("password", "last_login", "is_superuser", "username", "first_name", "last_name", "email",
                "is_staff", "is_active", "date_joined", "created_at", "updated_at")
_USER_OPTIONAL = ("last_login", "date_joined", "created_at", "updated_at")
# What add_memberships() writes for a user: removed first when a staying user is set back.
MEMBERSHIPS = (("core_user_groups", "user_id"), ("core_user_user_permissions", "user_id"),
               ("dynamic_preferences_users_userpreferencemodel", "instance_id"))


def comparable(column, value):
    if value is None:
        return None
    if column in _DATES:
        return parse_datetime(value)
    if column in _BOOLS:
        return bool(value)
    return value


def _differing(row, wanted):
    """Names of the columns of wanted ({column: value}) whose value row has otherwise."""
    return [column for column in sorted(wanted) if comparable(column, row.get(column)) != comparable(column, wanted[column])]


# -- users and tags ---------------------------------------------------------------------------------------------
def user_changes(db, row, user):
    """What of a staying user differs from the archive's: column names, 'groups', 'permissions', 'preferences'."""
    changes = [column.replace("_", " ") for column in _differing(row, _user_values(db, user))]
    param = db.uuid_param(row["id"])
    if "group_names" in user and sorted(set(user["group_names"] or [])) != sorted(row["name"] for row in db.execute(
            "SELECT g.name FROM core_user_groups m JOIN auth_group g ON g.id = m.group_id WHERE m.user_id = %s",
            (param,))):
        changes.append("groups")
    if "permission_names" in user and sorted(set(user["permission_names"] or [])) != sorted(
            "%s.%s" % (row["app_label"], row["codename"]) for row in db.execute(
                "SELECT c.app_label, p.codename FROM core_user_user_permissions m JOIN auth_permission p ON "
                "p.id = m.permission_id JOIN django_content_type c ON c.id = p.content_type_id WHERE m.user_id = %s",
                (param,))):
        changes.append("permissions")
    if "preferences" in user and sorted(preferences(user["preferences"]), key=repr) != sorted(
            ((row["section"], row["name"], row["raw_value"]) for row in db.execute(
                "SELECT section, name, raw_value FROM dynamic_preferences_users_userpreferencemodel "
                "WHERE instance_id = %s", (param,))), key=repr):
        changes.append("preferences")
    return changes


def tag_changes(db, row, tag):
    wanted = dict(bg_color=tag.get("bg_color") or "#c41fff", fg_color=tag.get("fg_color") or "#FFFFFF",
                  description=tag.get("description"), pinned=bool(tag.get("pinned", False)))
    changes = _differing(row, wanted)
    if tag.get("id") and normalize_uuid(tag["id"]) != normalize_uuid(row["id"]):
        changes.append("id")
    if tag.get("slug") and tag["slug"] != row["slug"]:
        changes.append("slug")
    return [change.replace("_", " ") for change in changes]


# -- nodes -------------------------------------------------------------------------------------------------------
class InstanceNodes:
    """Every node of the instance: {id: row}, paths as breadcrumbs show them, tags, version and page counts."""

    def __init__(self):
        self.nodes = {}
        self.paths = {}
        self.by_path = {}     # (user id, path) -> node id
        self.tags = {}        # node id -> set of tag names
        self.versions = {}
        self.pages = {}


def instance_nodes(db, removed_tags):
    """InstanceNodes of db; a node carrying a tag in removed_tags gets the tag name '' (never the archive's)."""
    found = InstanceNodes()
    for row in db.execute("SELECT n.id, n.parent_id, n.title, n.ctype, n.lang, n.created_at, n.updated_at, "
                          "n.user_id, d.ocr, d.ocr_status FROM core_basetreenode n "
                          "LEFT JOIN core_document d ON d.basetreenode_ptr_id = n.id"):
        found.nodes[normalize_uuid(row["id"])] = row
    for node_id in found.nodes:
        path = _path_of(found, node_id)
        found.by_path[(normalize_uuid(found.nodes[node_id]["user_id"]), path)] = node_id
    for row in db.execute("SELECT c.object_id, c.tag_id, t.name FROM core_coloredtag c "
                          "JOIN core_tag t ON t.id = c.tag_id"):
        name = "" if normalize_uuid(row["tag_id"]) in removed_tags else row["name"]
        found.tags.setdefault(normalize_uuid(row["object_id"]), set()).add(name)
    for row in db.execute("SELECT v.document_id, count(DISTINCT v.id) AS versions, count(p.id) AS pages "
                          "FROM core_documentversion v LEFT JOIN core_page p ON p.document_version_id = v.id "
                          "GROUP BY v.document_id"):
        found.versions[normalize_uuid(row["document_id"])] = row["versions"]
        found.pages[normalize_uuid(row["document_id"])] = row["pages"]
    return found


def _path_of(found, node_id):
    chain = []
    while node_id is not None and node_id in found.nodes and node_id not in found.paths and len(chain) < 1000:
        chain.append(node_id)
        node_id = normalize_uuid(found.nodes[node_id]["parent_id"])
    prefix = found.paths.get(node_id)
    for member in reversed(chain):
        title = found.nodes[member]["title"]
        prefix = title if prefix is None else prefix + "/" + title
        found.paths[member] = prefix
    return found.paths[chain[0]] if chain else found.paths[node_id]


def node_changes(db, row, node, tags):
    """Why the instance's node at the archive node's path is not the archive's ('' when it is, but for a
    document's versions and pages: content_changes)."""
    if row["ctype"] != node["ctype"]:
        return "a %s in the instance, a %s in the archive" % (row["ctype"], node["ctype"])
    if node.get("id") and normalize_uuid(node["id"]) != normalize_uuid(row["id"]):
        return "another %s than the archive's (not the same id)" % node["ctype"]
    wanted = dict(lang=node.get("lang") or DEFAULT_LANG)
    for column in ("created_at", "updated_at"):
        if node.get(column):
            wanted[column] = node[column]
    if node["ctype"] == "document":
        wanted.update(ocr=bool(node.get("ocr", True)), ocr_status=node.get("ocr_status") or "unknown")
    changes = [column.replace("_", " ") for column in _differing(row, wanted)]
    if set(tag["name"] for tag in node.get("tags") or []) != tags - set([""]) or "" in tags:
        changes.append("tags")
    return "its %s changed since the backup" % ", ".join(changes) if changes else ""


def content_changes(db, batch):
    """{node id: [what differs]} for (node id, archive document) pairs: versions and pages as restore writes them."""
    if not batch:
        return {}
    params = [db.uuid_param(node_id) for node_id, _node in batch]
    versions, pages = {}, {}
    for start in range(0, len(params), BATCH):
        chunk = params[start:start + BATCH]
        marks = ", ".join(["%s"] * len(chunk))
        for row in db.execute("SELECT * FROM core_documentversion WHERE document_id IN (%s)" % marks, chunk):
            versions.setdefault(normalize_uuid(row["document_id"]), {})[row["number"]] = row
        for row in db.execute("SELECT p.*, v.document_id, v.number AS version_number FROM core_page p JOIN "
                              "core_documentversion v ON v.id = p.document_version_id WHERE v.document_id IN (%s)"
                              % marks, chunk):
            pages.setdefault((normalize_uuid(row["document_id"]), row["version_number"]), {})[row["number"]] = row
    return dict((node_id, _document_changes(node_id, node, versions.get(node_id, {}), pages))
                for node_id, node in batch)


def _document_changes(node_id, node, versions, pages):
    archive = dict((version["number"], version) for version in node.get("versions") or [])
    if set(archive) != set(versions):
        return ["versions"]
    changes = set()
    for number, version in archive.items():
        lang = version.get("lang") or node.get("lang") or DEFAULT_LANG
        wanted = dict(lang=lang, file_name=version.get("file_name"), size=int(version.get("size") or 0),
                      page_count=int(version.get("page_count") or 0),
                      short_description=version.get("short_description") or "", text=version.get("text") or "")
        if _differing(versions[number], wanted) or _other_id(versions[number], version):
            changes.add("versions")
        if _page_changes(version, lang, pages.get((node_id, number), {})):
            changes.add("pages")
    return sorted(changes)


def _page_changes(version, lang, rows):
    archive = dict((page["number"], page) for page in version.get("pages") or [])
    if set(archive) != set(rows):
        return True
    for number, page in archive.items():
        wanted = dict(page_count=int(page.get("page_count") or 0), lang=page.get("lang") or lang,
                      image=page.get("image") or "")
        for column in ("text", "norm_doc_title", "norm_folder_title", "norm_breadcrump", "norm_text"):
            wanted[column] = page.get(column) or ""
        if _differing(rows[number], wanted) or _other_id(rows[number], page):
            return True
    return False


def _other_id(row, item):
    return bool(item.get("id")) and normalize_uuid(item["id"]) != normalize_uuid(row["id"])


# -- writing -----------------------------------------------------------------------------------------------------
def remove_rows(db, plan):
    """Delete what plan (a ReplacePlan) removes, inside the restore's transaction, in dependency order."""
    nodes = sorted(plan.nodes)
    tags = sorted(plan.tags)
    users = sorted(plan.users)
    _in_batches(db, "DELETE FROM core_coloredtag WHERE object_id IN (%s)", nodes)
    _in_batches(db, "DELETE FROM core_coloredtag WHERE tag_id IN (%s)", tags)
    _in_batches(db, "DELETE FROM core_page WHERE document_version_id IN (SELECT id FROM core_documentversion "
                "WHERE document_id IN (%s))", nodes)
    _in_batches(db, "DELETE FROM core_documentversion WHERE document_id IN (%s)", nodes)
    _in_batches(db, "DELETE FROM core_document WHERE basetreenode_ptr_id IN (%s)", nodes)
    _in_batches(db, "DELETE FROM core_folder WHERE basetreenode_ptr_id IN (%s)", nodes)
    _in_batches(db, "UPDATE core_user SET home_folder_id = NULL WHERE home_folder_id IN (%s)", nodes)
    _in_batches(db, "UPDATE core_user SET inbox_folder_id = NULL WHERE inbox_folder_id IN (%s)", nodes)
    _in_batches(db, "DELETE FROM core_basetreenode WHERE id IN (%s)", nodes)
    _in_batches(db, "DELETE FROM core_tag WHERE id IN (%s)", tags)
    tables = db.table_names() if users else set()
    for table, column in USER_REFERENCES:
        if table in tables:
            _in_batches(db, "DELETE FROM %s WHERE %s IN (%%s)" % (table, column), users)
    _in_batches(db, "DELETE FROM core_user WHERE id IN (%s)", users)


def _in_batches(db, sql, ids):
    for start in range(0, len(ids), BATCH):
        chunk = ids[start:start + BATCH]
        db.execute(sql % ", ".join(["%s"] * len(chunk)), [db.uuid_param(value) for value in chunk])


def update_users(db, plan, merge_plan, backup):
    """After the rows: staying users as the archive has them (columns, groups, permissions, preferences), and
    pointed at the archive's .home and .inbox."""
    writer = RowWriter(db)
    for index, user_id in plan.updated_users:
        user = backup.users[index]
        param = db.uuid_param(user_id)
        values = _user_values(db, user)
        db.execute("UPDATE core_user SET %s WHERE id = %%s" % ", ".join("%s = %%s" % column for column in values),
                   list(values.values()) + [param])
        for table, column in MEMBERSHIPS:
            db.execute("DELETE FROM %s WHERE %s = %%s" % (table, column), (param,))
        add_memberships(db, writer, merge_plan, user)
    writer.flush()
    for index, user_id in enumerate(merge_plan.user_ids):
        if merge_plan.user_status[index] != "existing":
            continue
        home, inbox = merge_plan.nodes[index].get(".home"), merge_plan.nodes[index].get(".inbox")
        if home is not None and inbox is not None:
            db.execute("UPDATE core_user SET home_folder_id = %s, inbox_folder_id = %s WHERE id = %s",
                       (db.uuid_param(home.id), db.uuid_param(inbox.id), db.uuid_param(user_id)))


def _user_values(db, user):
    """The staying user's columns as a restore writes them; dates the archive lacks are left as they are."""
    row = user_row(db, user)
    return dict((column, row[column]) for column in USER_COLUMNS if column in user or column not in _USER_OPTIONAL)
