# -*- coding: utf-8 -*-
# Copyright: papermerge.backup contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
#
# This module_utils is PRIVATE and should only be used by this collection. Breaking changes can occur any time.
"""Run one of a Papermerge instance's manage.py commands with the instance's settings.

Ansible writes a task's `environment` on the remote command line (`VAR=value python AnsiballZ_...`), where -vvv
prints it and `ps` on the host shows it, so the roles cannot hand manage.py the database password that way.
papermerge_manage takes the instance options instead: the password as database.password (no_log), which reaches
manage.py only in its own process environment, never in an argv, and never in the result (stdout and stderr are
masked).

What manage.py gets: the module's own process environment (in a container, the container's PAPERMERGE__*
variables), then PAPERMERGE__CONFIG for config_file, the `environment` option, and the `database` and `media_root`
options as the PAPERMERGE__* variables configula reads, in this order, the later winning.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
import shlex
import signal
import subprocess
import sys

from ansible_collections.papermerge.backup.plugins.module_utils.errors import PapermergeBackupError
from ansible_collections.papermerge.backup.plugins.module_utils.instance import (
    CONFIG_VARIABLE, DATABASE_KEYS, ENV_PREFIX, check_environment, instance_argument_spec, without_secret_variables)

MASK = "********"
# The first 2.1 images read [media] dir, later ones [main] media_root: media_root sets both.
MEDIA_ROOT_VARIABLES = ("PAPERMERGE__MAIN__MEDIA_ROOT", "PAPERMERGE__MEDIA__DIR")


def manage_argument_spec():
    """The options of papermerge_manage: the instance options and the command's own."""
    spec = instance_argument_spec()
    spec.update(
        command=dict(type="str", required=True),
        virtualenv=dict(type="path"),
        read_only=dict(type="bool", default=False),
        timeout=dict(type="int", default=0),
    )
    return spec


def run_manage(params, check_mode=False, process_environ=None):
    """Run manage.py <command> as params say; the module's result (rc, stdout, stderr, cmd, changed).

    In check mode a command that is not read_only does not run: the result says it would.
    """
    check_environment(params.get("environment"))
    argv = manage_argv(params)
    environ = manage_environment(params, os.environ if process_environ is None else process_environ)
    if check_mode and not params.get("read_only"):
        return dict(changed=True, cmd=argv, msg="check mode: manage.py %s would run" % params["command"])
    completed = _run(argv, params["project_dir"], environ, params.get("timeout") or None)
    if completed is None:
        raise PapermergeBackupError(
            "manage.py %s did not finish within %d seconds (timeout) and was stopped: raise the timeout if the "
            "command needs longer, or look for what it waits on (a lock, a prompt, a server it cannot reach)"
            % (params["command"], params["timeout"]), cmd=argv)
    secrets = secret_values(params, environ)
    result = dict(
        changed=not params.get("read_only"),
        cmd=argv,
        rc=completed.returncode,
        stdout=masked(completed.stdout, secrets),
        stderr=masked(completed.stderr, secrets),
    )
    result.update(stdout_lines=result["stdout"].splitlines(), stderr_lines=result["stderr"].splitlines())
    if completed.returncode != 0:
        raise _command_failed(params["command"], result)
    return result


def manage_argv(params):
    """[python, manage.py, command, args...]: the command string split as a shell would, no shell run."""
    python = _python(params.get("virtualenv"))
    manage_py = os.path.join(params["project_dir"], "manage.py")
    if not os.path.isfile(manage_py):
        raise PapermergeBackupError(
            "%s does not exist: give as project_dir the directory that holds the instance's manage.py" % manage_py)
    try:
        words = shlex.split(params["command"])
    except ValueError as error:
        raise PapermergeBackupError("command %r cannot be split into words (%s): check its quotes"
                                    % (params["command"], error))
    if not words:
        raise PapermergeBackupError("command is empty: name the manage.py command to run, for example migrate")
    return [python, "manage.py"] + words


def _python(virtualenv):
    if not virtualenv:
        return sys.executable
    python = os.path.join(virtualenv, "bin", "python")
    if not os.path.exists(python):
        raise PapermergeBackupError(
            "%s does not exist: give as virtualenv the virtualenv Papermerge runs from (/venv in its Docker images)"
            % python)
    return python


def manage_environment(params, process_environ):
    """The environment manage.py runs with (see the module docstring), the virtualenv's bin first on PATH."""
    environ = dict(process_environ)
    if params.get("config_file"):
        environ[CONFIG_VARIABLE] = params["config_file"]
    for key, value in (params.get("environment") or {}).items():
        environ[str(key)] = "" if value is None else str(value)
    for key, value in (params.get("database") or {}).items():
        if key in DATABASE_KEYS and value not in (None, ""):
            environ["%sDATABASE__%s" % (ENV_PREFIX, key.upper())] = str(value)
    if params.get("media_root"):
        for name in MEDIA_ROOT_VARIABLES:
            environ[name] = params["media_root"]
    if params.get("virtualenv"):
        # Commands that start programs of the virtualenv (OCR, for one) find them, as under the app's services.
        environ["PATH"] = os.pathsep.join([os.path.join(params["virtualenv"], "bin"), environ.get("PATH", "")])
    return environ


def secret_values(params, environ):
    """What must never show in a result: database.password and every secret-named PAPERMERGE__* value."""
    papermerge = dict((key, value) for key, value in environ.items() if key.startswith(ENV_PREFIX))
    secrets = [value for key, value in papermerge.items() if key not in without_secret_variables(papermerge)]
    password = (params.get("database") or {}).get("password")
    return [value for value in secrets + [password] if value]


def masked(text, secrets):
    """text with every secret replaced by MASK, longest first (one secret may hold another)."""
    for secret in sorted(set(secrets), key=len, reverse=True):
        text = text.replace(secret, MASK)
    return text


def _run(argv, project_dir, environ, timeout=None):
    """The finished process (subprocess.CompletedProcess), or None when it ran longer than timeout seconds.

    stdin is empty: a command that asks a question fails instead of waiting forever for an answer.  The command
    runs in a process group of its own, so that a timeout stops it with everything it started (workers, OCR).
    """
    try:
        process = subprocess.Popen(argv, cwd=project_dir, env=environ, stdin=subprocess.DEVNULL,
                                   stdout=subprocess.PIPE, stderr=subprocess.PIPE, encoding="utf-8",
                                   errors="replace", start_new_session=True)
    except OSError as error:
        raise PapermergeBackupError("cannot run %s in %s: %s" % (" ".join(argv[:3]), project_dir, error))
    try:
        stdout, stderr = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.communicate()
        return None
    return subprocess.CompletedProcess(argv, process.returncode, stdout, stderr)


def _command_failed(command, result):
    last = (result["stderr_lines"] or result["stdout_lines"] or ["no output"])[-1]
    return PapermergeBackupError(
        "manage.py %s failed with exit code %d (%s): read its stderr in this result, fix the cause and run again"
        % (command, result["rc"], last), **dict((key, value) for key, value in result.items() if key != "changed"))
