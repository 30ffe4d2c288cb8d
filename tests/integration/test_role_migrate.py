"""The migrate role against real Papermerge 2.1.5 instances: check mode predicts, a real run
applies every migration and says so, a second run changes nothing."""

from playbook_run import instance_inventory, local_inventory, make_manage_py_executable, run_playbook

PLAY = [{
    'name': 'Migrate the Papermerge host',
    'hosts': 'papermerge',
    'gather_facts': False,
    'roles': [{'role': 'papermerge.backup.migrate'}],
}]


def pending_migrations(instance):
    plan = instance.manage('showmigrations', '--plan')
    return [line for line in plan.splitlines() if line.lstrip().startswith('[ ]')]


def test_migrate_applies_pending_migrations_once(make_instance):
    instance = make_instance(migrated=False)
    make_manage_py_executable(instance)
    inventory = instance_inventory(instance)
    assert pending_migrations(instance), 'a fresh instance should have pending migrations'

    preview = run_playbook(PLAY, inventory, check=True)
    assert preview.ok, preview.explain()
    assert preview.changed() == 1, preview.changed_tasks()
    assert pending_migrations(instance), 'check mode applied migrations'

    first = run_playbook(PLAY, inventory)
    assert first.ok, first.explain()
    assert first.changed_tasks() == ['Apply the pending migrations with manage.py migrate']
    assert pending_migrations(instance) == []

    second = run_playbook(PLAY, inventory)
    assert second.ok, second.explain()
    assert second.changed() == 0, second.changed_tasks()


def test_migrate_fails_clearly_without_the_project(make_instance, tmp_path):
    instance = make_instance()
    inventory = local_inventory(
        papermerge_project_dir=str(tmp_path / 'nowhere'),
        papermerge_venv=str(instance.venv),
        ansible_python_interpreter='/usr/bin/python3',
    )
    run = run_playbook(PLAY, inventory)
    assert not run.ok
    assert 'manage.py does not exist' in run.stdout
    assert 'Set papermerge_project_dir and papermerge_venv' in run.stdout
