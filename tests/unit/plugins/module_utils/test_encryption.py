# -*- coding: utf-8 -*-
"""Encrypted archives' glue (module_utils/encryption.py, spool.py, the destination): recipients from survey
text, the fingerprint stanza that says nothing but lets skip_unchanged work, sealed spools, names."""

import hashlib
import io
import os
from datetime import datetime, timezone

import pytest

from ansible_collections.papermerge.backup.plugins.module_utils import age, backup, destination, encryption
from ansible_collections.papermerge.backup.plugins.module_utils.archive_writer import (
    FINGERPRINT_PREFIX, gzip_member)
from ansible_collections.papermerge.backup.plugins.module_utils.errors import PapermergeBackupError
from ansible_collections.papermerge.backup.plugins.module_utils.naming import archive_name, parse_archive_name
from ansible_collections.papermerge.backup.plugins.module_utils.spool import Spool, open_text

NOW = datetime(2026, 11, 26, 2, 0, 0, tzinfo=timezone.utc)
FINGERPRINT = 'ab' * 32


def new_identity():
    secret = os.urandom(32)
    return age.X25519Identity(secret), age.bech32_encode('age', age.X25519Identity(secret).public)


def test_recipients_from_a_list_or_survey_text():
    assert encryption.split_recipients(None) == []
    assert encryption.split_recipients('age1a, age1b\n\n# a comment\nage1c\r\n') == ['age1a', 'age1b', 'age1c']
    assert encryption.split_recipients(['age1a', 'age1b\nage1a']) == ['age1a', 'age1b']


def test_recipients_and_passphrase_together_are_refused():
    with pytest.raises(PapermergeBackupError, match='not both'):
        encryption.BackupEncryption.from_options(dict(age_recipients=['age1x'], age_passphrase='p'))
    assert encryption.BackupEncryption.from_options(dict(age_recipients=[], age_passphrase='')) is None
    with pytest.raises(PapermergeBackupError, match='age_recipients: .*not an age recipient'):
        encryption.BackupEncryption.from_options(dict(age_recipients=['not-a-key']))


def _archive(encryption_, fingerprint, path):
    """What the backup writes: a gzip member whose comment holds the fingerprint, encrypted."""
    encryptor = encryption_.encryptor(fingerprint)
    plain = gzip_member(b'tar bytes', 6, 0, comment=FINGERPRINT_PREFIX + fingerprint)
    path.write_bytes(encryptor.update(plain) + encryptor.finish())
    return path


def test_fingerprint_stanza_matches_only_the_same_content_and_recipients(tmp_path):
    identity, recipient = new_identity()
    _other, another = new_identity()
    ours = encryption.BackupEncryption(recipients=[recipient])
    archive = _archive(ours, FINGERPRINT, tmp_path / 'a.tar.gz.age')
    assert ours.holds(str(archive), FINGERPRINT)
    assert not ours.holds(str(archive), 'cd' * 32)
    assert not encryption.BackupEncryption(recipients=[recipient, another]).holds(str(archive), FINGERPRINT)
    assert FINGERPRINT.encode() not in archive.read_bytes()
    # Salted: two archives of the same content share nothing visible.
    second = _archive(ours, FINGERPRINT, tmp_path / 'b.tar.gz.age')
    stanzas = [age.read_header(open(str(path), 'rb')).stanzas[-1] for path in (archive, second)]
    assert stanzas[0].kind == stanzas[1].kind == encryption.FINGERPRINT_STANZA
    assert stanzas[0].body != stanzas[1].body and stanzas[0].args != stanzas[1].args
    # And age itself still opens the archive, the stanza ignored.
    with open(str(archive), 'rb') as handle:
        assert age.open_payload(handle, [identity]).read().startswith(b'\x1f\x8b')


def test_passphrase_archive_is_compared_by_decrypting_its_start(tmp_path, monkeypatch):
    monkeypatch.setattr(age, 'SCRYPT_LOG_N', 10)  # 2^18 takes a second and 256 MiB each time
    ours = encryption.BackupEncryption(passphrase='a passphrase')
    archive = _archive(ours, FINGERPRINT, tmp_path / 'p.tar.gz.age')
    assert ours.holds(str(archive), FINGERPRINT)
    assert not ours.holds(str(archive), 'cd' * 32)
    assert not encryption.BackupEncryption(passphrase='another').holds(str(archive), FINGERPRINT)
    assert not ours.holds(str(tmp_path / 'missing.tar.gz.age'), FINGERPRINT)


def test_destination_names_and_reuse_follow_the_encryption(tmp_path):
    _identity, recipient = new_identity()
    ours = encryption.BackupEncryption(recipients=[recipient])
    target = destination.Destination(str(tmp_path) + '/', 'docs01', '2.1.5', NOW, ours)
    assert target.path().endswith('papermerge-docs01-20261126T020000Z-2.1.5.tar.gz.age')
    assert parse_archive_name(os.path.basename(target.path())).label == 'docs01'
    _archive(ours, FINGERPRINT, tmp_path / archive_name('docs01', NOW, '2.1.5', encrypted=True))
    assert destination.Destination(str(tmp_path), 'docs01', '2.1.5', NOW, ours).previous_archive(FINGERPRINT)
    # Without encryption, the encrypted newest archive is never reused (nor the reverse).
    assert destination.Destination(str(tmp_path), 'docs01', '2.1.5', NOW).previous_archive(FINGERPRINT) is None
    with pytest.raises(PapermergeBackupError, match='must end in .tar.gz.age'):
        destination.Destination(str(tmp_path / 'x.tar.gz'), 'docs01', '2.1.5', NOW, ours)
    with pytest.raises(PapermergeBackupError, match='must not look encrypted'):
        destination.Destination(str(tmp_path / 'x.tar.gz.age'), 'docs01', '2.1.5', NOW)


@pytest.mark.parametrize('sealed', [False, True])
def test_spools_read_back_what_was_written_and_sealed_ones_hold_no_plaintext(tmp_path, sealed):
    text = '{"users": [{"username": "marker-\u00e9"}]}\n' * 5000
    spool = Spool.temporary(str(tmp_path), 'json', sealed)
    for index in range(0, len(text), 333):
        spool.write(text[index:index + 333].encode('utf-8'))
    spool.finish()
    raw = open(spool.path, 'rb').read()
    assert (b'marker-' in raw) is not sealed
    assert spool.size == len(text.encode('utf-8'))
    with spool.open_binary() as handle:
        assert handle.read() == text.encode('utf-8')
    with open_text(spool) as handle:  # any number of times
        assert handle.read() == text
    assert oct(os.stat(spool.path).st_mode & 0o777) == '0o600'
    spool.remove()
    assert not os.path.exists(spool.path)


def test_a_changed_sealed_spool_is_refused(tmp_path):
    spool = Spool.at(str(tmp_path / 'spool'), sealed=True)
    spool.write(b'x' * 100000)
    spool.finish()
    data = bytearray(open(spool.path, 'rb').read())
    data[500] ^= 1
    open(spool.path, 'wb').write(bytes(data))
    with pytest.raises(PapermergeBackupError, match='was changed by something else'):
        spool.open_binary().read()


def test_hashing_writer_encrypts_and_hashes_the_encrypted_bytes():
    identity, recipient = new_identity()
    out = io.BytesIO()
    writer = backup.HashingWriter(out, encryption.BackupEncryption(recipients=[recipient]).encryptor(FINGERPRINT))
    chunks = [os.urandom(n) for n in (0, 1, 70000, 5, 1024 * 1024)] * 3
    for chunk in chunks:
        writer.write(chunk)
    writer.finish()
    assert writer.digest.hexdigest() == hashlib.sha256(out.getvalue()).hexdigest()
    assert writer.size == len(out.getvalue())
    assert age.open_payload(io.BytesIO(out.getvalue()), [identity]).read() == b''.join(chunks)


def test_identity_file_problems_are_told_without_its_content(tmp_path):
    with pytest.raises(PapermergeBackupError, match='cannot read the age identity file'):
        encryption.load_identity_file(str(tmp_path / 'missing'))
    bad = tmp_path / 'bad'
    bad.write_text('AGE-SECRET-KEY-1SOMETHINGSECRET\n')
    with pytest.raises(PapermergeBackupError) as raised:
        encryption.load_identity_file(str(bad))
    assert 'SOMETHINGSECRET' not in str(raised.value) and 'line 1 is not an age identity' in str(raised.value)


def test_hashing_writer_on_a_file_writes_the_chunks_together_and_in_order(tmp_path):
    identity, recipient = new_identity()
    path = tmp_path / 'archive.tar.gz.age'
    chunks = [os.urandom(n) for n in (3, 1024 * 1024, 65536, 100000, 7)] * 4
    with open(str(path), 'wb', 65536) as stream:
        writer = backup.HashingWriter(stream, encryption.BackupEncryption(recipients=[recipient]).encryptor(FINGERPRINT))
        for chunk in chunks:
            writer.write(chunk)
        writer.finish()
    data = path.read_bytes()
    assert writer.size == len(data) and writer.digest.hexdigest() == hashlib.sha256(data).hexdigest()
    assert age.open_payload(io.BytesIO(data), [identity]).read() == b''.join(chunks)
