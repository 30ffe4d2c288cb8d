#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: papermerge.backup contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r'''
---
module: papermerge_drill_prepare
short_description: Choose, read and verify the archive a restore drill restores, and check the disk space
version_added: 0.1.0
author:
  - papermerge.backup maintainers (@papermerge)
description:
  - The first step of the P(papermerge.backup.drill#role) role. O(path) is an archive, or a directory whose newest
    archive (by the UTC time in its name, C(papermerge-<label>-<time>-<version>.tar.gz)) is taken.
  - Reads the whole archive once and verifies it as M(papermerge.backup.papermerge_restore) does (the gzip stream,
    every member's name and type, the C(<archive>.sha256) file when there is one, every file against the archive's
    manifest); a member whose bytes differ from the manifest fails the module, naming the member (RV(member)).
  - Writes what a correct restore holds to O(expected_file) (mode C(0600)), each user's folders and documents
    with their versions and the file each version has, and every file member's size and sha256, for
    M(papermerge.backup.papermerge_drill_verify) to compare the restored instance with.
  - Refuses when the file system of O(work_dir) has less free space than a restore of the archive needs there,
    saying how much it needs and how much is free. A restore needs room for the archive's files, about twice its
    C(backup.json) (the database and the restore's spooled copy), 4 KiB per file and directory and 64 MiB for the
    empty database.
  - C(backup.json) and the manifest are spooled to a private directory in O(work_dir), removed before the module
    returns.
  - An encrypted archive (C(.tar.gz.age)) is decrypted on the fly with O(age_identity_file) or O(age_passphrase);
    its spooled C(backup.json) and manifest are then sealed with a key that exists only in the module's memory.
options:
  path:
    description: The archive to drill, or a directory of archives whose newest is drilled.
    type: path
    required: true
  work_dir:
    description: Directory of the throwaway instance (its file system's free space is checked); must exist.
    type: path
    required: true
  expected_file:
    description: Where to write the expected contents (JSON); not written in check mode.
    type: path
extends_documentation_fragment:
  - papermerge.backup.age_identity
attributes:
  check_mode:
    support: full
    description: Reads, verifies and checks the space all the same; writes no O(expected_file).
  diff_mode:
    support: none
    description: Nothing changes.
seealso:
  - module: papermerge.backup.papermerge_drill_verify
  - module: papermerge.backup.papermerge_archive_info
'''

EXAMPLES = r'''
- name: Pick the newest archive of the backup directory, verify it, and check the room for a drill
  papermerge.backup.papermerge_drill_prepare:
    path: /var/backups/papermerge
    work_dir: /var/tmp/papermerge-drill-x1y2
    expected_file: /var/tmp/papermerge-drill-x1y2/expected.json
  register: drill_archive
'''

RETURN = r'''
archive:
  description: The archive chosen.
  returned: success, and on failure once the archive was chosen
  type: str
  sample: /var/backups/papermerge/papermerge-docs01-20261126T020000Z-2.1.5.tar.gz
label:
  description: The label in the archive's name (null for a name that is not one of ours).
  returned: success, and on failure once the archive was chosen
  type: str
  sample: docs01
size:
  description: Size of the archive in bytes.
  returned: success
  type: int
  sample: 354123456
sha256:
  description: SHA-256 of the archive.
  returned: success
  type: str
  sample: 2c26b46b68ffc68ff99b453c1d30413413422d706483bfa0f98a5e886266e7ae
papermerge_version:
  description: The Papermerge version that made the archive.
  returned: success
  type: str
  sample: 2.1.5
created:
  description: When the archive was made (the manifest's UTC time, else backup.json's).
  returned: success
  type: str
  sample: "2026-11-26T02:00:00Z"
counts:
  description: Users, folders, documents, versions, pages and tags in backup.json, and the file members.
  returned: success
  type: dict
  sample: {"users": 2, "folders": 9, "documents": 12, "versions": 14, "pages": 30, "tags": 4, "files": 130}
verified:
  description: Whether every file was checked against a manifest (V(false) for archives of Papermerge's own backup).
  returned: success
  type: bool
  sample: true
checksum_file_verified:
  description: V(true) when C(<archive>.sha256) exists and matched, null without one.
  returned: success
  type: bool
  sample: true
missing_files:
  description: Version files backup.json names that the archive does not hold (the backup listed them as missing).
  returned: success
  type: list
  elements: str
  sample: []
needed_bytes:
  description: Free space a restore needs in O(work_dir); returned on failure for lack of it too.
  returned: success, and failure for lack of space
  type: int
  sample: 400000000
free_bytes:
  description: Free space in O(work_dir); returned on failure for lack of space too.
  returned: success, and failure for lack of space
  type: int
  sample: 9000000000
expected_file:
  description: The file written (null in check mode).
  returned: success
  type: str
  sample: /var/tmp/papermerge-drill-x1y2/expected.json
member:
  description: The archive member that failed verification.
  returned: failure caused by a member
  type: str
  sample: docs/user_1a60.../document_2b60.../v1/invoice.pdf
'''

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.papermerge.backup.plugins.module_utils.drill import prepare
from ansible_collections.papermerge.backup.plugins.module_utils.encryption import (
    identities_from_options, identity_argument_spec)
from ansible_collections.papermerge.backup.plugins.module_utils.errors import PapermergeBackupError


def main():
    spec = identity_argument_spec()
    spec.update(
        path=dict(type="path", required=True),
        work_dir=dict(type="path", required=True),
        expected_file=dict(type="path"),
    )
    module = AnsibleModule(argument_spec=spec, supports_check_mode=True)
    params = module.params
    try:
        result = prepare(params["path"], params["work_dir"], params["expected_file"], check_mode=module.check_mode,
                         identities=identities_from_options(params))
    except PapermergeBackupError as error:
        module.fail_json(msg=str(error), **error.details)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
