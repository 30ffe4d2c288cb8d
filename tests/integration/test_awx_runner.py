"""playbooks/backup.yml run the way AWX runs a job: through ansible-runner, with a private data
directory whose project/ is this repository, collections installed from the project's
collections/requirements.yml into requirements_collections/, an inventory, and the survey
answers as extra variables that are all strings.  The job must end `successful`.

The connection collection (community.docker) comes from the toolchain, as it comes from
the execution environment in AWX; only the requirement pointing at the project itself is
installed here, so the test needs no network.
"""

import hashlib
import json
import os
import shutil
import stat
import subprocess

import ansible_runner
import yaml

from ansible_run import ANSIBLE_BIN
from playbook_run import REPO

PROJECT_IGNORE = shutil.ignore_patterns('.git', '.venv', '.cache', '.ansible', '__pycache__', 'output')


def install_project_collections(private_data_dir):
    """What AWX's project update does with collections/requirements.yml, minus the network."""
    project = private_data_dir / 'project'
    requirements = yaml.safe_load((project / 'collections' / 'requirements.yml').read_text())
    local = [req for req in requirements['collections'] if req.get('type') == 'dir']
    assert [req['name'] for req in local] == ['papermerge.backup']
    offline_requirements = private_data_dir / 'requirements-local.yml'
    offline_requirements.write_text(yaml.safe_dump({'collections': local}))
    # As in AWX, nothing else is installed yet: a collections path inherited from the developer's shell
    # (the Makefile's points at this checkout) would make ansible-galaxy skip the install as "already there".
    env = {key: value for key, value in os.environ.items() if key != 'ANSIBLE_COLLECTIONS_PATH'}
    subprocess.run(
        [str(ANSIBLE_BIN / 'ansible-galaxy'), 'collection', 'install', '--no-deps',
         '-r', str(offline_requirements), '-p', str(private_data_dir / 'requirements_collections')],
        cwd=str(project), env=env, check=True, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)


def test_backup_playbook_as_an_awx_job(make_instance, tmp_path, monkeypatch):
    instance = make_instance(seeded=True)
    private_data_dir = tmp_path / 'awx-job'
    shutil.copytree(REPO, private_data_dir / 'project', ignore=PROJECT_IGNORE, symlinks=True)
    install_project_collections(private_data_dir)
    host_dir = tmp_path / 'host-backups'
    fetch_dir = tmp_path / 'controller-backups'

    inventory = {'papermerge': {'hosts': {'docs01': {
        'ansible_connection': 'local',
        'ansible_python_interpreter': '/usr/bin/python3',
        'papermerge_project_dir': str(instance.project_dir),
        'papermerge_venv': str(instance.venv),
        'papermerge_config_file': str(instance.config_file),
    }}}}
    (private_data_dir / 'inventory').mkdir()
    (private_data_dir / 'inventory' / 'hosts.json').write_text(json.dumps(inventory))
    # A survey sends every answer as a string.
    survey_answers = {
        'papermerge_backup_dir': str(host_dir),
        'papermerge_backup_fetch_dir': str(fetch_dir),
        'papermerge_backup_keep_last': '7',
        'papermerge_backup_keep_daily': '7',
        'papermerge_backup_keep_weekly': '4',
        'papermerge_backup_keep_monthly': '6',
        'papermerge_backup_poll_interval': '2',
        'papermerge_backup_rotate': 'true',
    }
    envvars = {
        'ANSIBLE_COLLECTIONS_PATH': str(private_data_dir / 'requirements_collections'),
        'ANSIBLE_HOME': str(tmp_path / 'ansible-home'),
        'ANSIBLE_LOCAL_TEMP': str(tmp_path / 'local-tmp'),
        'ANSIBLE_REMOTE_TEMP': str(tmp_path / 'remote-tmp'),
        'ANSIBLE_NOCOLOR': '1',
    }

    # ansible-runner starts ansible-playbook from PATH, as the execution environment has it.
    monkeypatch.setenv('PATH', '%s:%s' % (ANSIBLE_BIN, os.environ.get('PATH', '/usr/bin:/bin')))
    job = ansible_runner.run(
        private_data_dir=str(private_data_dir), playbook='playbooks/backup.yml',
        extravars=survey_answers, envvars=envvars, quiet=True, timeout=900)

    output = job.stdout.read()
    assert job.status == 'successful', output[-6000:]
    assert job.rc == 0
    archives = sorted(host_dir.glob('papermerge-*.tar.gz'))
    assert len(archives) == 1
    archive = archives[0]
    copy = fetch_dir / archive.name
    digest = hashlib.sha256(archive.read_bytes()).hexdigest()
    assert hashlib.sha256(copy.read_bytes()).hexdigest() == digest
    assert stat.S_IMODE(copy.stat().st_mode) == 0o600
    assert (fetch_dir / (archive.name + '.sha256')).read_text() == '%s  %s\n' % (digest, archive.name)
    assert 'Wait for the backup to finish' in output
