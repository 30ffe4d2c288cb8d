# -*- coding: utf-8 -*-
"""papermerge_manage's logic: manage.py gets the instance's settings, the password only in its environment,
and no result holds it."""

import json
import os
import sys
import time

import pytest

from ansible_collections.papermerge.backup.plugins.module_utils.errors import PapermergeBackupError
from ansible_collections.papermerge.backup.plugins.module_utils.manage import (
    MASK, manage_argv, manage_environment, masked, run_manage)

PASSWORD = 'pw-Zq81xR'

# A manage.py that writes its argv and its PAPERMERGE__* variables as JSON (the password reversed too, which the
# masking leaves alone), and prints the password on stderr as a
# careless command might; it fails with exit code 3 when asked to.
MANAGE_PY = '''
import json, os, subprocess, sys, time
if sys.argv[1:2] == ["hang"]:
    helper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(45)"])
    with open(sys.argv[2], "w") as pids:
        pids.write("%d %d" % (os.getpid(), helper.pid))
    time.sleep(600)
if sys.argv[1:] == ["fail"]:
    sys.stderr.write("cannot connect with password %s\\n" % os.environ.get("PAPERMERGE__DATABASE__PASSWORD"))
    sys.exit(3)
password = os.environ.get("PAPERMERGE__DATABASE__PASSWORD", "")
print(json.dumps({"argv": sys.argv, "cwd": os.getcwd(), "stdin": sys.stdin.read(), "password_reversed": password[::-1],
                  "env": dict((k, v) for k, v in os.environ.items() if k.startswith("PAPERMERGE__"))}))
sys.stderr.write("password %s\\n" % os.environ.get("PAPERMERGE__DATABASE__PASSWORD"))
'''


@pytest.fixture
def project(tmp_path):
    project_dir = tmp_path / 'project'
    project_dir.mkdir()
    (project_dir / 'manage.py').write_text(MANAGE_PY, encoding='utf-8')
    return project_dir


def params(project_dir, **overrides):
    values = dict(project_dir=str(project_dir), config_file=None, environment={}, media_root=None,
                  papermerge_version=None, database=None, command='showmigrations --plan', virtualenv=None,
                  read_only=False, timeout=0)
    values.update(overrides)
    return values


def ran(result):
    return json.loads(result['stdout'])


def test_the_password_reaches_manage_py_in_its_environment_only(project):
    result = run_manage(params(project, command='migrate --noinput', database=dict(password=PASSWORD)),
                        process_environ={'PATH': os.environ['PATH']})
    child = ran(result)
    assert child['password_reversed'] == PASSWORD[::-1]
    assert child['argv'][1:] == ['migrate', '--noinput']
    assert PASSWORD not in json.dumps(result['cmd'])
    assert result['stderr'] == 'password %s\n' % MASK
    assert result['rc'] == 0 and result['changed']


def test_manage_py_runs_in_the_project_with_empty_stdin(project):
    child = ran(run_manage(params(project), process_environ={}))
    assert os.path.realpath(child['cwd']) == os.path.realpath(str(project))
    assert child['stdin'] == ''


def test_the_settings_layer_as_the_app_sees_them(tmp_path):
    environ = manage_environment(
        params(tmp_path, config_file='/etc/pm.toml', media_root='/data/media',
               environment={'PAPERMERGE__DATABASE__HOST': 'db', 'PAPERMERGE__DATABASE__USER': 'app'},
               database=dict(type='postgres', user='owner', port=5433, password=None, name='')),
        {'PAPERMERGE__DATABASE__HOST': 'container-db', 'PAPERMERGE__CONFIG': '/old.toml', 'HOME': '/root'})
    assert environ['HOME'] == '/root'
    assert environ['PAPERMERGE__CONFIG'] == '/etc/pm.toml'
    assert environ['PAPERMERGE__DATABASE__HOST'] == 'db'
    assert environ['PAPERMERGE__DATABASE__USER'] == 'owner'
    assert environ['PAPERMERGE__DATABASE__TYPE'] == 'postgres'
    assert environ['PAPERMERGE__DATABASE__PORT'] == '5433'
    assert 'PAPERMERGE__DATABASE__PASSWORD' not in environ and 'PAPERMERGE__DATABASE__NAME' not in environ
    assert environ['PAPERMERGE__MAIN__MEDIA_ROOT'] == environ['PAPERMERGE__MEDIA__DIR'] == '/data/media'


def test_the_virtualenv_runs_manage_py_and_comes_first_on_path(tmp_path):
    venv = tmp_path / 'venv'
    (venv / 'bin').mkdir(parents=True)
    (venv / 'bin' / 'python').symlink_to(sys.executable)
    (tmp_path / 'manage.py').write_text('', encoding='utf-8')
    assert manage_argv(params(tmp_path, virtualenv=str(venv)))[:2] == [str(venv / 'bin' / 'python'), 'manage.py']
    environ = manage_environment(params(tmp_path, virtualenv=str(venv)), {'PATH': '/usr/bin'})
    assert environ['PATH'] == '%s:/usr/bin' % (venv / 'bin')


def test_a_secret_from_the_process_environment_is_masked_too(project):
    result = run_manage(params(project), process_environ={'PAPERMERGE__DATABASE__PASSWORD': PASSWORD})
    assert PASSWORD not in result['stdout'] + result['stderr']
    assert ran(result)['env']['PAPERMERGE__DATABASE__PASSWORD'] == MASK


def test_a_failing_command_fails_with_its_masked_output(project):
    with pytest.raises(PapermergeBackupError) as failure:
        run_manage(params(project, command='fail', database=dict(password=PASSWORD)), process_environ={})
    assert 'manage.py fail failed with exit code 3' in str(failure.value)
    assert PASSWORD not in str(failure.value) + json.dumps(failure.value.details)
    assert failure.value.details['rc'] == 3


def test_check_mode_runs_only_read_only_commands(project):
    would = run_manage(params(project, command='migrate'), check_mode=True, process_environ={})
    assert would['changed'] and 'rc' not in would and 'would run' in would['msg']
    read = run_manage(params(project, read_only=True), check_mode=True, process_environ={})
    assert not read['changed'] and read['rc'] == 0 and ran(read)['argv'][1:] == ['showmigrations', '--plan']


def test_secret_named_variables_are_refused_in_the_environment_option(project):
    with pytest.raises(PapermergeBackupError, match='PAPERMERGE__DATABASE__PASSWORD'):
        run_manage(params(project, environment={'PAPERMERGE__DATABASE__PASSWORD': PASSWORD}), process_environ={})


@pytest.mark.parametrize('command, message', [
    ('', 'command is empty'),
    ('migrate "--noinput', 'cannot be split'),
])
def test_a_bad_command_is_named(project, command, message):
    with pytest.raises(PapermergeBackupError, match=message):
        run_manage(params(project, command=command), process_environ={})


def test_a_missing_manage_py_or_virtualenv_is_named(tmp_path, project):
    with pytest.raises(PapermergeBackupError, match='manage.py does not exist'):
        manage_argv(params(tmp_path / 'nowhere'))
    with pytest.raises(PapermergeBackupError, match='bin/python does not exist'):
        manage_argv(params(project, virtualenv=str(tmp_path / 'no-venv')))


def test_masking_takes_the_longest_secret_first():
    assert masked('abc abcdef', ['abc', 'abcdef']) == '%s %s' % (MASK, MASK)
    assert masked('nothing here', []) == 'nothing here'


def test_a_command_running_past_its_timeout_is_stopped_with_what_it_started(project, tmp_path):
    pid_file = tmp_path / 'pids'
    started = time.monotonic()
    with pytest.raises(PapermergeBackupError) as raised:
        # 8 seconds: time enough for the two Pythons to start and write their pids on a busy machine.
        run_manage(params(project, command='hang %s' % pid_file, timeout=8), process_environ={})
    # A timeout that stopped manage.py alone would wait for the helper, which holds its output open for 45 s.
    assert time.monotonic() - started < 30
    assert 'manage.py hang %s did not finish within 8 seconds (timeout) and was stopped' % pid_file in str(raised.value)
    for pid in [int(word) for word in pid_file.read_text().split()]:
        assert not running_after(pid, 10), 'process %d outlived the timeout' % pid


def running_after(pid, seconds):
    """Whether pid still runs after up to seconds: a killed process closes its files (which ends the module's
    wait) a moment before the kernel marks it exited."""
    deadline = time.monotonic() + seconds
    while running(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    return running(pid)


def running(pid):
    """Whether pid is a live process (a zombie, killed and not yet reaped by init, is not)."""
    try:
        with open('/proc/%d/stat' % pid) as stat:
            return stat.read().rsplit(')', 1)[1].split()[0] != 'Z'
    except IOError:
        return False
