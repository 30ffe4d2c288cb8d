# -*- coding: utf-8 -*-
# Copyright: papermerge.backup contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
#
# This module_utils is PRIVATE and should only be used by this collection. Breaking changes can occur any time.
"""A restore drill's two checks around the restore into a throwaway instance (roles/drill).

Before: prepare() picks the archive (the newest in a directory, by the time in its name), reads and verifies all
of it (open_archive: every member against the manifest), writes what it holds to an "expected" JSON file (each
user's folders and documents, each version's file, every file member's size and sha256) and refuses when the
throwaway instance's file system lacks the space a restore needs, saying how much.
After: verify() compares that file with what Papermerge's own ORM reports about the restored instance (the
drill's prove.py, run through manage.py shell) and with the files in the throwaway media root, hashed again:
counts, every user's tree, every version's file where Papermerge looks for it, every file's sha256.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import hashlib
import json
import os
import shutil
import tempfile

from ansible_collections.papermerge.backup.plugins.module_utils.archive_reader import open_archive
from ansible_collections.papermerge.backup.plugins.module_utils.backup_json import node_path
from ansible_collections.papermerge.backup.plugins.module_utils.errors import PapermergeBackupError
from ansible_collections.papermerge.backup.plugins.module_utils.member_rules import normalize_member_name
from ansible_collections.papermerge.backup.plugins.module_utils.naming import DEFAULT_PATTERN, parse_archive_name

COUNT_KEYS = ("users", "folders", "documents", "versions", "pages", "tags")
LISTED = 20
# What a restore writes besides the files themselves, measured on Papermerge 2.1.5 (tests/integration/
# test_role_drill.py): the migrated empty SQLite database, the database rows (about backup.json's size again;
# pages carry their text twice), backup.json spooled once more, and a block per file and directory.
BASE_BYTES = 64 * 1024 * 1024
PER_ENTRY_BYTES = 4096
CHUNK = 1024 * 1024


def choose_archive(path):
    """path itself when it is a file; for a directory, its newest archive by the time in its name."""
    path = os.path.abspath(os.path.expanduser(path))
    if os.path.isfile(path):
        return path
    if not os.path.isdir(path):
        raise PapermergeBackupError("%s is neither an archive nor a directory of archives: set "
                                    "papermerge_drill_archive, or papermerge_backup_dir to where the backups are" % path)
    newest = None
    for name in os.listdir(path):
        parsed = parse_archive_name(name, DEFAULT_PATTERN)
        if parsed is not None and os.path.isfile(os.path.join(path, name)):
            if newest is None or (parsed.time, name) > newest[0]:
                newest = ((parsed.time, name), name)
    if newest is None:
        raise PapermergeBackupError("%s holds no archive (papermerge-<label>-<time>-<version>.tar.gz): run the backup "
                                    "first, or set papermerge_drill_archive" % path, archive_dir=path)
    return os.path.join(path, newest[1])


def prepare(path, work_dir, expected_file=None, check_mode=False, identities=None):
    """Read and verify the archive, check the space in work_dir, write the expected file; the module's result.
    identities open an encrypted archive (encryption.identities_from_options).

    A failure after the archive is chosen names it and its label, so that the drill's failure is recorded
    under the archive's label in the metrics file.
    """
    archive_path = choose_archive(path)
    label = archive_label(archive_path)
    try:
        return _prepare(archive_path, label, work_dir, expected_file, check_mode, identities)
    except PapermergeBackupError as error:
        error.details.setdefault("archive", archive_path)
        error.details.setdefault("label", label)
        raise


def archive_label(archive_path):
    """The label in the archive's name; None for a name that is not one of ours."""
    parsed = parse_archive_name(os.path.basename(archive_path), DEFAULT_PATTERN)
    return parsed.label if parsed else None


def _prepare(archive_path, label, work_dir, expected_file, check_mode, identities):
    if not os.path.isdir(work_dir):
        raise PapermergeBackupError("the drill's directory %s does not exist: create it, or point "
                                    "papermerge_drill_work_dir at a directory with room for a restore" % work_dir)
    spool_dir = tempfile.mkdtemp(prefix=".papermerge-drill-spool-", dir=work_dir)
    try:
        archive = open_archive(archive_path, spool_dir=spool_dir, verify=True, identities=identities)
        expected = expected_contents(archive)
    finally:
        shutil.rmtree(spool_dir, ignore_errors=True)
    space = check_space(work_dir, needed_bytes(archive))
    if expected_file and not check_mode:
        write_private_json(expected_file, expected)
    return dict(
        changed=False, archive=archive_path, label=label,
        size=archive.contents.size, sha256=archive.contents.sha256, papermerge_version=archive.papermerge_version,
        created=archive.created, counts=expected["counts"], verified=bool(archive.verified),
        checksum_file_verified=archive.checksum_file, missing_files=archive.missing, needed_bytes=space[0],
        free_bytes=space[1], expected_file=expected_file if not check_mode else None)


def expected_contents(archive):
    """What a correct restore of archive holds, as a JSON-able dict (see verify())."""
    users = [dict(username=user["username"], folders=[], documents={}) for user in archive.backup.users]
    for index, node in archive.backup.iter_nodes():
        tree = users[index]
        if node["ctype"] == "folder":
            tree["folders"].append(node_path(node))
        else:
            tree["documents"][node_path(node)] = [_version(version) for version in node.get("versions") or []]
    counts = archive.backup.counts()
    counts["files"] = len(archive.contents.files)
    return dict(
        counts=counts,
        users=dict((tree["username"], dict(folders=sorted(tree["folders"]), documents=tree["documents"]))
                   for tree in users),
        files=dict((name, [member.size, member.sha256]) for name, member in sorted(archive.contents.files.items())),
        missing=list(archive.missing))


def _version(version):
    return dict(number=version["number"], file_name=version.get("file_name"), pages=len(version.get("pages") or []),
                file=_normalized_or_none(version["file_path"]) if version.get("file_path") else None)


def needed_bytes(archive):
    """Bytes a restore of archive needs where the throwaway instance lives (an estimate on the safe side)."""
    contents = archive.contents
    entries = len(contents.files) + len(contents.dirs) + len(contents.symlinks)
    return (sum(member.size for member in contents.files.values()) + 2 * contents.backup_json_size
            + PER_ENTRY_BYTES * entries + BASE_BYTES)


def check_space(directory, needed):
    """(needed, free) in bytes; refuses when directory's file system has less free than needed."""
    stats = os.statvfs(directory)
    free = stats.f_bavail * stats.f_frsize
    if free < needed:
        raise PapermergeBackupError(
            "the drill needs about %s free in %s for the throwaway instance (the archive's files, its database and "
            "working space), and only %s is free there: free some space, or point papermerge_drill_work_dir at a "
            "larger file system. Nothing was restored" % (human(needed), directory, human(free)),
            needed_bytes=needed, free_bytes=free)
    return needed, free


def human(size):
    for unit in ("bytes", "KiB", "MiB", "GiB", "TiB"):
        if size < 1024 or unit == "TiB":
            return ("%d %s" if unit == "bytes" else "%.1f %s") % (size, unit)
        size /= 1024.0


def write_private_json(path, data):
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | getattr(os, "O_NOFOLLOW", 0), 0o600)
    with os.fdopen(fd, "w") as handle:
        json.dump(data, handle, sort_keys=True)


def read_json(path, what):
    try:
        with open(path) as handle:
            return json.load(handle)
    except (IOError, OSError, ValueError) as error:
        raise PapermergeBackupError("cannot read %s %s: %s" % (what, path, error))


def verify(expected_file, state_file, media_root):
    """Compare the restored instance (state_file, from prove.py) and its media root with expected_file."""
    expected = read_json(expected_file, "the archive's expected contents")
    state = read_json(state_file, "the restored instance's state")
    problems = compare_counts(expected["counts"], state["counts"])
    problems += compare_users(expected, state["users"], media_root)
    problems += compare_files(expected["files"], media_root)
    if problems:
        listed = problems[:LISTED]
        more = " (and %d more)" % (len(problems) - LISTED) if len(problems) > LISTED else ""
        raise PapermergeBackupError(
            "the restored throwaway instance differs from the archive in %d way(s)%s: %s. The archive passed its own "
            "checks, so the restore or the archive's backup.json is at fault: keep the archive and report this"
            % (len(problems), more, "; ".join(listed)), problems=listed)
    return dict(changed=False, counts=dict((key, state["counts"][key]) for key in COUNT_KEYS),
                files_checked=len(expected["files"]), users=sorted(state["users"]))


def compare_counts(expected, found):
    return ["%s: the archive holds %s, Papermerge sees %s" % (key, expected.get(key), found.get(key))
            for key in COUNT_KEYS if expected.get(key) != found.get(key)]


def compare_users(expected, found_users, media_root):
    problems = []
    missing_files = set(_normalized_or_none(path) for path in expected.get("missing") or [])
    for username in sorted(set(expected["users"]) | set(found_users)):
        want, have = expected["users"].get(username), found_users.get(username)
        if want is None or have is None:
            problems.append("user %s is %s" % (username, "not in the archive" if want is None else "missing"))
            continue
        have_documents = dict((_plain_path(path), versions) for path, versions in have["documents"].items())
        problems += _compare_paths(username, "folder", want["folders"], [_plain_path(p) for p in have["folders"]])
        problems += _compare_paths(username, "document", want["documents"], have_documents)
        for path in sorted(set(want["documents"]) & set(have_documents)):
            problems += _compare_versions("%s:%s" % (username, path), want["documents"][path],
                                          have_documents[path], missing_files, media_root)
    return problems


def _plain_path(breadcrumb):
    # Papermerge's breadcrumbs end folders with "/" (as backup.json's do); paths are compared without it.
    return "/".join(part for part in breadcrumb.split("/") if part)


def _compare_paths(username, kind, want, have):
    want, have = set(want), set(have)
    return (["%s %s:%s is missing" % (kind, username, path) for path in sorted(want - have)]
            + ["%s %s:%s is not in the archive" % (kind, username, path) for path in sorted(have - want)])


def _compare_versions(where, want, have, missing_files, media_root):
    key = ("number", "file_name", "pages")
    if [[v[k] for k in key] for v in want] != [[v[k] for k in key] for v in have]:
        return ["document %s: versions (number, file, pages) %s in the archive, %s restored"
                % (where, [[v[k] for k in key] for v in want], [[v[k] for k in key] for v in have])]
    problems = []
    for wanted, found in zip(want, have):
        if wanted["file"] is None or wanted["file"] in missing_files:
            continue
        if found["file"] != wanted["file"] or not found["exists"]:
            problems.append("document %s v%d: Papermerge reads its file at %s, which %s (the archive has %s)"
                            % (where, wanted["number"], os.path.join(media_root, found["file"] or "?"),
                               "exists" if found["exists"] else "does not exist", wanted["file"]))
    return problems


def compare_files(files, media_root):
    """Every file member of the archive in the media root, with its size and sha256."""
    problems = []
    for name, (size, sha256) in sorted(files.items()):
        path = os.path.join(media_root, *name.split("/"))
        if not os.path.isfile(path) or os.path.islink(path):
            problems.append("file %s is missing from the media root" % name)
        elif os.path.getsize(path) != size or (sha256 and sha256_of(path) != sha256):
            problems.append("file %s differs from the archive's (size or sha256)" % name)
    return problems


def sha256_of(path):
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(CHUNK), b""):
            digest.update(block)
    return digest.hexdigest()


def _normalized_or_none(raw_name):
    """normalize_member_name(raw_name), or None for a name no archive member could have."""
    try:
        return normalize_member_name(raw_name)
    except PapermergeBackupError:
        return None
