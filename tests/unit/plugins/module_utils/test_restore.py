"""The restore's parts without an instance: values as Django writes them, versions, slugs, the plan of special
folders, media paths, moving staged files into place and undoing it."""

import datetime
import json
import os
import sqlite3
import types

import pytest

from ansible_collections.papermerge.backup.plugins.module_utils import backup_json, restore_preflight
from ansible_collections.papermerge.backup.plugins.module_utils.archive_reader import Member
from ansible_collections.papermerge.backup.plugins.module_utils.database import connect
from ansible_collections.papermerge.backup.plugins.module_utils.errors import PapermergeBackupError
from ansible_collections.papermerge.backup.plugins.module_utils.media_placement import (
    MediaTargets, MovedFiles, partial_dirs)
from ansible_collections.papermerge.backup.plugins.module_utils.restore_journal import undo_journal
from ansible_collections.papermerge.backup.plugins.module_utils.restore_plan import make_plan, slugify, unique_slug
from ansible_collections.papermerge.backup.plugins.module_utils.restore_rows import db_bool, db_datetime, preferences


class FakeDb:
    def __init__(self, engine):
        self.engine = engine


def test_datetimes_are_stored_as_django_stores_them():
    value = '2026-11-26T16:40:22.000000+01:00'
    assert db_datetime(FakeDb('sqlite'), value, None) == '2026-11-26 15:40:22'
    assert db_datetime(FakeDb('sqlite'), '2026-11-26T15:40:22.5Z', None) == '2026-11-26 15:40:22.500000'
    stored = db_datetime(FakeDb('postgresql'), value, None)
    assert stored == datetime.datetime(2026, 11, 26, 15, 40, 22, tzinfo=datetime.timezone.utc)
    assert db_datetime(FakeDb('sqlite'), None, None) is None
    assert db_bool(FakeDb('sqlite'), True) == 1 and db_bool(FakeDb('postgresql'), 0) is False


def test_unreadable_dates_refuse_the_archive():
    with pytest.raises(PapermergeBackupError, match='unreadable date'):
        db_datetime(FakeDb('sqlite'), 'yesterday', None)


@pytest.mark.parametrize('name, slug', [
    ('Important Stuff', 'important-stuff'),
    ('Überfällig', 'überfällig'),
    ('archive 2021', 'archive-2021'),
    (' a -- b ', 'a-b'),
    ('Café Crème!', 'café-crème'),
])
def test_slugify_matches_django(name, slug):
    assert slugify(name) == slug


def test_unique_slug_follows_taggit():
    assert unique_slug('important', set()) == 'important'
    assert unique_slug('important', {'important'}) == 'important_1'
    assert unique_slug('important', {'important', 'important_1'}) == 'important_2'


@pytest.mark.parametrize('archive, instance, allowed, refused', [
    ('2.1.5', '2.1.5', False, False),
    ('2.1.4', '2.1.5', False, False),
    ('2.1.6', '2.1.5', False, True),
    ('3.0', '2.1.5', False, True),
    ('3.0', '2.1.5', True, False),
    ('2.1.5', None, False, False),  # instance version unknown: not checked
])
def test_check_version(archive, instance, allowed, refused):
    if refused:
        with pytest.raises(PapermergeBackupError, match='newer than'):
            restore_preflight.check_version(archive, instance, allowed)
    else:
        restore_preflight.check_version(archive, instance, allowed)


def test_version_missing_from_the_archive_is_refused_unless_allowed():
    with pytest.raises(PapermergeBackupError, match='does not say'):
        restore_preflight.check_version(None, '2.1.5', False)
    restore_preflight.check_version(None, '2.1.5', True)


def test_preferences_in_both_shapes():
    rows = [{'section': 'ocr', 'name': 'trigger', 'raw_value': 'manual'}]
    assert list(preferences(rows)) == [('ocr', 'trigger', 'manual')]
    assert list(preferences({'ocr__trigger': 'manual'})) == [('ocr', 'trigger', 'manual')]
    assert list(preferences(None)) == []


def test_media_targets_refuse_paths_through_symlinks_leading_outside(tmp_path):
    media = tmp_path / 'media'
    outside = tmp_path / 'outside'
    media.mkdir()
    outside.mkdir()
    (media / 'sidecars').symlink_to(outside)
    targets = MediaTargets(str(media))
    assert targets.path('docs/user_x/a.pdf') == str(media / 'docs' / 'user_x' / 'a.pdf')
    with pytest.raises(PapermergeBackupError, match='resolves outside the media root'):
        targets.path('sidecars/user_x/a.svg')


def test_moved_files_are_placed_without_overwriting(tmp_path):
    media = tmp_path / 'media'
    stage = media / '.stage'
    stage.mkdir(parents=True)
    members = []
    for name in ['docs/u/d/v1/a.pdf', 'docs/u/d/v1/b.pdf']:
        member = Member(name, name, 'file', size=1)
        member.stage_dir = str(stage)
        os.makedirs(os.path.dirname(member.staged), exist_ok=True)
        with open(member.staged, 'wb') as handle:
            handle.write(b'x')
        members.append(member)
    moved = MovedFiles(str(media))
    targets = MediaTargets(str(media))
    moved.move(members[0], targets.path(members[0].name))
    (media / 'docs' / 'u' / 'd' / 'v1' / 'b.pdf').write_bytes(b'someone else')
    with pytest.raises(PapermergeBackupError, match='not overwritten'):
        moved.move(members[1], targets.path(members[1].name))
    assert (media / 'docs' / 'u' / 'd' / 'v1' / 'b.pdf').read_bytes() == b'someone else'
    assert (media / 'docs' / 'u' / 'd' / 'v1' / 'a.pdf').read_bytes() == b'x' and moved.count == 1


def no_rows_db(tmp_path):
    path = tmp_path / 'nodes.sqlite3'
    connection = sqlite3.connect(str(path))
    connection.execute('CREATE TABLE core_basetreenode (id char(32) PRIMARY KEY)')
    connection.commit()
    connection.close()
    return connect({'engine': 'sqlite', 'path': str(path)})


def _staged_members(stage, names):
    members = []
    for name in names:
        member = Member(name, name, 'file', size=1)
        member.stage_dir = str(stage)
        os.makedirs(os.path.dirname(member.staged), exist_ok=True)
        with open(member.staged, 'wb') as handle:
            handle.write(name.encode())
        members.append(member)
    return members


def test_new_directories_are_moved_whole_as_planned_and_undone_from_the_journal(tmp_path):
    media = tmp_path / 'media'
    stage = media / '.stage'
    stage.mkdir(parents=True)
    (media / 'docs' / 'u' / 'old').mkdir(parents=True)
    (media / 'docs' / 'u' / 'old' / 'kept.pdf').write_bytes(b'mine')
    members = _staged_members(stage, ['docs/u/new/v1/a.pdf', 'docs/u/new/v1/b.pdf', 'docs/u/old/c.pdf',
                                      'sidecars/u/part/1.svg', 'sidecars/u/part/2.svg'])
    placed = [m for m in members if m.name != 'sidecars/u/part/2.svg']  # e.g. skipped as a collision
    moved = MovedFiles(str(media))
    partial = partial_dirs(placed, dict((m.name, m) for m in members))
    assert partial == set(['sidecars', 'sidecars/u', 'sidecars/u/part'])
    moves = moved.plan_moves(placed, partial)
    assert [name for name, _members in moves] == [
        'docs/u/new', 'docs/u/old/c.pdf', 'sidecars/u/part/1.svg']
    assert moved.new_dirs == ['sidecars', 'sidecars/u', 'sidecars/u/part']  # planned, not made yet
    assert not (media / 'sidecars').exists()
    moved.move_all(moves, MediaTargets(str(media)))
    assert moved.count == 4
    assert not (stage / 'docs' / 'u' / 'new').exists()  # one rename
    for member in placed:
        assert (media / member.name).read_bytes() == member.name.encode()
    assert not (media / 'sidecars' / 'u' / 'part' / '2.svg').exists()
    journal = dict(moved_in=[name for name, _members in moves], made_dirs=moved.new_dirs, moved_aside=[])
    assert undo_journal(str(media), str(stage), journal, no_rows_db(tmp_path)) == 4
    assert sorted(os.listdir(str(media))) == ['.stage', 'docs']
    assert sorted(os.listdir(str(media / 'docs' / 'u'))) == ['old']
    assert os.listdir(str(media / 'docs' / 'u' / 'old')) == ['kept.pdf']


def test_a_directory_that_appears_is_not_replaced(tmp_path, monkeypatch):
    media = tmp_path / 'media'
    stage = media / '.stage'
    stage.mkdir(parents=True)
    (media / 'docs' / 'u').mkdir(parents=True)
    members = _staged_members(stage, ['docs/u/d/a.pdf'])
    appearing = media / 'docs' / 'u' / 'd'
    rename = os.rename

    def someone_else_comes_first(source, target):
        # Between the check that docs/u/d is missing and the rename that moves it into place, another process
        # fills it: os.rename replaces an empty directory, never one with files.
        if target == str(appearing):
            appearing.mkdir()
            (appearing / 'other.pdf').write_bytes(b'someone else')
        return rename(source, target)

    monkeypatch.setattr(os, 'rename', someone_else_comes_first)
    moved = MovedFiles(str(media))
    with pytest.raises(PapermergeBackupError, match='appeared while restoring'):
        moved.move_all(moved.plan_moves(members, set()), MediaTargets(str(media)))
    assert os.listdir(str(appearing)) == ['other.pdf']
    assert moved.count == 0


# The tables (and columns) of a Papermerge 2.1 database that a restore's plan reads.
PLAN_SCHEMA = """
CREATE TABLE core_user (id char(32) PRIMARY KEY, username varchar(150), home_folder_id char(32),
                        inbox_folder_id char(32));
CREATE TABLE core_basetreenode (id char(32) PRIMARY KEY, parent_id char(32), title varchar(200),
                                ctype varchar(16), user_id char(32));
CREATE TABLE core_tag (id char(32) PRIMARY KEY, name varchar(100), slug varchar(100), user_id char(32));
CREATE TABLE auth_group (id integer PRIMARY KEY, name varchar(150));
CREATE TABLE django_content_type (id integer PRIMARY KEY, app_label varchar(100), model varchar(100));
CREATE TABLE auth_permission (id integer PRIMARY KEY, codename varchar(100), content_type_id integer);
"""
INBOX_ID = 'a1111111-1111-4111-8111-111111111111'
HOME_ID = 'b2222222-2222-4222-8222-222222222222'


def test_new_user_is_never_pointed_at_a_special_folder_that_is_not_restored(tmp_path):
    path = tmp_path / 'db.sqlite3'
    connection = sqlite3.connect(str(path))
    connection.executescript(PLAN_SCHEMA)
    other_user = '3c333333-3333-4333-8333-333333333333'
    connection.execute("INSERT INTO core_user (id, username) VALUES (?, 'bob')", (other_user.replace('-', ''),))
    # The archive's .home id belongs to a folder of another user: on_conflict=skip leaves that folder out.
    connection.execute("INSERT INTO core_basetreenode VALUES (?, NULL, '.home', 'folder', ?)",
                       (HOME_ID.replace('-', ''), other_user.replace('-', '')))
    connection.commit()
    connection.close()
    spool = tmp_path / 'backup.json'
    spool.write_text(json.dumps({'version': '2.1.5', 'users': [{
        'id': '1a606e93-b39c-439a-b8dd-8e981cb4d54b', 'username': 'alice', 'password': 'x', 'nodes': [
            {'breadcrumb': '.inbox/', 'ctype': 'folder', 'title': '.inbox', 'id': INBOX_ID},
            {'breadcrumb': '.home/', 'ctype': 'folder', 'title': '.home', 'id': HOME_ID}]}]}))
    (tmp_path / 'media').mkdir()
    db = connect(dict(engine='sqlite', path=str(path)))
    try:
        plan = make_plan(db, backup_json.load(str(spool)), types.SimpleNamespace(files={}), str(tmp_path / 'media'))
    finally:
        db.close()
    assert plan.user_status == ['new']
    assert plan.conflicts == ["alice's folder .home cannot be restored under its id, which bob's folder .home has in "
                              "the instance"]
    assert plan.special[0]['.inbox'] == INBOX_ID
    assert plan.special[0]['.home'] != HOME_ID
    assert [(title, folder_id) for _index, title, folder_id in plan.synthetic] == [('.home', plan.special[0]['.home'])]
    assert plan.created['folders'] == 2 and plan.skipped['folders'] == 1  # .inbox and the new .home; not the old


# --- collisions, told as the user knows the data ----------------------------------------------------------------------
ALICE = '1a606e93-b39c-439a-b8dd-8e981cb4d54b'
DOC_ID = 'c3333333-3333-4333-8333-333333333333'
FOLDER_ID = 'd4444444-4444-4444-8444-444444444444'


def plan_against(tmp_path, users, nodes, archive_nodes, username='alice', files=None):
    """make_plan of an archive with one user (ALICE, username) holding archive_nodes, against an instance with
    users [(id, name)] and nodes [(id, parent id, title, ctype, user id)]."""
    path = tmp_path / 'db.sqlite3'
    connection = sqlite3.connect(str(path))
    connection.executescript(PLAN_SCHEMA)
    connection.executemany("INSERT INTO core_user (id, username) VALUES (?, ?)", [(i.replace('-', ''), n) for i, n in users])
    connection.executemany("INSERT INTO core_basetreenode VALUES (?, ?, ?, ?, ?)", [
        (i.replace('-', ''), p and p.replace('-', ''), t, c, u.replace('-', '')) for i, p, t, c, u in nodes])
    connection.commit()
    connection.close()
    spool = tmp_path / 'backup.json'
    spool.write_text(json.dumps({'version': '2.1.5', 'users': [
        {'id': ALICE, 'username': username, 'password': 'x', 'nodes': archive_nodes}]}))
    media = tmp_path / 'media'
    media.mkdir(exist_ok=True)
    db = connect(dict(engine='sqlite', path=str(path)))
    try:
        return make_plan(db, backup_json.load(str(spool)), types.SimpleNamespace(files=files or {}), str(media))
    finally:
        db.close()


ARCHIVE_ADMIN = '1a606e93-b39c-439a-b8dd-8e981cb4d54b'
FRESH_ADMIN = '4d444444-4444-4444-8444-444444444444'


def _hex(value):
    return value.replace('-', '')


def _fresh_admin_db(path, extra_sql=''):
    """An instance where `init` made the superuser admin (its .home and .inbox only), then extra_sql ran."""
    connection = sqlite3.connect(str(path))
    connection.executescript(PLAN_SCHEMA)
    connection.execute("INSERT INTO core_user VALUES (?, 'admin', ?, ?)",
                       (_hex(FRESH_ADMIN), _hex(HOME_ID), _hex(INBOX_ID)))
    for node_id, title in ((HOME_ID, '.home'), (INBOX_ID, '.inbox')):
        connection.execute("INSERT INTO core_basetreenode VALUES (?, NULL, ?, 'folder', ?)",
                           (_hex(node_id), title, _hex(FRESH_ADMIN)))
    connection.executescript(extra_sql)
    connection.commit()
    connection.close()


def _plan_of_archive_admin(tmp_path):
    spool = tmp_path / 'backup.json'
    spool.write_text(json.dumps({'version': '2.1.9', 'users': [{
        'id': ARCHIVE_ADMIN, 'username': 'admin', 'password': 'x', 'nodes': [
            {'breadcrumb': '.inbox/', 'ctype': 'folder', 'title': '.inbox'},
            {'breadcrumb': '.home/', 'ctype': 'folder', 'title': '.home'},
            {'breadcrumb': '.home/Invoices/', 'ctype': 'folder', 'title': 'Invoices'}]}]}))
    (tmp_path / 'media').mkdir()
    db = connect(dict(engine='sqlite', path=str(tmp_path / 'db.sqlite3')))
    try:
        return make_plan(db, backup_json.load(str(spool)), types.SimpleNamespace(files={}), str(tmp_path / 'media'))
    finally:
        db.close()


def alice_home(*more):
    """The instance's alice with her .home folder and more nodes (id, parent id, title, ctype)."""
    return [(HOME_ID, None, '.home', 'folder', ALICE)] + [node + (ALICE,) for node in more]


def archive_home(*more):
    return [{'breadcrumb': '.home/', 'ctype': 'folder', 'title': '.home', 'id': HOME_ID}] + list(more)


def document(breadcrumb, node_id=DOC_ID):
    return {'breadcrumb': breadcrumb, 'ctype': 'document', 'title': breadcrumb.rsplit('/', 1)[-1], 'id': node_id,
            'versions': []}


def test_a_user_renamed_since_the_backup_is_named_both_ways(tmp_path):
    plan = plan_against(tmp_path, [(ALICE, 'alicia')], [], [])
    assert plan.conflicts == ['user alice was renamed since the backup: the instance has this account as alicia']


def test_another_account_of_the_same_name_is_told_apart_without_ids(tmp_path):
    other = '3c333333-3333-4333-8333-333333333333'
    plan = plan_against(tmp_path, [(other, 'alice')], [(FOLDER_ID, None, 'Taxes', 'folder', other)], [])
    assert plan.conflicts == ['user alice: the instance has another account of that name (a different user, not '
                              'the one in the archive) and it owns documents, folders or tags, so it is not replaced']


def test_a_document_renamed_since_the_backup_is_named_with_its_new_path(tmp_path):
    plan = plan_against(tmp_path, [(ALICE, 'alice')], alice_home((DOC_ID, HOME_ID, 'invoice-paid.pdf', 'document')),
                        archive_home(document('.home/invoice.pdf')))
    assert plan.conflicts == ["alice's document .home/invoice.pdf was renamed since the backup: the instance has it "
                              "as .home/invoice-paid.pdf"]


def test_a_document_moved_since_the_backup_is_named_with_its_new_folder(tmp_path):
    plan = plan_against(tmp_path, [(ALICE, 'alice')], alice_home(
        (FOLDER_ID, HOME_ID, 'Paid', 'folder'), (DOC_ID, FOLDER_ID, 'invoice.pdf', 'document')),
        archive_home(document('.home/invoice.pdf')))
    assert plan.conflicts == ["alice's document .home/invoice.pdf was moved since the backup: the instance has it at "
                              ".home/Paid/invoice.pdf"]


def test_a_folder_renamed_since_the_backup_is_named_and_its_contents_left_out(tmp_path):
    plan = plan_against(tmp_path, [(ALICE, 'alice')], alice_home((FOLDER_ID, HOME_ID, 'Invoices 2026', 'folder')),
                        archive_home({'breadcrumb': '.home/Invoices/', 'ctype': 'folder', 'title': 'Invoices',
                                      'id': FOLDER_ID}, document('.home/Invoices/a.pdf')))
    assert plan.conflicts == ["alice's folder .home/Invoices was renamed since the backup: the instance has it as "
                              ".home/Invoices 2026"]
    assert plan.skipped['documents'] == 1


def test_another_document_at_the_same_path_is_not_called_renamed(tmp_path):
    other = 'e5555555-5555-4555-8555-555555555555'
    plan = plan_against(tmp_path, [(ALICE, 'alice')], alice_home((other, HOME_ID, 'invoice.pdf', 'document')),
                        archive_home(document('.home/invoice.pdf')))
    assert plan.conflicts == ["alice's document .home/invoice.pdf collides with another document of the instance at "
                              "the same path (a different document, not the one in the archive)"]


def test_media_files_with_other_content_are_told_per_document(tmp_path):
    names = ['docs/user_%s/document_%s/v1/invoice.pdf' % (ALICE, DOC_ID)] + [
        'sidecars/user_%s/document_%s/v1/pages/000001/page.%s' % (ALICE, DOC_ID, ext) for ext in ('svg', 'txt')]
    files = {}
    for name in names:
        (tmp_path / 'media' / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / 'media' / name).write_bytes(b'someone else\'s')
        files[name] = types.SimpleNamespace(name=name, size=1, sha256='0' * 64)
    plan = plan_against(tmp_path, [], [], archive_home(document('.home/invoice.pdf')), files=files)
    assert plan.conflicts == ["alice's document .home/invoice.pdf: 3 of its media files exist in the instance with "
                              "other content (never overwritten): %s and 2 more" % names[0]]
    assert plan.skipped['documents'] == 1 and plan.skipped['files'] == 3


def test_a_fresh_superuser_of_the_same_name_is_replaced_by_the_archive_s(tmp_path):
    _fresh_admin_db(tmp_path / 'db.sqlite3')
    plan = _plan_of_archive_admin(tmp_path)
    assert plan.conflicts == []
    assert plan.user_status == ['new'] and plan.user_ids == [ARCHIVE_ADMIN]
    assert plan.replaced_users == [{'id': FRESH_ADMIN, 'username': 'admin'}]
    assert plan.created['users'] == 1 and plan.created['folders'] == 3


@pytest.mark.parametrize('what, extra_sql', [
    ('a folder of their own', "INSERT INTO core_basetreenode VALUES ('%s', '%s', 'Taxes', 'folder', '%s');"
     % ('c' * 32, _hex(HOME_ID), _hex(FRESH_ADMIN))),
    ('a tag', "INSERT INTO core_tag VALUES ('%s', 'urgent', 'urgent', '%s');" % ('d' * 32, _hex(FRESH_ADMIN))),
    ("another user's node in their inbox", "INSERT INTO core_basetreenode VALUES ('%s', '%s', 'x.pdf', "
     "'document', '%s');" % ('e' * 32, _hex(INBOX_ID), 'f' * 32)),
    ('a node besides their own .home and .inbox', "UPDATE core_user SET inbox_folder_id = NULL;"),
])
def test_a_user_of_the_same_name_who_owns_anything_stays_a_collision(tmp_path, what, extra_sql):
    _fresh_admin_db(tmp_path / 'db.sqlite3', extra_sql)
    plan = _plan_of_archive_admin(tmp_path)
    assert plan.replaced_users == [], what
    assert plan.user_status == ['conflict']
    assert len(plan.conflicts) == 1 and plan.conflicts[0].startswith('user admin: the instance has another account of that name')
    assert 'owns documents, folders or tags, so it is not replaced' in plan.conflicts[0]
