# -*- coding: utf-8 -*-
# Copyright: papermerge.backup contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The drill against Papermerge in Docker (issue 14), as users run it: the inventory host is upstream's compose
app container (PostgreSQL), reached with community.docker.docker, /app and /venv and nothing else of ours.  The
archive sits in the container (on a volume in real life, in a directory of the test here); the drill makes its
throwaway SQLite instance inside the container with the image's own code, proves it, removes it, and the
container's Papermerge is exactly as it was; the metrics go to the Docker host (papermerge_backup_metrics_host)."""

import json
import sys

from papermerge_container import container_inventory, controller_environment, run_ad_hoc
from playbook_run import run_playbook
from prometheus_text import by_label, parse

PLAYBOOK = 'playbooks/drill.yml'
HOST = 'docs01'
BACKUP_DIR = '/tmp/papermerge-drill-backups'
WORK_DIR = '/var/tmp'
COUNT_KEYS = ('users', 'folders', 'documents', 'versions', 'pages', 'tags')


def test_the_drill_restores_inside_the_container_and_leaves_its_papermerge_as_it_was(
        seeded_compose_deployment, docker_daemon, tmp_path):
    backend = seeded_compose_deployment.backend
    inventory = container_inventory({HOST: backend})
    inventory['monitoring'] = {'hosts': {'dockerhost': {
        'ansible_connection': 'local', 'ansible_python_interpreter': sys.executable, 'ansible_become': False}}}
    env = controller_environment(docker_daemon)
    backend.exec(['mkdir', '-p', '-m', '0700', BACKUP_DIR])
    try:
        made = run_ad_hoc(inventory, HOST, 'papermerge.backup.papermerge_backup', json.dumps(dict(
            project_dir=backend.project_dir, dest=BACKUP_DIR + '/', label=HOST)), env=env)[HOST]
        assert not made.get('failed'), made.get('msg')
        before = backend.state()
        work_before = backend.exec(['ls', '-A', WORK_DIR])
        metrics = tmp_path / 'textfile' / 'papermerge_backup.prom'
        metrics.parent.mkdir()

        run = run_playbook(PLAYBOOK, inventory, {
            'papermerge_backup_dir': BACKUP_DIR, 'papermerge_drill_work_dir': WORK_DIR,
            'papermerge_drill_poll_interval': '1', 'papermerge_backup_metrics_file': str(metrics),
            'papermerge_backup_metrics_host': 'dockerhost'}, env=env)
        assert run.ok, run.explain()

        [chosen] = run.results('Choose, read and verify the archive, and check the room for the restore', host=HOST)
        assert chosen['archive'] == made['archive'] and chosen['verified']
        assert chosen['papermerge_version'] == '2.1.9'
        [verified] = run.results('Compare the restored instance and its files with the archive', host=HOST)
        assert verified['counts'] == dict((key, before['counts'][key]) for key in COUNT_KEYS)
        assert verified['files_checked'] == made['counts']['files']
        assert verified['users'] == sorted(user['username'] for user in before['users'])
        assert backend.state() == before, "the drill changed the container's Papermerge"
        assert backend.exec(['ls', '-A', WORK_DIR]) == work_before, 'the throwaway instance was left behind'
        found = by_label(parse(metrics.read_text()))
        assert found['papermerge_backup_last_drill_run_success'] == {HOST: 1}
    finally:
        backend.exec(['rm', '-rf', BACKUP_DIR])
