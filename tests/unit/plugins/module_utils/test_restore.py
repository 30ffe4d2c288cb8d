"""restore's pure helpers: values as Django writes them, versions, slugs, media paths, undoing moves."""

import datetime
import os
import types

import pytest

from ansible_collections.papermerge.backup.plugins.module_utils import restore
from ansible_collections.papermerge.backup.plugins.module_utils.archive_reader import Member
from ansible_collections.papermerge.backup.plugins.module_utils.errors import PapermergeBackupError


class FakeDb:
    def __init__(self, engine):
        self.engine = engine


@pytest.mark.parametrize('text, expected', [
    ('2026-11-26T16:40:22.857647+01:00', datetime.datetime(2026, 11, 26, 15, 40, 22, 857647)),
    ('2021-03-04T05:06:07Z', datetime.datetime(2021, 3, 4, 5, 6, 7)),
    ('2021-03-04 05:06:07.5', datetime.datetime(2021, 3, 4, 5, 6, 7, 500000)),
    ('2021-03-04T05:06:07.1234567-0230', datetime.datetime(2021, 3, 4, 7, 36, 7, 123456)),
])
def test_parse_datetime_gives_utc(text, expected):
    assert restore.parse_datetime(text) == expected.replace(tzinfo=datetime.timezone.utc)


def test_parse_datetime_refuses_garbage():
    with pytest.raises(PapermergeBackupError, match='unreadable date'):
        restore.parse_datetime('yesterday')


def test_datetimes_are_stored_as_django_stores_them():
    value = '2026-11-26T16:40:22.000000+01:00'
    assert restore.db_datetime(FakeDb('sqlite'), value, None) == '2026-11-26 15:40:22'
    assert restore.db_datetime(FakeDb('sqlite'), '2026-11-26T15:40:22.5Z', None) == '2026-11-26 15:40:22.500000'
    stored = restore.db_datetime(FakeDb('postgresql'), value, None)
    assert stored == datetime.datetime(2026, 11, 26, 15, 40, 22, tzinfo=datetime.timezone.utc)
    assert restore.db_datetime(FakeDb('sqlite'), None, None) is None
    assert restore.db_bool(FakeDb('sqlite'), True) == 1 and restore.db_bool(FakeDb('postgresql'), 0) is False


@pytest.mark.parametrize('name, slug', [
    ('Important Stuff', 'important-stuff'),
    ('Überfällig', 'überfällig'),
    ('archive 2021', 'archive-2021'),
    (' a -- b ', 'a-b'),
    ('Café Crème!', 'café-crème'),
])
def test_slugify_matches_django(name, slug):
    assert restore.slugify(name) == slug


def test_unique_slug_follows_taggit():
    assert restore.unique_slug('important', set()) == 'important'
    assert restore.unique_slug('important', {'important'}) == 'important_1'
    assert restore.unique_slug('important', {'important', 'important_1'}) == 'important_2'


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
            restore.check_version(archive, instance, allowed)
    else:
        restore.check_version(archive, instance, allowed)


def test_version_missing_from_the_archive_is_refused_unless_allowed():
    with pytest.raises(PapermergeBackupError, match='does not say'):
        restore.check_version(None, '2.1.5', False)
    restore.check_version(None, '2.1.5', True)


def test_preferences_in_both_shapes():
    rows = [{'section': 'ocr', 'name': 'trigger', 'raw_value': 'manual'}]
    assert list(restore._preferences(rows)) == [('ocr', 'trigger', 'manual')]
    assert list(restore._preferences({'ocr__trigger': 'manual'})) == [('ocr', 'trigger', 'manual')]
    assert list(restore._preferences(None)) == []


def test_media_targets_refuse_paths_through_symlinks_leading_outside(tmp_path):
    media = tmp_path / 'media'
    outside = tmp_path / 'outside'
    media.mkdir()
    outside.mkdir()
    (media / 'sidecars').symlink_to(outside)
    targets = restore.MediaTargets(str(media))
    assert targets.path('docs/user_x/a.pdf') == str(media / 'docs' / 'user_x' / 'a.pdf')
    with pytest.raises(PapermergeBackupError, match='resolves outside the media root'):
        targets.path('sidecars/user_x/a.svg')


def test_moved_files_are_placed_without_overwriting_and_undone(tmp_path):
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
    moved = restore._MovedFiles(str(media))
    targets = restore.MediaTargets(str(media))
    moved.move(members[0], targets.path(members[0].name))
    (media / 'docs' / 'u' / 'd' / 'v1' / 'b.pdf').write_bytes(b'someone else')
    with pytest.raises(PapermergeBackupError, match='not overwritten'):
        moved.move(members[1], targets.path(members[1].name))
    assert (media / 'docs' / 'u' / 'd' / 'v1' / 'b.pdf').read_bytes() == b'someone else'
    os.unlink(str(media / 'docs' / 'u' / 'd' / 'v1' / 'b.pdf'))
    moved.undo()
    assert sorted(os.listdir(str(media))) == ['.stage']


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


def test_new_directories_are_moved_whole_and_undone(tmp_path):
    media = tmp_path / 'media'
    stage = media / '.stage'
    stage.mkdir(parents=True)
    (media / 'docs' / 'u' / 'old').mkdir(parents=True)
    (media / 'docs' / 'u' / 'old' / 'kept.pdf').write_bytes(b'mine')
    members = _staged_members(stage, ['docs/u/new/v1/a.pdf', 'docs/u/new/v1/b.pdf', 'docs/u/old/c.pdf',
                                      'sidecars/u/part/1.svg', 'sidecars/u/part/2.svg'])
    placed = [m for m in members if m.name != 'sidecars/u/part/2.svg']  # e.g. skipped as a collision
    moved = restore._MovedFiles(str(media))
    partial = restore._partial_dirs(types.SimpleNamespace(files=placed),
                                    types.SimpleNamespace(files=dict((m.name, m) for m in members)))
    assert partial == set(['sidecars', 'sidecars/u', 'sidecars/u/part'])
    moved.move_all(placed, restore.MediaTargets(str(media)), partial)
    assert moved.count == 4
    assert [target for target, _staged in moved.trees] == [str(media / 'docs' / 'u' / 'new')]
    for member in placed:
        assert (media / member.name).read_bytes() == member.name.encode()
    assert not (media / 'sidecars' / 'u' / 'part' / '2.svg').exists()
    moved.undo()
    assert sorted(os.listdir(str(media))) == ['.stage', 'docs']
    assert sorted(os.listdir(str(media / 'docs' / 'u'))) == ['old']
    assert os.listdir(str(media / 'docs' / 'u' / 'old')) == ['kept.pdf']


def test_a_directory_that_appears_is_not_replaced(tmp_path):
    media = tmp_path / 'media'
    stage = media / '.stage'
    stage.mkdir(parents=True)
    members = _staged_members(stage, ['docs/u/d/a.pdf'])
    (media / 'docs' / 'u' / 'd').mkdir(parents=True)
    (media / 'docs' / 'u' / 'd' / 'other.pdf').write_bytes(b'someone else')
    moved = restore._MovedFiles(str(media))
    with pytest.raises(PapermergeBackupError, match='appeared while restoring'):
        moved._move_tree(members[0].stage_dir + '/docs/u/d', str(media / 'docs' / 'u' / 'd'), 'docs/u/d', 1)
    assert os.listdir(str(media / 'docs' / 'u' / 'd')) == ['other.pdf']


def test_stale_staging_directories_are_removed_and_nothing_else(tmp_path):
    media = tmp_path / 'media'
    (media / 'docs').mkdir(parents=True)
    stale = media / (restore.STAGE_PREFIX + 'old')
    fresh = media / (restore.STAGE_PREFIX + 'new')
    stale.mkdir()
    (stale / '00000001').write_bytes(b'x')
    fresh.mkdir()
    (media / (restore.STAGE_PREFIX + 'file')).write_bytes(b'not a directory')
    old = os.stat(str(stale)).st_mtime - restore.STALE_STAGE_SECONDS - 10
    os.utime(str(stale), (old, old))
    assert restore.remove_stale_stages(str(media)) == [stale.name]
    assert sorted(p.name for p in media.iterdir()) == sorted(['docs', fresh.name, restore.STAGE_PREFIX + 'file'])


def test_new_user_is_never_pointed_at_a_special_folder_that_is_not_restored():
    plan = restore.Plan()
    plan.user_status, plan.special = ['new'], [{}]
    inbox = restore._Node('.inbox', 'folder', 'a1111111-1111-4111-8111-111111111111', 0, '.inbox')
    home = restore._Node('.home', 'folder', 'b2222222-2222-4222-8222-222222222222', 0, '.home')
    inbox.status, home.status = 'new', 'conflict'  # the archive's .home id belongs to another node
    plan.nodes = [{'.inbox': inbox, '.home': home}]
    restore._plan_special_folders(plan, 0)
    assert plan.special[0]['.inbox'] == inbox.id
    assert plan.special[0]['.home'] != home.id
    assert [(title, folder_id) for _index, title, folder_id in plan.synthetic] == [('.home', plan.special[0]['.home'])]
    assert plan.created['folders'] == 1
