# -*- coding: utf-8 -*-
# Copyright: papermerge.backup contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
#
# This module_utils is PRIVATE and should only be used by this collection. Breaking changes can occur any time.
"""The one exception type that module_utils raise.

Modules catch it once, in main(), and turn it into fail_json(msg=str(error), **error.details).
Messages say what happened and what to do next.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type


class PapermergeBackupError(Exception):
    """A failure the user can act on; str(error) is the message shown by fail_json."""

    def __init__(self, message, **details):
        super(PapermergeBackupError, self).__init__(message)
        self.details = details
