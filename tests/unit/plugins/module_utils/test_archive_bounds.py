"""Bounds on what an archive may hold (issue 10, items 5 and 6), on synthetic archives of both producers' shapes:
backup.json values bounded while they are read (json_stream, backup_json), media members held to what backup.json
names (member_rules.DeclaredMedia), the gzip stream's inflated size (gunzip), the manifest's values, and results
that quote archive text only in a bounded form (errors.shown, errors.listed)."""

import gzip
import io
import json
import os
import sys
import tarfile
import tracemalloc

import pytest

from ansible_collections.papermerge.backup.plugins.module_utils import archive_info, archive_reader, backup_json
from ansible_collections.papermerge.backup.plugins.module_utils import errors, gunzip, json_stream, member_rules
from ansible_collections.papermerge.backup.plugins.module_utils import manifest as manifest_format
from ansible_collections.papermerge.backup.plugins.module_utils.errors import PapermergeBackupError
from ansible_collections.papermerge.backup.plugins.module_utils.schema import MAX_LENGTHS

# The archive builders of test_archive_reader.py, its neighbour: ansible-test imports test files without putting
# their directory on the path, so it is put there.
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from test_archive_reader import (  # noqa: E402 pylint: disable=wrong-import-position
    DOC_ID, PDF, SIDECARS, SVG, USER_ID, _file, _special, backup_dict, build, standard_members, with_manifest)

DOC = ('users', 0, 'nodes', 2)
VERSION = DOC + ('versions', 0)
PAGE = VERSION + ('pages', 0)


def place(data, path):
    for step in path:
        data = data[step]
    return data


def load_dict(tmp_path, data):
    spool = tmp_path / 'backup.json'
    spool.write_text(json.dumps(data))
    return backup_json.load(str(spool))


def refused(tmp_path, data):
    with pytest.raises(PapermergeBackupError) as raised:
        load_dict(tmp_path, data)
    return str(raised.value)


# -- json_stream: every value read within a bound ---------------------------------------------------------------

class CountingReader(io.StringIO):
    """A text file that counts what is read from it."""

    def __init__(self, text):
        super(CountingReader, self).__init__(text)
        self.read_chars = 0

    def read(self, size=-1):
        data = super(CountingReader, self).read(size)
        self.read_chars += len(data)
        return data


def test_a_value_longer_than_its_bound_is_refused_after_a_chunk_beyond_it():
    handle = CountingReader('"%s"' % ('x' * 10 ** 6))
    scanner = json_stream.Scanner(handle, chunk=1000)
    with pytest.raises(json_stream.ValueTooLong, match=r'users\[0\]\.username is longer than 1802'):
        scanner.value(json_stream.json_chars(150), 'users[0].username')
    assert handle.read_chars < 1802 + 3 * 1000


def test_values_keys_and_numbers_within_bounds_read_whole():
    text = '{"k": "%s", "n": 123456789012345678901234567890}' % ('\\u00e9' * 150)
    scanner = json_stream.Scanner(io.StringIO(text), chunk=7)
    found = {}
    for key in scanner.object_keys():
        found[key] = scanner.value(json_stream.json_chars(150))
    assert found == {'k': '\xe9' * 150, 'n': 123456789012345678901234567890}


def test_an_object_key_is_bounded_too():
    scanner = json_stream.Scanner(io.StringIO('{"%s": 1}' % ('k' * (json_stream.MAX_KEY_CHARS + 10))))
    with pytest.raises(json_stream.ValueTooLong, match='a key of the top level'):
        list(scanner.object_keys('the top level'))


def test_a_malformed_value_is_refused_without_reading_on():
    handle = CountingReader('{"a": tru ' + ' ' * 10 ** 6 + '}')
    scanner = json_stream.Scanner(handle, chunk=100)
    with pytest.raises(ValueError, match='Expecting value'):
        for _key in scanner.object_keys():
            scanner.value()
    assert handle.read_chars < 1000


def test_deep_nesting_is_a_clear_refusal():
    with pytest.raises(ValueError, match='nested too deeply'):
        json_stream.Scanner(io.StringIO('[' * 100000 + ']' * 100000)).value()


# -- backup_json: field lengths as Papermerge 2.1's columns allow them ------------------------------------------

@pytest.mark.parametrize('path, key, limit, column', [
    (('users', 0), 'username', 150, 'core_user.username'),
    (('users', 0), 'password', 128, 'core_user.password'),
    (('users', 0), 'first_name', 150, 'core_user.first_name'),
    (('users', 0), 'last_name', 150, 'core_user.last_name'),
    (('users', 0), 'email', 254, 'core_user.email'),
    (DOC, 'title', 200, 'core_basetreenode.title'),
    (DOC, 'lang', 8, 'core_basetreenode.lang'),
    (DOC, 'ocr_status', 32, 'core_document.ocr_status'),
    (VERSION, 'file_name', 1024, 'core_documentversion.file_name'),
    (VERSION, 'short_description', 128, 'core_documentversion.short_description'),
    (VERSION, 'lang', 8, 'core_documentversion.lang'),
    (PAGE, 'lang', 8, 'core_page.lang'),
    (PAGE, 'norm_doc_title', 200, 'core_page.norm_doc_title'),
    (PAGE, 'norm_folder_title', 200, 'core_page.norm_folder_title'),
    (PAGE, 'norm_breadcrump', 1024, 'core_page.norm_breadcrump'),
    (PAGE, 'image', 1024, 'core_page.image'),
])
def test_text_fields_are_bounded_by_their_column(tmp_path, path, key, limit, column):
    assert MAX_LENGTHS[column.split('.')[0]][column.split('.')[1]] == limit
    data = backup_dict()
    if key == 'title':
        place(data, path)['breadcrumb'] = '.home/' + 'T' * limit
    value = 'T' * limit
    place(data, path)[key] = value
    if key == 'file_name':
        place(data, VERSION)['file_path'] = None
    load_dict(tmp_path, data)  # the column's limit itself is fine
    place(data, path)[key] = value + 'T'
    if key == 'title':
        place(data, path)['breadcrumb'] += 'T'
    message = refused(tmp_path, data)
    where = ''.join('[%d]' % step if isinstance(step, int) else '.' + step for step in path).lstrip('.')
    assert 'at %s' % where in message and "'%s' is longer than %d characters" % (key, limit) in message
    assert column in message


@pytest.mark.parametrize('path, key, limit', [
    (('users', 0, 'tags', 0), 'name', 100), (('users', 0, 'tags', 0), 'bg_color', 7),
    (('users', 0, 'tags', 0), 'description', 1024), (DOC + ('tags', 0), 'slug', 100),
])
def test_tag_fields_are_bounded(tmp_path, path, key, limit):
    data = backup_dict()
    data['users'][0]['tags'] = [{'name': 'a'}]
    place(data, DOC)['tags'] = [{'name': 'a'}]
    place(data, path)[key] = 'x' * (limit + 1)
    assert "'%s' is longer than %d" % (key, limit) in refused(tmp_path, data)


def test_a_huge_username_is_refused_without_holding_it(tmp_path):
    """The issue's 200 MB username, at a tenth: refused with the field's name, memory far below its size."""
    data = backup_dict()
    data['users'][0]['username'] = '\0'
    raw = json.dumps(data).replace('"\\u0000"', '"%s"' % ('u' * 20 * 10 ** 6))
    spool = tmp_path / 'backup.json'
    spool.write_text(raw)
    tracemalloc.start()
    try:
        with pytest.raises(PapermergeBackupError) as raised:
            backup_json.load(str(spool))
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 2 * 10 ** 6, 'peak %d bytes' % peak
    assert "at users[0]: 'username' is longer than 150 characters" in str(raised.value)
    assert len(str(raised.value)) < 1000


@pytest.mark.parametrize('key', ['created', 'version'])
def test_top_level_meta_values_are_bounded(tmp_path, key):
    data = backup_dict()
    data[key] = 'x' * 65
    assert "'%s' is longer than 64 characters" % key in refused(tmp_path, data)


@pytest.mark.parametrize('path, key, value, message', [
    (VERSION, 'number', 2 ** 31, "'number' is 2147483648, outside"),
    (PAGE, 'page_count', -2 ** 31 - 1, "'page_count' is -2147483649, outside"),
    (VERSION, 'size', -1, "'size' is -1, outside 0.."),
    (VERSION, 'size', 2 ** 63, "'size' is 9223372036854775808, outside"),
    (VERSION, 'number', int('9' * 40), "'number' is not a number its column holds"),
    (('users', 0), 'date_joined', 'yesterday', "'date_joined' is not a date and time"),
    (DOC, 'updated_at', '2026-13-01T00:00:00Z', "'updated_at' is not a date and time"),
    (('users', 0), 'id', 'not-a-uuid', "'id' is not a UUID"),
    (('users', 0), 'is_staff', 'yes', "'is_staff' is not a boolean"),
    (DOC, 'breadcrumb', '.home/' + 'x' * (backup_json.BREADCRUMB_MAX + 1), "'breadcrumb' is longer than"),
    (VERSION, 'file_path', 'docs/' + 'x' * backup_json.FILE_PATH_MAX, "'file_path' is longer than"),
    (('users', 0), 'group_names', ['g' * 151], 'users[0].group_names[0]'),
    (('users', 0), 'permission_names', ['p' * 202], "is longer than 201 characters"),
    (('users', 0), 'preferences', [{'name': 'n' * 151}], "'name' is longer than 150"),
])
def test_numbers_dates_ids_and_lists_are_checked(tmp_path, path, key, value, message):
    data = backup_dict()
    place(data, path)[key] = value
    assert message in refused(tmp_path, data)


def test_groups_are_checked(tmp_path):
    data = backup_dict()
    data['groups'] = [{'name': 'g' * 151, 'permissions': []}]
    assert "at the top level.groups[0]: 'name' is longer than 150" in refused(tmp_path, data)


def test_keys_the_restore_does_not_use_are_dropped(tmp_path):
    data = backup_dict()
    data['users'][0]['nodes'][2]['polymorphic_ctype'] = 17
    data['users'][0]['unused'] = ['x'] * 1000
    data['unused'] = {'a': 1}
    loaded = load_dict(tmp_path, data)
    assert 'unused' not in loaded.users[0] and loaded.extra == {}
    assert 'polymorphic_ctype' not in list(loaded.iter_nodes())[2][1]


def test_a_node_is_bounded_as_a_whole(tmp_path, monkeypatch):
    monkeypatch.setattr(backup_json, 'NODE_MAX_CHARS', 5000)
    data = backup_dict()
    place(data, PAGE)['text'] = 'x' * 4000
    load_dict(tmp_path, data)
    place(data, VERSION)['text'] = 'x' * 4000
    assert 'at users[0].nodes[2]' in refused(tmp_path, data)


def test_messages_quote_archive_text_cut_short(tmp_path):
    data = backup_dict()
    place(data, VERSION)['file_name'] = '../' + 'x' * 1000
    message = refused(tmp_path, data)
    assert "'file_name' '../" + 'x' * 197 + "...[803 more characters]'" in message


def test_shown_and_listed():
    assert errors.shown('abc') == 'abc'
    assert errors.shown('x' * 250) == 'x' * 200 + '...[50 more characters]'
    assert errors.shown(None) == 'None'
    assert errors.listed(iter(['a' * 300] * 5000)) == ['a' * 200 + '...[100 more characters]'] * errors.LISTED


# -- members must be what backup.json says -----------------------------------------------------------------------

def declared(size=0, number=1):
    media = member_rules.DeclaredMedia()
    media.add_version(USER_ID, DOC_ID, number, 'a.pdf', size)
    return media


@pytest.mark.parametrize('name, size, declared_size, message', [
    (PDF, 10, 10, None),
    (PDF, 99, 0, None),                                      # Papermerge's 0: no size recorded
    (PDF, 11, 10, 'holds 11 bytes, but backup.json records 10'),
    ('docs/user_%s/document_%s/v2/a.pdf' % (USER_ID, DOC_ID), 10, 10, 'names no document version with this file'),
    ('docs/user_%s/document_%s/v1/b.pdf' % (USER_ID, DOC_ID), 10, 10, 'names no document version with this file'),
    ('docs/bomb.bin', 10, 10, 'names no document version'),
    (PDF.upper().replace('DOCS/', 'docs/'), 10, 10, 'names no document version'),  # not Papermerge's spelling
    (SIDECARS + '/pages/000001/000001_ocr.jpg', 10, 10, None),
    (SIDECARS + '/anything', 10, 10, None),
    ('sidecars/user_%s/document_%s/v2/pages/x.svg' % (USER_ID, DOC_ID), 10, 10, 'no document version whose sidecar'),
    ('sidecars/user_%s/stray.txt' % USER_ID, 10, 10, 'no document version whose sidecar'),
    (SIDECARS, 10, 10, 'no document version whose sidecar'),
])
def test_declared_media(name, size, declared_size, message):
    media = declared(declared_size)
    if message is None:
        media.check(name, size, name)
    else:
        with pytest.raises(PapermergeBackupError, match=message):
            media.check(name, size, name)


def test_version_zero_has_no_folder_of_its_own_as_in_papermerge():
    media = declared(number=0)
    media.check('docs/user_%s/document_%s/a.pdf' % (USER_ID, DOC_ID), 1, 'x')
    media.check('sidecars/user_%s/document_%s/pages/000001/000001_ocr.svg' % (USER_ID, DOC_ID), 1, 'x')
    assert media.missing({}) == ['docs/user_%s/document_%s/a.pdf' % (USER_ID, DOC_ID)]


def test_a_sidecar_larger_than_any_page_has_is_refused_on_its_header():
    with pytest.raises(PapermergeBackupError, match='implausibly large'):
        member_rules.check_media_size(SVG, member_rules.SIDECAR_MAX + 1, SVG)
    member_rules.check_media_size(PDF, member_rules.SIDECAR_MAX + 1, PDF)  # documents may be that large


def backup_with_size(size):
    data = backup_dict()
    place(data, VERSION)['size'] = size
    return data


def read_staging(path, tmp_path):
    """open_archive as a restore calls it: files staged in tmp_path/stage."""
    stage = tmp_path / 'stage'
    stage.mkdir(exist_ok=True)
    return archive_reader.open_archive(str(path), stage_dir=str(stage), spool_dir=str(stage))


def left_in_stage(tmp_path):
    return sorted(os.listdir(str(tmp_path / 'stage')))


def truncated_after_header(members, extra_name, claimed):
    """A tar stream of members, then a header for extra_name claiming claimed bytes of which none follow."""
    stream = io.BytesIO()
    with tarfile.open(fileobj=stream, mode='w', format=tarfile.GNU_FORMAT) as tar:
        for info, data in members:
            tar.addfile(info, data)
    raw = stream.getvalue().rstrip(b'\0')
    raw = raw + b'\0' * (-len(raw) % 512)
    info = tarfile.TarInfo(extra_name)
    info.size = claimed
    return raw + info.tobuf(tarfile.GNU_FORMAT)


@pytest.mark.parametrize('extra_name', ['docs/user_%s/document_%s/v1/bomb.pdf' % (USER_ID, DOC_ID),
                                        'sidecars/user_%s/bomb.svg' % USER_ID])
def test_ours_an_unnamed_file_is_refused_on_its_header_before_its_data(tmp_path, extra_name):
    # backup.json comes first: the member is refused on its header; its data (cut off here) is never read.
    path = tmp_path / 'a.tar.gz'
    path.write_bytes(gzip.compress(truncated_after_header(standard_members(), extra_name, 1 << 27)))
    with pytest.raises(PapermergeBackupError, match='unsafe: backup.json names no document version'):
        read_staging(path, tmp_path)


def test_ours_a_version_file_of_another_size_is_refused_on_its_header(tmp_path):
    members = [_file('backup.json', json.dumps(backup_with_size(10)).encode())] + standard_members()[2:]
    path = tmp_path / 'a.tar.gz'
    path.write_bytes(gzip.compress(truncated_after_header(members, PDF, 1 << 30)))
    with pytest.raises(PapermergeBackupError, match='holds 1073741824 bytes, but backup.json records 10'):
        read_staging(path, tmp_path)


@pytest.mark.parametrize('extra, message', [
    (_file('docs/user_%s/document_%s/v1/b.pdf' % (USER_ID, DOC_ID), b'x' * 100), 'names no document version'),
    (_file('sidecars/user_%s/x.svg' % USER_ID, b'x'), 'no document version whose sidecar'),
])
def test_papermerge_style_an_unnamed_file_is_refused_and_nothing_is_staged(tmp_path, extra, message):
    members = standard_members()
    path = build(tmp_path / 'a.tar.gz', members[1:3] + [extra] + members[3:] + members[:1])  # backup.json last
    with pytest.raises(PapermergeBackupError, match=message):
        read_staging(path, tmp_path)
    assert left_in_stage(tmp_path) == ['.backup.json']  # not a byte of any file was staged


def test_papermerge_style_a_version_file_of_another_size_is_refused(tmp_path):
    members = [_file('backup.json', json.dumps(backup_with_size(11)).encode())] + standard_members()[1:]
    with pytest.raises(PapermergeBackupError, match='holds 10 bytes, but backup.json records 11'):
        read_staging(build(tmp_path / 'a.tar.gz', members[1:] + members[:1]), tmp_path)
    assert left_in_stage(tmp_path) == ['.backup.json']


@pytest.mark.parametrize('backup_json_last', [False, True], ids=['ours', 'papermerge-style'])
def test_both_orders_accept_the_sizes_backup_json_records(tmp_path, backup_json_last):
    members = [_file('backup.json', json.dumps(backup_with_size(10)).encode())] + standard_members()[1:]
    if backup_json_last:
        members = members[1:] + members[:1]
    archive = read_staging(build(tmp_path / 'a.tar.gz', members), tmp_path)
    with open(archive.contents.files[PDF].staged, 'rb') as handle:
        assert handle.read() == b'%PDF-1.4 a'


def test_the_second_pass_refuses_an_archive_that_changed(tmp_path):
    members = standard_members()
    path = build(tmp_path / 'a.tar.gz', members[1:] + members[:1])
    stage = tmp_path / 'stage'
    stage.mkdir()
    contents = archive_reader.read_archive(str(path), stage_dir=str(stage))
    members = standard_members()
    members[1] = _file(PDF, b'%PDF-1.4 b')
    build(path, members[1:] + members[:1])
    with pytest.raises(PapermergeBackupError, match='changed while it was read|differs from the first read'):
        archive_reader.stage_second_pass(str(path), contents, str(stage))


@pytest.mark.parametrize('extra, message', [
    ([_special('alice/.home/a.pdf', tarfile.SYMTYPE, '../../' + PDF)], 'another member has the same name'),
    ([_special('alice/.home/a.pdf', tarfile.DIRTYPE)], 'another member has the same name'),
    ([_special(SIDECARS + '/x', tarfile.DIRTYPE), _file(SIDECARS + '/x', b'y')], 'both a directory and a file'),
    ([_special('alice/.home/a.pdf/deeper', tarfile.DIRTYPE)], 'below the symlink member'),
    ([_special('alice/.home/a.pdf/link', tarfile.SYMTYPE, '../../../' + PDF)], 'below the symlink member'),
])
def test_a_name_is_one_member(tmp_path, extra, message):
    with pytest.raises(PapermergeBackupError, match=message):
        archive_reader.read_archive(str(build(tmp_path / 'a.tar.gz', standard_members() + extra)),
                                    spool_dir=str(tmp_path))


# -- the gzip stream: inflated size bounded ------------------------------------------------------------------

def test_inflating_beyond_the_bound_is_refused_before_the_chunk_that_crosses_it():
    raw = gzip.compress(b'\0' * 5000)
    chunks = gunzip.gunzip_chunks(io.BytesIO(raw), chunk_size=1000, limit=3500)
    assert len(next(chunks)) + len(next(chunks)) + len(next(chunks)) == 3000
    with pytest.raises(gunzip.InflateLimitExceeded):
        next(chunks)
    assert b''.join(gunzip.gunzip_chunks(io.BytesIO(raw), limit=5000)) == b'\0' * 5000


def bomb(tmp_path, name, inflated, backup_json_last=False):
    """The standard archive with name (in place of the PDF): inflated zero bytes, compressed as one stream."""
    members = [member for member in standard_members() if member[0].name != name]
    if backup_json_last:
        members = members[1:] + members[:1]
    stream = io.BytesIO()
    with tarfile.open(fileobj=stream, mode='w') as tar:
        for info, data in members:
            tar.addfile(info, data)
        info = tarfile.TarInfo(name)
        info.size = inflated
        tar.addfile(info, io.BytesIO(b'\0' * inflated))
    path = tmp_path / 'bomb.tar.gz'
    path.write_bytes(gzip.compress(stream.getvalue(), 9))
    return path


@pytest.mark.parametrize('backup_json_last', [False, True], ids=['ours', 'papermerge-style'])
def test_a_gzip_bomb_is_refused_while_inflating_and_nothing_of_it_is_staged(tmp_path, backup_json_last):
    # A version file that backup.json names, without a size: only the inflated-size bound can stop it.
    size = gunzip.FREE_BYTES + 64 * 1024 * 1024
    path = bomb(tmp_path, PDF, size, backup_json_last)
    assert os.path.getsize(str(path)) * gunzip.MAX_RATIO + gunzip.FREE_BYTES < size
    stage = tmp_path / 'stage'
    stage.mkdir()
    with pytest.raises(PapermergeBackupError, match='decompression bomb') as raised:
        archive_reader.open_archive(str(path), stage_dir=str(stage), spool_dir=str(stage))
    assert raised.value.details['member'] == PDF
    staged = [os.path.join(d, n) for d, _dirs, names in os.walk(str(stage)) for n in names]
    assert sum(os.path.getsize(p) for p in staged) < gunzip.inflate_limit(os.path.getsize(str(path)))


def test_data_after_the_end_of_the_tar_archive_is_bounded(tmp_path):
    plain = tmp_path / 'a.tar'
    build(plain, standard_members(), gz=False)
    path = tmp_path / 'a.tar.gz'
    path.write_bytes(gzip.compress(plain.read_bytes() + b'\0' * (archive_reader.TRAILING_MAX + 1)))
    for spool in ('spool', 'spool-2'):
        (tmp_path / spool).mkdir()
    with pytest.raises(PapermergeBackupError, match='follow the end of the tar archive'):
        archive_reader.read_archive(str(path), spool_dir=str(tmp_path / 'spool'))
    path.write_bytes(gzip.compress(plain.read_bytes() + b'\0' * 20480))
    archive_reader.read_archive(str(path), spool_dir=str(tmp_path / 'spool-2'))


# -- the manifest and the results -----------------------------------------------------------------------------

@pytest.mark.parametrize('key, value, message', [
    ('created', 'x' * 1000, "'created' is longer than"),
    ('papermerge_version', ['2.1.5'], "'papermerge_version' is not a str"),
    ('counts', {'files': 'many'}, "'counts' holds something other than numbers"),
    ('migrations', {'core': ['m' * 100] * 3000}, "'migrations' is longer than"),
])
def test_manifest_values_are_bounded_and_typed(tmp_path, key, value, message):
    document = {'format': 'papermerge.backup', 'format_version': 1, 'papermerge_version': '2.1.5',
                'created': '2026-11-26T02:00:00Z', 'engine': 'sqlite', 'counts': {}, 'members': {}, 'symlinks': {}}
    document[key] = value
    spool = tmp_path / 'manifest.json'
    spool.write_text(json.dumps(document))
    with pytest.raises(PapermergeBackupError, match=message):
        manifest_format.read_summary(str(spool))
    document[key] = {'created': 'now', 'papermerge_version': '2.1.5'}.get(key, {})
    document['unknown'] = 'y' * 10 ** 5
    spool.write_text(json.dumps(document))
    assert 'unknown' not in manifest_format.read_summary(str(spool))


def test_archive_info_lists_and_quotes_within_bounds(tmp_path, monkeypatch):
    monkeypatch.setattr(archive_info, 'LISTED', 3)
    monkeypatch.setattr(errors, 'LISTED', 3)
    data = backup_dict()
    data['created'] = 'c' * 64
    for number in range(5):  # users whose version files are all missing
        user_id = '%08d-b39c-439a-b8dd-8e981cb4d54b' % number
        doc_id = '%08d-b39c-439a-b8dd-8e981cb4d54c' % number
        node = dict(place(data, DOC), id=doc_id)
        node['versions'] = [dict(node['versions'][0], pages=[])]
        data['users'].append(dict(data['users'][0], id=user_id, username='u' * 140 + str(number),
                                  nodes=data['users'][0]['nodes'][:2] + [node]))
    members = [_file('backup.json', json.dumps(data).encode())] + standard_members()[1:]
    result = archive_info.archive_info(str(build(tmp_path / 'a.tar.gz', members)))
    assert result['created'] == 'c' * 64
    assert len(result['usernames']) == 3 and len(result['missing_files']) == 3
    assert 'at most 3 entries' in result['notes'][-1]
    assert len(json.dumps(result)) < 5000


def test_archive_info_accepts_ours_with_a_manifest(tmp_path):
    result = archive_info.archive_info(str(build(tmp_path / 'a.tar.gz', with_manifest(standard_members()))),
                                       verify=True)
    assert result['checksums_verified'] is True and result['usernames'] == ['alice']
