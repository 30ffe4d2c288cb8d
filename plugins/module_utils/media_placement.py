# -*- coding: utf-8 -*-
# Copyright: papermerge.backup contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
#
# This module_utils is PRIVATE and should only be used by this collection. Breaking changes can occur any time.
"""The media root side of a restore: where each file goes (refusing paths that resolve outside it), and moving
the staged files there without ever overwriting anything, as planned before the first move (the restore's
journal lists the plan; restore_journal undoes it when the restore fails).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import collections
import os

from ansible_collections.papermerge.backup.plugins.module_utils.errors import PapermergeBackupError


class MediaTargets:
    """Paths in the media root for docs/ and sidecars/ members, refusing any that resolves outside it.

    Names are asked for in sorted order (tens of thousands of files in thousands of folders), so the folders
    checked last are the ones asked about next: only the most recent RECENT are remembered, which spares nearly
    every repeated check while memory stays flat.  A folder found missing tells that the files in it are absent
    without asking the disk.
    """

    RECENT = 64

    def __init__(self, media_root):
        self.media_root = media_root
        self.recent = collections.OrderedDict()  # directory -> True when it is missing

    def path(self, name):
        return self.locate(name)[0]

    def locate(self, name):
        """(path in the media root, True when its directory does not exist yet)."""
        target = os.path.join(self.media_root, *name.split("/"))
        return target, self._missing(os.path.dirname(target), name)

    def _missing(self, directory, name):
        known = self.recent.get(directory)
        if known is not None:
            self.recent.move_to_end(directory)
            return known
        # What counts is the nearest directory that exists: a missing one is only as safe as its parent.
        if directory != self.media_root and not os.path.lexists(directory):
            self._missing(os.path.dirname(directory), name)
            missing = True
        else:
            resolved = os.path.realpath(directory)
            if resolved != self.media_root and not resolved.startswith(self.media_root + os.sep):
                raise PapermergeBackupError(
                    "media file %s would be written through %s, which resolves outside the media root %s: remove "
                    "that symlink or give media_root the real directory; nothing was written"
                    % (name, directory, self.media_root), member=name)
            missing = False
        self.recent[directory] = missing
        if len(self.recent) > self.RECENT:
            self.recent.popitem(last=False)
        return missing


def partial_dirs(placed, files):
    """Directories (relative names) holding a staged file of files ({name: Member}) that is not in placed.

    Such a directory cannot be moved into place whole.  Usually there is none: memory grows with what is
    left out (skipped or existing files), not with the size of the archive.
    """
    placed = set(id(member) for member in placed)
    partial = set()
    for name, member in files.items():
        if member.stage_dir is None or id(member) in placed:
            continue
        end = name.rfind("/")
        while end > 0:
            partial.add(name[:end])
            end = name.rfind("/", 0, end)
    return partial


class MovedFiles:
    """Moves staged files into the media root: plan_moves(), then move_all(); count says how many files moved."""

    def __init__(self, media_root):
        self.media_root = media_root
        self.count = 0
        self.known_dirs = set()
        self.new_dirs = []
        owner = _owner_of(media_root)
        # Files restored as root must still belong to the user Papermerge runs as (the media root's owner).
        self.owner = owner if owner and hasattr(os, "geteuid") and owner != (os.geteuid(), os.getegid()) else None

    def plan_moves(self, members, partial):
        """The moves that place members (staged as a tree; sorted by name, so the files below one directory
        come one after the other): (name, [members]) for a directory missing from the media root all of whose
        staged files are to be placed, moved with one rename; (name, [member]) for any other file.

        Also sets new_dirs: the directories (relative names, parents first) to create for them.  Nothing is
        changed: the restore's journal lists these before the first move.
        """
        moves = []
        present = set()
        index = 0
        while index < len(members):
            member = members[index]
            directory = self._new_tree_of(member, partial, present)
            end = index + 1
            if directory is not None:
                while end < len(members) and members[end].name.startswith(directory + "/"):
                    end += 1
            moves.append((directory or member.name, members[index:end]))
            index = end
        self.new_dirs = self._missing_parents([name for name, _members in moves])
        return moves

    def _missing_parents(self, names):
        missing, seen = [], set()
        for name in names:
            parts = name.split("/")
            for end in range(1, len(parts)):
                directory = "/".join(parts[:end])
                if directory not in seen:
                    seen.add(directory)
                    if not os.path.lexists(os.path.join(self.media_root, *parts[:end])):
                        missing.append(directory)
        return missing

    def move_all(self, moves, targets):
        """Carry out plan_moves()'s moves."""
        for name, members in moves:
            if len(members) == 1 and members[0].name == name:
                self.move(members[0], targets.path(name))
            else:
                staged = os.path.join(members[0].stage_dir, *name.split("/"))
                self._move_tree(staged, targets.path(name), name, len(members))

    def _new_tree_of(self, member, partial, present):
        """The topmost directory of member's name that the media root lacks and that is restored whole, or None."""
        parts = member.name.split("/")
        for end in range(1, len(parts)):
            directory = "/".join(parts[:end])
            if directory in present:
                continue
            if os.path.lexists(os.path.join(self.media_root, *parts[:end])):
                present.add(directory)
                continue
            if directory not in partial:
                return directory
            # missing, but not all of it is restored: a directory below may be
        return None

    def _move_tree(self, staged, target, name, count):
        self._make_dirs(os.path.dirname(target))
        if self.owner:
            for root, _subdirs, files in os.walk(staged):
                for entry in [root] + [os.path.join(root, f) for f in files]:
                    os.lchown(entry, self.owner[0], self.owner[1])
        # rename() refuses a target that is a file, a symlink or a non-empty directory, so nothing that
        # appeared since the plan is overwritten (an empty directory made meanwhile is replaced: it held nothing).
        try:
            os.rename(staged, target)
        except OSError:
            if os.path.lexists(target):
                raise PapermergeBackupError("media folder %s appeared while restoring; it was not overwritten"
                                            % name, member=name)
            raise
        self.count += count

    def move(self, member, target):
        self._make_dirs(os.path.dirname(target))
        self._place(member.staged, target, member.name)
        self.count += 1
        if self.owner:
            os.lchown(target, self.owner[0], self.owner[1])

    @staticmethod
    def _place(staged, target, name):
        # link() never replaces an existing file (rename() would): a file that appeared since the plan is
        # a collision, not something to overwrite.  Filesystems without hard links fall back to rename().
        try:
            os.link(staged, target)
        except FileExistsError:
            raise PapermergeBackupError("media file %s appeared while restoring; it was not overwritten" % name,
                                        member=name)
        except OSError:
            if os.path.lexists(target):
                raise PapermergeBackupError("media file %s appeared while restoring; it was not overwritten"
                                            % name, member=name)
            os.rename(staged, target)
            return
        os.unlink(staged)

    def _make_dirs(self, directory):
        if directory in self.known_dirs:
            return
        missing = []
        while directory not in self.known_dirs and not os.path.isdir(directory):
            missing.append(directory)
            directory = os.path.dirname(directory)
        for path in reversed(missing):
            os.mkdir(path, 0o755)
            if self.owner:
                os.lchown(path, self.owner[0], self.owner[1])
        self.known_dirs.update(missing)
        self.known_dirs.add(directory)


def _owner_of(path):
    try:
        info = os.stat(path)
    except OSError:
        return None
    return info.st_uid, info.st_gid
