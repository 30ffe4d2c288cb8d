#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: papermerge.backup contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r'''
---
module: papermerge_drill_verify
short_description: Prove that a restore drill's throwaway instance holds exactly what the archive holds
version_added: 0.1.0
author:
  - papermerge.backup maintainers (@papermerge)
description:
  - The last step of the P(papermerge.backup.drill#role) role, after the restore into the throwaway instance.
  - Compares O(expected_file) (what M(papermerge.backup.papermerge_drill_prepare) read in the archive) with
    O(state_file), what Papermerge's own ORM reports about the restored instance (the role's C(prove.py), run with
    C(manage.py shell)), and with the files in O(media_root).
  - 'The checks: the users, folders, documents, versions, pages and tags Papermerge counts equal the archive''s;
    every user''s folders and documents are there by path (Papermerge''s own breadcrumbs), each document with its
    versions (number, file name, pages); each version''s file is where Papermerge reads it
    (C(DocumentVersion.abs_file_path())); every file of the archive is in the media root with its size and sha256,
    hashed again.'
  - Any difference fails the module, listing the first ones (RV(problems)).
options:
  expected_file:
    description: The expected contents written by M(papermerge.backup.papermerge_drill_prepare).
    type: path
    required: true
  state_file:
    description: The restored instance as the drill's C(prove.py) reports it.
    type: path
    required: true
  media_root:
    description: The throwaway instance's media root.
    type: path
    required: true
attributes:
  check_mode:
    support: full
    description: Reads and compares only; the same in check mode.
  diff_mode:
    support: none
    description: Differences are reported in RV(problems).
seealso:
  - module: papermerge.backup.papermerge_drill_prepare
'''

EXAMPLES = r'''
- name: Compare the restored throwaway instance with the archive
  papermerge.backup.papermerge_drill_verify:
    expected_file: /var/tmp/papermerge-drill-x1y2/expected.json
    state_file: /var/tmp/papermerge-drill-x1y2/state.json
    media_root: /var/tmp/papermerge-drill-x1y2/media
'''

RETURN = r'''
counts:
  description: What Papermerge counts in the restored instance, equal to the archive's.
  returned: success
  type: dict
  sample: {"users": 2, "folders": 9, "documents": 12, "versions": 14, "pages": 30, "tags": 4}
files_checked:
  description: Files found in the media root with the archive's size and sha256.
  returned: success
  type: int
  sample: 130
users:
  description: The users whose trees were compared.
  returned: success
  type: list
  elements: str
  sample: [admin, olga]
problems:
  description: The first differences found (up to 20).
  returned: failure
  type: list
  elements: str
  sample: ["document olga:.home/Invoices/x.pdf is missing"]
'''

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.papermerge.backup.plugins.module_utils.drill import verify
from ansible_collections.papermerge.backup.plugins.module_utils.errors import PapermergeBackupError


def main():
    module = AnsibleModule(
        argument_spec=dict(
            expected_file=dict(type="path", required=True),
            state_file=dict(type="path", required=True),
            media_root=dict(type="path", required=True),
        ),
        supports_check_mode=True,
    )
    params = module.params
    try:
        result = verify(params["expected_file"], params["state_file"], params["media_root"])
    except PapermergeBackupError as error:
        module.fail_json(msg=str(error), **error.details)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
