#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: papermerge.backup contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r'''
---
module: papermerge_s3_download
short_description: Fetch a Papermerge archive from S3-compatible object storage, verified against its sha256
version_added: 0.1.0
author:
  - papermerge.backup maintainers (@papermerge)
description:
  - Downloads the object O(url) to O(dest) on the host the module runs on, checked against the sha256 it must
    have before it gets its name there.
  - The sha256 it must have comes from every one of these that exists, and they must agree; at least one must
    exist. O(sha256) (the caller's), the object's metadata C(x-amz-meta-sha256) (what
    M(papermerge.backup.papermerge_s3_upload) stores), and the object C(<key>.sha256) (sha256sum format).
    Disagreeing values fail the module before anything is downloaded.
  - The object is streamed (memory stays flat) into a temporary file in the destination directory, readable by its
    owner only (C(0600)), hashed as it arrives, and renamed to its name only when its size and sha256 are the
    expected ones; otherwise it is removed and the module fails, naming the sha256 it got. The GET names the
    object's ETag from the HEAD before it (C(If-Match)), so an object replaced in between is refused.
  - Then C(<dest>.sha256) is written with that sha256, so that M(papermerge.backup.papermerge_restore) and
    M(papermerge.backup.papermerge_archive_info) check the archive against it whenever they read it.
  - A file already at the destination with the object's size and a C(.sha256) file naming the expected sha256 is
    kept (C(changed=false)); the modules that read it next check its content.
extends_documentation_fragment:
  - papermerge.backup.s3
options:
  url:
    description:
      - The archive's object, V(s3://BUCKET/KEY).
    type: str
    required: true
  dest:
    description:
      - An existing directory (the object's base name is kept) or a file path in one.
    type: path
    required: true
  sha256:
    description:
      - The sha256 the archive must have; empty means the object's metadata and C(<key>.sha256) decide.
    type: str
attributes:
  check_mode:
    support: full
    description:
      - Reads the object's metadata and C(.sha256) object and says whether the archive would be downloaded;
        writes nothing. A destination directory that does not exist yet is no error in check mode.
  diff_mode:
    support: none
    description: Archives have no diff to show.
seealso:
  - module: papermerge.backup.papermerge_s3_upload
  - module: papermerge.backup.papermerge_restore
'''

EXAMPLES = r'''
- name: Fetch an archive from MinIO into the restore directory
  papermerge.backup.papermerge_s3_download:
    url: s3://papermerge-backups/docs01/papermerge-docs01-20261126T020000Z-2.1.5.tar.gz
    dest: /var/backups/papermerge/restore/
    endpoint_url: https://minio.example.com:9000
    access_key: "{{ vault_minio_access_key }}"
    secret_key: "{{ vault_minio_secret_key }}"
  register: fetched

- name: Verify the archive it fetched
  papermerge.backup.papermerge_archive_info:
    path: "{{ fetched.path }}"
    verify: true
'''

RETURN = r'''
path:
  description: The archive on the host.
  returned: success
  type: str
  sample: /var/backups/papermerge/restore/papermerge-docs01-20261126T020000Z-2.1.5.tar.gz
url:
  description: The object, as given.
  returned: success
  type: str
  sample: s3://papermerge-backups/docs01/papermerge-docs01-20261126T020000Z-2.1.5.tar.gz
sha256:
  description: The archive's sha256, checked.
  returned: success
  type: str
  sample: 3f79bb7b435b05321651daefd374cdc681dc06faa65e374e38337b88ca046dea
size:
  description: The archive's size in bytes.
  returned: success
  type: int
  sample: 104857600
sha256_sources:
  description: Where the expected sha256 came from, among V(given), V(metadata) and V(checksum file).
  returned: success
  type: list
  elements: str
  sample: [metadata, checksum file]
'''

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.papermerge.backup.plugins.module_utils.errors import PapermergeBackupError
from ansible_collections.papermerge.backup.plugins.module_utils.s3_client import client_from_params, s3_argument_spec
from ansible_collections.papermerge.backup.plugins.module_utils.s3_transfer import download_archive


def argument_spec():
    spec = s3_argument_spec()
    spec.update(
        url=dict(type='str', required=True),
        dest=dict(type='path', required=True),
        sha256=dict(type='str'),
    )
    return spec


def main():
    module = AnsibleModule(argument_spec=argument_spec(), supports_check_mode=True)
    params = module.params
    try:
        result = download_archive(client_from_params(params), params['url'], params['dest'], sha256=params['sha256'],
                                  check_mode=module.check_mode)
    except PapermergeBackupError as error:
        module.fail_json(msg=str(error), **error.details)
    module.exit_json(**result)


if __name__ == '__main__':
    main()
