"""papermerge_wait, the action that waits for a background backup or restore: a line with numbers on every poll,
the job's own result at the end, its status and progress files removed, a job stopped at its time limit told in
the caller's words; and the lines reach AWX's job output (ansible-runner events) as they are printed.

The job here is a shell script that publishes progress as the modules do (a JSON file replaced whole), so the
polls see known numbers at known times, whatever the speed of the machine.
"""

import json
import os
import re

import ansible_runner

from ansible_run import ANSIBLE_BIN, COLLECTIONS_PATH
from playbook_run import local_inventory, run_playbook

# Writes three progress states 3 s apart, as papermerge_restore would while reading an archive, then ends: polls a
# second apart see each of them, even on a busy machine where a poll takes two.
JOB = r'''
for files in 1000 4200 9000; do
  printf '{"action": "restore", "phase": "reading the archive", "files": %d, "files_total": null,
           "bytes": %d, "bytes_total": 356515840}' "$files" "$((files * 39614))" > "$1.tmp"
  mv "$1.tmp" "$1"
  sleep 3
done
echo done
'''


def play(tmp_path, job_seconds=60, script=JOB):
    job = tmp_path / 'job.sh'
    job.write_text(script)
    return [{
        'name': 'Wait for a job that publishes its progress',
        'hosts': 'papermerge',
        'gather_facts': False,
        'tasks': [
            {'name': 'Create the progress file', 'ansible.builtin.tempfile': {'suffix': '.progress'},
             'register': 'progress'},
            {'name': 'Start the job', 'ansible.builtin.command': {'argv': ['sh', str(job), '{{ progress.path }}']},
             'async': job_seconds, 'poll': 0, 'register': 'job'},
            {'name': 'Wait for the job', 'papermerge.backup.papermerge_wait': {
                'jid': '{{ job.ansible_job_id }}', 'timeout': job_seconds, 'poll_interval': 1,
                'progress_file': '{{ progress.path }}', 'files_total': 9000,
                'setting_names': {'timeout': 'papermerge_restore_timeout'}},
             'register': 'waited'},
            {'name': 'Keep what is left of the job', 'ansible.builtin.set_fact': {
                'progress_path': '{{ progress.path }}', 'job_file': '{{ job.results_file }}'}},
        ],
    }]


def inventory():
    return local_inventory(hosts={'docs01': {'ansible_python_interpreter': '/usr/bin/python3'}})


def test_a_line_with_numbers_on_every_poll_and_the_job_result_at_the_end(tmp_path):
    run = run_playbook(play(tmp_path), inventory())
    assert run.ok, run.explain()
    progress = [line for line in run.lines if line.startswith('docs01: restore: ')]
    assert 'docs01: restore: 4,200 of 9,000 files, 159 MB of 340 MB (reading the archive)' in progress, run.lines
    assert len(set(progress)) >= 2, run.lines
    assert not any('RETRYING' in line for line in run.lines)
    [waited] = run.results('Wait for the job', host='docs01')
    assert waited['stdout'] == 'done' and waited['changed'] is True and not waited.get('failed')
    [kept] = run.results('Keep what is left of the job', host='docs01')
    facts = kept['ansible_facts']
    assert not (tmp_path / facts['progress_path']).exists(), 'the progress file was left on the host'
    assert not (tmp_path / facts['job_file']).exists(), "the job's status file was left on the host"


def test_a_job_stopped_at_its_time_limit_is_told_in_the_callers_words(tmp_path):
    run = run_playbook(play(tmp_path, job_seconds=2, script='sleep 30\n'), inventory())
    assert not run.ok
    [waited] = run.results('Wait for the job', host='docs01')
    assert waited['msg'] == 'the job did not finish within 2 s and was stopped: raise papermerge_restore_timeout and ' \
                            'run it again'


def test_awx_shows_the_lines_as_they_come(tmp_path, monkeypatch):
    # AWX runs playbooks through ansible-runner and shows its events; a line Display prints outside a task's
    # result is an event of its own ("verbose"), shown live.
    private_data_dir = tmp_path / 'awx-job'
    (private_data_dir / 'project').mkdir(parents=True)
    (private_data_dir / 'project' / 'wait.yml').write_text(json.dumps(play(tmp_path)))
    (private_data_dir / 'inventory').mkdir()
    (private_data_dir / 'inventory' / 'hosts.json').write_text(json.dumps(inventory()))
    envvars = {
        'ANSIBLE_COLLECTIONS_PATH': str(COLLECTIONS_PATH),
        'ANSIBLE_HOME': str(tmp_path / 'ansible-home'),
        'ANSIBLE_LOCAL_TEMP': str(tmp_path / 'local-tmp'),
        'ANSIBLE_REMOTE_TEMP': str(tmp_path / 'remote-tmp'),
        'ANSIBLE_NOCOLOR': '1',
    }
    monkeypatch.setenv('PATH', '%s:%s' % (ANSIBLE_BIN, os.environ.get('PATH', '/usr/bin:/bin')))
    runner = ansible_runner.run(private_data_dir=str(private_data_dir), playbook='wait.yml', envvars=envvars,
                                quiet=True, timeout=300)
    assert runner.status == 'successful', runner.stdout.read()
    verbose = [event['stdout'] for event in runner.events if event['event'] == 'verbose']
    assert any(re.search(r'docs01: restore: [\d,]+ of 9,000 files, \d+ MB of 340 MB \(reading the archive\)', line)
               for line in verbose), verbose
    finished = [index for index, event in enumerate(runner.events) if event['event'] == 'runner_on_ok'
                and event['event_data'].get('task') == 'Wait for the job']
    first_line = min(index for index, event in enumerate(runner.events)
                     if event['event'] == 'verbose' and 'docs01: restore:' in event['stdout'])
    assert first_line < finished[0], 'the progress lines came only after the task'
