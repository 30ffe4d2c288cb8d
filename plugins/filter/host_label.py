# -*- coding: utf-8 -*-
# Copyright: papermerge.backup contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
name: host_label
short_description: The archive label the backup role gives a host by default
version_added: 0.2.0
description:
  - Returns the inventory hostname as it is when it is a label already (letters, digits, C(.), C(_), C(-), at most 64
    characters), else with every run of other characters replaced by C(-), trimmed of C(-) and C(.) at both ends and
    cut to 64 characters (C(docs 01) gives C(docs-01)).
  - Fails when nothing usable is left; set C(papermerge_backup_label) for such a host.
  - The backup role labels archives with it, and the restore role expects it of an archive restored into the host.
author:
  - papermerge.backup maintainers (@papermerge)
options:
  _input:
    description: An inventory hostname.
    type: str
    required: true
"""

EXAMPLES = r"""
- name: Show the label of this host's archives
  ansible.builtin.debug:
    msg: "{{ inventory_hostname | papermerge.backup.host_label }}"
"""

RETURN = r"""
_value:
  description: The label.
  type: str
"""

from ansible.errors import AnsibleFilterError

from ansible_collections.papermerge.backup.plugins.module_utils.errors import PapermergeBackupError
from ansible_collections.papermerge.backup.plugins.module_utils.naming import host_label


def label_of_host(hostname):
    try:
        return host_label(hostname)
    except PapermergeBackupError as error:
        raise AnsibleFilterError(str(error))


class FilterModule(object):
    def filters(self):
        return {"host_label": label_of_host}
