# -*- coding: utf-8 -*-
"""Config discovery: the same media root and database Papermerge 2.1 (configula 0.5.4) would use."""

import os

import pytest

from ansible_collections.papermerge.backup.plugins.module_utils import papermerge_version
from ansible_collections.papermerge.backup.plugins.module_utils.errors import PapermergeBackupError
from ansible_collections.papermerge.backup.plugins.module_utils.instance import (
    check_environment, instance_argument_spec, instance_from_params, resolve_instance)


@pytest.fixture
def project(tmp_path):
    project_dir = tmp_path / 'project'
    project_dir.mkdir()
    return project_dir


def write(path, text):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding='utf-8')
    return path


def resolve(project_dir, locations=None, process_environ=None, **kwargs):
    """resolve_instance with the system locations moved under the test's tmp dir."""
    if locations is None:
        locations = ('papermerge.toml',)
    return resolve_instance(str(project_dir), locations=locations,
                            process_environ=process_environ or {}, **kwargs)


def test_defaults_without_any_configuration(project):
    instance = resolve(project)
    assert instance.media_root == os.path.join(str(project), 'media')
    assert instance.database == {'engine': 'sqlite', 'path': os.path.join(str(project), 'db.sqlite3')}
    assert instance.config_file is None


def test_project_toml_sets_media_root_and_sqlite_dir(project, tmp_path):
    write(project / 'papermerge.toml',
          '[main]\nmedia_root = "%s"\n[database]\ndir = "%s"\n' % (tmp_path / 'm', tmp_path / 'db'))
    instance = resolve(project)
    assert instance.media_root == str(tmp_path / 'm')
    assert instance.database['path'] == str(tmp_path / 'db' / 'db.sqlite3')
    assert instance.config_file == str(project / 'papermerge.toml')


def test_relative_paths_are_relative_to_project_dir(project):
    write(project / 'papermerge.toml', '[main]\nmedia_root = "data/media"\n[database]\ndir = "data"\n')
    instance = resolve(project)
    assert instance.media_root == str(project / 'data' / 'media')
    assert instance.database['path'] == str(project / 'data' / 'db.sqlite3')


def test_first_existing_location_wins_and_files_are_not_merged(project, tmp_path):
    etc = write(tmp_path / 'etc' / 'papermerge.toml', '[main]\nmedia_root = "/from/etc"\n')
    write(project / 'papermerge.toml', '[main]\nmedia_root = "/from/project"\n[database]\ndir = "/x"\n')
    instance = resolve(project, locations=(str(etc), 'papermerge.toml'))
    assert instance.media_root == '/from/etc'
    # [database] dir exists only in the second file: configula reads one file, so the default applies
    assert instance.database['path'] == os.path.join(str(project), 'db.sqlite3')


def test_config_variable_is_used_only_when_no_default_location_exists(project, tmp_path):
    named = write(tmp_path / 'elsewhere.toml', '[main]\nmedia_root = "/named"\n')
    env = {'PAPERMERGE__CONFIG': str(named)}
    assert resolve(project, environment=env).media_root == '/named'
    write(project / 'papermerge.toml', '[main]\nmedia_root = "/project"\n')
    assert resolve(project, environment=env).media_root == '/project'


def test_environment_variables_win_over_the_file(project):
    write(project / 'papermerge.toml', '[main]\nmedia_root = "/file"\n[database]\ntype = "sqlite"\n')
    env = {'PAPERMERGE__MAIN__MEDIA_ROOT': '/env', 'PAPERMERGE__DATABASE__TYPE': 'postgres',
           'PAPERMERGE__DATABASE__PASSWORD': 's3cret', 'PAPERMERGE__DATABASE__PORT': '5433'}
    instance = resolve(project, environment=env)
    assert instance.media_root == '/env'
    assert instance.database == {'engine': 'postgresql', 'name': 'papermerge', 'user': 'papermerge',
                                 'password': 's3cret', 'host': 'localhost', 'port': 5433}
    assert 'environment PAPERMERGE__DATABASE__PASSWORD' in instance.config_sources
    assert not any('s3cret' in source for source in instance.config_sources)


def test_empty_environment_variable_falls_through_to_the_file(project):
    # configula: os.getenv(name) or toml[section][key]
    write(project / 'papermerge.toml', '[main]\nmedia_root = "/file"\n')
    assert resolve(project, environment={'PAPERMERGE__MAIN__MEDIA_ROOT': ''}).media_root == '/file'


def test_option_environment_wins_over_process_environment(project):
    instance = resolve(project, process_environ={'PAPERMERGE__MAIN__MEDIA_ROOT': '/process',
                                                 'HOME': '/root'},
                       environment={'PAPERMERGE__MAIN__MEDIA_ROOT': '/option'})
    assert instance.media_root == '/option'
    assert resolve(project, process_environ={'PAPERMERGE__MAIN__MEDIA_ROOT': '/process'}).media_root == '/process'


def test_overrides_win_over_everything(project, tmp_path):
    write(project / 'papermerge.toml', '[main]\nmedia_root = "/file"\n[database]\ntype = "pg"\n'
                                       'host = "db"\npassword = "from-file"\n')
    instance = resolve(project, environment={'PAPERMERGE__DATABASE__HOST': 'env-host'},
                       media_root=str(tmp_path / 'override'),
                       database={'host': '127.0.0.1', 'port': 6000, 'password': None})
    assert instance.media_root == str(tmp_path / 'override')
    assert instance.database['host'] == '127.0.0.1'
    assert instance.database['port'] == 6000
    assert instance.database['password'] == 'from-file'  # None means "not overridden"


def test_postgres_defaults_match_configula(project):
    write(project / 'papermerge.toml', '[database]\ntype = "postgresql"\n')
    assert resolve(project).database == {'engine': 'postgresql', 'name': 'papermerge', 'user': 'papermerge',
                                         'password': '', 'host': 'localhost', 'port': 5432}


@pytest.mark.parametrize('kind', ['pg', 'postgre', 'postgres', 'postgresql'])
def test_every_postgres_spelling_of_configula(project, kind):
    write(project / 'papermerge.toml', '[database]\ntype = "%s"\n' % kind)
    assert resolve(project).database['engine'] == 'postgresql'


def test_unknown_type_means_sqlite_as_in_papermerge(project):
    # configula compares case-sensitively: Papermerge itself would use SQLite here
    write(project / 'papermerge.toml', '[database]\ntype = "PostgreSQL"\n')
    assert resolve(project).database['engine'] == 'sqlite'


def test_mysql_is_refused_clearly(project):
    write(project / 'papermerge.toml', '[database]\ntype = "mysql"\n')
    with pytest.raises(PapermergeBackupError, match='MySQL/MariaDB'):
        resolve(project)


def test_old_media_dir_setting_is_read_when_media_root_is_unset(project):
    write(project / 'papermerge.toml', '[media]\ndir = "/old-style"\n')
    assert resolve(project).media_root == '/old-style'
    write(project / 'papermerge.toml', '[media]\ndir = "/old-style"\n[main]\nmedia_root = "/new"\n')
    assert resolve(project).media_root == '/new'


def test_explicit_config_file_is_the_only_file_read(project, tmp_path):
    write(project / 'papermerge.toml', '[main]\nmedia_root = "/project"\n')
    explicit = write(tmp_path / 'pm.toml', '[main]\nmedia_root = "/explicit"\n')
    assert resolve(project, config_file=str(explicit)).media_root == '/explicit'


def test_missing_explicit_config_file_fails(project, tmp_path):
    with pytest.raises(PapermergeBackupError, match='does not exist'):
        resolve(project, config_file=str(tmp_path / 'nope.toml'))


def test_invalid_toml_names_the_file(project):
    write(project / 'papermerge.toml', '[main\nmedia_root = \n')
    with pytest.raises(PapermergeBackupError, match='papermerge.toml is not valid TOML'):
        resolve(project)


def test_missing_project_dir_fails(tmp_path):
    with pytest.raises(PapermergeBackupError, match='not a directory'):
        resolve(tmp_path / 'nope')


def test_bad_port_fails(project):
    write(project / 'papermerge.toml', '[database]\ntype = "pg"\nport = "fivefourthreetwo"\n')
    with pytest.raises(PapermergeBackupError, match='port'):
        resolve(project)


def test_argument_spec_hides_the_password_and_only_the_password():
    spec = instance_argument_spec()
    assert spec['project_dir']['required'] is True
    assert spec['database']['options']['password']['no_log'] is True
    # Ansible masks a no_log option's values wherever they appear in a result: environment is not secret.
    assert spec['environment']['no_log'] is False
    assert set(spec['database']['options']) == {'type', 'name', 'user', 'password', 'host', 'port', 'dir'}


def _fake_venv(venv, version):
    dist_info = venv / 'lib' / 'python3.10' / 'site-packages' / ('papermerge_core-%s.dist-info' % version)
    dist_info.mkdir(parents=True)
    (dist_info / 'METADATA').write_text('Metadata-Version: 2.1\nName: papermerge-core\nVersion: %s\n\n'
                                        'Version: 9.9.9 (the description, not a header)\n' % version)


@pytest.mark.parametrize('where', ['project/venv', 'project/.env', '.venv'])
def test_papermerge_version_from_a_venv_in_or_beside_the_project(tmp_path, monkeypatch, where):
    monkeypatch.setattr(papermerge_version, 'installed_version', lambda: None)
    project = tmp_path / 'project'
    project.mkdir()
    _fake_venv(tmp_path / where, '2.1.5')
    assert papermerge_version.find_papermerge_version(str(project)) == '2.1.5'


def test_papermerge_version_of_the_running_python_comes_first(tmp_path, monkeypatch):
    monkeypatch.setattr(papermerge_version, 'installed_version', lambda: '2.1.4')
    _fake_venv(tmp_path / 'venv', '2.1.5')
    assert papermerge_version.find_papermerge_version(str(tmp_path)) == '2.1.4'


def _source_tree(project, text):
    write(project / 'papermerge' / 'core' / 'version.py', text)
    # The package's __init__ runs git when imported: reading the version must never import it.
    write(project / 'papermerge' / '__init__.py', 'raise SystemExit("papermerge was imported")\n')


@pytest.mark.parametrize('text', ['__version__ = "2.1.9"\n', "# comment\n__version__='2.1.8'  \n"])
def test_papermerge_version_from_the_source_tree_of_the_official_image(project, monkeypatch, text):
    """/app/papermerge/core/version.py, with no dist-info anywhere (the official Docker images)."""
    monkeypatch.setattr(papermerge_version, 'installed_version', lambda: None)
    _source_tree(project, text)
    _fake_venv(project / 'venv', '2.1.5')  # a venv in the project does not win over the app's own source
    assert papermerge_version.find_papermerge_version(str(project)) == text.split('=')[1].strip().strip('\'"')


def test_papermerge_version_of_the_running_python_wins_over_the_source_tree(project, monkeypatch):
    monkeypatch.setattr(papermerge_version, 'installed_version', lambda: '2.1.5')
    _source_tree(project, '__version__ = "2.1.9"\n')
    assert papermerge_version.find_papermerge_version(str(project)) == '2.1.5'


@pytest.mark.parametrize('text', ['VERSION = "2.1.9"\n', '__version__ = get_version()\n', b'\xff\xfe'])
def test_a_version_file_without_a_plain_version_is_not_a_version(project, monkeypatch, text):
    monkeypatch.setattr(papermerge_version, 'installed_version', lambda: None)
    path = project / 'papermerge' / 'core' / 'version.py'
    path.parent.mkdir(parents=True)
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text)
    assert papermerge_version.find_papermerge_version(str(project)) is None


def test_papermerge_version_not_found_is_none(tmp_path, monkeypatch):
    monkeypatch.setattr(papermerge_version, 'installed_version', lambda: None)
    assert papermerge_version.find_papermerge_version(str(tmp_path / 'project')) is None


@pytest.mark.parametrize('name', ['PAPERMERGE__DATABASE__PASSWORD', 'PAPERMERGE__MAIN__SECRET_KEY',
                                  'papermerge__database__passwd', 'PAPERMERGE__S3__TOKEN', 'AWS_CREDENTIALS'])
def test_secret_named_environment_variables_are_refused_without_their_value(name):
    environment = {'PAPERMERGE__DATABASE__USER': 'papermerge', name: 'pw-value'}
    with pytest.raises(PapermergeBackupError, match='database.password') as raised:
        check_environment(environment)
    assert name in str(raised.value) and 'pw-value' not in str(raised.value)
    assert raised.value.details == {'secret_variables': [name]}


def test_plain_environment_variables_pass():
    check_environment({'PAPERMERGE__DATABASE__USER': 'papermerge', 'PAPERMERGE__DATABASE__PORT': 5432,
                       'PAPERMERGE__MAIN__MEDIA_ROOT': ''})
    check_environment(None)


def test_instance_and_version_from_the_shared_options(project, monkeypatch):
    monkeypatch.setattr(papermerge_version, 'installed_version', lambda: None)
    params = dict(project_dir=str(project), config_file=None, media_root=None,
                  environment={'PAPERMERGE__DATABASE__TYPE': 'postgres', 'PAPERMERGE__DATABASE__USER': 'alice'},
                  database=dict(password='pw', port=None))
    instance, version = instance_from_params(params)
    assert instance.database['user'] == 'alice' and instance.database['password'] == 'pw'
    assert version is None  # no Papermerge here: a restore skips its version check, a backup refuses
    _fake_venv(project / 'venv', '2.1.5')
    assert instance_from_params(params)[1] == '2.1.5'
    assert instance_from_params(dict(params, papermerge_version='2.1.9'))[1] == '2.1.9'  # the option wins
    with pytest.raises(PapermergeBackupError, match='PAPERMERGE__DATABASE__PASSWORD'):
        instance_from_params(dict(params, environment={'PAPERMERGE__DATABASE__PASSWORD': 'pw'}))
