# -*- coding: utf-8 -*-
"""Database access without Django (SQLite here; PostgreSQL is covered by the integration tests), the schema
check, and the helpers of the backup.json dump."""

import sqlite3
import threading
import uuid

import pytest

from ansible_collections.papermerge.backup.plugins.module_utils import backup_dump, schema
from ansible_collections.papermerge.backup.plugins.module_utils.database import connect, normalize_uuid
from ansible_collections.papermerge.backup.plugins.module_utils.errors import PapermergeBackupError


@pytest.fixture
def sqlite_file(tmp_path):
    path = tmp_path / 'db.sqlite3'
    connection = sqlite3.connect(str(path))
    connection.execute('CREATE TABLE t (id char(32) PRIMARY KEY, n integer, s text)')
    connection.executemany('INSERT INTO t VALUES (?, ?, ?)',
                           [(uuid.UUID(int=i).hex, i, '100%% %d' % i) for i in range(2500)])
    connection.commit()
    connection.close()
    return path


def test_missing_sqlite_file_says_what_to_do(tmp_path):
    with pytest.raises(PapermergeBackupError, match='does not exist.*migrate'):
        connect({'engine': 'sqlite', 'path': str(tmp_path / 'nope.sqlite3')})


def test_placeholders_and_streaming(sqlite_file):
    db = connect({'engine': 'sqlite', 'path': str(sqlite_file)}, read_only=True)
    with db.read_snapshot():
        rows = list(db.iter_rows('SELECT id, n FROM t WHERE n >= %s ORDER BY n', (10,), batch_size=100))
        assert len(rows) == 2490 and rows[0] == {'id': uuid.UUID(int=10).hex, 'n': 10}
        assert db.scalar('SELECT count(*) FROM t WHERE s LIKE %s', ('100%%%%%',)) == 2500
        assert db.execute('SELECT n FROM t WHERE id = %s', (db.uuid_param(uuid.UUID(int=7)),)) == [{'n': 7}]
    assert db.engine == 'sqlite' and 't' in db.table_names()
    db.close()


def test_snapshot_does_not_see_later_commits(sqlite_file):
    db = connect({'engine': 'sqlite', 'path': str(sqlite_file)}, read_only=True)
    with db.read_snapshot():
        before = db.scalar('SELECT count(*) FROM t')

        def write():  # another connection, as Papermerge would be; WAL lets it commit beside our reader
            other = sqlite3.connect(str(sqlite_file), timeout=1)
            try:
                other.execute('INSERT INTO t VALUES (?, 1, ?)', (uuid.uuid4().hex, 'new'))
                other.commit()
            except sqlite3.OperationalError:
                pass  # rollback-journal mode: the writer waits for our snapshot, which is just as consistent
            other.close()

        worker = threading.Thread(target=write)
        worker.start()
        worker.join()
        assert db.scalar('SELECT count(*) FROM t') == before
    db.close()


def test_write_transaction_rolls_back_on_error(sqlite_file):
    db = connect({'engine': 'sqlite', 'path': str(sqlite_file)})
    with pytest.raises(RuntimeError):
        with db.write_transaction():
            db.execute('DELETE FROM t')
            raise RuntimeError('boom')
    assert db.scalar('SELECT count(*) FROM t') == 2500
    with db.write_transaction():
        db.executemany('DELETE FROM t WHERE n = %s', [(1,), (2,)])
    assert db.scalar('SELECT count(*) FROM t') == 2498
    db.close()


def test_query_errors_name_the_database(sqlite_file):
    db = connect({'engine': 'sqlite', 'path': str(sqlite_file)})
    with pytest.raises(PapermergeBackupError, match='database query failed on SQLite database'):
        db.execute('SELECT nope FROM t')
    db.close()


def test_unmigrated_database_is_refused(sqlite_file):
    db = connect({'engine': 'sqlite', 'path': str(sqlite_file)})
    with pytest.raises(PapermergeBackupError, match='not migrated.*migrate role'):
        schema.check_schema(db)
    db.close()


def test_unknown_and_pending_migrations():
    applied = dict((app, list(names)) for app, names in schema.KNOWN_MIGRATIONS.items())
    assert schema.unknown_migrations(applied) == [] and schema.pending_migrations(applied) == []
    applied['core'].append('0010_from_a_newer_papermerge')
    assert schema.unknown_migrations(applied) == ['core.0010_from_a_newer_papermerge']
    del applied['core'][-2:]
    assert schema.pending_migrations(applied) == ['core.0009_remove_basetreenode_unique title per parent_and_more']


@pytest.mark.parametrize('value, expected', [
    ('1a606e93b39c439ab8dd8e981cb4d54b', '1a606e93-b39c-439a-b8dd-8e981cb4d54b'),
    (uuid.UUID('1a606e93-b39c-439a-b8dd-8e981cb4d54b'), '1a606e93-b39c-439a-b8dd-8e981cb4d54b'),
    ('1A606E93-B39C-439A-B8DD-8E981CB4D54B', '1a606e93-b39c-439a-b8dd-8e981cb4d54b'),
    (None, None),
])
def test_uuids_from_either_engine_normalise_alike(value, expected):
    assert normalize_uuid(value) == expected


def test_merge_takes_rows_per_key_and_skips_orphans():
    rows = [{'k': uuid.UUID(int=i).hex, 'v': i} for i in (1, 2, 2, 5)]
    merge = backup_dump.OrderedRows(rows, 'k')
    assert merge.take(str(uuid.UUID(int=2))) == [rows[1], rows[2]]  # the orphan with key 1 is skipped
    assert merge.take(str(uuid.UUID(int=3))) == []
    assert [r['v'] for r in merge.take(str(uuid.UUID(int=5)))] == [5]


def test_users_named_like_top_level_members_get_no_tree():
    result = backup_dump.DumpResult()
    assert not backup_dump.tree_allowed('docs', result)
    assert not backup_dump.tree_allowed('..', result)
    assert backup_dump.tree_allowed('admin', result)
    assert len(result.warnings) == 2


def test_tree_entries_link_to_the_latest_version():
    result = backup_dump.DumpResult()
    node = {'breadcrumb': '.home/A/doc', 'ctype': 'document', 'versions': [
        {'number': 1, 'file_path': 'docs/user_u/document_d/v1/x.pdf'},
        {'number': 2, 'file_path': 'docs/user_u/document_d/v2/x.pdf'}]}
    backup_dump.add_to_tree('admin', node, result)
    backup_dump.add_to_tree('admin', {'breadcrumb': '.home/A/', 'ctype': 'folder'}, result)
    backup_dump.add_to_tree('admin', {'breadcrumb': '.home/../', 'ctype': 'folder'}, result)
    assert result.tree == [('admin/.home/A/doc', '../../../docs/user_u/document_d/v2/x.pdf'),
                           ('admin/.home/A', None)]
    assert len(result.warnings) == 1
