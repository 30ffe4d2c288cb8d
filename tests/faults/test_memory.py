"""Out of memory: the run fails with a message that says what to do, never an empty one (issue 10, item 8).

The address space of the module's process is limited, once it has imported everything, to what it uses plus a
little (tests/faults/drive.py --memory-mb): an archive of tens of thousands of members needs more than that to
be read (each member is remembered, to refuse duplicates and to compare it with the manifest), a small one does
not.
"""

import io
import json
import tarfile

import pytest

EXTRA_MB = 16
MEMBERS = 60000


@pytest.fixture(scope='session')
def many_members(workdir):
    path = workdir / 'many-members.tar.gz'
    with tarfile.open(str(path), 'w:gz', compresslevel=1) as tar:
        data = json.dumps({'created': '01.01.2024-00:00:00', 'version': '2.1.5', 'users': []}).encode()
        info = tarfile.TarInfo('backup.json')
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
        for number in range(MEMBERS):
            info = tarfile.TarInfo('sidecars/user_%032x/document_%032x/v1/pages/%06d.txt'
                                   % (0, number // 100, number % 100))
            info.size = 1
            tar.addfile(info, io.BytesIO(b'x'))
    return path


@pytest.mark.parametrize('check', [True, False], ids=['check-mode', 'restore'])
def test_a_restore_out_of_memory_says_so_and_what_to_do(trials, verify, figures, many_members, check):
    target = trials.target()
    small = trials.start('restore', trials.restore_params(target), check=True, memory_mb=EXTRA_MB).result()
    assert not small['failed'], small['msg']  # the limit leaves room for an ordinary restore
    started = trials.start('restore', dict(trials.restore_params(target), src=str(many_members)), check=check,
                           memory_mb=EXTRA_MB)
    result = started.result()
    figures.add('faults')
    assert result['failed'], result
    assert result['msg'].startswith('the restore ran out of memory ('), result['msg']
    assert 'give it more memory' in result['msg'] and 'run it again' in result['msg']
    # The traceback, for -vvv: a MemoryError, or (a restore starts its staging thread early) no memory for a
    # thread's stack.
    assert 'MemoryError' in result['exception'] or "can't start new thread" in result['exception']
    verify(target, [started.tmpdir], allowed=('before',))
