"""The backup role tells the monitoring how every run went: heartbeat pings to a receiver on a
loopback port (start, then success or fail with what failed), the Prometheus textfile read back
with Prometheus' own parser and a strict one (a failure keeps the last success), set_stats for AWX,
and a ping that cannot be delivered is a warning, not a failed backup."""

import json
import socket
import stat

from prometheus_client.parser import text_string_to_metric_families

from ping_server import PingServer
from playbook_run import instance_inventory, run_playbook
from prometheus_text import by_label, parse

PLAYBOOK = 'playbooks/backup.yml'
CHECK = 'b6d4e1a0-docs01-backup'


def read_metrics(path):
    """{series: {label: value}}, the file read by both parsers, which must agree."""
    text = path.read_text()
    strict = by_label(parse(text))
    official = {}
    for family in text_string_to_metric_families(text):
        assert family.type == 'gauge' and family.documentation
        for sample in family.samples:
            official.setdefault(sample.name, {})[sample.labels['label']] = sample.value
    assert official == strict
    return strict


def extravars(tmp_path, **more):
    values = {
        'papermerge_backup_dir': str(tmp_path / 'backups'),
        'papermerge_backup_label': 'docs01',
        'papermerge_backup_poll_interval': '1',
        'papermerge_backup_metrics_file': str(tmp_path / 'textfile' / 'papermerge_backup.prom'),
        'papermerge_backup_ping_timeout': '5',
    }
    values.update(more)
    (tmp_path / 'textfile').mkdir(exist_ok=True)
    return values


def test_success_then_failure_are_pinged_and_recorded(make_instance, tmp_path):
    instance = make_instance(seeded=True)
    inventory = instance_inventory(instance, 'docs01')
    metrics = tmp_path / 'textfile' / 'papermerge_backup.prom'
    with PingServer() as server:
        variables = extravars(tmp_path, papermerge_backup_ping_url=server.url(CHECK))
        good = run_playbook(PLAYBOOK, inventory, variables, env={'ANSIBLE_SHOW_CUSTOM_STATS': 'true'})
        assert good.ok, good.explain()
        assert server.paths() == ['/ping/%s/start' % CHECK, '/ping/%s' % CHECK]
        [result] = good.results('Wait for the backup to finish', host='docs01')
        found = read_metrics(metrics)
        assert stat.S_IMODE(metrics.stat().st_mode) == 0o644
        assert found['papermerge_backup_last_run_success'] == {'docs01': 1}
        assert found['papermerge_backup_archive_size_bytes'] == {'docs01': result['size']}
        assert found['papermerge_backup_documents'] == {'docs01': result['counts']['documents']} == {'docs01': 9}
        assert found['papermerge_backup_files'] == {'docs01': result['counts']['files']}
        assert 0 < found['papermerge_backup_duration_seconds']['docs01'] < 600
        success_time = found['papermerge_backup_last_success_timestamp_seconds']['docs01']
        assert success_time == found['papermerge_backup_last_run_timestamp_seconds']['docs01']
        published = good.report['global_custom_stats']['papermerge_backup_archives']['docs01']
        assert published['archive'] == result['archive'] and published['sha256'] == result['sha256']
        assert int(published['size']) == result['size'] and published['label'] == 'docs01'
        assert CHECK not in good.stdout, 'the ping URL (a credential) was logged'

        # The database disappears: the backup fails, the failure is pinged with what failed and recorded,
        # the last success keeps its time and measurements, and the run fails with the module's error.
        instance.sqlite_file.rename(instance.sqlite_file.with_suffix('.gone'))
        bad = run_playbook(PLAYBOOK, inventory, variables)
        assert not bad.ok
        [failed] = bad.results('Fail the run with the backup\'s error', host='docs01')
        [module_failure] = [r for r in bad.results('Wait for the backup to finish', host='docs01')
                            + bad.results('Start the backup of %s' % instance.project_dir, host='docs01')
                            if r.get('failed')]
        assert failed['msg'] == module_failure['msg']
        method, path, body = server.pings[-1]
        assert server.paths()[2:] == ['/ping/%s/start' % CHECK, '/ping/%s/fail' % CHECK]
        assert method == 'POST' and body.startswith('Papermerge backup of docs01 failed in task')
        assert module_failure['msg'][:60] in body
    after = read_metrics(metrics)
    assert after['papermerge_backup_last_run_success'] == {'docs01': 0}
    assert after['papermerge_backup_last_run_timestamp_seconds']['docs01'] > success_time
    assert after['papermerge_backup_last_success_timestamp_seconds'] == {'docs01': success_time}
    assert after['papermerge_backup_documents'] == {'docs01': 9}
    assert after['papermerge_backup_archive_size_bytes'] == {'docs01': result['size']}


def test_a_ping_that_cannot_be_delivered_is_a_warning(make_instance, tmp_path):
    instance = make_instance(seeded=True)
    probe = socket.socket()
    probe.bind(('127.0.0.1', 0))
    port = probe.getsockname()[1]
    probe.close()  # nobody listens there
    run = run_playbook(PLAYBOOK, instance_inventory(instance, 'docs01'), extravars(
        tmp_path, papermerge_backup_ping_url='http://127.0.0.1:%d/ping/%s' % (port, CHECK),
        papermerge_backup_ping_timeout='2'))
    assert run.ok, run.explain()
    [start] = run.results('Tell the heartbeat monitor that the backup starts', host='docs01')
    assert start['delivered'] is False
    assert any('could not be delivered' in warning for warning in start['warnings'])
    assert CHECK not in json.dumps(run.report)
    found = read_metrics(tmp_path / 'textfile' / 'papermerge_backup.prom')
    assert found['papermerge_backup_last_run_success'] == {'docs01': 1}


def test_the_metrics_file_can_be_written_on_another_host(make_instance, tmp_path):
    # A Papermerge container's metrics go to its Docker host, where node_exporter runs: here another
    # inventory host (local connection), whose own variables apply (no become).
    instance = make_instance(seeded=True)
    inventory = instance_inventory(instance, 'docs01')
    inventory['monitoring'] = {'hosts': {'dockerhost': {
        'ansible_connection': 'local', 'ansible_python_interpreter': '/usr/bin/python3',
        'ansible_become': False}}}
    run = run_playbook(PLAYBOOK, inventory, extravars(tmp_path, papermerge_backup_metrics_host='dockerhost'))
    assert run.ok, run.explain()
    [written] = run.results('Write the metrics file on dockerhost', host='docs01')
    assert written['changed'] and written['series']['papermerge_backup_last_run_success'] == 1
    assert read_metrics(tmp_path / 'textfile' / 'papermerge_backup.prom')['papermerge_backup_files']['docs01'] > 9
