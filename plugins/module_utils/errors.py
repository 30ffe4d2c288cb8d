# -*- coding: utf-8 -*-
# Copyright: papermerge.backup contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
#
# This module_utils is PRIVATE and should only be used by this collection. Breaking changes can occur any time.
"""The one exception type that module_utils raise, and explained(), which turns any other into it.

Modules catch it once, in main(), and turn it into fail_json(msg=str(error), **error.details).
Messages say what happened and what to do next.

Text from an archive may be of any length (a 200 MB user name): messages and results quote it through shown(),
never whole, and list at most LISTED items of it (listed()).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import contextlib
import traceback


class PapermergeBackupError(Exception):
    """A failure the user can act on; str(error) is the message shown by fail_json."""

    def __init__(self, message, **details):
        super(PapermergeBackupError, self).__init__(message)
        self.details = details


@contextlib.contextmanager
def explained(what):
    """Turn any other exception escaping a module's run into a PapermergeBackupError with a message.

    A MemoryError's own text is empty and other exceptions' texts mean little to a user: say what happened and
    what to do, and keep the traceback for -vvv (Ansible shows the 'exception' key of a failure there).
    """
    try:
        yield
    except PapermergeBackupError:
        raise
    except (MemoryError, RuntimeError) as error:
        if not out_of_memory(error):
            raise _unexpected(what, error)
        raise PapermergeBackupError(
            "the %s ran out of memory (%s): give it more memory (the host's free memory, the container's memory "
            "limit or the ulimit of the user running Ansible) and run it again; whatever it had begun to write "
            "was rolled back" % (what, describe(error)), exception=traceback.format_exc())
    except Exception as error:
        raise _unexpected(what, error)


def out_of_memory(error):
    """A MemoryError, or a thread that could not start (no memory for its stack)."""
    return isinstance(error, MemoryError) or (isinstance(error, RuntimeError) and "start new thread" in str(error))


def _unexpected(what, error):
    return PapermergeBackupError(
        "the %s failed unexpectedly (%s); whatever it had begun to write was rolled back. This is a bug in "
        "papermerge.backup: please report it with this task's output at -vvv, which has the traceback"
        % (what, describe(error)), exception=traceback.format_exc())


def describe(error):
    """'TypeError: ...' for an exception, never empty (a MemoryError's text is)."""
    if isinstance(error, MemoryError):
        return "MemoryError"
    return "%s: %s" % (type(error).__name__, str(error) or repr(error))


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


def listed(items, limit=None, chars=SHOWN_CHARS):
    """At most limit (default LISTED) items of a list (or other iterable) from an archive, each through shown()
    with at most chars characters."""
    return [shown(item, chars) for _index, item in zip(range(LISTED if limit is None else limit), items)]


# A collision line quotes a username and up to two paths, each bounded by backup.json's bounds already: enough
# room for them, still bounded.
CONFLICT_CHARS = 2000
