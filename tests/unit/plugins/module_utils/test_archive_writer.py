# -*- coding: utf-8 -*-
"""The archive writer: a multi-member gzip tar stream that gzip, tarfile and GNU tar read as one."""

import gzip
import hashlib
import io
import json
import os
import subprocess
import tarfile

import pytest

from ansible_collections.papermerge.backup.plugins.module_utils import archive_writer
from ansible_collections.papermerge.backup.plugins.module_utils import manifest

from tar_headers import fix_checksum


def write_archive(path, files, compression='adaptive', level=6, threads=2):
    with open(path, 'wb') as stream:
        gz = archive_writer.ParallelGzipWriter(stream, level=level, threads=threads,
                                               comment=archive_writer.FINGERPRINT_PREFIX + 'abc123')
        tar = archive_writer.TarStreamWriter(gz, compression)
        digests = {}
        tar.add_stream('backup.json', io.BytesIO(b'{"users": []}'), 13, 0)
        for name, source in files:
            tar.add_file(name, str(source), source.stat().st_size, 1600000000, 0o644,
                         lambda digest, name=name: digests.__setitem__(name, digest))
        tar.add_directory('admin/.home', 0)
        tar.add_symlink('admin/.home/doc', '../../docs/a.pdf', 0)
        tar.finish()
        gz.close()
    return digests


@pytest.fixture
def sources(tmp_path):
    text = tmp_path / 'page.txt'
    text.write_text('OCR text of a page. ' * 20000, encoding='utf-8')
    pdf = tmp_path / 'a.pdf'
    pdf.write_bytes(os.urandom(3 * 1024 * 1024 + 17))  # several segments, incompressible
    small = tmp_path / 'small.jpg'
    small.write_bytes(os.urandom(100))
    return [('docs/a.pdf', pdf), ('sidecars/page.txt', text), ('sidecars/small.jpg', small)]


@pytest.mark.parametrize('compression', ['adaptive', 'gzip', 'none'])
def test_python_tarfile_reads_every_member(tmp_path, sources, compression):
    archive = tmp_path / 'a.tar.gz'
    digests = write_archive(archive, sources, compression)
    with tarfile.open(str(archive), 'r:gz') as tar:
        members = tar.getmembers()
        assert [m.name for m in members] == ['backup.json', 'docs/a.pdf', 'sidecars/page.txt',
                                             'sidecars/small.jpg', 'admin/.home', 'admin/.home/doc']
        for name, source in sources:
            data = tar.extractfile(name).read()
            assert data == source.read_bytes()
            assert hashlib.sha256(data).hexdigest() == digests[name]
        assert tar.getmember('admin/.home').isdir()
        assert tar.getmember('admin/.home/doc').linkname == '../../docs/a.pdf'


def test_gnu_tar_and_gzip_read_the_multi_member_stream(tmp_path, sources):
    archive = tmp_path / 'a.tar.gz'
    write_archive(archive, sources)
    subprocess.run(['gzip', '-t', str(archive)], check=True)
    listing = subprocess.run(['tar', 'tzf', str(archive)], check=True, stdout=subprocess.PIPE,
                             universal_newlines=True).stdout.split()
    assert listing[0] == 'backup.json'
    assert 'docs/a.pdf' in listing


def test_stream_has_several_gzip_members(tmp_path, sources):
    archive = tmp_path / 'a.tar.gz'
    write_archive(archive, sources)
    assert archive.read_bytes().count(b'\x1f\x8b\x08') >= 3


def test_text_is_compressed_and_random_data_is_not_inflated(tmp_path, sources):
    archive = tmp_path / 'a.tar.gz'
    write_archive(archive, sources)
    raw = sum(source.stat().st_size for _name, source in sources)
    size = archive.stat().st_size
    text_size = sources[1][1].stat().st_size
    assert size < raw - text_size * 0.9           # the text shrank to (almost) nothing
    assert size < raw * 1.01                      # the random data did not grow


def test_compression_none_stores(tmp_path, sources):
    archive = tmp_path / 'a.tar.gz'
    write_archive(archive, sources, compression='none')
    raw = sum(source.stat().st_size for _name, source in sources)
    assert archive.stat().st_size > raw
    with gzip.open(str(archive)) as stream:
        assert len(stream.read()) % tarfile.RECORDSIZE == 0


def test_fingerprint_is_read_from_the_first_member(tmp_path, sources):
    archive = tmp_path / 'a.tar.gz'
    write_archive(archive, sources)
    assert archive_writer.read_fingerprint(str(archive)) == 'abc123'


def test_fingerprint_of_foreign_files_is_none(tmp_path):
    plain = tmp_path / 'plain.tar.gz'
    with gzip.open(str(plain), 'wb') as stream:
        stream.write(b'x')
    assert archive_writer.read_fingerprint(str(plain)) is None
    assert archive_writer.read_fingerprint(str(tmp_path / 'missing')) is None


@pytest.mark.parametrize('name, size', [('docs/f.txt', 100), ('docs/f.pdf', 100000),
                                        ('docs/big.pdf', archive_writer.JOB_FILE_SIZE)])
def test_file_that_changed_size_while_read_is_detected(tmp_path, name, size):
    # Small text is batched into a pool job, a compressed type gets a job of its own, and a file over
    # JOB_FILE_SIZE is streamed in the calling thread: all three ways must notice.
    source = tmp_path / 'f'
    source.write_bytes(os.urandom(size))
    gz = archive_writer.ParallelGzipWriter(io.BytesIO(), threads=1)
    tar = archive_writer.TarStreamWriter(gz)
    with pytest.raises(archive_writer.FileChangedError):
        tar.add_file(name, str(source), size + 10, 0, 0o644, lambda digest: None)
        tar.finish()
        gz.close()
    gz.abort()


def test_unreadable_file_is_reported_with_its_path(tmp_path):
    gz = archive_writer.ParallelGzipWriter(io.BytesIO(), threads=1)
    tar = archive_writer.TarStreamWriter(gz)
    with pytest.raises(archive_writer.SourceReadError, match='missing.pdf'):
        tar.add_file('docs/missing.pdf', str(tmp_path / 'missing.pdf'), 100000, 0, 0o644, lambda digest: None)
        gz.close()
    gz.abort()


def test_manifest_writer_streams_valid_json():
    stream = io.BytesIO()
    writer = manifest.ManifestWriter(stream, papermerge_version='2.1.5', created='2026-11-26T02:00:00Z',
                                     engine='sqlite', migrations={'core': ['0001_initial']}, counts={'users': 1},
                                     fingerprint='fp')
    writer.add_member('backup.json', 3, 'aa')
    writer.add_member('docs/ü.pdf', 4, 'bb')
    writer.add_symlink('u/x', '../docs/x')
    writer.finish()
    parsed = json.loads(stream.getvalue().decode('utf-8'))
    assert parsed == dict(format='papermerge.backup', format_version=1, collection_version=manifest.COLLECTION_VERSION,
                          papermerge_version='2.1.5', created='2026-11-26T02:00:00Z', engine='sqlite',
                          migrations={'core': ['0001_initial']}, counts={'users': 1}, fingerprint='fp',
                          members={'backup.json': {'size': 3, 'sha256': 'aa'}, 'docs/ü.pdf': {'size': 4, 'sha256': 'bb'}},
                          symlinks={'u/x': '../docs/x'})


def test_manifest_writer_without_symlinks_still_has_the_key():
    stream = io.BytesIO()
    writer = manifest.ManifestWriter(stream, '2.1.5', 'x', 'sqlite', {}, {})
    writer.add_member('backup.json', 3, 'aa')
    writer.finish()
    assert json.loads(stream.getvalue().decode('utf-8'))['symlinks'] == {}


def test_collection_version_matches_galaxy_yml():
    galaxy = os.path.join(os.path.dirname(__file__), '..', '..', '..', '..', 'galaxy.yml')
    with open(galaxy) as handle:
        versions = [line.split(':', 1)[1].strip() for line in handle if line.startswith('version:')]
    assert versions == [manifest.COLLECTION_VERSION]


@pytest.mark.parametrize('name', [
    'backup.json',
    'docs/user_a715974a-32ac-536e-9245-4911354dd15b/document_7c6b9d41-74fd-56a1-9141-de0ebf281682/v2/invoice.pdf',
    'sidecars/user_a715974a-32ac-536e-9245-4911354dd15b/document_7c6b9d41-74fd-56a1-9141-de0ebf281682/v2/'
    'pages/000001/000001_ocr_hocr.hocr',
    'jürgen/.home/Café Crème',
    'x' * 150,
    'a/' * 90 + 'b' * 120,
])
def test_member_names_short_long_and_non_ascii_read_back_exactly(tmp_path, name):
    archive = tmp_path / 'names.tar.gz'
    with open(str(archive), 'wb') as stream:
        gz = archive_writer.ParallelGzipWriter(stream, threads=1)
        tar = archive_writer.TarStreamWriter(gz)
        tar.add_stream(name, io.BytesIO(b'content'), 7, 1600000000, 0o640)
        tar.add_directory(name + '-dir', 1600000000)
        tar.add_symlink(name + '-link', '../../docs/x.pdf', 1600000000)
        tar.finish()
        gz.close()
    with tarfile.open(str(archive), 'r:gz') as tar:
        members = tar.getmembers()
        assert [m.name for m in members] == [name, name + '-dir', name + '-link']
        assert tar.extractfile(members[0]).read() == b'content'
        assert members[0].mode == 0o640 and members[0].mtime == 1600000000
        assert members[1].isdir() and members[2].issym() and members[2].linkname == '../../docs/x.pdf'
    listing = subprocess.run(['tar', 'tzf', str(archive)], check=True, stdout=subprocess.PIPE).stdout
    assert listing.decode('utf-8').splitlines()[0] == name


def _without_device_numbers(header):
    """A ustar header with empty devmajor/devminor fields, its checksum recomputed.

    Python 3.8's tarfile writes "0000000" there for every member; 3.9 and later leave them empty for members
    that are not devices, as ustar_header does. Both are valid ustar.
    """
    header = bytearray(header)
    header[329:345] = b'\0' * 16
    fix_checksum(header)
    return bytes(header)


def test_ustar_header_matches_tarfile_for_a_plain_name():
    info = tarfile.TarInfo('docs/a.pdf')
    info.size, info.mtime, info.mode, info.uname, info.gname = 1234, 1600000000, 0o644, '', ''
    expected = _without_device_numbers(info.tobuf(tarfile.USTAR_FORMAT, 'utf-8', 'strict'))
    assert archive_writer.ustar_header('docs/a.pdf', tarfile.REGTYPE, 1600000000, 0o644, 1234) == expected


def test_huffman_is_used_only_where_it_gains():
    import base64
    assert not archive_writer.huffman_gains(os.urandom(64 * 1024))   # JPEG-like: store
    assert archive_writer.huffman_gains(base64.b64encode(os.urandom(48 * 1024)))  # skewed bytes: code them


def test_drain_reports_every_digest_before_returning(tmp_path, sources):
    seen = []
    gz = archive_writer.ParallelGzipWriter(io.BytesIO(), threads=2)
    tar = archive_writer.TarStreamWriter(gz)
    for name, source in sources:
        tar.add_file(name, str(source), source.stat().st_size, 0, 0o644, lambda digest, name=name: seen.append(name))
    tar.drain()
    assert sorted(seen) == sorted(name for name, _source in sources)
    tar.finish()
    gz.close()


@pytest.mark.parametrize('size', [0, 1, 65535, 65536, 3 * 65535 + 7])
def test_stored_member_is_a_gzip_member_of_its_parts(size):
    parts = [b'h' * 512, os.urandom(size), b'\x00' * 300]
    member = archive_writer.gzip_member(list(parts), 0, 0)
    assert gzip.decompress(member) == b''.join(parts)
    assert gzip.decompress(member + archive_writer.gzip_member(b'next', 6, 0)) == b''.join(parts) + b'next'
    assert len(member) < size + 1000  # stored: no expansion beyond the block headers


@pytest.mark.parametrize('length', [1, 84, 85, 86, 93, 94, 95, 96, 991, 992, 993, 1000])
def test_pax_record_counts_its_own_length(length):
    record = archive_writer.pax_record('linkpath', 'x' * length)
    assert int(record.split(b' ')[0]) == len(record) and record.endswith(b'=' + b'x' * length + b'\n')


@pytest.mark.parametrize('target', [
    '../../../docs/user_a715974a-32ac-536e-9245-4911354dd15b/document_7c6b9d41-74fd-56a1-9141-de0ebf281682/v1/a.pdf',
    '../../docs/jürgen/' + 'ü' * 60 + '.pdf',
])
def test_long_symlink_targets_read_back_exactly(tmp_path, target):
    archive = tmp_path / 'links.tar.gz'
    with open(str(archive), 'wb') as stream:
        gz = archive_writer.ParallelGzipWriter(stream, threads=1)
        tar = archive_writer.TarStreamWriter(gz)
        tar.add_symlink('bench/.home/Batch 00001/a.pdf', target, 1600000000)
        tar.add_symlink('jürgen/.home/ä.pdf', target, 1600000000)
        tar.finish()
        gz.close()
    with tarfile.open(str(archive), 'r:gz') as tar:
        assert [(m.name, m.linkname, m.issym()) for m in tar.getmembers()] == [
            ('bench/.home/Batch 00001/a.pdf', target, True), ('jürgen/.home/ä.pdf', target, True)]
    listing = subprocess.run(['tar', 'tvzf', str(archive)], check=True, stdout=subprocess.PIPE).stdout
    assert listing.decode('utf-8').count(' -> ' + target) == 2
