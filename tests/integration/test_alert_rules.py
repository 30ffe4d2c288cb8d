"""The alert rules of docs/monitoring.md, as a user copies them: promtool (Debian's prometheus package, unpacked
by scripts/install-system-deps.sh) accepts the rule file, and `promtool test rules` fires each alert on
made-up series of the metrics file, and none on a healthy host.  Every series the rules read is one the
metrics file has."""

import re
import shutil
import subprocess
import textwrap
from pathlib import Path

import pytest
import yaml

from ansible_collections.papermerge.backup.plugins.module_utils.metrics import SERIES_NAMES

ROOT = Path(__file__).resolve().parents[2]
RULES_HEADER = '# papermerge-backup.rules.yml'
UNPACKED = Path('/usr/local/lib/papermerge-backup-tests/prometheus/usr/bin/promtool')


@pytest.fixture(scope='module')
def promtool():
    found = shutil.which('promtool') or (str(UNPACKED) if UNPACKED.is_file() else None)
    assert found, 'promtool is missing: run `make system-deps` (scripts/install-system-deps.sh unpacks it)'
    return found


def documented_rules():
    """The yaml block of docs/monitoring.md that starts with the rule file's name."""
    text = (ROOT / 'docs' / 'monitoring.md').read_text()
    blocks = [block for block in re.findall(r'```yaml\n(.*?)```', text, re.S) if block.startswith(RULES_HEADER)]
    assert len(blocks) == 1, 'docs/monitoring.md must hold one yaml block starting with %s' % RULES_HEADER
    return blocks[0]


def alerts(rules_text):
    return {rule['alert']: rule for group in yaml.safe_load(rules_text)['groups'] for rule in group['rules']}


def test_the_rules_read_only_series_the_metrics_file_has():
    rules = alerts(documented_rules())
    assert set(rules) == {'PapermergeBackupTooOld', 'PapermergeBackupFailed', 'PapermergeBackupShrank',
                          'PapermergeDrillFailed', 'PapermergeDrillTooOld'}
    for name, rule in rules.items():
        read = set(re.findall(r'papermerge_backup_[a-z_]+', rule['expr']))
        assert read and read <= set(SERIES_NAMES), (name, read - set(SERIES_NAMES))


def test_promtool_accepts_the_rule_file(promtool, tmp_path):
    rules = tmp_path / 'papermerge-backup.rules.yml'
    rules.write_text(documented_rules())
    checked = subprocess.run([promtool, 'check', 'rules', str(rules)], capture_output=True, text=True, check=False)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert 'SUCCESS: 5 rules found' in checked.stdout


def expected(alert, label, summary, severity):
    return {'alertname': alert, 'exp_alerts': [{'exp_labels': {'severity': severity, 'label': label},
                                                'exp_annotations': {'summary': summary}}]}


# Times in promtool tests start at 0 (the epoch); time() is the evaluation time.  Host "stale" last
# succeeded at 0, host "healthy" succeeds every hour; "broken" failed its last run; "shrunk" lost
# more than half of its archive at hour 48.
BACKUP_SERIES = textwrap.dedent('''\
    - series: papermerge_backup_last_success_timestamp_seconds{label="stale"}
      values: "0x30"
    - series: papermerge_backup_last_success_timestamp_seconds{label="healthy"}
      values: "0+3600x30"
    - series: papermerge_backup_last_run_success{label="stale"}
      values: "1x30"
    - series: papermerge_backup_last_run_success{label="healthy"}
      values: "1x30"
    - series: papermerge_backup_last_run_success{label="broken"}
      values: "1x10 0x20"
    - series: papermerge_backup_archive_size_bytes{label="healthy"}
      values: "1000+10x60"
    - series: papermerge_backup_archive_size_bytes{label="shrunk"}
      values: "1000x47 400x13"
''')
# Daily drills: "passing" passes every day, "failing" failed on day 9, "forgotten" passed only on day 0.
DRILL_SERIES = textwrap.dedent('''\
    - series: papermerge_backup_last_drill_run_success{label="passing"}
      values: "1x10"
    - series: papermerge_backup_last_drill_run_success{label="failing"}
      values: "1x8 0x2"
    - series: papermerge_backup_last_drill_success_timestamp_seconds{label="passing"}
      values: "0+86400x10"
    - series: papermerge_backup_last_drill_success_timestamp_seconds{label="forgotten"}
      values: "0x10"
''')


def rule_tests():
    too_old = expected('PapermergeBackupTooOld', 'stale',
                       'No successful Papermerge backup of stale for more than 26 hours', 'critical')
    return {'rule_files': ['papermerge-backup.rules.yml'], 'evaluation_interval': '1m', 'tests': [
        {'interval': '1h', 'input_series': yaml.safe_load(BACKUP_SERIES), 'alert_rule_test': [
            # 25 hours without a success is within the slack; 27 are not.
            {'eval_time': '25h', 'alertname': 'PapermergeBackupTooOld', 'exp_alerts': []},
            dict(too_old, eval_time='27h'),
            dict(expected('PapermergeBackupFailed', 'broken', 'The last Papermerge backup of broken failed',
                          'warning'), eval_time='12h'),
            {'eval_time': '9h', 'alertname': 'PapermergeBackupFailed', 'exp_alerts': []},
            dict(expected('PapermergeBackupShrank', 'shrunk',
                          'The Papermerge archive of shrunk is less than half the size it had', 'warning'),
                 eval_time='50h'),
            {'eval_time': '47h', 'alertname': 'PapermergeBackupShrank', 'exp_alerts': []},
        ]},
        {'interval': '1d', 'input_series': yaml.safe_load(DRILL_SERIES), 'alert_rule_test': [
            dict(expected('PapermergeDrillFailed', 'failing',
                          'The last restore drill of failing failed: its newest archive did not restore', 'critical'),
                 eval_time='9d'),
            {'eval_time': '8d', 'alertname': 'PapermergeDrillFailed', 'exp_alerts': []},
            dict(expected('PapermergeDrillTooOld', 'forgotten',
                          'No restore drill of forgotten passed for more than 8 days', 'warning'), eval_time='9d'),
            {'eval_time': '7d', 'alertname': 'PapermergeDrillTooOld', 'exp_alerts': []},
        ]},
    ]}


def test_each_alert_fires_when_it_should_and_not_on_a_healthy_host(promtool, tmp_path):
    (tmp_path / 'papermerge-backup.rules.yml').write_text(documented_rules())
    (tmp_path / 'tests.yml').write_text(yaml.safe_dump(rule_tests()))
    tested = subprocess.run([promtool, 'test', 'rules', 'tests.yml'], cwd=str(tmp_path), capture_output=True,
                            text=True, check=False)
    assert tested.returncode == 0, tested.stdout + tested.stderr
    assert 'SUCCESS' in tested.stdout


def test_promtool_test_can_fail(promtool, tmp_path):
    # A rule file whose threshold is wrong (2.6 hours, not 26) must not pass the same test.
    (tmp_path / 'papermerge-backup.rules.yml').write_text(documented_rules().replace('26 * 3600', '2.6 * 3600'))
    (tmp_path / 'tests.yml').write_text(yaml.safe_dump(rule_tests()))
    tested = subprocess.run([promtool, 'test', 'rules', 'tests.yml'], cwd=str(tmp_path), capture_output=True,
                            text=True, check=False)
    assert tested.returncode != 0 and 'PapermergeBackupTooOld' in tested.stdout + tested.stderr
