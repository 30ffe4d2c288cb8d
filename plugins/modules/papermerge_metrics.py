#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: papermerge.backup contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r'''
---
module: papermerge_metrics
short_description: Record a backup or restore drill run in a Prometheus textfile for node_exporter
version_added: 0.1.0
author:
  - papermerge.backup maintainers (@papermerge)
description:
  - Writes the Prometheus text format file that node_exporter's textfile collector
    (C(--collector.textfile.directory)) reads, one series per archive O(label), so that several hosts can share
    one file. The backup and drill roles call it after each run when C(papermerge_backup_metrics_file) is set.
  - 'Series, all gauges: C(papermerge_backup_last_run_success) (1 or 0), C(papermerge_backup_last_run_timestamp_seconds),
    C(papermerge_backup_last_success_timestamp_seconds), C(papermerge_backup_duration_seconds),
    C(papermerge_backup_archive_size_bytes), C(papermerge_backup_documents), C(papermerge_backup_files) for backups;
    C(papermerge_backup_last_drill_run_success), C(papermerge_backup_last_drill_run_timestamp_seconds),
    C(papermerge_backup_last_drill_success_timestamp_seconds) and C(papermerge_backup_drill_restore_duration_seconds)
    for drills. Times are Unix times of the host writing the file.'
  - A failed run sets only its run's success to V(0) and its time; the time and the measurements of the last
    success stay as the file had them, so an alert on the age of the last success keeps counting.
  - The file is read, this label's samples are replaced, and the whole file is written to a temporary file in the
    same directory, fsynced, given mode C(0644) (node_exporter runs as a user of its own) and renamed over the old
    one, under an exclusive lock on the directory, so that node_exporter never reads half a file and two hosts
    writing at once lose nothing. It holds numbers and labels only, nothing secret.
  - A file with lines this module did not write is started afresh, with a warning.
  - The module needs nothing but Python's standard library, so it runs with any interpreter on the host that
    writes the file (a Papermerge container's too).
options:
  path:
    description:
      - Absolute path of the metrics file; its directory must exist. node_exporter reads only names ending in
        C(.prom).
    type: path
    required: true
  label:
    description: The archive label the run belongs to (letters, digits, C(.), C(_), C(-)); the series' C(label).
    type: str
    required: true
  kind:
    description: Whether the run was a backup or a restore drill.
    type: str
    choices: [backup, drill]
    default: backup
  success:
    description: Whether the run succeeded.
    type: bool
    required: true
  duration_seconds:
    description: Backups that succeeded, how long the run took (seconds).
    type: float
  archive_size_bytes:
    description: Backups that succeeded, the archive's size.
    type: int
  documents:
    description: Backups that succeeded, the documents in the archive.
    type: int
  files:
    description: Backups that succeeded, the files (documents and sidecars) in the archive.
    type: int
  restore_duration_seconds:
    description: Drills that passed, the measured recovery time (migrating an empty instance, then the restore).
    type: float
attributes:
  check_mode:
    support: full
    description: Reads the file and says whether it would change; writes nothing.
  diff_mode:
    support: none
    description: Every run changes the run's time, so a diff says nothing new.
seealso:
  - name: Monitoring the backups
    description: Alert rules on these series, and where the file goes for Papermerge in containers.
    link: https://github.com/papermerge/papermerge.backup/blob/main/docs/monitoring.md
'''

EXAMPLES = r'''
- name: Record a successful backup of docs01
  papermerge.backup.papermerge_metrics:
    path: /var/lib/prometheus/node-exporter/papermerge_backup.prom
    label: docs01
    success: true
    duration_seconds: 42.5
    archive_size_bytes: 354123456
    documents: 1200
    files: 9800

- name: Record a failed backup (the last success keeps its time)
  papermerge.backup.papermerge_metrics:
    path: /var/lib/prometheus/node-exporter/papermerge_backup.prom
    label: docs01
    success: false
'''

RETURN = r'''
path:
  description: The metrics file.
  returned: always
  type: str
  sample: /var/lib/prometheus/node-exporter/papermerge_backup.prom
label:
  description: The label whose series were updated.
  returned: always
  type: str
  sample: docs01
series:
  description: This label's series as the file now holds them (in check mode, would hold).
  returned: always
  type: dict
  sample: {"papermerge_backup_last_run_success": 1, "papermerge_backup_last_run_timestamp_seconds": 1795658400.123}
'''

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.papermerge.backup.plugins.module_utils.errors import PapermergeBackupError
from ansible_collections.papermerge.backup.plugins.module_utils.metrics import update_metrics

BACKUP_VALUES = ("duration_seconds", "archive_size_bytes", "documents", "files")


def main():
    module = AnsibleModule(
        argument_spec=dict(
            path=dict(type="path", required=True),
            label=dict(type="str", required=True),
            kind=dict(type="str", default="backup", choices=["backup", "drill"]),
            success=dict(type="bool", required=True),
            duration_seconds=dict(type="float"),
            archive_size_bytes=dict(type="int"),
            documents=dict(type="int"),
            files=dict(type="int"),
            restore_duration_seconds=dict(type="float"),
        ),
        supports_check_mode=True,
    )
    params = module.params
    if params["kind"] == "backup":
        values = dict((name, params[name]) for name in BACKUP_VALUES)
    else:
        values = dict(drill_restore_duration_seconds=params["restore_duration_seconds"])
    try:
        result = update_metrics(params["path"], params["label"], params["kind"], params["success"], values,
                                check_mode=module.check_mode)
    except PapermergeBackupError as error:
        module.fail_json(msg=str(error), **error.details)
    for warning in result.pop("warnings"):
        module.warn(warning)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
