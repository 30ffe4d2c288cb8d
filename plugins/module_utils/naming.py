# -*- coding: utf-8 -*-
# Copyright: papermerge.backup contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
#
# This module_utils is PRIVATE and should only be used by this collection. Breaking changes can occur any time.
"""Archive file names: make them, check labels, and read label, time and version back.

Generated names look like ``papermerge-<label>-<YYYYMMDDTHHMMSSZ>-<papermerge version>.tar.gz``, for example
``papermerge-docs01-20261126T020000Z-2.1.5.tar.gz``, with ``.age`` appended when the archive is encrypted
(``...-2.1.5.tar.gz.age``).  A label may itself contain ``-``, so names are read from
the right: the UTC time stamp is the anchor, everything between ``papermerge-`` and it is the label.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import re
from collections import namedtuple
from datetime import datetime, timezone

from ansible_collections.papermerge.backup.plugins.module_utils.errors import PapermergeBackupError
from ansible_collections.papermerge.backup.plugins.module_utils.setting_names import setting

TIME_FORMAT = '%Y%m%dT%H%M%SZ'
LABEL_MAX_LENGTH = 64

_LABEL = r'[A-Za-z0-9._-]+'
_TIME = r'[0-9]{8}T[0-9]{6}Z'
# A normalised PEP 440 version (what the installed distribution reports): 2.1.5, 2.1.5rc1, 2.1.5.post1,
# 2.1.5.dev0, 2.1.5+local.1.  Normalised versions never contain '-', so the version cannot swallow the time.
_VERSION = r'[0-9]+(?:\.[0-9]+)*(?:(?:a|b|rc)[0-9]+)?(?:\.post[0-9]+)?(?:\.dev[0-9]+)?(?:\+[A-Za-z0-9]+(?:\.[A-Za-z0-9]+)*)?'

# The label group is greedy and the time group is fixed-width between two '-', so the match always takes
# the right-most time stamp: labels containing '-' (even digits) parse correctly.
DEFAULT_PATTERN = (
    r'^papermerge-(?P<label>' + _LABEL + r')-(?P<time>' + _TIME + r')-(?P<version>' + _VERSION + r')\.tar\.gz(?:\.age)?$'
)

ArchiveName = namedtuple('ArchiveName', ['label', 'time', 'version'])
ArchiveName.__doc__ = """What a file name says about an archive: label (str or None), time (aware UTC datetime),
version (str or None). label and version are None when a custom pattern has no such group."""

_LABEL_RE = re.compile(_LABEL)
_VERSION_RE = re.compile(_VERSION)
_TIME_DIGITS = 14  # YYYY MM DD HH MM SS


def validate_label(label):
    """Return label unchanged if it can be part of an archive name; raise PapermergeBackupError otherwise."""
    if not isinstance(label, str) or not label:
        raise PapermergeBackupError(
            '%s must not be empty: give a short name such as the host name (letters, digits, ".", "_", "-")'
            % setting('label'), label=label,
        )
    if len(label) > LABEL_MAX_LENGTH or not _LABEL_RE.fullmatch(label):
        raise PapermergeBackupError(
            '%s %r is not usable in an archive name: use at most %d letters, digits, ".", "_" or "-"'
            % (setting('label'), label, LABEL_MAX_LENGTH),
            label=label,
        )
    return label


def default_label(hostname):
    """Return a label for a host: its short name (up to the first '.'), lower case, every run of characters a
    label does not allow replaced by '-'. An IPv4 address keeps all four parts ('10-0-0-5'), since its first part
    alone says nothing. 'localhost' when nothing usable is left."""
    name = (hostname or '').strip().lower()
    if not re.fullmatch(r'[0-9]+(\.[0-9]+){3}', name):
        name = name.split('.', 1)[0]
    sanitised = re.sub(r'[^a-z0-9_-]+', '-', name).strip('-')[:LABEL_MAX_LENGTH].strip('-')
    return sanitised or 'localhost'


def host_label(hostname):
    """Return the label the backup role gives a host by default: its inventory hostname as it is, when that is a
    label already (docs01.example.com), else with every run of characters a label does not allow replaced by '-'
    ('docs 01' -> 'docs-01', 'büro' -> 'b-ro'), trimmed of '-' and '.' at both ends and cut to LABEL_MAX_LENGTH.

    Case and dots are kept: the restore role compares an archive's label with this, so the rule must give every
    host one label, the same one each time.  Raises PapermergeBackupError when nothing usable is left.
    """
    name = str(hostname or '')
    label = re.sub(r'[^A-Za-z0-9._-]+', '-', name).strip('-.')[:LABEL_MAX_LENGTH].rstrip('-.')
    if not label:
        raise PapermergeBackupError(
            'the inventory hostname %r gives no usable archive label (letters, digits, ".", "_", "-"): set '
            'papermerge_backup_label for this host' % (name,), hostname=name)
    return label


def archive_name(label, when_utc, papermerge_version, encrypted=False):
    """Return the generated archive file name for label, an aware or naive-UTC datetime, and a version
    (ending in .tar.gz.age for an encrypted archive)."""
    validate_label(label)
    if not _VERSION_RE.fullmatch(papermerge_version or ''):
        raise PapermergeBackupError(
            'Papermerge version %r cannot be part of an archive name: expected a version such as 2.1.5'
            % (papermerge_version,),
            papermerge_version=papermerge_version,
        )
    return 'papermerge-%s-%s-%s.tar.gz%s' % (label, _to_utc(when_utc).strftime(TIME_FORMAT), papermerge_version,
                                             '.age' if encrypted else '')


def compile_pattern(pattern=DEFAULT_PATTERN):
    """Return pattern compiled; raise PapermergeBackupError when it is invalid or has no named group 'time'."""
    if hasattr(pattern, 'groupindex'):
        compiled = pattern
    else:
        try:
            compiled = re.compile(pattern)
        except re.error as error:
            raise PapermergeBackupError(
                'pattern %r is not a valid regular expression: %s' % (pattern, error), pattern=pattern
            )
    if 'time' not in compiled.groupindex:
        raise PapermergeBackupError(
            'pattern %r has no named group "time": a custom pattern must capture the archive time as '
            '(?P<time>...) (and may capture (?P<label>...)); the default pattern shows how' % (compiled.pattern,),
            pattern=compiled.pattern,
        )
    return compiled


def parse_archive_name(name, pattern=DEFAULT_PATTERN):
    """Return ArchiveName for a file name matching pattern (a whole-name match), or None if it does not match.

    The 'time' group must hold the UTC date and time as year, month, day, hour, minute and second, in this order;
    anything but digits is ignored (so 20261126T020000Z and 2026-11-26_02-00-00 both work). A name whose time is
    not a real date is not an archive of ours, and so gives None.
    """
    compiled = compile_pattern(pattern)
    match = compiled.fullmatch(name)
    if match is None:
        return None
    when = parse_time(match.group('time'))
    if when is None:
        return None
    groups = match.groupdict()
    return ArchiveName(label=groups.get('label'), time=when, version=groups.get('version'))


def parse_time(text):
    """Return the aware UTC datetime in text (14 digits, separators ignored), or None when there is none."""
    digits = re.sub(r'[^0-9]', '', text or '')
    if len(digits) != _TIME_DIGITS:
        return None
    try:
        return datetime.strptime(digits, '%Y%m%d%H%M%S').replace(tzinfo=timezone.utc)
    except ValueError:
        return None


def format_time(when):
    """Return when as ISO 8601 UTC with a 'Z', the form modules return times in."""
    return _to_utc(when).strftime('%Y-%m-%dT%H:%M:%SZ')


def _to_utc(when):
    # A naive datetime is taken to be UTC already (datetime.utcnow() style); aware ones are converted.
    if when.tzinfo is None:
        return when.replace(tzinfo=timezone.utc)
    return when.astimezone(timezone.utc)
