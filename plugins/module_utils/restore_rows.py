# -*- coding: utf-8 -*-
# Copyright: papermerge.backup contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
#
# This module_utils is PRIVATE and should only be used by this collection. Breaking changes can occur any time.
"""Writing a restore's plan into the database: the rows Papermerge's ORM would write, values as each engine
stores them, inserted in batches in dependency order.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import datetime
import uuid

from ansible_collections.papermerge.backup.plugins.module_utils.backup_json import node_path, parent_path
from ansible_collections.papermerge.backup.plugins.module_utils.database import normalize_uuid
from ansible_collections.papermerge.backup.plugins.module_utils.errors import PapermergeBackupError
from ansible_collections.papermerge.backup.plugins.module_utils.restore_plan import BATCH_ROWS, HOME_TITLE, INBOX_TITLE, content_type_id
from ansible_collections.papermerge.backup.plugins.module_utils.timestamps import UTC, parse_datetime

DEFAULT_LANG = "deu"
# What refers to a user besides its nodes: removed with a user the archive's user of that name replaces.
USER_REFERENCES = (("core_user_groups", "user_id"), ("core_user_user_permissions", "user_id"),
                   ("dynamic_preferences_users_userpreferencemodel", "instance_id"), ("authtoken_token", "user_id"),
                   ("knox_authtoken", "user_id"), ("django_admin_log", "user_id"))


def insert_rows(db, plan, backup):
    """Insert every row the plan creates (inside the caller's transaction)."""
    writer = RowWriter(db)
    _insert_rows(db, writer, plan, backup)
    writer.flush()
    _point_users_at_special_folders(db, plan)


def _insert_rows(db, writer, plan, backup):
    if plan.content_type_id is None and (plan.created["documents"] or plan.created["folders"]):
        db.execute("INSERT INTO django_content_type (app_label, model) VALUES (%s, %s)", ("core", "basetreenode"))
        plan.content_type_id = content_type_id(db)
    remove_replaced_users(db, plan.replaced_users)
    _insert_groups(db, plan)
    for index, user in enumerate(backup.users):
        if plan.user_status[index] == "new":
            writer.add("core_user", user_row(db, user))
            add_memberships(db, writer, plan, user)
    for index, tag, tag_id, slug in plan.new_tags:
        writer.add("core_tag", _tag_row(db, plan.user_ids[index], tag, tag_id, slug))
    for index, title, folder_id in plan.synthetic:
        _add_node(db, writer, plan, index, dict(title=title, ctype="folder", breadcrumb=title + "/"), folder_id)
    for index, node in backup.iter_nodes():
        if plan.user_status[index] == "conflict":
            continue
        entry = plan.nodes[index][node_path(node)]
        if entry.status == "new":
            _add_node(db, writer, plan, index, node, entry.id)


def remove_replaced_users(db, users):
    """Delete the users the archive's users of the same name replace, with their .home and .inbox and whatever
    refers to them (the plan checked that they own nothing else)."""
    tables = db.table_names() if users else set()
    for user in users:
        user_id = db.uuid_param(user["id"])
        nodes = [db.uuid_param(normalize_uuid(row["id"])) for row in db.execute(
            "SELECT id FROM core_basetreenode WHERE user_id = %s", (user_id,))]
        db.execute("UPDATE core_user SET home_folder_id = NULL, inbox_folder_id = NULL WHERE id = %s", (user_id,))
        for node_id in nodes:
            db.execute("DELETE FROM core_coloredtag WHERE object_id = %s", (node_id,))
            db.execute("DELETE FROM core_folder WHERE basetreenode_ptr_id = %s", (node_id,))
        db.execute("DELETE FROM core_basetreenode WHERE user_id = %s", (user_id,))
        for table, column in USER_REFERENCES:
            if table in tables:
                db.execute("DELETE FROM %s WHERE %s = %%s" % (table, column), (user_id,))
        db.execute("DELETE FROM core_user WHERE id = %s", (user_id,))


def _add_node(db, writer, plan, index, node, node_id):
    user_id = plan.user_ids[index]
    path = node_path(node)
    parent = parent_path(path)
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


def add_memberships(db, writer, plan, user):
    user_id = db.uuid_param(user["id"])
    for name in sorted(set(user.get("group_names") or [])):
        if name in plan.group_ids:
            writer.add("core_user_groups", dict(user_id=user_id, group_id=plan.group_ids[name]))
    for name in sorted(set(user.get("permission_names") or [])):
        if name in plan.permission_ids:
            writer.add("core_user_user_permissions", dict(user_id=user_id, permission_id=plan.permission_ids[name]))
    for section, name, raw_value in preferences(user.get("preferences")):
        writer.add("dynamic_preferences_users_userpreferencemodel", dict(
            section=section, name=name, raw_value=raw_value, instance_id=user_id))


def preferences(value):
    """(section, name, raw_value) from [{"section", "name", "raw_value"}] or {"section__name": raw_value}."""
    if isinstance(value, dict):
        for key in sorted(value):
            section, name = (str(key).split("__", 1) + [""])[:2]
            yield (section, name, value[key]) if name else (None, section, value[key])
    elif isinstance(value, list):
        for item in value:
            if isinstance(item, dict) and item.get("name"):
                yield item.get("section"), item["name"], item.get("raw_value")


def user_row(db, user):
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


class RowWriter:
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


def db_datetime(db, value, default):
    """value (a date from backup.json) as the engine stores it, default when value is empty."""
    try:
        parsed = parse_datetime(value)
    except ValueError:
        raise PapermergeBackupError("the archive's backup.json has an unreadable date %r" % (value,))
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


def _now():
    return datetime.datetime.now(UTC)
