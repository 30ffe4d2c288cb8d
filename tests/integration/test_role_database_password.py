"""The database password never shows in a role's output, even at -vvv.

Ansible writes a task's `environment` on the remote command line (`VAR=value python AnsiballZ_...`),
which -vvv prints and `ps` on the host shows.  Here the password reaches the instance only through
papermerge_environment (its papermerge.toml has none), so a role that runs manage.py at all must
hand it over, and the playbook output at -vvv must not hold it anywhere.
"""

import pytest

from ansible_run import run_module
from papermerge_host import assert_states_equal, render_toml
from playbook_run import instance_inventory, run_playbook

pytestmark = pytest.mark.postgresql

VERBOSE = {'ANSIBLE_VERBOSITY': '3'}


def play(role):
    return [{'name': 'Run %s' % role, 'hosts': 'papermerge', 'gather_facts': False,
             'roles': [{'role': 'papermerge.backup.%s' % role}]}]


def password_only_in_the_environment(instance):
    """Take the password out of the instance's papermerge.toml; return the variables it runs with."""
    sections = instance.toml_sections()
    del sections['database']['password']
    instance.config_file.write_text(render_toml(sections), encoding='utf-8')
    return {'PAPERMERGE__DATABASE__TYPE': 'postgresql',
            'PAPERMERGE__DATABASE__PASSWORD': instance.database['password']}


def inventory_for(instance, environment):
    inventory = instance_inventory(instance)
    inventory['papermerge']['vars']['papermerge_environment'] = environment
    return inventory


def pending_migrations(instance, environment):
    plan = instance.manage('showmigrations', '--plan', env=environment)
    return [line for line in plan.splitlines() if line.lstrip().startswith('[ ]')]


def assert_password_not_shown(run, password):
    assert run.ok, run.explain()
    output = run.stdout + run.stderr
    assert 'ESTABLISH LOCAL CONNECTION' in output, 'the run was not at -vvv'
    assert password not in output, 'the database password shows in the output at -vvv'


def test_migrate_hands_manage_py_the_password_without_showing_it(make_instance):
    target = make_instance('postgresql', migrated=False)
    environment = password_only_in_the_environment(target)
    inventory = inventory_for(target, environment)
    password = environment['PAPERMERGE__DATABASE__PASSWORD']

    preview = run_playbook(play('migrate'), inventory, check=True, env=VERBOSE)
    assert_password_not_shown(preview, password)
    assert preview.changed() == 1, preview.changed_tasks()

    first = run_playbook(play('migrate'), inventory, env=VERBOSE)
    assert_password_not_shown(first, password)
    assert 'Apply the pending migrations with manage.py migrate' in first.changed_tasks()
    assert pending_migrations(target, environment) == []

    second = run_playbook(play('migrate'), inventory, env=VERBOSE)
    assert_password_not_shown(second, password)
    assert second.changed() == 0, second.changed_tasks()


def test_restore_migrates_and_reindexes_without_showing_the_password(make_instance, tmp_path):
    source = make_instance('postgresql', seeded=True)
    controller = tmp_path / 'controller'
    controller.mkdir()
    backup = run_module('papermerge.backup.papermerge_backup', {
        'project_dir': str(source.project_dir),
        'config_file': str(source.config_file),
        'dest': str(controller) + '/',
        'label': 'localhost',
    }, python=source.python)
    assert not backup['failed'], backup
    target = make_instance('postgresql', migrated=False)
    environment = password_only_in_the_environment(target)
    extravars = {
        'papermerge_restore_archive': backup['archive'],
        'papermerge_restore_upload_dir': str(tmp_path / 'upload'),
        'papermerge_restore_poll_interval': '1',
    }

    run = run_playbook(play('restore'), inventory_for(target, environment), extravars, env=VERBOSE)
    assert_password_not_shown(run, environment['PAPERMERGE__DATABASE__PASSWORD'])
    changed = run.changed_tasks()
    assert 'Apply the pending migrations with manage.py migrate' in changed
    assert any(name.startswith('Rebuild the search index') for name in changed), changed
    assert any(target.search_dir.iterdir()), 'the search index was not rebuilt'
    # The test's own state reader takes the password from the file.
    target.config_file.write_text(render_toml(target.toml_sections()), encoding='utf-8')
    assert_states_equal(source.state(), target.state())
