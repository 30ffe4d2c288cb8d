"""The test hosts themselves: real Papermerge 2.1.5 instances, seeded through Papermerge's ORM
on SQLite and on PostgreSQL, rendered by the state helper, compared with each other."""

import hashlib
import json
import sqlite3
import tarfile

import pytest

from ansible_run import run_module
from papermerge_host import PapermergeCommandError, diff_states, state_differences, without_keys

SIDECAR_KINDS = {'svg': '_ocr.svg', 'jpg': '_ocr.jpg', 'txt': '_ocr_hocr.txt',
                 'hocr': '_ocr_hocr.hocr'}


def _documents_of(state, username):
    return [d for d in state['documents'] if d['user'] == username]


def test_seeded_users_cover_superuser_non_ascii_and_no_documents(seeded_instance):
    state = seeded_instance.state()
    users = {u['username']: u for u in state['users']}
    assert set(users) == {'admin', 'jürgen', 'olga'}
    assert users['admin']['is_superuser'] and users['admin']['is_staff']
    assert not users['jürgen']['is_superuser'] and users['jürgen']['groups'] == ['Buchhaltung']
    assert users['jürgen']['last_name'] == 'Größmann'
    assert users['jürgen']['preferences'] == {'localization__timezone': 'Europe/Berlin',
                                              'ocr__trigger': 'manual'}
    assert _documents_of(state, 'olga') == [] and not users['olga']['is_active']
    for user in users.values():
        assert user['password'].startswith('pbkdf2_sha256$')
        assert user['home_folder']['path'] == '.home'
        assert user['inbox_folder']['path'] == '.inbox'


def test_seeded_tree_is_deep_with_empty_folders_and_a_repeated_title(seeded_instance):
    state = seeded_instance.state()
    folder_paths = {(f['user'], f['path']) for f in state['folders']}
    assert max(f['path'].count('/') for f in state['folders']) >= 4
    parents = {(n['user'], n['parent_path']) for n in state['folders'] + state['documents']}
    empty = folder_paths - parents
    assert ('admin', '.home/Empty folder') in empty
    assert ('jürgen', '.home/Leerer Ordner') in empty
    admin_titles = [d['title'] for d in _documents_of(state, 'admin')]
    assert admin_titles.count('Contract') == 2
    titles = {d['title'] for d in state['documents']}
    assert 'Rechnung Zahnärztin Müller' in titles and 'Café Crème Übersicht' in titles
    for document in state['documents']:
        assert not set('<>/\\;:&') & set(document['title'])


def test_seeded_documents_have_versions_tags_and_page_text(seeded_instance):
    state = seeded_instance.state()
    assert max(len(d['versions']) for d in state['documents']) == 3
    report = next(d for d in state['documents'] if d['title'] == 'Annual report 2020')
    assert [v['number'] for v in report['versions']] == [1, 2, 3]
    assert [v['page_count'] for v in report['versions']] == [2, 3, 2]
    assert report['versions'][-1]['short_description'] == 'Page 2 deleted'
    assert any(d['tags'] for d in state['documents'])
    assert any(f['tags'] for f in state['folders'])
    tag_colours = {(t['user'], t['name']): (t['bg_color'], t['fg_color']) for t in state['tags']}
    assert tag_colours[('jürgen', 'Überfällig')] == ('#aa0000', '#ffffff')
    texts = [p['text'] for d in state['documents'] for v in d['versions'] for p in v['pages']]
    assert any('89,50 €' in text for text in texts)
    muller = next(d for d in state['documents'] if d['title'] == 'Rechnung Zahnärztin Müller')
    assert muller['versions'][-1]['text'].startswith('Rechnung über 89,50 €')
    assert muller['ocr_status'] == 'succeeded'


def test_every_media_file_is_where_papermerge_puts_it(seeded_instance):
    state = seeded_instance.state()
    files = state['files']
    for document in state['documents']:
        user_id = next(u['id'] for u in state['users'] if u['username'] == document['user'])
        for version in document['versions']:
            doc_file = 'docs/user_%s/document_%s/v%d/%s' % (
                user_id, document['id'], version['number'], version['file_name'])
            assert doc_file in files
            path = seeded_instance.media_root / doc_file
            assert path.read_bytes().startswith(b'%PDF-')
            assert path.stat().st_size == version['size']
            if version['text']:
                for page in version['pages']:
                    pages_dir = 'sidecars/user_%s/document_%s/v%d/pages/%06d/%06d' % (
                        user_id, document['id'], version['number'], page['number'],
                        page['number'])
                    for suffix in SIDECAR_KINDS.values():
                        assert pages_dir + suffix in files
    kinds = {kind for kind, suffix in SIDECAR_KINDS.items()
             if any(name.endswith(suffix) for name in files)}
    assert kinds == set(SIDECAR_KINDS)
    some_file, digest = next(iter(files.items()))
    assert hashlib.sha256((seeded_instance.media_root / some_file).read_bytes()).hexdigest() \
        == digest


@pytest.mark.postgresql
def test_both_engines_render_the_same_seed_identically(seeded_sqlite, seeded_postgresql):
    sqlite_state = seeded_sqlite.state()
    postgresql_state = seeded_postgresql.state()
    assert sqlite_state == postgresql_state, diff_states(sqlite_state, postgresql_state)
    assert sqlite_state['counts']['documents'] == 9


@pytest.mark.postgresql
def test_instances_use_the_configured_database(seeded_sqlite, seeded_postgresql, pg_cluster):
    """Each instance really is on its engine: no silent fallback to a default SQLite file."""
    with sqlite3.connect(str(seeded_sqlite.sqlite_file)) as connection:
        assert connection.execute('SELECT count(*) FROM core_document').fetchone()[0] == 9
    assert not (seeded_postgresql.project_dir / 'db.sqlite3').exists()
    database = seeded_postgresql.database
    count = pg_cluster.psql('SELECT count(*) FROM core_document', database=database['name'],
                            user=database['user'], password=database['password'])
    assert count.strip() == '9'


def test_state_comparison_shows_what_differs(make_instance, seeded_sqlite):
    fresh = make_instance('sqlite', seeded=True)
    fresh.manage('shell', '-c', (
        "from papermerge.core.models import Page;"
        "p = Page.objects.filter(text__contains='89,50').first();"
        "p.text = 'changed'; p.save()"))
    (fresh.media_root / 'docs' / 'stray.txt').write_text('x')
    a, b = seeded_sqlite.state(), fresh.state()
    differences = state_differences(a, b)
    assert any('[text]' in line and '"changed"' in line and 'Müller' in line
               for line in differences), differences
    assert any(line.startswith('+ files[docs/stray.txt]') for line in differences), differences
    assert 'states differ' in diff_states(a, b)
    assert without_keys(a, {'files', 'counts'}) != without_keys(b, {'files', 'counts'})


@pytest.mark.postgresql
def test_postgresql_copies_are_independent_instances(make_instance, seeded_postgresql):
    copy = make_instance('postgresql', seeded=True)
    assert copy.database['name'] != seeded_postgresql.database['name']
    assert copy.state() == seeded_postgresql.state()
    copy.manage('shell', '-c', (
        "from papermerge.core.models import Tag; Tag.objects.filter(name='wichtig').delete()"))
    assert not any(t['name'] == 'wichtig' for t in copy.state()['tags'])
    assert any(t['name'] == 'wichtig' for t in seeded_postgresql.state()['tags'])
    empty = make_instance('postgresql')
    assert empty.state()['counts']['users'] == 0


def test_unmigrated_instance_has_no_tables(make_instance):
    instance = make_instance('sqlite', migrated=False)
    assert instance.config_file.is_file() and not instance.sqlite_file.exists()
    instance.migrate()
    assert instance.state()['users'] == []


def test_bulk_seed_makes_many_documents(make_instance):
    instance = make_instance('sqlite')
    instance.seed('--documents', '120', '--pdf-size', '8000', '--sidecars-only-text')
    state = instance.state(timestamps=False)
    assert state['counts']['documents'] == 120
    assert state['counts']['pages'] == 240
    assert 'created_at' not in state['documents'][0]
    pdfs = [name for name in state['files'] if name.endswith('.pdf')]
    assert len(pdfs) == 120 and len(set(state['files'][n] for n in pdfs)) == 120
    sizes = [(instance.media_root / name).stat().st_size for name in pdfs[:5]]
    assert all(7000 < size < 9500 for size in sizes), sizes
    assert not any(name.endswith('.svg') for name in state['files'])


def test_run_module_returns_the_module_result(papermerge_venv):
    python = papermerge_venv / 'bin' / 'python'
    result = run_module('ansible.builtin.command',
                        {'argv': [str(python), '-c', 'import django; print(django.VERSION[0])']},
                        python=python)
    assert not result['failed'] and result['changed'] and result['stdout'] == '4'
    failed = run_module('ansible.builtin.file', {'path': '/nonexistent/x', 'state': 'file'},
                        python=python)
    assert failed['failed'] and 'absent' in failed['msg']
    checked = run_module('ansible.builtin.command', {'argv': ['true']}, python=python, check=True)
    assert checked.get('skipped') and not checked['changed']


def test_seed_is_rejected_twice(make_instance):
    """The standard seed expects an empty instance and says so instead of half-seeding."""
    instance = make_instance('sqlite', seeded=True)
    before = instance.state()
    with pytest.raises(Exception) as raised:
        instance.seed()
    assert 'already has users' in str(raised.value)
    assert instance.state() == before, diff_states(before, instance.state())
    json.dumps(before)  # JSON-able


def test_papermerge_own_backup_reads_the_seed(seeded_sqlite, tmp_path):
    """The seed is data Papermerge itself accepts: its own `manage.py backup` archives it."""
    archive = tmp_path / 'native.tar.gz'
    seeded_sqlite.manage('backup', str(archive))
    with tarfile.open(archive) as tar:
        names = tar.getnames()
        backup = json.load(tar.extractfile('backup.json'))
    assert backup['version'] == '2.1.5'
    assert {u['username'] for u in backup['users']} == {'admin', 'jürgen', 'olga'}
    assert any(name.endswith('/v3/report.pdf') for name in names)


def test_seed_without_groups_restores_with_papermerge_itself(make_instance, tmp_path):
    source = make_instance('sqlite', migrated=True)
    source.seed('--no-groups')
    assert all(u['groups'] == [] for u in source.state()['users'])
    archive = tmp_path / 'native.tar.gz'
    source.manage('backup', str(archive))
    target = make_instance('sqlite')
    target.manage('restore', str(archive))
    restored = target.state()
    assert [d['path'] for d in restored['documents']] == \
        [d['path'] for d in source.state()['documents']]


def test_sql_runs_on_either_engine(seeded_instance):
    rows = seeded_instance.sql("SELECT title FROM core_basetreenode WHERE ctype = 'document' "
                               "AND title LIKE 'Rechnung%'")
    assert rows == [['Rechnung Zahnärztin Müller']]
    assert seeded_instance.sql('UPDATE core_page SET lang = lang') == []


def test_smoke_check_writes_nothing(seeded_instance):
    before = seeded_instance.state()
    seeded_instance.smoke()
    assert seeded_instance.state() == before


@pytest.mark.postgresql
def test_smoke_check_catches_sequences_behind_the_rows(make_instance, pg_cluster):
    """What a restore that copies rows but not sequence positions leaves behind."""
    instance = make_instance('postgresql', seeded=True)
    instance.smoke()
    database = instance.database
    pg_cluster.psql("SELECT setval('core_coloredtag_id_seq', 1)", database=database['name'],
                    user=database['user'], password=database['password'])
    with pytest.raises(PapermergeCommandError, match='core_coloredtag_pkey'):
        instance.smoke()
