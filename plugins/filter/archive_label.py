# -*- coding: utf-8 -*-
# Copyright: papermerge.backup contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
name: archive_label
short_description: The label papermerge_backup gives a host's archives when none is set
version_added: 0.1.0
description:
  - Returns the label M(papermerge.backup.papermerge_backup) puts in archive names by default for a host of this
    name, its short name in lower case with every run of characters a label does not allow replaced by C(-).
  - The backup role uses it for the metrics file's C(label) when a backup fails before the module said which
    label it used.
author:
  - papermerge.backup maintainers (@papermerge)
options:
  _input:
    description: The host's name, as the host itself reports it (C(ansible_facts.nodename)).
    type: str
    required: true
"""

EXAMPLES = r"""
- name: Say which label the archives of this host carry
  ansible.builtin.debug:
    msg: "{{ ansible_facts.nodename | papermerge.backup.archive_label }}"
"""

RETURN = r"""
_value:
  description: The label, for example C(docs01) for C(Docs01.example.com).
  type: str
"""

from ansible_collections.papermerge.backup.plugins.module_utils.naming import default_label


class FilterModule(object):
    def filters(self):
        return {"archive_label": default_label}
