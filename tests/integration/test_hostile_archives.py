# -*- coding: utf-8 -*-
# Copyright: papermerge.backup contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Hostile and damaged archives against papermerge_restore on a real, seeded Papermerge instance.

Every case must be refused with a message naming the cause, and leave the database, the media root and a
sentinel directory outside the media root exactly as they were.  The clean archive the cases are built from
restores (test_clean_archive_restores), so each refusal is caused by the one thing the case changes.
A restore that fails halfway through the rows, or at the commit after its files were moved into place,
must leave no rows and no files behind.
"""

import hashlib
import io
import json
import os
import tarfile
import uuid
from pathlib import Path

import pytest

from ansible_run import run_module
from file_tree import media_snapshot, tree_snapshot
from papermerge_host import assert_states_equal, create_instance

RESTORE = 'papermerge.backup.papermerge_restore'
MANIFEST_NAME = 'papermerge-backup-manifest.json'
USER_ID = str(uuid.UUID('5a1f0c3e-7d2b-4e8f-9a6c-1b2d3e4f5a6b'))
DOC_ID = str(uuid.UUID('6b2f0c3e-7d2b-4e8f-9a6c-1b2d3e4f5a6b'))
PDF = 'docs/user_%s/document_%s/v1/mallory.pdf' % (USER_ID, DOC_ID)
SVG = 'sidecars/user_%s/document_%s/v1/pages//000001/000001_ocr.svg' % (USER_ID, DOC_ID)
PDF_BYTES = b'%PDF-1.4 mallory was here\n'
SVG_BYTES = b'<svg xmlns="http://www.w3.org/2000/svg"/>'


def backup_json(version='2.1.5', file_name='mallory.pdf'):
    stamp = '2024-01-02T03:04:05.000006+00:00'
    return {
        'created': '02.01.2024-03:04:05', 'version': version,
        'users': [{
            'id': USER_ID, 'username': 'mallory', 'password': 'pbkdf2_sha256$320000$salt$hash=',
            'last_login': None, 'is_superuser': False, 'first_name': 'Mal', 'last_name': 'Lory',
            'email': 'mallory@example.org', 'is_staff': False, 'is_active': True, 'date_joined': stamp,
            'created_at': stamp, 'updated_at': stamp, 'groups': [], 'user_permissions': [],
            'tags': [{'name': 'loot', 'bg_color': '#ff0000', 'fg_color': '#ffffff', 'description': None,
                      'pinned': False}],
            'nodes': [
                {'breadcrumb': '.inbox/', 'ctype': 'folder', 'title': '.inbox', 'tags': [],
                 'created_at': stamp, 'updated_at': stamp},
                {'breadcrumb': '.home/', 'ctype': 'folder', 'title': '.home', 'tags': [],
                 'created_at': stamp, 'updated_at': stamp},
                {'breadcrumb': '.home/Stash/', 'ctype': 'folder', 'title': 'Stash', 'created_at': stamp,
                 'updated_at': stamp, 'tags': [{'name': 'loot', 'bg_color': '#ff0000', 'fg_color': '#ffffff',
                                                'description': None, 'pinned': False}]},
                {'id': DOC_ID, 'breadcrumb': '.home/Stash/mallory.pdf', 'ctype': 'document', 'title': 'mallory.pdf',
                 'lang': 'eng', 'ocr': True, 'ocr_status': 'succeeded', 'created_at': stamp, 'updated_at': stamp,
                 'tags': [], 'versions': [{
                     'number': 1, 'file_name': file_name, 'file_path': PDF, 'size': len(PDF_BYTES),
                     'page_count': 1, 'short_description': 'Original', 'text': 'loot', 'lang': 'eng',
                     'pages': [{'number': 1, 'page_count': 1, 'text': 'loot', 'lang': 'eng', 'file_path': SVG}]}]},
            ]}],
    }


def regular(name, data):
    info = tarfile.TarInfo(name)
    info.size = len(data)
    info.mode = 0o644
    return info, data


def special(name, kind, linkname='', mode=0o644):
    info = tarfile.TarInfo(name)
    info.type = kind
    info.linkname = linkname
    info.mode = mode
    return info, None


def clean_members(version='2.1.5', file_name='mallory.pdf'):
    return [
        regular('backup.json', json.dumps(backup_json(version, file_name)).encode()),
        regular(PDF, PDF_BYTES),
        regular(SVG, SVG_BYTES),
        special('mallory/.home/', tarfile.DIRTYPE, mode=0o755),
        special('mallory/.home/Stash/', tarfile.DIRTYPE, mode=0o755),
        special('mallory/.home/Stash/mallory.pdf', tarfile.SYMTYPE, '../../../' + PDF),
    ]


def manifest_for(members, corrupt=None):
    entries = {}
    for info, data in members:
        if info.isreg():
            name = '/'.join(part for part in info.name.split('/') if part)
            digest = hashlib.sha256(data).hexdigest()
            if name == corrupt:
                digest = hashlib.sha256(data + b'x').hexdigest()
            entries[name] = {'size': len(data), 'sha256': digest}
    document = {'format': 'papermerge.backup', 'format_version': 1, 'collection_version': '0.1.0',
                'papermerge_version': '2.1.5', 'created': '2024-01-02T03:04:05Z', 'engine': 'sqlite',
                'migrations': {}, 'counts': {}, 'members': entries, 'symlinks': {}}
    return regular(MANIFEST_NAME, json.dumps(document).encode())


def write_archive(path, members):
    with tarfile.open(str(path), 'w:gz') as tar:
        for info, data in members:
            tar.addfile(info, io.BytesIO(data) if data is not None else None)
    return path


@pytest.fixture(scope='module')
def victim(tmp_path_factory, papermerge_venv):
    """A seeded SQLite instance and a sentinel directory beside it; cases must change neither."""
    base = tmp_path_factory.mktemp('hostile')
    instance = create_instance(base / 'instance', papermerge_venv, seeded=True)
    sentinel = base / 'sentinel'
    sentinel.mkdir()
    (sentinel / 'keep.txt').write_text('untouched\n')
    instance.sentinel = sentinel
    instance.state_before = instance.state()
    instance.media_before = media_snapshot(instance.media_root)
    return instance


def hostile_cases(sentinel):
    """(id, members or raw bytes, expected message fragment)."""
    escape = os.path.relpath(str(sentinel), '/')
    link_dir = 'docs/user_%s/document_%s' % (USER_ID, DOC_ID)
    return [
        ('path-traversal', clean_members() + [regular('docs/../../../../../../../../%s/pwned' % escape, b'x')],
         "'..' components"),
        ('absolute-name', clean_members() + [regular('/%s/absolute' % escape, b'x')], 'absolute'),
        ('symlink-escape-then-file-through-it',
         [m for m in clean_members() if m[0].name not in (PDF,)]
         + [special(link_dir, tarfile.SYMTYPE, str(sentinel)), regular(link_dir + '/v1/mallory.pdf', PDF_BYTES)],
         'symlink'),
        ('user-folder-symlink-escape',
         clean_members() + [special('mallory/out', tarfile.SYMTYPE, '../' * 12 + escape)],
         'points outside the archive'),
        ('user-folder-symlink-escape-then-file',
         clean_members() + [special('mallory/out', tarfile.SYMTYPE, '../' * 12 + escape),
                            regular('mallory/out/pwned', b'x')],
         'belong under docs/'),
        ('hard-link-outside', clean_members() + [special(link_dir + '/v1/keep.txt', tarfile.LNKTYPE,
                                                         str(sentinel / 'keep.txt'))], 'hard link'),
        ('device-node', clean_members() + [special('docs/null', tarfile.CHRTYPE)], 'device'),
        ('fifo', clean_members() + [special('sidecars/fifo', tarfile.FIFOTYPE)], 'FIFO'),
        ('checksum-mismatch', clean_members() + [manifest_for(clean_members(), corrupt=PDF)],
         'does not match the manifest'),
        ('missing-backup-json', clean_members()[1:], 'no backup.json'),
        ('broken-json', [regular('backup.json', b'{"users": [{"username": ')] + clean_members()[1:],
         'not valid JSON'),
        ('newer-version', clean_members(version='3.0.0'), 'newer than this instance'),
        # A version row whose file_name leads out of the media root would make Papermerge serve that file.
        ('version-file-name-traversal', clean_members(file_name='../' * 12 + escape + '/keep.txt'),
         "'file_name'"),
    ]


CASE_IDS = [case[0] for case in hostile_cases(Path('/x'))]


@pytest.mark.parametrize('case_id', CASE_IDS)
def test_hostile_archive_is_refused_and_nothing_changes(victim, tmp_path, case_id):
    members, message = dict((c[0], c[1:]) for c in hostile_cases(victim.sentinel))[case_id]
    archive = write_archive(tmp_path / (case_id + '.tar.gz'), members)
    sentinel_before = tree_snapshot(victim.sentinel)
    result = run_module(RESTORE, dict(project_dir=str(victim.project_dir), src=str(archive)), python=victim.python)
    assert result['failed'], 'hostile archive %s was accepted: %s' % (case_id, result)
    assert message in result['msg'], result['msg']
    assert_unchanged(victim, sentinel_before)


def test_truncated_archive_is_refused_and_nothing_changes(victim, tmp_path):
    archive = write_archive(tmp_path / 'whole.tar.gz', clean_members())
    truncated = tmp_path / 'truncated.tar.gz'
    data = archive.read_bytes()
    truncated.write_bytes(data[:len(data) * 2 // 3])
    sentinel_before = tree_snapshot(victim.sentinel)
    result = run_module(RESTORE, dict(project_dir=str(victim.project_dir), src=str(truncated)), python=victim.python)
    assert result['failed']
    assert 'truncated or corrupt' in result['msg'], result['msg']
    assert_unchanged(victim, sentinel_before)


def test_newer_version_is_restored_when_allowed(make_instance, tmp_path):
    target = make_instance('sqlite')
    archive = write_archive(tmp_path / 'newer.tar.gz', clean_members(version='3.0.0'))
    result = run_module(RESTORE, dict(project_dir=str(target.project_dir), src=str(archive),
                                      allow_newer_version=True), python=target.python)
    assert not result['failed'], result.get('msg')
    assert result['changed'] and result['counts']['documents'] == 1


def assert_unchanged(instance, sentinel_before):
    assert tree_snapshot(instance.sentinel) == sentinel_before
    assert media_snapshot(instance.media_root) == instance.media_before, \
        'the media root changed (or a staging dir was left)'
    assert_states_equal(instance.state(), instance.state_before)


def test_clean_archive_restores(make_instance, tmp_path):
    """The base of every hostile case is a good archive: only the case's change makes it fail."""
    target = make_instance('sqlite')
    archive = write_archive(tmp_path / 'clean.tar.gz', clean_members() + [manifest_for(clean_members())])
    result = run_module(RESTORE, dict(project_dir=str(target.project_dir), src=str(archive)), python=target.python)
    assert not result['failed'], result.get('msg')
    assert result['verified'] is True
    assert result['counts'] == dict(users=1, groups=0, folders=3, documents=1, versions=1, pages=1, tags=1, files=2)
    state = target.state()
    mallory = [u for u in state['users'] if u['username'] == 'mallory'][0]
    assert mallory['id'] == USER_ID and mallory['home_folder']['path'] == '.home'
    assert mallory['date_joined'].startswith('2024-01-02T03:04:05.000006')
    assert [d['path'] for d in state['documents']] == ['.home/Stash/mallory.pdf']
    stash = [f for f in state['folders'] if f['path'] == '.home/Stash'][0]
    assert [t['name'] for t in stash['tags']] == ['loot']
    assert state['files'][PDF.replace('//', '/')] == hashlib.sha256(PDF_BYTES).hexdigest()


# Triggers make the database fail at a chosen point: during the page rows (halfway through the rows), or at
# the commit (a deferred foreign key violation, checked only then, after the files were moved into place).
FAIL_DURING_ROWS = ("CREATE TRIGGER test_fail BEFORE INSERT ON core_page "
                    "BEGIN SELECT RAISE(ABORT, 'forced failure halfway through the rows'); END;")
FAIL_AT_COMMIT = ("CREATE TRIGGER test_fail AFTER INSERT ON core_page BEGIN "
                  "INSERT INTO core_folder (basetreenode_ptr_id) VALUES ('00000000000000000000000000000000'); END;")


@pytest.mark.parametrize('trigger, message', [
    (FAIL_DURING_ROWS, ['forced failure', 'the 0 file(s) already moved']),
    (FAIL_AT_COMMIT, ['FOREIGN KEY', 'the 2 file(s) already moved into the media root were removed']),
], ids=['during-rows', 'at-commit-after-files-moved'])
def test_failure_leaves_no_rows_and_no_files(victim, tmp_path, trigger, message):
    import sqlite3

    archive = write_archive(tmp_path / 'clean.tar.gz', clean_members())
    sentinel_before = tree_snapshot(victim.sentinel)
    connection = sqlite3.connect(str(victim.sqlite_file))
    connection.execute(trigger)
    connection.commit()
    try:
        result = run_module(RESTORE, dict(project_dir=str(victim.project_dir), src=str(archive)),
                            python=victim.python)
    finally:
        connection.execute('DROP TRIGGER test_fail')
        connection.commit()
        connection.close()
    assert result['failed'], result
    for fragment in message:
        assert fragment in result['msg'], result['msg']
    assert_unchanged(victim, sentinel_before)


@pytest.mark.postgresql
def test_failure_halfway_on_postgresql_leaves_no_rows_and_no_files(make_instance, pg_cluster, tmp_path):
    target = make_instance('postgresql')
    before, media_before = target.state(), media_snapshot(target.media_root)
    archive = write_archive(tmp_path / 'clean.tar.gz', clean_members())
    name = target.database['name']
    pg_cluster.psql("CREATE FUNCTION test_fail() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
                    "RAISE EXCEPTION 'forced failure halfway through the rows'; END $$; "
                    "CREATE TRIGGER test_fail BEFORE INSERT ON core_page FOR EACH ROW EXECUTE FUNCTION test_fail();",
                    database=name)
    try:
        result = run_module(RESTORE, dict(project_dir=str(target.project_dir), src=str(archive)),
                            python=target.python)
    finally:
        pg_cluster.psql('DROP TRIGGER test_fail ON core_page; DROP FUNCTION test_fail();', database=name)
    assert result['failed'], result
    assert 'forced failure' in result['msg'] and 'rolled back' in result['msg'], result['msg']
    assert media_snapshot(target.media_root) == media_before
    assert_states_equal(target.state(), before)


def test_media_symlink_leading_outside_is_refused(make_instance, tmp_path):
    """A symlink already in the media root (docs -> elsewhere) would carry restored files outside it."""
    target = make_instance('sqlite')
    outside = tmp_path / 'outside'
    outside.mkdir()
    os.symlink(str(outside), str(target.media_root / 'docs'))
    before = target.state()
    archive = write_archive(tmp_path / 'clean.tar.gz', clean_members())
    result = run_module(RESTORE, dict(project_dir=str(target.project_dir), src=str(archive)), python=target.python)
    assert result['failed']
    assert 'resolves outside the media root' in result['msg'], result['msg']
    assert list(outside.iterdir()) == []
    assert_states_equal(target.state(), before)
