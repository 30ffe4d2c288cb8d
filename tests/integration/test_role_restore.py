"""The restore role against real Papermerge 2.1.5 instances: an archive on the controller is
uploaded, verified, restored into a host that was never migrated, the search index is rebuilt,
the instance ends equal to the source, and a second run changes nothing."""

import hashlib
import stat
import threading
import time

import pytest

from ansible_run import run_module
from file_reads import bytes_read, traced
from papermerge_host import assert_states_equal
from playbook_run import instance_inventory, local_inventory, make_manage_py_executable, run_playbook

PLAY = [{
    'name': 'Restore the Papermerge host',
    'hosts': 'papermerge',
    'gather_facts': False,
    'roles': [{'role': 'papermerge.backup.restore'}],
}]


def sha256_of(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture
def seeded_archive(make_instance, tmp_path):
    """A seeded instance and an archive of it made by papermerge_backup on the controller, labelled for the
    inventory's one host, localhost, as the backup role labels that host's archives."""
    source = make_instance(seeded=True)
    controller = tmp_path / 'controller'
    controller.mkdir()
    result = run_module('papermerge.backup.papermerge_backup', {
        'project_dir': str(source.project_dir),
        'config_file': str(source.config_file),
        'dest': str(controller) + '/',
        'label': 'localhost',
    }, python=source.python)
    assert not result['failed'], result
    return source, controller / result['archive'].rsplit('/', 1)[-1]


@pytest.fixture
def papermerge_own_archive(make_instance, tmp_path):
    """A seeded instance and an archive of it made by Papermerge 2.1.5's own manage.py backup."""
    source = make_instance(seeded=True)
    archive = tmp_path / 'controller' / 'papermerge-own.tar.gz'
    archive.parent.mkdir()
    source.manage('backup', str(archive))
    return source, archive


def test_restore_into_a_bare_host_then_nothing_to_do(make_instance, seeded_archive, tmp_path):
    source, archive = seeded_archive
    target = make_instance(migrated=False)
    make_manage_py_executable(target)
    inventory = instance_inventory(target)
    extravars = {
        'papermerge_restore_archive': str(archive),
        'papermerge_restore_upload_dir': str(tmp_path / 'upload'),
        'papermerge_restore_poll_interval': '1',
    }

    preview = run_playbook(PLAY, inventory, extravars, check=True)
    assert preview.ok, preview.explain()
    assert not (tmp_path / 'upload').exists(), 'check mode uploaded the archive'

    first = run_playbook(PLAY, inventory, extravars)
    assert first.ok, first.explain()
    changed = first.changed_tasks()
    assert 'Apply the pending migrations with manage.py migrate' in changed
    assert 'Upload the archive to the host' in changed
    assert any(name.startswith('Rebuild the search index') for name in changed), changed
    uploaded = tmp_path / 'upload' / archive.name
    assert sha256_of(uploaded) == sha256_of(archive)
    assert stat.S_IMODE(uploaded.stat().st_mode) == 0o600
    assert any(target.search_dir.iterdir()), 'the search index was not rebuilt'
    assert_states_equal(source.state(), target.state())

    second = run_playbook(PLAY, inventory, extravars)
    assert second.ok, second.explain()
    assert second.changed() == 0, second.changed_tasks()


def test_restore_refuses_an_archive_that_does_not_match_its_checksum(
        make_instance, papermerge_own_archive, tmp_path):
    archive = papermerge_own_archive[1]
    (archive.parent / (archive.name + '.sha256')).write_text('0' * 64 + '  ' + archive.name + '\n')
    target = make_instance()
    make_manage_py_executable(target)
    before = target.state()
    run = run_playbook(PLAY, instance_inventory(target), {
        'papermerge_restore_archive': str(archive),
        'papermerge_restore_upload_dir': str(tmp_path / 'upload'),
    })
    assert not run.ok
    assert 'the archive is damaged or it is not the one you meant' in run.stdout
    assert not (tmp_path / 'upload').exists()
    assert_states_equal(before, target.state())


def test_restore_from_an_archive_already_on_the_host(make_instance, seeded_archive, tmp_path):
    source, archive = seeded_archive
    target = make_instance()
    make_manage_py_executable(target)
    run = run_playbook(PLAY, instance_inventory(target), {
        'papermerge_restore_archive': str(archive),
        'papermerge_restore_archive_on_host': 'true',  # a survey's multiple choice answer
        'papermerge_restore_upload_dir': str(tmp_path / 'upload'),
        'papermerge_restore_poll_interval': '1',
    })
    assert run.ok, run.explain()
    assert not (tmp_path / 'upload').exists(), 'an archive on the host was uploaded'
    [check] = run.results('Fail when the archive on the host differs from the expected one')
    assert not check.get('skipped'), 'the archive was not checked against its .sha256 file'
    assert_states_equal(source.state(), target.state())


def test_a_reindex_that_hangs_is_stopped_and_the_restore_stays(make_instance, seeded_archive, tmp_path):
    source, archive = seeded_archive
    target = make_instance()
    make_manage_py_executable(target)
    started = time.monotonic()
    run = run_playbook(PLAY, instance_inventory(target), {
        'papermerge_restore_archive': str(archive),
        'papermerge_restore_archive_on_host': 'true',
        'papermerge_restore_poll_interval': '1',
        # A command that waits for ever, as rebuild_index does on its own lock on a volume's mount point.
        'papermerge_restore_reindex_command': 'shell --command "import time; time.sleep(600)"',
        'papermerge_restore_reindex_timeout': '5',  # a survey's text answer
    })
    assert not run.ok and time.monotonic() - started < 300
    [reindex] = run.results('Rebuild the search index with manage.py shell --command "import time; time.sleep(600)"')
    assert 'did not finish within 5 seconds (timeout) and was stopped' in reindex['msg'], reindex['msg']
    assert_states_equal(source.state(), target.state())


def test_restore_refuses_a_damaged_archive_on_the_host(make_instance, seeded_archive, tmp_path):
    # Bit rot on the host: the .sha256 file written with the archive no longer matches it.
    archive = seeded_archive[1]
    expected = (archive.parent / (archive.name + '.sha256')).read_text().split()[0]
    with archive.open('ab') as handle:
        handle.write(b'bit rot')
    target = make_instance()
    make_manage_py_executable(target)
    before = target.state()
    run = run_playbook(PLAY, instance_inventory(target), {
        'papermerge_restore_archive': str(archive),
        'papermerge_restore_archive_on_host': 'true',
    })
    assert not run.ok
    [failure] = run.results('Fail when the archive on the host differs from the expected one')
    assert 'has sha256 %s but %s was expected: the archive is' % (sha256_of(archive), expected) in failure['msg']
    assert_states_equal(before, target.state())


@pytest.mark.parametrize('archive_on_host', [True, False], ids=['archive-on-host', 'archive-uploaded'])
def test_restore_reads_the_archive_at_most_twice(make_instance, seeded_archive, tmp_path, archive_on_host):
    # One read verifies the archive (and says whether the restore changes anything), one restores it;
    # a run that has nothing to restore reads it once.  strace counts the bytes every process read
    # from the archive the modules work on, whatever it is that reads it.
    source, archive = seeded_archive
    target = make_instance()
    make_manage_py_executable(target)
    upload_dir = tmp_path / 'upload'
    on_host = archive if archive_on_host else upload_dir / archive.name
    extravars = {
        'papermerge_restore_archive': str(archive),
        'papermerge_restore_archive_on_host': archive_on_host,
        'papermerge_restore_upload_dir': str(upload_dir),
        'papermerge_restore_poll_interval': '1',
    }
    size = archive.stat().st_size

    log = tmp_path / 'first-run-reads.log'
    first = run_playbook(PLAY, instance_inventory(target), extravars, wrapper=traced(log))
    assert first.ok, first.explain()
    assert_states_equal(source.state(), target.state())
    assert size <= bytes_read(log, on_host) <= 2 * size, 'read %.2f times' % (bytes_read(log, on_host) / size)

    if archive_on_host:
        log = tmp_path / 'second-run-reads.log'
        second = run_playbook(PLAY, instance_inventory(target), extravars, wrapper=traced(log))
        assert second.ok, second.explain()
        assert second.changed() == 0, second.changed_tasks()
        assert size <= bytes_read(log, on_host) <= size, 'read %.2f times' % (bytes_read(log, on_host) / size)


# --- messages in the words of the role's user ---------------------------------------------------------------------------
def test_collisions_name_the_role_variable_and_the_users(make_instance, seeded_archive, tmp_path):
    archive = seeded_archive[1]
    # the archive's admin is another account, which owns a folder (so it is not replaced: a collision)
    target = make_instance().add_user('admin', folder='Taxes')
    make_manage_py_executable(target)
    before = target.state()
    run = run_playbook(PLAY, instance_inventory(target), {
        'papermerge_restore_archive': str(archive),
        'papermerge_restore_upload_dir': str(tmp_path / 'upload'),
    })
    assert not run.ok
    [failure] = run.results('Fail when the archive cannot be restored')
    assert ('user admin: the instance has another account of that name (a different user, not the one in the '
            'archive) and it owns documents, folders or tags, so it is not replaced') in failure['msg']
    assert failure['msg'].endswith('or set papermerge_restore_on_conflict: skip to restore everything else')
    assert 'on_conflict=' not in failure['msg'] and ' on_conflict:' not in failure['msg']
    assert_states_equal(before, target.state())


@pytest.mark.parametrize('setting, value, message', [
    ('papermerge_restore_upload_dir', 'backups/restore',
     'papermerge_restore_upload_dir is backups/restore: give an absolute path on the host.'),
    ('papermerge_restore_timeout', '0',
     'papermerge_restore_timeout is 0: give the longest time the restore may run, in seconds (21600 is 6 hours).'),
    ('papermerge_restore_archive', '',
     'papermerge_restore_archive is empty: give the path of the archive to restore, on the controller (or, with '
     'papermerge_restore_archive_on_host, on the host).'),
])
def test_a_wrong_setting_is_named_alone_with_its_value(tmp_path, setting, value, message):
    inventory = local_inventory(papermerge_project_dir=str(tmp_path / 'project'), papermerge_venv=str(tmp_path / 'venv'),
                                ansible_python_interpreter='/usr/bin/python3')
    extravars = {'papermerge_restore_archive': str(tmp_path / 'archive.tar.gz'),
                 'papermerge_restore_upload_dir': str(tmp_path / 'upload')}
    extravars[setting] = value
    run = run_playbook(PLAY, inventory, extravars)
    assert not run.ok
    [failure] = run.results('Fail early on a setting the restore could not use')
    assert failure['msg'] == message


def test_a_damaged_upload_is_removed_from_the_host_and_the_message_says_so(make_instance, seeded_archive, tmp_path):
    # The upload rots on the host after it was copied and checked (the copy module checks what it wrote): bytes
    # appear at its end once its .sha256 file is written, before the role reads it.
    archive = seeded_archive[1]
    target = make_instance()
    make_manage_py_executable(target)
    upload = tmp_path / 'upload' / archive.name
    rot = threading.Thread(target=rot_when_checked, args=(upload,), daemon=True)
    rot.start()
    before = target.state()
    run = run_playbook(PLAY, instance_inventory(target), {
        'papermerge_restore_archive': str(archive),
        'papermerge_restore_upload_dir': str(tmp_path / 'upload'),
    })
    rot.join(timeout=5)
    assert not run.ok
    [failure] = run.results('Fail when the archive on the host differs from the expected one')
    assert failure['msg'].endswith('was expected: the upload is damaged, so it was removed from the host; run the '
                                   'restore again to upload the archive anew.'), failure['msg']
    assert not upload.exists() and not (upload.parent / (upload.name + '.sha256')).exists()
    assert_states_equal(before, target.state())


def rot_when_checked(upload):
    checksum_file = upload.parent / (upload.name + '.sha256')
    deadline = time.monotonic() + 120
    while not checksum_file.exists() and time.monotonic() < deadline:
        time.sleep(0.01)
    with upload.open('ab') as handle:
        handle.write(b'bit rot')


def test_the_restore_prints_its_progress_and_no_retries(make_instance, seeded_archive, tmp_path):
    source, archive = seeded_archive
    target = make_instance()
    make_manage_py_executable(target)
    run = run_playbook(PLAY, instance_inventory(target), {
        'papermerge_restore_archive': str(archive),
        'papermerge_restore_upload_dir': str(tmp_path / 'upload'),
        'papermerge_restore_poll_interval': '1',
    })
    assert run.ok, run.explain()
    assert not any('RETRYING' in line for line in run.lines), run.lines
    # A poll before the job has published its first progress can only say that it runs; a restore this small may
    # end before the first poll (test_papermerge_wait.py shows the lines of a long one).
    progress = [line for line in run.lines if line.startswith('localhost: ') and line != 'localhost: running']
    assert all(line.startswith('localhost: restore: ') for line in progress), run.lines
    [waited] = run.results('Wait for the restore to finish')
    assert waited['counts']['documents'] > 0 and waited['changed'] is True
    assert_states_equal(source.state(), target.state())
