"""Run a playbook of this collection the way a user does, and read what happened.

``run_playbook(playbook, inventory, extravars)`` runs ansible-playbook from the development
venv with the collection loaded from this checkout, the json stdout callback and a private
ANSIBLE_HOME, and returns a ``PlaybookRun``: the return code, the per-host stats (``ok``,
``changed``, ``failures``, ...), every task result, the lines printed before the report (the
progress lines of papermerge_wait), and the raw output for failure messages.
Inventory and extra variables are written to files in a private directory (0700), never put
on a command line.
"""

import json
import os
import stat
import subprocess
import tempfile
from pathlib import Path

from ansible_run import ANSIBLE_BIN, ansible_environment

REPO = Path(__file__).resolve().parents[2]


def _bare(name):
    """A task name without the 'namespace.collection.role : ' prefix Ansible puts on role tasks."""
    return name.split(' : ', 1)[-1]


class PlaybookRun:
    """What one ansible-playbook run did."""

    def __init__(self, returncode, report, stdout, stderr, lines=()):
        self.returncode = returncode
        self.report = report or {}
        self.stdout = stdout
        self.stderr = stderr
        self.lines = list(lines)

    @property
    def stats(self):
        return self.report.get('stats', {})

    def changed(self, host='localhost'):
        return self.stats.get(host, {}).get('changed', 0)

    @property
    def ok(self):
        return self.returncode == 0 and not any(
            s.get('failures') or s.get('unreachable') for s in self.stats.values())

    def results(self, task_name, host='localhost'):
        """Every result of the tasks named ``task_name`` (loops give one per item)."""
        found = []
        for play in self.report.get('plays', []):
            for task in play.get('tasks', []):
                if _bare(task['task']['name']) == task_name and host in task['hosts']:
                    found.append(task['hosts'][host])
        return found

    def changed_tasks(self, host='localhost'):
        return [_bare(task['task']['name'])
                for play in self.report.get('plays', []) for task in play.get('tasks', [])
                if task['hosts'].get(host, {}).get('changed')]

    def explain(self):
        """A failure message: the failed tasks and the tail of stderr."""
        failed = []
        for play in self.report.get('plays', []):
            for task in play.get('tasks', []):
                for host, result in task['hosts'].items():
                    if result.get('failed') or result.get('unreachable'):
                        failed.append('%s on %s: %s' % (
                            task['task']['name'], host, json.dumps(result)[:3000]))
        return 'ansible-playbook exited %d\n%s\n--- stderr ---\n%s\n--- stdout ---\n%s' % (
            self.returncode, '\n'.join(failed), self.stderr[-3000:],
            '' if self.report else self.stdout[-3000:])


def run_playbook(playbook, inventory, extravars=None, check=False, limit=None, timeout=1800,
                 env=None, wrapper=()):
    """Run ``playbook`` (a path, or a list of plays) against ``inventory`` (a dict in YAML
    inventory shape, or a path); return a PlaybookRun.  ``wrapper`` is an argv prefix that runs
    ansible-playbook (strace, say)."""
    with tempfile.TemporaryDirectory(prefix='papermerge-playbook-') as work_dir:
        work = Path(work_dir)
        os.chmod(work, 0o700)
        if not isinstance(playbook, (str, Path)):
            path = work / 'play.yml'
            path.write_text(json.dumps(playbook), encoding='utf-8')
            playbook = path
        if isinstance(inventory, dict):
            path = work / 'inventory.json'
            path.write_text(json.dumps(inventory), encoding='utf-8')
            inventory = path
        argv = list(wrapper) + [str(ANSIBLE_BIN / 'ansible-playbook'), '-i', str(inventory), str(playbook)]
        if extravars:
            path = work / 'extravars.json'
            path.write_text(json.dumps(extravars), encoding='utf-8')
            os.chmod(path, 0o600)
            argv += ['-e', '@%s' % path]
        if check:
            argv.append('--check')
        if limit:
            argv += ['--limit', limit]
        environment = ansible_environment(work_dir)
        environment.update(env or {})
        # A failing playbook is a result to look at, not an exception: see PlaybookRun.ok.
        result = subprocess.run(argv, cwd=str(REPO), env=environment, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True, timeout=timeout, check=False)
    lines, report = _split_report(result.stdout)
    return PlaybookRun(result.returncode, report, result.stdout, result.stderr, lines)


def _split_report(stdout):
    """(lines displayed while the play ran, the json callback's report or None): the report is the
    last thing printed, an object whose first line is a lone '{' (its own lines are indented)."""
    lines = stdout.splitlines()
    starts = [index for index, line in enumerate(lines) if line == '{']
    for start in starts:
        try:
            return lines[:start], json.loads('\n'.join(lines[start:]))
        except ValueError:
            continue
    return lines, None


def local_inventory(group='papermerge', hosts=None, **group_vars):
    """A YAML-shaped inventory: ``hosts`` ({name: vars}) in ``group``, connection local."""
    hosts = hosts or {'localhost': {}}
    for host_vars in hosts.values():
        host_vars.setdefault('ansible_connection', 'local')
    return {group: {'hosts': hosts, 'vars': group_vars}}


def instance_inventory(instance, host='localhost'):
    """``local_inventory`` whose one host, ``host``, runs the Papermerge ``instance``."""
    return local_inventory(
        hosts={host: {}},
        papermerge_project_dir=str(instance.project_dir),
        papermerge_venv=str(instance.venv),
        papermerge_config_file=str(instance.config_file),
        ansible_python_interpreter='/usr/bin/python3',
    )


def make_manage_py_executable(instance):
    """Papermerge's own projects ship manage.py executable, and django_manage runs ./manage.py;
    the test instances' manage.py is not, so the roles' preflight check is exercised too."""
    manage_py = instance.project_dir / 'manage.py'
    os.chmod(manage_py, os.stat(manage_py).st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
