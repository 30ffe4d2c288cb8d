# -*- coding: utf-8 -*-
# Copyright: papermerge.backup contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Archives that lie about what they hold (issue 10, items 5 and 6), through the modules on real instances.

Each case starts from a real archive of one of the two producers, papermerge_backup's and Papermerge 2.1.5's own
`manage.py backup` of the seeded instance (or, for the field limits, the hostile suite's small archive), changed
as an attacker would change it (our manifest made again to match), and must be refused with a message naming the
cause and a small result, leaving the target instance as it was:
- backup.json values beyond Papermerge's column limits: a 20 MB user name (SQLite and PostgreSQL), one character
  more than Django's 150; and a 20 MB 'created', which papermerge_archive_info echoed.  The issue's 200 MB ones,
  in an archive of 200 KB, are refused sooner, as decompression bombs, while backup.json is inflated;
- gzip bombs: a 1 MB archive inflating to 1 GiB under docs/ that no row names, and one whose 1 GiB file is a
  version's file without a recorded size: nothing of it may be written;
- files that no row references, under docs/ and under sidecars/;
- a version file whose size differs from the one backup.json records.
The unchanged archives, rewritten the same way, restore (test_rewritten_archives_restore): each refusal comes from
the one thing its case changes.
"""

import hashlib
import io
import json
import tarfile
import threading
import time
import uuid
from pathlib import Path

import pytest

from ansible_run import run_module
from file_tree import media_snapshot
from papermerge_host import assert_states_equal

RESTORE = 'papermerge.backup.papermerge_restore'
BACKUP = 'papermerge.backup.papermerge_backup'
INFO = 'papermerge.backup.papermerge_archive_info'
MANIFEST_NAME = 'papermerge-backup-manifest.json'
HUGE = 200 * 1000 * 1000            # the 200 MB values: more than the archive may inflate to
LARGE = 20 * 1000 * 1000            # within what it may inflate to: refused by the field's bound
BOMB = 1 << 30                      # 1 GiB of zeros: about 1 MB compressed
RESULT_MAX = 20000                  # bytes of JSON: a refusal's result stays this small
PEAK_RSS_MAX = 200 * 1024 * 1024    # the module refusing a 200 MB value (it took 830 MB)
CHUNK = 1 << 20


# -- rewriting a real archive -----------------------------------------------------------------------------------

class Pieces(io.RawIOBase):
    """A readable stream of pieces: bytes, or (byte, count) for count copies of one byte, never held whole."""

    def __init__(self, pieces):
        super(Pieces, self).__init__()
        self.pieces = [piece if isinstance(piece, tuple) else (piece, 1) for piece in pieces]
        self.size = sum(len(data) * count for data, count in self.pieces)

    def readable(self):
        return True

    def read(self, size=-1):
        """size bytes, fewer only at the end (tarfile needs whole reads)."""
        size = self.size if size is None or size < 0 else size
        parts, wanted = [], size
        while wanted:
            buffer = bytearray(min(wanted, CHUNK))
            got = self.readinto(buffer)
            if not got:
                break
            parts.append(bytes(buffer[:got]))
            wanted -= got
        return b''.join(parts)

    def readinto(self, buffer):
        while self.pieces:
            data, count = self.pieces[0]
            if count == 0 or not data:
                self.pieces.pop(0)
                continue
            if len(data) == 1:
                taken = min(count, len(buffer))
                buffer[:taken] = data * taken
                self.pieces[0] = (data, count - taken)
            else:
                taken = min(len(data), len(buffer))
                buffer[:taken] = data[:taken]
                self.pieces[0] = (data[taken:], count)
            return taken
        return 0


def content(data):
    """A member's content as a fresh Pieces stream (data: bytes or a list of pieces)."""
    return Pieces(data if isinstance(data, list) else [data])


def read_members(archive):
    """[(TarInfo, bytes or None)] of a (small) real archive, in order."""
    members = []
    with tarfile.open(str(archive), 'r:gz') as tar:
        for info in tar:
            members.append((info, tar.extractfile(info).read() if info.isreg() else None))
    return members


def write_members(target, members):
    """Write [(TarInfo, data)] (data: bytes, pieces or None) as a .tar.gz."""
    with tarfile.open(str(target), 'w:gz', compresslevel=6, format=tarfile.PAX_FORMAT) as tar:
        for info, data in members:
            if info.isreg():
                stream = content(data)
                info.size = stream.size
                tar.addfile(info, stream)
            else:
                tar.addfile(info)
    return target


def manifest_for(document, members):
    """Our manifest (its header fields from document) listing members as they are now."""
    entries = {}
    for info, data in members:
        if info.isreg():
            digest, stream = hashlib.sha256(), content(data)
            for block in iter(lambda: stream.read(CHUNK), b''):
                digest.update(block)
            entries['/'.join(p for p in info.name.split('/') if p)] = {'size': stream.size,
                                                                       'sha256': digest.hexdigest()}
    return tarfile.TarInfo(MANIFEST_NAME), json.dumps(dict(document, members=entries)).encode()


def rewrite(source, target, change):
    """target: the archive source with change(members, backup) applied, as an attacker would make it.

    backup is backup.json's dict: change edits it in place (written back as JSON) or replaces backup.json's
    data with pieces of its own, and returns the new member list (or None to keep it).  Our manifest, when the
    archive has one, is made again to match the new members, and stays last.
    """
    members = read_members(source)
    manifest = [json.loads(data) for info, data in members if info.name == MANIFEST_NAME]
    members = [member for member in members if member[0].name != MANIFEST_NAME]
    backup = json.loads(next(data for info, data in members if info.name == 'backup.json'))
    members = change(members, backup) or members
    members = [(info, json.dumps(backup).encode() if info.name == 'backup.json' and isinstance(data, bytes)
                else data) for info, data in members]
    if manifest:
        members.append(manifest_for(manifest[0], members))
    return write_members(target, members)


def first_version(backup):
    """(user, document node, version) of the first document version in backup.json."""
    for user in backup['users']:
        for node in user['nodes']:
            if node['ctype'] == 'document' and node['versions']:
                return user, node, node['versions'][0]
    raise AssertionError('no document version in the archive')


def with_value(backup, path, value_bytes):
    """backup.json as pieces with the value at path (a list of keys) replaced by value_bytes (pieces)."""
    marker = '\u0000MARKER\u0000'
    target = backup
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = marker
    before, after = json.dumps(backup).encode().split(json.dumps(marker).encode())
    return [before + b'"'] + value_bytes + [b'"' + after]


# -- the instances and archives --------------------------------------------------------------------------------

@pytest.fixture(scope='module')
def archives(tmp_path_factory, seeded_sqlite):
    """{'ours': papermerge_backup's archive, 'own': `manage.py backup`'s} of the seeded instance."""
    directory = tmp_path_factory.mktemp('lying-sources')
    directory.chmod(0o700)
    result = run_module(BACKUP, dict(project_dir=str(seeded_sqlite.project_dir), dest=str(directory) + '/'),
                        python=seeded_sqlite.python)
    assert not result['failed'], result.get('msg')
    own = directory / 'own.tar.gz'
    seeded_sqlite.manage('backup', str(own))
    return {'ours': Path(result['archive']), 'own': own}


def restore(instance, archive):
    return run_module(RESTORE, dict(project_dir=str(instance.project_dir), src=str(archive)),
                      python=instance.python)


def assert_refused_and_unchanged(instance, archive, message):
    before, media_before = instance.state(), media_snapshot(instance.media_root)
    result = restore(instance, archive)
    assert result['failed'], 'the lying archive was restored: %s' % json.dumps(result)[:2000]
    assert message in result['msg'], result['msg'][:2000]
    assert len(json.dumps(result)) < RESULT_MAX, 'a result of %d bytes' % len(json.dumps(result))
    assert media_snapshot(instance.media_root) == media_before, 'the media root changed (or staging was left)'
    assert_states_equal(instance.state(), before)
    return result


PRODUCERS = ['ours', 'own']


@pytest.mark.parametrize('producer', PRODUCERS)
def test_rewritten_archives_restore(archives, make_instance, tmp_path, producer):
    archive = rewrite(archives[producer], tmp_path / 'same.tar.gz', lambda members, backup: None)
    result = restore(make_instance('sqlite'), archive)
    assert not result['failed'], result.get('msg')
    assert result['counts']['documents'] > 0


# -- backup.json values --------------------------------------------------------------------------------------

def long_username(length):
    def change(members, backup):
        folder = backup['users'][0]['username'] + '/'
        pieces = with_value(backup, ['users', 0, 'username'], [(b'u', length)])
        # The per-user folder would not match the new name: leave it out, so that only the name can be refused.
        return [(info, pieces if info.name == 'backup.json' else data) for info, data in members
                if not info.name.startswith(folder)]
    return change


USERNAME_REFUSED = "'username' is longer than 150 characters, the most Papermerge 2.1 stores there " \
                   "(column core_user.username)"
BOMB_REFUSED = 'refused as a decompression bomb'


@pytest.mark.parametrize('producer', PRODUCERS)
@pytest.mark.parametrize('length, message', [(LARGE, USERNAME_REFUSED), (HUGE, BOMB_REFUSED)], ids=['20MB', '200MB'])
def test_a_long_username_is_refused_on_sqlite(archives, make_instance, tmp_path, producer, length, message):
    archive = rewrite(archives[producer], tmp_path / 'long-username.tar.gz', long_username(length))
    assert archive.stat().st_size < 2 * 1000 * 1000
    assert_refused_and_unchanged(make_instance('sqlite'), archive, message)


@pytest.mark.postgresql
@pytest.mark.parametrize('producer', PRODUCERS)
def test_a_long_username_is_refused_on_postgresql(archives, make_instance, tmp_path, producer):
    archive = rewrite(archives[producer], tmp_path / 'long-username.tar.gz', long_username(LARGE))
    assert_refused_and_unchanged(make_instance('postgresql'), archive, USERNAME_REFUSED)


@pytest.mark.parametrize('length', [LARGE, HUGE], ids=['20MB', '200MB'])
def test_refusing_a_long_username_takes_little_memory(archives, make_instance, tmp_path, length):
    """The module's own process: the issue measured 830 MB of RSS for 200 MB."""
    archive = rewrite(archives['own'], tmp_path / 'long-username.tar.gz', long_username(length))
    target = make_instance('sqlite')
    script = (
        'import json, sys\n'
        'from ansible_collections.papermerge.backup.plugins.module_utils.errors import PapermergeBackupError\n'
        'from ansible_collections.papermerge.backup.plugins.module_utils.restore import run_restore\n'
        'try:\n'
        '    run_restore(dict(project_dir=sys.argv[1], src=sys.argv[2]))\n'
        '    message = None\n'
        'except PapermergeBackupError as error:\n'
        '    message = str(error)\n'
        # VmHWM, not getrusage's ru_maxrss: the kernel carries ru_maxrss over from the pytest worker that started
        # this process (fork and exec keep the larger of the two), so a busy worker's peak would be measured.
        'peak = [line for line in open("/proc/self/status") if line.startswith("VmHWM:")][0].split()[1]\n'
        'print(json.dumps(dict(message=message, peak=int(peak) * 1024)))\n')
    collections = Path(__file__).resolve().parents[2] / '.cache' / 'collections'
    env = {'PYTHONPATH': '%s:%s' % (collections, target.project_dir)}
    answer = json.loads(target.run([target.python, '-c', script, target.project_dir, archive],
                                   env=env).strip().splitlines()[-1])
    assert answer['message'] and ("'username' is longer than 150" in answer['message'] if length == LARGE
                                  else BOMB_REFUSED in answer['message'])
    assert answer['peak'] < PEAK_RSS_MAX, 'peak RSS %d MB' % (answer['peak'] >> 20)


def small_archive(tmp_path, username):
    """The hostile suite's clean archive (without its per-user folder) with another username."""
    from test_hostile_archives import PDF, PDF_BYTES, SVG, SVG_BYTES, backup_json, regular, write_archive
    data = backup_json()
    data['users'][0]['username'] = username
    members = [regular('backup.json', json.dumps(data).encode()), regular(PDF, PDF_BYTES), regular(SVG, SVG_BYTES)]
    return write_archive(tmp_path / ('user-%d.tar.gz' % len(username)), members)


@pytest.mark.parametrize('engine', ['sqlite', pytest.param('postgresql', marks=pytest.mark.postgresql)])
def test_usernames_up_to_djangos_150_characters_restore_and_longer_ones_are_refused(make_instance, tmp_path,
                                                                                    engine):
    target = make_instance(engine)
    longest = 'm' * 150
    result = restore(target, small_archive(tmp_path, longest))
    assert not result['failed'], result.get('msg')
    assert longest in [user['username'] for user in target.state()['users']]
    other = make_instance(engine)
    assert_refused_and_unchanged(other, small_archive(tmp_path, 'm' * 151),
                                 "at users[0]: 'username' is longer than 150 characters")


def long_created(length):
    def change(members, backup):
        pieces = with_value(backup, ['created'], [(b'c', length)])
        return [(info, pieces if info.name == 'backup.json' else data) for info, data in members]
    return change


@pytest.mark.parametrize('producer', PRODUCERS)
@pytest.mark.parametrize('length, message', [(LARGE, "'created' is longer than 64 characters"),
                                             (HUGE, BOMB_REFUSED)], ids=['20MB', '200MB'])
def test_a_long_created_is_neither_echoed_nor_restored(archives, make_instance, tmp_path, producer, length,
                                                       message):
    archive = rewrite(archives[producer], tmp_path / 'long-created.tar.gz', long_created(length))
    target = make_instance('sqlite')
    result = run_module(INFO, dict(path=str(archive), verify=True), python=target.python)
    assert result['failed'] and message in result['msg'], json.dumps(result)[:2000]
    assert len(json.dumps(result)) < RESULT_MAX
    assert_refused_and_unchanged(target, archive, message)


# -- gzip bombs ----------------------------------------------------------------------------------------------

class DiskWatch:
    """Samples the bytes below a directory every few milliseconds while a restore runs: the largest sum seen."""

    def __init__(self, root):
        self.root = Path(root)
        self.largest = 0
        self.done = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.done.set()
        self.thread.join()

    def _run(self):
        while not self.done.is_set():
            total = 0
            for path in self.root.rglob('*'):
                try:
                    total += path.lstat().st_size if path.is_file() else 0
                except OSError:
                    pass
            self.largest = max(self.largest, total)
            time.sleep(0.01)


def bomb_under_docs(members, backup):
    """1 GiB of zeros at a version file path of a document that backup.json does not have."""
    user = first_version(backup)[0]
    info = tarfile.TarInfo('docs/user_%s/document_%s/v1/bomb.pdf' % (user['id'], uuid.uuid4()))
    return members[:2] + [(info, [(b'\0', BOMB)])] + members[2:]


def bomb_as_a_version_file(members, backup):
    """A version's own file replaced by 1 GiB of zeros, and its recorded size by Papermerge's 0 ('unknown')."""
    user, node, version = first_version(backup)
    version['size'] = 0
    name = 'docs/user_%s/document_%s/v%d/%s' % (user['id'], node['id'], version['number'], version['file_name'])
    return [(info, [(b'\0', BOMB)] if info.name == name else data) for info, data in members]


@pytest.mark.parametrize('producer', PRODUCERS)
@pytest.mark.parametrize('change, message, written_max', [
    (bomb_under_docs, 'backup.json names no document version with this file', 1 << 20),
    (bomb_as_a_version_file, BOMB_REFUSED, 160 << 20),
], ids=['no-row-names-it', 'a-version-file-without-size'])
def test_a_gzip_bomb_is_refused_before_it_is_written(archives, make_instance, tmp_path, producer, change, message,
                                                     written_max):
    archive = rewrite(archives[producer], tmp_path / 'bomb.tar.gz', change)
    assert archive.stat().st_size < 2 * 1000 * 1000
    target = make_instance('sqlite')
    if producer == 'own' and change is bomb_under_docs:
        message = BOMB_REFUSED  # backup.json comes last: the inflated size stops it first
    if producer == 'own':
        written_max = 1 << 20  # files are staged only once backup.json has vouched for all of them
    start = time.monotonic()
    with DiskWatch(target.media_root) as watch:
        assert_refused_and_unchanged(target, archive, message)
    assert watch.largest < written_max, '%d MB written to the media root' % (watch.largest >> 20)
    assert time.monotonic() - start < 120


# -- files no row references, sizes that disagree ------------------------------------------------------------

def unreferenced(where):
    """A file beside the others that no version names: a document's that backup.json lacks under docs/, one in a
    document's folder but outside its versions' folders under sidecars/."""
    def change(members, backup):
        user, node = first_version(backup)[:2]
        name = {'docs': 'docs/user_%s/document_%s/v1/stray.pdf' % (user['id'], uuid.uuid4()),
                'sidecars': 'sidecars/user_%s/document_%s/stray.txt' % (user['id'], node['id'])}[where]
        return members + [(tarfile.TarInfo(name), b'not referenced by any row')]
    return change


@pytest.mark.parametrize('producer', PRODUCERS)
@pytest.mark.parametrize('where, message', [
    ('docs', 'backup.json names no document version with this file'),
    ('sidecars', 'backup.json names no document version whose sidecar folder holds it'),
])
def test_a_file_no_row_references_is_refused(archives, make_instance, tmp_path, producer, where, message):
    archive = rewrite(archives[producer], tmp_path / 'stray.tar.gz', unreferenced(where))
    assert_refused_and_unchanged(make_instance('sqlite'), archive, message)


def size_off_by_one(members, backup):
    version = first_version(backup)[2]
    assert version['size'] > 0
    version['size'] += 1


@pytest.mark.parametrize('producer', PRODUCERS)
def test_a_version_file_of_another_size_than_backup_json_records_is_refused(archives, make_instance, tmp_path,
                                                                            producer):
    archive = rewrite(archives[producer], tmp_path / 'size.tar.gz', size_off_by_one)
    assert_refused_and_unchanged(make_instance('sqlite'), archive, 'but backup.json records')
