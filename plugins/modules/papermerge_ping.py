#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: papermerge.backup contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r'''
---
module: papermerge_ping
short_description: Send a heartbeat ping (Healthchecks.io, Uptime Kuma push) without ever failing
version_added: 0.1.0
author:
  - papermerge.backup maintainers (@papermerge)
description:
  - Pings a push-style monitor the way Healthchecks.io defines it, O(url) plus C(/start) when a job starts,
    O(url) itself when it succeeded, O(url) plus C(/fail) when it failed. Uptime Kuma's push monitors and other
    Healthchecks-compatible services take the same requests.
  - A ping is best effort. It has a short O(timeout) and O(retries) more attempts, and a ping that cannot be
    delivered (no route, a timeout, an HTTP error) makes a warning, never a failed task, so that a monitoring
    service being down never fails a backup. RV(delivered) says whether it arrived.
  - With a O(body) the request is a POST with that text, which Healthchecks.io shows with the ping (what failed);
    it is cut to 1000 characters, and credentials in URLs and values of secret-named variables are removed from it.
    Without one it is a GET.
  - O(url) is a credential (whoever knows it can report a success), so it is never logged or returned, and
    warnings name its scheme and host only.
  - The backup and drill roles run it on the controller, which usually reaches the Internet where Papermerge
    hosts may not.
  - Needs nothing but Python's standard library.
options:
  url:
    description: The check's ping URL, for example C(https://hc-ping.com/<uuid>) or Uptime Kuma's push URL.
    type: str
    required: true
  event:
    description: V(start) pings O(url)C(/start), V(success) pings O(url), V(fail) pings O(url)C(/fail).
    type: str
    choices: [start, success, fail]
    required: true
  body:
    description: Text sent with the ping (a POST), such as what failed; nothing secret.
    type: str
  timeout:
    description: Seconds to wait for each attempt.
    type: int
    default: 10
  retries:
    description: Attempts after the first one, one second apart.
    type: int
    default: 1
attributes:
  check_mode:
    support: full
    description: Pings nothing and reports that it would.
  diff_mode:
    support: none
    description: Nothing to compare.
seealso:
  - name: Monitoring the backups
    description: Heartbeats, metrics and alerts for the backups and drills.
    link: https://github.com/papermerge/papermerge.backup/blob/main/docs/monitoring.md
'''

EXAMPLES = r'''
- name: Tell Healthchecks.io that the backup failed, and why
  papermerge.backup.papermerge_ping:
    url: "{{ papermerge_backup_ping_url }}"
    event: fail
    body: "backup of docs01 failed: the database is not reachable"
  delegate_to: localhost
'''

RETURN = r'''
delivered:
  description: Whether the ping arrived (an HTTP 2xx or 3xx answer). V(false) in check mode.
  returned: always
  type: bool
  sample: true
event:
  description: The event pinged.
  returned: always
  type: str
  sample: fail
'''

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.papermerge.backup.plugins.module_utils.errors import PapermergeBackupError
from ansible_collections.papermerge.backup.plugins.module_utils.heartbeat import send_ping


def main():
    module = AnsibleModule(
        argument_spec=dict(
            url=dict(type="str", required=True, no_log=True),
            event=dict(type="str", required=True, choices=["start", "success", "fail"]),
            body=dict(type="str"),
            timeout=dict(type="int", default=10),
            retries=dict(type="int", default=1),
        ),
        supports_check_mode=True,
    )
    params = module.params
    if module.check_mode:
        module.exit_json(changed=False, delivered=False, event=params["event"])
    if params["timeout"] < 1 or params["retries"] < 0:
        module.fail_json(msg="timeout must be 1 second or more and retries 0 or more")
    try:
        delivered, warning = send_ping(params["url"], params["event"], params["body"], params["timeout"],
                                       params["retries"])
    except PapermergeBackupError as error:
        # A URL that cannot be pinged at all is a setting to fix, and still no reason to fail the backup.
        delivered, warning = False, str(error)
    if warning:
        module.warn(warning)
    module.exit_json(changed=False, delivered=delivered, event=params["event"])


if __name__ == "__main__":
    main()
