# -*- coding: utf-8 -*-
# Copyright: papermerge.backup contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
#
# This module_utils is PRIVATE and should only be used by this collection. Breaking changes can occur any time.
"""Messages name the settings the user sets: a module's own options when it runs alone, a role's variables when
the user came through a role.

A message names an option through setting("on_conflict"), a marker that name_settings() writes out once, in the
module's main(), from the module's setting_names option: a dict from an option (or "interpreter", the Python that
runs the module) to the name the caller's user sets, for example {"on_conflict": "papermerge_restore_on_conflict"}.
Options the dict leaves out keep their own name.  So no function between the message and main() needs to know who
called: a role hands setting_names once (module_defaults), and the module stays usable alone.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import re

OWN_NAMES = {"interpreter": "ansible_python_interpreter"}
_OPEN, _CLOSE = u"\u27e8", u"\u27e9"
_MARKER = re.compile(_OPEN + r"([A-Za-z0-9_]+)" + _CLOSE)


def setting_names_argument_spec():
    """The setting_names option (documented in doc_fragments/setting_names.py)."""
    return dict(setting_names=dict(type="dict", default={}))


def setting(option):
    """option, marked for name_settings() to write as the caller spells it."""
    return _OPEN + option + _CLOSE


def name_settings(message, names=None):
    """message with every setting() marker replaced by the caller's name for it (names), else its own."""
    names = names or {}

    def spelled(match):
        option = match.group(1)
        return str(names.get(option) or OWN_NAMES.get(option, option))

    return _MARKER.sub(spelled, message)
