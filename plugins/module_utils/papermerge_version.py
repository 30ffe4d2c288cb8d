# -*- coding: utf-8 -*-
# Copyright: papermerge.backup contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
#
# This module_utils is PRIVATE and should only be used by this collection. Breaking changes can occur any time.
"""Which Papermerge version an instance runs: recorded in archives and their names, checked by a restore.

Looked up, never imported: Papermerge's package __init__ runs git, and Django would need settings.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import glob
import io
import os
import re

# papermerge/core/version.py, the one line Papermerge 2.1 keeps its version in: __version__ = "2.1.9"
_VERSION_LINE = re.compile(r"""^__version__\s*=\s*['"]([^'"]+)['"]\s*$""")


def find_papermerge_version(project_dir):
    """The instance's papermerge-core version, or None when it cannot be found.

    Looked for in the distribution installed in the Python running the module (the usual case on a host:
    ansible_python_interpreter is the Papermerge virtualenv, which has the database driver), then in the
    source tree in the project directory (the official Docker images copy papermerge/ to /app without any
    dist-info: <project_dir>/papermerge/core/version.py, read as text), then in a virtualenv inside the project
    directory (venv, .venv, env, .env) or beside it (venv, .venv).
    Papermerge itself is never imported: its package __init__ runs git, and Django would need settings.
    """
    found = installed_version() or source_tree_version(project_dir)
    if found:
        return found
    parent = os.path.dirname(project_dir)
    venvs = [os.path.join(project_dir, name) for name in ("venv", ".venv", "env", ".env")]
    venvs += [os.path.join(parent, name) for name in ("venv", ".venv")]
    for venv in venvs:
        found = _venv_version(venv)
        if found:
            return found
    return None


def installed_version():
    """papermerge-core's version in the Python running the module, or None."""
    try:
        from importlib import metadata
    except ImportError:  # Python < 3.8
        return None
    try:
        return metadata.version("papermerge-core")
    except Exception:  # PackageNotFoundError, or broken metadata
        return None


def source_tree_version(project_dir):
    """The version in <project_dir>/papermerge/core/version.py, read as text (never imported), or None."""
    path = os.path.join(project_dir, "papermerge", "core", "version.py")
    try:
        with io.open(path, encoding="utf-8") as handle:
            for line in handle:
                match = _VERSION_LINE.match(line.strip())
                if match:
                    return match.group(1)
    except (IOError, OSError, UnicodeDecodeError):
        return None
    return None


def _venv_version(venv):
    pattern = os.path.join(venv, "lib", "python*", "site-packages", "papermerge_core-*.dist-info", "METADATA")
    for path in sorted(glob.glob(pattern)):
        try:
            with io.open(path, encoding="utf-8") as handle:
                for line in handle:
                    if line.startswith("Version:"):
                        return line.split(":", 1)[1].strip()
                    if not line.strip():
                        break  # the headers end at the first empty line
        except (IOError, OSError):
            continue
    return None
