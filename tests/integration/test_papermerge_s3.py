"""The object storage modules through real Ansible, with the Papermerge venv's Python, against a local S3 server
(moto, tests/support/s3_server.py) that checks every signature and payload hash: upload in one PUT and in parts,
verification, a second run that sends nothing, check mode, retention in the bucket, verified downloads, and the
refusals: wrong credentials, a missing bucket, an archive that changed on the host, an object changed after its
upload."""

import hashlib
import os
from pathlib import Path

import pytest

from ansible_run import run_module
# The fixtures of the local S3 server.
from s3_server import S3Server, bucket, s3_server  # noqa: F401 pylint: disable=unused-import

NAME = 'papermerge-docs01-20261126T020000Z-2.1.5.tar.gz'
MIB = 1024 * 1024


@pytest.fixture
def python(papermerge_venv):
    return Path(papermerge_venv) / 'bin' / 'python'


def archive(directory, size, name=NAME, checksum_file=True):
    """A file named like an archive, with random (incompressible) content and its .sha256 file."""
    path = directory / name
    path.write_bytes(os.urandom(size))
    sha256 = hashlib.sha256(path.read_bytes()).hexdigest()
    if checksum_file:
        (directory / (name + '.sha256')).write_text('%s  %s\n' % (sha256, name))
    return path, sha256


def upload(s3_server, python, src, url, check=False, **extra):
    args = dict(s3_server.module_args(), src=str(src), url=url, **extra)
    return run_module('papermerge.backup.papermerge_s3_upload', args, python=python, check=check)


def download(s3_server, python, url, dest, check=False, **extra):
    args = dict(s3_server.module_args(), url=url, dest=str(dest), **extra)
    return run_module('papermerge.backup.papermerge_s3_download', args, python=python, check=check)


def body(s3_server, bucket_name, key):
    return s3_server.boto3().get_object(Bucket=bucket_name, Key=key)['Body'].read()


def keys(s3_server, bucket_name):
    return sorted(item['Key'] for item in s3_server.boto3().list_objects_v2(Bucket=bucket_name).get('Contents', []))


def pending_uploads(s3_server, bucket_name):
    return s3_server.boto3().list_multipart_uploads(Bucket=bucket_name).get('Uploads', [])


def test_multipart_upload_verified_then_nothing_to_send(s3_server, bucket, python, tmp_path):
    src, sha256 = archive(tmp_path, 12 * MIB + 123)
    url = 's3://%s/docs01' % bucket

    preview = upload(s3_server, python, src, url, check=True, part_size=5)
    assert not preview['failed'], preview
    assert preview['changed'] and keys(s3_server, bucket) == []

    first = upload(s3_server, python, src, url, part_size=5, sha256=sha256)
    assert not first['failed'], first
    assert first['changed'] and first['parts'] == 3 and first['sha256'] == sha256
    assert first['url'] == 's3://%s/docs01/%s' % (bucket, NAME)
    assert hashlib.sha256(body(s3_server, bucket, 'docs01/' + NAME)).hexdigest() == sha256
    head = s3_server.boto3().head_object(Bucket=bucket, Key='docs01/' + NAME)
    assert head['Metadata'] == {'sha256': sha256}
    assert body(s3_server, bucket, 'docs01/%s.sha256' % NAME) == ('%s  %s\n' % (sha256, NAME)).encode()
    assert pending_uploads(s3_server, bucket) == []

    second = upload(s3_server, python, src, url + '/', part_size=5)
    assert not second['failed'], second
    assert not second['changed'] and second['parts'] == 0


def test_small_archive_in_one_put_and_its_sha256_from_the_checksum_file(s3_server, bucket, python, tmp_path):
    src, sha256 = archive(tmp_path, 300 * 1024)
    result = upload(s3_server, python, src, 's3://%s' % bucket)
    assert not result['failed'], result
    assert result['parts'] == 1 and result['sha256'] == sha256
    assert keys(s3_server, bucket) == [NAME, NAME + '.sha256']


def test_a_damaged_object_under_the_name_is_replaced(s3_server, bucket, python, tmp_path):
    src, sha256 = archive(tmp_path, 1000)
    s3_server.boto3().put_object(Bucket=bucket, Key=NAME, Body=b'half an archive', Metadata={'sha256': sha256})
    result = upload(s3_server, python, src, 's3://%s/' % bucket)
    assert not result['failed'], result
    assert result['changed'] and hashlib.sha256(body(s3_server, bucket, NAME)).hexdigest() == sha256


@pytest.mark.parametrize('size', [1000, 11 * MIB], ids=['single-put', 'multipart'])
def test_an_archive_that_changed_on_the_host_is_not_uploaded(s3_server, bucket, python, tmp_path, size):
    src, sha256 = archive(tmp_path, size)
    with src.open('r+b') as handle:
        handle.seek(size - 1)
        handle.write(b'\x00' if handle.read(1) != b'\x00' else b'\x01')
    result = upload(s3_server, python, src, 's3://%s/p' % bucket, part_size=5)
    assert result['failed']
    assert 'not %s as the backup recorded' % sha256 in result['msg'], result['msg']
    assert keys(s3_server, bucket) == []
    assert pending_uploads(s3_server, bucket) == [], 'the multipart upload was not aborted'


def test_wrong_credentials_fail_clearly_and_the_secret_stays_out(s3_server, bucket, python, tmp_path):
    src, dummy = archive(tmp_path, 1000)
    secret = 'Wrong/Secret+Key0123456789abcdefghijklmno'
    args = dict(s3_server.module_args(), secret_key=secret, src=str(src), url='s3://%s/p' % bucket)
    result = run_module('papermerge.backup.papermerge_s3_upload', args, python=python)
    assert result['failed']
    assert 'SignatureDoesNotMatch' in result['msg'] and 'check secret_key' in result['msg'], result['msg']
    assert secret not in repr(result)
    unknown = dict(args, access_key='AKIAUNKNOWN000000000', secret_key=s3_server.secret_key)
    result = run_module('papermerge.backup.papermerge_s3_upload', unknown, python=python)
    assert result['failed'] and 'InvalidAccessKeyId' in result['msg'], result['msg']
    assert keys(s3_server, bucket) == []


def test_a_missing_bucket_fails_clearly_in_check_mode_too(s3_server, python, tmp_path):
    src, dummy = archive(tmp_path, 1000)
    for check in (True, False):
        result = upload(s3_server, python, src, 's3://no-such-bucket-here/p', check=check)
        assert result['failed'] and 'the bucket does not exist' in result['msg'], result['msg']


def test_download_verified_kept_like_an_upload(s3_server, bucket, python, tmp_path):
    src, sha256 = archive(tmp_path, 7 * MIB)
    assert not upload(s3_server, python, src, 's3://%s/docs01' % bucket, part_size=5)['failed']
    url = 's3://%s/docs01/%s' % (bucket, NAME)
    dest = tmp_path / 'restore'
    dest.mkdir(mode=0o700)

    preview = download(s3_server, python, url, dest, check=True)
    assert not preview['failed'], preview
    assert preview['changed'] and list(dest.iterdir()) == []

    first = download(s3_server, python, url, str(dest) + '/')
    assert not first['failed'], first
    fetched = dest / NAME
    assert first['changed'] and first['path'] == str(fetched)
    assert sorted(first['sha256_sources']) == ['checksum file', 'metadata']
    assert hashlib.sha256(fetched.read_bytes()).hexdigest() == sha256
    assert oct(fetched.stat().st_mode & 0o777) == '0o600'
    assert (dest / (NAME + '.sha256')).read_text() == '%s  %s\n' % (sha256, NAME)

    second = download(s3_server, python, url, dest, sha256=sha256.upper())
    assert not second['failed'] and not second['changed'], second


@pytest.mark.parametrize('metadata', ['kept', 'lost', 'new'])
def test_an_object_changed_after_its_upload_is_refused_and_nothing_is_kept(s3_server, bucket, python, tmp_path,
                                                                           metadata):
    src, sha256 = archive(tmp_path, 2000)
    assert not upload(s3_server, python, src, 's3://%s' % bucket)['failed']
    changed = bytearray(src.read_bytes())
    changed[1000] ^= 0xff
    # Overwritten with the old metadata (a tool that copies it), without any, or with the new bytes' sha256
    # (then it disagrees with the .sha256 object before anything is downloaded).
    new = {'kept': {'sha256': sha256}, 'lost': {}, 'new': {'sha256': hashlib.sha256(changed).hexdigest()}}
    s3_server.boto3().put_object(Bucket=bucket, Key=NAME, Body=bytes(changed), Metadata=new[metadata])
    dest = tmp_path / 'restore'
    dest.mkdir()
    result = download(s3_server, python, 's3://%s/%s' % (bucket, NAME), dest)
    assert result['failed']
    assert ('disagree' if metadata == 'new' else 'were expected') in result['msg'], result['msg']
    assert list(dest.iterdir()) == [], 'a refused download left files behind'


def test_an_object_without_any_sha256_needs_one_given(s3_server, bucket, python, tmp_path):
    s3_server.boto3().put_object(Bucket=bucket, Key=NAME, Body=b'not ours')
    result = download(s3_server, python, 's3://%s/%s' % (bucket, NAME), tmp_path)
    assert result['failed'] and 'papermerge_restore_archive_sha256' in result['msg'], result['msg']
    good = download(s3_server, python, 's3://%s/%s' % (bucket, NAME), tmp_path,
                    sha256=hashlib.sha256(b'not ours').hexdigest())
    assert not good['failed'] and (tmp_path / NAME).read_bytes() == b'not ours'


def test_download_of_a_missing_key_or_bucket(s3_server, bucket, python, tmp_path):
    result = download(s3_server, python, 's3://%s/nothing/%s' % (bucket, NAME), tmp_path)
    assert result['failed'] and 'NoSuchKey' in result['msg'], result['msg']
    result = download(s3_server, python, 's3://no-such-bucket-here/%s' % NAME, tmp_path)
    assert result['failed'] and 'NoSuchBucket' in result['msg'], result['msg']


def test_retention_in_the_bucket(s3_server, bucket, python):
    client = s3_server.boto3()
    mine = ['p/papermerge-docs01-202611%02dT020000Z-2.1.5.tar.gz' % day for day in range(1, 6)]
    theirs = ['p/papermerge-docs02-20261101T020000Z-2.1.5.tar.gz']
    foreign = ['p/notes.txt', 'p/deeper/papermerge-docs01-20261101T020000Z-2.1.5.tar.gz',
               'p/papermerge-docs01-20261101T020000Z-2.1.5.tar.gz.part']
    for key in mine + [key + '.sha256' for key in mine] + theirs + foreign:
        client.put_object(Bucket=bucket, Key=key, Body=b'x')
    args = dict(s3_server.module_args(), url='s3://%s/p' % bucket, label='docs01', keep_last='2')

    preview = run_module('papermerge.backup.papermerge_s3_prune', args, python=python, check=True)
    assert not preview['failed'], preview
    assert preview['changed'] and len(preview['removed']) == 3
    assert len(keys(s3_server, bucket)) == 14

    result = run_module('papermerge.backup.papermerge_s3_prune', args, python=python)
    assert not result['failed'], result
    assert [r['url'] for r in result['removed']] == ['s3://%s/%s' % (bucket, key) for key in mine[2::-1]]
    assert [k['reasons'] for k in result['kept']] == [['last 1'], ['last 2']]
    assert keys(s3_server, bucket) == sorted(mine[3:] + [key + '.sha256' for key in mine[3:]] + theirs + foreign)

    again = run_module('papermerge.backup.papermerge_s3_prune', args, python=python)
    assert not again['failed'] and not again['changed'], again


def test_an_endpoint_with_a_private_ca_is_trusted_through_ca_bundle(python, tmp_path):
    server = S3Server(tls=True).start()
    try:
        bucket_name = server.new_bucket()
        src, sha256 = archive(tmp_path, 1000)
        args = dict(server.module_args(), src=str(src), url='s3://%s/p' % bucket_name)
        refused = run_module('papermerge.backup.papermerge_s3_upload', args, python=python)
        assert refused['failed'] and 'CERTIFICATE_VERIFY_FAILED' in refused['msg'], refused['msg']
        trusted = run_module('papermerge.backup.papermerge_s3_upload', dict(args, ca_bundle=str(server.ca_file)),
                             python=python)
        assert not trusted['failed'], trusted
        assert trusted['sha256'] == sha256 and trusted['url'].startswith('s3://%s/p/' % bucket_name)
    finally:
        server.stop()
