# -*- coding: utf-8 -*-
# Copyright: papermerge.backup contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Retention policy (restic forget semantics): which archives are kept, which removed, and why."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import random
from datetime import datetime, timedelta, timezone

import pytest

from ansible_collections.papermerge.backup.plugins.module_utils.errors import PapermergeBackupError
from ansible_collections.papermerge.backup.plugins.module_utils.retention import (
    FUTURE_DATED,
    NOT_SELECTED,
    UNLIMITED,
    Candidate,
    Duration,
    Policy,
    parse_duration,
    select,
    subtract_duration,
)

UTC = timezone.utc
NOW = datetime(2030, 1, 1, tzinfo=UTC)  # later than every archive below unless a test says otherwise


def at(text):
    return datetime.strptime(text, '%Y-%m-%d %H:%M:%S').replace(tzinfo=UTC)


def archive(text, label='h', name=None):
    when = at(text)
    return Candidate(name=name or 'papermerge-%s-%s-2.1.5.tar.gz' % (label, when.strftime('%Y%m%dT%H%M%SZ')),
                     label=label, time=when)


def archives(*texts, **kwargs):
    return [archive(text, **kwargs) for text in texts]


def run(candidates, now=NOW, **policy):
    return select(candidates, Policy(**policy), now)


def kept_times(candidates, now=NOW, **policy):
    kept, _removed = run(candidates, now=now, **policy)
    return [decision.candidate.time.strftime('%Y-%m-%d %H:%M:%S') for decision in kept]


def reasons_by_time(candidates, now=NOW, **policy):
    kept, removed = run(candidates, now=now, **policy)
    return dict((d.candidate.time.strftime('%Y-%m-%d %H:%M:%S'), d.reasons) for d in kept + removed)


def daily_series(first, days, hour=2):
    start = at(first + ' %02d:00:00' % hour)
    return [Candidate('a%05d' % n, 'h', start + timedelta(days=n)) for n in range(days)]


# --- the policy itself -------------------------------------------------------------------------------------------

@pytest.mark.parametrize('policy', [
    {},
    dict(keep_last=0, keep_hourly=0, keep_daily=0, keep_weekly=0, keep_monthly=0, keep_yearly=0),
    dict(keep_last=None, keep_daily=None),
    dict(keep_within=''),
    dict(keep_within=None),
    dict(keep_within='0d'),
    dict(keep_within='0y0m0w0d0h', keep_last=0),
])
def test_empty_policy_is_refused(policy):
    with pytest.raises(PapermergeBackupError, match='policy is empty'):
        Policy(**policy)


@pytest.mark.parametrize('value', [-2, 1.5, '7', True, [1]])
def test_counts_must_be_ints_from_minus_one(value):
    with pytest.raises(PapermergeBackupError, match='keep_daily must be a whole number'):
        Policy(keep_daily=value)


@pytest.mark.parametrize('policy', [dict(keep_last=1), dict(keep_yearly=-1), dict(keep_within='1h')])
def test_one_rule_is_a_policy(policy):
    assert not Policy(**policy).is_empty()


@pytest.mark.parametrize('text, duration', [
    ('7d', Duration(0, 0, 0, 7, 0)),
    ('2w', Duration(0, 0, 2, 0, 0)),
    ('1y2m3d4h', Duration(1, 2, 0, 3, 4)),
    ('4h3d2m1y', Duration(1, 2, 0, 3, 4)),
    ('1y1y', Duration(2, 0, 0, 0, 0)),
    (' 36h ', Duration(0, 0, 0, 0, 36)),
    ('0d', Duration(0, 0, 0, 0, 0)),
])
def test_parse_duration(text, duration):
    assert parse_duration(text) == duration


@pytest.mark.parametrize('text', ['', '7', 'd', '7x', '-7d', '7 d', '1.5d', '7D', '7days', 'unlimited', None])
def test_parse_duration_refuses(text):
    with pytest.raises(PapermergeBackupError, match='not a duration'):
        parse_duration(text)


def test_policy_refuses_a_bad_keep_within():
    with pytest.raises(PapermergeBackupError, match='keep_within .* is not a duration'):
        Policy(keep_last=1, keep_within='7 days')


@pytest.mark.parametrize('start, duration, expected', [
    ('2026-03-31 12:00:00', '1m', '2026-02-28 12:00:00'),   # clamped to February's end
    ('2028-03-31 12:00:00', '1m', '2028-02-29 12:00:00'),   # leap year
    ('2028-02-29 12:00:00', '1y', '2027-02-28 12:00:00'),
    ('2026-01-15 00:00:00', '1m', '2025-12-15 00:00:00'),   # across the year boundary
    ('2026-01-15 00:00:00', '14m', '2024-11-15 00:00:00'),
    ('2026-03-31 12:00:00', '1m1d', '2026-02-27 12:00:00'),  # months first, then days
    ('2026-11-26 02:00:00', '1w2d3h', '2026-11-16 23:00:00'),
    ('2026-11-26 02:00:00', '48h', '2026-11-24 02:00:00'),
])
def test_subtract_duration(start, duration, expected):
    assert subtract_duration(at(start), parse_duration(duration)) == at(expected)


# --- keep_last ---------------------------------------------------------------------------------------------------

def test_keep_last_keeps_the_newest_n():
    candidates = archives('2026-11-20 02:00:00', '2026-11-24 02:00:00', '2026-11-21 02:00:00', '2026-11-22 02:00:00')
    kept, removed = run(candidates, keep_last=2)
    assert [d.candidate.time for d in kept] == [at('2026-11-24 02:00:00'), at('2026-11-22 02:00:00')]
    assert [d.reasons for d in kept] == [['last 1'], ['last 2']]
    assert [d.candidate.time for d in removed] == [at('2026-11-21 02:00:00'), at('2026-11-20 02:00:00')]
    assert all(d.reasons == [NOT_SELECTED] and not d.keep for d in removed)


def test_keep_last_more_than_there_are_keeps_all():
    candidates = archives('2026-11-20 02:00:00', '2026-11-21 02:00:00')
    assert len(kept_times(candidates, keep_last=10)) == 2


def test_keep_last_unlimited_keeps_all():
    candidates = daily_series('2026-01-01', 50)
    kept, removed = run(candidates, keep_last=UNLIMITED)
    assert len(kept) == 50 and removed == []
    assert kept[-1].reasons == ['last 50']


# --- calendar rules ----------------------------------------------------------------------------------------------

def test_keep_daily_keeps_the_newest_of_each_day_and_skips_empty_days():
    candidates = archives(
        '2026-11-25 23:59:59', '2026-11-25 02:00:00',  # two on the 25th
        '2026-11-23 02:00:00',                         # the 24th has none: it does not count
        '2026-11-22 14:00:00', '2026-11-22 02:00:00',
        '2026-11-21 02:00:00')
    assert kept_times(candidates, keep_daily=3) == ['2026-11-25 23:59:59', '2026-11-23 02:00:00',
                                                    '2026-11-22 14:00:00']
    assert reasons_by_time(candidates, keep_daily=3)['2026-11-23 02:00:00'] == ['daily 2026-11-23']


def test_restic_documentation_example_sundays_keep_daily_4():
    sundays = [Candidate('s%02d' % n, 'h', at('2019-09-01 11:00:00') + timedelta(weeks=n)) for n in range(12)]
    assert kept_times(sundays, keep_daily=4) == ['2019-11-17 11:00:00', '2019-11-10 11:00:00',
                                                 '2019-11-03 11:00:00', '2019-10-27 11:00:00']


def test_keep_hourly_across_midnight():
    candidates = archives('2026-11-26 00:10:00', '2026-11-26 00:05:00', '2026-11-25 23:59:59',
                          '2026-11-25 23:00:00', '2026-11-25 22:30:00')
    assert kept_times(candidates, keep_hourly=3) == ['2026-11-26 00:10:00', '2026-11-25 23:59:59',
                                                     '2026-11-25 22:30:00']
    assert reasons_by_time(candidates, keep_hourly=3)['2026-11-25 23:59:59'] == ['hourly 2026-11-25T23']


def test_keep_daily_across_the_year_boundary():
    candidates = archives('2027-01-01 00:00:00', '2026-12-31 23:59:59', '2026-12-31 12:00:00', '2026-12-30 12:00:00')
    assert kept_times(candidates, keep_daily=2) == ['2027-01-01 00:00:00', '2026-12-31 23:59:59']


def test_weeks_run_monday_to_sunday():
    # 2026-11-29 is a Sunday, 2026-11-30 a Monday.
    candidates = archives('2026-11-30 00:00:00', '2026-11-29 23:59:59', '2026-11-28 12:00:00', '2026-11-23 00:00:00',
                          '2026-11-22 23:59:59')
    by_time = reasons_by_time(candidates, keep_weekly=3)
    assert by_time['2026-11-30 00:00:00'] == ['weekly 2026-W49']
    assert by_time['2026-11-29 23:59:59'] == ['weekly 2026-W48']
    assert by_time['2026-11-28 12:00:00'] == [NOT_SELECTED]      # same week as the Sunday, older
    assert by_time['2026-11-23 00:00:00'] == [NOT_SELECTED]      # Monday of W48 too
    assert by_time['2026-11-22 23:59:59'] == ['weekly 2026-W47']


def test_iso_week_53_spans_the_year_boundary():
    # 2026 has 53 ISO weeks: Monday 2026-12-28 to Sunday 2027-01-03 is 2026-W53.
    candidates = archives('2027-01-04 00:00:00', '2027-01-03 23:00:00', '2026-12-31 12:00:00', '2026-12-28 00:00:00',
                          '2026-12-27 23:59:59')
    by_time = reasons_by_time(candidates, keep_weekly=3)
    assert by_time['2027-01-04 00:00:00'] == ['weekly 2027-W01']
    assert by_time['2027-01-03 23:00:00'] == ['weekly 2026-W53']
    assert by_time['2026-12-31 12:00:00'] == [NOT_SELECTED]
    assert by_time['2026-12-28 00:00:00'] == [NOT_SELECTED]
    assert by_time['2026-12-27 23:59:59'] == ['weekly 2026-W52']


def test_iso_week_one_can_start_in_the_previous_year():
    # Monday 2024-12-30 already belongs to 2025-W01.
    candidates = archives('2025-01-05 10:00:00', '2024-12-30 10:00:00', '2024-12-29 10:00:00')
    by_time = reasons_by_time(candidates, keep_weekly=2)
    assert by_time['2025-01-05 10:00:00'] == ['weekly 2025-W01']
    assert by_time['2024-12-30 10:00:00'] == [NOT_SELECTED]
    assert by_time['2024-12-29 10:00:00'] == ['weekly 2024-W52']


def test_keep_monthly_at_month_ends():
    candidates = archives('2026-03-01 00:00:00', '2026-02-28 23:59:59', '2026-02-01 00:00:00', '2026-01-31 23:59:59',
                          '2026-01-31 00:00:00', '2025-12-31 23:59:59')
    by_time = reasons_by_time(candidates, keep_monthly=4)
    assert [t for t, r in sorted(by_time.items(), reverse=True) if r != [NOT_SELECTED]] == [
        '2026-03-01 00:00:00', '2026-02-28 23:59:59', '2026-01-31 23:59:59', '2025-12-31 23:59:59']
    assert by_time['2025-12-31 23:59:59'] == ['monthly 2025-12']


def test_keep_yearly_at_the_year_boundary():
    candidates = archives('2027-01-01 00:00:00', '2026-12-31 23:59:59', '2026-06-01 00:00:00', '2024-02-29 12:00:00')
    assert kept_times(candidates, keep_yearly=3) == ['2027-01-01 00:00:00', '2026-12-31 23:59:59',
                                                     '2024-02-29 12:00:00']
    assert reasons_by_time(candidates, keep_yearly=3)['2024-02-29 12:00:00'] == ['yearly 2024']


def test_unlimited_daily_keeps_one_per_day_forever():
    candidates = daily_series('2020-01-01', 400, hour=2) + daily_series('2020-01-01', 400, hour=3)
    candidates = [c._replace(name=c.name + str(c.time.hour)) for c in candidates]
    kept, removed = run(candidates, keep_daily=UNLIMITED)
    assert len(kept) == 400 and len(removed) == 400
    assert all(d.candidate.time.hour == 3 for d in kept)


def test_unlimited_yearly_with_limited_daily():
    candidates = daily_series('2020-06-01', 3 * 365)
    kept = kept_times(candidates, keep_daily=2, keep_yearly=UNLIMITED)
    assert kept == ['2023-05-31 02:00:00', '2023-05-30 02:00:00', '2022-12-31 02:00:00', '2021-12-31 02:00:00',
                    '2020-12-31 02:00:00']


def test_period_rules_use_utc_even_for_other_time_zones():
    plus_one = timezone(timedelta(hours=1))
    late = Candidate('late', 'h', datetime(2026, 11, 26, 0, 30, tzinfo=plus_one))   # 2026-11-25 23:30 UTC
    early = Candidate('early', 'h', datetime(2026, 11, 25, 12, 0, tzinfo=UTC))
    kept, removed = run([late, early], keep_daily=5)
    assert [d.candidate.name for d in kept] == ['late'] and kept[0].reasons == ['daily 2026-11-25']
    assert [d.candidate.name for d in removed] == ['early']


# --- combined rules ----------------------------------------------------------------------------------------------

def test_rules_combine_with_or_and_list_every_reason():
    candidates = archives('2026-11-25 14:00:00', '2026-11-25 02:00:00', '2026-11-24 02:00:00', '2026-11-01 02:00:00',
                          '2026-10-15 02:00:00')
    by_time = reasons_by_time(candidates, keep_last=1, keep_daily=2, keep_monthly=2)
    assert by_time == {
        '2026-11-25 14:00:00': ['last 1', 'daily 2026-11-25', 'monthly 2026-11'],
        '2026-11-25 02:00:00': [NOT_SELECTED],
        '2026-11-24 02:00:00': ['daily 2026-11-24'],
        '2026-11-01 02:00:00': [NOT_SELECTED],
        '2026-10-15 02:00:00': ['monthly 2026-10'],
    }


def test_restic_documentation_example_daily_weekly_monthly_yearly():
    # One backup a day; restic's docs: 7 dailies, 4 more weeklies, 11 or 12 more monthlies, 74 or 75 yearlies.
    # The series ends on a Sunday (1950-01-01 was one, 29204 days later is too), so the dailies are one full week.
    candidates = daily_series('1950-01-01', 29205)
    assert candidates[-1].time.isoweekday() == 7
    kept, _removed = run(candidates, keep_daily=7, keep_weekly=5, keep_monthly=12, keep_yearly=75)
    rules = ('daily', 'weekly', 'monthly', 'yearly')
    only = dict((rule, sum(1 for d in kept if d.reasons[0].startswith(rule))) for rule in rules)
    assert only['daily'] == 7
    assert only['weekly'] == 4
    assert only['monthly'] in (11, 12)
    assert only['yearly'] in (74, 75)
    assert len(kept) == sum(only.values())


def test_within_and_counts_combine():
    candidates = archives('2026-11-25 02:00:00', '2026-11-20 02:00:00', '2026-11-10 02:00:00', '2026-09-01 02:00:00')
    by_time = reasons_by_time(candidates, keep_within='7d', keep_monthly=2)
    assert by_time['2026-11-25 02:00:00'] == ['within 7d', 'monthly 2026-11']
    assert by_time['2026-11-20 02:00:00'] == ['within 7d']
    assert by_time['2026-11-10 02:00:00'] == [NOT_SELECTED]
    assert by_time['2026-09-01 02:00:00'] == ['monthly 2026-09']


# --- keep_within -------------------------------------------------------------------------------------------------

def test_keep_within_is_relative_to_the_newest_archive_not_the_clock():
    candidates = archives('2026-11-25 02:00:00', '2026-11-18 02:00:01', '2026-11-18 02:00:00', '2026-11-01 02:00:00')
    long_after = datetime(2029, 1, 1, tzinfo=UTC)
    # The boundary itself (exactly 7 days older) is not within, as in restic.
    assert kept_times(candidates, now=long_after, keep_within='7d') == ['2026-11-25 02:00:00', '2026-11-18 02:00:01']


def test_keep_within_weeks_equal_days():
    candidates = daily_series('2026-11-01', 25)
    assert kept_times(candidates, keep_within='2w') == kept_times(candidates, keep_within='14d')
    assert len(kept_times(candidates, keep_within='2w')) == 14


def test_keep_within_months_clamp_to_the_month_end():
    candidates = archives('2026-03-31 12:00:00', '2026-02-28 12:00:01', '2026-02-28 12:00:00')
    assert kept_times(candidates, keep_within='1m') == ['2026-03-31 12:00:00', '2026-02-28 12:00:01']


@pytest.mark.parametrize('duration', ['3000y', '99999999d', '999999999999h'])
def test_keep_within_longer_than_the_calendar_keeps_everything(duration):
    candidates = archives('2026-11-25 02:00:00', '0001-01-01 00:00:00')
    assert len(kept_times(candidates, keep_within=duration)) == 2


def test_keep_within_reason_uses_the_given_text():
    assert reasons_by_time(archives('2026-11-25 02:00:00'), keep_within='1y2m3d4h') == {
        '2026-11-25 02:00:00': ['within 1y2m3d4h']}


# --- safety: newest, future, ties, labels --------------------------------------------------------------------------

@pytest.mark.parametrize('policy', [
    dict(keep_last=1), dict(keep_hourly=1), dict(keep_daily=1), dict(keep_weekly=1), dict(keep_monthly=1),
    dict(keep_yearly=1), dict(keep_within='1h'), dict(keep_yearly=UNLIMITED),
])
def test_the_newest_archive_is_never_removed(policy):
    rng = random.Random(20261126)
    for _attempt in range(50):
        candidates = [Candidate('n%d' % n, 'h', at('2020-01-01 00:00:00') + timedelta(seconds=rng.randrange(10 ** 8)))
                      for n in range(rng.randrange(1, 30))]
        kept, removed = run(candidates, **policy)
        newest = max(candidates, key=lambda c: (c.time, c.name))
        assert kept[0].candidate == newest
        assert newest not in [d.candidate for d in removed]


def test_future_archives_are_kept_and_use_no_slot():
    now = at('2026-11-26 12:00:00')
    candidates = archives('2027-06-01 00:00:00', '2026-11-26 12:00:01', '2026-11-26 02:00:00', '2026-11-25 02:00:00')
    kept, removed = run(candidates, now=now, keep_last=1)
    assert [(d.candidate.time, d.reasons) for d in kept] == [
        (at('2027-06-01 00:00:00'), [FUTURE_DATED]),
        (at('2026-11-26 12:00:01'), [FUTURE_DATED]),
        (at('2026-11-26 02:00:00'), ['last 1']),
    ]
    assert [d.candidate.time for d in removed] == [at('2026-11-25 02:00:00')]


def test_future_archives_do_not_shift_keep_within():
    now = at('2026-11-26 12:00:00')
    candidates = archives('2027-06-01 00:00:00', '2026-11-26 02:00:00', '2026-11-20 02:00:00', '2026-11-10 02:00:00')
    assert kept_times(candidates, now=now, keep_within='7d') == [
        '2027-06-01 00:00:00', '2026-11-26 02:00:00', '2026-11-20 02:00:00']


def test_future_archives_do_not_take_period_slots():
    now = at('2026-11-26 12:00:00')
    candidates = archives('2026-11-26 13:00:00', '2026-11-26 02:00:00', '2026-11-25 02:00:00', '2026-11-24 02:00:00')
    assert kept_times(candidates, now=now, keep_daily=2) == [
        '2026-11-26 13:00:00', '2026-11-26 02:00:00', '2026-11-25 02:00:00']


def test_an_archive_exactly_at_now_is_not_future():
    now = at('2026-11-26 12:00:00')
    by_time = reasons_by_time(archives('2026-11-26 12:00:00'), now=now, keep_last=1)
    assert by_time == {'2026-11-26 12:00:00': ['last 1']}


def test_only_future_archives_are_all_kept():
    now = at('2026-11-26 12:00:00')
    kept, removed = run(archives('2027-01-01 00:00:00', '2028-01-01 00:00:00'), now=now, keep_last=1)
    assert len(kept) == 2 and removed == []


@pytest.mark.parametrize('seed', range(5))
def test_ties_in_the_same_second_are_decided_by_name_whatever_the_input_order(seed):
    same = at('2026-11-25 02:00:00')
    candidates = [Candidate(name, 'h', same) for name in ('b', 'c', 'a')] + archives('2026-11-24 02:00:00')
    random.Random(seed).shuffle(candidates)
    kept, removed = run(candidates, keep_last=1, keep_daily=2)
    assert [(d.candidate.name, d.reasons) for d in kept] == [
        ('c', ['last 1', 'daily 2026-11-25']),
        ('papermerge-h-20261124T020000Z-2.1.5.tar.gz', ['daily 2026-11-24']),
    ]
    assert [d.candidate.name for d in removed] == ['b', 'a']


def test_each_label_gets_its_own_policy():
    candidates = (archives('2026-11-25 02:00:00', '2026-11-24 02:00:00', '2026-11-23 02:00:00', label='docs01')
                  + archives('2026-11-20 02:00:00', '2026-11-19 02:00:00', label='docs-02'))
    kept, removed = run(candidates, keep_last=2)
    assert sorted((d.candidate.label, d.candidate.time) for d in kept) == [
        ('docs-02', at('2026-11-19 02:00:00')), ('docs-02', at('2026-11-20 02:00:00')),
        ('docs01', at('2026-11-24 02:00:00')), ('docs01', at('2026-11-25 02:00:00'))]
    assert [(d.candidate.label, d.candidate.time) for d in removed] == [('docs01', at('2026-11-23 02:00:00'))]


def test_a_label_whose_archives_are_old_keeps_its_newest():
    # A decommissioned host's last archive must survive keep_within, which is relative to its own newest.
    live = archives('2026-11-25 02:00:00', label='live')
    gone = archives('2020-01-01 02:00:00', '2019-12-01 02:00:00', label='gone')
    candidates = live + gone
    kept, _removed = run(candidates, keep_within='7d')
    assert sorted(d.candidate.label for d in kept) == ['gone', 'live']


def test_candidates_without_label_form_one_group():
    candidates = archives('2026-11-25 02:00:00', '2026-11-24 02:00:00')
    candidates = [c._replace(label=None) for c in candidates]
    kept, removed = run(candidates, keep_last=1)
    assert len(kept) == 1 and len(removed) == 1


def test_no_candidates_nothing_to_do():
    assert run([], keep_last=1) == ([], [])


def test_results_are_newest_first():
    candidates = daily_series('2026-01-01', 30)
    random.Random(1).shuffle(candidates)
    kept, removed = run(candidates, keep_weekly=2)
    for decisions in (kept, removed):
        times = [d.candidate.time for d in decisions]
        assert times == sorted(times, reverse=True)


# --- against an independent statement of the rule ------------------------------------------------------------------

def _reference_period_keep(candidates, count, period_of):
    """The newest archive of each of the `count` most recent periods that have an archive."""
    newest_per_period = {}
    for candidate in candidates:
        period = period_of(candidate.time)
        best = newest_per_period.get(period)
        if best is None or (candidate.time, candidate.name) > (best.time, best.name):
            newest_per_period[period] = candidate
    ranked = sorted(newest_per_period.values(), key=lambda c: (c.time, c.name), reverse=True)
    return set(ranked if count == UNLIMITED else ranked[:count])


PERIODS = dict(
    keep_hourly=lambda t: (t.year, t.month, t.day, t.hour),
    keep_daily=lambda t: t.date(),
    keep_weekly=lambda t: t.isocalendar()[:2],
    keep_monthly=lambda t: (t.year, t.month),
    keep_yearly=lambda t: t.year,
)


@pytest.mark.parametrize('option', sorted(PERIODS))
def test_period_rules_match_the_reference_on_random_histories(option):
    rng = random.Random(option)
    spans = dict(keep_hourly=3 * 86400, keep_daily=60 * 86400, keep_weekly=400 * 86400, keep_monthly=1500 * 86400,
                 keep_yearly=20000 * 86400)
    for _attempt in range(100):
        start = at('2015-12-25 00:00:00')
        candidates = [Candidate('n%d' % n, 'h', start + timedelta(seconds=rng.randrange(spans[option])))
                      for n in range(rng.randrange(1, 40))]
        count = rng.choice([1, 2, 3, 5, 8, UNLIMITED])
        kept, _removed = run(candidates, now=datetime(2200, 1, 1, tzinfo=UTC), **{option: count})
        assert set(d.candidate for d in kept) == _reference_period_keep(candidates, count, PERIODS[option])
