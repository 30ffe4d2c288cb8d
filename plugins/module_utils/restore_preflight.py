# -*- coding: utf-8 -*-
# Copyright: papermerge.backup contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
#
# This module_utils is PRIVATE and should only be used by this collection. Breaking changes can occur any time.
"""Before a restore reads anything: the archive is a file, the media root exists, a private staging directory,
and (once the archive is read) whether it comes from a Papermerge no newer than the instance's.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
import re
import shutil
import tempfile
import time

from ansible_collections.papermerge.backup.plugins.module_utils.errors import PapermergeBackupError
from ansible_collections.papermerge.backup.plugins.module_utils.setting_names import setting

STAGE_PREFIX = ".papermerge-restore-"
STALE_STAGE_SECONDS = 24 * 3600


def check_source(src):
    """The archive's absolute path; refuses a path that is not a file."""
    src = os.path.abspath(os.path.expanduser(src))
    if not os.path.isfile(src):
        raise PapermergeBackupError("archive %s does not exist (or is not a file): give %s the path of the "
                                    "archive on the host" % (src, setting("src")), archive=src)
    return src


def check_media_root(media_root):
    """The media root's real path; refuses one that does not exist (a restore never creates it)."""
    if not os.path.isdir(media_root):
        raise PapermergeBackupError(
            "media root %s does not exist: create it (owned by the user Papermerge runs as) or set %s to the "
            "instance's media directory" % (media_root, setting("media_root")), media_root=media_root)
    return os.path.realpath(media_root)


def make_work_dir(media_root, check_mode):
    """A new private (0700) directory for staging files and spooling backup.json; the caller removes it."""
    # Staging inside the media root keeps the final move a rename on one filesystem; check mode writes
    # nothing there and spools backup.json to the system's temporary directory instead.
    try:
        if check_mode:
            return tempfile.mkdtemp(prefix=STAGE_PREFIX)
        remove_stale_stages(media_root)
        return tempfile.mkdtemp(prefix=STAGE_PREFIX, dir=media_root)
    except (IOError, OSError) as error:
        raise PapermergeBackupError("cannot create a staging directory in %s: %s (is the media root writable by "
                                    "the user running the module?)" % (media_root, error))


def remove_stale_stages(media_root, now=None):
    """Remove staging directories a killed restore left behind (older than STALE_STAGE_SECONDS).

    A restore removes its own staging directory whatever happens, unless the process is killed; such a
    leftover holds only copies of archive files, never anything the instance uses.
    """
    now = time.time() if now is None else now
    removed = []
    for name in os.listdir(media_root):
        path = os.path.join(media_root, name)
        if not name.startswith(STAGE_PREFIX) or os.path.islink(path) or not os.path.isdir(path):
            continue
        if now - os.lstat(path).st_mtime > STALE_STAGE_SECONDS:
            shutil.rmtree(path, ignore_errors=True)
            removed.append(name)
    return removed


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
