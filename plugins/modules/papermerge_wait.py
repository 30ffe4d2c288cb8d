#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: papermerge.backup contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r'''
---
module: papermerge_wait
short_description: Wait for a backup or restore running in the background, printing its progress
version_added: 0.2.0
author:
  - papermerge.backup maintainers (@papermerge)
description:
  - Waits for a job of M(papermerge.backup.papermerge_backup) or M(papermerge.backup.papermerge_restore) started with
    C(async) and C(poll=0), and returns the module's own result once it ends, as M(ansible.builtin.async_status)
    in an C(until) loop would, without that loop's C(FAILED - RETRYING) lines.
  - Every O(poll_interval) seconds it prints one line with the numbers the job published in its O(progress_file),
    for example C(restore - 4,200 of 9,000 files, 210 MB of 340 MB (reading the archive)) after the host's name
    and a colon. AWX shows these lines live in the job's output.
  - When the job ends, its status file (in the connection's async directory) and O(progress_file) are removed.
  - A job that its time limit (the task's C(async)) ended fails with a message naming O(setting_names)' name for
    V(timeout).
  - This is an action plugin. It runs on the controller and reaches the host over the task's connection, with the
    task's become.
options:
  jid:
    description: The job id, RV(ignore:ansible_job_id) of the task that started the job.
    type: str
    required: true
  timeout:
    description:
      - The job's time limit in seconds (the task's C(async)). The job ends there; the wait gives up a little later if
        no status comes.
    type: int
    required: true
  poll_interval:
    description: Seconds between polls; each prints a line.
    type: int
    default: 10
  progress_file:
    description:
      - The file the job publishes its progress in (the modules' C(progress_file) option). Without it, or until the job
        writes it, the lines say that the job is running.
    type: path
  files_total:
    description:
      - How many files the job goes through, shown until the job itself knows (a restore learns how many files its
        archive holds only at the archive's end; the restore role takes the number from its check of the archive).
    type: int
  setting_names:
    description:
      - How the messages name the settings, as in the modules, for example C(timeout) as
        C(papermerge_restore_timeout).
    type: dict
    default: {}
attributes:
  action:
    support: full
    description: Runs on the controller; polls the host over the task's connection.
  async:
    support: none
    description: It is what waits for an async job.
  check_mode:
    support: none
    description: There is no job to wait for in check mode (the roles run the modules synchronously there).
  diff_mode:
    support: none
    description: Nothing to compare.
  platform:
    support: full
    platforms: posix
    description: Reads the progress file with C(cat), removes it with C(rm).
notes:
  - The progress file holds numbers and the phase only, so the lines never show a name, a path or a secret.
seealso:
  - module: ansible.builtin.async_status
  - module: papermerge.backup.papermerge_backup
  - module: papermerge.backup.papermerge_restore
'''

EXAMPLES = r'''
- name: Create a file for the restore's progress
  ansible.builtin.tempfile:
    suffix: .progress
  register: progress
  changed_when: false

- name: Start the restore
  papermerge.backup.papermerge_restore:
    project_dir: /opt/papermerge
    src: /var/backups/papermerge/papermerge-docs01-20261126T020000Z-2.1.5.tar.gz
    progress_file: "{{ progress.path }}"
  async: 21600
  poll: 0
  register: job

- name: Wait for the restore to finish
  papermerge.backup.papermerge_wait:
    jid: "{{ job.ansible_job_id }}"
    timeout: 21600
    poll_interval: 10
    progress_file: "{{ progress.path }}"
  register: restored
'''

RETURN = r'''
changed:
  description: The job module's C(changed).
  returned: always
  type: bool
msg:
  description: The job module's message; when the job hit its time limit, what to raise.
  returned: failure
  type: str
'''
