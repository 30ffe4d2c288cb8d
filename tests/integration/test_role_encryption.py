# -*- coding: utf-8 -*-
# Copyright: papermerge.backup contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The roles with encryption, as a user runs them with -vvv: the backup role with recipients given as a
survey's text answer (and with a passphrase), the restore role with the identity's content; no secret in the
whole output, the identity file gone from the host whatever the outcome, the instance restored exactly."""

import os
import re
from pathlib import Path

import age_cli
from papermerge_host import assert_states_equal
from playbook_run import REPO, instance_inventory, make_manage_py_executable, run_playbook

BACKUP = REPO / 'playbooks' / 'backup.yml'
RESTORE = [{'name': 'Restore the Papermerge host', 'hosts': 'papermerge', 'gather_facts': False,
            'roles': [{'role': 'papermerge.backup.restore'}]}]
VERBOSE = {'ANSIBLE_VERBOSITY': '3', 'ANSIBLE_STDOUT_CALLBACK': 'default'}
PASSPHRASE = 'zq-passphrase-4c1d-never-logged'


# Where the restore role puts the identity for a run (tasks/identity.yml): tempfile names it.
IDENTITY_DIR = re.compile(r'/(?:dev/shm|tmp)/papermerge-restore-identity\.[A-Za-z0-9_]+')


def identity_dirs_left(run):
    """The identity directories this run made, as its output names them, that are still there.  Only the run's
    own: other tests on other pytest-xdist workers make and remove theirs meanwhile."""
    made = set(IDENTITY_DIR.findall(run.stdout + run.stderr))
    assert made, 'the run made no identity directory'
    return sorted(path for path in made if os.path.exists(path))


def output(run):
    return run.stdout + run.stderr


def test_encrypted_backup_and_restore_through_the_roles_keep_every_secret_out(make_instance, tmp_path):
    keys, other = age_cli.Keys(tmp_path / 'keys'), age_cli.Keys(tmp_path / 'other')
    source = make_instance(seeded=True)
    controller = tmp_path / 'controller'
    survey_answer = '%s,\n%s\n' % (keys.x25519_recipient, keys.ed25519_recipient)
    backup_vars = dict(papermerge_backup_dir=str(tmp_path / 'host'), papermerge_backup_fetch_dir=str(controller),
                       papermerge_backup_age_recipients=survey_answer, papermerge_backup_keep_last='2')
    first = run_playbook(BACKUP, instance_inventory(source), backup_vars, env=VERBOSE)
    assert first.ok, output(first)[-5000:]
    archives = sorted(path.name for path in controller.iterdir())
    assert len(archives) == 2 and archives[0].endswith('.tar.gz.age') and archives[1] == archives[0] + '.sha256'
    again = run_playbook(BACKUP, instance_inventory(source), backup_vars, env=VERBOSE)
    assert again.ok and sorted(path.name for path in controller.iterdir()) == archives  # unchanged: reused
    assert 'Unchanged since' in output(again)

    with_passphrase = dict(backup_vars, papermerge_backup_age_recipients='', papermerge_backup_age_passphrase=PASSPHRASE,
                           papermerge_backup_fetch_dir=str(tmp_path / 'controller-passphrase'))
    protected = run_playbook(BACKUP, instance_inventory(source), with_passphrase, env=VERBOSE)
    assert protected.ok, output(protected)[-5000:]
    assert PASSPHRASE not in output(protected)

    target = make_instance(migrated=False)
    make_manage_py_executable(target)
    restore_vars = dict(papermerge_restore_archive=str(controller / archives[0]),
                        papermerge_restore_upload_dir=str(tmp_path / 'upload'), papermerge_restore_poll_interval='1')
    wrong = run_playbook(RESTORE, instance_inventory(target),
                         dict(restore_vars, papermerge_restore_age_identity=other.x25519.read_text()), env=VERBOSE)
    assert not wrong.ok and 'encrypted to other recipients' in output(wrong)
    assert identity_dirs_left(wrong) == [], 'the identity stayed on the host after a failed restore'

    right = run_playbook(RESTORE, instance_inventory(target),
                         dict(restore_vars, papermerge_restore_age_identity=keys.x25519.read_text()), env=VERBOSE)
    assert right.ok, output(right)[-5000:]
    assert identity_dirs_left(right) == [], 'the identity stayed on the host after the restore'
    assert_states_equal(target.state(), source.state())

    for secret in (keys.secret(), other.secret(), keys.secret()[15:40]):
        for run in (first, again, protected, wrong, right):
            assert secret not in output(run)
    for path in Path(str(tmp_path / 'upload')).iterdir():
        assert keys.secret().encode() not in path.read_bytes()
