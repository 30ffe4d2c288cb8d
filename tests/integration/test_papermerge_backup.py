# -*- coding: utf-8 -*-
"""papermerge_backup on real Papermerge 2.1.5 instances (SQLite and PostgreSQL), run through Ansible.

Covers issue 3's "Done when": the archive's docs/ and sidecars/ equal the media root file for file, a
directory member per folder and a symlink per document resolving to its latest version, mode 0600;
Papermerge's own `manage.py restore` accepts the archive; clear failures that leave no partial archive;
idempotence and check mode.
"""

import fcntl
import hashlib
import json
import os
import posixpath
import shutil
import stat
import subprocess
import tarfile
from contextlib import contextmanager

import pytest

from ansible_run import run_module
from papermerge_host import assert_states_equal, without_keys
from pg_cluster import free_port

FQCN = 'papermerge.backup.papermerge_backup'
SYSTEM_PYTHON_WITHOUT_DRIVER = '/usr/bin/python3'
# What Papermerge 2.1.5's own restore does not carry over (it regenerates them, or drops them).
LOST_BY_PAPERMERGE_RESTORE = ('id', 'created_at', 'updated_at', 'norm_doc_title', 'norm_folder_title',
                              'norm_breadcrump', 'norm_text', 'image', 'groups', 'user_permissions',
                              'home_folder', 'inbox_folder', 'slug', 'preferences')


def backup(instance, dest, check=False, python=None, **options):
    args = dict(project_dir=str(instance.project_dir), dest=str(dest), label='test')
    args.update(options)
    return run_module(FQCN, args, python=python or instance.python, check=check)


def sha256_of(path):
    with open(path, 'rb') as handle:
        return hashlib.sha256(handle.read()).hexdigest()


def media_files(media_root):
    files = {}
    for folder in ('docs', 'sidecars'):
        for directory, _dirs, names in os.walk(os.path.join(str(media_root), folder)):
            for name in names:
                path = os.path.join(directory, name)
                files[os.path.relpath(path, str(media_root))] = sha256_of(path)
    return files


def read_archive(path):
    """(members in order, {file member name: sha256}, backup.json dict, manifest dict)."""
    files, contents = {}, {}
    with tarfile.open(path, 'r:gz') as tar:
        members = tar.getmembers()
        for member in members:
            if member.isfile():
                data = tar.extractfile(member).read()
                files[member.name] = hashlib.sha256(data).hexdigest()
                if member.name in ('backup.json', 'papermerge-backup-manifest.json'):
                    contents[member.name] = json.loads(data.decode('utf-8'))
    return members, files, contents['backup.json'], contents['papermerge-backup-manifest.json']


def listing(directory):
    return sorted(os.listdir(str(directory)))


def a_version_sidecar_folder(instance):
    """The sidecar folder of a document version (sidecars/user_<id>/document_<id>/v<N>) of the instance: a file
    there belongs to that version, so the backup archives it (and the restore takes it)."""
    name = sorted(name for name in media_files(instance.media_root) if name.startswith('sidecars/'))[0]
    return os.path.join(str(instance.media_root), *name.split('/')[:4])


@pytest.fixture
def dest(tmp_path):
    path = tmp_path / 'backups'
    path.mkdir(mode=0o700)
    return path


# --- the archive --------------------------------------------------------------------------------------------

def test_archive_holds_media_tree_and_database(seeded_instance, dest):
    result = backup(seeded_instance, str(dest) + '/')
    assert not result['failed'], result['msg']
    assert result['changed'] and result['reused'] is False and 'skipped' not in result
    archive = result['archive']
    assert os.path.dirname(archive) == str(dest)
    assert os.path.basename(archive).startswith('papermerge-test-') and archive.endswith('-2.1.5.tar.gz')
    assert stat.S_IMODE(os.stat(archive).st_mode) == 0o600
    assert result['sha256'] == sha256_of(archive) and result['size'] == os.path.getsize(archive)
    with open(archive + '.sha256') as handle:
        assert handle.read() == '%s  %s\n' % (result['sha256'], os.path.basename(archive))

    members, files, backup_json, manifest = read_archive(archive)
    assert members[0].name == 'backup.json'
    assert members[-1].name == 'papermerge-backup-manifest.json'
    media = media_files(seeded_instance.media_root)
    assert {name: digest for name, digest in files.items() if name.startswith(('docs/', 'sidecars/'))} == media
    # every file member is in the manifest with its size and checksum
    assert set(manifest['members']) == set(files) - {'papermerge-backup-manifest.json'}
    assert all(manifest['members'][name]['sha256'] == digest for name, digest in manifest['members'].items()
               for digest in [files[name]])
    assert manifest['engine'] == seeded_instance.engine and manifest['papermerge_version'] == '2.1.5'

    state = seeded_instance.state()
    check_folder_tree(members, files, state)
    assert result['counts']['documents'] == len(state['documents'])
    assert result['counts']['folders'] == len(state['folders'])
    assert result['counts']['files'] == len(media) and result['missing_files'] == []
    check_backup_json(backup_json, state)


def check_folder_tree(members, files, state):
    by_name = dict((m.name, m) for m in members)
    users = dict((u['username'], u) for u in state['users'])
    for folder in state['folders']:
        member = by_name.get('%s/%s' % (folder['user'], folder['path']))
        assert member is not None and member.isdir(), folder
    for document in state['documents']:
        name = '%s/%s' % (document['user'], document['path'])
        member = by_name.get(name)
        assert member is not None and member.issym(), name
        latest = max(document['versions'], key=lambda v: v['number'])
        expected = 'docs/user_%s/document_%s/v%d/%s' % (users[document['user']]['id'], document['id'],
                                                        latest['number'], latest['file_name'])
        assert not member.linkname.startswith('/')
        assert posixpath.normpath(posixpath.join(posixpath.dirname(name), member.linkname)) == expected
        assert expected in files


def check_backup_json(data, state):
    assert data['version'] == '2.1.5'
    users = dict((u['username'], u) for u in data['users'])
    assert sorted(users) == sorted(u['username'] for u in state['users'])
    for user in state['users']:
        dumped = users[user['username']]
        assert dumped['id'] == user['id'] and dumped['password'] == user['password']
        assert dumped['group_names'] == user['groups']
        assert dict(('%s__%s' % (p['section'], p['name']), p['raw_value']) for p in dumped['preferences']) == \
            user['preferences']
    documents = [n for u in data['users'] for n in u['nodes'] if n['ctype'] == 'document']
    folders = [n for u in data['users'] for n in u['nodes'] if n['ctype'] == 'folder']
    assert all(f['breadcrumb'].endswith('/') for f in folders)
    assert len(documents) == len(state['documents']) and len(folders) == len(state['folders'])
    pages = sum(len(v['pages']) for d in documents for v in d['versions'])
    assert pages == state['counts']['pages']


# --- interoperability ---------------------------------------------------------------------------------------

def test_papermerge_own_restore_accepts_the_archive(seeded_sqlite, make_instance, dest):
    result = backup(seeded_sqlite, dest)
    assert not result['failed'], result['msg']
    target = make_instance('sqlite')
    target.manage('restore', result['archive'])

    source_state, restored_state = seeded_sqlite.state(), target.state()
    # Papermerge's restore keeps users (with their ids and password hashes) and documents (with their ids);
    # it regenerates the other ids and drops groups, timestamps and the norm_* page fields.
    assert [(u['username'], u['id']) for u in restored_state['users']] == \
        [(u['username'], u['id']) for u in source_state['users']]
    assert [(d['user'], d['path'], d['id']) for d in restored_state['documents']] == \
        [(d['user'], d['path'], d['id']) for d in source_state['documents']]
    for state in (source_state, restored_state):
        state['counts'].pop('groups')
    assert_states_equal(without_keys(source_state, LOST_BY_PAPERMERGE_RESTORE),
                        without_keys(restored_state, LOST_BY_PAPERMERGE_RESTORE))
    assert restored_state['files'] == source_state['files']  # media, byte for byte


# --- idempotence and check mode -----------------------------------------------------------------------------

def test_check_mode_then_backup_then_skip_then_change(make_instance, dest):
    instance = make_instance('sqlite', seeded=True)
    planned = backup(instance, dest, check=True)
    assert not planned['failed'], planned['msg']
    assert planned['changed'] and planned['estimated_size'] > 0 and 'sha256' not in planned
    assert listing(dest) == []  # not even the lock file

    first = backup(instance, dest)
    assert first['changed'] and first['reused'] is False and 'skipped' not in first
    second = backup(instance, dest)
    assert not second['changed'] and second['reused'] and 'skipped' not in second
    assert (second['archive'], second['sha256']) == (first['archive'], first['sha256'])
    assert backup(instance, dest, check=True)['changed'] is False

    extra = os.path.join(a_version_sidecar_folder(instance), 'extra.txt')
    with open(extra, 'w') as handle:
        handle.write('a new sidecar')
    third = backup(instance, dest)
    assert third['changed'] and third['archive'] != first['archive']
    assert os.path.relpath(extra, str(instance.media_root)) in read_archive(third['archive'])[1]
    archives = [n for n in listing(dest) if n.endswith('.tar.gz')]
    assert len(archives) == 2


def test_files_no_row_references_are_left_out_with_a_warning(make_instance, dest):
    # A restore refuses files no row references (member_rules): the backup never puts them in an archive.
    instance = make_instance('sqlite', seeded=True)
    strays = ['docs/stray.pdf', 'docs/user_%s/document_x/v1/a.pdf' % ('0' * 32), 'sidecars/extra.txt']
    for name in strays:
        path = os.path.join(str(instance.media_root), *name.split('/'))
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, 'w') as handle:
            handle.write('no row references me')
    result = backup(instance, dest)
    assert not result['failed'], result['msg']
    names = read_archive(result['archive'])[1]
    assert not set(strays) & set(names)
    assert [w for w in result['warnings'] if '3 file(s) in the media root belong to no document version' in w
            and 'docs/stray.pdf' in w], result['warnings']
    assert result['counts']['files'] == len(media_files(instance.media_root)) - 3


def test_a_version_file_changed_behind_papermerge_gets_its_own_size_and_restores(make_instance, dest):
    # The restore holds every version file to the size backup.json records: the archive records the file's.
    instance = make_instance('sqlite', seeded=True)
    name = sorted(name for name in media_files(instance.media_root) if name.startswith('docs/'))[0]
    path = os.path.join(str(instance.media_root), *name.split('/'))
    recorded = os.path.getsize(path)
    with open(path, 'ab') as handle:
        handle.write(b'appended behind Papermerge')
    result = backup(instance, dest)
    assert not result['failed'], result['msg']
    assert [w for w in result['warnings'] if 'the database records %d bytes for %s' % (recorded, name) in w]
    versions = [version for user in read_archive(result['archive'])[2]['users'] for node in user['nodes']
                for version in node.get('versions', []) if version['file_path'] == name]
    assert [version['size'] for version in versions] == [os.path.getsize(path)]
    target = make_instance('sqlite')
    restored = run_module('papermerge.backup.papermerge_restore',
                          dict(project_dir=str(target.project_dir), src=result['archive']), python=target.python)
    assert not restored['failed'], restored['msg']


def test_missing_files_are_listed_and_strict_fails(make_instance, dest):
    instance = make_instance('sqlite', seeded=True)
    state = instance.state()
    victim = sorted(name for name in state['files'] if name.startswith('docs/'))[0]
    os.remove(os.path.join(str(instance.media_root), victim))

    strict = backup(instance, dest, strict=True)
    assert strict['failed'] and victim in strict['msg'] and 'strict' in strict['msg']
    assert listing(dest) == ['.papermerge-backup.lock']

    lenient = backup(instance, dest)
    assert not lenient['failed'], lenient['msg']
    assert lenient['missing_files'] == [victim]


# --- failures -----------------------------------------------------------------------------------------------

def assert_nothing_written(directory):
    assert [n for n in listing(directory) if n != '.papermerge-backup.lock'] == []


@pytest.mark.postgresql
def test_unreachable_database(seeded_postgresql, dest):
    result = backup(seeded_postgresql, dest, database=dict(port=free_port()))
    assert result['failed']
    assert 'cannot connect' in result['msg'] and 'not reachable' in result['msg']
    assert_nothing_written(dest)


@pytest.mark.postgresql
def test_wrong_password(seeded_postgresql, dest):
    result = backup(seeded_postgresql, dest, database=dict(password='not-the-password'))
    assert result['failed']
    assert 'password was refused' in result['msg']
    assert 'not-the-password' not in json.dumps(result)
    assert_nothing_written(dest)


@pytest.mark.postgresql
def test_missing_driver(seeded_postgresql, dest):
    result = backup(seeded_postgresql, dest, python=SYSTEM_PYTHON_WITHOUT_DRIVER, papermerge_version='2.1.5')
    assert result['failed']
    assert 'no PostgreSQL driver' in result['msg'] and 'psycopg2' in result['msg']
    assert 'ansible_python_interpreter' in result['msg']
    assert_nothing_written(dest)


@pytest.mark.postgresql
def test_unmigrated_postgresql_database(make_instance, dest):
    instance = make_instance('postgresql', migrated=False)
    result = backup(instance, dest)
    assert result['failed']
    assert 'not migrated' in result['msg'] and 'migrate' in result['msg']
    assert_nothing_written(dest)


def test_unmigrated_sqlite_database(make_instance, dest):
    instance = make_instance('sqlite', migrated=False)
    instance.sqlite_file.touch()  # an empty database file, as a first `manage.py check` leaves it
    result = backup(instance, dest)
    assert result['failed'] and 'not migrated' in result['msg']
    assert_nothing_written(dest)


@contextmanager
def mounted_tmpfs(path, options):
    subprocess.run(['mount', '-t', 'tmpfs', '-o', options, 'tmpfs', str(path)], check=True)
    try:
        yield path
    finally:
        subprocess.run(['umount', str(path)], check=True)


needs_root = pytest.mark.skipif(os.geteuid() != 0, reason='mounting a tmpfs needs root')


@needs_root
def test_unwritable_destination(seeded_sqlite, tmp_path):
    target = tmp_path / 'readonly'
    target.mkdir()
    with mounted_tmpfs(target, 'ro,size=1m'):
        result = backup(seeded_sqlite, target)
        assert result['failed'] and 'must be writable' in result['msg']
        assert listing(target) == []


@needs_root
def test_full_filesystem_leaves_no_partial_archive(make_instance, tmp_path):
    instance = make_instance('sqlite', seeded=True)
    with open(os.path.join(a_version_sidecar_folder(instance), 'big.jpg'), 'wb') as handle:
        handle.write(os.urandom(2 * 1024 * 1024))
    target = tmp_path / 'small'
    target.mkdir()
    with mounted_tmpfs(target, 'size=1m,mode=0700'):
        old = target / 'papermerge-test-20200101T000000Z-2.1.5.tar.gz'
        old.write_bytes(b'an older archive')
        result = backup(instance, target)
        assert result['failed'] and 'no space left' in result['msg']
        assert listing(target) == ['.papermerge-backup.lock', old.name]
        assert old.read_bytes() == b'an older archive'


def test_second_backup_into_a_locked_directory_waits_then_fails(seeded_sqlite, dest):
    with open(str(dest / '.papermerge-backup.lock'), 'w') as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        result = backup(seeded_sqlite, dest, lock_timeout=1)
    assert result['failed'] and 'another backup is writing' in result['msg']
    assert_nothing_written(dest)


def test_missing_destination_directory(seeded_sqlite, tmp_path):
    result = backup(seeded_sqlite, str(tmp_path / 'nope') + '/')
    assert result['failed'] and 'does not exist' in result['msg']
    assert not os.path.exists(str(tmp_path / 'nope'))


def test_explicit_file_destination_and_its_skip(seeded_sqlite, dest):
    path = dest / 'nightly.tar.gz'
    first = backup(seeded_sqlite, path)
    assert first['changed'] and first['archive'] == str(path)
    second = backup(seeded_sqlite, path)
    assert second['reused'] and not second['changed'] and 'skipped' not in second
    shutil.copy(str(path), str(dest / 'copy'))  # the archive is a regular, readable tar.gz
    assert read_archive(str(dest / 'copy'))[0][0].name == 'backup.json'


@pytest.mark.postgresql
def test_settings_from_environment_win_and_stay_secret(make_instance, dest):
    instance = make_instance('postgresql')
    password = instance.database['password']
    toml = instance.config_file.read_text(encoding='utf-8')
    instance.config_file.write_text(toml.replace(password, 'wrong-in-the-file'), encoding='utf-8')
    assert backup(instance, dest)['failed']  # the file alone no longer works
    # The module's own environment (a container's, say) wins over the file and is never shown.
    result = run_module(FQCN, dict(project_dir=str(instance.project_dir), dest=str(dest), label='test'),
                        python=instance.python, task_environment={'PAPERMERGE__DATABASE__PASSWORD': password})
    assert not result['failed'], result['msg']
    assert 'environment PAPERMERGE__DATABASE__PASSWORD' in result['instance']['config_sources']
    assert password not in json.dumps(result)
    # So does the database.password option, the way to hand the module a password.
    result = backup(instance, dest, database={'password': password}, skip_unchanged=False)
    assert not result['failed'], result['msg']
    assert 'option database.password' in result['instance']['config_sources']
    assert password not in json.dumps(result)


def test_plain_environment_values_do_not_mask_the_results(seeded_sqlite, dest):
    # Ansible masks every no_log value wherever it appears in a result, substrings included: a user named
    # "papermerge" in the environment must not turn the archive's path into "********-test-...".
    secret = 's3cr3t-k3y-value'
    result = backup(seeded_sqlite, dest, environment={'PAPERMERGE__DATABASE__USER': 'papermerge',
                                                      'PAPERMERGE__DATABASE__PORT': '5'},
                    database={'password': secret})
    assert not result['failed'], result['msg']
    assert os.path.basename(result['archive']).startswith('papermerge-test-'), result['archive']
    assert result['sha256'] == sha256_of(result['archive'])
    assert result['invocation']['module_args']['environment']['PAPERMERGE__DATABASE__USER'] == 'papermerge'
    assert secret not in json.dumps(result)


@pytest.mark.parametrize('name', ['PAPERMERGE__DATABASE__PASSWORD', 'PAPERMERGE__MAIN__SECRET_KEY'])
def test_secrets_in_the_environment_option_are_refused_before_anything_is_written(seeded_sqlite, dest, name):
    # environment is not no_log (see above): a secret there would be logged, so it is refused with directions.
    result = backup(seeded_sqlite, dest, environment={name: 's3cr3t-value'})
    assert result['failed'] and name in result['msg'] and 'database.password' in result['msg'], result['msg']
    assert 's3cr3t-value' not in result['msg']
    assert listing(dest) == []


@pytest.mark.parametrize('option, value, message', [
    ('compression_level', 10, 'between 0 and 9'),
    ('threads', 0, 'threads must be 1 or more'),
])
def test_out_of_range_numbers_are_refused_before_anything_is_written(seeded_sqlite, dest, option, value, message):
    result = backup(seeded_sqlite, dest, **{option: value})
    assert result['failed'] and message in result['msg'], result.get('msg')
    assert listing(dest) == []


def test_temporary_files_of_a_killed_backup_are_removed(seeded_sqlite, dest):
    leftover = dest / '.papermerge-backup-papermerge-test-20200101T000000Z-2.1.5.tar.gz.x1y2.tmp'
    leftover.write_bytes(b'half an archive')
    result = backup(seeded_sqlite, dest)
    assert not result['failed'], result['msg']
    assert not leftover.exists()
    assert any(leftover.name in warning for warning in result.get('warnings', [])), result.get('warnings')
    assert sorted(listing(dest)) == sorted(['.papermerge-backup.lock', os.path.basename(result['archive']),
                                            os.path.basename(result['archive']) + '.sha256'])
