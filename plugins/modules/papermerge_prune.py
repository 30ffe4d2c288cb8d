#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: papermerge.backup contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r'''
---
module: papermerge_prune
short_description: Delete old Papermerge backup archives by a retention policy
version_added: 0.1.0
author:
  - papermerge.backup maintainers (@papermerge)
description:
  - Applies a retention policy to a directory of archives made by M(papermerge.backup.papermerge_backup) and deletes
    the archives it does not keep, together with the checksum file C(<archive>.sha256) next to each of them.
  - The policy follows C(restic forget). O(keep_last) keeps the newest N archives. O(keep_hourly), O(keep_daily),
    O(keep_weekly), O(keep_monthly) and O(keep_yearly) keep the newest archive of each of the last N hours, days,
    weeks, months or years I(that have an archive); periods are UTC calendar periods and weeks are ISO weeks,
    Monday to Sunday. O(keep_within) keeps every archive newer than the newest archive minus a duration. Rules
    combine with OR.
  - Only regular files whose whole name matches O(pattern) are considered. Nothing else in O(path) is touched or
    reported, neither checksum files of other archives, C(.part) copies and temporary files of a running backup,
    nor directories, nor symbolic links named like archives.
  - The time of an archive is read from its name, never from the file's modification time.
  - The policy applies to each label (host) separately, so archives of several hosts can share one directory.
  - The newest archive of each label that is not dated in the future is never deleted. Archives dated in the
    future (after the controlled host's clock) are always kept, with the reason C(future-dated), and take part in
    no rule (they use no C(keep_*) slot and do not move the O(keep_within) reference), so a clock that once jumped
    ahead cannot push out real archives.
  - Archives with the same time are ordered by name; the name that sorts last counts as the newer one.
  - An empty policy (all counts V(0) and no O(keep_within)) is refused rather than deleting every archive.
  - C(changed) is true exactly when an archive is deleted (in check mode, would be deleted).
options:
  path:
    description:
      - Directory that holds the archives.
    type: path
    required: true
  keep_last:
    description:
      - Keep the newest N archives. V(-1) keeps all.
    type: int
    default: 0
  keep_hourly:
    description:
      - Keep the newest archive of each of the last N UTC hours that have one. V(-1) means every hour.
    type: int
    default: 0
  keep_daily:
    description:
      - Keep the newest archive of each of the last N UTC days that have one. V(-1) means every day.
    type: int
    default: 0
  keep_weekly:
    description:
      - Keep the newest archive of each of the last N ISO weeks (Monday to Sunday, UTC) that have one. V(-1) means
        every week.
      - An ISO week can span New Year (Monday 2026-12-28 to Sunday 2027-01-03 is C(2026-W53)).
    type: int
    default: 0
  keep_monthly:
    description:
      - Keep the newest archive of each of the last N UTC calendar months that have one. V(-1) means every month.
    type: int
    default: 0
  keep_yearly:
    description:
      - Keep the newest archive of each of the last N UTC calendar years that have one. V(-1) means every year.
    type: int
    default: 0
  keep_within:
    description:
      - Keep every archive newer than the newest archive of its label minus this duration, written as in restic,
        for example V(7d), V(2w), V(1y2m3d4h) (units C(y) years, C(m) months, C(w) weeks, C(d) days, C(h) hours;
        C(w) is not in restic).
      - The reference is the newest archive, not the current time, so archives of a host whose backups stopped are
        not lost to time passing. An archive exactly at the boundary is not kept by this rule.
      - Years and months are calendar steps that stop at the end of a shorter month (one month before 31 March is
        28 or 29 February).
    type: str
  pattern:
    description:
      - Python regular expression that a file name must match as a whole to be considered an archive.
      - The default matches exactly the names M(papermerge.backup.papermerge_backup) generates,
        C(papermerge-<label>-<YYYYMMDDTHHMMSSZ>-<version>.tar.gz), and C(...tar.gz.age) for encrypted archives;
        plain and encrypted archives of one label form one group.
      - A custom pattern must have a named group C(time) holding the UTC year, month, day, hour, minute and second
        in this order (other characters in it are ignored, so C(20261126T020000Z) and C(2026-11-26_02-00-00) both
        work). It may have a named group C(label); archives are grouped by it. Without one, all matching archives
        form one group.
      - Names whose C(time) is not a real date are not considered.
    type: str
    default: "^papermerge-(?P<label>[A-Za-z0-9._-]+)-(?P<time>[0-9]{8}T[0-9]{6}Z)-(?P<version>[0-9]+(?:\\.[0-9]+)*\
      (?:(?:a|b|rc)[0-9]+)?(?:\\.post[0-9]+)?(?:\\.dev[0-9]+)?(?:\\+[A-Za-z0-9]+(?:\\.[A-Za-z0-9]+)*)?)\\.tar\\.gz(?:\\.age)?$"
  label:
    description:
      - Consider only archives with this label; archives of other labels are neither kept nor removed, nor
        reported.
      - Letters, digits, C(.), C(_) and C(-).
    type: str
notes:
  - Counts are integers; numbers given as strings (such as survey answers, V("7")) are converted. V("unlimited") is
    not accepted; use V(-1).
  - Unlike restic 0.17 and later, the oldest archive is not kept additionally when a rule has slots left over, so
    the result is exactly what the rules name.
  - The checksum file of a deleted archive is deleted first, so an interrupted run leaves at worst an archive that
    the next run deletes, never a stray checksum file.
  - Deleting a file needs write permission on O(path).
attributes:
  check_mode:
    support: full
    description: Reports what would be removed and removes nothing.
  diff_mode:
    support: none
    description: Deleted files have no diff to show; RV(removed) lists them.
seealso:
  - module: papermerge.backup.papermerge_backup
  - name: restic forget
    description: The retention semantics this module follows.
    link: https://restic.readthedocs.io/en/stable/060_forget.html
'''

EXAMPLES = r'''
- name: Keep 7 daily, 4 weekly and 12 monthly archives of every host in /var/backups/papermerge
  papermerge.backup.papermerge_prune:
    path: /var/backups/papermerge
    keep_daily: 7
    keep_weekly: 4
    keep_monthly: 12

- name: Keep everything from the last two weeks and the newest archive of every year
  papermerge.backup.papermerge_prune:
    path: /var/backups/papermerge
    keep_within: 2w
    keep_yearly: -1

- name: Show what a policy would delete, without deleting
  papermerge.backup.papermerge_prune:
    path: /var/backups/papermerge
    keep_last: 3
  check_mode: true
  register: prune_preview

- name: List the archives that would go
  ansible.builtin.debug:
    msg: "{{ prune_preview.removed | map(attribute='path') | list }}"

- name: Rotate only this host's archives in a directory shared by several hosts
  papermerge.backup.papermerge_prune:
    path: /srv/backups
    label: "{{ inventory_hostname_short }}"
    keep_last: 10

- name: Rotate archives named by an older script, such as pm-2026-11-26_02-00-00.tgz
  papermerge.backup.papermerge_prune:
    path: /srv/old-backups
    pattern: '^pm-(?P<time>\d{4}-\d{2}-\d{2}_\d{2}-\d{2}-\d{2})\.tgz$'
    keep_daily: 14
'''

RETURN = r'''
kept:
  description:
    - The archives the policy keeps, newest first, with every rule that keeps each of them.
    - Reasons read C(last N) (the Nth newest), C(hourly 2026-11-25T14), C(daily 2026-11-25), C(weekly 2026-W48),
      C(monthly 2026-11), C(yearly 2026), C(within 7d), C(future-dated) or C(newest archive).
  returned: success
  type: list
  elements: dict
  contains:
    path:
      description: Absolute path of the archive.
      type: str
      sample: /var/backups/papermerge/papermerge-docs01-20261126T020000Z-2.1.5.tar.gz
    label:
      description: Label read from the name; V(null) when a custom O(pattern) has no C(label) group.
      type: str
      sample: docs01
    time:
      description: Time read from the name, ISO 8601 in UTC.
      type: str
      sample: '2026-11-26T02:00:00Z'
    reasons:
      description: Every rule that keeps the archive.
      type: list
      elements: str
      sample: ['last 1', 'daily 2026-11-26', 'weekly 2026-W48']
removed:
  description:
    - The archives deleted, or in check mode the archives that would be deleted, newest first.
  returned: success
  type: list
  elements: dict
  contains:
    path:
      description: Absolute path of the archive.
      type: str
      sample: /var/backups/papermerge/papermerge-docs01-20261001T020000Z-2.1.5.tar.gz
    label:
      description: Label read from the name; V(null) when a custom O(pattern) has no C(label) group.
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
      description: The checksum file deleted with the archive (or that would be), V(null) when there was none.
      type: str
      sample: /var/backups/papermerge/papermerge-docs01-20261001T020000Z-2.1.5.tar.gz.sha256
'''

import os
from datetime import datetime, timezone

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.papermerge.backup.plugins.module_utils.errors import PapermergeBackupError
from ansible_collections.papermerge.backup.plugins.module_utils.naming import DEFAULT_PATTERN
from ansible_collections.papermerge.backup.plugins.module_utils.retention import (
    policy_argument_spec, policy_from_params, prune_directory)
from ansible_collections.papermerge.backup.plugins.module_utils.setting_names import name_settings


def argument_spec():
    spec = policy_argument_spec()
    spec.update(
        path=dict(type='path', required=True),
        pattern=dict(type='str', default=DEFAULT_PATTERN),
    )
    return spec


def run(module):
    params = module.params
    policy, label = policy_from_params(params)
    kept, removed = prune_directory(
        os.path.abspath(params['path']), policy, now=datetime.now(timezone.utc), pattern=params['pattern'],
        label=label, check_mode=module.check_mode,
    )
    return dict(changed=bool(removed), kept=kept, removed=removed)


def main():
    module = AnsibleModule(argument_spec=argument_spec(), supports_check_mode=True)
    try:
        result = run(module)
    except PapermergeBackupError as error:
        module.fail_json(msg=name_settings(str(error)), **error.details)
    module.exit_json(**result)


if __name__ == '__main__':
    main()
