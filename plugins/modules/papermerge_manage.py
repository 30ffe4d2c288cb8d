#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: papermerge.backup contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r'''
---
module: papermerge_manage
short_description: Run a Papermerge 2.1 instance's manage.py command with the database password kept secret
version_added: 0.2.0
author:
  - papermerge.backup maintainers (@papermerge)
description:
  - Runs C(manage.py <command>) in O(project_dir) with the Python of O(virtualenv), with the instance's settings
    in its environment, and returns its exit code and output.
  - Ansible writes a task's C(environment) keyword on the remote command line (C(VAR=value python AnsiballZ_...)),
    where C(-vvv) prints it and C(ps) on the host shows it. This module takes the database password as
    O(database.password) (never logged or returned) and sets it in C(manage.py)'s own environment only, so it is
    on no command line. It is the way the P(papermerge.backup.migrate#role) and P(papermerge.backup.restore#role)
    roles run C(manage.py migrate), C(showmigrations) and C(update_index).
  - "C(manage.py) gets, the later winning: the module's own process environment (in a container, the variables the
    container was started with), E(PAPERMERGE__CONFIG) set to O(config_file), the variables of O(environment), each
    key of O(database) as E(PAPERMERGE__DATABASE__<KEY>) (O(database.password) as E(PAPERMERGE__DATABASE__PASSWORD)),
    and O(media_root) as E(PAPERMERGE__MAIN__MEDIA_ROOT) and E(PAPERMERGE__MEDIA__DIR)."
  - The password, and the value of every E(PAPERMERGE__*) variable named like a secret, is replaced by C(********)
    in RV(stdout) and RV(stderr).
  - C(manage.py) reads nothing on its standard input, so a command that asks a question fails instead of waiting;
    give such commands their C(--noinput).
  - O(papermerge_version) is taken so that the module belongs to the action group
    C(group/papermerge.backup.instance) with the other modules of an instance; it is not used.
extends_documentation_fragment:
  - papermerge.backup.instance
options:
  command:
    description:
      - The C(manage.py) command and its arguments, for example V(migrate --noinput) or V(showmigrations --plan).
        The text is split into words as a shell splits it (quotes group words); no shell runs it.
    type: str
    required: true
  virtualenv:
    description:
      - Papermerge's virtualenv; C(manage.py) runs with its C(bin/python), and its C(bin) comes first on E(PATH).
      - Left out, C(manage.py) runs with the Python running the module.
    type: path
  read_only:
    description:
      - The command only reads (for example V(showmigrations --plan)). It runs in check mode as well, and the result
        is never C(changed).
      - Otherwise the result of a run is always C(changed), and in check mode the command does not run.
    type: bool
    default: false
  timeout:
    description:
      - Seconds the command may run; then it is stopped, with every process it started, and the module fails
        saying so. V(0) means no limit.
    type: int
    default: 0
attributes:
  check_mode:
    support: full
    description:
      - A command that is not O(read_only) does not run in check mode, and the result says it would, as C(changed).
        A O(read_only) command runs in check mode as in a real run.
  diff_mode:
    support: none
    description: What a command changes is its own; there is no diff.
notes:
  - The module needs no library beyond the standard library of the Python running it; Papermerge's own Python
    (the O(virtualenv)'s) runs C(manage.py).
  - C(manage.py) need not be executable, as it is run with the virtualenv's Python.
seealso:
  - module: papermerge.backup.papermerge_restore
  - module: community.general.django_manage
    description: Runs manage.py too, but takes the password only through the task's C(environment), which shows.
'''

EXAMPLES = r'''
- name: Apply Papermerge's pending migrations, the database password kept off every command line
  papermerge.backup.papermerge_manage:
    project_dir: /opt/papermerge
    virtualenv: /opt/papermerge/venv
    command: migrate --noinput
    environment: "{{ papermerge_environment | papermerge.backup.without_secrets }}"
    database:
      password: "{{ vault_papermerge_database_password }}"

- name: List the migration plan, also in check mode
  papermerge.backup.papermerge_manage:
    project_dir: /app
    virtualenv: /venv
    command: showmigrations --plan
    read_only: true
  register: plan

- name: Say which migrations are pending
  ansible.builtin.debug:
    msg: "{{ plan.stdout_lines | select('match', '^\\s*\\[ \\]') | list }}"
'''

RETURN = r'''
cmd:
  description: The command line that runs (the Python, C(manage.py), the command's words); it holds no secret.
  returned: always
  type: list
  elements: str
  sample: ["/venv/bin/python", "manage.py", "migrate", "--noinput"]
rc:
  description: The exit code of C(manage.py).
  returned: when the command ran (not in check mode unless O(read_only))
  type: int
  sample: 0
stdout:
  description: What C(manage.py) wrote on its standard output, secrets masked.
  returned: when the command ran
  type: str
  sample: "Operations to perform:\n  Apply all migrations: admin, auth, core\n"
stdout_lines:
  description: RV(stdout) split into lines.
  returned: when the command ran
  type: list
  elements: str
  sample: ["[X]  contenttypes.0001_initial", "[ ]  core.0001_initial"]
stderr:
  description: What C(manage.py) wrote on its standard error, secrets masked.
  returned: when the command ran
  type: str
  sample: ""
stderr_lines:
  description: RV(stderr) split into lines.
  returned: when the command ran
  type: list
  elements: str
  sample: []
msg:
  description: In check mode, for a command that is not O(read_only), that it would run.
  returned: in check mode, when the command did not run
  type: str
  sample: "check mode: manage.py migrate --noinput would run"
'''

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.papermerge.backup.plugins.module_utils.errors import PapermergeBackupError
from ansible_collections.papermerge.backup.plugins.module_utils.manage import manage_argument_spec, run_manage


def main():
    module = AnsibleModule(argument_spec=manage_argument_spec(), supports_check_mode=True)
    try:
        result = run_manage(module.params, check_mode=module.check_mode)
    except PapermergeBackupError as error:
        module.fail_json(msg=str(error), **error.details)
    module.exit_json(**result)


if __name__ == '__main__':
    main()
