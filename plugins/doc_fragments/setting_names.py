# -*- coding: utf-8 -*-
# Copyright: papermerge.backup contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type


class ModuleDocFragment(object):
    # The option of plugins/module_utils/setting_names.py setting_names_argument_spec().
    DOCUMENTATION = r"""
options:
  setting_names:
    description:
      - How the messages of this module name its settings, for callers whose users set them under other names.
      - A dict from an option of this module (or V(interpreter), the Python that runs the module) to the name the
        user sets. The restore role, for example, maps C(on_conflict) to C(papermerge_restore_on_conflict) and
        V(interpreter) to C(papermerge_venv).
      - Options left out keep their own names (V(interpreter) is C(ansible_python_interpreter)). The collection's roles
        set it, so that a failure names their variables; nothing else changes.
    type: dict
    default: {}
"""
