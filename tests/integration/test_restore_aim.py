"""A restore you can aim, through the collection's own playbooks on two real Papermerge hosts (docs01, docs02).

The backup playbook labels docs01's archives docs01 (its inventory hostname, no label set).  The restore playbook
then refuses to restore that archive into both hosts at once (no -l), with both instances unchanged and nothing
uploaded; refuses it into docs02 by its name before uploading, and by the label its manifest records once the file
is renamed; and restores it into docs02 once papermerge_restore_confirm_label repeats the archive's label.
"""

import shutil

from papermerge_host import assert_states_equal
from playbook_run import REPO, make_manage_py_executable, run_playbook

BACKUP = REPO / 'playbooks' / 'backup.yml'
RESTORE = REPO / 'playbooks' / 'restore.yml'


def two_hosts(docs01, docs02, tmp_path):
    """docs01 and docs02 in the group papermerge, each with its own archive and upload directories."""
    def host(instance, name):
        return {
            'ansible_connection': 'local',
            'ansible_python_interpreter': '/usr/bin/python3',
            'papermerge_project_dir': str(instance.project_dir),
            'papermerge_venv': str(instance.venv),
            'papermerge_config_file': str(instance.config_file),
            'papermerge_backup_dir': str(tmp_path / name / 'backups'),
            'papermerge_restore_upload_dir': str(tmp_path / name / 'upload'),
        }
    return {'papermerge': {'hosts': {'docs01': host(docs01, 'docs01'), 'docs02': host(docs02, 'docs02')}}}


def refusal(run, task, host):
    [result] = run.results(task, host=host)
    assert result.get('failed'), result
    return result['msg']


def test_a_restore_is_aimed_at_one_host_and_at_the_host_the_archive_comes_from(make_instance, tmp_path):
    docs01 = make_instance(seeded=True)
    docs02 = make_instance()
    make_manage_py_executable(docs02)
    inventory = two_hosts(docs01, docs02, tmp_path)
    controller = tmp_path / 'controller'

    backup = run_playbook(BACKUP, inventory, {'papermerge_backup_fetch_dir': str(controller),
                                              'papermerge_backup_poll_interval': '1'}, limit='docs01')
    assert backup.ok, backup.explain()
    [archive] = controller.glob('*.tar.gz')
    assert archive.name.startswith('papermerge-docs01-'), 'the default label is not the inventory hostname'
    before01, before02 = docs01.state(), docs02.state()
    extravars = {'papermerge_restore_archive': str(archive), 'papermerge_restore_poll_interval': '1'}

    # No -l: the group's two hosts.  Refused on both, before anything is uploaded.
    unlimited = run_playbook(RESTORE, inventory, extravars)
    assert not unlimited.ok
    for host in ('docs01', 'docs02'):
        message = refusal(unlimited, 'Fail when the run would restore into more than one host', host)
        assert message.startswith('This run would restore %s into 2 hosts (docs01, docs02); nothing was uploaded or '
                                  'changed. Limit the run to the host you mean with -l HOST' % archive.name), message
        assert 'papermerge_restore_allow_many_hosts: true' in message
        assert not (tmp_path / host / 'upload').exists()
    assert_states_equal(before01, docs01.state())
    assert_states_equal(before02, docs02.state())

    # docs01's archive into docs02: refused by its name, before the upload.
    wrong_host = run_playbook(RESTORE, inventory, extravars, limit='docs02')
    assert not wrong_host.ok
    message = refusal(wrong_host, "Fail when the archive's name says it was made on another host", 'docs02')
    assert message == ('%s was made on the host labelled docs01, not on docs02: restoring it here puts that host\'s '
                       'users and documents into this one. If that is what you mean, set '
                       'papermerge_restore_confirm_label: docs01; otherwise choose an archive made on docs02. Nothing '
                       'was restored.' % archive.name)
    assert not (tmp_path / 'docs02' / 'upload').exists()

    # Renamed, the archive still tells: papermerge_restore reads the label its manifest records.
    renamed = controller / 'last-night.tar.gz'
    shutil.copy(str(archive), str(renamed))
    by_manifest = run_playbook(RESTORE, inventory, dict(extravars, papermerge_restore_archive=str(renamed),
                                                        papermerge_restore_confirm_label='docs03'), limit='docs02')
    assert not by_manifest.ok
    message = refusal(by_manifest, 'Fail when the archive cannot be restored', 'docs02')
    assert message.startswith('last-night.tar.gz was made on the host labelled docs01, not on docs02'), message
    assert message.endswith("(papermerge_restore_confirm_label is docs03, which is not this archive's label). "
                            'Nothing was restored.'), message
    assert_states_equal(before02, docs02.state())

    # The confirmation repeats the archive's label: restored.
    confirmed = run_playbook(RESTORE, inventory, dict(extravars, papermerge_restore_confirm_label='docs01'),
                             limit='docs02')
    assert confirmed.ok, confirmed.explain()
    assert_states_equal(before01, docs02.state())
    assert_states_equal(before01, docs01.state())
