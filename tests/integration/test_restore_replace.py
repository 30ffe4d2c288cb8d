# -*- coding: utf-8 -*-
# Copyright: papermerge.backup contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""papermerge_restore mode=replace on real Papermerge 2.1.5 instances, through ansible-playbook (issue 12).

A seeded instance is backed up, then used for a day (tests/support/django_scripts/drift.py: a document renamed,
one moved into a new folder, a new document, a new user, a tag added, an email changed, a stray media file).
Replace rolls it back to exactly the archive: the state helper (Papermerge's ORM, every row that matters and the
sha256 of every media file) equals the source's; a second run changes nothing; check mode lists what would go
and writes nothing; a run stopped mid-way and failed leaves the drifted instance exactly as it was.
"""

import json
import os
import signal
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

from ansible_run import run_module
from papermerge_host import assert_states_equal

RESTORE = 'papermerge.backup.papermerge_restore'
BACKUP = 'papermerge.backup.papermerge_backup'
ENGINES = ['sqlite', pytest.param('postgresql', marks=pytest.mark.postgresql)]
STAGING = '.papermerge-restore'
DRIVER = Path(__file__).resolve().parents[1] / 'faults' / 'drive.py'


def restore(instance, src, check=False, **options):
    args = dict(project_dir=str(instance.project_dir), src=str(src))
    args.update(options)
    return run_module(RESTORE, args, python=instance.python, check=check)


def backup(instance, dest_dir):
    result = run_module(BACKUP, dict(project_dir=str(instance.project_dir), dest=str(dest_dir) + '/'),
                        python=instance.python)
    assert not result['failed'], result.get('msg')
    return Path(result['archive'])


@pytest.fixture
def drifted(request, make_instance, tmp_path):
    """(instance, its archive from before the drift, its state at the backup)."""
    def make(engine):
        instance = make_instance(engine, seeded=True)
        archive = backup(instance, tmp_path)
        at_backup = instance.state()
        instance.drift()
        return instance, archive, at_backup
    return make


@pytest.mark.parametrize('engine', ENGINES)
def test_replace_rolls_a_drifted_instance_back_exactly(drifted, engine):
    instance, archive, at_backup = drifted(engine)
    drifted_state = instance.state()
    assert drifted_state != at_backup

    merged = restore(instance, archive)
    assert merged['failed'] and 'collides with existing data' in merged['msg']  # merge cannot roll back

    planned = restore(instance, archive, check=True, mode='replace')
    assert not planned['failed'], planned.get('msg')
    assert planned['changed'] is True
    assert instance.state() == drifted_state, 'check mode wrote something'

    result = restore(instance, archive, mode='replace')
    assert not result['failed'], result.get('msg')
    assert result['changed'] is True and result['reindex_needed'] is True
    for key in ('removed', 'reverted', 'removed_counts', 'counts'):
        assert result[key] == planned[key], key
    assert_states_equal(instance.state(), at_backup)
    assert sorted(os.listdir(str(instance.media_root))) == ['.papermerge-backup-instance.lock', 'docs', 'sidecars']
    instance.smoke()

    again = restore(instance, archive, mode='replace')
    assert not again['failed'], again.get('msg')
    assert again['changed'] is False
    assert again['removed'] == [] and again['reverted'] == [] and sum(again['removed_counts'].values()) == 0
    assert_states_equal(instance.state(), at_backup)


def test_check_mode_lists_what_goes_and_comes_back_by_name_and_path(drifted):
    instance, archive, at_backup = drifted('sqlite')
    admin = [user for user in at_backup['users'] if user['username'] == 'admin'][0]
    documents = sorted(d['path'] for d in at_backup['documents'] if d['user'] == 'admin')
    planned = restore(instance, archive, check=True, mode='replace')
    assert not planned['failed'], planned.get('msg')
    assert planned['check_mode'] is True
    removed, reverted = planned['removed'], planned['reverted']
    assert 'user drifter, with all they own' in removed, removed
    assert "admin's folder .home/Moved here, with everything in it" in removed, removed
    assert "admin's document .home/New since.pdf" in removed, removed
    assert "admin's tag added later" in removed, removed
    assert 'media file docs/user_%s/stray.txt, which the archive does not have' % admin['id'] in removed, removed
    first_renamed = documents[0].rsplit('/', 1)[0] + '/renamed since.pdf'
    assert ("admin's document %s: renamed since the backup, the archive has it as %s" % (first_renamed, documents[0])
            in reverted), reverted
    assert "user admin: email, updated at changed since the backup" in reverted, reverted
    [changed] = [line for line in reverted if line.startswith('media file sidecars/user_%s/' % admin['id'])]
    assert changed.endswith('.txt: its content changed since the backup'), changed
    assert any(line.startswith("admin's document %s: its tags changed" % documents[2]) for line in reverted), reverted
    # The moved document is said with its folder; its own line would repeat it.
    assert planned['removed_counts']['users'] == 1 and planned['removed_counts']['tags'] == 1
    assert planned['removed_counts']['documents'] >= 4  # the new, renamed, moved and re-tagged ones
    assert not Path(instance.media_root, STAGING).exists()


@pytest.mark.parametrize('engine', ENGINES)
def test_a_replace_failing_mid_way_leaves_the_drifted_instance_exactly_as_it_was(drifted, engine, tmp_path):
    """Stopped after its rows (the drift deleted, files moved aside) by the test seam, a file appears where the
    archive's goes: the restore fails, the transaction rolls back and every file goes back."""
    instance, archive, at_backup = drifted(engine)
    drifted_state = instance.state()
    [changed] = [name for name in drifted_state['files'] if name in at_backup['files']
                 and drifted_state['files'][name] != at_backup['files'][name]]
    run = DrivenRun(instance, archive, tmp_path, stop_at='restore:rows')
    try:
        aside = Path(instance.media_root, STAGING, 'aside')
        assert aside.is_dir() and any(aside.iterdir()), 'nothing moved aside by the time of the rows'
        assert not Path(instance.media_root, changed).exists()
        Path(instance.media_root, changed).write_text('someone else wrote this meanwhile\n')
    finally:
        result = run.go_on()
    assert result['failed']
    assert result['msg'].startswith('media file %s appeared while restoring' % changed), result['msg']
    assert 'rolled back' in result['msg'] and 'the files moved aside put back' in result['msg'], result['msg']
    assert_states_equal(instance.state(), drifted_state)
    assert not Path(instance.media_root, STAGING).exists()


class DrivenRun:
    """papermerge_restore mode=replace run as the fault suite runs it (tests/faults/drive.py: the module's code
    in the Papermerge venv's Python), stopped by the test seam at a phase until go_on()."""

    def __init__(self, instance, archive, tmp_path, stop_at):
        params = json.dumps(dict(project_dir=str(instance.project_dir), src=str(archive), mode='replace'))
        env = dict((key, value) for key, value in os.environ.items() if not key.startswith('PAPERMERGE'))
        env.update(PAPERMERGE_BACKUP_TEST_STOP_AT=stop_at, TMPDIR=str(tmp_path))
        with tempfile.TemporaryFile('w+') as stdin:
            stdin.write(params)
            stdin.seek(0)
            self.process = subprocess.Popen([str(instance.python), str(DRIVER), 'restore'], stdin=stdin,
                                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, text=True)
        deadline = time.monotonic() + 300
        while not self.stopped():
            assert self.process.poll() is None, 'the run ended before %s: %s' % (stop_at, self.process.stdout.read())
            assert time.monotonic() < deadline, 'the run did not reach %s' % stop_at
            time.sleep(0.05)

    def stopped(self):
        with open('/proc/%d/stat' % self.process.pid) as handle:
            return handle.read().rsplit(')', 1)[1].split()[0] == 'T'

    def go_on(self):
        os.kill(self.process.pid, signal.SIGCONT)
        out, err = self.process.communicate(timeout=300)
        try:
            return json.loads(out)
        except ValueError:
            raise AssertionError('no result (exit %s): %s' % (self.process.returncode, err[-3000:]))


ROLE_PLAY = [{
    'name': 'Roll the Papermerge host back to the archive',
    'hosts': 'papermerge',
    'gather_facts': False,
    'roles': [{'role': 'papermerge.backup.restore'}],
}]


def test_the_restore_role_rolls_a_drifted_host_back_and_then_has_nothing_to_do(make_instance, tmp_path):
    from playbook_run import instance_inventory, make_manage_py_executable, run_playbook

    instance = make_instance('sqlite', seeded=True)
    make_manage_py_executable(instance)
    controller = tmp_path / 'controller'
    controller.mkdir()
    made = run_module(BACKUP, dict(project_dir=str(instance.project_dir), dest=str(controller) + '/',
                                   label='localhost'), python=instance.python)
    assert not made['failed'], made.get('msg')
    at_backup = instance.state()
    instance.drift()
    drifted_state = instance.state()
    extravars = {
        'papermerge_restore_archive': made['archive'],
        'papermerge_restore_upload_dir': str(tmp_path / 'upload'),
        'papermerge_restore_poll_interval': '1',
        'papermerge_restore_mode': 'replace',  # as an AWX survey's multiple choice gives it
    }
    inventory = instance_inventory(instance)

    preview = run_playbook(ROLE_PLAY, inventory, dict(extravars, papermerge_restore_archive_on_host=True),
                           check=True)
    assert preview.ok, preview.explain()
    [listed] = preview.results('Report what rolling the host back to the archive removes and puts back')
    assert 'user drifter, with all they own' in listed['msg']['removes'], listed['msg']
    assert any(line.startswith("admin's document ") and 'renamed since the backup' in line
               for line in listed['msg']['puts_back']), listed['msg']
    assert instance.state() == drifted_state, 'check mode changed the host'

    first = run_playbook(ROLE_PLAY, inventory, extravars)
    assert first.ok, first.explain()
    assert any(name.startswith('Rebuild the search index') for name in first.changed_tasks()), first.changed_tasks()
    [report] = first.results('Report the restore')
    assert 'Rolled back to the archive: removed ' in report['msg'], report['msg']
    assert_states_equal(instance.state(), at_backup)

    second = run_playbook(ROLE_PLAY, inventory, extravars)
    assert second.ok, second.explain()
    assert second.changed_tasks() == [], second.changed_tasks()
    assert_states_equal(instance.state(), at_backup)


def test_papermerge_s_own_archive_rolls_back_and_then_has_nothing_to_do(seeded_sqlite, make_instance, tmp_path):
    """Papermerge's own archives carry no folder, version, page or tag ids and no folder languages: replace goes
    by path there, and a replace right after a restore of one changes nothing."""
    archive = tmp_path / 'own-backup.tar.gz'
    seeded_sqlite.manage('backup', str(archive))
    target = make_instance('sqlite')
    assert not restore(target, archive)['failed']
    restored = target.state()
    again = restore(target, archive, mode='replace')
    assert not again['failed'], again.get('msg')
    assert again['changed'] is False, (again['removed'], again['reverted'])
    target.add_user('drifter', folder='Taxes')
    result = restore(target, archive, mode='replace')
    assert not result['failed'], result.get('msg')
    assert result['removed'] == ['user drifter, with all they own'], result['removed']
    assert_states_equal(target.state(), restored)
