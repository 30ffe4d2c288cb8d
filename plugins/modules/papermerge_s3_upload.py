#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: papermerge.backup contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r'''
---
module: papermerge_s3_upload
short_description: Copy a Papermerge archive and its sha256 file to S3-compatible object storage, verified
version_added: 0.1.0
author:
  - papermerge.backup maintainers (@papermerge)
description:
  - Uploads the archive O(src) (made by M(papermerge.backup.papermerge_backup), encrypted or not) to
    C(<prefix>/<archive name>) below O(url), then its checksum file as C(<prefix>/<archive name>.sha256) (sha256sum
    format, as on disk).
  - Runs where the archive is, normally the Papermerge host, and streams it from there, so the archive needs no space
    anywhere else, and the module needs nothing but Python's standard library.
  - The archive's sha256 (O(sha256), else its C(.sha256) file, else read from it) is stored as the object's
    metadata C(x-amz-meta-sha256). Every request's payload sha256 is signed and its MD5 sent as C(Content-MD5), so
    the service refuses any part that is not what the module read; the archive is read part by part (hashed, then
    sent), and the upload is completed only when the whole archive hashed to that sha256. Otherwise the upload is
    aborted and the module fails, naming the sha256 it read.
  - An archive up to O(part_size) goes in one PUT; a larger one as a multipart upload of O(part_size) parts (grown
    when the archive would need more than 10,000). A single PUT is atomic and a multipart upload is invisible until
    it is completed, so no half archive is ever visible under the archive's key. A failed multipart upload is
    aborted; one that a killed run leaves behind is invisible and is removed by the bucket's lifecycle rule for
    incomplete multipart uploads (see the guide).
  - Afterwards the object is read back with HEAD; its size and C(sha256) metadata must be the archive's.
  - An object of that name with the archive's size and sha256 metadata is not uploaded again (C(changed=false));
    one that differs is replaced.
  - Memory stays at one read buffer whatever the archive's size.
extends_documentation_fragment:
  - papermerge.backup.s3
options:
  src:
    description:
      - The archive on the host the module runs on. Its base name becomes the object's name.
    type: path
    required: true
  url:
    description:
      - Where archives go, V(s3://BUCKET/PREFIX) (or V(s3://BUCKET) for the bucket's top level). The prefix is a
        folder, with or without the trailing C(/).
    type: str
    required: true
  sha256:
    description:
      - The sha256 the archive must have, as M(papermerge.backup.papermerge_backup) returned it. Empty means the
        first field of C(<src>.sha256), else the archive is read once more to compute it.
    type: str
  part_size:
    description:
      - Size of the parts of a multipart upload, in MiB (5 to 5120; S3's smallest part is 5 MiB). Archives up to
        this size go in one PUT.
    type: int
    default: 16
attributes:
  check_mode:
    support: full
    description:
      - Lists the bucket (so wrong credentials or a missing bucket fail the check too), looks for the object and
        says whether it would be uploaded; sends nothing. When O(src) does not exist yet (the check run of a
        backup), reports that it would be uploaded.
  diff_mode:
    support: none
    description: Objects have no diff to show.
seealso:
  - module: papermerge.backup.papermerge_s3_prune
  - module: papermerge.backup.papermerge_s3_download
  - name: Off-site copies in object storage
    description: The collection's guide, with examples for AWS, Backblaze B2, Wasabi and MinIO.
    link: https://github.com/papermerge/papermerge.backup/blob/main/docs/offsite.md
'''

EXAMPLES = r'''
- name: Copy the new archive to Backblaze B2
  papermerge.backup.papermerge_s3_upload:
    src: "{{ backup.archive }}"
    sha256: "{{ backup.sha256 }}"
    url: s3://example-papermerge-backups/docs01
    endpoint_url: https://s3.us-west-004.backblazeb2.com
    region: us-west-004
    access_key: "{{ vault_b2_key_id }}"
    secret_key: "{{ vault_b2_application_key }}"

- name: Copy an archive to AWS with the host's instance role
  papermerge.backup.papermerge_s3_upload:
    src: /var/backups/papermerge/papermerge-docs01-20261126T020000Z-2.1.5.tar.gz
    url: s3://example-papermerge-backups/papermerge
    region: eu-central-1
'''

RETURN = r'''
url:
  description: The archive's object, V(s3://BUCKET/KEY).
  returned: success
  type: str
  sample: s3://example-papermerge-backups/docs01/papermerge-docs01-20261126T020000Z-2.1.5.tar.gz
checksum_url:
  description: The checksum file's object.
  returned: success
  type: str
  sample: s3://example-papermerge-backups/docs01/papermerge-docs01-20261126T020000Z-2.1.5.tar.gz.sha256
sha256:
  description: The archive's sha256, as stored in the object's metadata; V(null) in check mode before the archive exists.
  returned: success
  type: str
  sample: 3f79bb7b435b05321651daefd374cdc681dc06faa65e374e38337b88ca046dea
size:
  description: The archive's size in bytes; V(null) in check mode before the archive exists.
  returned: success
  type: int
  sample: 104857600
parts:
  description: How many parts were sent (1 for a single PUT); V(0) when nothing was uploaded.
  returned: success
  type: int
  sample: 7
'''

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.papermerge.backup.plugins.module_utils.errors import PapermergeBackupError
from ansible_collections.papermerge.backup.plugins.module_utils.s3_client import client_from_params, s3_argument_spec
from ansible_collections.papermerge.backup.plugins.module_utils.s3_transfer import upload_archive


def argument_spec():
    spec = s3_argument_spec()
    spec.update(
        src=dict(type='path', required=True),
        url=dict(type='str', required=True),
        sha256=dict(type='str'),
        part_size=dict(type='int', default=16),
    )
    return spec


def main():
    module = AnsibleModule(argument_spec=argument_spec(), supports_check_mode=True)
    params = module.params
    try:
        result = upload_archive(client_from_params(params), params['url'], params['src'], sha256=params['sha256'],
                                part_size_mib=params['part_size'], check_mode=module.check_mode)
    except PapermergeBackupError as error:
        module.fail_json(msg=str(error), **error.details)
    module.exit_json(**result)


if __name__ == '__main__':
    main()
