# -*- coding: utf-8 -*-
# Copyright: papermerge.backup contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Encrypted archives (age) on real Papermerge 2.1.5 instances, through Ansible, checked with the standard age
tools (Debian's `age` package).

Round trips on SQLite and PostgreSQL; `age -d` gives back a .tar.gz that Papermerge's own `manage.py restore`
accepts; files the age CLI encrypted (X25519, ssh-ed25519, ssh-rsa, passphrase) read and restore; wrong or
missing identities are refused with nothing written; skip_unchanged works without the host reading its
archive; and no plaintext reaches a disk: every byte of a scratch filesystem the backup, its copies, the
checks and their temporary files used is searched for a username and a document marker, deleted blocks
included, with an unencrypted run on another scratch filesystem as the control that finds both.
"""

import hashlib
import json
import os
import shutil
import subprocess
import tarfile
from contextlib import contextmanager
from pathlib import Path

import pytest

import age_cli
from ansible_run import run_module
from papermerge_host import assert_states_equal, without_keys
from playbook_run import REPO, instance_inventory, run_playbook
from test_papermerge_backup import LOST_BY_PAPERMERGE_RESTORE

BACKUP = 'papermerge.backup.papermerge_backup'
RESTORE = 'papermerge.backup.papermerge_restore'
INFO = 'papermerge.backup.papermerge_archive_info'
PLAYBOOK = REPO / 'playbooks' / 'backup.yml'
MARKER_USER = 'zq-marker-user-7d41c'
MARKER_DOC = b'ZQ-MARKER-DOCUMENT-9b2e61f0'
needs_root = pytest.mark.skipif(os.geteuid() != 0, reason='a scratch filesystem needs root (mount -o loop)')


@pytest.fixture(scope='module')
def keys(tmp_path_factory):
    return age_cli.Keys(tmp_path_factory.mktemp('keys'))


@pytest.fixture(scope='module')
def other_keys(tmp_path_factory):
    return age_cli.Keys(tmp_path_factory.mktemp('other-keys'))


def backup(instance, dest, check=False, tmpdir=None, **options):
    Path(str(dest)).mkdir(exist_ok=True)
    args = dict(project_dir=str(instance.project_dir), dest=str(dest) + '/', label='test')
    args.update(options)
    return run_module(BACKUP, args, python=instance.python, check=check, task_environment=_tmpdir(tmpdir))


def restore(instance, src, check=False, tmpdir=None, **options):
    args = dict(project_dir=str(instance.project_dir), src=str(src))
    args.update(options)
    return run_module(RESTORE, args, python=instance.python, check=check, task_environment=_tmpdir(tmpdir))


def archive_info(instance, path, tmpdir=None, **options):
    args = dict(path=str(path), verify=True)
    args.update(options)
    return run_module(INFO, args, python=instance.python, task_environment=_tmpdir(tmpdir))


def _tmpdir(tmpdir):
    return {'TMPDIR': str(tmpdir)} if tmpdir else None


def sha256_of(path):
    with open(str(path), 'rb') as handle:
        return hashlib.sha256(handle.read()).hexdigest()


def ok(result):
    assert not result['failed'], result.get('msg')
    return result


# --- round trips ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize('engine', ['sqlite', pytest.param('postgresql', marks=pytest.mark.postgresql)])
def test_encrypted_round_trip_restores_an_equal_instance(request, make_instance, tmp_path, keys, engine):
    source = request.getfixturevalue('seeded_%s' % engine)
    recipients = [keys.x25519_recipient, keys.ed25519_recipient]
    first = ok(backup(source, tmp_path / 'out', age_recipients=recipients))
    archive = Path(first['archive'])
    assert archive.name.endswith('.tar.gz.age') and first['changed'] and not first['reused']
    assert archive.read_bytes().startswith(b'age-encryption.org/v1\n')
    assert oct(archive.stat().st_mode & 0o777) == '0o600'
    assert first['sha256'] == sha256_of(archive) == Path(str(archive) + '.sha256').read_text().split()[0]
    assert first['encryption'] == dict(format='age', mode='recipients', recipients=sorted(
        [keys.x25519_recipient, ' '.join(keys.ed25519_recipient.split()[:2])]))

    again = ok(backup(source, tmp_path / 'out', age_recipients=list(reversed(recipients))))
    assert (again['changed'], again['reused'], again['archive']) == (False, True, str(archive))
    fewer = ok(backup(source, tmp_path / 'out', age_recipients=[keys.x25519_recipient]))
    assert fewer['changed'] and fewer['archive'] != str(archive)  # other keys: a new archive

    info = ok(archive_info(source, archive, age_identity_file=str(keys.ed25519)))
    assert info['encrypted'] and info['verified'] and info['checksums_verified']
    assert info['sha256'] == first['sha256'] and info['checksum_file_verified'] is True
    assert info['counts'] == first['counts']

    target = make_instance(engine)
    restored = ok(restore(target, archive, age_identity_file=str(keys.x25519)))
    assert restored['changed'] and restored['verified'] and restored['checksum_file_verified']
    assert_states_equal(target.state(), source.state())


def test_standard_age_decrypts_to_an_archive_papermerge_own_restore_accepts(seeded_sqlite, make_instance,
                                                                            tmp_path, keys):
    result = ok(backup(seeded_sqlite, tmp_path / 'out', age_recipients=[keys.x25519_recipient]))
    plain = tmp_path / 'decrypted.tar.gz'
    age_cli.decrypt(result['archive'], plain, keys.x25519)
    with tarfile.open(str(plain), 'r:gz') as tar:
        assert tar.getnames()[0] == 'backup.json'
    target = make_instance('sqlite')
    target.manage('restore', str(plain))

    source_state, restored_state = seeded_sqlite.state(), target.state()
    for state in (source_state, restored_state):
        state['counts'].pop('groups')
    assert_states_equal(without_keys(source_state, LOST_BY_PAPERMERGE_RESTORE),
                        without_keys(restored_state, LOST_BY_PAPERMERGE_RESTORE))
    assert restored_state['files'] == source_state['files']


@pytest.fixture(scope='module')
def plain_archive(tmp_path_factory, seeded_sqlite):
    """An unencrypted archive of the seeded SQLite instance, and what archive_info says of it."""
    result = ok(backup(seeded_sqlite, tmp_path_factory.mktemp('plain')))
    return Path(result['archive']), result


@pytest.mark.parametrize('kind', ['x25519', 'ssh-ed25519', 'ssh-rsa'])
def test_archives_the_age_cli_encrypted_to_a_key_are_read(seeded_sqlite, plain_archive, tmp_path, keys, kind):
    source, made = plain_archive
    encrypted = tmp_path / (source.name + '.age')
    recipient, identity = {
        'x25519': (keys.x25519_recipient, keys.x25519),
        'ssh-ed25519': (keys.ed25519_recipient, keys.ed25519),
        'ssh-rsa': (keys.rsa_recipient, keys.rsa),
    }[kind]
    age_cli.encrypt(source, encrypted, recipient=recipient)
    info = ok(archive_info(seeded_sqlite, encrypted, age_identity_file=str(identity)))
    assert info['encrypted'] and info['checksums_verified'] and info['counts'] == made['counts']
    assert info['sha256'] == sha256_of(encrypted)


def test_archive_the_age_cli_encrypted_with_a_passphrase_restores(seeded_sqlite, plain_archive, make_instance,
                                                                  tmp_path):
    source, _made = plain_archive
    encrypted = tmp_path / (source.name + '.age')
    status, output = age_cli.with_passphrase(['-p', '-o', encrypted, source], 'a long passphrase, typed twice')
    assert status == 0, output
    assert encrypted.read_bytes().split(b'\n')[1].startswith(b'-> scrypt ')

    target = make_instance('sqlite')
    wrong = restore(target, encrypted, age_passphrase='not it')
    assert wrong['failed'] and 'passphrase given is not the one' in wrong['msg']
    ok(restore(target, encrypted, age_passphrase='a long passphrase, typed twice'))
    assert_states_equal(target.state(), seeded_sqlite.state())


def test_passphrase_archive_the_age_cli_decrypts_and_skip_unchanged_keeps_it(seeded_sqlite, tmp_path):
    passphrase = 'correct horse battery staple'
    first = ok(backup(seeded_sqlite, tmp_path / 'out', age_passphrase=passphrase))
    assert first['encryption'] == dict(format='age', mode='passphrase', recipients=[])
    assert passphrase not in json.dumps(first)
    again = ok(backup(seeded_sqlite, tmp_path / 'out', age_passphrase=passphrase))
    assert again['reused'] and again['archive'] == first['archive']
    changed = ok(backup(seeded_sqlite, tmp_path / 'out', age_passphrase='another passphrase'))
    assert changed['changed'] and changed['archive'] != first['archive']

    plain = tmp_path / 'decrypted.tar.gz'
    status, output = age_cli.with_passphrase(['-d', '-o', plain, first['archive']], passphrase)
    assert status == 0, output
    with tarfile.open(str(plain), 'r:gz') as tar:
        assert tar.getnames()[0] == 'backup.json' and tar.getnames()[-1] == 'papermerge-backup-manifest.json'


# --- refusals ------------------------------------------------------------------------------------------------

def test_wrong_or_missing_identity_is_refused_with_nothing_written(seeded_sqlite, make_instance, tmp_path, keys,
                                                                   other_keys):
    archive = ok(backup(seeded_sqlite, tmp_path / 'out', age_recipients=[keys.x25519_recipient]))['archive']
    target = make_instance('sqlite')
    before = target.state()

    wrong = restore(target, archive, age_identity_file=str(other_keys.x25519))
    assert wrong['failed'] and 'encrypted to other recipients (X25519)' in wrong['msg']
    assert 'Nothing was written' in wrong['msg']
    assert other_keys.secret() not in json.dumps(wrong)
    missing = restore(target, archive)
    assert missing['failed'] and 'is encrypted (age): give the identity' in missing['msg']
    ssh_instead = archive_info(target, archive, age_identity_file=str(other_keys.rsa))
    assert ssh_instead['failed'] and 'encrypted to other recipients' in ssh_instead['msg']
    not_a_key = tmp_path / 'not-a-key.txt'
    not_a_key.write_text('# a comment\nAGE-SECRET-KEY-1NOTAKEY\n')
    broken = restore(target, archive, age_identity_file=str(not_a_key))
    assert broken['failed'] and 'line 2 is not an age identity' in broken['msg']
    assert 'NOTAKEY' not in json.dumps(broken)

    assert target.state() == before
    assert not [name for name in os.listdir(str(target.media_root)) if name.startswith('.papermerge-restore-')]


def test_truncated_or_altered_encrypted_archive_is_refused(seeded_sqlite, make_instance, tmp_path, keys):
    archive = Path(ok(backup(seeded_sqlite, tmp_path / 'out', age_recipients=[keys.x25519_recipient]))['archive'])
    data = archive.read_bytes()
    target = make_instance('sqlite')
    before = target.state()
    truncated = tmp_path / 'truncated.tar.gz.age'
    truncated.write_bytes(data[:-1000])
    altered = tmp_path / 'altered.tar.gz.age'
    altered.write_bytes(data[:len(data) // 2] + bytes([data[len(data) // 2] ^ 1]) + data[len(data) // 2 + 1:])
    for damaged in (truncated, altered):
        refused = restore(target, damaged, age_identity_file=str(keys.x25519))
        assert refused['failed'] and 'truncated or corrupt' in refused['msg'], refused['msg']
        assert 'fails authentication' in refused['msg']
    header_only = tmp_path / 'header-only.tar.gz.age'
    header_only.write_bytes(data[:100])
    refused = restore(target, header_only, age_identity_file=str(keys.x25519))
    assert refused['failed'] and 'not a readable age file (the file ends inside the age header' in refused['msg']
    assert target.state() == before


# --- no plaintext on any disk ----------------------------------------------------------------------------------

@contextmanager
def scratch_disk(path, size_mb=192):
    """An ext4 filesystem in an image file, mounted at path: unlike tmpfs, it keeps the blocks of deleted
    files, and mounted `sync` every write reaches them at once (delayed allocation would let a short-lived
    temporary file vanish from the page cache unwritten), so searching the image after umount finds whatever
    any file there ever held."""
    image = Path(str(path) + '.img')
    with open(str(image), 'wb') as handle:
        handle.truncate(size_mb * 1024 * 1024)
    subprocess.run(['mkfs.ext4', '-q', '-F', '-E', 'lazy_itable_init=0,nodiscard', str(image)], check=True)
    path.mkdir()
    subprocess.run(['mount', '-o', 'loop,sync', str(image), str(path)], check=True)
    try:
        yield image
    finally:
        subprocess.run(['umount', str(path)], check=True)


def markers_in(image):
    """Which markers appear anywhere in image's bytes."""
    data = Path(image).read_bytes()
    return sorted(name for name, marker in (('user', MARKER_USER.encode()), ('document', MARKER_DOC))
                  if marker in data)


@pytest.fixture
def marked_instance(make_instance):
    """A seeded instance with a user named MARKER_USER and a document file holding MARKER_DOC (after random,
    incompressible bytes, so that an unencrypted archive stores it as it is)."""
    instance = make_instance('sqlite', seeded=True)
    instance.add_user(MARKER_USER, superuser=True)
    # A version's own file (the backup archives only files the database references), rewritten.
    version_file = sorted(path for path in Path(str(instance.media_root), 'docs').rglob('*') if path.is_file())[0]
    version_file.write_bytes(os.urandom(96 * 1024) + MARKER_DOC + os.urandom(1024))
    return instance


def _back_up_copy_and_check(instance, disk, keys, encrypted):
    """The backup playbook (archive on the host, a copy on the controller) then archive_info and a check-mode
    restore of the controller's copy, with every directory and temporary directory on disk."""
    for name in ('host', 'fetch', 'tmp', 'ansible-local', 'ansible-remote'):
        (disk / name).mkdir()
    extravars = dict(papermerge_backup_dir=str(disk / 'host'), papermerge_backup_fetch_dir=str(disk / 'fetch'),
                     papermerge_backup_label='scan')
    if encrypted:
        extravars['papermerge_backup_age_recipients'] = keys.x25519_recipient
    env = dict(TMPDIR=str(disk / 'tmp'), ANSIBLE_LOCAL_TEMP=str(disk / 'ansible-local'),
               ANSIBLE_REMOTE_TEMP=str(disk / 'ansible-remote'))
    run = run_playbook(PLAYBOOK, instance_inventory(instance), extravars, env=env)
    assert run.ok, run.explain()
    copies = sorted((disk / 'fetch').iterdir())
    assert [('.tar.gz.age' in path.name, path.name.endswith('.sha256')) for path in copies] == [
        (encrypted, False), (encrypted, True)]  # the archive and its .sha256
    identity = dict(age_identity_file=str(keys.x25519)) if encrypted else {}
    ok(archive_info(instance, copies[0], tmpdir=disk / 'tmp', **identity))
    ok(restore(instance, copies[0], check=True, tmpdir=disk / 'tmp', **identity))


@needs_root
def test_no_plaintext_reaches_any_disk_the_archive_touches(marked_instance, tmp_path, keys):
    with scratch_disk(tmp_path / 'plain') as plain_image:
        _back_up_copy_and_check(marked_instance, tmp_path / 'plain', keys, encrypted=False)
    # The control: unencrypted, both markers are on the disk (the archive, its copy, the spools' blocks).
    assert markers_in(plain_image) == ['document', 'user']

    with scratch_disk(tmp_path / 'sealed') as sealed_image:
        _back_up_copy_and_check(marked_instance, tmp_path / 'sealed', keys, encrypted=True)
    assert markers_in(sealed_image) == []
    for image in (plain_image, sealed_image):
        os.unlink(str(image))
    shutil.rmtree(str(tmp_path / 'plain'), ignore_errors=True)
