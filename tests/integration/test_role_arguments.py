"""Every role that works on a Papermerge instance checks the shared host variables with its
argument spec before any task uses them: a missing papermerge_venv or papermerge_project_dir is
named as a missing required variable, not reported as an undefined one somewhere later."""

import pytest

from playbook_run import local_inventory, run_playbook

# Besides the shared host variables, what each role needs to get as far as its argument spec.
ROLES = {
    'backup': {},
    'drill': {},
    'migrate': {},
    'restore': {'papermerge_restore_archive': '/srv/backups/papermerge-docs01-20261126T020000Z-2.1.5.tar.gz'},
}


def validation_result(run):
    """The result of the role's first task, the check of its argument spec."""
    first = run.report['plays'][0]['tasks'][0]
    assert first['task']['name'].split(' : ', 1)[-1].startswith('Validating arguments against arg spec'), first
    return first['hosts']['docs01']


@pytest.mark.parametrize('missing', ['papermerge_venv', 'papermerge_project_dir'])
@pytest.mark.parametrize('role', sorted(ROLES))
def test_a_missing_shared_variable_is_named_by_the_argument_spec(role, missing, tmp_path):
    host_vars = {'papermerge_venv': str(tmp_path / 'venv'), 'papermerge_project_dir': str(tmp_path / 'project')}
    del host_vars[missing]
    host_vars.update(ROLES[role])
    play = [{'hosts': 'papermerge', 'gather_facts': False, 'roles': [{'role': 'papermerge.backup.' + role}]}]
    run = run_playbook(play, local_inventory(hosts={'docs01': host_vars}))
    assert not run.ok
    result = validation_result(run)
    assert result['argument_errors'] == ['missing required arguments: %s' % missing], result
    assert 'is undefined' not in run.stdout + run.stderr
