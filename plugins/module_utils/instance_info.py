# -*- coding: utf-8 -*-
# Copyright: papermerge.backup contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
#
# This module_utils is PRIVATE and should only be used by this collection. Breaking changes can occur any time.
"""papermerge_instance_info: what the roles learn about an instance before they touch it.

The instance as the modules resolve it (media root, database, Papermerge version), whether the module runs
in a container, and for the media root, a SQLite database and any other paths the caller names whether they
outlive the container (container.storage_of).  The database is reached once, so that a PostgreSQL server the
container cannot reach is said before a long job starts.  Nothing is written.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os

from ansible_collections.papermerge.backup.plugins.module_utils.container import (
    describe_kind, in_container, read_mounts, storage_of)
from ansible_collections.papermerge.backup.plugins.module_utils.database import connect
from ansible_collections.papermerge.backup.plugins.module_utils.instance import instance_from_params


def describe_instance(params):
    """The module's result: instance, papermerge_version, container, storage, warnings."""
    instance, version = instance_from_params(params)
    if params.get("check_database", True) and instance.database["engine"] == "postgresql":
        connect(instance.database, read_only=True).close()
    container = in_container()
    mounts = read_mounts()
    media = storage_of(instance.media_root, container, mounts)
    database = _database_storage(instance.database, container, mounts)
    paths = [storage_of(path, container, mounts) for path in params.get("paths") or []]
    return dict(
        changed=False,
        papermerge_version=version,
        container=container,
        instance=dict(project_dir=instance.project_dir, media_root=instance.media_root,
                      engine=instance.database["engine"], database=_database_summary(instance.database),
                      config_file=instance.config_file, config_sources=instance.config_sources),
        storage=dict(media_root=media, database=database, paths=paths),
        warnings=storage_warnings(media, database),
    )


def _database_storage(database, container, mounts):
    if database["engine"] != "sqlite":
        return None
    return storage_of(os.path.dirname(database["path"]), container, mounts)


def _database_summary(database):
    """Where the database is, without its password."""
    if database["engine"] == "sqlite":
        return dict(path=database["path"])
    return dict((key, database.get(key)) for key in ("host", "port", "name", "user"))


def storage_warnings(media, database):
    """Warnings for instance data that dies with the container."""
    warnings = []
    if not media["persistent"]:
        warnings.append(
            "the media root %s (every document file) is in %s: it is lost when the container is removed or "
            "recreated (docker compose up --force-recreate, an image upgrade). Mount a volume there, as upstream's "
            "compose file does with media_root:/app/media" % (media["path"], describe_kind(media["kind"])))
    if database is not None and not database["persistent"]:
        warnings.append(
            "the SQLite database %s/db.sqlite3 is in %s: it is lost when the container is removed or recreated. "
            "Keep it on a volume: mount one (for example -v papermerge_db:/db) and point PAPERMERGE__DATABASE__DIR "
            "at it (-e PAPERMERGE__DATABASE__DIR=/db), after copying db.sqlite3 there, or restore an archive "
            "into the new container" % (database["path"], describe_kind(database["kind"])))
    return warnings
