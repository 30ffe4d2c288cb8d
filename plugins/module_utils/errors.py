# -*- coding: utf-8 -*-
# Copyright: papermerge.backup contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
#
# This module_utils is PRIVATE and should only be used by this collection. Breaking changes can occur any time.
"""The one exception type that module_utils raise.

Modules catch it once, in main(), and turn it into fail_json(msg=str(error), **error.details).
Messages say what happened and what to do next.

Text from an archive may be of any length (a 200 MB user name): messages and results quote it through shown(),
never whole, and list at most LISTED items of it (listed()).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type


class PapermergeBackupError(Exception):
    """A failure the user can act on; str(error) is the message shown by fail_json."""

    def __init__(self, message, **details):
        super(PapermergeBackupError, self).__init__(message)
        self.details = details


# Archive text is quoted up to this many characters; a longer text is cut, and the cut says how much is missing.
SHOWN_CHARS = 200
LISTED = 1000


def shown(value, limit=SHOWN_CHARS):
    """Text from an archive as a message or a result may quote it: cut after limit characters, with
    '...[N more characters]' in place of the rest (N counts the characters left out)."""
    text = value if isinstance(value, str) else repr(value)
    if len(text) <= limit:
        return text
    return "%s...[%d more characters]" % (text[:limit], len(text) - limit)


def listed(items, limit=None):
    """At most limit (default LISTED) items of a list (or other iterable) from an archive, each through shown()."""
    return [shown(item) for _index, item in zip(range(LISTED if limit is None else limit), items)]
