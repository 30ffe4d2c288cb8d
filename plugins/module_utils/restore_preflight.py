# -*- coding: utf-8 -*-
# Copyright: papermerge.backup contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
#
# This module_utils is PRIVATE and should only be used by this collection. Breaking changes can occur any time.
"""Before a restore reads anything: the archive is a file, the media root exists (or its parent does: a fresh
instance's is created) and is writable; once the archive is read, whether it comes from a Papermerge no newer
than the instance's and (check mode) whether the media root has the space to stage it.  Check mode and the real
run refuse with the same messages.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import errno
import os
import re

from ansible_collections.papermerge.backup.plugins.module_utils.errors import PapermergeBackupError
from ansible_collections.papermerge.backup.plugins.module_utils.setting_names import setting

BLOCK = 4096


def check_source(src):
    """The archive's absolute path; refuses a path that is not a file."""
    src = os.path.abspath(os.path.expanduser(src))
    if not os.path.isfile(src):
        raise PapermergeBackupError("archive %s does not exist (or is not a file): give %s the path of the "
                                    "archive on the host" % (src, setting("src")), archive=src)
    return src


def check_media_root(media_root):
    """(the media root's real path, whether it is still to be created).

    A fresh instance has no media root until its first upload (Papermerge creates it then), so a restore into
    one creates it too, in a parent that exists; a media root whose parent is missing as well is refused (a
    mistyped path, or a volume not mounted).
    """
    path = os.path.realpath(media_root)
    if os.path.isdir(path):
        return path, False
    if os.path.lexists(path) or not os.path.isdir(os.path.dirname(path)):
        raise PapermergeBackupError(
            "media root %s does not exist (nor does its parent directory) or is not a directory: create it (owned "
            "by the user Papermerge runs as) or set %s to the instance's media directory"
            % (media_root, setting("media_root")), media_root=media_root)
    return path, True


def create_media_root(media_root):
    """Make the missing media root as Papermerge would (mode from the umask), owned like its parent: a restore
    run as root must leave it to the user Papermerge runs as."""
    try:
        os.mkdir(media_root)
    except OSError as error:
        if error.errno != errno.EEXIST or not os.path.isdir(media_root):
            raise PapermergeBackupError("cannot create the media root %s: %s; create it (owned by the user "
                                        "Papermerge runs as) and run the restore again"
                                        % (media_root, error.strerror or error), media_root=media_root)
        return
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        parent = os.stat(os.path.dirname(media_root))
        os.chown(media_root, parent.st_uid, parent.st_gid)


def media_root_warning(media_root):
    """Check mode: what the real run will create."""
    return ("the media root %s does not exist yet (Papermerge creates it on the first upload): the restore creates "
            "it, owned like %s" % (media_root, os.path.dirname(media_root)))


def check_writable(media_root, missing=False):
    """Refuse a media root the restore cannot write, with the message check mode predicts it with; a missing
    one (missing) is judged by its parent, where the restore creates it."""
    where = os.path.dirname(media_root) if missing else media_root
    if os.access(where, os.W_OK | os.X_OK):  # access() reports a read-only filesystem too (EROFS)
        return
    if missing:
        media_root = "%s (still to be created, in %s)" % (media_root, where)
    if _read_only_filesystem(where):
        why = "on a read-only filesystem"
        fix = "mount it read-write"
    else:
        why = "not writable by %s" % _user_name()
        fix = "run the restore as the user Papermerge runs as (the owner of the media root) or as root"
    raise PapermergeBackupError(
        "the media root %s is %s: a restore stages the archive's files there and moves them into place. %s and "
        "run the restore again; nothing was written" % (media_root, why, fix), media_root=media_root)


def check_free_space(media_root, contents):
    """Check mode: refuse, as the real run would fail, when the media root's filesystem cannot hold the staged
    archive (every file of it, backup.json and the manifest; a block and an inode per file and folder)."""
    files = list(contents.files.values())
    entries = len(files) + len(contents.dirs) + 8
    needed = sum(_blocks(member.size) for member in files) + _blocks(contents.backup_json_size) + \
        BLOCK * entries
    info = os.statvfs(media_root if os.path.isdir(media_root) else os.path.dirname(media_root))
    root = hasattr(os, "geteuid") and os.geteuid() == 0
    free = (info.f_bfree if root else info.f_bavail) * info.f_frsize
    inodes = info.f_ffree if root else info.f_favail
    if needed > free or (info.f_files and entries > inodes):
        raise no_space_error(media_root, "it needs %s for the archive's files and %d inodes; %s and %d inodes are "
                                         "free" % (_size(needed), entries, _size(free), inodes))


def no_space_error(media_root, detail):
    """The one message of a media root without the space a restore needs (check mode predicts it)."""
    return PapermergeBackupError("%s; nothing was written" % no_space_text(media_root, detail), media_root=media_root)


def no_space_text(media_root, detail):
    return ("no space left on the filesystem of the media root %s: a restore stages every file of the archive "
            "there before the commit (%s). Free space there, then run the restore again" % (media_root, detail))


def _blocks(size):
    return (size + BLOCK - 1) // BLOCK * BLOCK


def _size(number):
    for unit in ("B", "KiB", "MiB", "GiB"):
        if number < 1024 or unit == "GiB":
            return ("%d %s" if unit == "B" else "%.1f %s") % (number, unit)
        number /= 1024.0


def _read_only_filesystem(path):
    try:
        return bool(os.statvfs(path).f_flag & os.ST_RDONLY)
    except (OSError, AttributeError):
        return False


def _user_name():
    try:
        import pwd
        return "user %s" % pwd.getpwuid(os.geteuid()).pw_name
    except (ImportError, KeyError, AttributeError):
        return "the user running the module"


def version_tuple(text):
    """(2, 1, 5) for '2.1.5', '2.1.5rc1' or 'v2.1.5'; None when text holds no version."""
    match = re.match(r"^v?(\d+(?:\.\d+)*)", str(text or "").strip())
    if not match:
        return None
    numbers = [int(part) for part in match.group(1).split(".")]
    while len(numbers) < 3:
        numbers.append(0)
    return tuple(numbers)


def check_version(archive, instance, allow_newer):
    """Refuse an archive from a newer Papermerge than the instance's, unless allowed."""
    if allow_newer or not instance:
        return
    made_by, running = version_tuple(archive), version_tuple(instance)
    if made_by is None:
        raise PapermergeBackupError(
            "the archive does not say which Papermerge version made it (backup.json 'version' is %r): set %s: "
            "true if you know it is not newer than this instance's %s" % (archive, setting("allow_newer_version"),
                                                                          instance))
    if made_by > running:
        raise PapermergeBackupError(
            "the archive was made by Papermerge %s, newer than this instance's %s: upgrade the instance first, or "
            "set %s: true to restore it anyway (its data may not fit the older schema)"
            % (archive, instance, setting("allow_newer_version")), archive_version=archive, instance_version=instance)
