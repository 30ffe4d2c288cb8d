# -*- coding: utf-8 -*-
# Copyright: papermerge.backup contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Archive names: generated names parse back to what made them; other names are never taken for archives."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import re
from datetime import datetime, timedelta, timezone

import pytest

from ansible_collections.papermerge.backup.plugins.module_utils.errors import PapermergeBackupError
from ansible_collections.papermerge.backup.plugins.module_utils.naming import (
    DEFAULT_PATTERN,
    ArchiveName,
    archive_name,
    compile_pattern,
    default_label,
    format_time,
    host_label,
    parse_archive_name,
    validate_label,
)

WHEN = datetime(2026, 11, 26, 2, 0, 0, tzinfo=timezone.utc)


def test_archive_name_matches_the_documented_example():
    assert archive_name('docs01', WHEN, '2.1.5') == 'papermerge-docs01-20261126T020000Z-2.1.5.tar.gz'


def test_archive_name_converts_aware_times_to_utc():
    berlin_winter = timezone(timedelta(hours=1))
    when = datetime(2026, 11, 26, 3, 0, 0, tzinfo=berlin_winter)
    assert archive_name('docs01', when, '2.1.5') == 'papermerge-docs01-20261126T020000Z-2.1.5.tar.gz'


def test_archive_name_takes_naive_times_as_utc():
    assert archive_name('h', datetime(2026, 1, 2, 3, 4, 5), '2.1.5') == 'papermerge-h-20260102T030405Z-2.1.5.tar.gz'


@pytest.mark.parametrize('label', ['docs01', 'docs-01', 'a', 'web.prod_2', 'x-20261126T020000Z-1.0', '-', '2026'])
@pytest.mark.parametrize('version', ['2.1.5', '2.1.5.post1', '2.1.5rc1', '2.1.6.dev0', '2.1.5+local.7', '3'])
def test_generated_names_parse_back_exactly(label, version):
    parsed = parse_archive_name(archive_name(label, WHEN, version))
    assert parsed == ArchiveName(label=label, time=WHEN, version=version)
    assert parsed.time.tzinfo is not None and parsed.time.utcoffset() == timedelta(0)


def test_label_with_dashes_is_read_from_the_right():
    parsed = parse_archive_name('papermerge-my-docs-host-20261126T020000Z-2.1.5.tar.gz')
    assert parsed.label == 'my-docs-host'
    assert parsed.time == WHEN


@pytest.mark.parametrize('name', [
    'papermerge-docs01-20261126T020000Z-2.1.5.tar.gz.sha256',   # the checksum file, not the archive
    'papermerge-docs01-20261126T020000Z-2.1.5.tar.gz.tmp',
    '.papermerge-docs01-20261126T020000Z-2.1.5.tar.gz',         # hidden temp names
    'papermerge-docs01-20261126T020000Z-2.1.5.tar',
    'papermerge-docs01-20261126T020000Z-2.1.5.zip',
    'papermerge--20261126T020000Z-2.1.5.tar.gz',                # empty label
    'papermerge-docs01-20261126T0200Z-2.1.5.tar.gz',            # short time
    'papermerge-docs01-20261126020000-2.1.5.tar.gz',
    'papermerge-docs01-20261126T020000Z.tar.gz',                # no version
    'papermerge-docs01-20261126T020000Z-latest.tar.gz',
    'papermerge-docs01-20261126T020000Z-2.1.5-1.tar.gz',
    'papermerge-docs 01-20261126T020000Z-2.1.5.tar.gz',
    'papermerge-docs/01-20261126T020000Z-2.1.5.tar.gz',
    'backup-docs01-20261126T020000Z-2.1.5.tar.gz',
    'Papermerge-docs01-20261126T020000Z-2.1.5.tar.gz',
    'papermerge-docs01-20261326T020000Z-2.1.5.tar.gz',          # month 13
    'papermerge-docs01-20260230T020000Z-2.1.5.tar.gz',          # 30 February
    'papermerge-docs01-20261126T250000Z-2.1.5.tar.gz',          # hour 25
    'papermerge-docs01-20261126T020000Z-2.1.5.tar.gz\n',
    '',
])
def test_other_names_are_not_archives(name):
    assert parse_archive_name(name) is None


def test_leap_day_is_a_real_date():
    assert parse_archive_name('papermerge-h-20280229T235959Z-2.1.5.tar.gz').time == datetime(
        2028, 2, 29, 23, 59, 59, tzinfo=timezone.utc)


def test_default_pattern_is_anchored_for_plain_re_search_users():
    # Roles may use the pattern with Jinja's regex_search, which does not anchor by itself.
    assert re.search(DEFAULT_PATTERN, 'x-papermerge-h-20261126T020000Z-2.1.5.tar.gz') is None
    assert re.search(DEFAULT_PATTERN, 'papermerge-h-20261126T020000Z-2.1.5.tar.gz.sha256') is None


def test_custom_pattern_with_time_and_label():
    pattern = r'(?P<label>[a-z]+)_(?P<time>\d{4}-\d{2}-\d{2}_\d{2}-\d{2}-\d{2})\.tgz'
    parsed = parse_archive_name('docs_2026-11-26_02-00-00.tgz', pattern)
    assert parsed == ArchiveName(label='docs', time=WHEN, version=None)


def test_custom_pattern_matches_the_whole_name():
    pattern = r'(?P<time>\d{8}T\d{6}Z)\.tgz'
    assert parse_archive_name('20261126T020000Z.tgz', pattern).time == WHEN
    assert parse_archive_name('x20261126T020000Z.tgz', pattern) is None
    assert parse_archive_name('20261126T020000Z.tgz.sha256', pattern) is None


def test_custom_pattern_without_label_gives_no_label():
    assert parse_archive_name('20261126T020000Z.tgz', r'(?P<time>\S+)\.tgz').label is None


def test_custom_pattern_time_without_seconds_is_not_an_archive():
    assert parse_archive_name('202611260200.tgz', r'(?P<time>\d+)\.tgz') is None


def test_custom_pattern_without_time_group_is_refused():
    with pytest.raises(PapermergeBackupError, match='no named group "time"'):
        parse_archive_name('a.tgz', r'(?P<label>\w+)\.tgz')


def test_invalid_pattern_is_refused():
    with pytest.raises(PapermergeBackupError, match='not a valid regular expression'):
        compile_pattern(r'(?P<time>[0-9+')


def test_compile_pattern_accepts_compiled_patterns():
    compiled = re.compile(DEFAULT_PATTERN)
    assert compile_pattern(compiled) is compiled


@pytest.mark.parametrize('label', ['', 'docs 01', 'docs/01', '../x', 'dócs', 'a' * 65, 'x\n', None, 7])
def test_validate_label_refuses(label):
    with pytest.raises(PapermergeBackupError, match='label'):
        validate_label(label)


@pytest.mark.parametrize('label', ['docs01', 'a' * 64, 'A.b_c-d', '0'])
def test_validate_label_accepts(label):
    assert validate_label(label) == label


def test_archive_name_refuses_a_bad_label():
    with pytest.raises(PapermergeBackupError, match='label'):
        archive_name('docs 01', WHEN, '2.1.5')


@pytest.mark.parametrize('version', ['', None, 'unknown', '2.1.5-1', '2.1.5 ', 'v2.1.5'])
def test_archive_name_refuses_a_version_it_could_not_parse_back(version):
    with pytest.raises(PapermergeBackupError, match='version'):
        archive_name('docs01', WHEN, version)


@pytest.mark.parametrize('hostname, label', [
    ('docs01', 'docs01'),
    ('docs01.example.org', 'docs01'),
    ('Docs01.Example.ORG', 'docs01'),
    ('web_01', 'web_01'),
    ('my host!', 'my-host'),
    ('10.0.0.5', '10-0-0-5'),
    ('-odd-', 'odd'),
    ('', 'localhost'),
    (None, 'localhost'),
    ('...', 'localhost'),
    ('h' * 80 + '.example.org', 'h' * 64),
])
def test_default_label(hostname, label):
    assert default_label(hostname) == label
    validate_label(default_label(hostname))


@pytest.mark.parametrize('hostname, label', [
    ('docs01', 'docs01'),
    ('docs01.example.com', 'docs01.example.com'),   # the inventory hostname as it is: FQDNs and case kept
    ('Docs01', 'Docs01'),
    ('docs 01', 'docs-01'),
    ('pm@docs01:2222', 'pm-docs01-2222'),
    ('b\u00fcro', 'b-ro'),
    ('fe80::1', 'fe80-1'),
    ('.hidden-', 'hidden'),
    ('h' * 70, 'h' * 64),
    ('a' * 63 + '.b', 'a' * 63),                   # cut where it leaves no '.' or '-' at the end
])
def test_host_label_is_the_inventory_hostname_made_a_label(hostname, label):
    assert host_label(hostname) == label
    assert validate_label(host_label(hostname)) == label


@pytest.mark.parametrize('hostname', ['', '...', '\u00e4\u00f6\u00fc', None])
def test_host_label_refuses_a_hostname_with_nothing_usable(hostname):
    with pytest.raises(PapermergeBackupError, match='set papermerge_backup_label for this host'):
        host_label(hostname)


def test_format_time_is_iso_utc_with_z():
    assert format_time(WHEN) == '2026-11-26T02:00:00Z'
    assert format_time(WHEN.astimezone(timezone(timedelta(hours=-5)))) == '2026-11-26T02:00:00Z'


def test_papermerge_prune_documents_the_default_pattern_exactly():
    yaml = pytest.importorskip('yaml')
    from ansible_collections.papermerge.backup.plugins.modules import papermerge_prune
    documented = yaml.safe_load(papermerge_prune.DOCUMENTATION)['options']['pattern']['default']
    assert documented == DEFAULT_PATTERN
