"""A snapshot of a directory tree, to prove that an operation left it exactly as it was; throwaway mounts."""

import contextlib
import hashlib
import os
import subprocess

# The lock file every backup and restore takes in the media root (plugins/module_utils/instance_lock.py): it
# stays there and holds no data; media_snapshot() leaves it out.
INSTANCE_LOCK = '.papermerge-backup-instance.lock'


def media_snapshot(media_root):
    """tree_snapshot() of a media root, without the instance lock file."""
    return tree_snapshot(media_root, ignore=(INSTANCE_LOCK,))


def tree_snapshot(root, ignore=()):
    """{relative path: sha256 of the content, or 'dir', or 'symlink:<target>'} of everything below root but the
    relative paths in ignore."""
    found = {}
    for directory, dirs, files in os.walk(str(root)):
        for name in dirs + files:
            path = os.path.join(directory, name)
            relative = os.path.relpath(path, str(root))
            if relative in ignore:
                continue
            if os.path.islink(path):
                found[relative] = 'symlink:' + os.readlink(path)
            elif os.path.isdir(path):
                found[relative] = 'dir'
            else:
                with open(path, 'rb') as handle:
                    found[relative] = hashlib.sha256(handle.read()).hexdigest()
    return found


@contextlib.contextmanager
def mounted_tmpfs(path, options):
    """A tmpfs mounted on path (as root) with mount options such as 'ro' or 'size=1m', unmounted at the end."""
    subprocess.run(['mount', '-t', 'tmpfs', '-o', options, 'tmpfs', str(path)], check=True)
    try:
        yield path
    finally:
        subprocess.run(['umount', str(path)], check=True)
