# -*- coding: utf-8 -*-
# Copyright: papermerge.backup contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The metrics textfile: parsed by Prometheus' own parser, one series per label, failures keep the last success,
written atomically with mode 0644, and a foreign file started afresh with a warning.  Read back with a strict
parser of the text format (tests/support/prometheus_text.py); the integration tests add Prometheus' own."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
import stat
import threading

import pytest
from prometheus_text import by_label, parse as parse_text

from ansible_collections.papermerge.backup.plugins.module_utils.errors import PapermergeBackupError
from ansible_collections.papermerge.backup.plugins.module_utils.metrics import (
    SERIES_NAMES, format_value, read_samples, render, update_metrics)

BACKUP = dict(duration_seconds=42.5, archive_size_bytes=1000, documents=9, files=40)


def parse(path):
    """{series: {label: value}}, every family a gauge with its help."""
    families = parse_text(path.read_text())
    assert all(family['type'] == 'gauge' and family['help'] for family in families.values()), families
    return by_label(families)


def test_success_then_failure_keeps_the_last_success(tmp_path):
    path = tmp_path / 'papermerge_backup.prom'
    update_metrics(str(path), 'docs01', 'backup', True, BACKUP, now=1000.25)
    first = parse(path)
    assert first['papermerge_backup_last_run_success'] == {'docs01': 1.0}
    assert first['papermerge_backup_last_success_timestamp_seconds'] == {'docs01': 1000.25}
    assert first['papermerge_backup_archive_size_bytes'] == {'docs01': 1000.0}
    assert first['papermerge_backup_duration_seconds'] == {'docs01': 42.5}
    assert stat.S_IMODE(path.stat().st_mode) == 0o644

    result = update_metrics(str(path), 'docs01', 'backup', False, dict(BACKUP, documents=0), now=2000)
    after = parse(path)
    assert result['changed']
    assert after['papermerge_backup_last_run_success'] == {'docs01': 0.0}
    assert after['papermerge_backup_last_run_timestamp_seconds'] == {'docs01': 2000.0}
    assert after['papermerge_backup_last_success_timestamp_seconds'] == {'docs01': 1000.25}
    assert after['papermerge_backup_documents'] == {'docs01': 9.0}, 'a failed run changed the last success'


def test_labels_and_drills_share_one_file(tmp_path):
    path = tmp_path / 'm.prom'
    update_metrics(str(path), 'docs01', 'backup', True, BACKUP, now=10)
    update_metrics(str(path), 'docs02', 'backup', False, {}, now=11)
    update_metrics(str(path), 'docs01', 'drill', True, dict(drill_restore_duration_seconds=3.5), now=12)
    found = parse(path)
    assert found['papermerge_backup_last_run_success'] == {'docs01': 1.0, 'docs02': 0.0}
    assert 'docs02' not in found['papermerge_backup_last_success_timestamp_seconds']
    assert found['papermerge_backup_last_drill_success_timestamp_seconds'] == {'docs01': 12.0}
    assert found['papermerge_backup_drill_restore_duration_seconds'] == {'docs01': 3.5}
    assert found['papermerge_backup_last_run_timestamp_seconds'] == {'docs01': 10.0, 'docs02': 11.0}
    text = path.read_text()
    assert text.count('# TYPE papermerge_backup_last_run_success gauge') == 1
    assert set(found) <= set(SERIES_NAMES)


def test_check_mode_writes_nothing(tmp_path):
    path = tmp_path / 'm.prom'
    result = update_metrics(str(path), 'docs01', 'backup', True, BACKUP, check_mode=True, now=5)
    assert result['changed'] and not path.exists()
    assert result['series']['papermerge_backup_last_run_success'] == 1


def test_nothing_else_is_left_in_the_directory(tmp_path):
    path = tmp_path / 'm.prom'
    for number in range(3):
        update_metrics(str(path), 'docs01', 'backup', number % 2 == 0, BACKUP, now=number)
    assert os.listdir(str(tmp_path)) == ['m.prom']


def test_concurrent_writers_lose_nothing(tmp_path):
    path = tmp_path / 'm.prom'
    labels = ['host%02d' % number for number in range(16)]
    threads = [threading.Thread(target=update_metrics, args=(str(path), label, 'backup', True, BACKUP))
               for label in labels]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(parse(path)['papermerge_backup_last_run_success']) == labels


def test_a_foreign_file_is_started_afresh_with_a_warning(tmp_path):
    path = tmp_path / 'm.prom'
    path.write_text('node_load1 3\n')
    samples, warnings = read_samples(str(path))
    assert samples == {} and 'line 1 is not a sample this collection writes' in warnings[0]
    result = update_metrics(str(path), 'docs01', 'backup', True, BACKUP, now=1)
    assert result['warnings'] and 'node_load1' not in path.read_text()


@pytest.mark.parametrize('path, message', [
    ('relative.prom', 'must be an absolute path'),
    ('/nonexistent-dir/m.prom', 'does not exist'),
])
def test_bad_paths_are_refused(path, message):
    with pytest.raises(PapermergeBackupError, match=message):
        update_metrics(path, 'docs01', 'backup', True, BACKUP)


def test_bad_labels_and_values_are_refused(tmp_path):
    with pytest.raises(PapermergeBackupError, match='not usable in an archive name'):
        update_metrics(str(tmp_path / 'm.prom'), 'a"b', 'backup', True, BACKUP)
    with pytest.raises(PapermergeBackupError, match='finite number'):
        update_metrics(str(tmp_path / 'm.prom'), 'docs01', 'backup', True, dict(BACKUP, files=-1))
    assert not (tmp_path / 'm.prom').exists()


def test_values_are_formatted_as_prometheus_reads_them():
    assert format_value(3) == '3' and format_value(3.0) == '3'
    assert format_value(1795658400.1234) == '1795658400.123'
    assert render({}) == ''


@pytest.mark.parametrize('text, message', [
    ('# HELP a x\n# TYPE a gauge\na{label="x"} 1', 'newline'),
    ('a{label="x"} 1\n', 'before its HELP and TYPE'),
    ('# HELP a x\n# TYPE a gauge\na{label="x"} 1 1700000000000\n', 'not a sample'),
    ('# HELP a x\n# TYPE a gauge\na{label="x"} 1\na{label="x"} 2\n', 'twice'),
    ('# HELP a x\n# TYPE a gauge\n# HELP b x\n# TYPE b gauge\na{label="x"} 1\nb{label="x"} 1\na{label="y"} 1\n',
     'not together'),
])
def test_the_strict_reader_refuses_what_node_exporter_would(text, message):
    with pytest.raises(ValueError, match=message):
        parse_text(text)
