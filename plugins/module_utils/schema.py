# -*- coding: utf-8 -*-
# Copyright: papermerge.backup contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
#
# This module_utils is PRIVATE and should only be used by this collection. Breaking changes can occur any time.
"""The database schema this collection knows: papermerge-core 2.1.5 and the Django apps whose tables it reads.

The collection reads and writes Papermerge's tables directly, so it must refuse a schema it does not know:
an unmigrated database (tables missing) or one migrated by a newer Papermerge (migrations we have not seen).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.papermerge.backup.plugins.module_utils.errors import PapermergeBackupError

# Migrations of papermerge-core 2.1.5, of Django 4.0's auth, contenttypes and sessions (which it depends on) and
# of django-dynamic-preferences' per-user preferences (which it installs), whose tables we read and write.
KNOWN_MIGRATIONS = {
    "contenttypes": (
        "0001_initial",
        "0002_remove_content_type_name",
    ),
    "auth": (
        "0001_initial",
        "0002_alter_permission_name_max_length",
        "0003_alter_user_email_max_length",
        "0004_alter_user_username_opts",
        "0005_alter_user_last_login_null",
        "0006_require_contenttypes_0002",
        "0007_alter_validators_add_error_messages",
        "0008_alter_user_username_max_length",
        "0009_alter_user_last_name_max_length",
        "0010_alter_group_name_max_length",
        "0011_update_proxy_permissions",
        "0012_alter_user_first_name_max_length",
    ),
    "sessions": (
        "0001_initial",
    ),
    "dynamic_preferences_users": (
        "0001_initial",
        "0002_auto_20200821_0837",
    ),
    "core": (
        "0001_initial",
        "0002_auto_20220619_0847",
        "0003_alter_basetreenode_polymorphic_ctype_and_more",
        "0004_remove_automate_dst_folder_remove_automate_tags_and_more",
        "0005_basetreenode_unique title per parent",
        "0006_alter_basetreenode_options_remove_basetreenode_level_and_more",
        "0007_basetreenode_parent_title_uniq_when_parent_is_null",
        "0008_remove_basetreenode_parent_title_uniq_when_parent_is_null_and_more",
        "0009_remove_basetreenode_unique title per parent_and_more",
    ),
}

# The tables (and their columns) the backup reads and the restore writes, as 2.1.5's migrations leave them.
TABLES = {
    "core_user": ("id", "password", "last_login", "is_superuser", "username", "first_name", "last_name",
                  "email", "is_staff", "is_active", "date_joined", "created_at", "updated_at",
                  "home_folder_id", "inbox_folder_id"),
    "core_user_groups": ("id", "user_id", "group_id"),
    "core_user_user_permissions": ("id", "user_id", "permission_id"),
    "core_basetreenode": ("id", "title", "lang", "created_at", "updated_at", "user_id", "ctype", "parent_id"),
    "core_folder": ("basetreenode_ptr_id",),
    "core_document": ("basetreenode_ptr_id", "ocr", "ocr_status"),
    "core_documentversion": ("id", "lang", "number", "file_name", "size", "page_count", "short_description",
                             "text", "document_id"),
    "core_page": ("id", "number", "page_count", "text", "norm_doc_title", "norm_folder_title",
                  "norm_breadcrump", "norm_text", "lang", "image", "document_version_id"),
    "core_tag": ("id", "bg_color", "fg_color", "description", "pinned", "name", "user_id", "slug"),
    "core_coloredtag": ("id", "object_id", "content_type_id", "tag_id"),
    "django_content_type": ("id", "app_label", "model"),
    "auth_group": ("id", "name"),
    "dynamic_preferences_users_userpreferencemodel": ("id", "section", "name", "raw_value", "instance_id"),
    "auth_group_permissions": ("id", "group_id", "permission_id"),
    "auth_permission": ("id", "name", "content_type_id", "codename"),
    "django_migrations": ("id", "app", "name", "applied"),
    # A restore's commit token is a row here (restore_journal.py); Papermerge itself keeps web sessions in it.
    "django_session": ("session_key", "session_data", "expire_date"),
}

# Papermerge 2.1's column limits: the max_length of every text column a restore writes, as the migrations above
# leave them (read from the migrated state of papermerge-core 2.1.5; 2.1.9's migrations and models are the same;
# auth's and contenttypes' are Django's).  Papermerge's own serializers refuse longer values and PostgreSQL's
# varchar(n) too; SQLite stores them silently, so the restore checks them itself (backup_json).  core_tag's
# description is a TextField whose max_length only Papermerge's serializers enforce.
MAX_LENGTHS = {
    "core_user": dict(username=150, password=128, first_name=150, last_name=150, email=254),
    "core_tag": dict(name=100, slug=100, bg_color=7, fg_color=7, description=1024),
    "core_basetreenode": dict(title=200, lang=8, ctype=16),
    "core_document": dict(ocr_status=32),
    "core_documentversion": dict(lang=8, file_name=1024, short_description=128),
    "core_page": dict(norm_doc_title=200, norm_folder_title=200, norm_breadcrump=1024, lang=8, image=1024),
    "auth_group": dict(name=150),
    "auth_permission": dict(codename=100),
    "django_content_type": dict(app_label=100, model=100),
    "dynamic_preferences_users_userpreferencemodel": dict(section=150, name=150),
}
# The ranges of Django's IntegerField (number, page_count) and BigIntegerField (a version's size) on both engines.
INTEGER = (-2 ** 31, 2 ** 31 - 1)
BIGINT = (-2 ** 63, 2 ** 63 - 1)

MIGRATE_HINT = "run the migrate role or `manage.py migrate` first"


def applied_migrations(db):
    """{app: [migration names in the order they were applied]} for every app in django_migrations."""
    result = {}
    for row in db.execute("SELECT app, name FROM django_migrations ORDER BY id"):
        result.setdefault(row["app"], []).append(row["name"])
    return result


def check_schema(db):
    """Refuse a database whose schema is not papermerge-core 2.1.5's; return its applied migrations."""
    tables = db.table_names()
    missing = sorted(name for name in TABLES if name not in tables)
    if missing:
        raise PapermergeBackupError(
            "the database schema is not migrated (missing tables: %s): %s"
            % (", ".join(missing), MIGRATE_HINT), missing_tables=missing)
    applied = applied_migrations(db)
    newer = unknown_migrations(applied)
    if newer:
        raise PapermergeBackupError(
            "the database has migrations this collection does not know (%s): it was migrated by a newer "
            "Papermerge than 2.1.5, whose schema this collection cannot read safely" % ", ".join(newer),
            unknown_migrations=newer)
    pending = pending_migrations(applied)
    if pending:
        raise PapermergeBackupError(
            "the database schema is not fully migrated (not applied: %s): %s" % (", ".join(pending), MIGRATE_HINT),
            pending_migrations=pending)
    _check_columns(db)
    return applied


def unknown_migrations(applied):
    """'app.name' of every applied migration of a known app that 2.1.5 does not have."""
    return ["%s.%s" % (app, name) for app in sorted(KNOWN_MIGRATIONS)
            for name in applied.get(app, ()) if name not in KNOWN_MIGRATIONS[app]]


def pending_migrations(applied):
    """'app.name' of every known migration that has not been applied."""
    return ["%s.%s" % (app, name) for app in sorted(KNOWN_MIGRATIONS)
            for name in KNOWN_MIGRATIONS[app] if name not in applied.get(app, ())]


def _check_columns(db):
    # Cheap guard against hand-edited schemas: select every column we use, no rows.
    for table, columns in sorted(TABLES.items()):
        sql = "SELECT %s FROM %s WHERE 1 = 0" % (", ".join('"%s"' % c for c in columns), table)
        try:
            db.execute(sql)
        except PapermergeBackupError as error:
            raise PapermergeBackupError(
                "table %s does not have the columns papermerge-core 2.1.5 gives it (%s): is this a Papermerge "
                "2.1 database?" % (table, error))
