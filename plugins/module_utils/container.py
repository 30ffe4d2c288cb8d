# -*- coding: utf-8 -*-
# Copyright: papermerge.backup contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
#
# This module_utils is PRIVATE and should only be used by this collection. Breaking changes can occur any time.
"""Whether the module runs in a container, and whether a path there outlives the container.

Seen from inside, as the module sees it, whatever runs the container (Docker, Podman) and however Ansible
reached it: Docker marks its containers with /.dockerenv, Podman with /run/.containerenv, and
/proc/self/mountinfo lists the container's mounts.  A path whose deepest mount is the container's root
file system, an overlay (the writable layer of Docker's overlay2 and Podman's overlay drivers), is gone when
the container is removed or recreated (`docker compose up --force-recreate`, an image upgrade); so is a path
on a tmpfs.  Every other mount (a named volume, a bind mount) outlives the container.  Outside a container
nothing is judged: a host's disks are what they are.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import io
import os

CONTAINER_MARKERS = ("/.dockerenv", "/run/.containerenv")
MOUNTINFO = "/proc/self/mountinfo"
OVERLAY_TYPES = ("overlay", "fuse.fuse-overlayfs", "aufs")
MEMORY_TYPES = ("tmpfs", "ramfs")
WRITABLE_LAYER = "writable_layer"
MEMORY = "memory"
MOUNT = "mount"
HOST = "host"


def in_container(markers=CONTAINER_MARKERS):
    """Whether this process runs in a Docker or Podman container."""
    return any(os.path.exists(marker) for marker in markers)


def read_mounts(path=MOUNTINFO):
    """[(mount point, file system type)] in mount order, from /proc/self/mountinfo; [] when unreadable."""
    try:
        with io.open(path, encoding="utf-8", errors="replace") as handle:
            return parse_mountinfo(handle.read())
    except (IOError, OSError):
        return []


def parse_mountinfo(text):
    """[(mount point, file system type)] of mountinfo text (proc(5)): the fifth field is the mount point
    (spaces and the like escaped as octal, \\040), the first field after the lone '-' the type."""
    mounts = []
    for line in text.splitlines():
        fields = line.split()
        if len(fields) < 7 or "-" not in fields[6:]:
            continue
        separator = fields.index("-", 6)
        if separator + 1 < len(fields):
            mounts.append((_unescape(fields[4]), fields[separator + 1]))
    return mounts


def _unescape(field):
    parts = field.split("\\")
    out = [parts[0]]
    for part in parts[1:]:
        if len(part) >= 3 and all(c in "01234567" for c in part[:3]):
            out.append(chr(int(part[:3], 8)) + part[3:])
        else:
            out.append("\\" + part)
    return "".join(out)


def mount_of(path, mounts):
    """(mount point, type) of the deepest mount holding path (the last of equal ones: mounted on top)."""
    best = ("/", "")
    for mount_point, fstype in mounts:
        if _is_within(path, mount_point) and len(mount_point) >= len(best[0]):
            best = (mount_point, fstype)
    return best


def _is_within(path, directory):
    return directory == "/" or path == directory or path.startswith(directory.rstrip("/") + "/")


def storage_of(path, container=None, mounts=None):
    """Where path lives: dict(path, mount_point, fstype, kind, persistent).

    kind: 'writable_layer' (the container's root overlay), 'memory' (a tmpfs in a container), 'mount' (a
    volume or bind mount in a container), or 'host' (not in a container).  persistent is False for the first
    two.  Symlinks are followed as far as the path exists, so a path that does not exist yet is judged by the
    directory it would be created in.
    """
    container = in_container() if container is None else container
    resolved = os.path.realpath(path)
    mount_point, fstype = mount_of(resolved, read_mounts() if mounts is None else mounts)
    if not container:
        kind = HOST
    elif fstype in MEMORY_TYPES:
        kind = MEMORY
    elif mount_point == "/" and fstype in OVERLAY_TYPES:
        kind = WRITABLE_LAYER
    else:
        kind = MOUNT
    return dict(path=resolved, mount_point=mount_point, fstype=fstype, kind=kind,
                persistent=kind in (MOUNT, HOST))


def describe_kind(kind):
    """The kind of storage in a user's words."""
    return {WRITABLE_LAYER: "the container's writable layer", MEMORY: "a tmpfs (memory) in the container",
            MOUNT: "a volume or bind mount", HOST: "the host's file system"}[kind]
