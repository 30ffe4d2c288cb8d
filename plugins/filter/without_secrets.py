# -*- coding: utf-8 -*-
# Copyright: papermerge.backup contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
name: without_secrets
short_description: The PAPERMERGE__* variables the collection's modules may take in their environment option
version_added: 0.2.0
description:
  - Returns the dictionary without the variables named like secrets (names containing C(PASSWORD), C(PASSWD),
    C(SECRET), C(TOKEN), C(KEY) or C(CREDENTIAL), in any case).
  - The C(environment) option of M(papermerge.backup.papermerge_backup) and M(papermerge.backup.papermerge_restore) is
    not secret and refuses such variables by the same rule; the database password goes as C(database.password).
  - The roles use it to hand C(papermerge_environment) to the modules.
author:
  - papermerge.backup maintainers (@papermerge)
options:
  _input:
    description: The C(PAPERMERGE__*) variables the instance runs with.
    type: dict
    required: true
"""

EXAMPLES = r"""
- name: Back up with the app's settings, the password kept out of the logged options
  papermerge.backup.papermerge_backup:
    project_dir: /opt/papermerge
    dest: /var/backups/papermerge/
    environment: "{{ papermerge_environment | papermerge.backup.without_secrets }}"
    database:
      password: "{{ papermerge_environment.PAPERMERGE__DATABASE__PASSWORD | default(omit) }}"
"""

RETURN = r"""
_value:
  description: The variables whose names do not look like secrets.
  type: dict
"""

from ansible_collections.papermerge.backup.plugins.module_utils.instance import without_secret_variables


class FilterModule(object):
    def filters(self):
        return {"without_secrets": without_secret_variables}
