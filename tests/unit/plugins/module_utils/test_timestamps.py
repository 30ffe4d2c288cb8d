"""The one date-time reader: database values on the way into backup.json, backup.json dates on the way back."""

import datetime

import pytest

from ansible_collections.papermerge.backup.plugins.module_utils.timestamps import parse_datetime, utc_iso

UTC = datetime.timezone.utc


@pytest.mark.parametrize('text, expected', [
    ('2026-11-26T16:40:22.857647+01:00', datetime.datetime(2026, 11, 26, 15, 40, 22, 857647)),
    ('2021-03-04T05:06:07Z', datetime.datetime(2021, 3, 4, 5, 6, 7)),
    ('2021-03-04 05:06:07.5', datetime.datetime(2021, 3, 4, 5, 6, 7, 500000)),
    ('2021-03-04T05:06:07.1234567-0230', datetime.datetime(2021, 3, 4, 7, 36, 7, 123456)),
])
def test_parse_datetime_gives_utc(text, expected):
    assert parse_datetime(text) == expected.replace(tzinfo=UTC)


@pytest.mark.parametrize('text', ['yesterday', '2021-13-04T05:06:07', '2021-03-04', '2021-03-04T05:06'])
def test_parse_datetime_refuses_garbage(text):
    with pytest.raises(ValueError):
        parse_datetime(text)


@pytest.mark.parametrize('value, expected', [
    ('2021-03-04 05:06:07', '2021-03-04T05:06:07Z'),
    ('2021-03-04 05:06:07.123456', '2021-03-04T05:06:07.123456Z'),
    ('2021-03-04 05:06:07.5', '2021-03-04T05:06:07.500000Z'),
    ('2021-03-04T07:06:07+02:00', '2021-03-04T05:06:07Z'),
    (None, None),
])
def test_datetimes_become_utc_iso(value, expected):
    assert utc_iso(value) == expected


def test_aware_datetimes_from_postgresql_become_utc():
    berlin = datetime.timezone(datetime.timedelta(hours=1))
    value = datetime.datetime(2021, 3, 4, 6, 6, 7, tzinfo=berlin)
    assert utc_iso(value) == '2021-03-04T05:06:07Z'
    assert parse_datetime(value) == datetime.datetime(2021, 3, 4, 5, 6, 7, tzinfo=UTC)


def test_what_the_backup_writes_the_restore_reads_back():
    stored = '2026-11-26 15:40:22.857647'  # SQLite's naive UTC text
    assert parse_datetime(utc_iso(stored)) == datetime.datetime(2026, 11, 26, 15, 40, 22, 857647, tzinfo=UTC)
