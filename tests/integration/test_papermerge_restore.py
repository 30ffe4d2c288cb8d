# -*- coding: utf-8 -*-
# Copyright: papermerge.backup contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""papermerge_restore on real Papermerge 2.1.5 instances, through ansible-playbook.

Round trips: seeded instance -> papermerge_backup -> papermerge_restore into a fresh migrated instance, compared
with the state helper (Papermerge's own ORM) and media byte for byte, on SQLite, on PostgreSQL and across them.
Papermerge's own `manage.py backup` archive restores too, to the state that archive can carry.  A second restore
changes nothing; check mode writes nothing; collisions are refused or skipped.
"""

from pathlib import Path

import pytest

from ansible_run import run_module
from papermerge_host import assert_states_equal, without_keys

RESTORE = 'papermerge.backup.papermerge_restore'
BACKUP = 'papermerge.backup.papermerge_backup'
REPO = Path(__file__).resolve().parents[2]
HAVE_BACKUP_MODULE = (REPO / 'plugins' / 'modules' / 'papermerge_backup.py').exists()
needs_backup_module = pytest.mark.skipif(not HAVE_BACKUP_MODULE, reason='papermerge_backup not there yet')

# What Papermerge's own archive cannot carry (its serializers leave these out), so a restore of it cannot have
# them either: folder, version, page and tag ids; folder languages; the page fields it excludes; user
# preferences, groups and permissions (it writes group ids only); and every sidecar but the page SVGs.
OWN_ARCHIVE_LOSSES = ('id', 'home_folder', 'inbox_folder', 'preferences', 'groups', 'user_permissions',
                      'norm_doc_title', 'norm_folder_title', 'norm_breadcrump', 'norm_text', 'image', 'files',
                      'counts')


def restore(instance, src, check=False, **options):
    args = dict(project_dir=str(instance.project_dir), src=str(src))
    args.update(options)
    return run_module(RESTORE, args, python=instance.python, check=check)


def own_backup(instance, dest):
    """An archive made by Papermerge 2.1.5's own `manage.py backup` (read-only on the instance)."""
    instance.manage('backup', str(dest))
    assert dest.exists()
    return dest


def our_backup(instance, dest_dir):
    result = run_module(BACKUP, dict(project_dir=str(instance.project_dir), dest=str(dest_dir) + '/'),
                        python=instance.python)
    assert not result['failed'], result.get('msg')
    return Path(result['archive'])


@pytest.fixture(scope='module')
def sqlite_archive(tmp_path_factory, seeded_sqlite):
    """papermerge_backup's archive of the seeded SQLite instance, shared by the tests of this module."""
    if not HAVE_BACKUP_MODULE:
        pytest.skip('papermerge_backup not there yet')
    return our_backup(seeded_sqlite, tmp_path_factory.mktemp('archive'))


def comparable_own(state):
    """The state without what Papermerge's own archive cannot carry, documents' ids kept."""
    documents = state['documents']
    reduced = without_keys(state, OWN_ARCHIVE_LOSSES)
    for reduced_doc, doc in zip(reduced['documents'], documents):
        reduced_doc['id'] = doc['id']
    for user, full in zip(reduced['users'], state['users']):
        user['id'] = full['id']
    for folder in reduced['folders']:
        folder['lang'] = None
    return reduced


def svg_files(state):
    return dict((name, digest) for name, digest in state['files'].items()
                if name.startswith('docs/') or name.endswith('_ocr.svg'))


@pytest.mark.parametrize('target_engine', ['sqlite', pytest.param('postgresql', marks=pytest.mark.postgresql)])
def test_own_archive_restores_to_an_equal_state_and_second_run_changes_nothing(seeded_sqlite, make_instance,
                                                                               tmp_path, target_engine):
    # Into PostgreSQL too, where Papermerge 2.1.5's own restore fails.
    archive = own_backup(seeded_sqlite, tmp_path / 'own-backup.tar.gz')
    target = make_instance(target_engine)
    before = target.state()

    planned = restore(target, archive, check=True)
    assert not planned['failed'], planned.get('msg')
    assert planned['changed'] is True
    assert target.state() == before, 'check mode wrote something'

    result = restore(target, archive)
    assert not result['failed'], result.get('msg')
    assert result['changed'] is True
    assert result['reindex_needed'] is True
    assert result['verified'] is False  # no manifest in Papermerge's archives
    assert result['counts'] == planned['counts']
    source = seeded_sqlite.state()
    restored = target.state()
    assert_states_equal(comparable_own(restored), comparable_own(source))
    # Media: exactly what Papermerge's archive holds (document files and page SVGs), byte for byte.
    assert restored['files'] == svg_files(source)

    again = restore(target, archive)
    assert not again['failed'], again.get('msg')
    assert again['changed'] is False
    assert target.state() == restored


@needs_backup_module
@pytest.mark.parametrize('source_engine, target_engine', [
    ('sqlite', 'sqlite'),
    pytest.param('postgresql', 'postgresql', marks=pytest.mark.postgresql),
    pytest.param('sqlite', 'postgresql', marks=pytest.mark.postgresql),
    pytest.param('postgresql', 'sqlite', marks=pytest.mark.postgresql),
])
def test_round_trip_restores_an_equal_instance(request, make_instance, tmp_path, source_engine, target_engine):
    source = request.getfixturevalue('seeded_%s' % source_engine)
    archive = our_backup(source, tmp_path)
    target = make_instance(target_engine)

    result = restore(target, archive)
    assert not result['failed'], result.get('msg')
    assert result['changed'] is True and result['verified'] is True
    assert result['checksum_file_verified'] is True
    assert result['reindex_needed'] is True
    restored = target.state()
    assert_states_equal(restored, source.state())

    again = restore(target, archive)
    assert not again['failed'], again.get('msg')
    assert again['changed'] is False
    assert sum(again['counts'].values()) == 0
    assert target.state() == restored


def test_collisions_are_refused_with_nothing_written(make_instance, sqlite_archive):
    target = make_instance('sqlite')
    target.add_user('admin', folder='Taxes')  # same name as the archive's admin, another id, owns a folder
    before = target.state()
    result = restore(target, sqlite_archive)
    assert result['failed']
    assert 'collides with existing data' in result['msg'], result['msg']
    assert ('user admin: the instance has another account of that name (a different user, not the one in the '
            'archive) and it owns documents, folders or tags, so it is not replaced') in result['conflicts']
    # The module alone names its own option.
    assert result['msg'].endswith('remove the colliding data, or set on_conflict: skip to restore everything else')
    assert target.state() == before


@pytest.mark.parametrize('engine', ['sqlite', pytest.param('postgresql', marks=pytest.mark.postgresql)])
def test_a_fresh_superuser_of_the_same_name_is_replaced_by_the_archive_s(
        make_instance, seeded_sqlite, sqlite_archive, engine):
    """What the official image's `init` leaves before anyone restores: its own admin (another id, another
    password), owning nothing but .home and .inbox. The archive's admin takes its place, id and hash and all."""
    target = make_instance(engine)
    target.add_user('admin', superuser=True)
    fresh = target.state()
    planned = restore(target, sqlite_archive, check=True)
    assert not planned['failed'], planned.get('msg')
    assert planned['replaced_users'] == ['admin'] and planned['conflicts'] == []
    assert target.state() == fresh, 'check mode wrote something'

    result = restore(target, sqlite_archive)
    assert not result['failed'], result.get('msg')
    assert result['replaced_users'] == ['admin'] and result['counts'] == planned['counts']
    assert_states_equal(target.state(), seeded_sqlite.state())
    password = "SELECT password FROM core_user WHERE username = 'admin'"
    assert target.sql(password) == seeded_sqlite.sql(password)

    again = restore(target, sqlite_archive)
    assert not again['failed'] and again['changed'] is False and again['replaced_users'] == []


def test_on_conflict_skip_restores_everything_else(make_instance, seeded_sqlite, sqlite_archive):
    target = make_instance('sqlite')
    target.add_user('admin', folder='Taxes')
    before = target.state()
    result = restore(target, sqlite_archive, on_conflict='skip')
    assert not result['failed'], result.get('msg')
    assert result['changed'] is True
    assert result['skipped_counts']['users'] == 1 and result['skipped_counts']['documents'] == 5
    source, restored = seeded_sqlite.state(), target.state()
    for key in ('users', 'tags', 'folders', 'documents'):
        others = [item for item in source[key] if item.get('username', item.get('user')) != 'admin']
        kept = [item for item in before[key] if item.get('username', item.get('user')) == 'admin']
        expected = sorted(others + kept, key=json_key)
        assert sorted(restored[key], key=json_key) == expected, key
    admin_files = [name for name in source['files'] if name.split('/')[1] in admin_folders(source)]
    assert admin_files and not any(name in restored['files'] for name in admin_files)

    again = restore(target, sqlite_archive, on_conflict='skip')
    assert not again['failed'] and again['changed'] is False
    assert target.state() == restored


def json_key(item):
    import json
    return json.dumps(item, sort_keys=True)


def admin_folders(state):
    admin = [user for user in state['users'] if user['username'] == 'admin'][0]
    return {'user_' + admin['id']}


def test_unmigrated_instance_is_refused_with_the_fix(make_instance, tmp_path):
    target = make_instance('sqlite', migrated=False)
    archive = own_backup_of_nothing(tmp_path)
    result = restore(target, archive)
    assert result['failed']
    assert 'migrate' in result['msg'], result['msg']
    assert not any(Path(target.media_root).iterdir())


def own_backup_of_nothing(tmp_path):
    """A minimal valid archive (one user, no documents), made with tarfile."""
    import io
    import json
    import tarfile

    data = json.dumps({'created': 'x', 'version': '2.1.5', 'users': [{
        'id': '7a1f0c3e-7d2b-4e8f-9a6c-1b2d3e4f5a6b', 'username': 'nobody', 'password': '!', 'nodes': []}]}).encode()
    path = tmp_path / 'nothing.tar.gz'
    with tarfile.open(str(path), 'w:gz') as tar:
        info = tarfile.TarInfo('backup.json')
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    return path


def test_existing_media_file_with_other_content_is_never_overwritten(make_instance, seeded_sqlite, sqlite_archive):
    source = seeded_sqlite.state()
    name = sorted(n for n in source['files'] if n.startswith('docs/'))[0]
    document_id = name.split('/')[2][len('document_'):]
    target = make_instance('sqlite')
    stray = Path(target.media_root) / name
    stray.parent.mkdir(parents=True)
    stray.write_bytes(b'left behind by someone else')
    before = target.state()

    refused = restore(target, sqlite_archive)
    assert refused['failed']
    [document] = [d for d in source['documents'] if d['id'] == document_id]
    assert any(line.startswith("%s's document %s: " % (document['user'], document['path']))
               and line.endswith('in the instance with other content (never overwritten): %s' % name)
               for line in refused['conflicts']), refused['conflicts']
    assert target.state() == before

    result = restore(target, sqlite_archive, on_conflict='skip')
    assert not result['failed'], result.get('msg')
    assert result['skipped_counts']['documents'] == 1
    assert stray.read_bytes() == b'left behind by someone else'
    restored = target.state()
    assert document_id not in [d['id'] for d in restored['documents']]
    assert len(restored['documents']) == len(source['documents']) - 1
    assert not any(n.startswith('sidecars/') and document_id in n for n in restored['files'])


def rename_document(instance, document_id, title):
    """Rename a document the way Papermerge's own UI does: through its ORM."""
    instance.manage('shell', '-c', 'from papermerge.core.models import Document; d = Document.objects.get(id=%r); '
                                   'd.title = %r; d.save()' % (document_id, title))


def test_a_document_renamed_since_the_backup_is_told_as_such(make_instance, seeded_sqlite, sqlite_archive):
    target = make_instance('sqlite')
    assert not restore(target, sqlite_archive)['failed']
    document = sorted(target.state()['documents'], key=lambda d: d['path'])[0]
    path = document['path']
    rename_document(target, document['id'], 'renamed since.pdf')
    renamed = target.state()

    refused = restore(target, sqlite_archive)
    assert refused['failed']
    expected = "%s's document %s was renamed since the backup: the instance has it as %s" % (
        document['user'], path, path.rsplit('/', 1)[0] + '/renamed since.pdf')
    assert expected in refused['conflicts'], refused['conflicts']
    assert not any('id' in line.split(':')[0] for line in refused['conflicts'])
    assert target.state() == renamed


def test_an_archive_without_a_label_is_confirmed_by_its_file_name(make_instance, seeded_sqlite, tmp_path):
    archive = own_backup(seeded_sqlite, tmp_path / 'backup_26_11_2026-02_00_00.tar.gz')
    target = make_instance('sqlite')
    before = target.state()
    refused = restore(target, archive, expected_label='docs02')
    assert refused['failed'] and refused['label'] is None
    assert refused['msg'].startswith("backup_26_11_2026-02_00_00.tar.gz carries no label (Papermerge's own backups")
    assert 'set confirm_label: backup_26_11_2026-02_00_00.tar.gz' in refused['msg']
    assert target.state() == before
    confirmed = restore(target, archive, expected_label='docs02', confirm_label='backup_26_11_2026-02_00_00.tar.gz',
                        check=True)
    assert not confirmed['failed'], confirmed['msg']
    assert confirmed['label'] is None and confirmed['changed'] is True
