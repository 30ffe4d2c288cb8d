"""Properties of tar_reader, checked with hypothesis against Python's tarfile, on generated archives.

1. Whatever tarfile writes (ustar, GNU, pax; long and non-ASCII names, links, large and fractional times),
   tar_reader reads as tarfile reads it, in chunks of any size, knowing the stream's length or not.
2. The number door: a numeric field tar_reader accepts means the same number to tarfile, and is never
   negative; every form tarfile writes is accepted.  The same for the numbers of pax records.
3. Doctored archives (header bytes overwritten, numeric fields and type flags rewritten, extended headers'
   data overwritten, the checksum made valid again): tar_reader refuses them with TarFormatError, or reads
   exactly what tarfile reads.  A reader that accepted a header tarfile reads otherwise would fail here.

Examples are random, except in CI (CI=true), where they are derived from the test (derandomize) so that a run
is reproducible; a failure prints the example to replay.  HYPOTHESIS_PROFILE=explore tries 20,000 of each.
tests/fuzz drives whole archives through archive_info in a memory-limited subprocess.
"""

import io
import os
import re
import string
import tarfile

import pytest
from hypothesis import HealthCheck, assume, event, given, settings
from hypothesis import strategies as st

from ansible_collections.papermerge.backup.plugins.module_utils import tar_reader
from ansible_collections.papermerge.backup.plugins.module_utils.tar_reader import BLOCK, TarFormatError, TarReader

from tar_headers import fix_checksum, header_offsets

# HYPOTHESIS_PROFILE=explore tries many more examples (minutes): for changes to tar_reader.
settings.register_profile('ci', derandomize=True, database=None, deadline=None, max_examples=300)
settings.register_profile('dev', database=None, deadline=None, max_examples=300)
settings.register_profile('explore', database=None, deadline=None, max_examples=20000)
settings.load_profile(os.environ.get('HYPOTHESIS_PROFILE') or ('ci' if os.environ.get('CI') else 'dev'))

FORMATS = {'ustar': tarfile.USTAR_FORMAT, 'gnu': tarfile.GNU_FORMAT, 'pax': tarfile.PAX_FORMAT}
WITH_DATA_TYPES = set(tarfile.REGULAR_TYPES) | {tarfile.CONTTYPE}
# Numeric fields of a header: where they start and how wide they are.
NUMERIC_FIELDS = {'mode': (100, 8), 'uid': (108, 8), 'gid': (116, 8), 'size': (124, 12), 'mtime': (136, 12),
                  'checksum': (148, 8), 'devmajor': (329, 8), 'devminor': (337, 8)}
TYPE_FLAGS = b'0123456712579LKxgSMNVDX\0Az'
REFUSAL = re.compile(r"'.*?'|\d+")  # names and numbers taken out of a refusal, to count refusals by kind

name_parts = st.text(alphabet=string.ascii_letters + string.digits + '._- äÜ€', min_size=1, max_size=60)
names = st.lists(name_parts, min_size=1, max_size=5).map('/'.join)
mtimes = st.one_of(st.integers(0, 8 ** 11 - 1), st.integers(8 ** 11, 10 ** 11 - 1),
                   st.builds(lambda seconds, fraction: seconds + fraction, st.integers(1, 10 ** 10),
                             st.sampled_from([0.5, 0.25, 0.125, 0.1, 0.375])))


@st.composite
def members(draw):
    """A TarInfo and its data (None for members without data)."""
    info = tarfile.TarInfo(draw(names))
    info.mtime = draw(mtimes)
    kind = draw(st.sampled_from(['file', 'file', 'dir', 'symlink']))
    if kind == 'file':
        data = draw(st.binary(max_size=3 * BLOCK))
        info.size = len(data)
        return info, data
    info.type = tarfile.DIRTYPE if kind == 'dir' else tarfile.SYMTYPE
    info.linkname = draw(names) if kind == 'symlink' else ''
    return info, None


@st.composite
def archives(draw, max_members=6):
    """A tar archive tarfile writes, in one of its three formats (members it cannot write are left out)."""
    tar_format = FORMATS[draw(st.sampled_from(sorted(FORMATS)))]
    stream = io.BytesIO()
    written = 0
    with tarfile.open(fileobj=stream, mode='w', format=tar_format) as tar:
        for info, data in draw(st.lists(members(), min_size=1, max_size=max_members)):
            try:
                info.tobuf(tar_format, tar.encoding, tar.errors)
            except ValueError:  # ustar holds no long or non-ASCII names, GNU no fractional times in its fields
                continue
            tar.addfile(info, io.BytesIO(data) if data is not None else None)
            written += 1
    assume(written)
    raw = stream.getvalue()
    return raw[:len(raw.rstrip(b'\0')) // BLOCK * BLOCK + 3 * BLOCK]  # tarfile pads to 10 KB: not needed


def read_with_tar_reader(raw, chunk_size=1 << 20, **options):
    reader = TarReader(io.BytesIO(raw), **options)
    found = []
    while True:
        header = reader.next()
        if header is None:
            return found
        found.append((header.name, header.type, header.size if header.type in WITH_DATA_TYPES else 0,
                      header.mtime, header.linkname, b''.join(reader.chunks(chunk_size))))


def read_with_tarfile(raw):
    found = []
    with tarfile.open(fileobj=io.BytesIO(raw), mode='r|') as tar:
        for info in tar:
            with_data = info.isreg() or info.type not in tarfile.SUPPORTED_TYPES
            data = tar.extractfile(info).read() if with_data else b''
            # tarfile keeps a trailing slash on a directory named by a pax path; the name is the same.
            name = info.name.rstrip('/') if info.isdir() else info.name
            found.append((name, info.type, info.size if info.type in WITH_DATA_TYPES else 0, info.mtime,
                          info.linkname, data))
    return found


@given(archives(), st.integers(1, 2 * BLOCK + 1))
def test_reads_whatever_tarfile_writes_as_tarfile_reads_it(raw, chunk_size):
    expected = read_with_tarfile(raw)
    assert read_with_tar_reader(raw, chunk_size) == expected
    assert read_with_tar_reader(raw, chunk_size, size=len(raw)) == expected


# The number door.

def octal_like(width):
    """Field contents close to numbers: digits with spaces, NULs, signs, prefixes and other near misses."""
    return st.text(alphabet='0123456777 \0-+_oxX\t89', max_size=width).map(
        lambda text: text.encode('ascii').ljust(width, b'\0')[:width])


def fields(width):
    return st.one_of(octal_like(width), st.binary(min_size=width, max_size=width),
                     st.builds(lambda lead, rest: lead + rest, st.sampled_from([b'\x80', b'\xff']),
                               st.binary(min_size=width - 1, max_size=width - 1)))


@given(st.sampled_from(sorted(NUMERIC_FIELDS)).flatmap(
    lambda what: st.tuples(st.just(what), fields(NUMERIC_FIELDS[what][1]))))
def test_a_numeric_field_accepted_means_the_same_number_to_tarfile(what_and_raw):
    what, raw = what_and_raw
    try:
        value = tar_reader.header_number(raw, what, 0, tar_reader.NUMBER_MAX)
    except TarFormatError:
        return
    assert value >= 0
    assert tarfile.nti(raw) == value


@given(st.integers(0, 8 ** 11 - 1), st.sampled_from(sorted(FORMATS)))
def test_every_octal_number_tarfile_writes_is_read_back(value, tar_format):
    assert tar_reader.header_number(tarfile.itn(value, 12, FORMATS[tar_format]), 'size', 0, tar_reader.SIZE_MAX) == value


@given(st.integers(8 ** 11, tar_reader.SIZE_MAX))
def test_every_base_256_number_gnu_tar_writes_is_read_back(value):
    assert tar_reader.header_number(tarfile.itn(value, 12, tarfile.GNU_FORMAT), 'size', 0, tar_reader.SIZE_MAX) == value


pax_numbers = st.one_of(st.integers(0, 10 ** 30).map(lambda value: str(value).encode()),
                        st.text(alphabet='0123456789 -+_.e١', max_size=30).map(lambda text: text.encode()))


@given(pax_numbers)
def test_a_pax_number_accepted_means_the_same_number_to_tarfile(raw):
    try:
        value = tar_reader.pax_integer(raw, 'size', 0, tar_reader.SIZE_MAX)
    except TarFormatError:
        assert not (raw.isdigit() and int(raw) <= tar_reader.SIZE_MAX)  # plain digits within the bound pass
        return
    assert value == int(raw.decode()) >= 0
    try:
        time = tar_reader.pax_time(raw, 'mtime', 0)
    except TarFormatError:
        return
    assert time == float(raw.decode()) >= 0


# Doctored archives.

@st.composite
def doctorings(draw):
    """One change to a header: a byte, a numeric field, the type flag, or the start of an extended header's data."""
    kind = draw(st.sampled_from(['byte', 'number', 'number', 'type', 'extended']))
    if kind == 'byte':
        return kind, draw(st.integers(0, BLOCK - 1)), bytes([draw(st.integers(0, 255))])
    if kind == 'number':
        start, width = NUMERIC_FIELDS[draw(st.sampled_from(sorted(NUMERIC_FIELDS)))]
        return kind, start, draw(fields(width))
    if kind == 'type':
        return kind, 156, bytes([draw(st.sampled_from(TYPE_FLAGS))])
    record = draw(st.sampled_from([b'size=', b'mtime=', b'path=', b'linkpath=', b'comment=', b'GNU.sparse.size=']))
    value = draw(st.one_of(pax_numbers, st.sampled_from([b'docs/x', b'', b'../x', b'/x', b'docs/x/'])))
    length = draw(st.one_of(st.integers(0, 40), st.just(None)))
    text = b' ' + record + value + b'\n'
    text = (b'%d' % (len(text) + len(b'%d' % (len(text) + 2))) if length is None else b'%d' % length) + text
    return kind, BLOCK, text


@settings(suppress_health_check=[HealthCheck.too_slow])
@given(archives(max_members=4), st.lists(st.tuples(st.integers(0, 1000), doctorings()), min_size=1, max_size=3),
       st.booleans())
def test_a_doctored_archive_is_refused_or_read_as_tarfile_reads_it(raw, changes, valid_checksum):
    raw = bytearray(raw)
    offsets = header_offsets(raw)
    for which, (_kind, start, value) in changes:
        offset = offsets[which % len(offsets)][0]
        raw[offset + start:offset + start + len(value)] = value
        if valid_checksum:
            fix_checksum(raw, offset)
    raw = bytes(raw)
    try:
        found = read_with_tar_reader(raw)
    except TarFormatError as error:
        event('refused: %s' % REFUSAL.sub('', str(error))[:50])  # --hypothesis-show-statistics shows the mix
        return
    event('read')
    try:
        expected = read_with_tarfile(raw)
    except tarfile.TarError as error:
        pytest.fail('tar_reader read %r, tarfile refused it: %s' % (found, error))
    assert found == expected
