#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: papermerge.backup contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r'''
---
module: papermerge_archive_info
short_description: Read and verify a Papermerge backup archive without an instance
version_added: 0.1.0
author:
  - papermerge.backup maintainers (@papermerge)
description:
  - Reads an archive made by M(papermerge.backup.papermerge_backup) or by Papermerge 2.1's own C(manage.py backup)
    and reports the Papermerge version that made it, its creation time, what it holds and its manifest.
  - Needs no Papermerge instance and writes nothing but temporary copies of C(backup.json) and the manifest in the system's
    temporary directory, removed at the end; it runs on a Papermerge host or on the controller
    (with C(delegate_to) V(localhost)).
  - The archive is always read to its end, so a truncated or damaged gzip stream is always detected; the failure
    names the member where reading stopped. Every member name and type is checked as a restore would check it
    (see M(papermerge.backup.papermerge_restore)).
  - A checksum file C(<path>.sha256) next to the archive (sha256sum format, as M(papermerge.backup.papermerge_backup)
    writes it) is compared with the archive whenever it exists (RV(checksum_file_verified)); a mismatch fails the
    module.
  - With O(verify=true), archives of M(papermerge.backup.papermerge_backup) have every file member and C(backup.json)
    hashed and compared with the archive's manifest (size and sha256); the module fails naming the first member
    that does not match, or one the manifest lists but the archive lacks (RV(member) in the failure result), and
    RV(checksums_verified) is V(true).
  - An encrypted archive (C(.tar.gz.age)) is decrypted on the fly with O(age_identity_file) or O(age_passphrase);
    its temporary copies of C(backup.json) and the manifest are then sealed with a key that exists only in the
    module's memory. Without an identity that opens it the module fails, saying so.
  - Archives of Papermerge's own C(manage.py backup) have no manifest. For them O(verify=true) checks the gzip
    stream end to end and that every document version file C(backup.json) names is in the archive (the module
    fails otherwise; without O(verify) such files are listed in RV(missing_files)); RV(checksums_verified) is
    V(false) and RV(notes) says that checksums were not available.
  - Archives that lie about what they hold are refused as M(papermerge.backup.papermerge_restore) refuses them
    (see there), such as media files C(backup.json) does not name or whose size differs from the one it records,
    C(backup.json) values longer than Papermerge's columns hold, a stream inflating to more than 100 times its size.
    The result quotes text from the archive cut after 200 characters (ending in C(...[N more characters])) and
    lists at most 1000 entries of RV(usernames) and RV(missing_files).
options:
  path:
    description:
      - Path of the archive (C(.tar.gz), or C(.tar.gz.age) when encrypted).
    type: path
    required: true
  verify:
    description:
      - Hash every member and compare it with the manifest.
    type: bool
    default: false
extends_documentation_fragment:
  - papermerge.backup.age_identity
attributes:
  check_mode:
    support: full
    description: The module never changes anything; it runs the same in check mode.
  diff_mode:
    support: none
    description: Nothing changes, so there is nothing to diff.
seealso:
  - module: papermerge.backup.papermerge_backup
  - module: papermerge.backup.papermerge_restore
'''

EXAMPLES = r'''
- name: Verify the archive that was just fetched to the controller
  papermerge.backup.papermerge_archive_info:
    path: /srv/backups/docs01/papermerge-docs01-20261126T020000Z-2.1.5.tar.gz
    verify: true
  delegate_to: localhost
  register: archive

- name: Verify an encrypted archive on the controller with the identity that opens it
  papermerge.backup.papermerge_archive_info:
    path: /srv/backups/docs01/papermerge-docs01-20261126T020000Z-2.1.5.tar.gz.age
    age_identity_file: ~/.config/papermerge-backup/identity.txt
    verify: true
  delegate_to: localhost

- name: Refuse archives from a newer Papermerge
  ansible.builtin.assert:
    that: archive.papermerge_version is version('2.1.5', '<=')
    fail_msg: "{{ archive.path }} was made by Papermerge {{ archive.papermerge_version }}"
'''

RETURN = r'''
path:
  description: Absolute path of the archive.
  returned: success
  type: str
  sample: /srv/backups/papermerge-docs01-20261126T020000Z-2.1.5.tar.gz
encrypted:
  description: Whether the archive is encrypted (age); RV(size) and RV(sha256) are then the encrypted file's.
  returned: success
  type: bool
  sample: false
size:
  description: Size of the archive file in bytes.
  returned: success
  type: int
  sample: 354123456
sha256:
  description: SHA-256 of the archive file.
  returned: success
  type: str
  sample: 2c26b46b68ffc68ff99b453c1d30413413422d706483bfa0f98a5e886266e7ae
checksum_file_verified:
  description:
    - V(true) when a checksum file C(<path>.sha256) (sha256sum format) sits next to the archive and matches it; null
      when there is none. A mismatch fails the module.
  returned: success
  type: bool
  sample: true
format:
  description: V(papermerge.backup) for archives with our manifest, V(papermerge) for those of Papermerge's own backup.
  returned: success
  type: str
  sample: papermerge.backup
papermerge_version:
  description: The Papermerge version that made the archive (manifest, else backup.json).
  returned: success
  type: str
  sample: 2.1.5
label:
  description:
    - The label of the host the archive was made on, as recorded in its manifest, else as its generated file name
      says; null for archives that carry none (Papermerge's own backups, names of one's own).
  returned: success
  type: str
  sample: docs01.example.com
created:
  description:
    - When the archive was made. The manifest's UTC time (C(YYYY-MM-DDTHH:MM:SSZ)) or, without a manifest,
      backup.json's C(created) as Papermerge writes it (C(DD.MM.YYYY-HH:MM:SS), the server's local time).
  returned: success
  type: str
  sample: "2026-11-26T02:00:00Z"
counts:
  description: Users, folders, documents, versions, pages and tags in backup.json; file members and their bytes.
  returned: success
  type: dict
  sample: {"users": 2, "folders": 9, "documents": 12, "versions": 14, "pages": 30, "tags": 4, "files": 130,
           "bytes": 3541234}
manifest:
  description: The manifest without its member and symlink lists (their lengths instead); null without a manifest.
  returned: success
  type: dict
  sample: {"format_version": 1, "papermerge_version": "2.1.5", "engine": "sqlite", "member_count": 131}
verified:
  description: Whether O(verify) was requested and every check passed (the module fails otherwise).
  returned: success
  type: bool
  sample: true
checksums_verified:
  description: Whether every member was checked against manifest checksums (V(false) without a manifest).
  returned: success
  type: bool
  sample: true
backup_json_first:
  description: Whether backup.json comes before the files (our archives), so a restore needs one pass.
  returned: success
  type: bool
  sample: true
usernames:
  description: The users the archive holds (at most 1000; RV(counts) has their number).
  returned: success
  type: list
  elements: str
  sample: [admin, olga]
missing_files:
  description: Document version files backup.json names that the archive does not hold (at most 1000; RV(notes)
    has their number).
  returned: success
  type: list
  elements: str
  sample: []
notes:
  description: Remarks, such as that checksums were not available.
  returned: success
  type: list
  elements: str
  sample: []
member:
  description: The archive member that failed verification.
  returned: failure caused by a member
  type: str
  sample: docs/user_1a60.../document_2b60.../v1/invoice.pdf
'''

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.papermerge.backup.plugins.module_utils.archive_info import run_archive_info
from ansible_collections.papermerge.backup.plugins.module_utils.encryption import identity_argument_spec
from ansible_collections.papermerge.backup.plugins.module_utils.errors import PapermergeBackupError
from ansible_collections.papermerge.backup.plugins.module_utils.setting_names import name_settings


def argument_spec():
    spec = identity_argument_spec()
    spec.update(
        path=dict(type='path', required=True),
        verify=dict(type='bool', default=False),
    )
    return spec


def main():
    module = AnsibleModule(argument_spec=argument_spec(), supports_check_mode=True)
    try:
        result = run_archive_info(module.params)
    except PapermergeBackupError as error:
        module.fail_json(msg=name_settings(str(error)), **error.details)
    module.exit_json(**result)


if __name__ == '__main__':
    main()
