"""The staging directory, the journal and the recovery of interrupted restores (restore_journal.py), on a
SQLite database holding django_session, where a restore's commit token lives."""

import json
import os
import sqlite3

import pytest

from ansible_collections.papermerge.backup.plugins.module_utils.database import connect
from ansible_collections.papermerge.backup.plugins.module_utils.errors import PapermergeBackupError
from ansible_collections.papermerge.backup.plugins.module_utils.restore_journal import (
    COMMITTED_NAME, JOURNAL_NAME, Journal, Staging, insert_token, recover, token_committed)


# A document the running app made after the restore was killed, inside a folder the restore had moved in.
APP_DOCUMENT = '0f0e0d0c-0b0a-4908-8706-050403020100'
USER = 'user_' + 'ab' * 16


@pytest.fixture
def db(tmp_path):
    path = tmp_path / 'db.sqlite3'
    connection = sqlite3.connect(str(path))
    connection.execute('CREATE TABLE django_session (session_key varchar(40) NOT NULL PRIMARY KEY, '
                       'session_data text NOT NULL, expire_date datetime NOT NULL)')
    connection.execute('CREATE TABLE core_basetreenode (id char(32) NOT NULL PRIMARY KEY)')
    connection.execute("INSERT INTO core_basetreenode VALUES ('%s')" % APP_DOCUMENT.replace('-', ''))
    connection.commit()
    connection.close()
    database = connect({'engine': 'sqlite', 'path': str(path)})
    yield database
    database.close()


@pytest.fixture
def media(tmp_path):
    root = tmp_path / 'media'
    (root / 'docs' / 'user_a').mkdir(parents=True)
    (root / 'docs' / 'user_a' / 'mine.pdf').write_bytes(b'existing')
    return root


def interrupted(media, db, committed):
    """A restore killed after moving files in: a new tree, a file into a directory it made, its journal."""
    staging = Staging(str(media)).__enter__()
    journal = Journal(staging.path, '/backups/a.tar.gz', made_dirs=['sidecars', 'sidecars/user_a'],
                      moved_in=['docs/' + USER, 'sidecars/user_a/page.svg'])
    journal.write()
    os.makedirs(os.path.join(staging.path, 'docs'))  # what is still staged
    (media / 'docs' / USER / 'document_x').mkdir(parents=True)
    (media / 'docs' / USER / 'document_x' / 'new.pdf').write_bytes(b'restored')
    (media / 'sidecars' / 'user_a').mkdir(parents=True)
    (media / 'sidecars' / 'user_a' / 'page.svg').write_bytes(b'<svg/>')
    if committed:
        with db.write_transaction():
            insert_token(db, journal.token)
    return journal


def listing(root):
    return sorted(os.path.relpath(os.path.join(d, f), str(root)) for d, _s, fs in os.walk(str(root)) for f in fs)


def test_nothing_to_recover(media, db):
    assert recover(str(media), db) == []
    assert listing(media) == ['docs/user_a/mine.pdf']


def test_staging_without_journal_is_removed_with_a_warning(media, db):
    with Staging(str(media)) as staging:
        staging.keep = True
        (media / '.papermerge-restore' / '.backup.json').write_text('{"password": "hash"}')
    warnings = recover(str(media), db)
    assert len(warnings) == 1 and 'interrupted before it moved any file' in warnings[0]
    assert 'password hashes' in warnings[0]
    assert listing(media) == ['docs/user_a/mine.pdf']


def test_uncommitted_restore_is_undone_from_its_journal(media, db):
    interrupted(media, db, committed=False)
    warnings = recover(str(media), db)
    assert len(warnings) == 1 and 'undid the restore of /backups/a.tar.gz' in warnings[0]
    assert 'removed the 2 file(s) it had moved into the media root without rows' in warnings[0]
    assert listing(media) == ['docs/user_a/mine.pdf']
    assert sorted(os.listdir(str(media))) == ['docs']  # made dirs removed, the existing ones kept


def test_files_the_app_wrote_into_a_folder_the_undone_restore_moved_in_stay(media, db):
    interrupted(media, db, committed=False)
    upload = media / 'docs' / USER / ('document_' + APP_DOCUMENT) / 'v1' / 'upload.pdf'
    upload.parent.mkdir(parents=True)
    upload.write_bytes(b'a document uploaded since')
    assert 'removed the 2 file(s)' in recover(str(media), db)[0]
    assert listing(media) == ['docs/user_a/mine.pdf', os.path.relpath(str(upload), str(media))]


def test_committed_restore_keeps_its_files_and_loses_its_token(media, db):
    journal = interrupted(media, db, committed=True)
    warnings = recover(str(media), db)
    assert len(warnings) == 1 and 'interrupted after its commit' in warnings[0]
    assert listing(media) == ['docs/user_a/mine.pdf', 'docs/%s/document_x/new.pdf' % USER, 'sidecars/user_a/page.svg']
    assert not token_committed(db, journal.token)  # the token row is gone


def test_a_journal_marked_committed_needs_no_token(media, db):
    journal = interrupted(media, db, committed=False)
    journal.mark_committed()
    assert os.listdir(str(media / '.papermerge-restore')) == [COMMITTED_NAME, 'docs']
    assert 'interrupted after its commit' in recover(str(media), db)[0]
    assert 'docs/%s/document_x/new.pdf' % USER in listing(media)


@pytest.mark.parametrize('damage', ['not json', 'outside', 'bad token'])
def test_a_journal_that_cannot_be_trusted_changes_nothing(media, db, damage):
    journal = interrupted(media, db, committed=False)
    path = media / '.papermerge-restore' / JOURNAL_NAME
    content = json.loads(path.read_text())
    if damage == 'not json':
        path.write_text('{"format": 1, "tok')
    elif damage == 'outside':
        content['moved_in'].append('docs/../../outside')
        path.write_text(json.dumps(content))
    else:
        content['token'] = "x' OR 1=1 --"
        path.write_text(json.dumps(content))
    before = listing(media)
    with pytest.raises(PapermergeBackupError, match='cannot be read.*remove .* by hand'):
        recover(str(media), db)
    assert listing(media) == before
    assert token_committed(db, journal.token) is False


def test_staging_directories_of_older_versions_are_removed_at_once(media, db):
    legacy = media / '.papermerge-restore-abc123'
    legacy.mkdir()
    (legacy / '.backup.json').write_text('{}')
    warnings = recover(str(media), db)
    assert len(warnings) == 1 and '.papermerge-restore-abc123' in warnings[0]
    assert sorted(os.listdir(str(media))) == ['docs']


def test_a_journal_is_durable_before_anything_moves(tmp_path, monkeypatch):
    synced = []
    real_fsync = os.fsync
    monkeypatch.setattr(os, 'fsync', lambda fd: synced.append(os.fstat(fd).st_ino) or real_fsync(fd))
    media = tmp_path / 'media'
    media.mkdir()
    with Staging(str(media)) as staging:
        journal = Journal(staging.path, '/a.tar.gz', moved_in=['docs/x'])
        journal.write()
        path = media / '.papermerge-restore' / JOURNAL_NAME
        assert json.loads(path.read_text())['moved_in'] == ['docs/x']
        inodes = [os.stat(str(path)).st_ino, os.stat(staging.path).st_ino, os.stat(str(media)).st_ino]
        assert all(inode in synced for inode in inodes)
    assert not os.path.exists(staging.path)


def interrupted_replace(media, db, committed):
    """A replace killed after its moves: a file and a folder moved aside, the archive's file of a document the
    instance has (its row exists) moved in where the moved-aside file was, and one it lacked beside it."""
    document = 'docs/%s/document_%s' % (USER, APP_DOCUMENT)
    (media / document / 'v1').mkdir(parents=True)
    (media / document / 'v1' / 'a.pdf').write_bytes(b'the instance\'s version')
    (media / 'docs' / 'user_a' / 'gone').mkdir()
    (media / 'docs' / 'user_a' / 'gone' / 'x.txt').write_bytes(b'a folder the archive lacks')
    before = dict((name, (media / name).read_bytes()) for name in listing(media))
    staging = Staging(str(media)).__enter__()
    journal = Journal(staging.path, '/backups/a.tar.gz', moved_in=[document + '/v1/a.pdf', document + '/v1/b.pdf'],
                      moved_aside=[document + '/v1/a.pdf', 'docs/user_a/gone'])
    journal.write()
    for name in journal.content['moved_aside']:
        target = os.path.join(staging.path, 'aside', *name.split('/'))
        os.makedirs(os.path.dirname(target), exist_ok=True)
        os.rename(str(media / name), target)
    (media / document / 'v1' / 'a.pdf').write_bytes(b'the archive\'s version')
    (media / document / 'v1' / 'b.pdf').write_bytes(b'the archive\'s second file')
    if committed:
        with db.write_transaction():
            insert_token(db, journal.token)
    return before


def test_an_uncommitted_replace_puts_back_what_it_moved_aside_and_removes_what_it_moved_in(media, db):
    before = interrupted_replace(media, db, committed=False)
    warnings = recover(str(media), db)
    assert 'removed the 2 file(s)' in warnings[0], warnings
    # Named in moved_in, so removed although their document has a row (the instance's own).
    assert dict((name, (media / name).read_bytes()) for name in listing(media)) == before
    assert not (media / '.papermerge-restore').exists()


def test_a_committed_replace_keeps_the_archive_s_files_and_deletes_what_it_moved_aside(media, db):
    interrupted_replace(media, db, committed=True)
    recover(str(media), db)
    document = 'docs/%s/document_%s/v1/' % (USER, APP_DOCUMENT)
    assert listing(media) == ['docs/user_a/mine.pdf', document + 'a.pdf', document + 'b.pdf']
    assert (media / document / 'a.pdf').read_bytes() == b'the archive\'s version'
    assert not (media / '.papermerge-restore').exists()


def test_a_replace_killed_before_it_moved_anything_aside_leaves_the_instance_s_files(media, db):
    """The journal lists a file to move aside and the archive's to move in at the same path; killed before either
    move, the file there is the instance's own."""
    document = 'docs/%s/document_%s/v1/a.pdf' % (USER, APP_DOCUMENT)
    (media / document).parent.mkdir(parents=True)
    (media / document).write_bytes(b'the instance\'s version')
    before = dict((name, (media / name).read_bytes()) for name in listing(media))
    staging = Staging(str(media)).__enter__()
    Journal(staging.path, '/backups/a.tar.gz', moved_in=[document], moved_aside=[document]).write()
    assert 'removed the 0 file(s)' in recover(str(media), db)[0]
    assert dict((name, (media / name).read_bytes()) for name in listing(media)) == before
