# -*- coding: utf-8 -*-
"""backup's destination: generated names, chosen only once the directory lock is held; the checksum file; the
archive's writer thread."""

import errno
import hashlib
import io
import os
from datetime import datetime, timezone

import pytest

from ansible_collections.papermerge.backup.plugins.module_utils import backup, checksum_file, destination, papermerge_version
from ansible_collections.papermerge.backup.plugins.module_utils.errors import PapermergeBackupError
from ansible_collections.papermerge.backup.plugins.module_utils.naming import archive_name

NOW = datetime(2026, 11, 26, 2, 0, 0, tzinfo=timezone.utc)


def test_generated_name_in_a_directory(tmp_path):
    target = destination.Destination(str(tmp_path) + '/', 'docs01', '2.1.5', NOW)
    assert target.generated
    assert target.path() == str(tmp_path / 'papermerge-docs01-20261126T020000Z-2.1.5.tar.gz')


def test_generated_name_is_chosen_when_used_not_when_planned(tmp_path):
    # A second backup builds its Destination before it waits for the lock; the first one then writes the
    # archive of that second: the second must take the next free name, not replace the first's archive.
    target = destination.Destination(str(tmp_path), 'docs01', '2.1.5', NOW)
    (tmp_path / archive_name('docs01', NOW, '2.1.5')).write_bytes(b'the first backup')
    assert target.path() == str(tmp_path / 'papermerge-docs01-20261126T020001Z-2.1.5.tar.gz')
    assert target.path() == target.path()  # chosen once


def test_file_destination_keeps_its_name(tmp_path):
    target = destination.Destination(str(tmp_path / 'nightly.tar.gz'), 'docs01', '2.1.5', NOW)
    assert not target.generated and target.path() == str(tmp_path / 'nightly.tar.gz')


def test_missing_directory_is_refused(tmp_path):
    with pytest.raises(PapermergeBackupError, match='does not exist'):
        destination.Destination(str(tmp_path / 'nope') + '/', 'docs01', '2.1.5', NOW)


def test_leftovers_of_a_killed_backup_are_removed_and_nothing_else(tmp_path):
    leftovers = ['.papermerge-backup-abc.json.tmp', '.papermerge-backup-papermerge-x.tar.gz.k3j2.tmp']
    kept = ['.papermerge-backup.lock', 'papermerge-x.tar.gz', 'papermerge-x.tar.gz.sha256', '.other.tmp']
    for name in leftovers + kept:
        (tmp_path / name).write_bytes(b'x')
    (tmp_path / '.papermerge-backup-dir.tmp').mkdir()
    assert destination.remove_leftovers(str(tmp_path)) == sorted(leftovers)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(kept + ['.papermerge-backup-dir.tmp'])


def test_hashing_writer_writes_and_hashes_everything_in_order():
    out = io.BytesIO()
    writer = backup.HashingWriter(out)
    chunks = [os.urandom(n) for n in (0, 1, 70000, 5, 1024 * 1024)] * 5
    for chunk in chunks:
        writer.write(chunk)
    writer.finish()
    assert out.getvalue() == b''.join(chunks)
    assert writer.digest.hexdigest() == hashlib.sha256(b''.join(chunks)).hexdigest()
    assert writer.size == len(out.getvalue())


class FullDisk:
    def write(self, data):
        raise OSError(errno.ENOSPC, 'No space left on device')


def test_hashing_writer_reports_the_stream_error():
    writer = backup.HashingWriter(FullDisk())
    with pytest.raises(OSError) as raised:
        for _number in range(100):  # more than the queue holds: write() must not block forever
            writer.write(b'x' * 1000)
        writer.finish()
    assert raised.value.errno == errno.ENOSPC
    writer.finish(report=False)


def test_checksum_file_is_written_beside_the_archive_and_read_back(tmp_path):
    archive = tmp_path / 'papermerge-x.tar.gz'
    archive.write_bytes(b'archive bytes')
    digest = hashlib.sha256(b'archive bytes').hexdigest()
    assert checksum_file.check_checksum_file(str(archive), digest) is None  # none yet
    checksum_file.write_checksum_file(str(archive), digest)
    assert (tmp_path / 'papermerge-x.tar.gz.sha256').read_text() == '%s  papermerge-x.tar.gz\n' % digest
    assert sorted(p.name for p in tmp_path.iterdir()) == ['papermerge-x.tar.gz', 'papermerge-x.tar.gz.sha256']
    assert checksum_file.check_checksum_file(str(archive), digest) is True
    assert checksum_file.recorded_sha256(str(archive)) == digest


def test_checksum_file_that_does_not_match_or_is_malformed_is_refused(tmp_path):
    archive = tmp_path / 'a.tar.gz'
    archive.write_bytes(b'x')
    digest = hashlib.sha256(b'x').hexdigest()
    (tmp_path / 'a.tar.gz.sha256').write_text('%s  a.tar.gz\n' % ('f' * 64))
    with pytest.raises(PapermergeBackupError, match='does not match its checksum file'):
        checksum_file.check_checksum_file(str(archive), digest)
    (tmp_path / 'a.tar.gz.sha256').write_text('garbage')
    with pytest.raises(PapermergeBackupError, match='sha256sum format'):
        checksum_file.check_checksum_file(str(archive), digest)


def test_recorded_sha256_trusts_only_a_well_formed_checksum_file_written_after_the_archive(tmp_path):
    archive = tmp_path / 'a.tar.gz'
    archive.write_bytes(b'x')
    digest = hashlib.sha256(b'x').hexdigest()
    sidecar = tmp_path / 'a.tar.gz.sha256'
    sidecar.write_text('%s  a.tar.gz\n' % ('e' * 64))
    assert checksum_file.recorded_sha256(str(archive)) == 'e' * 64  # taken on trust: it is the newer file
    old = os.stat(str(archive)).st_mtime - 10
    os.utime(str(sidecar), (old, old))
    assert checksum_file.recorded_sha256(str(archive)) == digest  # older than the archive: computed
    sidecar.write_text('garbage')
    assert checksum_file.recorded_sha256(str(archive)) == digest


def test_a_version_that_cannot_be_found_is_refused_naming_the_variable_that_gives_it(tmp_path, monkeypatch):
    monkeypatch.setattr(papermerge_version, 'installed_version', lambda: None)
    (tmp_path / 'archives').mkdir()
    with pytest.raises(PapermergeBackupError) as raised:
        backup.run_backup(dict(project_dir=str(tmp_path), dest=str(tmp_path / 'archives') + '/'))
    message = str(raised.value)
    assert "cannot tell the instance's Papermerge version" in message
    assert '%s/papermerge/core/version.py' % tmp_path in message
    assert 'papermerge_version\u27e9 (for example 2.1.9)' in message  # a setting() marker: main() names it
    assert not any((tmp_path / 'archives').iterdir())
