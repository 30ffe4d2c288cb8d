"""The drill role against real seeded Papermerge 2.1.5 instances (SQLite and PostgreSQL): the newest
archive of the backup directory restores into a throwaway SQLite instance made with the host's own
code, Papermerge's ORM sees exactly the archive, nothing is left behind, and the real instance is
byte for byte unchanged (ORM state, media sha256, database file).  A corrupted archive whose .sha256
was made to match fails naming the member; a disk too small (tmpfs) is refused before anything is
made; metrics and pings tell both outcomes."""

import gzip
import hashlib
import io
import os
import subprocess
import tarfile
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

import age_cli
from ansible_run import run_module
from ping_server import PingServer
from playbook_run import instance_inventory, run_playbook
from prometheus_text import by_label, parse

PLAYBOOK = 'playbooks/drill.yml'
CHECK = 'c0ffee00-docs01-drill'


def sha256_of(path):
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def make_archive(instance, directory, **options):
    directory.mkdir(exist_ok=True)
    options.update(project_dir=str(instance.project_dir), config_file=str(instance.config_file),
                   dest=str(directory) + '/', label='docs01')
    made = run_module('papermerge.backup.papermerge_backup', options, python=instance.python)
    assert not made['failed'], made
    return made


def read_metrics(path):
    text = path.read_text()
    strict = by_label(parse(text))
    official = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            official.setdefault(sample.name, {})[sample.labels['label']] = sample.value
    assert official == strict
    return strict


def untouched_evidence(instance):
    """What must not change: Papermerge's view (rows and media sha256), the database file, the
    search index and the project directory."""
    evidence = {'state': instance.state(), 'search': sorted(os.listdir(str(instance.search_dir))),
                'project': sorted(str(p.relative_to(instance.project_dir)) for p in instance.project_dir.rglob('*')
                                  if '__pycache__' not in p.parts)}
    if instance.engine == 'sqlite':
        evidence['database'] = sha256_of(instance.sqlite_file)
    return evidence


def drill_vars(tmp_path, backups, **more):
    work = tmp_path / 'drill-work'
    work.mkdir(exist_ok=True)
    (tmp_path / 'textfile').mkdir(exist_ok=True)
    values = {'papermerge_backup_dir': str(backups), 'papermerge_drill_work_dir': str(work),
              'papermerge_drill_poll_interval': '1',
              'papermerge_backup_metrics_file': str(tmp_path / 'textfile' / 'papermerge_backup.prom')}
    values.update(more)
    return values


def test_the_newest_archive_restores_and_the_real_instance_is_untouched(seeded_instance, tmp_path):
    backups = tmp_path / 'backups'
    made = make_archive(seeded_instance, backups)
    older = backups / 'papermerge-docs01-20200101T000000Z-2.1.5.tar.gz'
    older.write_bytes(b'an older archive, never drilled')
    before = untouched_evidence(seeded_instance)
    with PingServer() as server:
        run = run_playbook(PLAYBOOK, instance_inventory(seeded_instance, 'docs01'),
                           drill_vars(tmp_path, backups, papermerge_drill_ping_url=server.url(CHECK)))
        assert run.ok, run.explain()
        assert server.paths() == ['/ping/%s/start' % CHECK, '/ping/%s' % CHECK]
    assert untouched_evidence(seeded_instance) == before
    assert list((tmp_path / 'drill-work').iterdir()) == [], 'the throwaway instance was left behind'

    [chosen] = run.results('Choose, read and verify the archive, and check the room for the restore', host='docs01')
    assert chosen['archive'] == made['archive'] and chosen['verified'] and chosen['label'] == 'docs01'
    [verified] = run.results('Compare the restored instance and its files with the archive', host='docs01')
    counts = before['state']['counts']
    assert verified['counts'] == {key: counts[key] for key in
                                  ('users', 'folders', 'documents', 'versions', 'pages', 'tags')}
    assert verified['files_checked'] == made['counts']['files'] == chosen['counts']['files']
    assert verified['users'] == sorted(user['username'] for user in before['state']['users'])
    [report] = run.results('Report the drill', host='docs01')
    assert report['msg'].startswith('Drill passed: %s restored' % made['archive'])
    found = read_metrics(tmp_path / 'textfile' / 'papermerge_backup.prom')
    assert found['papermerge_backup_last_drill_run_success'] == {'docs01': 1}
    assert found['papermerge_backup_last_drill_success_timestamp_seconds']['docs01'] == \
        found['papermerge_backup_last_drill_run_timestamp_seconds']['docs01']
    assert 0 < found['papermerge_backup_drill_restore_duration_seconds']['docs01'] < 900
    assert 'papermerge_backup_last_run_success' not in found, 'a drill is not a backup run'


def test_an_encrypted_archive_is_drilled_with_the_identity_file_on_the_host(make_instance, tmp_path):
    """Verified and restored with papermerge_drill_age_identity; without it the drill fails before making
    anything, saying that the archive is encrypted."""
    instance = make_instance(seeded=True)
    keys = age_cli.Keys(tmp_path / 'keys')
    backups = tmp_path / 'backups'
    made = make_archive(instance, backups, age_recipients=[keys.x25519_recipient])
    assert made['archive'].endswith('.tar.gz.age'), made['archive']
    inventory = instance_inventory(instance, 'docs01')

    refused = run_playbook(PLAYBOOK, inventory, drill_vars(tmp_path, backups))
    assert not refused.ok
    [failure] = refused.results("Fail the run with the drill's error", host='docs01')
    assert 'is encrypted (age): give the identity' in failure['msg'], failure['msg']
    assert refused.results("Migrate the throwaway instance with the host's manage.py", host='docs01') == []

    with_identity = drill_vars(tmp_path, backups, papermerge_drill_age_identity=str(keys.x25519))
    run = run_playbook(PLAYBOOK, inventory, with_identity)
    assert run.ok, run.explain()
    [chosen] = run.results('Choose, read and verify the archive, and check the room for the restore', host='docs01')
    assert chosen['archive'] == made['archive'] and chosen['verified']
    [verified] = run.results('Compare the restored instance and its files with the archive', host='docs01')
    assert verified['files_checked'] == made['counts']['files']
    assert verified['users'] == sorted(user['username'] for user in instance.state()['users'])
    assert list((tmp_path / 'drill-work').iterdir()) == [], 'the throwaway instance was left behind'


def corrupt(archive, target):
    """A copy of archive at target with one document's bytes changed (same size), its .sha256 made to
    match: only the manifest can tell.  Returns the member changed."""
    with gzip.open(str(archive)) as handle:
        raw = handle.read()
    source = tarfile.open(fileobj=io.BytesIO(raw))
    out = io.BytesIO()
    changed = None
    with tarfile.open(fileobj=out, mode='w', format=source.format) as writer:
        for member in source.getmembers():
            data = source.extractfile(member).read() if member.isreg() else None
            if changed is None and member.isreg() and member.name.startswith('docs/') and member.size > 100:
                data = data[:50] + bytes([data[50] ^ 0xFF]) + data[51:]
                changed = member.name
            writer.addfile(member, io.BytesIO(data) if data is not None else None)
    target.write_bytes(gzip.compress(out.getvalue()))
    (target.parent / (target.name + '.sha256')).write_text('%s  %s\n' % (sha256_of(target), target.name))
    return changed


def test_a_corrupted_newest_archive_fails_naming_the_member(make_instance, tmp_path):
    instance = make_instance(seeded=True)
    backups = tmp_path / 'backups'
    made = make_archive(instance, backups)
    metrics = tmp_path / 'textfile' / 'papermerge_backup.prom'
    good = run_playbook(PLAYBOOK, instance_inventory(instance, 'docs01'), drill_vars(tmp_path, backups))
    assert good.ok, good.explain()
    passed_at = read_metrics(metrics)['papermerge_backup_last_drill_success_timestamp_seconds']['docs01']

    newest = backups / 'papermerge-docs01-20991231T000000Z-2.1.5.tar.gz'
    member = corrupt(Path(made['archive']), newest)
    with PingServer() as server:
        run = run_playbook(PLAYBOOK, instance_inventory(instance, 'docs01'),
                           drill_vars(tmp_path, backups, papermerge_drill_ping_url=server.url(CHECK)))
        assert not run.ok
        [failure] = run.results("Fail the run with the drill's error", host='docs01')
        assert member in failure['msg'], failure['msg']
        method, path, body = server.pings[-1]
        assert path == '/ping/%s/fail' % CHECK and method == 'POST' and member[:40] in body
    assert list((tmp_path / 'drill-work').iterdir()) == []
    found = read_metrics(metrics)
    assert found['papermerge_backup_last_drill_run_success'] == {'docs01': 0}
    assert found['papermerge_backup_last_drill_success_timestamp_seconds'] == {'docs01': passed_at}


@pytest.fixture
def small_tmpfs(tmp_path):
    mount_point = tmp_path / 'small'
    mount_point.mkdir()
    subprocess.run(['mount', '-t', 'tmpfs', '-o', 'size=4m,mode=0755', 'tmpfs', str(mount_point)], check=True)
    try:
        yield mount_point
    finally:
        subprocess.run(['umount', str(mount_point)], check=True)


def test_a_disk_too_small_is_refused_before_anything_is_made(make_instance, tmp_path, small_tmpfs):
    instance = make_instance(seeded=True)
    backups = tmp_path / 'backups'
    make_archive(instance, backups)
    run = run_playbook(PLAYBOOK, instance_inventory(instance, 'docs01'),
                       drill_vars(tmp_path, backups, papermerge_drill_work_dir=str(small_tmpfs)))
    assert not run.ok
    [failure] = run.results("Fail the run with the drill's error", host='docs01')
    assert 'the drill needs about' in failure['msg'] and 'free in %s' % small_tmpfs in failure['msg']
    assert 'MiB is free there' in failure['msg'] or 'KiB is free there' in failure['msg']
    assert run.results('Migrate the throwaway instance with the host\'s manage.py', host='docs01') == [], \
        'the throwaway instance was made although the space check failed'
    assert os.listdir(str(small_tmpfs)) == []
