"""tar_reader against what Python's tarfile writes and reads, and against damaged and unsupported streams."""

import io
import tarfile

import pytest

from ansible_collections.papermerge.backup.plugins.module_utils.tar_reader import BLOCK, TarFormatError, TarReader

LONG_NAME = 'docs/user_%s/document_%s/v1/%s.pdf' % ('a' * 36, 'b' * 36, 'c' * 80)
LONG_TARGET = '../../' + LONG_NAME


def members():
    """(TarInfo, data) pairs covering every kind of header a backup can hold."""
    result = []
    for name, data, mtime in (('backup.json', b'{}', 1764115200), (LONG_NAME, b'%PDF-1.4' * 100, 1764115201.5),
                              ('alice/Übersicht/Rechnung ä.pdf', b'x' * 513, 0), ('empty', b'', 8 ** 11 + 5)):
        info = tarfile.TarInfo(name)
        info.size, info.mtime = len(data), mtime
        result.append((info, data))
    folder = tarfile.TarInfo('alice/.home')
    folder.type = tarfile.DIRTYPE
    link = tarfile.TarInfo('alice/.home/a.pdf')
    link.type, link.linkname = tarfile.SYMTYPE, LONG_TARGET
    result += [(folder, None), (link, None)]
    return result


def tar_bytes(pairs, tar_format):
    stream = io.BytesIO()
    with tarfile.open(fileobj=stream, mode='w', format=tar_format) as tar:
        for info, data in pairs:
            tar.addfile(info, io.BytesIO(data) if data is not None else None)
    return stream.getvalue()


def read_all(raw, chunk_size=7):
    reader = TarReader(io.BytesIO(raw))
    found = []
    while True:
        header = reader.next()
        if header is None:
            return found
        found.append((header.name, header.type, header.size, header.mtime, header.linkname,
                      b''.join(reader.chunks(chunk_size))))


def read_with_tarfile(raw):
    found = []
    with tarfile.open(fileobj=io.BytesIO(raw), mode='r|') as tar:
        for info in tar:
            data = tar.extractfile(info).read() if info.isreg() else b''
            found.append((info.name, info.type, info.size if info.isreg() else 0, info.mtime, info.linkname, data))
    return found


@pytest.mark.parametrize('tar_format', [tarfile.PAX_FORMAT, tarfile.GNU_FORMAT, tarfile.USTAR_FORMAT])
def test_reads_what_tarfile_writes_as_tarfile_reads_it(tar_format):
    pairs = members()
    if tar_format == tarfile.USTAR_FORMAT:  # ustar has no room for long link targets, non-ASCII or large numbers
        pairs = [(info, data) for info, data in pairs if info.name.isascii() and info.linkname != LONG_TARGET
                 and info.mtime < 8 ** 11 and info.mtime == int(info.mtime)]
    raw = tar_bytes(pairs, tar_format)
    expected = read_with_tarfile(raw)
    assert read_all(raw) == expected
    assert read_all(raw, chunk_size=1 << 20) == expected


def test_names_links_sizes_and_times_come_through():
    found = dict((entry[0], entry) for entry in read_all(tar_bytes(members(), tarfile.PAX_FORMAT)))
    assert found[LONG_NAME][2] == 800 and found[LONG_NAME][3] == 1764115201.5
    assert found['alice/Übersicht/Rechnung ä.pdf'][5] == b'x' * 513
    assert found['alice/.home/a.pdf'][4] == LONG_TARGET
    assert found['alice/.home'][1] == tarfile.DIRTYPE


def test_data_left_unread_is_skipped():
    reader = TarReader(io.BytesIO(tar_bytes(members(), tarfile.PAX_FORMAT)))
    names = []
    while True:
        header = reader.next()
        if header is None:
            break
        names.append(header.name)
    assert names == [info.name for info, _data in members()]


def test_a_global_pax_header_applies_to_the_members_after_it():
    stream = io.BytesIO()
    with tarfile.open(fileobj=stream, mode='w', format=tarfile.PAX_FORMAT, pax_headers={'mtime': '42'}) as tar:
        info = tarfile.TarInfo('docs/a')
        info.size = 1
        tar.addfile(info, io.BytesIO(b'a'))
    assert [entry[3] for entry in read_all(stream.getvalue())] == [42.0]


def test_old_style_directory_with_a_trailing_slash():
    info = tarfile.TarInfo('docs/folder/')
    info.type = tarfile.AREGTYPE
    raw = tar_bytes([(info, b'')], tarfile.GNU_FORMAT)
    assert read_all(raw)[0][:2] == ('docs/folder', tarfile.DIRTYPE)


def test_base_256_numbers():
    info = tarfile.TarInfo('docs/a')
    info.size, info.mtime = 3, 8 ** 12  # too large for 11 octal digits: GNU writes base-256
    raw = tar_bytes([(info, b'abc')], tarfile.GNU_FORMAT)
    assert raw[136:137] == b'\x80'
    assert read_all(raw)[0][2:4] == (3, 8 ** 12)


def test_a_stream_that_ends_after_a_member_without_the_end_blocks_ends_there():
    raw = tar_bytes(members()[:1], tarfile.PAX_FORMAT)
    assert [entry[0] for entry in read_all(raw[:2 * BLOCK])] == ['backup.json']


def test_a_damaged_header_is_refused():
    raw = bytearray(tar_bytes(members(), tarfile.GNU_FORMAT))
    raw[BLOCK * 2 + 3] ^= 0x01  # the second header's name (the first member's data is one block)
    with pytest.raises(TarFormatError, match='bad checksum'):
        read_all(bytes(raw))


@pytest.mark.parametrize('cut, message', [
    (BLOCK // 2, 'inside a header'),             # in the first header
    (3 * BLOCK + 100, 'inside a header'),        # in the second one (after a header and two data blocks)
    (BLOCK + 10, "inside a member's data"),
    (BLOCK + 1000, "inside a member's padding"),
])
def test_truncated_streams_are_refused(cut, message):
    info = tarfile.TarInfo('docs/a')
    info.size = 1000
    raw = tar_bytes([(info, b'y' * 1000)] * 2, tarfile.GNU_FORMAT)
    with pytest.raises(TarFormatError, match=message):
        read_all(raw[:cut])


def test_sparse_members_are_refused():
    info = tarfile.TarInfo('docs/a')
    info.type = tarfile.GNUTYPE_SPARSE
    raw = bytearray(tar_bytes([(info, None)], tarfile.GNU_FORMAT))
    with pytest.raises(TarFormatError, match='sparse'):
        read_all(bytes(raw))


def test_pax_sparse_members_are_refused():
    info = tarfile.TarInfo('docs/a')
    info.pax_headers = {'GNU.sparse.major': '1'}
    with pytest.raises(TarFormatError, match='sparse'):
        read_all(tar_bytes([(info, b'')], tarfile.PAX_FORMAT))


def test_an_implausibly_large_extended_header_is_refused():
    info = tarfile.TarInfo('docs/a')
    info.pax_headers = {'comment': 'x' * (1024 * 1024 + 1)}
    with pytest.raises(TarFormatError, match='implausibly large'):
        read_all(tar_bytes([(info, b'')], tarfile.PAX_FORMAT))


def test_a_malformed_pax_record_is_refused():
    info = tarfile.TarInfo('docs/a')
    info.pax_headers = {'comment': 'abc'}
    raw = bytearray(tar_bytes([(info, b'')], tarfile.PAX_FORMAT))
    record = raw.index(b'comment=abc')
    raw[record - 3:record - 1] = b'99'  # the record's length no longer fits
    header = bytes(raw[:BLOCK])
    checksum = sum(header[:148]) + 256 + sum(header[156:])
    with pytest.raises(TarFormatError, match='malformed'):
        read_all(bytes(raw[:148]) + b'%06o\x00 ' % checksum + bytes(raw[156:]))


def test_a_negative_pax_size_is_refused():
    info = tarfile.TarInfo('docs/a')
    info.pax_headers = {'size': '-5'}
    with pytest.raises(TarFormatError, match='negative'):
        read_all(tar_bytes([(info, b'')], tarfile.PAX_FORMAT))


def test_not_a_tar_stream():
    with pytest.raises(TarFormatError):
        read_all(b'this is not a tar archive' * 40)


def test_member_types_are_reported_not_judged():
    pairs = []
    for name, kind in (('l', tarfile.LNKTYPE), ('c', tarfile.CHRTYPE), ('b', tarfile.BLKTYPE),
                       ('f', tarfile.FIFOTYPE)):
        info = tarfile.TarInfo(name)
        info.type, info.linkname = kind, 'target' if kind == tarfile.LNKTYPE else ''
        pairs.append((info, None))
    reader = TarReader(io.BytesIO(tar_bytes(pairs, tarfile.GNU_FORMAT)))
    tests = [reader.next() for _pair in pairs]
    assert [t.islnk() for t in tests] == [True, False, False, False]
    assert [t.ischr() for t in tests] == [False, True, False, False]
    assert [t.isblk() for t in tests] == [False, False, True, False]
    assert [t.isfifo() for t in tests] == [False, False, False, True]
    assert reader.next() is None


def test_many_extended_headers_for_one_member_are_refused_together():
    records = []
    for number in range(3):  # three pax headers of 400 KB each in front of one member
        info = tarfile.TarInfo('docs/a')
        info.pax_headers = {'comment': str(number) * 400000}
        raw = tar_bytes([(info, b'')], tarfile.PAX_FORMAT)
        pax_size = int(raw[124:136].rstrip(b'\0 ') or b'0', 8)
        records.append(raw[:BLOCK + -(-pax_size // BLOCK) * BLOCK])  # the pax header and its data only
    member = tar_bytes([(tarfile.TarInfo('docs/a'), b'')], tarfile.GNU_FORMAT)
    with pytest.raises(TarFormatError, match='implausibly large'):
        read_all(b''.join(records) + member)


@pytest.mark.parametrize('mtime', ['nan', 'inf', '1e300'])
def test_an_implausible_modification_time_is_refused(mtime):
    info = tarfile.TarInfo('docs/a')
    info.pax_headers = {'mtime': mtime}
    with pytest.raises(TarFormatError, match='modification time'):
        read_all(tar_bytes([(info, b'')], tarfile.PAX_FORMAT))
