"""SIGKILL of restores and backups at every phase boundary and at random moments, then the next run.

A killed restore leaves the database as it was or, killed after its commit, fully restored; the next restore
or backup finishes or undoes it at once and says so; nothing stays behind (staging directory, spooled
backup.json, journal, temporary files), no byte is lost.  A killed backup leaves nothing under a final name but a
complete archive, and the next backup cleans up and completes what is missing.
"""

import subprocess

import pytest

from fault_runs import (
    BACKUP_PHASES, RESTORE_PHASES, References, Run, complete_archives, leftovers, randomness)

RANDOM_KILLS = 20
COMMITTED_PHASES = ('restore:committed', 'restore:finished')
LEFT_NOTHING_YET = ('restore:locked', 'restore:recovered')  # killed before its staging directory exists


def kill_at(trials, figures, kind, params, phase, check=False):
    run = trials.start(kind, params, stop_at=phase, check=check).wait_stopped()
    assert run.kill()
    figures.add('kills')
    return run


def kill_after(trials, figures, kind, params, delay):
    run = trials.start(kind, params)
    try:
        run.process.wait(timeout=delay)
    except subprocess.TimeoutExpired:
        pass
    if run.kill():
        figures.add('kills')
    return run


def restore_then(trials, verify, target, killed_tmpdirs, then):
    """The run after a killed restore; returns (its result, the reference the instance equals)."""
    if then == 'restore':
        result = trials.run('restore', trials.restore_params(target))
        assert not result['failed'], result['msg']
        return result, verify(target, killed_tmpdirs + [result['_tmpdir']], allowed=('restored',))
    dest = trials.directory('dest')
    result = trials.run('backup', trials.backup_params(target, dest))
    assert not result['failed'], result['msg']
    name = verify(target, killed_tmpdirs + [result['_tmpdir']], dest=dest)
    # The archive holds what the instance holds, never files without their rows (issue 10, item 4).
    files = len(verify.references.snapshots[name]['files'])
    assert result['counts']['files'] == files and result['missing_files'] == [], result['counts']
    assert (result['counts']['documents'] == 0) == (files == 0), result['counts']
    return result, name


@pytest.mark.parametrize('then', ['restore', 'backup'])
@pytest.mark.parametrize('phase', RESTORE_PHASES)
def test_a_restore_killed_at_a_phase_boundary_is_finished_or_undone_by_the_next_run(trials, verify, figures,
                                                                                    phase, then):
    target = trials.target()
    killed = kill_at(trials, figures, 'restore', trials.restore_params(target), phase)
    result, name = restore_then(trials, verify, target, [killed.tmpdir], then)
    if then == 'backup':
        assert name == ('restored' if phase in COMMITTED_PHASES else 'before')
    if phase not in LEFT_NOTHING_YET:
        # What the killed run left is removed at once, and said.
        assert any('interrupted' in warning for warning in result['warnings']), result['warnings']


@pytest.mark.parametrize('number', range(RANDOM_KILLS))
def test_a_restore_killed_at_a_random_moment(request, trials, verify, figures, references, number):
    delay = randomness(request.node.name).uniform(0.05, 0.95 * references.restore_seconds)
    target = trials.target()
    killed = kill_after(trials, figures, 'restore', trials.restore_params(target), delay)
    restore_then(trials, verify, target, [killed.tmpdir], 'restore' if number % 2 else 'backup')


def test_a_killed_check_mode_restore_leaves_no_copy_of_backup_json(trials, verify, figures):
    target = trials.target()
    killed = kill_at(trials, figures, 'restore', trials.restore_params(target), 'restore:staged', check=True)
    assert leftovers(tmpdirs=[killed.tmpdir]) != []  # its private spool, with backup.json
    # The next run that spools there removes the abandoned spool at once.
    again = Run(trials.python, 'restore', trials.restore_params(target), killed.tmpdir, check=True).result()
    assert not again['failed'], again['msg']
    result = trials.run('restore', trials.restore_params(target))
    assert not result['failed'], result['msg']
    verify(target, [killed.tmpdir, result['_tmpdir']], allowed=('restored',))


def backup_then_verify(trials, verify, instance, dest, killed):
    result = trials.run('backup', trials.backup_params(instance, dest))
    assert not result['failed'], result['msg']
    archives = complete_archives(dest)
    assert archives, 'no archive'
    info = trials.run('archive_info', dict(path=str(archives[-1]), verify=True))
    assert not info['failed'] and info['checksums_verified'], info.get('msg')
    assert info['counts']['documents'] == result['counts']['documents']
    verify(instance, [killed.tmpdir, result['_tmpdir'], info['_tmpdir']], dest=dest, allowed=('source',),
           refs=References(source=verify.references.source))
    return result


@pytest.mark.parametrize('phase', BACKUP_PHASES)
def test_a_backup_killed_at_a_phase_boundary_leaves_nothing_under_a_final_name(trials, verify, figures, phase):
    instance = trials.target(template=trials.source)
    dest = trials.directory('dest')
    killed = kill_at(trials, figures, 'backup', trials.backup_params(instance, dest), phase)
    finals = [p.name for p in dest.iterdir() if p.name.startswith('papermerge-')]
    # Only a complete, fsynced archive ever has its final name (its checksum file follows it).
    if phase == 'backup:renamed':
        assert len(finals) == 1 and finals[0].endswith('.tar.gz'), finals
    else:
        assert finals == [], finals
    result = backup_then_verify(trials, verify, instance, dest, killed)
    if phase == 'backup:renamed':
        assert result['reused'] and any('checksum file' in w for w in result['warnings']), result['warnings']
    elif phase in ('backup:snapshot', 'backup:planned', 'backup:written'):
        assert any('interrupted backup' in w for w in result['warnings']), result['warnings']


@pytest.mark.parametrize('number', range(RANDOM_KILLS))
def test_a_backup_killed_at_a_random_moment(request, trials, verify, figures, references, number):
    delay = randomness(request.node.name).uniform(0.05, 0.95 * references.backup_seconds)
    instance = trials.target(template=trials.source)
    dest = trials.directory('dest')
    killed = kill_after(trials, figures, 'backup', trials.backup_params(instance, dest), delay)
    backup_then_verify(trials, verify, instance, dest, killed)
