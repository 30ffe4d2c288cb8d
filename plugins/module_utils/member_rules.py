# -*- coding: utf-8 -*-
# Copyright: papermerge.backup contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
#
# This module_utils is PRIVATE and should only be used by this collection. Breaking changes can occur any time.
"""What an archive member may be: safe names, the three member types a backup holds, where symlinks may sit
and point, the checks across members (a file is never also a folder, no name appears twice), and which media
files backup.json names (DeclaredMedia).

Media files must be what backup.json says.  Both producers write, for every document version backup.json
names, its file at docs/<folder>/<file_name> (Papermerge's DocumentPath; archive_format.version_folder) and
sidecars below sidecars/<folder>/: ours every file of that folder (svg, jpg, txt, hocr per page, previews),
Papermerge's own the page SVGs its rows name.  Any other media file is one no row references: it is refused,
not restored into the media root.  A version file must have the size backup.json records for it (where it
records one: Papermerge leaves 0 on versions made by OCR or page edits), and no sidecar is larger than
SIDECAR_MAX.  These checks run on a member's header, before its data is read, whenever backup.json came
before it (our archives), and on every file after the pass otherwise.

Every refusal is unsafe_member(): it names the member and says that nothing was written.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import posixpath
import uuid

from ansible_collections.papermerge.backup.plugins.module_utils.archive_format import (
    MEDIA_FOLDERS, in_sidecar_folder, version_folder)
from ansible_collections.papermerge.backup.plugins.module_utils.errors import PapermergeBackupError, shown

# A page's sidecar (an SVG with its image, a JPEG, hOCR, text) is a few MB at most, however large the page.
SIDECAR_MAX = 256 * 1024 * 1024


def unsafe_member(raw_name, reason):
    """The error refusing the archive because of the member raw_name."""
    return PapermergeBackupError(
        "archive member %r is unsafe: %s. The archive was refused and nothing was written; it is damaged "
        "or was not made by papermerge_backup or Papermerge's `manage.py backup`" % (shown(raw_name), reason),
        member=shown(raw_name))


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


def member_kind(info):
    """'file', 'dir' or 'symlink' for the member types a backup holds; refuse every other type."""
    if info.isreg():
        return "file"
    if info.isdir():
        return "dir"
    if info.issym():
        return "symlink"
    if info.islnk():
        reason = "hard links can point at files outside the archive (link to %r)" % shown(info.linkname)
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
        raise unsafe_member(name, "symlink target %r is absolute or empty" % (shown(linkname),))
    target = posixpath.normpath(posixpath.join(posixpath.dirname(name), linkname))
    if target == ".." or target.startswith("../") or target.startswith("/"):
        raise unsafe_member(name, "symlink target %r points outside the archive" % (shown(linkname),))
    return target


def is_media_name(name):
    """True for names under docs/ or sidecars/ (the only files a restore puts into the media root)."""
    return name.split("/", 1)[0] in MEDIA_FOLDERS and "/" in name


def check_media_size(name, size, raw_name):
    """Refuse a sidecar larger than SIDECAR_MAX, on its header, whatever backup.json says (it may come later)."""
    if size > SIDECAR_MAX and name.startswith("sidecars/"):
        raise unsafe_member(raw_name, "a sidecar of %d bytes is implausibly large (at most %d)" % (size, SIDECAR_MAX))


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
                raise unsafe_member(link.raw_name, "it sits below the file member %r" % shown(prefix))


def check_file_prefixes(contents):
    """A file cannot also be a folder: 'docs/a' and 'docs/a/b' in one archive is refused."""
    for name, member in contents.files.items():
        for prefix in _prefixes(name):
            if prefix in contents.files:
                raise unsafe_member(member.raw_name, "it sits below the file member %r" % shown(prefix))


def check_unique_names(contents):
    """No name is two members: a folder that is also a file or a symlink, or a symlink twice, would make the
    archive mean one thing to this reader and another to a tar program (the last one wins there).  Nothing
    may sit below a symlink either: tar would create it wherever the link points."""
    links = set()
    for link in contents.symlinks:
        if link.name in links or link.name in contents.dirs or link.name in contents.files:
            raise unsafe_member(link.raw_name, "another member has the same name")
        links.add(link.name)
    for name in contents.dirs:
        if name in contents.files:
            raise unsafe_member(name, "it is both a directory and a file")
    for name in list(contents.dirs) + sorted(links):
        for prefix in _prefixes(name):
            if prefix in links:
                raise unsafe_member(name, "it sits below the symlink member %r" % shown(prefix))


def check_user_folders(contents, usernames):
    """Every symlink must sit in a folder named after a user of the archive (directories are never created)."""
    allowed = set(usernames)
    for link in contents.symlinks:
        if link.name.split("/", 1)[0] not in allowed:
            raise unsafe_member(link.raw_name, "symlinks are allowed only inside the per-user folders, and no "
                                               "user in backup.json is called %r" % shown(link.name.split("/", 1)[0]))


class DeclaredMedia:
    """The media files backup.json names: each version's file (with the size it records, 0 for none) and the
    folder of its sidecars.  backup_json fills it in with add_version(); check() judges one member."""

    def __init__(self):
        self.files = {}         # member name of a version's file -> size backup.json records (0: none)
        self.folders = set()    # version folders, as archive_format.version_folder makes them

    def add_version(self, user_id, document_id, number, file_name, size):
        folder = version_folder(uuid.UUID(user_id), uuid.UUID(document_id), number)
        self.folders.add(folder)
        # Papermerge's DocumentPath formats file_name as it is, None too ('.../v1/None').
        name = "docs/%s/%s" % (folder, file_name)
        size = size or 0
        known = self.files.get(name, size)
        self.files[name] = size if known == size else 0  # two versions at one path: no size to hold it to

    def check(self, name, size, raw_name):
        """Refuse the media file member name (of size bytes) unless backup.json names it, with that size."""
        if name.startswith("docs/"):
            self._check_version_file(name, size, raw_name)
        elif not in_sidecar_folder(name, self.folders):
            raise unsafe_member(raw_name, "backup.json names no document version whose sidecar folder holds "
                                          "it; restored, it would lie in the media root with no row referencing "
                                          "it")

    def _check_version_file(self, name, size, raw_name):
        if name not in self.files:
            raise unsafe_member(raw_name, "backup.json names no document version with this file; restored, it "
                                          "would lie in the media root with no row referencing it")
        declared = self.files[name]
        if declared and declared != size:
            raise unsafe_member(raw_name, "it holds %d bytes, but backup.json records %d for its document "
                                          "version" % (size, declared))

    def missing(self, files):
        """Member names of the version files not among files (a dict or set of member names), sorted."""
        return sorted(name for name in self.files if name not in files)


def _prefixes(name):
    parts = name.split("/")
    return ["/".join(parts[:i]) for i in range(1, len(parts))]
