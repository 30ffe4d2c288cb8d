# -*- coding: utf-8 -*-
# Copyright: papermerge.backup contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
#
# This module_utils is PRIVATE and should only be used by this collection. Breaking changes can occur any time.
"""The one reader of date-time values: database columns (backup) and backup.json dates (restore).

SQLite hands Django's DateTimeFields back as naive UTC text ('2026-11-26 15:40:22.857647'), PostgreSQL as aware
datetimes; Papermerge's backup.json holds ISO 8601 with an offset ('2026-11-26T16:40:22.9+01:00'), ours with 'Z'.
Python 3.8's datetime.fromisoformat reads none of the offset-less, 'Z' or 7-digit forms, hence a parser here.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import datetime
import re

UTC = datetime.timezone.utc
_ISO = re.compile(r"^(\d{4})-(\d\d)-(\d\d)[Tt ](\d\d):(\d\d):(\d\d)(?:\.(\d+))?([Zz]|[+-]\d\d:?\d\d)?$")


def parse_datetime(value):
    """The aware UTC datetime in value (a datetime or ISO 8601 text; naive means UTC), None for None or "".

    Fractions beyond microseconds are cut off; ValueError says when value is not such a date-time.
    """
    parsed = _as_datetime(value)
    if parsed is None:
        return None
    if parsed.tzinfo is None:
        return parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


def utc_iso(value):
    """ISO 8601 in UTC with 'Z', as Django REST framework renders with TIME_ZONE UTC; None stays None."""
    parsed = _as_datetime(value)
    if parsed is None:
        return None
    if parsed.tzinfo is not None:
        parsed = parsed.astimezone(UTC).replace(tzinfo=None)
    return parsed.isoformat() + "Z"


def _as_datetime(value):
    """value as a datetime, naive (UTC) or aware as written; None for None or ""."""
    if value is None or value == "":
        return None
    if isinstance(value, datetime.datetime):
        return value
    match = _ISO.match(str(value).strip())
    if not match:
        raise ValueError("%r is not an ISO 8601 date and time" % (value,))
    fields = [int(part) for part in match.groups()[:6]]
    micro = int((match.group(7) or "0")[:6].ljust(6, "0"))
    parsed = datetime.datetime(*fields, microsecond=micro)  # ValueError for a 13th month and the like
    zone = match.group(8)
    if zone and zone.upper() != "Z":
        digits = zone[1:].replace(":", "")
        offset = datetime.timedelta(hours=int(digits[:2]), minutes=int(digits[2:]))
        parsed = parsed.replace(tzinfo=datetime.timezone(-offset if zone[0] == "-" else offset))
    return parsed
