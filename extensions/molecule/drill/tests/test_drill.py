"""After playbooks/backup.yml and playbooks/drill.yml over SSH: the metrics file (0644, read with
Prometheus' own parser) holds the backup's success and the drill's, measured; the throwaway
instance is gone from the drill's work directory; and the real instance is unchanged through the
state helper (every row that matters, every media file's sha256)."""

import json
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families

from molecule_instance import host_base_dir, instance_state

testinfra_hosts = ["docs01"]


def metrics(host):
    path = "%s/textfile/papermerge_backup.prom" % host_base_dir(host)
    assert host.file(path).mode == 0o644
    found = {}
    for family in text_string_to_metric_families(host.file(path).content_string):
        for sample in family.samples:
            found.setdefault(sample.name, {})[sample.labels["label"]] = sample.value
    return found


def test_the_backup_and_the_drill_are_recorded(host):
    found = metrics(host)
    assert found["papermerge_backup_last_run_success"] == {"docs01": 1}
    assert found["papermerge_backup_documents"]["docs01"] > 0
    assert found["papermerge_backup_last_drill_run_success"] == {"docs01": 1}
    backup_time = found["papermerge_backup_last_success_timestamp_seconds"]["docs01"]
    assert found["papermerge_backup_last_drill_success_timestamp_seconds"]["docs01"] > backup_time
    assert 0 < found["papermerge_backup_drill_restore_duration_seconds"]["docs01"] < 900


def test_the_throwaway_instance_is_gone(host):
    with host.sudo():
        assert host.check_output("ls -A %s/drill-work" % host_base_dir(host)) == ""


def test_the_real_instance_is_unchanged(host):
    base = host_base_dir(host)
    before = json.loads(Path(base, "state-before.json").read_text())
    assert json.loads(json.dumps(instance_state(base))) == before
