"""The backup and restore roles with object storage, against real Papermerge 2.1.5 instances and a local S3 server
(moto with IAM auth, tests/support/s3_server.py): the backup uploads the archive and its .sha256 from the host and
rotates the bucket by the host's policy (this label only); the restore role takes s3://BUCKET/KEY, downloads it on
the host checked against its sha256 and restores it exactly; check mode writes nothing anywhere; an object changed
after its upload is refused with nothing written; wrong keys fail clearly, and the secret key never shows, not even
in -vvv output."""

import hashlib

import pytest

from papermerge_host import assert_states_equal
from playbook_run import instance_inventory, make_manage_py_executable, run_playbook
# The fixtures of the local S3 server.
from s3_server import bucket, s3_server  # noqa: F401 pylint: disable=unused-import

BACKUP = 'playbooks/backup.yml'
RESTORE = [{
    'name': 'Restore the Papermerge host',
    'hosts': 'papermerge',
    'gather_facts': False,
    'roles': [{'role': 'papermerge.backup.restore'}],
}]


def keys(s3_server, bucket_name):
    return sorted(item['Key'] for item in s3_server.boto3().list_objects_v2(Bucket=bucket_name).get('Contents', []))


def put_old_archives(s3_server, bucket_name, label, days, suffix='.tar.gz'):
    names = ['p/papermerge-%s-202601%02dT020000Z-2.1.5%s' % (label, day, suffix) for day in days]
    for key in names:
        s3_server.boto3().put_object(Bucket=bucket_name, Key=key, Body=b'an old archive')
        s3_server.boto3().put_object(Bucket=bucket_name, Key=key + '.sha256', Body=b'0' * 64 + b'  x\n')
    return names


def backup_vars(s3_server, bucket_name, host_dir, **extra):
    extravars = dict(s3_server.connection_vars('backup'), **{
        'papermerge_backup_dir': str(host_dir),
        'papermerge_backup_label': 'docs01',
        'papermerge_backup_poll_interval': '1',
        'papermerge_backup_s3_url': 's3://%s/p' % bucket_name,
        'papermerge_backup_keep_last': '2',
        'papermerge_backup_keep_daily': '0',
        'papermerge_backup_keep_weekly': '0',
        'papermerge_backup_keep_monthly': '0',
    })
    extravars.update(extra)
    return extravars


def test_backup_to_the_bucket_then_restore_from_it(make_instance, s3_server, bucket, tmp_path):
    source = make_instance(seeded=True)
    host_dir = tmp_path / 'host-backups'
    old_mine = put_old_archives(s3_server, bucket, 'docs01', range(1, 4))
    old_theirs = put_old_archives(s3_server, bucket, 'docs02', range(1, 3))
    extravars = backup_vars(s3_server, bucket, host_dir)

    preview = run_playbook(BACKUP, instance_inventory(source, 'docs01'), extravars, check=True)
    assert preview.ok, preview.explain()
    assert len(keys(s3_server, bucket)) == 10, 'check mode changed the bucket'

    first = run_playbook(BACKUP, instance_inventory(source, 'docs01'), extravars)
    assert first.ok, first.explain()
    [made] = first.results('Wait for the backup to finish', host='docs01')
    name = made['archive'].rsplit('/', 1)[-1]
    [uploaded] = first.results('Wait for the upload to finish', host='docs01')
    assert uploaded['sha256'] == made['sha256'] and uploaded['parts'] == 1
    head = s3_server.boto3().head_object(Bucket=bucket, Key='p/' + name)
    assert head['Metadata'] == {'sha256': made['sha256']}
    body = s3_server.boto3().get_object(Bucket=bucket, Key='p/' + name)['Body'].read()
    assert hashlib.sha256(body).hexdigest() == made['sha256']
    # keep_last 2, this label only: the new archive and the newest old one stay, each with its .sha256.
    kept = ['p/' + name, old_mine[-1]]
    assert keys(s3_server, bucket) == sorted(kept + [k + '.sha256' for k in kept + old_theirs] + old_theirs)

    second = run_playbook(BACKUP, instance_inventory(source, 'docs01'), extravars)
    assert second.ok, second.explain()
    assert second.changed('docs01') == 0, second.changed_tasks('docs01')

    target = make_instance(migrated=False)
    make_manage_py_executable(target)
    restore_vars = dict(s3_server.connection_vars('backup'), **{  # the restore role falls back to the backup's
        'papermerge_restore_archive': 's3://%s/p/%s' % (bucket, name),
        'papermerge_restore_upload_dir': str(tmp_path / 'download'),
        'papermerge_restore_poll_interval': '1',
    })
    restore_preview = run_playbook(RESTORE, instance_inventory(target, 'docs01'), restore_vars, check=True)
    assert restore_preview.ok, restore_preview.explain()
    assert not (tmp_path / 'download').exists(), 'check mode downloaded the archive'

    restored = run_playbook(RESTORE, instance_inventory(target, 'docs01'), restore_vars)
    assert restored.ok, restored.explain()
    fetched = tmp_path / 'download' / name
    assert hashlib.sha256(fetched.read_bytes()).hexdigest() == made['sha256']
    assert (tmp_path / 'download' / (name + '.sha256')).read_text() == '%s  %s\n' % (made['sha256'], name)
    assert_states_equal(source.state(), target.state())

    again = run_playbook(RESTORE, instance_inventory(target, 'docs01'), restore_vars)
    assert again.ok, again.explain()
    assert again.changed('docs01') == 0, again.changed_tasks('docs01')


def test_an_object_changed_after_its_upload_is_refused_with_nothing_written(
        make_instance, s3_server, bucket, tmp_path):
    source = make_instance(seeded=True)
    run = run_playbook(BACKUP, instance_inventory(source, 'docs01'),
                       backup_vars(s3_server, bucket, tmp_path / 'host-backups'))
    assert run.ok, run.explain()
    [made] = run.results('Wait for the backup to finish', host='docs01')
    key = 'p/' + made['archive'].rsplit('/', 1)[-1]
    damaged = bytearray(s3_server.boto3().get_object(Bucket=bucket, Key=key)['Body'].read())
    damaged[len(damaged) // 2] ^= 0x01
    s3_server.boto3().put_object(Bucket=bucket, Key=key, Body=bytes(damaged), Metadata={'sha256': made['sha256']})

    target = make_instance()
    make_manage_py_executable(target)
    before = target.state()
    restore = run_playbook(RESTORE, instance_inventory(target, 'docs01'), {
        'papermerge_restore_archive': 's3://%s/%s' % (bucket, key),
        'papermerge_restore_upload_dir': str(tmp_path / 'download'),
        'papermerge_restore_poll_interval': '1',
        'papermerge_restore_s3_endpoint_url': s3_server.endpoint_url,
        'papermerge_restore_s3_access_key': s3_server.access_key,
        'papermerge_restore_s3_secret_key': s3_server.secret_key,
    })
    assert not restore.ok
    assert 'were expected: the object changed after it was uploaded' in restore.stdout
    assert list((tmp_path / 'download').iterdir()) == []
    assert_states_equal(before, target.state())


@pytest.mark.parametrize('right_key', [True, False], ids=['right-key', 'wrong-key'])
def test_the_secret_key_never_shows_even_with_vvv(make_instance, s3_server, bucket, tmp_path, right_key):
    source = make_instance(seeded=True)
    extravars = backup_vars(s3_server, bucket, tmp_path / 'host-backups')
    if not right_key:
        extravars['papermerge_backup_s3_secret_key'] = 'Wrong+Secret/Key' + s3_server.secret_key[16:]
    secret = extravars['papermerge_backup_s3_secret_key']
    run = run_playbook(BACKUP, instance_inventory(source, 'docs01'), extravars,
                       env={'ANSIBLE_STDOUT_CALLBACK': 'default', 'ANSIBLE_VERBOSITY': '3'})
    output = run.stdout + run.stderr
    assert (run.returncode == 0) == right_key, output[-5000:]
    assert 'ESTABLISH' in output, 'not a -vvv run'
    assert secret not in output
    if right_key:
        assert 'sha256' in output and len(keys(s3_server, bucket)) == 2
    else:
        assert 'SignatureDoesNotMatch' in output and 'check secret_key' in output
        assert 'The archive stays on docs01 and nothing was rotated in the bucket' in output
        assert keys(s3_server, bucket) == []
