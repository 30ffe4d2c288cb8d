"""Run one Ansible module on localhost the way a playbook runs it on a Papermerge host.

``run_module('papermerge.backup.papermerge_backup', {...}, python=instance.python)`` writes a
one-task playbook into a private temporary directory (0700; the module arguments, which may
hold a database password, stay off every command line), runs ansible-playbook from the
development venv with connection local, ``ansible_python_interpreter`` set to the given python
(the Papermerge venv's, as on a real host) and the collection loaded from this checkout, and
returns the module's result dict (``failed``, ``msg``, ``changed`` and every returned key) as
the json stdout callback reports it.
"""

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
COLLECTIONS_PATH = REPO / '.cache' / 'collections'
ANSIBLE_BIN = Path(sys.executable).parent


class AnsibleRunError(RuntimeError):
    """ansible-playbook itself failed (not the module): bad playbook, missing module, ..."""


def _playbook(module_fqcn, args, python, task_environment):
    task = {'name': 'Run %s' % module_fqcn, module_fqcn: args}
    if task_environment:
        task['environment'] = task_environment
    return [{
        'name': 'Run one module',
        'hosts': 'localhost',
        'connection': 'local',
        'gather_facts': False,
        'vars': {'ansible_python_interpreter': str(python)},
        'tasks': [task],
    }]


def ansible_environment(work_dir):
    env = {k: v for k, v in os.environ.items() if not k.startswith('ANSIBLE_')}
    env.update({
        'ANSIBLE_COLLECTIONS_PATH': str(COLLECTIONS_PATH),
        'ANSIBLE_STDOUT_CALLBACK': 'json',
        'ANSIBLE_LOAD_CALLBACK_PLUGINS': '1',
        'ANSIBLE_NOCOLOR': '1',
        'ANSIBLE_RETRY_FILES_ENABLED': '0',
        'ANSIBLE_HOST_KEY_CHECKING': '0',
        'ANSIBLE_LOCAL_TEMP': str(Path(work_dir) / 'local-tmp'),
        'ANSIBLE_REMOTE_TEMP': str(Path(work_dir) / 'remote-tmp'),
        'ANSIBLE_HOME': str(Path(work_dir) / 'home'),
        'ANSIBLE_DEPRECATION_WARNINGS': '0',
        'ANSIBLE_LOCALHOST_WARNING': '0',
        'ANSIBLE_INVENTORY_UNPARSED_WARNING': '0',
        'PATH': '%s:%s' % (ANSIBLE_BIN, os.environ.get('PATH', '/usr/bin:/bin')),
    })
    return env


def _task_result(report, module_fqcn):
    try:
        task = report['plays'][0]['tasks'][0]
        return task['hosts']['localhost']
    except (KeyError, IndexError, TypeError):
        raise AnsibleRunError('no result for %s in the json report: %s'
                              % (module_fqcn, json.dumps(report)[:3000]))


def run_module(module_fqcn, args, python, check=False, task_environment=None, diff=False,
               timeout=900):
    """Run ``module_fqcn`` with ``args`` on localhost; return the module's result dict.

    ``python`` is the interpreter the module runs under; ``check`` runs in check mode;
    ``task_environment`` becomes the task's ``environment:`` (e.g. PAPERMERGE__* variables).
    """
    with tempfile.TemporaryDirectory(prefix='papermerge-ansible-') as work_dir:
        playbook = Path(work_dir) / 'run.yml'
        # JSON is YAML: no quoting surprises for non-ASCII or special characters.
        playbook.write_text(json.dumps(_playbook(module_fqcn, args, python, task_environment)),
                            encoding='utf-8')
        os.chmod(playbook, 0o600)
        argv = [str(ANSIBLE_BIN / 'ansible-playbook'), '-i', 'localhost,', str(playbook)]
        if check:
            argv.append('--check')
        if diff:
            argv.append('--diff')
        result = subprocess.run(argv, cwd=work_dir, env=ansible_environment(work_dir),
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                timeout=timeout, check=False)
    try:
        report = json.loads(result.stdout)
    except ValueError:
        raise AnsibleRunError('ansible-playbook exited %d without a json report\n'
                              '--- stdout ---\n%s\n--- stderr ---\n%s'
                              % (result.returncode, result.stdout[-5000:], result.stderr[-5000:]))
    module_result = _task_result(report, module_fqcn)
    module_result.setdefault('failed', False)
    module_result.setdefault('changed', False)
    return module_result
