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


USER_ID = '5a1f0c3e-7d2b-4e8f-9a6c-1b2d3e4f5a6b'
DOCUMENT_ID = '6b2f0c3e-7d2b-4e8f-9a6c-1b2d3e4f5a6b'
STAMP = '2024-01-02T03:04:05.000006+00:00'


def one_document_backup_json():
    """backup.json of one user with one document, whose version's sidecar folder the members fill: every member
    is one backup.json names, so nothing is refused before the memory runs out."""
    folder = {'ctype': 'folder', 'tags': [], 'created_at': STAMP, 'updated_at': STAMP}
    return {'created': '02.01.2024-03:04:05', 'version': '2.1.5', 'users': [{
        'id': USER_ID, 'username': 'many', 'password': 'pbkdf2_sha256$320000$salt$hash=', 'last_login': None,
        'is_superuser': False, 'first_name': '', 'last_name': '', 'email': 'many@example.org', 'is_staff': False,
        'is_active': True, 'date_joined': STAMP, 'created_at': STAMP, 'updated_at': STAMP, 'groups': [],
        'user_permissions': [], 'tags': [],
        'nodes': [
            dict(folder, breadcrumb='.inbox/', title='.inbox'),
            dict(folder, breadcrumb='.home/', title='.home'),
            {'id': DOCUMENT_ID, 'breadcrumb': '.home/many.pdf', 'ctype': 'document', 'title': 'many.pdf',
             'lang': 'eng', 'ocr': True, 'ocr_status': 'succeeded', 'created_at': STAMP, 'updated_at': STAMP,
             'tags': [], 'versions': [{'number': 1, 'file_name': 'many.pdf', 'size': 0, 'page_count': 0,
                                       'short_description': 'Original', 'text': '', 'lang': 'eng', 'pages': [],
                                       'file_path': 'docs/user_%s/document_%s/v1/many.pdf' % (USER_ID,
                                                                                              DOCUMENT_ID)}]},
        ]}]}


@pytest.fixture(scope='session')
def many_members(workdir):
    path = workdir / 'many-members.tar.gz'
    with tarfile.open(str(path), 'w:gz', compresslevel=1) as tar:
        data = json.dumps(one_document_backup_json()).encode()
        info = tarfile.TarInfo('backup.json')
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
        for number in range(MEMBERS):
            info = tarfile.TarInfo('sidecars/user_%s/document_%s/v1/pages/%06d.txt' % (USER_ID, DOCUMENT_ID, number))
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
