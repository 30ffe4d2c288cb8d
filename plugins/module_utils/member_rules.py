# -*- coding: utf-8 -*-
# Copyright: papermerge.backup contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
#
# This module_utils is PRIVATE and should only be used by this collection. Breaking changes can occur any time.
"""What an archive member may be: safe names, the three member types a backup holds, where symlinks may sit
and point, and the checks across members (a file is never also a folder).

Every refusal is unsafe_member(): it names the member and says that nothing was written.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import posixpath

from ansible_collections.papermerge.backup.plugins.module_utils.archive_format import MEDIA_FOLDERS
from ansible_collections.papermerge.backup.plugins.module_utils.errors import PapermergeBackupError


def unsafe_member(raw_name, reason):
    """The error refusing the archive because of the member raw_name."""
    return PapermergeBackupError(
        "archive member %r is unsafe: %s. The archive was refused and nothing was written; it is damaged "
        "or was not made by papermerge_backup or Papermerge's `manage.py backup`" % (raw_name, reason),
        member=raw_name)


def normalize_member_name(raw_name):
    """The safe, normalised form of a member name, or PapermergeBackupError naming the member.

    Empty and '.' components are dropped (Papermerge's own archives hold 'pages//000001/...', other tar
    tools write './docs/...'); absolute names, '..' components, drive-letter names ('C:...') and NUL
    characters are refused.
    """
    if not isinstance(raw_name, str) or not raw_name:
        raise unsafe_member(raw_name, "the member has no name")
    if "\x00" in raw_name:
        raise unsafe_member(raw_name, "the name contains a NUL character")
    if raw_name.startswith("/"):
        raise unsafe_member(raw_name, "absolute member names would write outside the media root")
    if len(raw_name) > 1 and raw_name[1] == ":" and raw_name[0].isalpha():
        raise unsafe_member(raw_name, "drive-letter names are absolute on Windows")
    parts = [part for part in raw_name.split("/") if part not in ("", ".")]
    if any(part == ".." for part in parts):
        raise unsafe_member(raw_name, "'..' components would write outside the media root")
    if not parts:
        raise unsafe_member(raw_name, "the name is empty once normalised")
    return "/".join(parts)


def normalized_or_none(raw_name):
    """normalize_member_name(raw_name), or None for a name no archive member could have."""
    try:
        return normalize_member_name(raw_name)
    except PapermergeBackupError:
        return None


def member_kind(info):
    """'file', 'dir' or 'symlink' for the member types a backup holds; refuse every other type."""
    if info.isreg():
        return "file"
    if info.isdir():
        return "dir"
    if info.issym():
        return "symlink"
    if info.islnk():
        reason = "hard links can point at files outside the archive (link to %r)" % info.linkname
    elif info.ischr() or info.isblk():
        reason = "device nodes have no place in a backup"
    elif info.isfifo():
        reason = "FIFOs have no place in a backup"
    else:
        reason = "member type %r is not a regular file, directory or symlink" % info.type
    raise unsafe_member(info.name, reason)


def symlink_target(name, linkname):
    """The archive-relative name a symlink member points at; refuse targets that leave the archive."""
    if not linkname or linkname.startswith("/") or "\x00" in linkname:
        raise unsafe_member(name, "symlink target %r is absolute or empty" % (linkname,))
    target = posixpath.normpath(posixpath.join(posixpath.dirname(name), linkname))
    if target == ".." or target.startswith("../") or target.startswith("/"):
        raise unsafe_member(name, "symlink target %r points outside the archive" % (linkname,))
    return target


def is_media_name(name):
    """True for names under docs/ or sidecars/ (the only files a restore puts into the media root)."""
    return name.split("/", 1)[0] in MEDIA_FOLDERS and "/" in name


def check_symlinks(contents):
    """Symlinks may only live in the per-user folders and point inside the archive.

    They are never created on disk; this check refuses archives built to trick other tools (and us, were
    we ever to extract them).  Whether their first component is a user's name is checked against
    backup.json later (check_user_folders), because Papermerge's own archives put backup.json last.
    """
    for link in contents.symlinks:
        if link.name.split("/", 1)[0] in MEDIA_FOLDERS or "/" not in link.name:
            raise unsafe_member(link.raw_name, "symlinks are allowed only inside the per-user folders")
        symlink_target(link.name, link.linkname)
        for prefix in _prefixes(link.name):
            if prefix in contents.files:
                raise unsafe_member(link.raw_name, "it sits below the file member %r" % prefix)


def check_file_prefixes(contents):
    """A file cannot also be a folder: 'docs/a' and 'docs/a/b' in one archive is refused."""
    for name, member in contents.files.items():
        for prefix in _prefixes(name):
            if prefix in contents.files:
                raise unsafe_member(member.raw_name, "it sits below the file member %r" % prefix)


def check_user_folders(contents, usernames):
    """Every symlink must sit in a folder named after a user of the archive (directories are never created)."""
    allowed = set(usernames)
    for link in contents.symlinks:
        if link.name.split("/", 1)[0] not in allowed:
            raise unsafe_member(link.raw_name, "symlinks are allowed only inside the per-user folders, and no "
                                               "user in backup.json is called %r" % link.name.split("/", 1)[0])


def _prefixes(name):
    parts = name.split("/")
    return ["/".join(parts[:i]) for i in range(1, len(parts))]
