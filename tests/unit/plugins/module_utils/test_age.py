# -*- coding: utf-8 -*-
"""age v1 (module_utils/age.py) against the specification: the published test vector, the header's and the
payload's rules, and every refusal the specification asks for. Interoperability with the age CLI itself is in
tests/integration/test_encryption.py."""

import base64
import io
import os

import pytest

from ansible_collections.papermerge.backup.plugins.module_utils import age

# From the C2SP age specification (the X25519 recipient type).
SPEC_IDENTITY = 'AGE-SECRET-KEY-1GFPYYSJZGFPYYSJZGFPYYSJZGFPYYSJZGFPYYSJZGFPYYSJZGFPQ4EGAEX'
SPEC_RECIPIENT = 'age1zvkyg2lqzraa2lnjvqej32nkuu0ues2s82hzrye869xeexvn73equnujwj'


def identity():
    return age.parse_identities(SPEC_IDENTITY.encode())


def encrypt(data, recipients=None, pieces=1, extra=()):
    encryptor = age.Encryptor(recipients or [age.parse_recipient(SPEC_RECIPIENT)], extra)
    step = max(1, len(data) // pieces)
    out = [encryptor.update(data[start:start + step]) for start in range(0, len(data), step)]
    return b''.join(out) + encryptor.finish()


def decrypt(blob, identities=None):
    return age.open_payload(io.BytesIO(blob), identities or identity()).read()


def test_spec_identity_gives_the_spec_recipient():
    secret = age.bech32_decode(SPEC_IDENTITY)[1]
    public = age.X25519Identity(secret).public
    assert age.bech32_encode('age', public) == SPEC_RECIPIENT
    assert age.bech32_encode('AGE-SECRET-KEY-', secret).upper() == SPEC_IDENTITY


@pytest.mark.parametrize('size', [0, 1, age.CHUNK_SIZE - 1, age.CHUNK_SIZE, age.CHUNK_SIZE + 1,
                                  2 * age.CHUNK_SIZE, 3 * age.CHUNK_SIZE + 17])
@pytest.mark.parametrize('pieces', [1, 7])
def test_round_trip_at_chunk_boundaries(size, pieces):
    data = os.urandom(size)
    blob = encrypt(data, pieces=pieces)
    assert decrypt(blob) == data
    # Full chunks only, the last one flagged: never an empty final chunk after full ones.
    header_end = blob.index(b'\n---') + 1
    header_end = blob.index(b'\n', header_end) + 1 + age.STREAM_NONCE_SIZE
    chunks = max(1, -(-size // age.CHUNK_SIZE))
    assert len(blob) - header_end == size + chunks * age.TAG_SIZE


def test_reads_return_at_most_a_chunk_and_small_writes_cost_nothing_extra():
    data = os.urandom(200000)
    encryptor = age.Encryptor([age.parse_recipient(SPEC_RECIPIENT)])
    blob = b''.join(encryptor.update(data[index:index + 100]) for index in range(0, len(data), 100))
    blob += encryptor.finish()
    reader = age.open_payload(io.BytesIO(blob), identity())
    pieces = list(iter(lambda: reader.read(1 << 20), b''))
    assert b''.join(pieces) == data and max(len(piece) for piece in pieces) <= age.CHUNK_SIZE


def test_header_is_well_formed_and_ends_with_the_mac():
    blob = encrypt(b'x', extra=[age.Stanza('papermerge.backup/fingerprint', ['c2FsdA'], b'\x01' * 48)])
    lines = blob.split(b'\n')
    assert lines[0] == b'age-encryption.org/v1'
    assert lines[1].startswith(b'-> X25519 ') and len(lines[2]) == 43
    assert lines[3] == b'-> papermerge.backup/fingerprint c2FsdA'
    assert len(lines[4]) == 64 and lines[5] == b''  # 48 bytes: a full line, then the empty short line
    assert lines[6].startswith(b'--- ') and len(lines[6]) == 4 + 43


def _corrupt(blob, offset):
    return blob[:offset] + bytes([blob[offset] ^ 0x01]) + blob[offset + 1:]


def test_altered_truncated_or_extended_payload_is_refused():
    data = os.urandom(3 * age.CHUNK_SIZE)
    blob = encrypt(data)
    with pytest.raises(age.AgeError, match='chunk 2 .*fails authentication'):
        decrypt(_corrupt(blob, len(blob) - age.CHUNK_SIZE - 100))
    with pytest.raises(age.AgeError, match='fails authentication'):
        decrypt(blob[:-1])
    with pytest.raises(age.AgeError, match='fails authentication'):  # a whole final chunk cut off
        decrypt(blob[:-(age.SEALED_CHUNK_SIZE)])
    with pytest.raises(age.AgeError, match='fails authentication'):
        decrypt(blob + b'trailing')


def test_empty_final_chunk_after_full_ones_is_refused():
    key = os.urandom(32)
    sealer = age.PayloadSealer(key)
    body = sealer.update(os.urandom(age.CHUNK_SIZE + 1))
    full = sealer._seal(bytes(age.CHUNK_SIZE), False)
    with pytest.raises(age.AgeError, match='empty final chunk'):
        age.PayloadReader(io.BytesIO(body + full + sealer._seal(b'', True)), key).read()


def test_wrong_identity_and_altered_header_are_refused():
    blob = encrypt(b'secret')
    other = age.parse_identities(age.bech32_encode('AGE-SECRET-KEY-', os.urandom(32)).upper().encode())
    with pytest.raises(age.NoIdentityError) as raised:
        decrypt(blob, other)
    assert raised.value.kinds == ['X25519']
    with pytest.raises(age.AgeError, match="MAC does not match"):
        decrypt(blob.replace(b'age-encryption.org/v1\n', b'age-encryption.org/v1\n-> grease x\n\n', 1))


@pytest.mark.parametrize('header, message', [
    (b'age-encryption.org/v2\n-> X25519 a\n\n--- AA\n', 'not an age-encryption.org/v1 file'),
    (b'age-encryption.org/v1\n--- ' + b'A' * 43 + b'\n', 'no recipient stanza'),
    (b'age-encryption.org/v1\n->  X25519\n\n--- ' + b'A' * 43 + b'\n', 'empty or non-printable'),
    (b'age-encryption.org/v1\n-> X25519 a\nAAA=\n--- ' + b'A' * 43 + b'\n', 'malformed stanza body'),
    (b'age-encryption.org/v1\n-> X25519 a\nAB\n--- ' + b'A' * 43 + b'\n', 'non-canonical stanza body'),
    (b'age-encryption.org/v1\n-> X25519 a\n' + b'A' * 64 + b'\n--- ' + b'A' * 43 + b'\n',
     'does not end with a short line'),
    (b'age-encryption.org/v1\n-> X25519 a\n\n--- AAAA\n', 'malformed header MAC'),
    (b'age-encryption.org/v1\n-> X25519 a\n', 'ends inside the age header'),
])
def test_malformed_headers_are_refused(header, message):
    with pytest.raises(age.AgeError, match=message):
        age.read_header(io.BytesIO(header + b'\x00' * 32))


def _stanza_header(*stanzas):
    return age.Header([age.Stanza(*stanza) for stanza in stanzas], b'\x00' * 32, b'', b'')


def test_x25519_stanza_rules():
    with pytest.raises(age.AgeError, match='malformed X25519 stanza'):
        age.unwrap_file_key(_stanza_header(('X25519', ['a', 'b'], b'x' * 32)), identity())
    with pytest.raises(age.AgeError, match='X25519 share'):
        age.unwrap_file_key(_stanza_header(('X25519', [age.b64encode(b'x' * 31).decode()], b'x' * 32)), identity())
    with pytest.raises(age.AgeError, match='stanza body'):
        age.unwrap_file_key(_stanza_header(('X25519', [age.b64encode(b'x' * 32).decode()], b'x' * 31)), identity())
    low_order = age.b64encode(b'\x00' * 32).decode()
    with pytest.raises(age.AgeError, match='low-order point'):
        age.unwrap_file_key(_stanza_header(('X25519', [low_order], b'x' * 32)), identity())


def test_scrypt_rules():
    blob = encrypt(b'data', recipients=[age.ScryptRecipient('pass phrase', log_n=10)])
    assert decrypt(blob, [age.ScryptIdentity('pass phrase')]) == b'data'
    with pytest.raises(age.NoIdentityError, match='passphrase is not the one'):
        decrypt(blob, [age.ScryptIdentity('another')])
    with pytest.raises(age.AgeError, match=r'work factor 2\^21 is above the 2\^20'):
        decrypt(blob.replace(b' 10\n', b' 21\n', 1), [age.ScryptIdentity('pass phrase')])
    with pytest.raises(age.AgeError, match='malformed scrypt stanza'):
        decrypt(blob.replace(b' 10\n', b' 010\n', 1), [age.ScryptIdentity('pass phrase')])
    mixed = _stanza_header(('scrypt', ['c2FsdHNhbHRzYWx0c2FsdA', '10'], b'x' * 32), ('X25519', ['a'], b''))
    with pytest.raises(age.AgeError, match='scrypt stanza must be the only one'):
        age.unwrap_file_key(mixed, [age.ScryptIdentity('pass phrase')])
    with pytest.raises(age.AgeError, match='must be the only recipient'):
        age.Encryptor([age.ScryptRecipient('x'), age.parse_recipient(SPEC_RECIPIENT)])


def test_unknown_stanzas_are_ignored():
    grease = age.Stanza('papermerge.backup/fingerprint', ['abc'], os.urandom(32))
    assert decrypt(encrypt(b'data', extra=[grease])) == b'data'


def test_ssh_keys_as_recipients_and_identities():
    serialization = pytest.importorskip('cryptography.hazmat.primitives.serialization')
    from cryptography.hazmat.primitives.asymmetric import ed25519, rsa
    for key in (ed25519.Ed25519PrivateKey.generate(), rsa.generate_private_key(65537, 2048)):
        public = key.public_key().public_bytes(serialization.Encoding.OpenSSH,
                                               serialization.PublicFormat.OpenSSH).decode() + ' me@host'
        private = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.OpenSSH,
                                    serialization.NoEncryption())
        blob = encrypt(b'for ssh', recipients=[age.parse_recipient(public)])
        assert decrypt(blob, age.parse_identities(private)) == b'for ssh'
        assert blob.split(b'\n')[1].split(b' ')[1] == public.split()[0].encode()


def test_ed25519_to_x25519_matches_the_private_key_conversion():
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ed25519
    key = ed25519.Ed25519PrivateKey.generate()
    public = key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    assert age.ed25519_to_x25519(public) == age.SshEd25519Identity(key).public


@pytest.mark.parametrize('text, message', [
    ('age1zvkyg2lqzraa2lnjvqej32nkuu0ues2s82hzrye869xeexvn73equnujwJ', 'mixed-case'),
    ('age1zvkyg2lqzraa2lnjvqej32nkuu0ues2s82hzrye869xeexvn73equnujwk', 'checksum'),
    ('age1pq1qqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqq', 'not an'),
    ('ssh-dss AAAAB3NzaC1kc3M=', 'only ssh-ed25519 and ssh-rsa'),
    ('ssh-ed25519 AAAA!!!!', 'not a valid SSH public key'),
    ('ssh-rsa AAAAC3NzaC1lZDI1NTE5AAAAIH5nBNqSTeUnQ0pJ0bFNLbqUOgAk7MqQbdHFyN3TVmsT', 'its type says ssh-ed25519'),
    ('ssh-ed25519', 'not an SSH public key line'),
])
def test_bad_recipients_are_named(text, message):
    with pytest.raises(age.AgeError, match=message):
        age.parse_recipient(text)


def test_identity_file_errors_never_quote_the_content():
    secret = age.bech32_encode('AGE-SECRET-KEY-', os.urandom(32)).upper()
    good = age.parse_identities(('# created: today\n\n%s\n' % secret).encode())
    assert len(good) == 1
    for content in (secret[:-3] + 'QQQ', 'AGE-PLUGIN-YUBIKEY-1QQQQQQ', '-----BEGIN OPENSSH PRIVATE KEY-----\nxx\n'):
        with pytest.raises(age.AgeError) as raised:
            age.parse_identities(('%s\n%s\n' % (secret, content)).encode())
        assert secret not in str(raised.value) and content.split('\n', maxsplit=1)[0][6:] not in str(raised.value)
    with pytest.raises(age.AgeError, match='holds no identity'):
        age.parse_identities(b'# nothing\n')


def test_base64_must_be_canonical_and_unpadded():
    assert age.b64decode(b'AAE') == b'\x00\x01'
    for bad in (b'AAE=', b'AAF', b'A', b'AA\nE'):
        with pytest.raises(age.AgeError):
            age.b64decode(bad)
    assert base64.b64decode(b'AAE=') == b'\x00\x01'
