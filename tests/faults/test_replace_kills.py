"""Replace mode (papermerge_restore mode=replace) killed at every phase boundary and at random moments.

The instance is the suite's source after a day of use (tests/support/django_scripts/drift.py: renamed, moved and
new documents, a new user, folder and tag, a changed email and media file, a stray file); the archive is the
source's from before.  After a SIGKILL of the replace and the run after it, the instance must be exactly the
drifted one (every row of every table, every media file) or exactly what a clean replace makes of it (checked
against the source through Papermerge's ORM), nothing in between, no byte lost, nothing left behind: the files a
killed replace moved aside are back in place.
"""

import time

import pytest

from fault_runs import RESTORE_PHASES, References, randomness, run, snapshot
from papermerge_host import assert_states_equal, clone_instance
from test_kills import COMMITTED_PHASES, LEFT_NOTHING_YET, kill_after, kill_at

RANDOM_KILLS = 6


@pytest.fixture(scope='session')
def drifted(workdir, source):
    """The source after a day of use: a template that trials copy (the drift makes new ids: done once)."""
    return clone_instance(source, workdir / 'drifted').drift()


@pytest.fixture(scope='session')
def replace_refs(workdir, python, drifted, source, archive):
    """'drifted' and 'replaced' (a clean replace of a copy of the drifted instance), and how long it took."""
    target = clone_instance(drifted, workdir / 'replaced-reference')
    started = time.monotonic()
    result = run(python, 'restore', dict(project_dir=str(target.project_dir), src=str(archive), mode='replace'),
                 workdir)
    assert not result['failed'] and result['changed'], result
    assert result['removed'] and result['reverted'], result
    refs = References(drifted=snapshot(drifted), replaced=snapshot(target))
    refs.seconds = time.monotonic() - started
    assert_states_equal(target.state(), source.state())  # exactly the archive, by Papermerge's ORM
    return refs


def replace_params(trials, instance):
    return trials.restore_params(instance, mode='replace')


def settle_and_check(trials, verify, target, killed, phase, refs):
    """A backup settles what the killed replace left; then a replace finishes the roll-back."""
    dest = trials.directory('dest')
    backup = trials.run('backup', trials.backup_params(target, dest))
    assert not backup['failed'], backup['msg']
    name = verify(target, [killed.tmpdir, backup['_tmpdir']], dest=dest, allowed=('drifted', 'replaced'), refs=refs)
    if phase is not None:
        assert name == ('replaced' if phase in COMMITTED_PHASES else 'drifted'), name
    if phase is not None and phase not in LEFT_NOTHING_YET:
        assert any('interrupted' in warning for warning in backup['warnings']), backup['warnings']
    again = trials.run('restore', replace_params(trials, target))
    assert not again['failed'], again['msg']
    assert again['changed'] is (name == 'drifted'), again
    verify(target, [again['_tmpdir']], allowed=('replaced',), refs=refs)


@pytest.mark.parametrize('phase', RESTORE_PHASES)
def test_a_replace_killed_at_a_phase_boundary_leaves_the_instance_as_it_was_or_replaced(
        trials, verify, figures, drifted, replace_refs, phase):
    target = trials.target(template=drifted)
    killed = kill_at(trials, figures, 'restore', replace_params(trials, target), phase)
    settle_and_check(trials, verify, target, killed, phase, replace_refs)


@pytest.mark.parametrize('number', range(RANDOM_KILLS))
def test_a_replace_killed_at_a_random_moment(request, trials, verify, figures, drifted, replace_refs, number):
    delay = randomness(request.node.name).uniform(0.05, 0.95 * replace_refs.seconds)
    target = trials.target(template=drifted)
    killed = kill_after(trials, figures, 'restore', replace_params(trials, target), delay)
    settle_and_check(trials, verify, target, killed, None, replace_refs)
