# -*- coding: utf-8 -*-
# Copyright: papermerge.backup contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
#
# This module_utils is PRIVATE and should only be used by this collection. Breaking changes can occur any time.
"""The phase boundaries of a backup and of a restore, and the one test-only seam on them.

Backup and restore call reached("<module>:<phase>") at each boundary (docs/reliability.md lists them).  It does
nothing unless the environment variable PAPERMERGE_BACKUP_TEST_STOP_AT names that very phase: then the process
stops itself (SIGSTOP), so that the fault-injection suite (tests/faults) can kill it, or cut its database
connection, exactly there, and let it go on (SIGCONT) or not.  Nothing else reads the variable.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
import signal

STOP_VARIABLE = "PAPERMERGE_BACKUP_TEST_STOP_AT"


def reached(phase):
    if os.environ.get(STOP_VARIABLE) == phase:
        os.kill(os.getpid(), signal.SIGSTOP)
