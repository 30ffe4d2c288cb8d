# -*- coding: utf-8 -*-
# Copyright: papermerge.backup contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
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

import json
import uuid

from ansible_collections.papermerge.backup.plugins.module_utils.errors import PapermergeBackupError

CTYPES = ("folder", "document")
FORBIDDEN_TITLE_CHARACTERS = "<>/\\;:&"


class BackupJson:
    """The parsed backup.json: meta data, users (without their nodes) and each user's nodes."""

    def __init__(self, data):
        self.created = data.get("created")
        self.version = data.get("version")
        self.extra = dict((k, v) for k, v in data.items() if k not in ("users", "created", "version"))
        self.users = []
        self._nodes = []
        for user in data["users"]:
            user = dict(user)
            self._nodes.append(user.pop("nodes"))
            self.users.append(user)

    def iter_nodes(self, user_index):
        return iter(self._nodes[user_index])

    def counts(self):
        counts = dict(users=len(self.users), folders=0, documents=0, versions=0, pages=0, tags=0)
        for index, user in enumerate(self.users):
            counts["tags"] += len(user.get("tags") or [])
            for node in self.iter_nodes(index):
                if node["ctype"] == "folder":
                    counts["folders"] += 1
                    continue
                counts["documents"] += 1
                for version in node.get("versions") or []:
                    counts["versions"] += 1
                    counts["pages"] += len(version.get("pages") or [])
        return counts


def load(path, member="backup.json"):
    """Parse and check the spooled backup.json at path; PapermergeBackupError says what is wrong."""
    try:
        with open(path, "rb") as handle:
            data = json.loads(handle.read().decode("utf-8"))
    except UnicodeDecodeError as error:
        raise _broken(member, "it is not UTF-8 (%s)" % error)
    except ValueError as error:
        raise _broken(member, "it is not valid JSON (%s)" % error)
    check_shape(data, member)
    return BackupJson(data)


def _broken(member, reason, where=None):
    location = " at %s" % where if where else ""
    return PapermergeBackupError(
        "the archive's %s cannot be restored%s: %s. The archive is damaged or was not made by "
        "papermerge_backup or Papermerge's `manage.py backup`; nothing was written" % (member, location, reason),
        member=member)


def check_shape(data, member="backup.json"):
    """Refuse a backup.json that does not have the shape a restore needs, naming the first bad place."""
    if not isinstance(data, dict):
        raise _broken(member, "the top level is not an object")
    users = data.get("users")
    if not isinstance(users, list):
        raise _broken(member, "the 'users' list is missing")
    if "version" in data and not isinstance(data["version"], str):
        raise _broken(member, "'version' is not a string")
    usernames = set()
    for index, user in enumerate(users):
        where = "users[%d]" % index
        _check_user(user, where, member)
        if user["username"] in usernames:
            raise _broken(member, "user %r appears twice" % user["username"], where)
        usernames.add(user["username"])


def _check_user(user, where, member):
    if not isinstance(user, dict):
        raise _broken(member, "not an object", where)
    _require(user, "username", str, where, member)
    _require(user, "password", str, where, member)
    _require(user, "nodes", list, where, member)
    _check_uuid(user, "id", where, member, required=True)
    for key in ("is_superuser", "is_staff", "is_active"):
        if key in user and not isinstance(user[key], (bool, int)):
            raise _broken(member, "%r is not a boolean" % key, where)
    _check_tags(user.get("tags", []), where + ".tags", member)
    for index, node in enumerate(user["nodes"]):
        _check_node(node, "%s.nodes[%d]" % (where, index), member)


def _check_tags(tags, where, member):
    if not isinstance(tags, list):
        raise _broken(member, "not a list", where)
    for index, tag in enumerate(tags):
        here = "%s[%d]" % (where, index)
        if not isinstance(tag, dict):
            raise _broken(member, "not an object", here)
        _require(tag, "name", str, here, member)


def _check_node(node, where, member):
    if not isinstance(node, dict):
        raise _broken(member, "not an object", where)
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
    if not isinstance(version, dict):
        raise _broken(member, "not an object", where)
    _require(version, "number", int, where, member)
    _check_uuid(version, "id", where, member, required=False)
    pages = version.get("pages", [])
    if not isinstance(pages, list):
        raise _broken(member, "'pages' is not a list", where)
    for index, page in enumerate(pages):
        here = "%s.pages[%d]" % (where, index)
        if not isinstance(page, dict):
            raise _broken(member, "not an object", here)
        _require(page, "number", int, here, member)
        _check_uuid(page, "id", here, member, required=False)


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
