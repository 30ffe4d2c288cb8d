"""A snapshot of a directory tree, to prove that an operation left it exactly as it was."""

import hashlib
import os


def tree_snapshot(root):
    """{relative path: sha256 of the content, or 'dir', or 'symlink:<target>'} of everything below root."""
    found = {}
    for directory, dirs, files in os.walk(str(root)):
        for name in dirs + files:
            path = os.path.join(directory, name)
            relative = os.path.relpath(path, str(root))
            if os.path.islink(path):
                found[relative] = 'symlink:' + os.readlink(path)
            elif os.path.isdir(path):
                found[relative] = 'dir'
            else:
                with open(path, 'rb') as handle:
                    found[relative] = hashlib.sha256(handle.read()).hexdigest()
    return found
