# -*- coding: utf-8 -*-
"""Whether a path outlives its container, read from /proc/self/mountinfo as the module sees it inside; and
what papermerge_instance_info says about an instance's storage."""

import pytest

from ansible_collections.papermerge.backup.plugins.module_utils import container, instance_info, papermerge_version
from ansible_collections.papermerge.backup.plugins.module_utils.errors import PapermergeBackupError

# /proc/self/mountinfo of the compose deployment's backend (upstream's volumes), abridged, plus a bind mount whose
# path has a space (escaped \040) and a tmpfs.
MOUNTINFO = r"""85 60 0:39 / / rw,relatime master:2 - overlay overlay rw,lowerdir=/l/A:/l/B,upperdir=/u/diff,workdir=/u/work
86 85 0:42 / /proc rw,nosuid,nodev,noexec,relatime - proc proc rw
87 85 0:43 / /dev rw,nosuid - tmpfs tmpfs rw,size=65536k,mode=755
102 85 254:0 /var/lib/docker/containers/99ab/resolv.conf /etc/resolv.conf rw,relatime - ext4 /dev/vda rw
106 85 254:0 /var/lib/docker/volumes/p_media_root/_data /app/media rw,relatime - ext4 /dev/vda rw
107 85 254:0 /var/lib/docker/volumes/p_xapian_index/_data /app/xapian_index rw,relatime - ext4 /dev/vda rw
108 85 254:0 /srv/my\040backups /var/backups/my\040backups rw,relatime shared:5 master:1 - xfs /dev/vdb rw
109 85 0:50 / /scratch rw,relatime - tmpfs tmpfs rw
"""
MOUNTS = container.parse_mountinfo(MOUNTINFO)


def test_mountinfo_gives_mount_points_and_types_in_order():
    assert MOUNTS[0] == ('/', 'overlay')
    assert ('/var/backups/my backups', 'xfs') in MOUNTS  # optional fields skipped, octal escapes read
    assert container.parse_mountinfo('garbage\n\n1 2 3\n') == []


@pytest.mark.parametrize('path, mount_point, kind', [
    ('/var/backups/papermerge', '/', 'writable_layer'),
    ('/app', '/', 'writable_layer'),
    ('/app/media', '/app/media', 'mount'),
    ('/app/media/docs/user_1', '/app/media', 'mount'),
    ('/app/mediabox', '/', 'writable_layer'),  # a prefix of the string, not of the path
    ('/var/backups/my backups/archives', '/var/backups/my backups', 'mount'),
    ('/scratch/archives', '/scratch', 'memory'),
])
def test_storage_in_a_container(path, mount_point, kind):
    found = container.storage_of(path, container=True, mounts=MOUNTS)
    assert (found['mount_point'], found['kind']) == (mount_point, kind)
    assert found['persistent'] is (kind == 'mount')


def test_the_last_of_two_mounts_on_one_point_is_the_one_on_top():
    mounts = MOUNTS + [('/app/media', 'tmpfs')]
    assert container.storage_of('/app/media/x', container=True, mounts=mounts)['kind'] == 'memory'


def test_a_root_that_is_not_an_overlay_is_not_a_writable_layer():
    # A virtual machine that carries /.dockerenv but boots from a disk: nothing there is a writable layer.
    found = container.storage_of('/var/backups', container=True, mounts=[('/', 'ext4')])
    assert found['kind'] == 'mount' and found['persistent']


def test_outside_a_container_every_path_is_the_host_s():
    found = container.storage_of('/scratch/x', container=False, mounts=MOUNTS)
    assert found['kind'] == 'host' and found['persistent']


def test_symlinks_are_followed_to_where_the_data_really_is(tmp_path):
    (tmp_path / 'volume').mkdir()
    (tmp_path / 'link').symlink_to(tmp_path / 'volume')
    mounts = [('/', 'overlay'), (str(tmp_path / 'volume'), 'ext4')]
    found = container.storage_of(str(tmp_path / 'link' / 'not-yet'), container=True, mounts=mounts)
    assert found['path'] == str(tmp_path / 'volume' / 'not-yet') and found['kind'] == 'mount'


def test_container_markers(tmp_path):
    assert not container.in_container(markers=(str(tmp_path / '.dockerenv'),))
    (tmp_path / '.containerenv').write_text('')
    assert container.in_container(markers=(str(tmp_path / '.dockerenv'), str(tmp_path / '.containerenv')))


@pytest.fixture
def quick_start(tmp_path, monkeypatch):
    """An instance laid out like the official image's quick start: SQLite and media in /app, no volume."""
    project = tmp_path / 'app'
    (project / 'papermerge' / 'core').mkdir(parents=True)
    (project / 'papermerge' / 'core' / 'version.py').write_text('__version__ = "2.1.9"\n')
    monkeypatch.setattr(papermerge_version, 'installed_version', lambda: None)
    monkeypatch.setattr(instance_info, 'in_container', lambda: True)
    monkeypatch.setattr(instance_info, 'read_mounts', lambda: [('/', 'overlay')])
    return project


def params(project, **more):
    values = dict(project_dir=str(project), config_file=None, environment={}, media_root=None, database=None,
                  papermerge_version=None, paths=[], check_database=True)
    values.update(more)
    return values


def test_quick_start_storage_warns_about_the_media_root_and_the_database(quick_start):
    result = instance_info.describe_instance(params(quick_start, paths=['/var/backups/papermerge']))
    assert result['papermerge_version'] == '2.1.9' and result['container'] is True
    assert result['instance']['engine'] == 'sqlite'
    assert result['instance']['database'] == {'path': str(quick_start / 'db.sqlite3')}
    assert result['storage']['paths'][0]['kind'] == 'writable_layer'
    assert not result['storage']['media_root']['persistent'] and not result['storage']['database']['persistent']
    media, database = result['warnings']
    assert "media root %s/media (every document file) is in the container's writable layer" % quick_start in media
    assert 'media_root:/app/media' in media
    assert "SQLite database %s/db.sqlite3 is in the container's writable layer" % quick_start in database
    assert 'PAPERMERGE__DATABASE__DIR' in database


def test_data_on_volumes_gives_no_warning(quick_start, monkeypatch):
    monkeypatch.setattr(instance_info, 'read_mounts', lambda: [('/', 'overlay'), (str(quick_start), 'ext4')])
    result = instance_info.describe_instance(params(quick_start))
    assert result['warnings'] == [] and result['storage']['media_root']['kind'] == 'mount'


def test_an_unreachable_database_is_said_from_inside_the_container(quick_start, monkeypatch):
    pytest.importorskip('psycopg2')
    from ansible_collections.papermerge.backup.plugins.module_utils import database
    monkeypatch.setattr(database, 'in_container', lambda: True)
    environment = {'PAPERMERGE__DATABASE__TYPE': 'postgres', 'PAPERMERGE__DATABASE__HOST': '127.0.0.1',
                   'PAPERMERGE__DATABASE__PORT': '9'}  # discard: nobody listens
    with pytest.raises(PapermergeBackupError) as raised:
        instance_info.describe_instance(params(quick_start, environment=environment))
    assert 'the server is not reachable' in str(raised.value)
    assert "inside the app's container" in str(raised.value)
    result = instance_info.describe_instance(params(quick_start, environment=environment, check_database=False))
    assert result['instance']['database'] == {'host': '127.0.0.1', 'port': 9, 'name': 'papermerge',
                                              'user': 'papermerge'}
    assert result['storage']['database'] is None
