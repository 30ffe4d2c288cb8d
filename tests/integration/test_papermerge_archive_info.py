# -*- coding: utf-8 -*-
# Copyright: papermerge.backup contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""papermerge_archive_info on real archives: papermerge_backup's, Papermerge's own, and damaged copies.

The module runs under the development venv's Python (as on the controller): it needs no instance.
"""

import gzip
import io
import sys
import tarfile
from pathlib import Path

import pytest

from ansible_run import run_module

INFO = 'papermerge.backup.papermerge_archive_info'
BACKUP = 'papermerge.backup.papermerge_backup'
REPO = Path(__file__).resolve().parents[2]
HAVE_BACKUP_MODULE = (REPO / 'plugins' / 'modules' / 'papermerge_backup.py').exists()


PY38 = sorted(Path.home().glob('.pyenv/versions/3.8.*/bin/python3'))


def info(path, verify=True, python=sys.executable):
    return run_module(INFO, dict(path=str(path), verify=verify), python=python)


@pytest.fixture(scope='module')
def our_archive(tmp_path_factory, seeded_sqlite):
    if not HAVE_BACKUP_MODULE:
        pytest.skip('papermerge_backup not there yet')
    dest = tmp_path_factory.mktemp('info-archive')
    result = run_module(BACKUP, dict(project_dir=str(seeded_sqlite.project_dir), dest=str(dest) + '/'),
                        python=seeded_sqlite.python)
    assert not result['failed'], result.get('msg')
    return Path(result['archive'])


def with_member_changed(source, target, name_part):
    """A copy of the archive whose first member containing name_part has one byte changed (same size),
    recompressed so that the gzip stream itself is sound: only the manifest can tell."""
    data = bytearray(gzip.decompress(source.read_bytes()))
    with tarfile.open(fileobj=io.BytesIO(bytes(data)), mode='r:') as tar:
        member = next(m for m in tar.getmembers() if m.isreg() and name_part in m.name and m.size > 0)
    data[member.offset_data] ^= 0x01
    target.write_bytes(gzip.compress(bytes(data)))
    return member.name


@pytest.mark.parametrize('python', [
    pytest.param(sys.executable, id='venv-python'),
    pytest.param(str(PY38[-1]) if PY38 else None, id='python3.8',
                 marks=pytest.mark.skipif(not PY38, reason='no pyenv 3.8')),
])
def test_verifies_a_good_archive(our_archive, seeded_sqlite, python):
    # On the controller too, whose Python may be older than the test host's.
    result = info(our_archive, python=python)
    assert not result['failed'], result.get('msg')
    assert result['changed'] is False
    assert result['verified'] is True and result['checksums_verified'] is True
    assert result['checksum_file_verified'] is True  # papermerge_backup writes <archive>.sha256
    assert result['format'] == 'papermerge.backup' and result['backup_json_first'] is True
    assert result['papermerge_version'] == '2.1.5'
    state = seeded_sqlite.state()
    for key in ('users', 'folders', 'documents', 'versions', 'pages'):
        assert result['counts'][key] == state['counts'][key], key
    assert result['counts']['files'] == len(state['files'])
    assert result['manifest']['member_count'] == len(state['files']) + 1  # + backup.json
    assert sorted(result['usernames']) == sorted(u['username'] for u in state['users'])


def test_names_the_member_that_fails_its_checksum(our_archive, tmp_path):
    damaged = tmp_path / 'damaged.tar.gz'
    name = with_member_changed(our_archive, damaged, '.pdf')
    result = info(damaged)
    assert result['failed']
    assert result['member'] == name.replace('//', '/')
    assert 'does not match the manifest' in result['msg'] and name.replace('//', '/') in result['msg']
    assert not info(damaged, verify=False)['failed']  # without verify only the gzip stream is checked


def test_names_the_member_where_a_truncated_archive_ends(our_archive, tmp_path):
    truncated = tmp_path / 'truncated.tar.gz'
    data = our_archive.read_bytes()
    truncated.write_bytes(data[:len(data) // 2])
    result = info(truncated, verify=False)
    assert result['failed']
    assert 'truncated or corrupt' in result['msg'] and 'member' in result['msg'], result['msg']


def test_papermerge_own_archive_reports_that_checksums_were_not_available(seeded_sqlite, tmp_path):
    archive = tmp_path / 'own.tar.gz'
    seeded_sqlite.manage('backup', str(archive))
    result = info(archive)
    assert not result['failed'], result.get('msg')
    assert result['verified'] is True and result['checksums_verified'] is False
    assert result['format'] == 'papermerge' and result['manifest'] is None
    assert result['backup_json_first'] is False
    assert any('checksums' in note for note in result['notes'])
    assert result['counts']['documents'] == seeded_sqlite.state()['counts']['documents']


def test_papermerge_own_archive_missing_a_version_file_fails_verification(seeded_sqlite, tmp_path):
    archive = tmp_path / 'own.tar.gz'
    seeded_sqlite.manage('backup', str(archive))
    stripped = tmp_path / 'stripped.tar.gz'
    with tarfile.open(str(archive), 'r:gz') as source, tarfile.open(str(stripped), 'w:gz') as target:
        dropped = None
        for member in source.getmembers():
            if dropped is None and member.isreg() and member.name.startswith('docs/'):
                dropped = member.name
                continue
            target.addfile(member, source.extractfile(member) if member.isreg() else None)
    result = info(stripped)
    assert result['failed']
    assert result['member'] == dropped and 'missing from the archive' in result['msg']


def test_a_checksum_file_that_does_not_match_fails(our_archive, tmp_path):
    copy = tmp_path / our_archive.name
    copy.write_bytes(our_archive.read_bytes())
    Path(str(copy) + '.sha256').write_text('%s  %s\n' % ('0' * 64, copy.name))
    result = info(copy, verify=False)
    assert result['failed'] and 'does not match its checksum file' in result['msg'], result['msg']
