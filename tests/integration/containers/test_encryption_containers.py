# -*- coding: utf-8 -*-
# Copyright: papermerge.backup contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Encrypted archives with Papermerge in Docker, as users run it: the modules run in the containers with the
image's own Python (community.docker.docker), nothing installed into the image, no age binary in it.

upstream's compose deployment (PostgreSQL) -> papermerge_backup with age_recipients -> the standard age tool
on the controller decrypts it -> papermerge_restore with age_identity_file into a quick-start container
(SQLite), which ends equal to the source."""

import json
import tarfile

import age_cli
from papermerge_container import container_inventory, controller_environment, run_ad_hoc
from papermerge_host import assert_states_equal

BACKUP_DIR = '/tmp/papermerge-encrypted-backups'


def test_encrypted_round_trip_between_containers_with_the_image_python(seeded_compose_deployment,
                                                                       make_quickstart_container,
                                                                       docker_daemon, tmp_path):
    keys = age_cli.Keys(tmp_path / 'keys')
    source = seeded_compose_deployment.backend
    target = make_quickstart_container()
    target.remove_fresh_users()
    inventory = container_inventory({'source': source, 'target': target})
    env = controller_environment(docker_daemon)
    for container in (source, target):
        assert container.exec(['sh', '-c', 'command -v age || echo none']).strip() == 'none'

    source.exec(['mkdir', '-p', '-m', '0700', BACKUP_DIR])
    made = run_ad_hoc(inventory, 'source', 'papermerge.backup.papermerge_backup', json.dumps(dict(
        project_dir=source.project_dir, dest=BACKUP_DIR + '/', label='docker',
        age_recipients=[keys.x25519_recipient, keys.rsa_recipient])), env=env)['source']
    assert not made.get('failed'), made.get('msg')
    archive = made['archive']
    assert archive.endswith('.tar.gz.age') and made['encryption']['mode'] == 'recipients'
    again = run_ad_hoc(inventory, 'source', 'papermerge.backup.papermerge_backup', json.dumps(dict(
        project_dir=source.project_dir, dest=BACKUP_DIR + '/', label='docker',
        age_recipients=[keys.rsa_recipient, keys.x25519_recipient])), env=env)['source']
    assert again.get('reused') is True and again['archive'] == archive

    local = tmp_path / archive.rsplit('/', 1)[-1]
    docker_daemon.docker('cp', '%s:%s' % (source.name, archive), str(local))
    assert local.read_bytes().startswith(b'age-encryption.org/v1\n')
    age_cli.decrypt(local, tmp_path / 'plain.tar.gz', keys.rsa)
    with tarfile.open(str(tmp_path / 'plain.tar.gz'), 'r:gz') as tar:
        assert tar.getnames()[0] == 'backup.json'

    docker_daemon.docker('cp', str(local), '%s:/tmp/archive.tar.gz.age' % target.name)
    docker_daemon.docker('cp', str(keys.x25519), '%s:/tmp/identity.txt' % target.name)
    target.exec(['chmod', '600', '/tmp/identity.txt'])
    restored = run_ad_hoc(inventory, 'target', 'papermerge.backup.papermerge_restore', json.dumps(dict(
        project_dir=target.project_dir, src='/tmp/archive.tar.gz.age', age_identity_file='/tmp/identity.txt')),
        env=env)['target']
    assert not restored.get('failed'), restored.get('msg')
    assert restored['changed'] and restored['verified']
    assert keys.secret() not in json.dumps(restored)
    assert_states_equal(target.state(), source.state())
