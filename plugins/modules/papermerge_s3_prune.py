#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: papermerge.backup contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r'''
---
module: papermerge_s3_prune
short_description: Delete old Papermerge archives in S3-compatible object storage by a retention policy
version_added: 0.1.0
author:
  - papermerge.backup maintainers (@papermerge)
description:
  - Applies the retention policy of M(papermerge.backup.papermerge_prune), the same code with the same rules, to the
    archives below O(url) and deletes the archives it does not keep, each with its C(<key>.sha256) object (deleted
    first).
  - Only objects directly below the prefix whose whole name is an archive name of the collection
    (C(papermerge-<label>-<YYYYMMDDTHHMMSSZ>-<version>.tar.gz), as M(papermerge.backup.papermerge_prune)'s default
    pattern reads them) are considered; nothing else in the bucket, deeper prefixes included, is touched or
    reported.
  - The time of an archive is read from its name. The policy applies to each label separately; the newest archive
    of each label that is not dated in the future is never deleted; archives dated in the future are kept; an empty
    policy is refused. See M(papermerge.backup.papermerge_prune) for the rules in full.
  - In a bucket with versioning (or Object Lock), a deletion hides the archive and leaves its older versions to the
    bucket's own lifecycle rules; that is the protection against a stolen key deleting the backups.
  - C(changed) is true exactly when an archive is deleted (in check mode, would be deleted).
extends_documentation_fragment:
  - papermerge.backup.s3
options:
  url:
    description:
      - The archives' prefix, V(s3://BUCKET/PREFIX) (or V(s3://BUCKET)), as given to
        M(papermerge.backup.papermerge_s3_upload).
    type: str
    required: true
  label:
    description:
      - Consider only archives with this label; archives of other labels are neither kept nor removed, nor reported.
    type: str
  keep_last:
    description: Keep the newest N archives. V(-1) keeps all.
    type: int
    default: 0
  keep_hourly:
    description: Keep the newest archive of each of the last N UTC hours that have one. V(-1) means every hour.
    type: int
    default: 0
  keep_daily:
    description: Keep the newest archive of each of the last N UTC days that have one. V(-1) means every day.
    type: int
    default: 0
  keep_weekly:
    description: Keep the newest archive of each of the last N ISO weeks that have one. V(-1) means every week.
    type: int
    default: 0
  keep_monthly:
    description: Keep the newest archive of each of the last N UTC months that have one. V(-1) means every month.
    type: int
    default: 0
  keep_yearly:
    description: Keep the newest archive of each of the last N UTC years that have one. V(-1) means every year.
    type: int
    default: 0
  keep_within:
    description:
      - Keep every archive newer than the newest archive of its label minus this duration (V(7d), V(2w),
        V(1y2m3d4h)), as in M(papermerge.backup.papermerge_prune).
    type: str
attributes:
  check_mode:
    support: full
    description: Lists the bucket and reports what would be deleted; deletes nothing.
  diff_mode:
    support: none
    description: Deleted objects have no diff to show; RV(removed) lists them.
seealso:
  - module: papermerge.backup.papermerge_prune
  - module: papermerge.backup.papermerge_s3_upload
'''

EXAMPLES = r'''
- name: Keep 7 daily and 12 monthly archives of docs01 in the bucket
  papermerge.backup.papermerge_s3_prune:
    url: s3://example-papermerge-backups/papermerge
    label: docs01
    keep_daily: 7
    keep_monthly: 12
    region: eu-central-1

- name: Show what the policy would delete, without deleting
  papermerge.backup.papermerge_s3_prune:
    url: s3://example-papermerge-backups/papermerge
    keep_last: 3
    endpoint_url: https://s3.eu-central-1.wasabisys.com
    access_key: "{{ vault_wasabi_access_key }}"
    secret_key: "{{ vault_wasabi_secret_key }}"
  check_mode: true
'''

RETURN = r'''
kept:
  description: The archives the policy keeps, newest first, with every rule that keeps each of them.
  returned: success
  type: list
  elements: dict
  contains:
    url:
      description: The archive's object.
      type: str
      sample: s3://example-papermerge-backups/papermerge/papermerge-docs01-20261126T020000Z-2.1.5.tar.gz
    label:
      description: Label read from the name.
      type: str
      sample: docs01
    time:
      description: Time read from the name, ISO 8601 in UTC.
      type: str
      sample: '2026-11-26T02:00:00Z'
    reasons:
      description: Every rule that keeps the archive, as M(papermerge.backup.papermerge_prune) names them.
      type: list
      elements: str
      sample: ['last 1', 'daily 2026-11-26']
removed:
  description: The archives deleted, or in check mode the archives that would be deleted, newest first.
  returned: success
  type: list
  elements: dict
  contains:
    url:
      description: The archive's object.
      type: str
      sample: s3://example-papermerge-backups/papermerge/papermerge-docs01-20261001T020000Z-2.1.5.tar.gz
    label:
      description: Label read from the name.
      type: str
      sample: docs01
    time:
      description: Time read from the name, ISO 8601 in UTC.
      type: str
      sample: '2026-10-01T02:00:00Z'
    reason:
      description: Why the archive goes, always V(not selected by any rule).
      type: str
      sample: not selected by any rule
    checksum:
      description: The C(.sha256) object deleted with the archive (or that would be), V(null) when there was none.
      type: str
      sample: s3://example-papermerge-backups/papermerge/papermerge-docs01-20261001T020000Z-2.1.5.tar.gz.sha256
'''

from datetime import datetime, timezone

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.papermerge.backup.plugins.module_utils.errors import PapermergeBackupError
from ansible_collections.papermerge.backup.plugins.module_utils.retention import (
    policy_argument_spec, policy_from_params)
from ansible_collections.papermerge.backup.plugins.module_utils.s3_client import client_from_params, s3_argument_spec
from ansible_collections.papermerge.backup.plugins.module_utils.s3_prune import prune_bucket


def argument_spec():
    spec = s3_argument_spec()
    spec.update(policy_argument_spec())
    spec.update(url=dict(type='str', required=True))
    return spec


def run(module):
    params = module.params
    policy, label = policy_from_params(params)
    kept, removed = prune_bucket(client_from_params(params), params['url'], policy, now=datetime.now(timezone.utc),
                                 label=label, check_mode=module.check_mode)
    return dict(changed=bool(removed), kept=kept, removed=removed)


def main():
    module = AnsibleModule(argument_spec=argument_spec(), supports_check_mode=True)
    try:
        result = run(module)
    except PapermergeBackupError as error:
        module.fail_json(msg=str(error), **error.details)
    module.exit_json(**result)


if __name__ == '__main__':
    main()
