"""Mutation fuzz of archive reading (issue 10): every doctored archive ends in a clear refusal or a correct result.

Thousands of archives are made from three valid backups (our own format with a manifest, in pax; Papermerge's own,
in GNU format with long-name headers; and one in ustar with name prefixes) by changing their tar headers: bytes
overwritten, numeric fields rewritten with hostile numbers ('-0000000007', '0o7', negative and huge base-256, ...),
type flags changed, members renamed to media files backup.json does not name, pax and GNU long-name headers
inserted with hostile records, sizes shifted, headers duplicated, the stream cut, and 64 MB of zeros spliced in
after a header (the issue's 0.5 MB archive that took over 1 GB).  The checksum is made valid again most of the time, so the change reaches the parser.

Each archive goes through archive_info(path, verify=True), the function behind papermerge_archive_info, in a
worker process whose address space is limited (tar_fuzz_worker.py).  A case passes when it ends in
- a clear refusal: PapermergeBackupError whose message is not empty and names the archive or the member; or
- a correct result: the members tar_reader reads are the ones tarfile reads (names, types, sizes, contents,
  link targets), archive_info's file and byte counts are tarfile's, every media file is one backup.json names
  (with its size: the base archives' backup.json names all they hold), and GNU tar (where installed) extracts
  the same files;
and its peak RSS stays under 100 MB and it ends within CASE_TIMEOUT seconds.  Anything else (a crash, a
MemoryError, a hang, a listing that differs) fails the test, naming the case's seed.

Bounded for CI: FUZZ_CASES cases (default 3000) or FUZZ_SECONDS seconds (default 100), whichever comes first.
Reproducible: case seeds come from FUZZ_SEED (default below); FUZZ_REPLAY=<case seed> runs that case alone and
keeps its archive in tests/output/.  `make fuzz` runs this file.
"""

import gzip
import hashlib
import io
import json
import os
import random
import re
import select
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
import uuid
import zlib
from collections import Counter
from pathlib import Path

import pytest

from ansible_collections.papermerge.backup.plugins.module_utils import manifest as manifest_format

from tar_headers import fix_checksum, header_offsets

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
WORKER = HERE / 'tar_fuzz_worker.py'
BASE_SEED = int(os.environ.get('FUZZ_SEED', '20261201'))
CASES = int(os.environ.get('FUZZ_CASES', '3000'))
SECONDS = float(os.environ.get('FUZZ_SECONDS', '100'))
REPLAY = os.environ.get('FUZZ_REPLAY')
RSS_LIMIT = 100 * 1024 * 1024
CASE_TIMEOUT = 30
BLOCK = tarfile.BLOCKSIZE
BOMB_BYTES = 64 * 1024 * 1024

USER_ID = str(uuid.UUID('5a1f0c3e-7d2b-4e8f-9a6c-1b2d3e4f5a6b'))
USERNAME = 'alice'
NUMERIC_FIELDS = {'size': (124, 12), 'mtime': (136, 12), 'mode': (100, 8), 'uid': (108, 8), 'gid': (116, 8),
                  'checksum': (148, 8), 'devmajor': (329, 8), 'devminor': (337, 8)}
HOSTILE_NUMBERS = [b'-0000000007\0', b'-0000001000\0', b'0o0000000007', b'+0000000007\0', b'0000_000007\0',
                   b'\t0000000007\0', b'7 7\0', b'\xff' * 12, b'\xff' + b'\0' * 10 + b'\x07',
                   b'\x80' + (2 ** 80).to_bytes(11, 'big'), b'\x80' + (1 << 30).to_bytes(11, 'big'),
                   b'77777777777\0', b'00000001000\0', b'\0' * 12, b' ' * 12, b'0000000001\x001', b'   17    \0',
                   b'\x81' + b'\0' * 11, '\u0661\u0662'.encode().ljust(12, b'\0'), b'0' * 12]
PAX_KEYS = [b'path', b'linkpath', b'size', b'mtime', b'comment', b'GNU.sparse.major', b'hdrcharset', b'uid']
PAX_VALUES = [b'-5', b'1_0', b' 12', b'12 ', b'+12', b'99999999999999999999999', b'9' * 5000, b'1e3', b'nan',
              b'inf', b'0', b'512', b'1764115200.5', b'-1.5', b'docs/x', b'docs/x/', b'../../etc/passwd', b'/abs',
              b'', b'BINARY', '\u0661'.encode(), b'docs/user_%s/evil.pdf' % USER_ID.encode()]
TYPE_FLAGS = b'0123456712579LKxgSMNVDXA\0'


# The base archives.

def pdf(number):
    return b'%PDF-1.4\n' + b'document %d\n' % number * (number * 97 % 300 + 1)


def documents():
    """(id, file name, content, sidecar names and contents) of each document in the base archives."""
    result = []
    for number in range(1, 5):
        doc_id = str(uuid.UUID(int=0x6b2f0c3e7d2b4e8f9a6c1b2d3e4f0000 + number))
        root = 'user_%s/document_%s/v1' % (USER_ID, doc_id)
        sidecars = [('sidecars/%s/pages//%06d/%06d_ocr.svg' % (root, page, page), b'<svg>%d</svg>' % page)
                    for page in range(1, number % 3 + 2)]
        result.append((doc_id, 'doc%d.pdf' % number, pdf(number), 'docs/%s/doc%d.pdf' % (root, number), sidecars))
    return result


def backup_json():
    stamp = '2026-11-26T02:00:00.000000+00:00'
    nodes = [{'breadcrumb': '.home/', 'ctype': 'folder', 'title': '.home', 'tags': []},
             {'breadcrumb': '.inbox/', 'ctype': 'folder', 'title': '.inbox', 'tags': []}]
    for doc_id, file_name, content, path, sidecars in documents():
        pages = [{'number': page, 'page_count': len(sidecars), 'text': 'x', 'lang': 'eng', 'file_path': name}
                 for page, (name, _data) in enumerate(sidecars, 1)]
        nodes.append({'breadcrumb': '.home/' + file_name, 'ctype': 'document', 'title': file_name, 'id': doc_id,
                      'lang': 'eng', 'tags': [], 'created_at': stamp, 'updated_at': stamp,
                      'versions': [{'number': 1, 'file_name': file_name, 'file_path': path, 'size': len(content),
                                    'page_count': len(pages), 'text': 'x', 'lang': 'eng', 'pages': pages}]})
    return {'created': '26.11.2026-02:00:00', 'version': '2.1.5',
            'users': [{'id': USER_ID, 'username': USERNAME, 'password': 'pbkdf2_sha256$x', 'tags': [],
                       'nodes': nodes}]}


def member(name, data=None, kind=tarfile.REGTYPE, linkname=''):
    info = tarfile.TarInfo(name)
    info.type, info.linkname, info.mtime, info.mode = kind, linkname, 1764115200, 0o644
    info.size = len(data) if data is not None else 0
    return info, data


def base_archives():
    """{label: uncompressed tar}: our format (pax, manifest), Papermerge's (GNU), and ustar with prefixes."""
    files = [member('backup.json', json.dumps(backup_json()).encode())]
    links = [member('%s/.home/' % USERNAME, kind=tarfile.DIRTYPE)]
    for _doc_id, file_name, content, path, sidecars in documents():
        files.append(member(path, content))
        files += [member(name, data) for name, data in sidecars]
        links.append(member('%s/.home/%s' % (USERNAME, file_name), kind=tarfile.SYMTYPE, linkname='../../' + path))
    return {'ours-pax': tar(files + links + [manifest(files)], tarfile.PAX_FORMAT),
            'papermerge-gnu': tar(files[1:] + links + files[:1], tarfile.GNU_FORMAT),
            'ustar-prefix': tar(files, tarfile.USTAR_FORMAT)}


def manifest(files):
    stream = io.BytesIO()
    writer = manifest_format.ManifestWriter(stream, '2.1.5', '2026-11-26T02:00:00Z', 'sqlite', {}, {})
    for info, data in files:
        writer.add_member(normal(info.name), len(data), hashlib.sha256(data).hexdigest())
    writer.finish()
    return member(manifest_format.MANIFEST_NAME, stream.getvalue())


def tar(members, tar_format):
    stream = io.BytesIO()
    with tarfile.open(fileobj=stream, mode='w', format=tar_format) as archive:
        for info, data in members:
            archive.addfile(info, io.BytesIO(data) if data is not None else None)
    raw = stream.getvalue()
    return raw[:len(raw.rstrip(b'\0')) // BLOCK * BLOCK + 3 * BLOCK]


def normal(name):
    return '/'.join(part for part in name.split('/') if part not in ('', '.'))


# Mutations: each takes a random source, the tar (a bytearray, changed in place) and the offset of a header,
# and says what it did.

def header_block(name, size, kind, rng):
    """An extended header claiming size bytes (negative and huge ones too), or now and then a hostile number."""
    info = tarfile.TarInfo(name)
    info.type, info.mtime = kind, 1764115200
    block = bytearray(info.tobuf(tarfile.USTAR_FORMAT)[-BLOCK:])
    if 0 <= size < 8 ** 11:
        block[124:136] = b'%011o\0' % size
    else:
        block[124:136] = b'\x80' + size.to_bytes(11, 'big') if size > 0 else b'%011d\0' % size
    if rng.random() < 0.2:
        block[124:136] = rng.choice(HOSTILE_NUMBERS)
    fix_checksum(block, 0)
    return bytes(block)


def pax_record(rng):
    key, value = rng.choice(PAX_KEYS), rng.choice(PAX_VALUES)
    text = b' %s=%s\n' % (key, value)
    length = len(text) + len(b'%d' % (len(text) + len(b'%d' % len(text))))
    roll = rng.random()
    if roll < 0.15:
        length += rng.choice([-1, 1, -len(text), 10 ** 6])
    elif roll < 0.2:
        return b'9' * rng.choice([30, 5000]) + text, key
    return b'%d%s' % (length, text), key


def flip_byte(rng, raw, offset):
    position = rng.randrange(BLOCK)
    raw[offset + position] = rng.randrange(256)
    return 'byte %d = %d' % (position, raw[offset + position])


def rewrite_number(rng, raw, offset):
    what = rng.choice(['size'] * 4 + sorted(NUMERIC_FIELDS))
    start, width = NUMERIC_FIELDS[what]
    value = rng.choice(HOSTILE_NUMBERS) if rng.random() < 0.7 else b'%0*o\0' % (width - 1, rng.randrange(8 ** 9))
    value = value[:width].ljust(width, b'\0')
    raw[offset + start:offset + start + width] = value
    return '%s = %r' % (what, value)


def shift_size(rng, raw, offset):
    size = int(bytes(raw[offset + 124:offset + 135]).strip(b'\0 ') or b'0', 8) if raw[offset + 124] < 0x80 else 0
    size = max(0, size + rng.choice([-BLOCK, -1, 1, 7, BLOCK, 3 * BLOCK, 10 ** 6]))
    raw[offset + 124:offset + 136] = b'%011o\0' % size
    return 'size = %d' % size


def retype(rng, raw, offset):
    raw[offset + 156] = rng.choice(TYPE_FLAGS)
    return 'type = %r' % bytes(raw[offset + 156:offset + 157])


def insert_pax(rng, raw, offset):
    records, keys = b'', []
    for _record in range(rng.randint(1, 3)):
        record, key = pax_record(rng)
        records += record
        keys.append(key.decode())
    kind = tarfile.XGLTYPE if rng.random() < 0.25 else tarfile.XHDTYPE
    size = len(records) if rng.random() < 0.85 else rng.choice([-len(records), len(records) + 600, 2 ** 33])
    data = records + b'\0' * (-len(records) % BLOCK)
    raw[offset:offset] = header_block('././@PaxHeader', size, kind, rng) + data
    return 'pax %s header %s (size %d)' % (kind.decode(), ','.join(keys), size)


def insert_long_name(rng, raw, offset):
    kind = rng.choice([tarfile.GNUTYPE_LONGNAME, tarfile.GNUTYPE_LONGLINK])
    # Long names in components a file system takes (255 bytes), so that GNU tar can extract what is accepted.
    name = rng.choice([b'docs/x', b'docs/' + b'/'.join([b'n' * 100] * 3), b'', b'docs/x/', b'../x', b'a\0b',
                       b'docs/' + b'/'.join([b'y' * 200] * 19)])
    size = len(name) + 1 if rng.random() < 0.8 else rng.choice([-1000, 2 ** 33, len(name) + 2000])
    data = name + b'\0' + b'\0' * (-(len(name) + 1) % BLOCK)
    raw[offset:offset] = header_block('././@LongLink', size, kind, rng) + data
    return 'GNU %s (%d bytes, size %d)' % (kind.decode(), len(name), size)


def duplicate(rng, raw, offset):
    start, blocks = rng.choice(header_offsets(raw) or [(0, 0)])
    copy = bytes(raw[start:start + BLOCK * (1 + blocks)])
    raw[offset:offset] = copy
    return 'copy of the header at %d' % start


def misname(rng, raw, offset):
    """A member renamed to a media file backup.json does not name: a correct result cannot hold it."""
    name = rng.choice([b'docs/stray.pdf', b'sidecars/stray.svg', b'docs/user_%s/x.pdf' % USER_ID.encode(),
                       b'sidecars/user_%s/s.svg' % USER_ID.encode()])
    raw[offset:offset + 100] = name.ljust(100, b'\0')
    raw[offset + 345:offset + 500] = b'\0' * 155  # no ustar name prefix
    return 'name = %r' % name


IN_PLACE = [(flip_byte, 3), (rewrite_number, 6), (shift_size, 2), (retype, 2), (misname, 1)]
INSERTIONS = [(insert_pax, 3), (insert_long_name, 2), (duplicate, 1)]


def weighted(rng, choices):
    return rng.choices([function for function, _weight in choices], [weight for _f, weight in choices])[0]


def mutate(seed, bases, zeros_gz):
    """(gzip bytes, description) of case seed: a base archive with 1 to 3 changes, maybe cut or spliced."""
    rng = random.Random(seed)
    label = rng.choice(sorted(bases))
    raw = bytearray(bases[label])
    done = [label]
    for _change in range(rng.choice([1, 1, 2, 3])):
        found = header_offsets(raw)
        if not found:
            break
        offset = rng.choice(found)[0]
        mutation = weighted(rng, IN_PLACE + INSERTIONS)
        done.append('@%d %s' % (offset, mutation(rng, raw, offset)))
        if mutation in dict(IN_PLACE) and rng.random() < 0.9:
            fix_checksum(raw, offset)
    roll = rng.random()
    if roll < 0.05:
        cut = rng.randrange(len(raw))
        done.append('cut at %d' % cut)
        return gzip.compress(bytes(raw[:cut]), 1), done
    if roll < 0.12:
        found = header_offsets(raw) or [(0, 0)]
        offset = rng.choice(found)[0]
        if rng.random() < 0.7:
            raw[offset + 124:offset + 136] = rng.choice([b'-0000000007\0', b'\xff' * 12, b'77777777777\0'])
            fix_checksum(raw, offset)
        done.append('64 MB of zeros after the header at %d (size %r)' % (offset, bytes(raw[offset + 124:offset + 136])))
        head, tail = bytes(raw[:offset + BLOCK]), bytes(raw[offset + BLOCK:])
        return gzip.compress(head, 1) + zeros_gz + gzip.compress(tail, 1), done
    return gzip.compress(bytes(raw), 1), done


def zeros_gzip(size):
    compressor = zlib.compressobj(1, zlib.DEFLATED, 31)
    chunk = b'\0' * (1 << 20)
    parts = [compressor.compress(chunk) for _chunk in range(size // len(chunk))]
    return b''.join(parts) + compressor.flush()


def case_seeds():
    rng = random.Random(BASE_SEED)
    return [int(REPLAY)] if REPLAY else [rng.getrandbits(40) for _case in range(CASES)]


# The worker and the verdicts.

class Worker:
    """The worker process; restarted after a case that killed or hung it."""

    def __init__(self, warm_up, without_checks=False):
        self.warm_up, self.without_checks = warm_up, without_checks
        self.process = None

    def start(self):
        env = dict(os.environ, PYTHONPATH=str(REPO / '.cache' / 'collections'))
        command = [sys.executable, str(WORKER), '--warm-up', str(self.warm_up)]
        self.errors = tempfile.TemporaryFile()  # a file, not a pipe: a full pipe would stall the worker
        self.process = subprocess.Popen(command + (['--without-checks'] if self.without_checks else []), env=env,
                                        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self.errors,
                                        text=True, bufsize=1)
        ready = self._answer(60)
        assert ready and ready.get('ready'), 'the fuzz worker did not start: %s' % self._stderr()

    def run(self, seed, path):
        if self.process is None:
            self.start()
        self.process.stdin.write(json.dumps({'seed': seed, 'path': str(path)}) + '\n')
        self.process.stdin.flush()
        answer = self._answer(CASE_TIMEOUT)
        if answer is None:
            alive = self.process.poll() is None
            self.stop()
            return {'seed': seed, 'outcome': 'hang' if alive else 'died',
                    'message': 'no answer within %d s' % CASE_TIMEOUT if alive else 'the worker died'}
        return answer

    def _answer(self, timeout):
        ready, _w, _x = select.select([self.process.stdout], [], [], timeout)
        line = self.process.stdout.readline() if ready else ''
        return json.loads(line) if line else None

    def _stderr(self):
        self.errors.seek(0)
        text = self.errors.read()[-2000:].decode('utf-8', 'replace')
        self.stop()
        return text

    def stop(self):
        if self.process is None:
            return
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait()
        self.process.stdin.close()
        self.process.stdout.close()
        self.errors.close()
        self.process = None


def verdict(answer, path):
    """None when the case ended in a clear refusal or a correct result within the limits, else why not."""
    if answer['outcome'] not in ('refused', 'result'):
        return '%s: %s' % (answer['outcome'], answer.get('traceback') or answer.get('message'))
    if answer['peak_rss'] > RSS_LIMIT:
        return 'peak RSS %.0f MB (limit %.0f MB)' % (answer['peak_rss'] / 2 ** 20, RSS_LIMIT / 2 ** 20)
    if answer['outcome'] == 'refused':
        return unclear_refusal(answer, path)
    return wrong_result(answer, path)


def unclear_refusal(answer, path):
    message, member = answer['message'], answer.get('member')
    if not message.strip():
        return 'refused with an empty message'
    if str(path) in message or (member is not None and (repr(member) in message or (member and member in message))):
        return None
    return 'the refusal names neither the archive nor the member: %r' % message


def wrong_result(answer, path):
    if 'listing_error' in answer:
        return 'archive_info accepted it, tarfile cannot read it: %s' % answer['listing_error']
    ours, theirs = answer['listings']['tar_reader'], answer['listings']['tarfile']
    if ours != theirs:
        differ = [(a, b) for a, b in zip(ours, theirs) if a != b][:1] or [(len(ours), len(theirs))]
        return 'tar_reader and tarfile read different members: %r' % (differ,)
    files = dict((name, (size, digest)) for name, kind, size, _link, digest in theirs
                 if kind in '07\0' and name.split('/')[0] in ('docs', 'sidecars'))
    counted = (answer['counts']['files'], answer['counts']['bytes'])
    if counted != (len(files), sum(size for size, _digest in files.values())):
        return 'archive_info counts %r, tarfile reads %d files of %d bytes' % (
            counted, len(files), sum(size for size, _digest in files.values()))
    return unnamed_media(theirs) or gnu_tar_disagrees(theirs, path)


def unnamed_media(listing):
    """A media file in an accepted archive that backup.json does not name (with its size): the base archives'
    backup.json names every file they hold, so a doctored one that adds, renames or resizes one must be refused."""
    docs = dict((path, len(data)) for _doc_id, _file_name, data, path, _sidecars in documents())
    folders = set('/'.join(path.split('/')[1:4]) for path in docs)
    for name, kind, size, _link, _digest in listing:
        if kind not in '07\0':
            continue
        top = name.split('/')[0]
        if (top == 'docs' and docs.get(name) != size) or (
                top == 'sidecars' and '/'.join(name.split('/')[1:4]) not in folders):
            return 'accepted %s (%d bytes), which backup.json does not name so' % (name, size)
    return None


def gnu_tar_disagrees(listing, path):
    """GNU tar extracts the regular files and symlinks tarfile lists, with the same contents."""
    if not GNU_TAR:
        return None
    target = Path(str(path) + '.extracted')
    target.mkdir()
    try:
        done = subprocess.run([GNU_TAR, '-xzf', str(path), '-C', str(target), '--no-same-owner', '-m'],
                              capture_output=True, text=True, timeout=CASE_TIMEOUT, check=False)
        if done.returncode != 0:
            return 'GNU tar cannot extract what archive_info accepted: %s' % done.stderr.strip()[-500:]
        # A name twice (a directory's copy, which archive_info allows: it creates no directories) is not
        # compared: which one lands on disk is up to the extracting program.
        twice = set(name for name, count in Counter(entry[0] for entry in listing).items() if count > 1)
        expected = dict((name, ('link', link) if kind == '2' else ('file', digest))
                        for name, kind, _size, link, digest in listing if kind in '027\0' and name not in twice)
        found = dict(item for item in extracted(target).items() if item[0] not in twice)
        return None if found == expected else 'GNU tar extracts other files: %r' % (
            sorted(set(found.items()) ^ set(expected.items()))[:4],)
    finally:
        shutil.rmtree(str(target), ignore_errors=True)


def extracted(root):
    found = {}
    for directory, dirs, names in os.walk(str(root)):
        for name in dirs + names:  # a symlink to a directory is among dirs (and not followed)
            path = os.path.join(directory, name)
            relative = os.path.relpath(path, str(root))
            if os.path.islink(path):
                found[relative] = ('link', os.readlink(path))
            elif os.path.isfile(path):
                with open(path, 'rb') as handle:
                    found[relative] = ('file', hashlib.sha256(handle.read()).hexdigest())
    return found


def gnu_tar():
    path = shutil.which('tar')
    if path and 'GNU tar' in subprocess.run([path, '--version'], capture_output=True, text=True, check=False).stdout:
        return path
    return None


GNU_TAR = gnu_tar()
REFUSAL_KIND = re.compile(r"'.*?'|\d+|/[^ ]*")


def refusal_kind(message):
    """A refusal's kind, for the summary: its message without names, numbers and paths."""
    inner = re.search(r'\((.*)\)', message)
    return REFUSAL_KIND.sub('_', inner.group(1) if inner else message)[:70]


@pytest.fixture(scope='module')
def bases(tmp_path_factory):
    archives = base_archives()
    warm_up = tmp_path_factory.mktemp('fuzz') / 'base.tar.gz'
    warm_up.write_bytes(gzip.compress(archives['ours-pax']))
    return archives, warm_up


def test_the_base_archives_are_read_whole(bases, tmp_path):
    archives, warm_up = bases
    worker = Worker(warm_up)
    try:
        for label, raw in sorted(archives.items()):
            path = tmp_path / ('%s.tar.gz' % label)
            path.write_bytes(gzip.compress(raw))
            answer = worker.run(label, path)
            assert answer['outcome'] == 'result', answer
            assert verdict(answer, path) is None
            assert answer['counts']['files'] == sum(1 + len(doc[4]) for doc in documents())
    finally:
        worker.stop()


def minus_seven(archives, path, data_gz):
    """The issue's archive: the manifest's size made -7, then data_gz (gzip) after its header."""
    raw = bytearray(archives['ours-pax'])
    offset = header_offsets(raw)[-1][0]  # the manifest's header
    raw[offset + 124:offset + 136] = b'-0000000007\0'
    fix_checksum(raw, offset)
    path.write_bytes(gzip.compress(bytes(raw[:offset + BLOCK]), 1) + data_gz)
    return path


def test_the_fuzz_catches_a_reader_without_the_number_door(bases, tmp_path):
    """The issue's archive (a size of -7, then 64 MB): the old int() reader blows the limit, ours refuses it.

    The 64 MB are random: the issue's zeros would now be stopped by gunzip's bound on the inflated size too,
    even in the old reader (test_zeros_after_a_negative_size_meet_the_inflate_bound_too)."""
    archives, warm_up = bases
    path = minus_seven(archives, tmp_path / 'minus-seven.tar.gz', gzip.compress(os.urandom(BOMB_BYTES), 1))
    for without_checks, failed in ((True, True), (False, False)):
        worker = Worker(warm_up, without_checks=without_checks)
        try:
            answer = worker.run('minus-seven', path)
        finally:
            worker.stop()
        assert (verdict(answer, path) is not None) == failed, answer
    assert answer['outcome'] == 'refused' and 'negative' in answer['message']


def test_zeros_after_a_negative_size_meet_the_inflate_bound_too(bases, tmp_path):
    """The issue's 0.5 MB archive inflating to 64 MB: a second line of defence stops it in the old reader too."""
    archives, warm_up = bases
    path = minus_seven(archives, tmp_path / 'minus-seven-zeros.tar.gz', zeros_gzip(BOMB_BYTES))
    worker = Worker(warm_up, without_checks=True)
    try:
        answer = worker.run('minus-seven-zeros', path)
    finally:
        worker.stop()
    assert verdict(answer, path) is None, answer
    assert answer['outcome'] == 'refused' and 'decompression bomb' in answer['message'], answer


def test_mutated_archives_end_in_a_clear_refusal_or_a_correct_result(bases, tmp_path):
    archives, warm_up = bases
    zeros_gz = zeros_gzip(BOMB_BYTES)
    worker = Worker(warm_up)
    outcomes, kinds, failures = Counter(), Counter(), []
    peak = slowest = 0
    start = time.monotonic()
    try:
        for seed in case_seeds():
            if time.monotonic() - start > SECONDS:
                break
            data, done = mutate(seed, archives, zeros_gz)
            path = tmp_path / ('case-%d.tar.gz' % seed)
            path.write_bytes(data)
            answer = worker.run(seed, path)
            outcomes[answer['outcome']] += 1
            peak, slowest = max(peak, answer.get('peak_rss', 0)), max(slowest, answer.get('seconds', 0))
            if answer['outcome'] == 'refused':
                kinds[refusal_kind(answer['message'])] += 1
            problem = verdict(answer, path)
            if problem:
                failures.append('case seed %d (%s): %s' % (seed, '; '.join(done), problem))
            if REPLAY:
                keep = REPO / 'tests' / 'output' / path.name
                keep.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(str(path), str(keep))
                print('\n%s\nkept in %s\n%s' % ('; '.join(done), keep, json.dumps(answer, indent=1)[:4000]))
            path.unlink()
    finally:
        worker.stop()
    cases = sum(outcomes.values())
    print('\nfuzz: %d cases (FUZZ_SEED=%d) in %.0f s: %d refused, %d read as tarfile%s reads them, %d failed; '
          'peak RSS at most %.1f MB, slowest case %.2f s' % (
              cases, BASE_SEED, time.monotonic() - start, outcomes['refused'], outcomes['result'],
              ' and GNU tar' if GNU_TAR else '', len(failures), peak / 2 ** 20, slowest))
    for kind, count in kinds.most_common(12):
        print('  %5d refused: %s' % (count, kind))
    assert cases >= min(CASES, 200), 'only %d cases ran in %d s: the machine is too slow for a useful fuzz' % (
        cases, SECONDS)
    assert not failures, '%d of %d cases failed (replay one: make fuzz FUZZ_REPLAY=<case seed>):\n%s' % (
        len(failures), cases, '\n'.join(failures[:15]))
