"""Full disks at random offsets and a disk that fails writes.

A media root too small for the archive (a tmpfs of a random size, so that the restore runs out of space at a
random point of staging or moving): the restore fails saying so, check mode predicted it, nothing is left, and
once there is space the restore completes.  A backup directory too small: the backup fails saying so and leaves
no partial archive.  A media root on a disk that fails writes (ext4 on a loop device whose backing file cannot
grow): the flush before the commit reports the write error, nothing is committed over files the disk lost, and
once the disk is repaired the next restore cleans up and completes.
"""

import os
import subprocess

import pytest

from fault_runs import (
    References, complete_archives, database_rows, mount_tmpfs, needs_root, randomness, unmount)

DISK_FULL_TRIALS = 5
NO_SPACE = 'no space left on the filesystem of the media root'

pytestmark = needs_root


def archive_files_size(references):
    return sum(size for size, _digest in references.snapshots['restored']['files'].values())


@pytest.mark.parametrize('number', range(DISK_FULL_TRIALS))
def test_a_restore_into_a_media_root_that_fills_up(request, trials, verify, figures, references, number):
    needed = archive_files_size(references)
    size = int(randomness(request.node.name).uniform(0.1, 1.3) * needed)
    target = trials.target()
    mount_tmpfs(target.media_root, size)
    try:
        predicted = trials.run('restore', trials.restore_params(target), check=True)
        result = trials.run('restore', trials.restore_params(target))
        figures.add('faults')
        if result['failed']:
            assert NO_SPACE in result['msg'], result['msg']
            assert 'nothing was written' in result['msg'] or 'The restore was rolled back' in result['msg'], \
                result['msg']
            # Check mode says so first, with the same words.
            assert predicted['failed'] and predicted['msg'].split(' (')[0] == result['msg'].split(' (')[0], \
                (predicted.get('msg'), result['msg'])
            verify(target, [predicted['_tmpdir'], result['_tmpdir']], allowed=('before',))
            subprocess.run(['mount', '-o', 'remount,size=%d' % (3 * needed), str(target.media_root)], check=True)
            result = trials.run('restore', trials.restore_params(target))
            assert not result['failed'], result['msg']
        verify(target, [predicted['_tmpdir'], result['_tmpdir']], allowed=('restored',))
    finally:
        unmount(target.media_root)


@pytest.mark.parametrize('number', range(DISK_FULL_TRIALS))
def test_a_backup_into_a_directory_that_fills_up(request, trials, verify, figures, number):
    archive_size = os.path.getsize(str(trials.archive))
    size = int(randomness(request.node.name).uniform(0.1, 1.5) * archive_size)
    instance = trials.target(template=trials.source)
    dest = trials.directory('dest')
    mount_tmpfs(dest, size)
    try:
        result = trials.run('backup', trials.backup_params(instance, dest))
        figures.add('faults')
        tmpdirs = [result['_tmpdir']]
        if result['failed']:
            assert 'no space left' in result['msg'] and 'no partial archive' in result['msg'], result['msg']
            assert sorted(os.listdir(str(dest))) == ['.papermerge-backup.lock']
            subprocess.run(['mount', '-o', 'remount,size=%d' % (4 * archive_size), str(dest)], check=True)
            result = trials.run('backup', trials.backup_params(instance, dest))
            tmpdirs.append(result['_tmpdir'])
            assert not result['failed'], result['msg']
        assert len(complete_archives(dest)) == 1
        verify(instance, tmpdirs, dest=dest, allowed=('source',), refs=source_reference(verify))
    finally:
        unmount(dest)


def source_reference(verify):
    return References(source=verify.references.source)


class FailingDisk:
    """ext4 on a loop device over a sparse image on a small tmpfs: writes succeed into the page cache, and
    writeback fails (EIO) once the tmpfs is full, as a dying disk's would."""

    def __init__(self, base, mount_point, backing_size):
        self.backing = base / 'backing'
        self.backing.mkdir()
        self.image = self.backing / 'disk.img'
        self.mount_point = mount_point
        self.device = None
        mount_tmpfs(self.backing, backing_size)
        subprocess.run(['truncate', '-s', '256M', str(self.image)], check=True)
        subprocess.run(['mkfs.ext4', '-q', '-F', '-E', 'lazy_itable_init=0,lazy_journal_init=0', str(self.image)],
                       check=True)
        self.attach()

    def attach(self):
        self.device = subprocess.run(['losetup', '-f', '--show', str(self.image)], check=True,
                                     stdout=subprocess.PIPE, text=True).stdout.strip()
        subprocess.run(['mount', '-o', 'errors=continue', self.device, str(self.mount_point)], check=True)
        os.rmdir(str(self.mount_point / 'lost+found'))  # mkfs and fsck make it; a media root has none

    def detach(self):
        subprocess.run(['umount', str(self.mount_point)], check=False)
        if self.device:
            subprocess.run(['losetup', '-d', self.device], check=False)
            self.device = None

    def fill(self):
        """Take the rest of the backing store: every write the disk did not make yet fails from now on."""
        with open(str(self.backing / 'filler'), 'wb') as filler:
            try:
                while True:
                    filler.write(b'\0' * (1 << 20))
                    filler.flush()
            except OSError:
                pass

    def repair(self, backing_size):
        """What an admin does: a disk with room, fsck, mount again."""
        self.detach()
        if (self.backing / 'filler').exists():
            os.unlink(str(self.backing / 'filler'))
        subprocess.run(['mount', '-o', 'remount,size=%d' % backing_size, str(self.backing)], check=True)
        subprocess.run(['e2fsck', '-fy', str(self.image)], check=False, stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL)
        self.attach()

    def remove(self):
        self.detach()
        subprocess.run(['umount', str(self.backing)], check=False)


@pytest.mark.parametrize('when', ['staging', 'flush'])
def test_a_disk_that_fails_writes_aborts_the_commit(trials, verify, figures, references, tmp_path, when):
    """Issue 10 item 7: the lost writes are reported (by syncfs at the flush, or by the journal's fsync when
    the disk fails while staging), and the restore rolls back instead of committing over them."""
    needed = archive_files_size(references)
    target = trials.target()
    roomy = 4 * needed + 64 * 1024 * 1024
    disk = FailingDisk(tmp_path, target.media_root, backing_size=needed // 3 if when == 'staging' else roomy)
    try:
        if when == 'staging':
            result = trials.run('restore', trials.restore_params(target))
        else:
            restoring = trials.start('restore', trials.restore_params(target), stop_at='restore:moved')
            restoring.wait_stopped()
            disk.fill()  # the disk fails every write from now on: the flush meets it
            result = restoring.go_on().result()
            result['_tmpdir'] = restoring.tmpdir
        figures.add('faults')
        assert result['failed'], 'the restore reported success over files the disk lost'
        # The loop device reports the lost writes as EIO or, its backing store being full, as ENOSPC.
        assert 'reported a write error while' in result['msg'] or 'the disk reported it while' in result['msg'], \
            result['msg']
        if when == 'flush':
            assert 'while flushing the restored files to disk' in result['msg'], result['msg']
        assert 'The restore was rolled back' in result['msg'], result['msg']
        assert verify.references.match(dict(rows=database_rows(target))) == 'before'  # no row committed
        disk.repair(backing_size=roomy)
        again = trials.run('restore', trials.restore_params(target))
        assert not again['failed'], again['msg']
        verify(target, [result['_tmpdir'], again['_tmpdir']], allowed=('restored',))
    finally:
        disk.remove()
