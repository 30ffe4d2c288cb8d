# -*- coding: utf-8 -*-
# Copyright: papermerge.backup contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Progress of a long job: published whole, at most once a second, in numbers a person reads; and the messages
that name settings as the caller spells them."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import os

import pytest

from ansible_collections.papermerge.backup.plugins.module_utils.progress import Progress, describe, human_size
from ansible_collections.papermerge.backup.plugins.module_utils.setting_names import name_settings, setting


class Clock:
    def __init__(self):
        self.now = 100.0

    def __call__(self):
        return self.now


def read(path):
    with open(str(path)) as handle:
        return json.load(handle)


def test_progress_is_written_at_phase_changes_and_then_at_most_once_a_second(tmp_path):
    path, clock = tmp_path / 'job.progress', Clock()
    progress = Progress(str(path), 'backup', clock=clock)
    progress.phase('writing the archive', files_total=9000, bytes_total=340 * 2 ** 20)
    assert read(path) == dict(action='backup', phase='writing the archive', files=0, files_total=9000, bytes=0,
                              bytes_total=340 * 2 ** 20)
    clock.now += 0.5
    progress.update(100, 10)
    assert read(path)['files'] == 0, 'written again within a second'
    clock.now += 0.6
    progress.update(4200, 210 * 2 ** 20)
    assert read(path)['files'] == 4200 and read(path)['bytes'] == 210 * 2 ** 20
    assert sorted(os.listdir(str(tmp_path))) == ['job.progress'], 'a temporary file was left behind'
    progress.close()
    assert not path.exists()


def test_progress_holds_numbers_and_the_phase_only(tmp_path):
    path = tmp_path / 'job.progress'
    progress = Progress(str(path), 'restore', clock=Clock())
    progress.phase('reading the archive', bytes_total=1)
    assert set(read(path)) == {'action', 'phase', 'files', 'files_total', 'bytes', 'bytes_total'}


def test_progress_that_cannot_be_written_is_given_up_without_failing_the_job(tmp_path):
    progress = Progress(str(tmp_path / 'missing' / 'job.progress'), 'backup', clock=Clock())
    progress.phase('writing the archive')
    progress.update(1, 1)
    progress.close()
    assert progress.path is None


def test_no_progress_file_costs_nothing_and_writes_nothing(tmp_path):
    progress = Progress(None, 'backup')
    progress.phase('writing the archive', files_total=1)
    progress.update(1, 1)
    progress.close()
    assert os.listdir(str(tmp_path)) == []


@pytest.mark.parametrize('state, files_total, line', [
    (dict(action='restore', phase='reading the archive', files=4200, files_total=None, bytes=210 * 2 ** 20,
          bytes_total=340 * 2 ** 20), 9000, 'restore: 4,200 of 9,000 files, 210 MB of 340 MB (reading the archive)'),
    (dict(action='restore', phase='reading the archive', files=4200, files_total=None, bytes=210 * 2 ** 20,
          bytes_total=340 * 2 ** 20), None, 'restore: 4,200 files, 210 MB of 340 MB (reading the archive)'),
    (dict(action='backup', phase='writing the archive', files=12, files_total=30, bytes=3 * 2 ** 30 // 2,
          bytes_total=4 * 2 ** 30), None, 'backup: 12 of 30 files, 1.5 GB of 4.0 GB (writing the archive)'),
    (dict(action='backup', phase='reading the database and listing the media files', files=0, files_total=0,
          bytes=0, bytes_total=0), None, 'backup: reading the database and listing the media files'),
    (dict(action='restore', phase='writing the rows', files=0, files_total=0, bytes=0, bytes_total=0), 9000,
     'restore: writing the rows'),
    (dict(action='restore', phase='comparing', files=12, files_total=30, bytes=0, bytes_total=0), 9000,
     'restore: 12 of 30 files (comparing)'),
    (None, None, None),
])
def test_describe_reads_as_a_person_would_say_it(state, files_total, line):
    assert describe(state, files_total) == line


@pytest.mark.parametrize('size, text', [(512, '512 bytes'), (2048, '2.0 KB'), (210 * 2 ** 20, '210 MB'),
                                        (1300 * 2 ** 20, '1.3 GB'), (12 * 2 ** 40, '12,288 GB')])
def test_human_size(size, text):
    assert human_size(size) == text


def test_messages_name_the_module_options_when_it_runs_alone():
    message = 'set %s: skip, or point %s at the virtualenv' % (setting('on_conflict'), setting('interpreter'))
    assert name_settings(message) == 'set on_conflict: skip, or point ansible_python_interpreter at the virtualenv'


def test_messages_name_the_role_variables_the_caller_gives():
    message = 'set %s: skip, or set %s' % (setting('on_conflict'), setting('papermerge_version'))
    names = {'on_conflict': 'papermerge_restore_on_conflict', 'interpreter': 'papermerge_venv'}
    assert name_settings(message, names) == 'set papermerge_restore_on_conflict: skip, or set papermerge_version'
