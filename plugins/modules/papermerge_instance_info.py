#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: papermerge.backup contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r'''
---
module: papermerge_instance_info
short_description: Describe a Papermerge 2.1 instance, and whether its data outlives its container
version_added: 0.1.0
author:
  - papermerge.backup maintainers (@papermerge)
description:
  - Resolves the instance as M(papermerge.backup.papermerge_backup) and M(papermerge.backup.papermerge_restore) do
    (configuration file, C(PAPERMERGE__*) variables, options) and reports its media root, its database (never the
    password) and its Papermerge version.
  - Says whether the module runs in a container (Docker marks its containers with C(/.dockerenv), Podman with
    C(/run/.containerenv)) and, for the media root, a SQLite database's directory and every path in O(paths),
    where that path is stored, read from C(/proc/self/mountinfo) inside the container. A path on the container's
    root file system, an overlay (the I(writable layer) of Docker's C(overlay2) and Podman's C(overlay) storage
    drivers), or on a tmpfs is lost when the container is removed or recreated; a path on a volume or a bind
    mount is not. Outside a container every path counts as persistent.
  - Warns when the media root or a SQLite database is not persistent, saying how to keep it on a volume.
  - With O(check_database=true), connects to a PostgreSQL database once and fails with the reason when it cannot
    (from inside a container, the database host is the one the container sees). SQLite files are not opened.
  - The roles run it first, so that a wrong setting is said before a long job starts, and the backup role decides
    from it whether archives stay on the host or only leave it.
extends_documentation_fragment:
  - papermerge.backup.instance
  - papermerge.backup.setting_names
options:
  paths:
    description:
      - More paths on the host to report the storage of, in RV(storage.paths), for example the directory archives
        are written to. They need not exist; a path that does not exist yet is judged by the directory it would be
        created in.
    type: list
    elements: path
    default: []
  check_database:
    description:
      - Connect to a PostgreSQL database once, and fail when that is not possible.
    type: bool
    default: true
attributes:
  check_mode:
    support: full
    description: The module never changes anything; it runs the same in check mode.
  diff_mode:
    support: none
    description: Nothing changes, so there is nothing to diff.
notes:
  - Run it with the Papermerge virtualenv's Python, as the other modules of this collection; it has the PostgreSQL
    driver and tells the Papermerge version.
  - Storage drivers other than overlay (btrfs, zfs, devicemapper, vfs) are not recognised, and paths there count as
    persistent.
seealso:
  - module: papermerge.backup.papermerge_backup
  - module: papermerge.backup.papermerge_restore
'''

EXAMPLES = r'''
- name: Find out whether the archive directory outlives the container
  papermerge.backup.papermerge_instance_info:
    project_dir: /app
    paths:
      - /var/backups/papermerge
  vars:
    ansible_python_interpreter: /venv/bin/python
  register: instance_info

- name: Say where archives go
  ansible.builtin.debug:
    msg: >-
      {{ 'Archives stay in the container at /var/backups/papermerge'
         if instance_info.storage.paths[0].persistent else 'Archives must be copied out of the container' }}
'''

RETURN = r'''
papermerge_version:
  description: The instance's Papermerge version (see O(papermerge_version)), or null when it cannot be found.
  returned: success
  type: str
  sample: 2.1.9
container:
  description: Whether the module runs in a Docker or Podman container.
  returned: success
  type: bool
  sample: true
instance:
  description: The instance as the modules resolve it.
  returned: success
  type: dict
  contains:
    project_dir:
      description: The project directory, symlinks resolved.
      type: str
      sample: /app
    media_root:
      description: The media root.
      type: str
      sample: /app/media
    engine:
      description: V(sqlite) or V(postgresql).
      type: str
      sample: postgresql
    database:
      description: C(path) of a SQLite file; C(host), C(port), C(name) and C(user) of a PostgreSQL database.
      type: dict
      sample: {"host": "db", "port": 5432, "name": "papermerge", "user": "papermerge"}
    config_file:
      description: The configuration file read, or null.
      type: str
      sample: null
    config_sources:
      description: Where the settings came from (names of files, variables and options, never values).
      type: list
      elements: str
      sample: ["no configuration file (Papermerge defaults)", "environment PAPERMERGE__DATABASE__TYPE"]
storage:
  description:
    - Where the media root, a SQLite database's directory and the O(paths) are stored. Each entry has C(path)
      (symlinks resolved), C(mount_point) and C(fstype) of the mount holding it, C(kind) (V(writable_layer),
      V(memory), V(mount) or V(host)) and C(persistent) (false for V(writable_layer) and V(memory)).
  returned: success
  type: dict
  contains:
    media_root:
      description: The media root's storage.
      type: dict
      sample: {"path": "/app/media", "mount_point": "/app/media", "fstype": "ext4", "kind": "mount", "persistent": true}
    database:
      description: The SQLite database directory's storage; null for PostgreSQL.
      type: dict
      sample: {"path": "/app", "mount_point": "/", "fstype": "overlay", "kind": "writable_layer", "persistent": false}
    paths:
      description: The storage of each of O(paths), in their order.
      type: list
      elements: dict
      sample: [{"path": "/var/backups/papermerge", "mount_point": "/", "fstype": "overlay", "kind": "writable_layer",
                "persistent": false}]
'''

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.papermerge.backup.plugins.module_utils.errors import PapermergeBackupError
from ansible_collections.papermerge.backup.plugins.module_utils.instance import instance_argument_spec
from ansible_collections.papermerge.backup.plugins.module_utils.instance_info import describe_instance
from ansible_collections.papermerge.backup.plugins.module_utils.setting_names import (
    name_settings, setting_names_argument_spec)


def argument_spec():
    spec = instance_argument_spec()
    spec.update(setting_names_argument_spec())
    spec.update(
        paths=dict(type='list', elements='path', default=[]),
        check_database=dict(type='bool', default=True),
    )
    return spec


def main():
    module = AnsibleModule(argument_spec=argument_spec(), supports_check_mode=True)
    try:
        result = describe_instance(module.params)
    except PapermergeBackupError as error:
        module.fail_json(msg=name_settings(str(error), module.params['setting_names']), **error.details)
    # Ansible reserves "warnings" in results: they go through module.warn() instead.
    for warning in result.pop("warnings"):
        module.warn(warning)
    module.exit_json(**result)


if __name__ == '__main__':
    main()
