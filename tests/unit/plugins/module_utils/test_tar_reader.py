"""tar_reader against what Python's tarfile writes and reads, and against damaged and unsupported streams."""

import io
import tarfile

import pytest

from ansible_collections.papermerge.backup.plugins.module_utils.tar_reader import BLOCK, TarFormatError, TarReader

from tar_headers import fix_checksum

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
    with pytest.raises(TarFormatError, match='pax record length of 99 .* is more than'):
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
    info = tarfile.TarInfo('docs/a')
    info.pax_headers = {'comment': 'c' * 400000}
    raw = tar_bytes([(info, b'')], tarfile.PAX_FORMAT)
    pax_size = int(raw[124:136].rstrip(b'\0 ') or b'0', 8)
    pax = raw[:BLOCK + -(-pax_size // BLOCK) * BLOCK]  # the pax header and its data only
    link = tarfile.TarInfo('docs/' + 'n' * 400000)  # a GNU long name and long link name of 400 KB each
    link.type, link.linkname = tarfile.SYMTYPE, 'l' * 400000
    with pytest.raises(TarFormatError, match='implausibly large'):
        read_all(pax + tar_bytes([(link, None)], tarfile.GNU_FORMAT))


@pytest.mark.parametrize('mtime', ['nan', 'inf', '1e300'])
def test_an_implausible_modification_time_is_refused(mtime):
    info = tarfile.TarInfo('docs/a')
    info.pax_headers = {'mtime': mtime}
    with pytest.raises(TarFormatError, match='modification time'):
        read_all(tar_bytes([(info, b'')], tarfile.PAX_FORMAT))


# Hostile headers (issue 10): every number passes one door, every length is checked before a read.

class RecordingSource:
    """A stream that refuses the reads a bounded reader never makes: negative, unbounded or larger than largest."""

    def __init__(self, raw, largest=1 << 20):
        self.stream = io.BytesIO(raw)
        self.largest = largest
        self.requests = []

    def read(self, size):
        self.requests.append(size)
        assert size is not None and 0 < size <= self.largest, 'read(%r): a length was used unchecked' % (size,)
        return self.stream.read(size)


SIZE, MTIME, PREFIX = 124, 136, 345  # where header fields start


def patched(block, fields, checksum=True):
    """A header block with fields ({start: bytes}) replaced and, unless told otherwise, a valid checksum."""
    block = bytearray(block)
    for start, value in fields.items():
        block[start:start + len(value)] = value
    if checksum:
        fix_checksum(block)
    return bytes(block)


def header(name='docs/a', size=0, kind=tarfile.REGTYPE, tar_format=tarfile.USTAR_FORMAT, linkname='', fields=None):
    info = tarfile.TarInfo(name)
    info.size, info.type, info.linkname = size, kind, linkname
    return patched(info.tobuf(tar_format)[-BLOCK:], fields or {})


def extended(kind, data, size=None):
    """An extended header (pax or GNU long name) with its data, padded; size overrides its size field."""
    block = header('././@LongLink', len(data), kind)
    if size is not None:
        block = patched(block, {SIZE: size})
    return block + data + b'\0' * (-len(data) % BLOCK)


def pax(records, kind=tarfile.XHDTYPE):
    data = b''
    for key, value in records:
        record = b' %s=%s\n' % (key, value)
        length = len(record) + 1
        length = len(record) + len(str(length + len(record)).encode()) if length > 9 else length
        data += b'%d%s' % (length, record)
    return extended(kind, data)


def read_hostile(raw, **options):
    source = RecordingSource(raw + b'\0' * 2 * BLOCK)
    reader = TarReader(source, **options)
    found = []
    header_ = reader.next()
    while header_ is not None:
        found.append((header_.name, b''.join(reader.chunks(1 << 20))))
        header_ = reader.next()
    return found


ZEROS = b'\0' * (4 << 20)  # a member of zeros after a lying header: the old reader took it all in one read


@pytest.mark.parametrize('field', [
    b'-0000000007',     # int(b'-0000000007', 8) == -7: chunks() read the whole stream at once
    b'0o0000000007',    # int() takes the prefix; GNU tar refuses it
    b'+0000000007',
    b'0000_000007',
    b'\t0000000007',
    b'7 7',
    b'\xff' + b'\xff' * 11,   # base-256, negative
])
def test_a_size_that_is_not_a_plain_non_negative_octal_number_is_refused(field):
    raw = header(fields={SIZE: field.ljust(12, b'\0')})
    with pytest.raises(TarFormatError, match='size field holds|not a number|negative'):
        read_hostile(raw + ZEROS)


def test_a_negative_octal_size_is_refused_before_any_read_of_data():
    source = RecordingSource(header(fields={SIZE: b'-0000000007\0'}) + ZEROS)
    with pytest.raises(TarFormatError, match="'-0000000007'.*negative"):
        TarReader(source).next()
    assert source.requests == [BLOCK]


@pytest.mark.parametrize('what, start, width', [('mtime', 136, 12), ('mode', 100, 8), ('uid', 108, 8),
                                                ('gid', 116, 8), ('devmajor', 329, 8), ('devminor', 337, 8)])
def test_every_numeric_field_is_checked_even_those_not_used(what, start, width):
    # tarfile stops reading at such a header (silently, after the first member): we would see more than it.
    raw = header(fields={start: b'-7'.ljust(width, b'\0')})
    with pytest.raises(TarFormatError, match='%s field holds' % what):
        read_hostile(raw)


def test_a_size_larger_than_any_file_is_refused_before_it_is_read():
    raw = header(fields={SIZE: b'\x80' + (2 ** 80).to_bytes(11, 'big')})
    with pytest.raises(TarFormatError, match='size of %d .* more than' % 2 ** 80):
        read_hostile(raw + ZEROS)


def test_a_size_larger_than_what_the_stream_holds_is_refused_when_its_length_is_known():
    raw = header(fields={SIZE: b'%011o\0' % (10 << 20)}) + b'x' * BLOCK + b'\0' * 2 * BLOCK
    source = RecordingSource(raw)
    with pytest.raises(TarFormatError, match='claims 10485760 bytes .* only 1536 more'):
        TarReader(source, size=len(raw)).next()
    assert source.requests == [BLOCK]


@pytest.mark.parametrize('kind', [tarfile.GNUTYPE_LONGNAME, tarfile.GNUTYPE_LONGLINK, tarfile.XHDTYPE,
                                  tarfile.XGLTYPE])
def test_an_extended_header_with_a_negative_size_is_refused(kind):
    # Its size was subtracted from the bound on extended headers, and read as "everything".
    raw = extended(kind, b'', size=b'-0000001000\0') + ZEROS
    with pytest.raises(TarFormatError, match='negative'):
        read_hostile(raw)


def test_a_pax_record_length_of_thousands_of_digits_is_refused_as_a_tar_error():
    # int() raised ValueError past 4300 digits (escaping archive_reader's handling), and takes quadratic time.
    raw = pax([(b'comment', b'x')]).replace(b'13 comment=x\n', b'9' * 5000 + b' comment=x\n', 1)
    raw = patched(raw[:BLOCK], {SIZE: b'%011o\0' % len(b'9' * 5000 + b' comment=x\n')}) + raw[BLOCK:]
    with pytest.raises(TarFormatError, match='5000 digits'):
        read_hostile(raw + header())


@pytest.mark.parametrize('value', [b' 12', b'12 ', b'+12', b'1_2', '١٢'.encode(), b'-5', b'', b'0x10'])
def test_a_pax_size_that_is_not_plain_decimal_digits_is_refused(value):
    with pytest.raises(TarFormatError, match='pax size field holds'):
        read_hostile(pax([(b'size', value)]) + header())


@pytest.mark.parametrize('value', [b'1e3', b'1_0', b' 5', '١'.encode(), b'-1.5', b'5.', b'.5', b'5.1.2',
                                   b'1.' + b'0' * 19])
def test_a_pax_mtime_that_is_not_plain_decimal_seconds_is_refused(value):
    with pytest.raises(TarFormatError, match='modification time'):
        read_hostile(pax([(b'mtime', value)]) + header())


def test_a_plain_pax_mtime_with_nanoseconds_is_read():
    assert read_hostile(pax([(b'mtime', b'1764115201.123456789')]) + header())[0][0] == 'docs/a'


@pytest.mark.parametrize('first, second', [
    (pax([(b'path', b'docs/first')]), pax([(b'path', b'docs/second')])),   # tarfile: first; GNU tar: second
    (extended(tarfile.GNUTYPE_LONGNAME, b'docs/long\0'), pax([(b'path', b'docs/pax')])),  # tarfile: long
    (pax([(b'path', b'docs/pax')]), extended(tarfile.GNUTYPE_LONGNAME, b'docs/long\0')),  # tarfile: pax
    (extended(tarfile.GNUTYPE_LONGLINK, b'a\0'), pax([(b'linkpath', b'b')])),
    (extended(tarfile.GNUTYPE_LONGNAME, b'docs/one\0'), extended(tarfile.GNUTYPE_LONGNAME, b'docs/two\0')),
])
def test_names_that_tar_programs_would_read_differently_are_refused(first, second):
    with pytest.raises(TarFormatError, match='disagree about which one counts'):
        read_hostile(first + second + header())


@pytest.mark.parametrize('key', [b'path', b'linkpath', b'size'])
def test_a_global_pax_header_may_not_set_names_or_sizes(key):
    # tarfile skips the member's own size of data but reports the global size.
    with pytest.raises(TarFormatError, match="sets '%s' for every member" % key.decode()):
        read_hostile(pax([(key, b'1')], kind=tarfile.XGLTYPE) + header(fields={SIZE: b'00000000000\0'}))


def test_a_global_pax_header_between_a_member_and_its_extended_header_is_refused():
    raw = pax([(b'comment', b'x')]) + pax([(b'mtime', b'5')], kind=tarfile.XGLTYPE) + header()
    with pytest.raises(TarFormatError, match='between'):
        read_hostile(raw)


def test_an_extended_header_without_its_member_is_refused():
    # The member it described was lost: the archive is damaged, not complete.
    with pytest.raises(TarFormatError, match='without the member'):
        read_hostile(header() + pax([(b'path', b'docs/lost')]))


@pytest.mark.parametrize('kind', [tarfile.SYMTYPE, tarfile.FIFOTYPE, tarfile.CHRTYPE, tarfile.DIRTYPE])
def test_a_member_without_data_that_claims_some_is_refused(kind):
    # GNU tar skips a symlink's "data" and would not see the member hidden in it; tarfile and we would.
    hidden = header('docs/hidden', 5) + b'EVIL!'.ljust(BLOCK, b'\0')
    raw = header('docs/m', kind=kind, linkname='x', fields={SIZE: b'%011o\0' % BLOCK}) + hidden
    with pytest.raises(TarFormatError, match='claims 512 bytes of data'):
        read_hostile(raw)


def test_a_name_prefix_outside_a_ustar_header_is_refused():
    # tarfile prefixes the name with it, GNU tar does not.
    raw = header('a.pdf', tar_format=tarfile.GNU_FORMAT, fields={PREFIX: b'docs'})
    with pytest.raises(TarFormatError, match='not a ustar header'):
        read_hostile(raw)


@pytest.mark.parametrize('long_name, own_name', [('docs/d/', 'docs/d'), ('docs/f', 'docs/f/')])
def test_an_old_style_member_whose_names_disagree_about_being_a_directory_is_refused(long_name, own_name):
    raw = extended(tarfile.GNUTYPE_LONGNAME, long_name.encode() + b'\0') + header(own_name, kind=tarfile.AREGTYPE)
    with pytest.raises(TarFormatError, match='disagree about whether it is a directory'):
        read_hostile(raw)


@pytest.mark.parametrize('chunk_size', [0, -1])
def test_chunks_of_no_size_are_refused(chunk_size):
    reader = TarReader(io.BytesIO(tar_bytes(members(), tarfile.PAX_FORMAT)))
    reader.next()
    with pytest.raises(ValueError, match='positive'):
        next(reader.chunks(chunk_size))


def test_a_solaris_extended_header_is_refused():
    # tarfile and GNU tar read it as a pax header: read as a member, the names after it would differ.
    with pytest.raises(TarFormatError, match='Solaris'):
        read_hostile(pax([(b'path', b'docs/x')], kind=tarfile.SOLARIS_XHDTYPE) + header())


def test_a_file_whose_name_ends_with_a_slash_is_refused():
    # tarfile drops the slash of a pax path (a file 'docs/x'), and keeps it in a header's own name.
    with pytest.raises(TarFormatError, match="not a directory, but its name ends with '/'"):
        read_hostile(pax([(b'path', b'docs/x/')]) + header())


def test_an_archive_that_ends_after_a_global_pax_header_is_refused():
    with pytest.raises(TarFormatError, match='without the member'):
        read_hostile(header() + pax([(b'mtime', b'5')], kind=tarfile.XGLTYPE))


# What the mutation fuzz (tests/fuzz) found GNU tar refusing or tarfile reading otherwise.

def test_a_numeric_field_of_blanks_only_is_refused():
    # tarfile reads 0, GNU tar refuses ("Blanks in header where numeric time_t value expected").
    with pytest.raises(TarFormatError, match='mtime field holds only blanks'):
        read_hostile(header(fields={MTIME: b' ' * 12}))


@pytest.mark.parametrize('key, value', [(b'uid', b'nan'), (b'gid', b'-1'), (b'uid', b'%d' % 2 ** 32),
                                        (b'atime', b'1e3'), (b'ctime', b'5.')])
def test_pax_numbers_not_used_are_checked_as_gnu_tar_checks_them(key, value):
    with pytest.raises(TarFormatError, match='pax'):
        read_hostile(pax([(key, value)]) + header())


def test_ids_wider_than_32_bits_are_refused():
    with pytest.raises(TarFormatError, match='uid of %d .* is more than' % 2 ** 48):
        read_hostile(header(fields={108: b'\x80' + (2 ** 48).to_bytes(7, 'big')}))


def test_a_gnu_long_name_longer_than_its_size_is_refused():
    # Its size says 'd', GNU tar reads 'd', tarfile reads on to the first NUL in the block: 'docs/nnn...'.
    raw = extended(tarfile.GNUTYPE_LONGNAME, b'docs/' + b'n' * 300, size=b'00000000001\0')
    with pytest.raises(TarFormatError, match='padding after an extended header'):
        read_hostile(raw + header())


def test_data_in_the_padding_of_an_extended_header_is_refused():
    # tarfile parses the whole block: it would read a second record, 'path=docs/evil.pdf'.
    raw = bytearray(pax([(b'path', b'docs/a.pdf')]))
    raw[BLOCK + 20:BLOCK + 40] = b'19 path=docs/evil\n\0\0'
    with pytest.raises(TarFormatError, match='padding after an extended header'):
        read_hostile(bytes(raw) + header())
