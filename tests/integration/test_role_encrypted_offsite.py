# -*- coding: utf-8 -*-
# Copyright: papermerge.backup contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Encryption and object storage together, as issue 13's "done when" puts it: playbooks/backup.yml with age
recipients, a fetch directory on the controller and an S3 URL (the local moto server) leaves only encrypted
archives on the host, on the controller and in the bucket, whose copies carry their sha256 and are rotated by
the policy; the standard `age -d` opens the bucket's copy; the restore role takes s3://BUCKET/KEY with the
identity's content and restores the instance exactly, a second time changes nothing, and the identity does not
stay on the host."""

import hashlib
import tarfile

import age_cli
from papermerge_host import assert_states_equal
from playbook_run import instance_inventory, make_manage_py_executable, run_playbook
# The fixtures of the local S3 server.
from s3_server import bucket, s3_server  # noqa: F401 pylint: disable=unused-import
from test_role_encryption import RESTORE, identity_dirs_left
from test_role_s3 import BACKUP, backup_vars, keys, put_old_archives

AGE_HEADER = b'age-encryption.org/v1\n'
GZIP_MAGIC = b'\x1f\x8b'
LOCK_FILE = '.papermerge-backup.lock'  # the backup directory's lock: empty


def assert_only_encrypted_archives(directory, name):
    """directory holds the archive name (age-encrypted) and its .sha256 (and the lock file), and no gzip
    stream under any name."""
    found = sorted(path for path in directory.rglob('*') if path.is_file() and path.name != LOCK_FILE)
    assert [path.name for path in found] == [name, name + '.sha256'], found
    assert found[0].read_bytes().startswith(AGE_HEADER), '%s is not an age file' % found[0]
    assert not [path for path in directory.rglob('*') if path.is_file() and path.read_bytes()[:2] == GZIP_MAGIC]


def test_encrypted_backup_to_the_bucket_then_restore_from_it(make_instance, s3_server, bucket, tmp_path):
    age_keys = age_cli.Keys(tmp_path / 'keys')
    source = make_instance(seeded=True)
    host_dir, controller = tmp_path / 'host-backups', tmp_path / 'controller'
    # Archives of before encryption was turned on, one since, and another host's: keep_last 2 keeps the new
    # archive and the newest old one of this label, and takes the plaintext ones away.
    old_plain = put_old_archives(s3_server, bucket, 'docs01', range(1, 3))
    [old_encrypted] = put_old_archives(s3_server, bucket, 'docs01', [3], suffix='.tar.gz.age')
    theirs = put_old_archives(s3_server, bucket, 'docs02', range(1, 3), suffix='.tar.gz.age')
    extravars = backup_vars(s3_server, bucket, host_dir, papermerge_backup_fetch_dir=str(controller),
                            papermerge_backup_age_recipients=age_keys.x25519_recipient)

    backup = run_playbook(BACKUP, instance_inventory(source, 'docs01'), extravars)
    assert backup.ok, backup.explain()
    [made] = backup.results('Wait for the backup to finish', host='docs01')
    name = made['archive'].rsplit('/', 1)[-1]
    assert name.endswith('.tar.gz.age'), name
    assert_only_encrypted_archives(host_dir, name)
    assert_only_encrypted_archives(controller, name)
    for copy in (host_dir / name, controller / name):
        assert hashlib.sha256(copy.read_bytes()).hexdigest() == made['sha256']

    kept = ['p/' + name, old_encrypted]
    assert keys(s3_server, bucket) == sorted(kept + theirs + [key + '.sha256' for key in kept + theirs])
    assert not set(old_plain) & set(keys(s3_server, bucket))
    assert not [key for key in keys(s3_server, bucket) if key.endswith('.tar.gz')]
    client = s3_server.boto3()
    assert client.head_object(Bucket=bucket, Key='p/' + name)['Metadata'] == {'sha256': made['sha256']}
    body = client.get_object(Bucket=bucket, Key='p/' + name)['Body'].read()
    assert body.startswith(AGE_HEADER) and hashlib.sha256(body).hexdigest() == made['sha256']
    checksum = client.get_object(Bucket=bucket, Key='p/%s.sha256' % name)['Body'].read().decode()
    assert checksum == '%s  %s\n' % (made['sha256'], name)

    # Disaster recovery without the collection: the bucket's copy, the standard age tool, a tar.gz.
    offsite = tmp_path / 'offsite'
    offsite.mkdir()
    (offsite / name).write_bytes(body)
    decrypted = offsite / name[:-len('.age')]
    age_cli.decrypt(offsite / name, decrypted, age_keys.x25519)
    with tarfile.open(str(decrypted), 'r:gz') as archive:
        assert 'backup.json' in archive.getnames()

    target = make_instance(migrated=False)
    make_manage_py_executable(target)
    restore_vars = dict(s3_server.connection_vars('restore'), **{
        'papermerge_restore_archive': 's3://%s/p/%s' % (bucket, name),
        'papermerge_restore_age_identity': age_keys.x25519.read_text(),
        'papermerge_restore_upload_dir': str(tmp_path / 'download'),
        'papermerge_restore_poll_interval': '1',
    })
    restored = run_playbook(RESTORE, instance_inventory(target, 'docs01'), restore_vars)
    assert restored.ok, restored.explain()
    assert identity_dirs_left(restored) == [], 'the identity stayed on the host after the restore'
    assert_only_encrypted_archives(tmp_path / 'download', name)
    assert_states_equal(source.state(), target.state())

    again = run_playbook(RESTORE, instance_inventory(target, 'docs01'), restore_vars)
    assert again.ok, again.explain()
    assert again.changed('docs01') == 0, again.changed_tasks('docs01')
    assert identity_dirs_left(again) == [], 'the identity stayed on the host after the second restore'
    assert_states_equal(source.state(), target.state())
    for run in (backup, restored, again):
        assert age_keys.secret() not in run.stdout + run.stderr
