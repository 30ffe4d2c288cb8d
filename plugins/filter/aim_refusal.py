# -*- coding: utf-8 -*-
# Copyright: papermerge.backup contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
name: aim_refusal
short_description: Why an archive may not be restored into a host without a confirmation, or nothing
version_added: 0.2.0
description:
  - Applies the rule M(papermerge.backup.papermerge_restore) applies with its C(expected_label) option, before the
    archive is read.
  - Returns an empty string when the archive may be restored into the host labelled O(expected_label), and otherwise
    the message refusing it, which says what to confirm.
  - Without O(label), the archive's label comes from its generated file name; a name that carries none returns an
    empty string, as only reading the archive can tell (the module does). With O(label), that is the label read from
    the archive, and an empty one means the archive carries none, which takes its file name as confirmation.
author:
  - papermerge.backup maintainers (@papermerge)
options:
  _input:
    description: The archive's file name.
    type: str
    required: true
  expected_label:
    description: The label of the host restored into.
    type: str
    required: true
  confirmed:
    description: The confirmation given (C(papermerge_restore_confirm_label)).
    type: str
    default: ""
  label:
    description: The label read from the archive; leave it out before the archive is read.
    type: str
  setting_names:
    description:
      - How the message names the confirmation, for example C(confirm_label) as
        C(papermerge_restore_confirm_label).
    type: dict
    default: {}
"""

EXAMPLES = r"""
- name: Fail when the archive's name says it comes from another host
  ansible.builtin.assert:
    that: refusal | length == 0
    fail_msg: "{{ refusal }}"
  vars:
    refusal: >-
      {{ papermerge_restore_archive | basename | papermerge.backup.aim_refusal(inventory_hostname,
         papermerge_restore_confirm_label, setting_names={'confirm_label': 'papermerge_restore_confirm_label'}) }}
"""

RETURN = r"""
_value:
  description: The refusal, or an empty string.
  type: str
"""

from ansible_collections.papermerge.backup.plugins.module_utils.aim import aim_refusal
from ansible_collections.papermerge.backup.plugins.module_utils.naming import parse_archive_name
from ansible_collections.papermerge.backup.plugins.module_utils.setting_names import name_settings

_UNREAD = object()


def refusal(archive_name, expected_label, confirmed="", label=_UNREAD, setting_names=None):
    archive_name = str(archive_name)
    if label is _UNREAD:
        parsed = parse_archive_name(archive_name)
        if parsed is None:
            return ""  # the name tells nothing: reading the archive will
        label = parsed.label
    message = aim_refusal(archive_name, label or None, str(expected_label), confirmed or None)
    return name_settings(message, setting_names) if message else ""


class FilterModule(object):
    def filters(self):
        return {"aim_refusal": refusal}
