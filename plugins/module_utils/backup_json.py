# -*- coding: utf-8 -*-
# Copyright: papermerge.backup contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
#
# This module_utils is PRIVATE and should only be used by this collection. Breaking changes can occur any time.
"""Read and check backup.json, the database half of an archive (Papermerge 2.1's own format).

Shape, as Papermerge 2.1.5's backup writes it and its restore reads it:
{"created": "...", "version": "2.1.5", "users": [{"id", "username", "password", flags and dates, "tags": [...],
  "nodes": [{"breadcrumb": ".home/A/", "ctype": "folder", "title", "tags", dates}, {"breadcrumb": ".home/A/x.pdf",
  "ctype": "document", "id", "title", "lang", "ocr", "ocr_status", "tags", "versions": [{"number", "file_name",
  "file_path", "size", "page_count", "short_description", "text", "lang", "pages": [{"number", "text",
  "page_count", "lang", "file_path"}]}]}]}]}
Folders carry no id and no lang there; our own backup may add "id" to folders, versions, pages and tags and
"lang" to folders, and the restore keeps them when present.

load() checks the whole shape first, so that a restore never starts on a file it cannot finish.

Every value is bounded while it is read (the FIELDS tables): a text field by the length its Papermerge 2.1
column allows (schema.MAX_LENGTHS, refused with the field's name and path), a number by its column's type,
anything else by json_stream.MAX_VALUE_CHARS, and a whole node by NODE_MAX_CHARS; users, nodes, versions and
pages are walked key by key, so no value is ever held in memory before its bound is checked.  Keys the restore
does not use are read (within the bounds) and dropped.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import uuid

from ansible_collections.papermerge.backup.plugins.module_utils.archive_format import BACKUP_JSON
from ansible_collections.papermerge.backup.plugins.module_utils.errors import PapermergeBackupError, shown
from ansible_collections.papermerge.backup.plugins.module_utils.json_stream import (
    MAX_VALUE_CHARS, Scanner, ValueTooLong, json_chars)
from ansible_collections.papermerge.backup.plugins.module_utils.member_rules import DeclaredMedia
from ansible_collections.papermerge.backup.plugins.module_utils.schema import BIGINT, INTEGER, MAX_LENGTHS
from ansible_collections.papermerge.backup.plugins.module_utils.timestamps import parse_datetime
from ansible_collections.papermerge.backup.plugins.module_utils.spool import open_text

CTYPES = ("folder", "document")
# Values that have no column of their own.  A breadcrumb is a node's path of titles (80 levels of 200-character
# titles fit); a file_path, docs/ or sidecars/, a user and a document folder and a file_name; 'created' and
# 'version' are a date and a version string; a date is ISO 8601 (Papermerge writes 32 characters).
BREADCRUMB_MAX = 16 * 1024
FILE_PATH_MAX = 2048
META_MAX = 64
DATE_MAX = 64
# A permission travels as 'app_label.codename' (django_content_type.app_label, auth_permission.codename).
PERMISSION_MAX = MAX_LENGTHS["django_content_type"]["app_label"] + 1 + MAX_LENGTHS["auth_permission"]["codename"]
# One node (a document with all its versions and pages) is held in memory whole: its JSON text is bounded.
NODE_MAX_CHARS = 256 * 1024 * 1024


class BackupJson:
    """The parsed backup.json: meta data and users (without their nodes); nodes are streamed from the file.

    Memory stays flat however many documents there are: load() reads the file once to check its shape and
    keep the users, iter_nodes() reads it again and yields (user index, node) one node at a time.
    media (member_rules.DeclaredMedia) holds the media files it names, for the checks of the archive's members.
    """

    def __init__(self, path, member=BACKUP_JSON):
        self.path = path
        self.member = member
        self.created = None
        self.version = None
        self.extra = {}
        self.users = []
        self.media = DeclaredMedia()
        self._versions = []    # (document id, number, file_name, size) of the user being read
        self._counts = dict(users=0, folders=0, documents=0, versions=0, pages=0, tags=0)

    def iter_nodes(self):
        """(user index, node dict) for every node of every user, in file order."""
        for event in _events(self.path, self.member):
            if event[0] == "node":
                yield event[1], event[2]

    def counts(self):
        return dict(self._counts)

    def take(self, event):
        kind = event[0]
        if kind == "meta":
            self._take_meta(event[1], event[2])
        elif kind == "node":
            _check_node(event[2], "users[%d].nodes[%d]" % (event[1], event[3]), self.member)
            self._count(event[2])
        elif kind == "user":
            self._take_user(event[1], event[2])

    def _take_meta(self, key, value):
        if key == "created":
            self.created = value
        elif key == "version":
            self.version = value
        elif key == "groups":
            self.extra[key] = value

    def _take_user(self, index, user):
        where = "users[%d]" % index
        if any(other["username"] == user["username"] for other in self.users):
            raise _broken(self.member, "user %r appears twice" % shown(user["username"]), where)
        self.users.append(user)
        self._counts["users"] += 1
        self._counts["tags"] += len(user.get("tags") or [])
        for document_id, number, file_name, size in self._versions:
            self.media.add_version(user["id"], document_id, number, file_name, size)
        self._versions = []

    def _count(self, node):
        if node["ctype"] == "folder":
            self._counts["folders"] += 1
            return
        self._counts["documents"] += 1
        for version in node.get("versions") or []:
            self._counts["versions"] += 1
            self._counts["pages"] += len(version.get("pages") or [])
            # The user's id may come after the nodes (Papermerge writes it first, but need not).
            self._versions.append((node["id"], version["number"], version.get("file_name"), version.get("size")))


def load(path, member=BACKUP_JSON):
    """Read and check the spooled backup.json at path (a spool.Spool, or a file's path); PapermergeBackupError
    says what is wrong."""
    backup = BackupJson(path, member)
    seen_users = False
    for event in _events(path, member):
        seen_users = seen_users or event[0] == "users"
        backup.take(event)
    if not seen_users:
        raise _broken(member, "the 'users' list is missing")
    return backup


# -- reading: every value through a bound ------------------------------------------------------------------

def _events(path, member):
    """Stream backup.json as events: ('meta', key, value) for top-level keys other than users, ('users',)
    when the users list starts, ('node', user index, node, node index) for each node, and ('user', index,
    user without its nodes) when a user's object ends."""
    try:
        with open_text(path) as handle:
            scanner = Scanner(handle)
            if scanner.peek() != "{":
                raise _broken(member, "the top level is not an object")
            for key in scanner.object_keys():
                if key != "users":
                    field = TOP_FIELDS.get(key, IGNORED)
                    value = _read_field(scanner, field, key, "the top level", member)
                    if field is not IGNORED:
                        yield ("meta", key, value)
                    continue
                if scanner.peek() != "[":
                    raise _broken(member, "the 'users' list is missing")
                yield ("users",)
                for index in scanner.array_items():
                    yield from _user_events(scanner, index, member)
            scanner.expect_end()
    except UnicodeDecodeError as error:
        raise _broken(member, "it is not UTF-8 (%s)" % error)
    except ValueError as error:
        raise _broken(member, "it is not valid JSON (%s)" % error)


def _user_events(scanner, index, member):
    where = "users[%d]" % index
    if scanner.peek() != "{":
        raise _broken(member, "not an object", where)
    user = {}
    nodes = False
    for key in scanner.object_keys(where):
        if key != "nodes":
            _take_field(scanner, USER_FIELDS, key, user, where, member)
            continue
        if scanner.peek() != "[":
            raise _broken(member, "'nodes' is missing or not a list", where)
        for number in scanner.array_items():
            yield ("node", index, _read_node(scanner, "%s.nodes[%d]" % (where, number), member), number)
        nodes = True
    if not nodes:
        raise _broken(member, "'nodes' is missing or not a list", where)
    _check_required(user, USER_FIELDS, where, member)
    yield ("user", index, user)


def _read_node(scanner, where, member):
    """One node, key by key; its versions and their pages too, so that every value is bounded as it is read."""
    start = scanner.offset
    node = _read_object(scanner, NODE_FIELDS, where, member, start)
    _check_required(node, NODE_FIELDS, where, member)
    return node


def _read_object(scanner, fields, where, member, start):
    if scanner.peek() != "{":
        raise _broken(member, "not an object", where)
    result = {}
    for key in scanner.object_keys(where):
        field = fields.get(key, IGNORED)
        if isinstance(field, _Walked):
            result[key] = _read_walked(scanner, field, "%s.%s" % (where, key), member, start)
        else:
            _take_field(scanner, fields, key, result, where, member)
        if scanner.offset - start > NODE_MAX_CHARS:
            raise _broken(member, "the node is longer than %d characters of JSON text" % NODE_MAX_CHARS, where)
    return result


def _read_walked(scanner, field, where, member, start):
    if scanner.peek() != "[":
        raise _broken(member, "not a list", where)
    items = []
    for index in scanner.array_items():
        here = "%s[%d]" % (where, index)
        item = _read_object(scanner, field.fields, here, member, start)
        _check_required(item, field.fields, here, member)
        items.append(item)
    return items


def _take_field(scanner, fields, key, target, where, member):
    field = fields.get(key, IGNORED)
    value = _read_field(scanner, field, key, where, member)
    if field is not IGNORED:
        target[key] = value


def _read_field(scanner, field, key, where, member):
    """The value of key, read within its field's bound and checked."""
    try:
        value = scanner.value(field.limit, "%s.%s" % (where, key))
    except ValueTooLong:
        raise _broken(member, field.too_long(key), where)
    return field.check(value, key, where, member)


def _check_required(obj, fields, where, member):
    for key, field in fields.items():
        if getattr(field, "required", False) and obj.get(key) is None:
            raise _broken(member, "%r is missing" % key, where)


def _broken(member, reason, where=None):
    location = " at %s" % where if where else ""
    return PapermergeBackupError(
        "the archive's %s cannot be restored%s: %s. The archive is damaged or was not made by "
        "papermerge_backup or Papermerge's `manage.py backup`; nothing was written" % (member, location, reason),
        member=member)


# -- fields: how each key is bounded and checked ------------------------------------------------------------

class _Text:
    """A string of at most max_chars characters (the column's max_length), or None unless required."""

    def __init__(self, max_chars=None, column=None, required=False):
        self.max_chars = max_chars
        self.column = column
        self.required = required
        self.limit = json_chars(max_chars) if max_chars else MAX_VALUE_CHARS

    def check(self, value, key, where, member):
        if value is None and not self.required:
            return None
        if not isinstance(value, str):
            raise _broken(member, "%r is missing or not a string" % key, where)
        if self.max_chars is not None and len(value) > self.max_chars:
            raise _broken(member, self.too_long(key), where)
        return value

    def too_long(self, key):
        if self.max_chars is None:
            return "%r is longer than %d characters of JSON text, more than any value a backup holds" % (
                key, self.limit)
        column = " (column %s)" % self.column if self.column else ""
        return "%r is longer than %d characters, the most Papermerge 2.1 stores there%s" % (
            key, self.max_chars, column)


class _Date(_Text):
    """An ISO 8601 date and time, or None."""

    def __init__(self):
        super(_Date, self).__init__(DATE_MAX)

    def check(self, value, key, where, member):
        value = super(_Date, self).check(value, key, where, member)
        try:
            parse_datetime(value)
        except ValueError:
            raise _broken(member, "%r is not a date and time: %r" % (key, shown(value)), where)
        return value


class _Uuid(_Text):
    def __init__(self, required=False):
        super(_Uuid, self).__init__(META_MAX, required=required)

    def check(self, value, key, where, member):
        value = super(_Uuid, self).check(value, key, where, member)
        if value is not None:
            try:
                uuid.UUID(value)
            except ValueError:
                raise _broken(member, "%r is not a UUID: %r" % (key, shown(value)), where)
        return value


class _Integer:
    """A number the column's integer type holds: (low, high) from schema."""

    limit = 32

    def __init__(self, bounds, required=False, low=None):
        self.low = bounds[0] if low is None else low
        self.high = bounds[1]
        self.required = required

    def check(self, value, key, where, member):
        if value is None and not self.required:
            return None
        if not isinstance(value, int) or isinstance(value, bool):
            raise _broken(member, "%r is missing or not a number" % key, where)
        if not self.low <= value <= self.high:
            raise _broken(member, "%r is %d, outside %d..%d, what its column holds"
                          % (key, value, self.low, self.high), where)
        return value

    def too_long(self, key):
        return "%r is not a number its column holds (longer than %d characters)" % (key, self.limit)


class _Boolean:
    limit = 16

    def check(self, value, key, where, member):
        if value is not None and not isinstance(value, (bool, int)):
            raise _broken(member, "%r is not a boolean" % key, where)
        return value

    def too_long(self, key):
        return "%r is not a boolean" % key


class _Items:
    """A list decoded whole (bounded by MAX_VALUE_CHARS): each item checked by item(value, where)."""

    limit = MAX_VALUE_CHARS

    def __init__(self, item, allow_dict=False):
        self.item = item
        self.allow_dict = allow_dict

    def check(self, value, key, where, member):
        if value is None:
            return None
        here = "%s.%s" % (where, key)
        if self.allow_dict and isinstance(value, dict):
            for name, item in value.items():
                self.item(member, "%s[%r]" % (here, shown(name)), item, name)
            return value
        if not isinstance(value, list):
            raise _broken(member, "%r is not a list" % key, where)
        for index, item in enumerate(value):
            self.item(member, "%s[%d]" % (here, index), item)
        return value

    def too_long(self, key):
        return "%r is longer than %d characters of JSON text" % (key, self.limit)


class _Ignored:
    """A key the restore does not use: read within MAX_VALUE_CHARS, then dropped."""

    limit = MAX_VALUE_CHARS

    def check(self, value, key, where, member):
        return None

    def too_long(self, key):
        return "%r is longer than %d characters of JSON text" % (key, self.limit)


class _Walked:
    """A list of objects walked key by key (versions, pages)."""

    def __init__(self, fields):
        self.fields = fields


def _column(table, column, required=False):
    return _Text(MAX_LENGTHS[table][column], "%s.%s" % (table, column), required)


def _check_object(member, where, value, fields):
    if not isinstance(value, dict):
        raise _broken(member, "not an object", where)
    for key, field in fields.items():
        if key in value:
            value[key] = field.check(value[key], key, where, member)
    _check_required(value, fields, where, member)


def _tag(member, where, value, _name=None):
    _check_object(member, where, value, TAG_FIELDS)


def _group(member, where, value, _name=None):
    _check_object(member, where, value, GROUP_FIELDS)


def _text_item(max_chars, column):
    field = _Text(max_chars, column, required=True)

    def check(member, where, value, _name=None):
        field.check(value, "item", where, member)
    return check


def _preference(member, where, value, name=None):
    # Our archives: [{"section", "name", "raw_value"}]; {"section__name": raw_value} is read too.
    if name is None:
        _check_object(member, where, value, PREFERENCE_FIELDS)
        return
    limit = 2 * MAX_LENGTHS["dynamic_preferences_users_userpreferencemodel"]["name"] + 2
    if len(name) > limit:
        raise _broken(member, "a preference's name is longer than %d characters" % limit, where)
    _Text().check(value, "raw_value", where, member)


IGNORED = _Ignored()
TAG_FIELDS = {
    "name": _column("core_tag", "name", required=True),
    "slug": _column("core_tag", "slug"),
    "bg_color": _column("core_tag", "bg_color"),
    "fg_color": _column("core_tag", "fg_color"),
    "description": _column("core_tag", "description"),
    "pinned": _Boolean(),
    "id": _Uuid(),
}
GROUP_FIELDS = {
    "name": _column("auth_group", "name", required=True),
    "permissions": _Items(_text_item(PERMISSION_MAX, None)),
}
PREFERENCE_FIELDS = {
    "section": _column("dynamic_preferences_users_userpreferencemodel", "section"),
    "name": _column("dynamic_preferences_users_userpreferencemodel", "name", required=True),
    "raw_value": _Text(),
}
TOP_FIELDS = {
    "created": _Text(META_MAX),
    "version": _Text(META_MAX),
    "groups": _Items(_group),
}
USER_FIELDS = {
    "id": _Uuid(required=True),
    "username": _column("core_user", "username", required=True),
    "password": _column("core_user", "password", required=True),
    "first_name": _column("core_user", "first_name"),
    "last_name": _column("core_user", "last_name"),
    "email": _column("core_user", "email"),
    "last_login": _Date(),
    "date_joined": _Date(),
    "created_at": _Date(),
    "updated_at": _Date(),
    "is_superuser": _Boolean(),
    "is_staff": _Boolean(),
    "is_active": _Boolean(),
    "tags": _Items(_tag),
    "group_names": _Items(_text_item(MAX_LENGTHS["auth_group"]["name"], "auth_group.name")),
    "permission_names": _Items(_text_item(PERMISSION_MAX, None)),
    "preferences": _Items(_preference, allow_dict=True),
}
PAGE_FIELDS = {
    "number": _Integer(INTEGER, required=True),
    "page_count": _Integer(INTEGER),
    "text": _Text(),
    "lang": _column("core_page", "lang"),
    "file_path": _Text(FILE_PATH_MAX),
    "id": _Uuid(),
    "norm_doc_title": _column("core_page", "norm_doc_title"),
    "norm_folder_title": _column("core_page", "norm_folder_title"),
    "norm_breadcrump": _column("core_page", "norm_breadcrump"),
    "norm_text": _Text(),
    "image": _column("core_page", "image"),
}
VERSION_FIELDS = {
    "number": _Integer(INTEGER, required=True),
    "file_name": _column("core_documentversion", "file_name"),
    "file_path": _Text(FILE_PATH_MAX),
    # Papermerge records 0 for versions made by OCR or page edits ("TODO: set to newly created file size").
    "size": _Integer(BIGINT, low=0),
    "page_count": _Integer(INTEGER),
    "short_description": _column("core_documentversion", "short_description"),
    "text": _Text(),
    "lang": _column("core_documentversion", "lang"),
    "id": _Uuid(),
    "pages": _Walked(PAGE_FIELDS),
}
NODE_FIELDS = {
    "breadcrumb": _Text(BREADCRUMB_MAX, required=True),
    "title": _column("core_basetreenode", "title", required=True),
    "ctype": _column("core_basetreenode", "ctype", required=True),
    "lang": _column("core_basetreenode", "lang"),
    "id": _Uuid(),
    "tags": _Items(_tag),
    "created_at": _Date(),
    "updated_at": _Date(),
    "ocr": _Boolean(),
    "ocr_status": _column("core_document", "ocr_status"),
    "versions": _Walked(VERSION_FIELDS),
}


# -- the checks across a node's fields ------------------------------------------------------------------------

def _check_node(node, where, member):
    if node["ctype"] not in CTYPES:
        raise _broken(member, "'ctype' must be 'folder' or 'document'", where)
    title = node["title"]
    if not title or title in (".", "..") or any(c in title for c in "/\x00"):
        raise _broken(member, "title %r is not a valid node title" % shown(title), where)
    if node_path(node).rsplit("/", 1)[-1] != title:
        raise _broken(member, "breadcrumb %r does not end with the title %r"
                      % (shown(node["breadcrumb"]), shown(title)), where)
    if node["ctype"] == "document":
        if node.get("id") is None:
            raise _broken(member, "'id' is missing", where)
        if not isinstance(node.get("versions"), list):
            raise _broken(member, "'versions' is missing or not a list", where)
        for index, version in enumerate(node["versions"]):
            _check_file_name(version.get("file_name"), "%s.versions[%d]" % (where, index), member)


def _check_file_name(file_name, where, member):
    # Papermerge finds a version's file at docs/user_<id>/document_<id>/v<N>/<file_name>: a file_name with a
    # '/' or '..' would make it serve (and write) files outside the media root once the row is restored.
    if file_name is None:
        return
    if file_name in (".", "..") or any(c in file_name for c in "/\x00"):
        raise _broken(member, "'file_name' %r is not a plain file name" % shown(file_name), where)


def node_path(node):
    """A node's breadcrumb without the trailing '/' that marks folders: '.home/A' or '.home/A/x.pdf'."""
    return "/".join(part for part in node["breadcrumb"].split("/") if part)


def parent_path(path):
    """The path of a node's parent folder, or None for top-level nodes (.home, .inbox)."""
    return path.rsplit("/", 1)[0] if "/" in path else None
