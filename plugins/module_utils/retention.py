# -*- coding: utf-8 -*-
# Copyright: papermerge.backup contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
#
# This module_utils is PRIVATE and should only be used by this collection. Breaking changes can occur any time.
"""Retention: which archives a policy keeps, and pruning a directory of archives by it.

The policy follows restic's ``forget``:

- ``keep_last N`` keeps the N newest archives.
- ``keep_hourly/daily/weekly/monthly/yearly N`` keep the newest archive of each of the last N hours, days, ISO
  weeks (Monday to Sunday, so a week may span two years: 2026-12-31 belongs to 2026-W53), months or years *that
  have an archive*. Periods are UTC calendar periods, so daylight saving time plays no part.
- ``-1`` (``UNLIMITED``) means every such period.
- ``keep_within`` keeps every archive newer than the newest archive minus a duration (``1y2m3d4h``: years,
  months, weeks, days, hours; ``w`` is our addition, restic has none). The reference is the newest archive, not
  the clock, so a host whose backups stopped does not lose its last archives to time passing. Years and months
  are calendar steps clamped to the month's end (a month before 31 March is 28/29 February); an archive exactly
  on the boundary is not within (restic's rule).
- Rules combine with OR; each kept archive lists every rule that keeps it (``["last 1", "daily 2026-11-25"]``).

Our own choices, beyond restic:

- Archives are grouped by label and the policy applies to each group separately.
- Future-dated archives (time after ``now``) are always kept, with the reason ``future-dated``, and take part in
  no rule: they use no ``keep_*`` slot and are not the reference for ``keep_within``. A clock that jumped ahead
  once must not push out the real archives.
- The newest archive that is not future-dated is never removed.
- Equal times are ordered by name, the name sorting last counting as newer, so results never depend on the
  order files were listed in.
- restic 0.17 also keeps the oldest archive when a ``keep_*`` rule has slots left over; we do not, so a policy
  keeps exactly the archives its rules name.
- An empty policy (every count 0 or unset, no ``keep_within``) is refused instead of removing everything.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import calendar
import os
import re
import stat
from collections import namedtuple
from datetime import timedelta, timezone

from ansible_collections.papermerge.backup.plugins.module_utils.checksum_file import checksum_path
from ansible_collections.papermerge.backup.plugins.module_utils.errors import PapermergeBackupError
from ansible_collections.papermerge.backup.plugins.module_utils.naming import (
    compile_pattern, format_time, parse_archive_name, validate_label)

UNLIMITED = -1
COUNT_OPTIONS = ('keep_last', 'keep_hourly', 'keep_daily', 'keep_weekly', 'keep_monthly', 'keep_yearly')

Candidate = namedtuple('Candidate', ['name', 'label', 'time'])
Candidate.__doc__ = """An archive as the policy sees it: name (unique, breaks ties), label (group), aware time."""

Decision = namedtuple('Decision', ['candidate', 'keep', 'reasons'])
Decision.__doc__ = """The verdict on one candidate: keep (bool) and reasons (list of str, never empty)."""

Duration = namedtuple('Duration', ['years', 'months', 'weeks', 'days', 'hours'])

NOT_SELECTED = 'not selected by any rule'
FUTURE_DATED = 'future-dated'
NEWEST = 'newest archive'

_DURATION_PART = re.compile(r'([0-9]+)([ymwdh])')
_DURATION_UNITS = {'y': 'years', 'm': 'months', 'w': 'weeks', 'd': 'days', 'h': 'hours'}


def parse_duration(text):
    """Return the Duration in restic-style text such as '7d', '2w' or '1y2m3d4h'; raise on anything else."""
    compact = (text or '').strip()
    if not compact or _DURATION_PART.sub('', compact):
        raise PapermergeBackupError(
            'keep_within %r is not a duration: write numbers with units y (years), m (months), w (weeks), '
            'd (days), h (hours), for example 7d, 2w or 1y2m3d4h' % (text,),
            keep_within=text,
        )
    amounts = dict.fromkeys(_DURATION_UNITS.values(), 0)
    for number, unit in _DURATION_PART.findall(compact):
        amounts[_DURATION_UNITS[unit]] += int(number)
    return Duration(**amounts)


def is_zero(duration):
    return not any(duration)


def subtract_duration(when, duration):
    """Return when minus duration: calendar years and months first (clamped to the month's end), then the rest.

    Returns None when the result would fall before year 1: no cutoff, everything is within.
    """
    month_index = when.year * 12 + (when.month - 1) - duration.years * 12 - duration.months
    year, month = divmod(month_index, 12)
    month += 1
    try:
        day = min(when.day, calendar.monthrange(year, month)[1])
        stepped = when.replace(year=year, month=month, day=day)
        return stepped - timedelta(weeks=duration.weeks, days=duration.days, hours=duration.hours)
    except (ValueError, OverflowError):
        return None


class Policy:
    """A validated retention policy. Counts are ints: 0 = rule off, N > 0 = N periods, -1 = unlimited."""

    def __init__(self, keep_last=0, keep_hourly=0, keep_daily=0, keep_weekly=0, keep_monthly=0, keep_yearly=0,
                 keep_within=None):
        counts = dict(keep_last=keep_last, keep_hourly=keep_hourly, keep_daily=keep_daily, keep_weekly=keep_weekly,
                      keep_monthly=keep_monthly, keep_yearly=keep_yearly)
        self.counts = dict((option, _validate_count(option, value)) for option, value in counts.items())
        self.keep_within = str(keep_within).strip() if keep_within not in (None, '') else None
        self.within = parse_duration(self.keep_within) if self.keep_within else None
        if self.is_empty():
            raise PapermergeBackupError(
                'the retention policy is empty, so it would remove every archive: set at least one of %s '
                '(a number, -1 for unlimited) or keep_within (such as 7d); to remove all archives, delete them '
                'yourself' % ', '.join(COUNT_OPTIONS),
                **counts
            )

    def is_empty(self):
        return not any(self.counts.values()) and (self.within is None or is_zero(self.within))


def policy_argument_spec():
    """The policy options (keep_*, and label), as papermerge_prune and papermerge_s3_prune take them."""
    spec = dict(keep_within=dict(type='str'), label=dict(type='str'))
    spec.update((option, dict(type='int', default=0)) for option in COUNT_OPTIONS)
    return spec


def policy_from_params(params):
    """(Policy, label or None) from the options of policy_argument_spec(); raise on a bad label or policy."""
    label = params.get('label')
    if label is not None:
        validate_label(label)
    counts = dict((option, params.get(option)) for option in COUNT_OPTIONS)
    return Policy(keep_within=params.get('keep_within'), **counts), label


def _validate_count(option, value):
    if value is None:
        return 0
    if isinstance(value, bool) or not isinstance(value, int) or value < UNLIMITED:
        raise PapermergeBackupError(
            '%s must be a whole number: 0 (rule off), N (keep N), or -1 (unlimited), not %r' % (option, value),
            **{option: value}
        )
    return value


# Rules applied in this order; each maps an archive to its period and names that period in the reason.
_PERIOD_RULES = (
    ('keep_hourly', 'hourly', lambda t: t.strftime('%Y-%m-%dT%H')),
    ('keep_daily', 'daily', lambda t: t.strftime('%Y-%m-%d')),
    ('keep_weekly', 'weekly', lambda t: '%04d-W%02d' % tuple(t.isocalendar()[:2])),
    ('keep_monthly', 'monthly', lambda t: t.strftime('%Y-%m')),
    ('keep_yearly', 'yearly', lambda t: '%04d' % t.year),
)


def select(candidates, policy, now):
    """Return (kept, removed): lists of Decision, newest first, for candidates (any order) under policy.

    now (aware datetime) only decides which archives are future-dated. Labels are grouped separately.
    """
    kept, removed = [], []
    for group in _group_by_label(candidates):
        for decision in _select_group(group, policy, now):
            (kept if decision.keep else removed).append(decision)
    return _newest_first(kept), _newest_first(removed)


def _group_by_label(candidates):
    groups = {}
    for candidate in candidates:
        groups.setdefault(candidate.label, []).append(candidate)
    return [groups[label] for label in sorted(groups, key=lambda label: (label is not None, label or ''))]


def _sort_key(candidate):
    return (candidate.time, candidate.name)


def _newest_first(decisions):
    return sorted(decisions, key=lambda decision: _sort_key(decision.candidate), reverse=True)


def _select_group(group, policy, now):
    future = [candidate for candidate in group if candidate.time > now]
    current = sorted((candidate for candidate in group if candidate.time <= now), key=_sort_key, reverse=True)
    decisions = [Decision(candidate, True, [FUTURE_DATED]) for candidate in future]
    reasons_by_index = _reasons(current, policy)
    if current and not reasons_by_index[0]:
        reasons_by_index[0].append(NEWEST)  # unreachable with a non-empty policy; kept as the last safeguard
    for candidate, reasons in zip(current, reasons_by_index):
        decisions.append(Decision(candidate, bool(reasons), reasons or [NOT_SELECTED]))
    return decisions


def _reasons(newest_first, policy):
    """Return, per archive (newest first), the list of rules keeping it."""
    reasons = [[] for dummy in newest_first]
    _apply_within(newest_first, policy, reasons)
    _apply_last(newest_first, policy.counts['keep_last'], reasons)
    for option, name, period_of in _PERIOD_RULES:
        _apply_periods(newest_first, policy.counts[option], name, period_of, reasons)
    return reasons


def _apply_within(newest_first, policy, reasons):
    if not newest_first or policy.within is None or is_zero(policy.within):
        return
    cutoff = subtract_duration(newest_first[0].time, policy.within)
    for index, candidate in enumerate(newest_first):
        if cutoff is None or candidate.time > cutoff:
            reasons[index].append('within %s' % policy.keep_within)


def _apply_last(newest_first, count, reasons):
    limit = len(newest_first) if count == UNLIMITED else count
    for index in range(min(limit, len(newest_first))):
        reasons[index].append('last %d' % (index + 1))


def _apply_periods(newest_first, count, name, period_of, reasons):
    # Walking newest first, the first archive seen in a period is that period's newest; each new period uses a slot.
    remaining = count
    previous = None
    for index, candidate in enumerate(newest_first):
        if remaining == 0:
            return
        period = period_of(candidate.time.astimezone(timezone.utc))
        if period != previous:
            previous = period
            remaining -= 1 if remaining > 0 else 0
            reasons[index].append('%s %s' % (name, period))


# Pruning a directory: the only part that touches the file system.


def prune_directory(path, policy, now, pattern=None, label=None, check_mode=False):
    """Apply policy to the archives in path; remove the unselected ones and their checksum files unless check_mode.

    Only regular files whose whole name matches pattern (default: the collection's archive names) are considered,
    restricted to label when given; nothing else in path is touched or reported. Returns (kept, removed): lists of
    dicts {path, label, time, reasons} and {path, label, time, reason, checksum}, newest first.
    """
    compiled = compile_pattern(pattern) if pattern else compile_pattern()
    kept, removed = select(find_archives(path, compiled, label), policy, now)
    removed_files = [_describe_removal(path, decision) for decision in removed]
    if not check_mode:
        _remove_all(removed_files)
    return [_describe_kept(path, decision) for decision in kept], removed_files


def find_archives(path, pattern, label=None):
    """Return a Candidate for each regular file in path whose name matches pattern (and label, when given)."""
    if not os.path.isdir(path):
        raise PapermergeBackupError(
            'path %s is not a directory: point path at the directory that holds the archives' % path, path=path)
    try:
        names = sorted(os.listdir(path))
    except OSError as error:
        raise PapermergeBackupError('cannot list %s: %s' % (path, error), path=path)
    candidates = []
    for name in names:
        parsed = parse_archive_name(name, pattern)
        if parsed is None or (label is not None and parsed.label != label):
            continue
        if _is_regular_file(os.path.join(path, name)):
            candidates.append(Candidate(name=name, label=parsed.label, time=parsed.time))
    return candidates


def _is_regular_file(file_path):
    # Symlinks are skipped on purpose: removing a link named like an archive would not free the archive's space,
    # and following it could delete a file outside the directory.
    try:
        return stat.S_ISREG(os.lstat(file_path).st_mode)
    except OSError:
        return False


def _describe_kept(path, decision):
    candidate = decision.candidate
    return dict(path=os.path.join(path, candidate.name), label=candidate.label, time=format_time(candidate.time),
                reasons=list(decision.reasons))


def _describe_removal(path, decision):
    candidate = decision.candidate
    archive = os.path.join(path, candidate.name)
    checksum = checksum_path(archive)
    return dict(path=archive, label=candidate.label, time=format_time(candidate.time),
                reason=decision.reasons[0], checksum=checksum if _is_regular_file(checksum) else None)


def _remove_all(removals):
    done = []
    for removal in removals:
        # The checksum goes first: an interruption then leaves an archive the next run removes, never a stray
        # .sha256 that no pattern matches.
        for file_path in (removal['checksum'], removal['path']):
            if file_path is None:
                continue
            try:
                os.remove(file_path)
            except FileNotFoundError:
                pass  # gone already (another prune run): the goal is reached
            except OSError as error:
                raise PapermergeBackupError(
                    'cannot remove %s: %s; fix the permissions and run again (already removed: %d archives)'
                    % (file_path, error, len(done)),
                    removed=done,
                )
        done.append(removal)
