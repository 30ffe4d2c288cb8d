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
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import uuid

from ansible_collections.papermerge.backup.plugins.module_utils.archive_format import BACKUP_JSON
from ansible_collections.papermerge.backup.plugins.module_utils.errors import PapermergeBackupError
from ansible_collections.papermerge.backup.plugins.module_utils.json_stream import Scanner
from ansible_collections.papermerge.backup.plugins.module_utils.spool import open_text

CTYPES = ("folder", "document")


class BackupJson:
    """The parsed backup.json: meta data and users (without their nodes); nodes are streamed from the file.

    Memory stays flat however many documents there are: load() reads the file once to check its shape and
    keep the users, iter_nodes() reads it again and yields (user index, node) one node at a time.
    """

    def __init__(self, path, member=BACKUP_JSON):
        self.path = path
        self.member = member
        self.created = None
        self.version = None
        self.extra = {}
        self.users = []
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
            if value is not None and not isinstance(value, str):
                raise _broken(self.member, "'version' is not a string")
            self.version = value
        else:
            self.extra[key] = value

    def _take_user(self, index, user):
        where = "users[%d]" % index
        _check_user(user, where, self.member)
        if any(other["username"] == user["username"] for other in self.users):
            raise _broken(self.member, "user %r appears twice" % user["username"], where)
        self.users.append(user)
        self._counts["users"] += 1
        self._counts["tags"] += len(user.get("tags") or [])

    def _count(self, node):
        if node["ctype"] == "folder":
            self._counts["folders"] += 1
            return
        self._counts["documents"] += 1
        for version in node.get("versions") or []:
            self._counts["versions"] += 1
            self._counts["pages"] += len(version.get("pages") or [])


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
                    yield ("meta", key, scanner.value())
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
    if scanner.peek() != "{":
        raise _broken(member, "not an object", "users[%d]" % index)
    user = {}
    for key in scanner.object_keys():
        if key != "nodes":
            user[key] = scanner.value()
            continue
        if scanner.peek() != "[":
            raise _broken(member, "'nodes' is missing or not a list", "users[%d]" % index)
        for number in scanner.array_items():
            yield ("node", index, scanner.value(), number)
        user["nodes"] = True
    if "nodes" not in user:
        raise _broken(member, "'nodes' is missing or not a list", "users[%d]" % index)
    del user["nodes"]
    yield ("user", index, user)


def _broken(member, reason, where=None):
    location = " at %s" % where if where else ""
    return PapermergeBackupError(
        "the archive's %s cannot be restored%s: %s. The archive is damaged or was not made by "
        "papermerge_backup or Papermerge's `manage.py backup`; nothing was written" % (member, location, reason),
        member=member)


def _check_user(user, where, member):
    _require_object(user, where, member)
    _require(user, "username", str, where, member)
    _require(user, "password", str, where, member)
    _check_uuid(user, "id", where, member, required=True)
    for key in ("is_superuser", "is_staff", "is_active"):
        if key in user and not isinstance(user[key], (bool, int)):
            raise _broken(member, "%r is not a boolean" % key, where)
    _check_tags(user.get("tags", []), where + ".tags", member)


def _check_tags(tags, where, member):
    if not isinstance(tags, list):
        raise _broken(member, "not a list", where)
    for index, tag in enumerate(tags):
        here = "%s[%d]" % (where, index)
        _require_object(tag, here, member)
        _require(tag, "name", str, here, member)


def _check_node(node, where, member):
    _require_object(node, where, member)
    _require(node, "breadcrumb", str, where, member)
    _require(node, "title", str, where, member)
    if node.get("ctype") not in CTYPES:
        raise _broken(member, "'ctype' must be 'folder' or 'document'", where)
    title = node["title"]
    if not title or title in (".", "..") or any(c in title for c in "/\x00"):
        raise _broken(member, "title %r is not a valid node title" % title, where)
    if node_path(node).rsplit("/", 1)[-1] != title:
        raise _broken(member, "breadcrumb %r does not end with the title %r" % (node["breadcrumb"], title), where)
    _check_tags(node.get("tags", []), where + ".tags", member)
    _check_uuid(node, "id", where, member, required=node["ctype"] == "document")
    if node["ctype"] == "document":
        _require(node, "versions", list, where, member)
        for index, version in enumerate(node["versions"]):
            _check_version(version, "%s.versions[%d]" % (where, index), member)


def _check_version(version, where, member):
    _require_object(version, where, member)
    _require(version, "number", int, where, member)
    _check_uuid(version, "id", where, member, required=False)
    _check_file_name(version.get("file_name"), where, member)
    pages = version.get("pages", [])
    if not isinstance(pages, list):
        raise _broken(member, "'pages' is not a list", where)
    for index, page in enumerate(pages):
        here = "%s.pages[%d]" % (where, index)
        _require_object(page, here, member)
        _require(page, "number", int, here, member)
        _check_uuid(page, "id", here, member, required=False)


def _check_file_name(file_name, where, member):
    # Papermerge finds a version's file at docs/user_<id>/document_<id>/v<N>/<file_name>: a file_name with a
    # '/' or '..' would make it serve (and write) files outside the media root once the row is restored.
    if file_name is None:
        return
    if not isinstance(file_name, str) or file_name in (".", "..") or any(c in file_name for c in "/\x00"):
        raise _broken(member, "'file_name' %r is not a plain file name" % (file_name,), where)


def _require_object(value, where, member):
    if not isinstance(value, dict):
        raise _broken(member, "not an object", where)


def _require(obj, key, kind, where, member):
    value = obj.get(key)
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        kind_name = {str: "string", list: "list", int: "number"}.get(kind, kind)
        raise _broken(member, "%r is missing or not a %s" % (key, kind_name), where)


def _check_uuid(obj, key, where, member, required):
    if key not in obj or obj[key] is None:
        if required:
            raise _broken(member, "%r is missing" % key, where)
        return
    try:
        uuid.UUID(str(obj[key]))
    except ValueError:
        raise _broken(member, "%r is not a UUID: %r" % (key, obj[key]), where)


def node_path(node):
    """A node's breadcrumb without the trailing '/' that marks folders: '.home/A' or '.home/A/x.pdf'."""
    return "/".join(part for part in node["breadcrumb"].split("/") if part)


def parent_path(path):
    """The path of a node's parent folder, or None for top-level nodes (.home, .inbox)."""
    return path.rsplit("/", 1)[0] if "/" in path else None
