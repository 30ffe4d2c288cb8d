"""archive_reader (and the member rules, staging, gunzip, manifest and backup_json it uses) on synthetic archives:
hostile names and types, damage, manifests, and open_archive's checks."""

import gzip
import hashlib
import io
import json
import os
import shutil
import tarfile
import zlib

import pytest

from ansible_collections.papermerge.backup.plugins.module_utils import archive_format, archive_reader, backup_json
from ansible_collections.papermerge.backup.plugins.module_utils import json_stream, staging
from ansible_collections.papermerge.backup.plugins.module_utils import manifest as manifest_format
from ansible_collections.papermerge.backup.plugins.module_utils.gunzip import gunzip_chunks
from ansible_collections.papermerge.backup.plugins.module_utils.member_rules import (
    check_user_folders, normalize_member_name)
from ansible_collections.papermerge.backup.plugins.module_utils.errors import PapermergeBackupError

USER_ID = '1a606e93-b39c-439a-b8dd-8e981cb4d54b'
DOC_ID = '2b606e93-b39c-439a-b8dd-8e981cb4d54b'
PDF = 'docs/user_%s/document_%s/v1/a.pdf' % (USER_ID, DOC_ID)
SVG = 'sidecars/user_%s/document_%s/v1/pages//000001/000001_ocr.svg' % (USER_ID, DOC_ID)
SIDECARS = 'sidecars/user_%s/document_%s/v1' % (USER_ID, DOC_ID)  # the version's sidecar folder: any file may be there


def backup_dict():
    return {
        'created': '26.11.2026-02:00:00', 'version': '2.1.5',
        'users': [{
            'id': USER_ID, 'username': 'alice', 'password': 'pbkdf2_sha256$x', 'tags': [],
            'nodes': [
                {'breadcrumb': '.home/', 'ctype': 'folder', 'title': '.home', 'tags': []},
                {'breadcrumb': '.inbox/', 'ctype': 'folder', 'title': '.inbox', 'tags': []},
                {'breadcrumb': '.home/a.pdf', 'ctype': 'document', 'title': 'a.pdf', 'id': DOC_ID, 'tags': [],
                 'versions': [{'number': 1, 'file_name': 'a.pdf', 'file_path': PDF,
                               'pages': [{'number': 1, 'text': 'x', 'file_path': SVG}]}]},
            ]}],
    }


def _file(name, data):
    info = tarfile.TarInfo(name)
    info.size = len(data)
    return info, io.BytesIO(data)


def _special(name, kind, linkname=''):
    info = tarfile.TarInfo(name)
    info.type = kind
    info.linkname = linkname
    return info, None


def build(path, members, gz=True):
    """Write members [(TarInfo, fileobj or None)] as a .tar.gz at path."""
    with tarfile.open(str(path), 'w:gz' if gz else 'w') as tar:
        for info, data in members:
            tar.addfile(info, data)
    return path


def standard_members(backup=None):
    raw = json.dumps(backup or backup_dict()).encode()
    return [_file('backup.json', raw), _file(PDF, b'%PDF-1.4 a'), _file(SVG, b'<svg/>'),
            _special('alice/.home/', tarfile.DIRTYPE),
            _special('alice/.home/a.pdf', tarfile.SYMTYPE, '../../' + PDF)]


def with_manifest(members, label=None):
    """members plus the manifest papermerge_backup's writer makes for them."""
    stream = io.BytesIO()
    writer = manifest_format.ManifestWriter(stream, '2.1.5', '2026-11-26T02:00:00Z', 'sqlite', {}, {}, label=label)
    for info, data in members:
        if info.isreg():
            content = data.getvalue()
            writer.add_member(normalize_member_name(info.name), len(content),
                              hashlib.sha256(content).hexdigest())
    writer.finish()
    return members + [_file(manifest_format.MANIFEST_NAME, stream.getvalue())]


def open_(path, tmp_path, verify=True):
    """open_archive as a restore (verify, staging) or archive_info without verify (spooling only) calls it."""
    spool_dir = tmp_path / 'spool'
    shutil.rmtree(str(spool_dir), ignore_errors=True)
    spool_dir.mkdir()
    return archive_reader.open_archive(str(path), stage_dir=str(spool_dir) if verify else None,
                                       spool_dir=str(spool_dir), verify=verify)


def read(path, tmp_path, stage=True):
    stage_dir = tmp_path / 'stage'
    stage_dir.mkdir(exist_ok=True)
    return archive_reader.read_archive(str(path), stage_dir=str(stage_dir) if stage else None,
                                       spool_dir=str(stage_dir))


@pytest.mark.parametrize('raw, expected', [
    ('docs/a/b.pdf', 'docs/a/b.pdf'),
    ('./docs/a', 'docs/a'),
    ('sidecars/x/pages//000001/000001_ocr.svg', 'sidecars/x/pages/000001/000001_ocr.svg'),
    ('alice/.home/', 'alice/.home'),
])
def test_normalize_member_name_accepts_and_normalises(raw, expected):
    assert normalize_member_name(raw) == expected


@pytest.mark.parametrize('raw', ['/etc/passwd', '../x', 'docs/../../x', 'docs/a/..', 'C:/x', '', './', 'a\x00b'])
def test_normalize_member_name_refuses_unsafe_names(raw):
    with pytest.raises(PapermergeBackupError, match='unsafe'):
        normalize_member_name(raw)


def test_reads_papermerge_style_archive_and_stages_files(tmp_path):
    path = build(tmp_path / 'a.tar.gz', standard_members()[1:] + standard_members()[:1])
    contents = read(path, tmp_path)
    assert sorted(contents.files) == sorted([PDF, normalize_member_name(SVG)])
    # backup.json came last: nothing is staged before every file is known to be one it names
    assert contents.staging_deferred and contents.files[PDF].staged is None
    assert sorted(os.listdir(str(tmp_path / 'stage'))) == ['.backup.json']
    archive_reader.stage_second_pass(str(path), contents, str(tmp_path / 'stage'))
    staged = contents.files[PDF].staged
    with open(staged, 'rb') as handle:
        assert handle.read() == b'%PDF-1.4 a'
    assert contents.files[PDF].sha256 == hashlib.sha256(b'%PDF-1.4 a').hexdigest()
    assert contents.backup_json_first is False
    assert contents.manifest is None
    assert manifest_format.verify_manifest(contents) is False
    with open(path, 'rb') as handle:
        assert contents.sha256 == hashlib.sha256(handle.read()).hexdigest()


def test_manifest_is_verified(tmp_path):
    path = build(tmp_path / 'a.tar.gz', with_manifest(standard_members()))
    contents = read(path, tmp_path)
    assert contents.backup_json_first is True
    assert manifest_format.verify_manifest(contents) is True


def test_checksum_mismatch_names_the_member(tmp_path):
    members = with_manifest(standard_members())
    members[1] = _file(PDF, b'%PDF-1.4 B')  # same size, other bytes
    contents = read(build(tmp_path / 'a.tar.gz', members), tmp_path)
    with pytest.raises(PapermergeBackupError, match='does not match the manifest') as error:
        manifest_format.verify_manifest(contents)
    assert error.value.details['member'] == PDF


def test_member_missing_from_manifest_listing_is_refused(tmp_path):
    members = with_manifest(standard_members())
    del members[2]  # the svg
    contents = read(build(tmp_path / 'a.tar.gz', members), tmp_path)
    with pytest.raises(PapermergeBackupError, match='missing from the archive'):
        manifest_format.verify_manifest(contents)


@pytest.mark.parametrize('member, message', [
    (_file('/etc/cron.d/evil', b'x'), 'absolute'),
    (_file('docs/../../evil', b'x'), "'..'"),
    (_special('docs/link', tarfile.LNKTYPE, '/etc/passwd'), 'hard link'),
    (_special('docs/dev', tarfile.CHRTYPE), 'device'),
    (_special('docs/fifo', tarfile.FIFOTYPE), 'FIFO'),
    (_special('docs/escape', tarfile.SYMTYPE, '/etc'), 'symlinks are allowed only'),
    (_special('alice/escape', tarfile.SYMTYPE, '../../../etc'), 'outside the archive'),
    (_special('alice/abs', tarfile.SYMTYPE, '/etc/passwd'), 'absolute'),
    (_file('alice/notes.txt', b'x'), 'belong under docs/'),
    (_file(PDF, b'again'), 'same name'),
])
def test_hostile_members_are_refused(tmp_path, member, message):
    path = build(tmp_path / 'a.tar.gz', standard_members() + [member])
    with pytest.raises(PapermergeBackupError, match=message):
        read(path, tmp_path)


def test_file_through_an_escaping_symlink_is_refused_before_anything_leaves_the_stage(tmp_path):
    outside = tmp_path / 'outside'
    outside.mkdir()
    members = standard_members() + [_special('docs/user_x', tarfile.SYMTYPE, str(outside)),
                                    _file('docs/user_x/evil', b'x')]
    with pytest.raises(PapermergeBackupError):
        read(build(tmp_path / 'a.tar.gz', members), tmp_path)
    assert list(outside.iterdir()) == []


def test_symlink_outside_user_folders_is_refused_after_backup_json(tmp_path):
    members = standard_members() + [_special('mallory/x.pdf', tarfile.SYMTYPE, '../' + PDF)]
    contents = read(build(tmp_path / 'a.tar.gz', members), tmp_path)
    with pytest.raises(PapermergeBackupError, match='no user'):
        check_user_folders(contents, ['alice'])


def test_truncated_archive_is_refused(tmp_path):
    path = build(tmp_path / 'a.tar.gz', standard_members())
    data = path.read_bytes()
    path.write_bytes(data[:len(data) - 30])
    with pytest.raises(PapermergeBackupError, match='truncated or corrupt'):
        read(path, tmp_path)


def test_flipped_byte_fails_the_gzip_check(tmp_path):
    path = build(tmp_path / 'a.tar.gz', standard_members())
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xff
    path.write_bytes(bytes(data))
    with pytest.raises(PapermergeBackupError, match='truncated or corrupt'):
        read(path, tmp_path)


def test_multi_member_gzip_reads_as_one_stream(tmp_path):
    plain = tmp_path / 'a.tar'
    build(plain, standard_members(), gz=False)
    data = plain.read_bytes()
    path = tmp_path / 'a.tar.gz'
    path.write_bytes(gzip.compress(data[:1536]) + gzip.compress(data[1536:]))
    contents = read(path, tmp_path)
    assert PDF in contents.files


def test_not_gzip_is_refused(tmp_path):
    path = tmp_path / 'a.tar.gz'
    path.write_bytes(b'this is not an archive at all' * 20)
    with pytest.raises(PapermergeBackupError, match='truncated or corrupt'):
        read(path, tmp_path)


def test_backup_json_shape_errors_name_the_place(tmp_path):
    data = backup_dict()
    data['users'][0]['nodes'][2]['versions'][0]['number'] = 'one'
    spool = tmp_path / 'b.json'
    spool.write_text(json.dumps(data))
    with pytest.raises(PapermergeBackupError, match=r'users\[0\]\.nodes\[2\]\.versions\[0\]'):
        backup_json.load(str(spool))


@pytest.mark.parametrize('file_name', ['../../../../../etc/passwd', '/etc/passwd', 'v1/a.pdf', '..', 'a\x00.pdf', 7])
def test_version_file_name_must_be_a_plain_name(tmp_path, file_name):
    # Papermerge joins file_name to the version's folder: a path in it would point the row outside the media root.
    data = backup_dict()
    data['users'][0]['nodes'][2]['versions'][0]['file_name'] = file_name
    spool = tmp_path / 'b.json'
    spool.write_text(json.dumps(data))
    with pytest.raises(PapermergeBackupError, match=r"users\[0\]\.nodes\[2\]\.versions\[0\].*'file_name'"):
        backup_json.load(str(spool))


def test_version_without_file_name_is_accepted(tmp_path):
    data = backup_dict()
    data['users'][0]['nodes'][2]['versions'][0]['file_name'] = None
    spool = tmp_path / 'b.json'
    spool.write_text(json.dumps(data))
    assert backup_json.load(str(spool)).counts()['versions'] == 1


@pytest.mark.parametrize('text, message', [
    ('{"users": [', 'not valid JSON'),
    ('[]', 'top level'),
    ('{"created": "x"}', "'users' list"),
])
def test_broken_backup_json_is_refused(tmp_path, text, message):
    spool = tmp_path / 'b.json'
    spool.write_text(text)
    with pytest.raises(PapermergeBackupError, match=message):
        backup_json.load(str(spool))


def test_backup_json_counts_and_paths(tmp_path):
    spool = tmp_path / 'b.json'
    spool.write_text(json.dumps(backup_dict()))
    loaded = backup_json.load(str(spool))
    assert loaded.counts() == dict(users=1, folders=2, documents=1, versions=1, pages=1, tags=0)
    assert backup_json.parent_path(backup_json.node_path({'breadcrumb': '.home/A/'})) == '.home'
    assert backup_json.parent_path('.home') is None


def test_missing_version_files_are_listed(tmp_path):
    members = [m for m in standard_members() if m[0].name != PDF]
    contents = read(build(tmp_path / 'a.tar.gz', members), tmp_path)
    assert contents.backup.media.missing(contents.files) == [PDF]


def test_check_mode_style_read_stages_nothing(tmp_path):
    path = build(tmp_path / 'a.tar.gz', standard_members())
    contents = read(path, tmp_path, stage=False)
    assert contents.files[PDF].staged is None
    assert sorted(os.listdir(str(tmp_path / 'stage'))) == ['.backup.json']


@pytest.mark.parametrize('chunk', [1, 3, 7, 64, 1 << 16])
def test_streamed_backup_json_equals_json_loads_whatever_the_chunk_size(tmp_path, monkeypatch, chunk):
    monkeypatch.setattr(json_stream, 'SCAN_CHUNK', chunk)
    data = backup_dict()
    data['groups'] = [{'name': 'g', 'permissions': ['core.view_document']}]
    data['count'] = 1234567890
    second = dict(data['users'][0], username='bob', id='3c606e93-b39c-439a-b8dd-8e981cb4d54b', nodes=[])
    data['users'].append(second)
    spool = tmp_path / 'b.json'
    spool.write_text(json.dumps(data, indent=chunk % 3 or None, ensure_ascii=False))
    loaded = backup_json.load(str(spool))
    # keys the restore does not use ('count') are read within their bounds and dropped
    assert loaded.version == '2.1.5' and loaded.extra == {'groups': data['groups']}
    assert [u['username'] for u in loaded.users] == ['alice', 'bob']
    assert 'nodes' not in loaded.users[0]
    assert list(loaded.iter_nodes()) == [(0, node) for node in data['users'][0]['nodes']]


@pytest.mark.parametrize('text', ['{"users": [{"username": "a", "nodes": []} {}]}', '{"users": []} x',
                                  '{"users": [], "version": 1.5}', '{"users": [{"nodes": [1, 2'])
def test_malformed_streams_are_refused(tmp_path, text):
    spool = tmp_path / 'b.json'
    spool.write_text(text)
    with pytest.raises(PapermergeBackupError, match='backup.json'):
        backup_json.load(str(spool))


def test_a_file_cannot_also_be_a_folder(tmp_path):
    members = standard_members() + [_file(SIDECARS + '/x', b'y'), _file(SIDECARS + '/x/inner', b'x')]
    with pytest.raises(PapermergeBackupError, match='below the file member'):
        read(build(tmp_path / 'a.tar.gz', members), tmp_path)


def test_a_folder_cannot_also_be_a_file(tmp_path):
    members = standard_members() + [_file(SIDECARS + '/x/inner', b'x'), _file(SIDECARS + '/x', b'y')]
    with pytest.raises(PapermergeBackupError, match="'%s/x' is unsafe" % SIDECARS):
        read(build(tmp_path / 'a.tar.gz', members), tmp_path)


def test_files_larger_than_a_chunk_are_staged_whole(tmp_path, monkeypatch):
    monkeypatch.setattr(archive_format, 'CHUNK_SIZE', 7)
    data = bytes(range(256)) * 3
    big, small = SIDECARS + '/big/file.bin', SIDECARS + '/big/small'
    members = standard_members() + [_file(big, data), _file(small, b'abc')]
    contents = read(build(tmp_path / 'a.tar.gz', members), tmp_path)
    for name, content in ((big, data), (small, b'abc')):
        with open(contents.files[name].staged, 'rb') as handle:
            assert handle.read() == content
        assert oct(os.stat(contents.files[name].staged).st_mode & 0o777) == oct(staging.STAGED_MODE)


def test_member_not_listed_in_the_manifest_is_refused(tmp_path):
    members = with_manifest(standard_members()[:2]) + [standard_members()[2]]  # the svg comes after the manifest
    contents = read(build(tmp_path / 'a.tar.gz', members), tmp_path)
    with pytest.raises(PapermergeBackupError, match='not listed in the manifest'):
        manifest_format.verify_manifest(contents)


def test_manifest_of_a_newer_format_is_refused(tmp_path):
    members = standard_members()
    raw = json.dumps({'format_version': 99, 'papermerge_version': '2.1.5', 'created': 'x', 'engine': 'sqlite',
                      'counts': {}, 'members': {}}).encode()
    with pytest.raises(PapermergeBackupError, match='format version 99'):
        read(build(tmp_path / 'a.tar.gz', members + [_file(manifest_format.MANIFEST_NAME, raw)]), tmp_path)


def test_open_archive_checks_the_checksum_file_next_to_the_archive(tmp_path):
    path = build(tmp_path / 'a.tar.gz', standard_members())
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    assert open_(path, tmp_path).checksum_file is None
    (tmp_path / 'a.tar.gz.sha256').write_text('%s  a.tar.gz\n' % digest)
    assert open_(path, tmp_path).checksum_file is True
    (tmp_path / 'a.tar.gz.sha256').write_text('%s  a.tar.gz\n' % ('f' * 64))
    with pytest.raises(PapermergeBackupError, match='does not match its checksum file'):
        open_(path, tmp_path)
    (tmp_path / 'a.tar.gz.sha256').write_text('garbage')
    with pytest.raises(PapermergeBackupError, match='sha256sum format'):
        open_(path, tmp_path)


def test_open_archive_reads_and_checks_ours(tmp_path):
    archive = open_(build(tmp_path / 'a.tar.gz', with_manifest(standard_members())), tmp_path)
    assert archive.verified is True and archive.missing == []
    assert archive.papermerge_version == '2.1.5' and archive.created == '2026-11-26T02:00:00Z'
    assert [user['username'] for user in archive.backup.users] == ['alice']
    with open(archive.contents.files[PDF].staged, 'rb') as handle:
        assert handle.read() == b'%PDF-1.4 a'


def test_open_archive_without_verify_hashes_no_file(tmp_path):
    members = with_manifest(standard_members())
    members[1] = _file(PDF, b'%PDF-1.4 B')  # would fail verification
    path = build(tmp_path / 'a.tar.gz', members)
    archive = open_(path, tmp_path, verify=False)
    assert archive.verified is False and archive.contents.files[PDF].sha256 is None
    with pytest.raises(PapermergeBackupError, match='does not match the manifest'):
        open_(path, tmp_path)


def test_open_archive_refuses_an_archive_without_backup_json(tmp_path):
    with pytest.raises(PapermergeBackupError, match='no backup.json member') as raised:
        open_(build(tmp_path / 'a.tar.gz', standard_members()[1:]), tmp_path)
    assert raised.value.details['member'] == 'backup.json'


def test_open_archive_refuses_symlinks_outside_the_user_folders(tmp_path):
    members = standard_members() + [_special('mallory/x.pdf', tarfile.SYMTYPE, '../' + PDF)]
    with pytest.raises(PapermergeBackupError, match='no user'):
        open_(build(tmp_path / 'a.tar.gz', members), tmp_path)


def test_papermerge_archive_missing_a_version_file_is_refused_only_when_verifying(tmp_path):
    # Papermerge's own backup reads every version file: a gap in its archive is damage.  Ours lists files it
    # could not find (missing_files) and names every file in its manifest, so there a gap is reported, not refused.
    members = [m for m in standard_members() if m[0].name != PDF]
    path = build(tmp_path / 'a.tar.gz', members[1:] + members[:1])  # backup.json last, no manifest
    assert open_(path, tmp_path, verify=False).missing == [PDF]
    with pytest.raises(PapermergeBackupError, match='missing from the archive') as raised:
        open_(path, tmp_path)
    assert raised.value.details['member'] == PDF
    members = [m for m in standard_members() if m[0].name != PDF]
    ours = open_(build(tmp_path / 'ours.tar.gz', with_manifest(members)), tmp_path)
    assert ours.verified is True and ours.missing == [PDF]


def test_gunzip_chunks_reads_members_and_padding_and_bounds_each_chunk():
    data = b'\0' * 100000  # shrinks to almost nothing: every chunk handed out must still be small
    raw = gzip.compress(data) + gzip.compress(b'second') + b'\0' * 700
    chunks = list(gunzip_chunks(io.BytesIO(raw), chunk_size=1000))
    assert b''.join(chunks) == data + b'second'
    assert max(len(chunk) for chunk in chunks) <= 1000


@pytest.mark.parametrize('damage, error', [
    (lambda raw: raw[:-3], EOFError),                                # the trailer is cut off
    (lambda raw: raw[:len(raw) // 2], EOFError),                     # so is the data
    (lambda raw: raw[:-8] + b'\0\0\0\0' + raw[-4:], zlib.error),     # CRC of the content is wrong
    (lambda raw: raw + b'garbage after the last member', zlib.error),
    (lambda raw: b'not gzip' + raw, zlib.error),
])
def test_gunzip_chunks_refuses_damage(damage, error):
    raw = gzip.compress(os.urandom(5000))
    with pytest.raises(error):
        list(gunzip_chunks(io.BytesIO(damage(raw))))


def test_gunzip_chunks_of_an_empty_file_is_empty():
    assert list(gunzip_chunks(io.BytesIO(b''))) == []


def test_many_files_are_staged_in_batches_between_streamed_ones(tmp_path, monkeypatch):
    monkeypatch.setattr(archive_format, 'CHUNK_SIZE', 64)
    monkeypatch.setattr(staging, 'BATCH_FILES', 3)
    files = {}
    for number in range(20):  # small files (batched) with a large one (streamed) now and then
        size = 200 if number % 7 == 3 else 10
        files['%s/d%02d/f%02d' % (SIDECARS, number // 4, number)] = bytes([number]) * size
    members = standard_members()
    for name, data in sorted(files.items()):
        info, stream = _file(name, data)
        info.mtime = 1700000000 + len(data)
        members.append((info, stream))
    contents = read(build(tmp_path / 'a.tar.gz', members), tmp_path)
    for name, data in files.items():
        member = contents.files[name]
        with open(member.staged, 'rb') as handle:
            assert handle.read() == data
        assert os.stat(member.staged).st_mtime == 1700000000 + len(data)
        assert member.sha256 == hashlib.sha256(data).hexdigest()


# --- the label: which host an archive comes from ----------------------------------------------------------------------
@pytest.mark.parametrize('name, label, expected', [
    ('papermerge-docs01.example.com-20261126T020000Z-2.1.5.tar.gz', None, 'docs01.example.com'),  # 0.1.0: the name
    ('renamed.tar.gz', 'docs02', 'docs02'),                                                          # the manifest
    ('papermerge-docs01-20261126T020000Z-2.1.5.tar.gz', 'docs02', 'docs02'),                          # the manifest wins
    ('renamed.tar.gz', None, None),                                                                  # none to tell
])
def test_the_label_comes_from_the_manifest_else_the_generated_name(tmp_path, name, label, expected):
    path = build(tmp_path / name, with_manifest(standard_members(), label=label))
    assert open_(path, tmp_path).label == expected


def test_papermerge_own_archives_carry_no_label(tmp_path):
    path = build(tmp_path / 'backup_26_11_2026-02_00_00.tar.gz', standard_members())
    assert open_(path, tmp_path).label is None


def test_reading_tells_progress_the_files_and_archive_bytes_read(tmp_path):
    from ansible_collections.papermerge.backup.plugins.module_utils.progress import Progress

    path = build(tmp_path / 'a.tar.gz', standard_members())
    heard = []

    class Listener(Progress):
        def update(self, files, done_bytes):
            heard.append((files, done_bytes))

    archive_reader.open_archive(str(path), spool_dir=str(tmp_path), progress=Listener(None, 'restore'))
    assert heard[0] == (0, heard[0][1]) and heard[-1][0] == 2
    assert [files for files, _bytes in heard] == sorted(files for files, _bytes in heard)
    assert heard[-1][1] <= path.stat().st_size
