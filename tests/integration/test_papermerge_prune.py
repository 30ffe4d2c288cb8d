# -*- coding: utf-8 -*-
# Copyright: papermerge.backup contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""papermerge_prune run through ansible-playbook on a real directory of archives, checksums and other files.

The module runs under the test host's Python and, when pyenv has it, under Python 3.8 (the oldest target Python
we support), as it would on an older Papermerge host.
"""

import hashlib
import os
import subprocess
import sys
from pathlib import Path

import pytest

from ansible_run import run_module
from file_tree import tree_snapshot

MODULE = 'papermerge.backup.papermerge_prune'


def _pyenv_python(version_prefix):
    try:
        root = subprocess.run(['pyenv', 'root'], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
                              check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return None
    versions = sorted(Path(root, 'versions').glob(version_prefix + '*'))
    pythons = [v / 'bin' / 'python3' for v in versions if (v / 'bin' / 'python3').exists()]
    return str(pythons[-1]) if pythons else None


PYTHONS = [pytest.param(sys.executable, id='venv-python')]
_PY38 = _pyenv_python('3.8.')
PYTHONS.append(pytest.param(_PY38, id='python3.8', marks=pytest.mark.skipif(_PY38 is None, reason='no pyenv 3.8')))


@pytest.fixture(params=PYTHONS)
def python(request):
    return request.param


# docs01: one archive a day, two on 2025-03-10; docs-02 (a label with a dash): three archives.
DOCS01 = [
    'papermerge-docs01-20250310T140000Z-2.1.5.tar.gz',
    'papermerge-docs01-20250310T020000Z-2.1.5.tar.gz',
    'papermerge-docs01-20250309T020000Z-2.1.5.tar.gz',
    'papermerge-docs01-20250308T020000Z-2.1.5.tar.gz',
    'papermerge-docs01-20250228T020000Z-2.1.5.tar.gz',
    'papermerge-docs01-20250131T020000Z-2.1.5.tar.gz',
    'papermerge-docs01-20241231T020000Z-2.1.4.tar.gz',
]
DOCS02 = [
    'papermerge-docs-02-20250301T020000Z-2.1.5.post1.tar.gz',
    'papermerge-docs-02-20250201T020000Z-2.1.5.post1.tar.gz',
    'papermerge-docs-02-20250101T020000Z-2.1.5.post1.tar.gz',
]
FUTURE = 'papermerge-docs01-20990101T000000Z-2.1.5.tar.gz'  # a clock that jumped ahead once
UNRELATED = [
    'notes.txt',
    'papermerge-docs01-20240101T020000Z-2.1.5.tar.gz.part',        # an interrupted copy
    '.papermerge-docs01-20240101T020000Z-2.1.5.tar.gz.tmp',        # a temp file of a running backup
    'papermerge-docs01-20240101T020000Z-2.1.5.zip',
    'papermerge-docs01-20240101T020000Z-2.1.5.tar.gz.sha256',      # checksum whose archive is long gone
    'papermerge-docs01-20241399T020000Z-2.1.5.tar.gz',             # not a real date
]
SYMLINK = 'papermerge-docs01-20240102T020000Z-2.1.5.tar.gz'        # named like an archive, but a link
SUBDIR = 'papermerge-docs01-20240103T020000Z-2.1.5.tar.gz'         # named like an archive, but a directory


def _write_archive(directory, name):
    archive = directory / name
    archive.write_bytes(('archive %s\n' % name).encode())
    digest = hashlib.sha256(archive.read_bytes()).hexdigest()
    (directory / (name + '.sha256')).write_text('%s  %s\n' % (digest, name))


@pytest.fixture
def backup_dir(tmp_path):
    directory = tmp_path / 'backups'
    directory.mkdir()
    for name in DOCS01 + DOCS02 + [FUTURE]:
        _write_archive(directory, name)
    for name in UNRELATED:
        (directory / name).write_text('not an archive\n')
    os.symlink(DOCS01[-1], str(directory / SYMLINK))
    (directory / SUBDIR).mkdir()
    (directory / SUBDIR / 'inside').write_text('x')
    return directory


def with_checksums(names):
    return set(names) | set(name + '.sha256' for name in names)


POLICY = {'keep_daily': '2', 'keep_monthly': '3'}  # strings, as an AWX survey sends them
# docs01: daily keeps 03-10 14:00 and 03-09; monthly keeps 2025-03 (03-10 14:00), 2025-02, 2025-01.
DOCS01_KEPT = [DOCS01[0], DOCS01[2], DOCS01[4], DOCS01[5]]
DOCS01_REMOVED = [DOCS01[1], DOCS01[3], DOCS01[6]]
# docs-02: daily keeps 03-01 and 02-01; monthly keeps all three months.
DOCS02_KEPT = list(DOCS02)


def test_check_mode_reports_and_removes_nothing(backup_dir, python):
    before = tree_snapshot(backup_dir)
    result = run_module(MODULE, dict(path=str(backup_dir), **POLICY), python=python, check=True)
    assert not result['failed'], result.get('msg')
    assert result['changed'] is True
    assert [Path(item['path']).name for item in result['removed']] == DOCS01_REMOVED
    assert tree_snapshot(backup_dir) == before


def test_prune_leaves_exactly_what_the_policy_keeps(backup_dir, python):
    before = tree_snapshot(backup_dir)
    result = run_module(MODULE, dict(path=str(backup_dir), **POLICY), python=python)
    assert not result['failed'], result.get('msg')
    assert result['changed'] is True

    not_archives = set(UNRELATED) | {SYMLINK, SUBDIR, SUBDIR + '/inside'}
    expected = with_checksums(DOCS01_KEPT + DOCS02_KEPT + [FUTURE]) | not_archives
    after = tree_snapshot(backup_dir)
    assert set(after) == expected
    assert all(after[name] == before[name] for name in after), 'a kept file changed'

    removed = result['removed']
    assert [Path(item['path']).name for item in removed] == DOCS01_REMOVED
    assert all(item['reason'] == 'not selected by any rule' for item in removed)
    assert [item['checksum'] for item in removed] == [str(backup_dir / (n + '.sha256')) for n in DOCS01_REMOVED]
    assert removed[0] == {
        'path': str(backup_dir / DOCS01[1]), 'label': 'docs01', 'time': '2025-03-10T02:00:00Z',
        'reason': 'not selected by any rule', 'checksum': str(backup_dir / (DOCS01[1] + '.sha256')),
    }

    kept = dict((Path(item['path']).name, item) for item in result['kept'])
    assert set(kept) == set(DOCS01_KEPT + DOCS02_KEPT + [FUTURE])
    assert kept[FUTURE]['reasons'] == ['future-dated']
    assert kept[DOCS01[0]] == {'path': str(backup_dir / DOCS01[0]), 'label': 'docs01', 'time': '2025-03-10T14:00:00Z',
                               'reasons': ['daily 2025-03-10', 'monthly 2025-03']}
    assert kept[DOCS02[2]]['label'] == 'docs-02'
    assert kept[DOCS02[2]]['reasons'] == ['monthly 2025-01']


def test_second_run_changes_nothing(backup_dir, python):
    first = run_module(MODULE, dict(path=str(backup_dir), **POLICY), python=python)
    assert first['changed'] is True
    before = tree_snapshot(backup_dir)
    second = run_module(MODULE, dict(path=str(backup_dir), **POLICY), python=python)
    assert not second['failed'], second.get('msg')
    assert second['changed'] is False
    assert second['removed'] == []
    assert tree_snapshot(backup_dir) == before


def test_label_restricts_the_run_to_one_host(backup_dir, python):
    result = run_module(MODULE, dict(path=str(backup_dir), label='docs-02', keep_last=1), python=python)
    assert not result['failed'], result.get('msg')
    assert [Path(item['path']).name for item in result['kept']] == [DOCS02[0]]
    assert [Path(item['path']).name for item in result['removed']] == DOCS02[1:]
    remaining = set(os.listdir(str(backup_dir)))
    assert with_checksums(DOCS01 + [FUTURE]) <= remaining
    assert not with_checksums(DOCS02[1:]) & remaining


def test_archive_without_checksum_file_is_removed_alone(backup_dir, python):
    (backup_dir / (DOCS01[-1] + '.sha256')).unlink()
    result = run_module(MODULE, dict(path=str(backup_dir), label='docs01', keep_last=6), python=python)
    assert not result['failed'], result.get('msg')
    assert result['removed'] == [{'path': str(backup_dir / DOCS01[-1]), 'label': 'docs01',
                                  'time': '2024-12-31T02:00:00Z', 'reason': 'not selected by any rule',
                                  'checksum': None}]
    assert not (backup_dir / DOCS01[-1]).exists()
    assert os.path.islink(str(backup_dir / SYMLINK))  # dangling now, and still not touched


def test_custom_pattern_with_time_group(tmp_path, python):
    for name in ('pm-2025-03-10_02-00-00.tgz', 'pm-2025-03-09_02-00-00.tgz', 'pm-2025-03-08_02-00-00.tgz',
                 'pm-latest.tgz'):
        (tmp_path / name).write_text(name)
    pattern = r'^pm-(?P<time>\d{4}-\d{2}-\d{2}_\d{2}-\d{2}-\d{2})\.tgz$'
    result = run_module(MODULE, dict(path=str(tmp_path), pattern=pattern, keep_last=2), python=python)
    assert not result['failed'], result.get('msg')
    assert sorted(os.listdir(str(tmp_path))) == ['pm-2025-03-09_02-00-00.tgz', 'pm-2025-03-10_02-00-00.tgz',
                                                 'pm-latest.tgz']
    assert result['removed'][0]['label'] is None


def test_keep_within_is_relative_to_the_newest_archive(backup_dir, python):
    result = run_module(MODULE, dict(path=str(backup_dir), label='docs01', keep_within='2d'), python=python)
    assert not result['failed'], result.get('msg')
    assert sorted(Path(item['path']).name for item in result['kept']) == sorted([FUTURE, DOCS01[0], DOCS01[1],
                                                                                 DOCS01[2]])


@pytest.mark.parametrize('args, message', [
    ({}, 'policy is empty'),
    ({'keep_last': 0, 'keep_within': '0d'}, 'policy is empty'),
    ({'keep_within': '7 days'}, 'is not a duration'),
    ({'keep_daily': -2}, 'keep_daily must be a whole number'),
    ({'keep_last': 1, 'pattern': r'^(?P<label>.+)\.tgz$'}, 'no named group "time"'),
    ({'keep_last': 1, 'pattern': '(?P<time>['}, 'not a valid regular expression'),
    ({'keep_last': 1, 'label': 'docs 01'}, 'not usable in an archive name'),
    ({'keep_daily': 'seven'}, 'keep_daily'),
])
def test_bad_options_fail_clearly_and_remove_nothing(backup_dir, args, message):
    before = tree_snapshot(backup_dir)
    result = run_module(MODULE, dict(path=str(backup_dir), **args), python=sys.executable)
    assert result['failed'] is True
    assert message in result['msg']
    assert tree_snapshot(backup_dir) == before


def test_missing_directory_fails(tmp_path):
    result = run_module(MODULE, dict(path=str(tmp_path / 'nope'), keep_last=1), python=sys.executable)
    assert result['failed'] is True
    assert 'is not a directory' in result['msg']
