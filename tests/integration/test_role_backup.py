"""The backup role against a real seeded Papermerge 2.1.5 instance: the archive is made on the
host, copied to the controller, both copies match the module's sha256 and have their .sha256
files, rotation leaves exactly what the policy keeps (this host's label only), check mode
writes nothing, and a second run changes nothing."""

import hashlib
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from ansible_run import run_module
from playbook_run import instance_inventory, run_playbook
from ssh_test_hosts import SshTestHosts

PLAYBOOK = 'playbooks/backup.yml'


def sha256_of(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


def old_archives(directory, label, days):
    names = []
    for day in days:
        name = 'papermerge-%s-202601%02dT020000Z-2.1.5.tar.gz' % (label, day)
        (directory / name).write_bytes(b'an old archive')
        names.append(name)
    return names


def listing(directory):
    """The archives and checksum files (papermerge_backup keeps a hidden lock file too)."""
    return sorted(p.name for p in directory.iterdir() if not p.name.startswith('.'))


def test_backup_fetch_verify_rotate(make_instance, tmp_path):
    instance = make_instance(seeded=True)
    host_dir = tmp_path / 'host-backups'
    fetch_dir = tmp_path / 'controller-backups'
    host_dir.mkdir()
    fetch_dir.mkdir()
    old_mine = old_archives(host_dir, 'docs01', range(1, 6))
    old_theirs = old_archives(host_dir, 'docs02', range(1, 3))
    old_archives(fetch_dir, 'docs01', range(1, 4))
    inventory = instance_inventory(instance, 'docs01')
    # Survey answers: strings, numbers included.
    extravars = {
        'papermerge_backup_dir': str(host_dir),
        'papermerge_backup_fetch_dir': str(fetch_dir),
        'papermerge_backup_label': 'docs01',
        'papermerge_backup_poll_interval': '1',
        'papermerge_backup_keep_last': '2',
        'papermerge_backup_keep_daily': '0',
        'papermerge_backup_keep_weekly': '0',
        'papermerge_backup_keep_monthly': '0',
    }
    before_host, before_fetch = listing(host_dir), listing(fetch_dir)

    preview = run_playbook(PLAYBOOK, inventory, extravars, check=True)
    assert preview.ok, preview.explain()
    assert listing(host_dir) == before_host and listing(fetch_dir) == before_fetch

    first = run_playbook(PLAYBOOK, inventory, extravars)
    assert first.ok, first.explain()
    [result] = first.results('Wait for the backup to finish', host='docs01')
    archive = host_dir / result['archive'].rsplit('/', 1)[-1]
    name = archive.name
    assert name.startswith('papermerge-docs01-')
    line = '%s  %s\n' % (result['sha256'], name)
    for directory in (host_dir, fetch_dir):
        copy = directory / name
        assert sha256_of(copy) == result['sha256']
        assert stat.S_IMODE(copy.stat().st_mode) == 0o600
        assert (directory / (name + '.sha256')).read_text() == line
    # keep_last 2: the new archive and the newest old one, per directory; docs02 untouched.
    assert listing(host_dir) == sorted([name, name + '.sha256', old_mine[-1]] + old_theirs)
    assert listing(fetch_dir) == sorted([name, name + '.sha256', 'papermerge-docs01-20260103T020000Z-2.1.5.tar.gz'])

    second = run_playbook(PLAYBOOK, inventory, extravars)
    assert second.ok, second.explain()
    assert second.changed('docs01') == 0, second.changed_tasks('docs01')
    assert listing(host_dir) == sorted([name, name + '.sha256', old_mine[-1]] + old_theirs)
    # Check mode on the unchanged instance says what the real run says.
    [reported] = second.results('Report the archive', host='docs01')
    assert reported['msg'].startswith('Unchanged since %s (' % archive), repr(reported['msg'])
    checked = run_playbook(PLAYBOOK, inventory, extravars, check=True)
    assert checked.ok, checked.explain()
    assert checked.results('Report the archive', host='docs01')[0]['msg'] == reported['msg']


def test_failed_copy_fails_the_run_and_keeps_the_archive(make_instance, tmp_path):
    instance = make_instance(seeded=True)
    host_dir = tmp_path / 'host-backups'
    host_dir.mkdir()
    old = old_archives(host_dir, 'docs01', range(1, 6))
    blocker = tmp_path / 'not-a-directory'
    blocker.write_text('the sync directory cannot be created below a file')
    inventory = instance_inventory(instance, 'docs01')
    inventory['backup_targets'] = {'hosts': {'backup01': {
        'ansible_connection': 'local', 'ansible_python_interpreter': '/usr/bin/python3'}}}
    run = run_playbook(PLAYBOOK, inventory, {
        'papermerge_backup_dir': str(host_dir),
        'papermerge_backup_label': 'docs01',
        'papermerge_backup_poll_interval': '1',
        'papermerge_backup_sync_host': 'backup01',
        'papermerge_backup_sync_dir': str(blocker / 'backups'),
        'papermerge_backup_keep_last': '1',
    })
    assert not run.ok
    [failure] = run.results('Fail the run, keeping the archive on the host', host='docs01')
    assert 'The archive stays on docs01 and nothing was rotated' in failure['msg']
    made = [name for name in listing(host_dir) if name.endswith('.tar.gz') and name not in old]
    assert len(made) == 1
    assert (host_dir / (made[0] + '.sha256')).exists()
    assert all((host_dir / name).exists() for name in old), 'rotation ran although the copy failed'


@pytest.mark.parametrize('earlier_copy', [False, True], ids=['no-earlier-copy', 'earlier-good-copy'])
def test_copy_that_differs_from_the_archive_fails_the_run_and_keeps_the_archive(make_instance, tmp_path,
                                                                                earlier_copy):
    # The archive rots on the host after papermerge_backup wrote it and its .sha256 file: bytes
    # appended after the last gzip member leave its fingerprint alone, so the next run finds the
    # instance unchanged and returns that archive with the sha256 it wrote.  A copy of it is then
    # a faithful copy of a damaged file, and its sha256 differs from the module's.  A good copy an
    # earlier run put on the controller must survive that run untouched.
    instance = make_instance(seeded=True)
    host_dir = tmp_path / 'host-backups'
    fetch_dir = tmp_path / 'controller-backups'
    host_dir.mkdir()
    old = old_archives(host_dir, 'docs01', range(1, 6))
    made = run_module('papermerge.backup.papermerge_backup', {
        'project_dir': str(instance.project_dir),
        'config_file': str(instance.config_file),
        'dest': str(host_dir) + '/',
        'label': 'docs01',
    }, python=instance.python)
    assert not made['failed'], made
    archive = host_dir / made['archive'].rsplit('/', 1)[-1]
    checksum_file = host_dir / (archive.name + '.sha256')
    if earlier_copy:
        fetch_dir.mkdir(mode=0o700)
        for source in (archive, checksum_file):
            (fetch_dir / source.name).write_bytes(source.read_bytes())
            (fetch_dir / source.name).chmod(0o600)
    with archive.open('ab') as handle:
        handle.write(b'bit rot')
    written = checksum_file.stat().st_mtime
    os.utime(archive, (written - 60, written - 60))
    damaged = sha256_of(archive)

    run = run_playbook(PLAYBOOK, instance_inventory(instance, 'docs01'), {
        'papermerge_backup_dir': str(host_dir),
        'papermerge_backup_fetch_dir': str(fetch_dir),
        'papermerge_backup_label': 'docs01',
        'papermerge_backup_poll_interval': '1',
        'papermerge_backup_keep_last': '1',
    })
    assert not run.ok
    [wait] = run.results('Wait for the backup to finish', host='docs01')
    assert wait['archive'] == str(archive) and wait['sha256'] == made['sha256'] != damaged
    if earlier_copy:
        # The good copy is in place, so nothing is copied; reading the host's archive back finds the damage.
        [failure] = run.results('Fail when the archive on the host is not what the backup wrote', host='docs01')
        assert 'not what the backup wrote (sha256 %s, expected %s)' % (damaged, made['sha256']) in failure['msg']
        assert sorted(p.name for p in fetch_dir.iterdir()) == [archive.name, checksum_file.name]
        assert sha256_of(fetch_dir / archive.name) == made['sha256'], 'the good controller copy was replaced'
    else:
        [failure] = run.results('Fail the run, keeping the archive on the host', host='docs01')
        assert 'has sha256 %s, the archive has %s' % (damaged, made['sha256']) in failure['msg']
        assert 'The archive stays on docs01 and nothing was rotated' in failure['msg']
        assert list(fetch_dir.iterdir()) == [], 'the bad controller copy (or its temporary file) was kept'
    assert sha256_of(archive) == damaged, 'the archive on the host was not kept'
    assert all((host_dir / name).exists() for name in old), 'rotation ran although the archive was bad'


def test_check_mode_before_the_first_backup_writes_nothing(make_instance, tmp_path):
    instance = make_instance(seeded=True)
    run = run_playbook(PLAYBOOK, instance_inventory(instance, 'docs01'), {
        'papermerge_backup_dir': str(tmp_path / 'backups'),
        'papermerge_backup_fetch_dir': str(tmp_path / 'controller'),
        'papermerge_backup_label': 'docs01',
    }, check=True)
    assert run.ok, run.explain()
    assert run.changed('docs01') >= 1
    [report] = run.results('Report the archive', host='docs01')
    assert report['msg'].startswith('Would create %s' % (tmp_path / 'backups'))
    assert not (tmp_path / 'backups').exists() and not (tmp_path / 'controller').exists()


def test_controller_tasks_run_without_become_even_when_the_inventory_sets_it(make_instance, tmp_path):
    # ansible_become in the group all is common.  The implicit localhost takes the variables of all,
    # and the variable beats a task's become keyword: the controller tasks must not escalate (to
    # `nobody` here, who may read neither this checkout nor the test's directories).
    instance = make_instance(seeded=True)
    inventory = instance_inventory(instance, 'docs01')
    inventory['papermerge']['hosts']['docs01']['ansible_become'] = False
    inventory['all'] = {'vars': {'ansible_become': True, 'ansible_become_user': 'nobody'}}
    fetch_dir = tmp_path / 'controller-backups'
    run = run_playbook(PLAYBOOK, inventory, {
        'papermerge_backup_dir': str(tmp_path / 'host-backups'),
        'papermerge_backup_fetch_dir': str(fetch_dir),
        'papermerge_backup_label': 'docs01',
        'papermerge_backup_poll_interval': '1',
    })
    assert run.ok, run.explain()
    [result] = run.results('Wait for the backup to finish', host='docs01')
    name = result['archive'].rsplit('/', 1)[-1]
    assert sha256_of(fetch_dir / name) == result['sha256']
    assert (fetch_dir / name).stat().st_uid == os.getuid()


@pytest.fixture
def ssh_hosts():
    hosts = SshTestHosts()
    try:
        yield hosts
    finally:
        hosts.stop_all()


def test_sync_copy_reaches_a_host_the_controller_reaches_only_through_a_jump_host(make_instance, ssh_hosts,
                                                                                  tmp_path):
    # backup01's inventory says to reach it through jump01 (ProxyJump, in the ssh configuration its
    # ansible_ssh_common_args name).  The copy goes there with backup01's own connection settings and
    # become; jump01's sshd, logging at DEBUG1, records every forwarding it makes.
    instance = make_instance(seeded=True)
    jump = ssh_hosts.start('jump01', log_level='DEBUG1')
    sync = ssh_hosts.start('backup01')
    ssh_config = tmp_path / 'ssh_config'
    ssh_config.write_text(
        'Host jump01\n  HostName %s\n  Port %d\n  User %s\n  IdentityFile %s\n  IdentitiesOnly yes\n'
        'Host *\n  StrictHostKeyChecking no\n  UserKnownHostsFile /dev/null\n  LogLevel ERROR\n'
        % (jump['address'], jump['port'], jump['user'], jump['identity_file']))
    inventory = instance_inventory(instance, 'docs01')
    inventory['backup_targets'] = {'hosts': {'backup01': dict(
        SshTestHosts.inventory_vars(sync), ansible_ssh_common_args='-F %s -o ProxyJump=jump01' % ssh_config)}}
    sync_dir = Path(sync['base_dir']) / 'backups'
    sync_dir.mkdir(mode=0o700)
    old = old_archives(sync_dir, 'docs01', range(1, 4))
    extravars = {
        'papermerge_backup_dir': str(tmp_path / 'host-backups'),
        'papermerge_backup_label': 'docs01',
        'papermerge_backup_poll_interval': '1',
        'papermerge_backup_sync_host': 'backup01',
        'papermerge_backup_sync_dir': str(sync_dir),
        'papermerge_backup_keep_last': '2',
        'papermerge_backup_keep_daily': '0',
        'papermerge_backup_keep_weekly': '0',
        'papermerge_backup_keep_monthly': '0',
    }

    run = run_playbook(PLAYBOOK, inventory, extravars)
    assert run.ok, run.explain()
    [result] = run.results('Wait for the backup to finish', host='docs01')
    name = result['archive'].rsplit('/', 1)[-1]
    copy = sync_dir / name
    assert sha256_of(copy) == result['sha256']
    assert stat.S_IMODE(copy.stat().st_mode) == 0o600
    assert copy.stat().st_uid == 0, 'the copy was not made with become on backup01'
    assert (sync_dir / (name + '.sha256')).read_text() == '%s  %s\n' % (result['sha256'], name)
    assert listing(sync_dir) == sorted([name, name + '.sha256', old[-1]])
    # Every connection backup01 accepted is one jump01 forwarded: nothing bypassed the jump host.
    to_sync = ' %s port %d' % (sync['address'], sync['port'])
    jump_log = (Path(jump['state_dir']) / 'sshd.log').read_text().splitlines()
    sync_log = (Path(sync['state_dir']) / 'sshd.log').read_text().splitlines()
    forwarded = [line for line in jump_log if 'direct_tcpip: originator' in line and line.endswith('target' + to_sync)]
    arrived = [line for line in sync_log if 'Connection from' in line and ' on%s ' % to_sync in line + ' ']
    assert forwarded and len(arrived) == len(forwarded), (arrived, forwarded)

    # Without its jump host, backup01 is out of reach: the run fails saying so, and keeps every archive.
    ssh_hosts.stop('jump01')
    run = run_playbook(PLAYBOOK, inventory, extravars)
    assert not run.ok
    [failure] = run.results('Fail the run, keeping the archive on the host', host='docs01')
    assert 'The archive stays on docs01 and nothing was rotated' in failure['msg']
    assert 'check that the controller reaches backup01' in failure['msg']
    assert listing(sync_dir) == sorted([name, name + '.sha256', old[-1]])
    assert sha256_of(copy) == result['sha256']


# --- messages in the words of the role's user ---------------------------------------------------------------------------
@pytest.mark.parametrize('settings, message', [
    ({'papermerge_backup_timeout': '0'},
     'papermerge_backup_timeout is 0: give the longest time the backup may run, in seconds (21600 is 6 hours).'),
    ({'papermerge_backup_fetch_dir': 'backups'},
     'papermerge_backup_fetch_dir is backups: give an absolute path on the controller (or leave it empty for no copy '
     'there).'),
    ({'papermerge_backup_sync_host': 'backup99'},
     'papermerge_backup_sync_host is backup99, which is not a host of the inventory: name one (or leave it empty for '
     'no copy there).'),
    (dict(('papermerge_backup_keep_%s' % period, '0') for period in ('last', 'daily', 'weekly', 'monthly')),
     'papermerge_backup_keep_last, _hourly, _daily, _weekly, _monthly and _yearly are all 0 and '
     'papermerge_backup_keep_within is empty: rotation would keep nothing. Set one of them above 0 (-1 keeps all), or '
     'papermerge_backup_rotate: false.'),
])
def test_a_wrong_setting_is_named_alone_with_its_value(tmp_path, settings, message):
    inventory = {'papermerge': {'hosts': {'docs01': {
        'ansible_connection': 'local', 'ansible_python_interpreter': '/usr/bin/python3',
        'papermerge_project_dir': str(tmp_path / 'project'), 'papermerge_venv': str(tmp_path / 'venv')}}}}
    run = run_playbook(PLAYBOOK, inventory, dict(settings, papermerge_backup_dir=str(tmp_path / 'backups')))
    assert not run.ok
    [failure] = run.results('Fail early on a setting the run could not use', host='docs01')
    assert failure['msg'] == message
    assert not (tmp_path / 'backups').exists()


def test_a_venv_without_papermerge_is_told_as_papermerge_venv(make_instance, tmp_path):
    # The role's user sets papermerge_venv, never ansible_python_interpreter: the message names what they set.
    instance = make_instance(seeded=True)
    plain = tmp_path / 'plain-venv'
    subprocess.run([sys.executable, '-m', 'venv', '--without-pip', str(plain)], check=True)
    inventory = instance_inventory(instance, 'docs01')
    inventory['papermerge']['vars']['papermerge_venv'] = str(plain)
    run = run_playbook(PLAYBOOK, inventory, {'papermerge_backup_dir': str(tmp_path / 'backups'),
                                             'papermerge_backup_poll_interval': '1'})
    assert not run.ok
    [failure] = run.results('Wait for the backup to finish', host='docs01')
    assert "cannot tell the instance's Papermerge version: papermerge-core is not installed in the Python running " \
           'the module (%s/bin/python' % plain in failure['msg'], failure['msg']
    assert failure['msg'].endswith('Point papermerge_venv at the virtualenv Papermerge runs from, or give the '
                                   'version it runs: papermerge_version (for example 2.1.9)')
    assert 'ansible_python_interpreter' not in failure['msg']


def test_strict_names_the_role_variable(make_instance, tmp_path):
    instance = make_instance(seeded=True)
    missing = sorted((instance.media_root / 'docs').rglob('*.pdf'))[0]
    missing.unlink()
    run = run_playbook(PLAYBOOK, instance_inventory(instance, 'docs01'), {
        'papermerge_backup_dir': str(tmp_path / 'backups'),
        'papermerge_backup_strict': 'true',
        'papermerge_backup_poll_interval': '1',
    })
    assert not run.ok
    [failure] = run.results('Wait for the backup to finish', host='docs01')
    assert '(papermerge_backup_strict: true)' in failure['msg'], failure['msg']
    assert 'or set papermerge_backup_strict: false to archive everything else' in failure['msg']
    assert not any(name.endswith('.tar.gz') for name in listing(tmp_path / 'backups'))
