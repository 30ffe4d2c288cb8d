# -*- coding: utf-8 -*-
# Copyright: papermerge.backup contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The drill's checks: which archive is the newest, the space a restore needs, and the comparison of the
restored instance (as prove.py reports it) and its files with what the archive holds."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import hashlib
import json
import os
from collections import namedtuple

import pytest

from ansible_collections.papermerge.backup.plugins.module_utils import drill
from ansible_collections.papermerge.backup.plugins.module_utils.errors import PapermergeBackupError

DOC = 'docs/user_1/document_2/v1/a.pdf'
SIDECAR = 'sidecars/user_1/document_2/v1/pages/000001.svg'


def test_the_newest_archive_by_the_time_in_its_name(tmp_path):
    for name in ('papermerge-docs01-20261126T020000Z-2.1.5.tar.gz', 'papermerge-a-b-20261127T010000Z-2.1.5.tar.gz',
                 'papermerge-docs01-20261125T230000Z-2.1.5.tar.gz', 'papermerge-docs01-20991231T000000Z-2.1.5.tar.gz.sha256',
                 'notes.txt'):
        (tmp_path / name).write_text('x')
    assert drill.choose_archive(str(tmp_path)) == str(tmp_path / 'papermerge-a-b-20261127T010000Z-2.1.5.tar.gz')
    given = tmp_path / 'notes.txt'
    assert drill.choose_archive(str(given)) == str(given)


def test_no_archive_is_a_clear_error(tmp_path):
    with pytest.raises(PapermergeBackupError, match='holds no archive'):
        drill.choose_archive(str(tmp_path))
    with pytest.raises(PapermergeBackupError, match='neither an archive nor a directory'):
        drill.choose_archive(str(tmp_path / 'missing'))


def test_a_failure_after_the_choice_names_the_archive_and_its_label(tmp_path):
    # The drill records a failure under the archive's label, which the failed module must still report.
    archive = tmp_path / 'papermerge-docs01-20261126T020000Z-2.1.5.tar.gz'
    archive.write_bytes(b'not a gzip stream')
    for work_dir in (tmp_path / 'missing', tmp_path):
        with pytest.raises(PapermergeBackupError) as error:
            drill.prepare(str(tmp_path), str(work_dir))
        assert error.value.details['archive'] == str(archive) and error.value.details['label'] == 'docs01'
    assert [path.name for path in tmp_path.iterdir()] == [archive.name], 'the spool directory was left behind'


def test_space_is_checked_and_the_refusal_says_how_much(tmp_path, monkeypatch):
    Stats = namedtuple('Stats', 'f_bavail f_frsize')
    monkeypatch.setattr(os, 'statvfs', lambda path: Stats(f_bavail=1024, f_frsize=4096))
    assert drill.check_space(str(tmp_path), 4 * 1024 * 1024) == (4 * 1024 * 1024, 4 * 1024 * 1024)
    with pytest.raises(PapermergeBackupError) as error:
        drill.check_space(str(tmp_path), 300 * 1024 * 1024)
    assert 'needs about 300.0 MiB free in %s' % tmp_path in str(error.value)
    assert 'only 4.0 MiB is free there' in str(error.value)
    assert error.value.details == dict(needed_bytes=300 * 1024 * 1024, free_bytes=4 * 1024 * 1024)


def write(path, data):
    path.write_text(json.dumps(data))
    return str(path)


@pytest.fixture
def restored(tmp_path):
    """A media root with two files, the expected contents of an archive holding them, and prove.py's state of a
    correct restore."""
    media = tmp_path / 'media'
    files = {}
    for name, content in ((DOC, b'%PDF document'), (SIDECAR, b'<svg/>')):
        path = media.joinpath(*name.split('/'))
        path.parent.mkdir(parents=True)
        path.write_bytes(content)
        files[name] = [len(content), hashlib.sha256(content).hexdigest()]
    counts = dict(users=1, folders=2, documents=1, versions=1, pages=1, tags=0)
    version = dict(number=1, file_name='a.pdf', pages=1, file=DOC)
    expected = dict(counts=dict(counts, files=2), files=files, missing=[], users={'olga': dict(
        folders=['.home', '.inbox'], documents={'.home/a.pdf': [version]})})
    state = dict(counts=counts, users={'olga': dict(
        folders=['.home/', '.inbox/'], documents={'.home/a.pdf': [dict(version, exists=True)]})})
    return tmp_path, media, expected, state


def run_verify(restored):
    tmp_path, media, expected, state = restored
    return drill.verify(write(tmp_path / 'expected.json', expected), write(tmp_path / 'state.json', state), str(media))


def test_a_correct_restore_passes(restored):
    result = run_verify(restored)
    assert result['files_checked'] == 2 and result['users'] == ['olga'] and result['counts']['documents'] == 1


def test_a_changed_file_is_named(restored):
    restored[1].joinpath(*SIDECAR.split('/')).write_bytes(b'<svg>')
    with pytest.raises(PapermergeBackupError) as error:
        run_verify(restored)
    assert error.value.details['problems'] == ['file %s differs from the archive\'s (size or sha256)' % SIDECAR]


def test_a_missing_document_and_a_wrong_count_are_named(restored):
    _tmp, _media, _expected, state = restored
    state['users']['olga']['documents'] = {}
    state['counts']['documents'] = 0
    with pytest.raises(PapermergeBackupError) as error:
        run_verify(restored)
    assert error.value.details['problems'] == [
        'documents: the archive holds 1, Papermerge sees 0', 'document olga:.home/a.pdf is missing']


def test_a_version_file_elsewhere_is_named(restored):
    _tmp, _media, _expected, state = restored
    state['users']['olga']['documents']['.home/a.pdf'][0].update(file='docs/user_9/document_2/v1/a.pdf', exists=False)
    with pytest.raises(PapermergeBackupError, match='Papermerge reads its file at .*user_9.*which does not exist'):
        run_verify(restored)


def test_a_version_file_the_backup_listed_as_missing_is_not_a_problem(restored):
    tmp_path, media, expected, state = restored
    media.joinpath(*DOC.split('/')).unlink()
    del expected['files'][DOC]
    expected['missing'] = [DOC]
    state['users']['olga']['documents']['.home/a.pdf'][0]['exists'] = False
    assert run_verify(restored)['files_checked'] == 1


def test_human_sizes():
    assert drill.human(512) == '512 bytes' and drill.human(3 * 1024 ** 3) == '3.0 GiB'
