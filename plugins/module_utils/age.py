# -*- coding: utf-8 -*-
# Copyright: papermerge.backup contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
#
# This module_utils is PRIVATE and should only be used by this collection. Breaking changes can occur any time.
"""The age file format, v1 (age-encryption.org/v1, the C2SP age specification), streamed.

Why here and not the `age` binary: the modules run with Papermerge's own Python, on venv hosts and inside the
official image, where nothing may be installed. That Python has the `cryptography` package (papermerge-core 2.1
depends on it, 38.0.4 in 2.1.9's lock file), which has every primitive age uses: X25519, ChaCha20-Poly1305,
HKDF-SHA-256, HMAC, scrypt, RSA-OAEP. Encrypting in the writer's own thread needs no second process, no pipe and
no install, and the output is what `age -d` reads.

What is implemented, as the specification words it (and as age 1.1 does where it leaves a choice):
- recipients: X25519 (`age1...`), ssh-ed25519 and ssh-rsa public keys (authorized_keys lines), and scrypt
  (a passphrase, alone in its header, work factor 2^18 as the age CLI writes);
- identities: X25519 (`AGE-SECRET-KEY-1...` lines of an identity file, `#` comments and blank lines skipped),
  unencrypted OpenSSH ed25519/RSA private keys and PEM RSA keys, and a passphrase;
- the header: version line, stanzas (canonical unpadded base64 bodies wrapped at 64 columns, ending with a
  short line), HMAC-SHA-256 over everything up to `---`; stanzas of other types are ignored, as the
  specification requires of identities, so our own fingerprint stanza never stops `age -d`;
- the payload: a 16-byte nonce, then 64 KiB ChaCha20-Poly1305 chunks with an 11-byte big-endian counter and
  the last-chunk flag; a file that ends before a final chunk, an empty final chunk after others, data after
  the final chunk, a chunk that fails authentication, a wrong MAC, a wrong identity and a scrypt work factor
  above SCRYPT_MAX_LOG_N are refused (AgeError, NoIdentityError).

Everything here runs on Python 3.8 and cryptography 38 as well as the newest. Secrets (keys, passphrases,
identity text) never appear in an error message.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import base64
import binascii
import hashlib
import hmac
import os
import re
import struct

try:
    from cryptography.exceptions import InvalidTag
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ed25519, padding, rsa, x25519
    from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305
    from cryptography.hazmat.primitives.kdf.hkdf import HKDF
    from cryptography.hazmat.primitives.kdf.scrypt import Scrypt
    HAS_CRYPTOGRAPHY = True
except ImportError:  # the modules say what to do when encryption is asked for without it
    HAS_CRYPTOGRAPHY = False

VERSION_LINE = b"age-encryption.org/v1\n"
CHUNK_SIZE = 64 * 1024
TAG_SIZE = 16
SEALED_CHUNK_SIZE = CHUNK_SIZE + TAG_SIZE
FILE_KEY_SIZE = 16
STREAM_NONCE_SIZE = 16
COLUMNS = 64  # base64 characters per full body line
SCRYPT_LOG_N = 18  # what the age CLI writes: about a second and 256 MiB
SCRYPT_MAX_LOG_N = 20  # the most we read: 1 GiB of memory; a hostile header must not take more
MAX_HEADER_SIZE = 256 * 1024  # thousands of stanzas; a header larger than this is not one we could have written
READ_SIZE = 1024 * 1024
ZERO_NONCE = b"\x00" * 12
X25519_LABEL = b"age-encryption.org/v1/X25519"
SCRYPT_LABEL = b"age-encryption.org/v1/scrypt"
ED25519_LABEL = b"age-encryption.org/v1/ssh-ed25519"
RSA_LABEL = b"age-encryption.org/v1/ssh-rsa"
CURVE25519_P = 2 ** 255 - 19
BECH32_CHARSET = "qpzry9x8gf2tvdw0s3jn54khce6mua7l"
_B64_ALPHABET = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/")
_SCRYPT_WORK = re.compile(r"^[1-9][0-9]*$")


class AgeError(Exception):
    """The data is not a valid age file, or it was altered: message says what, never a secret."""


class NoIdentityError(AgeError):
    """None of the identities unwraps the file key (the file was encrypted to other recipients); kinds: the
    stanza types of the header, so the caller can say what would open it."""

    def __init__(self, message, kinds=()):
        super(NoIdentityError, self).__init__(message)
        self.kinds = list(kinds)


def require_cryptography():
    if not HAS_CRYPTOGRAPHY:
        raise AgeError("age encryption needs the Python package cryptography in the interpreter that runs the "
                       "module (Papermerge's virtualenv has it): point ansible_python_interpreter at that "
                       "virtualenv's python")


# --- encodings ---------------------------------------------------------------------------------------------

def b64encode(data):
    """Unpadded standard base64, as age writes it."""
    return base64.b64encode(data).rstrip(b"=")


def b64decode(text, what="base64"):
    """Canonical unpadded base64 only (the specification requires rejecting anything else)."""
    if isinstance(text, str):
        text = text.encode("ascii", "replace")
    if not set(text) <= _B64_ALPHABET or len(text) % 4 == 1:
        raise AgeError("malformed %s" % what)
    try:
        data = base64.b64decode(text + b"=" * (-len(text) % 4), validate=True)
    except (binascii.Error, ValueError):
        raise AgeError("malformed %s" % what)
    if b64encode(data) != text:
        raise AgeError("non-canonical %s" % what)
    return data


def _bech32_polymod(values):
    generators = (0x3B6A57B2, 0x26508E6D, 0x1EA119FA, 0x3D4233DD, 0x2A1462B3)
    check = 1
    for value in values:
        top = check >> 25
        check = (check & 0x1FFFFFF) << 5 ^ value
        for index, generator in enumerate(generators):
            if (top >> index) & 1:
                check ^= generator
    return check


def _bech32_hrp_expand(hrp):
    return [ord(char) >> 5 for char in hrp] + [0] + [ord(char) & 31 for char in hrp]


def _convert_bits(data, source, target, pad):
    accumulator, bits, out = 0, 0, []
    for value in data:
        accumulator = (accumulator << source) | value
        bits += source
        while bits >= target:
            bits -= target
            out.append((accumulator >> bits) & ((1 << target) - 1))
    if pad and bits:
        out.append((accumulator << (target - bits)) & ((1 << target) - 1))
    elif not pad and (bits >= source or (accumulator << (target - bits)) & ((1 << target) - 1)):
        raise AgeError("malformed Bech32 padding")
    return out


def bech32_encode(hrp, data):
    """Bech32 (BIP 173) without its length limit, lower case (callers upper-case secret keys)."""
    hrp = hrp.lower()
    values = _convert_bits(bytearray(data), 8, 5, True)
    polymod = _bech32_polymod(_bech32_hrp_expand(hrp) + values + [0] * 6) ^ 1
    checksum = [(polymod >> 5 * (5 - index)) & 31 for index in range(6)]
    return hrp + "1" + "".join(BECH32_CHARSET[value] for value in values + checksum)


def bech32_decode(text):
    """(hrp in lower case, data bytes); AgeError for anything that is not valid Bech32."""
    if text.lower() != text and text.upper() != text:
        raise AgeError("mixed-case Bech32 string")
    text = text.lower()
    separator = text.rfind("1")
    if separator < 1 or separator + 7 > len(text) or any(ord(char) < 33 or ord(char) > 126 for char in text):
        raise AgeError("malformed Bech32 string")
    hrp, rest = text[:separator], text[separator + 1:]
    if any(char not in BECH32_CHARSET for char in rest):
        raise AgeError("malformed Bech32 string")
    values = [BECH32_CHARSET.index(char) for char in rest]
    if _bech32_polymod(_bech32_hrp_expand(hrp) + values) != 1:
        raise AgeError("Bech32 checksum mismatch")
    return hrp, bytes(bytearray(_convert_bits(values[:-6], 5, 8, False)))


# --- primitives ----------------------------------------------------------------------------------------------

def hkdf(ikm, salt, info):
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=salt or None, info=info).derive(ikm)


def _x25519(secret, public):
    """X25519(secret, public), refusing the all-zero result (a low-order point) as the specification says."""
    try:
        shared = x25519.X25519PrivateKey.from_private_bytes(secret).exchange(
            x25519.X25519PublicKey.from_public_bytes(public))
    except ValueError:  # OpenSSL refuses the all-zero shared secret itself
        raise AgeError("invalid X25519 share (a low-order point)")
    if shared == b"\x00" * 32:
        raise AgeError("invalid X25519 share (a low-order point)")
    return shared


def _x25519_public(secret):
    return x25519.X25519PrivateKey.from_private_bytes(secret).public_key().public_bytes(
        serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def _seal_key(key, file_key):
    return ChaCha20Poly1305(key).encrypt(ZERO_NONCE, file_key, None)


def _open_key(key, body):
    """The file key in a 32-byte stanza body, or None when key does not open it."""
    try:
        return ChaCha20Poly1305(key).decrypt(ZERO_NONCE, body, None)
    except InvalidTag:
        return None


def _ssh_string(data):
    return struct.pack(">I", len(data)) + data


def _ssh_mpint(number):
    data = number.to_bytes((number.bit_length() + 8) // 8, "big") if number else b""
    return _ssh_string(data)


def _ssh_fields(blob):
    fields, offset = [], 0
    while offset < len(blob):
        if offset + 4 > len(blob):
            raise AgeError("malformed SSH public key")
        length = struct.unpack(">I", blob[offset:offset + 4])[0]
        offset += 4
        if offset + length > len(blob):
            raise AgeError("malformed SSH public key")
        fields.append(blob[offset:offset + length])
        offset += length
    return fields


def _ssh_tag(wire):
    return b64encode(hashlib.sha256(wire).digest()[:4]).decode("ascii")


def ed25519_to_x25519(public):
    """The Montgomery u-coordinate of an Ed25519 public key: u = (1 + y) / (1 - y) mod p."""
    y = int.from_bytes(public, "little") & ((1 << 255) - 1)
    if y % CURVE25519_P == 1:
        raise AgeError("invalid Ed25519 public key")
    u = (1 + y) * pow((1 - y) % CURVE25519_P, CURVE25519_P - 2, CURVE25519_P) % CURVE25519_P
    return u.to_bytes(32, "little")


# --- stanzas -------------------------------------------------------------------------------------------------

class Stanza:
    """One header stanza: type, arguments (str), body (bytes)."""

    def __init__(self, kind, args, body):
        self.kind = kind
        self.args = list(args)
        self.body = body

    def encode(self):
        out = [b"-> " + " ".join([self.kind] + self.args).encode("ascii") + b"\n"]
        text = b64encode(self.body)
        for start in range(0, len(text), COLUMNS):
            out.append(text[start:start + COLUMNS] + b"\n")
        if len(text) % COLUMNS == 0:
            out.append(b"\n")  # the body always ends with a short line, which may be empty
        return b"".join(out)


class X25519Recipient:
    kind = "X25519"

    def __init__(self, public):
        self.public = public

    def wrap(self, file_key):
        ephemeral = os.urandom(32)
        share = _x25519_public(ephemeral)
        key = hkdf(_x25519(ephemeral, self.public), share + self.public, X25519_LABEL)
        return Stanza("X25519", [b64encode(share).decode("ascii")], _seal_key(key, file_key))


class SshEd25519Recipient:
    kind = "ssh-ed25519"

    def __init__(self, wire, public):
        self.wire = wire
        self.montgomery = ed25519_to_x25519(public)

    def wrap(self, file_key):
        ephemeral = os.urandom(32)
        share = _x25519_public(ephemeral)
        shared = _tweaked(_x25519(ephemeral, self.montgomery), self.wire)
        key = hkdf(shared, share + self.montgomery, ED25519_LABEL)
        return Stanza("ssh-ed25519", [_ssh_tag(self.wire), b64encode(share).decode("ascii")],
                      _seal_key(key, file_key))


def _tweaked(shared, wire):
    tweak = hkdf(b"", wire, ED25519_LABEL)
    return _x25519(tweak, shared)


class SshRsaRecipient:
    kind = "ssh-rsa"

    def __init__(self, wire, public_key):
        self.wire = wire
        self.public_key = public_key

    def wrap(self, file_key):
        body = self.public_key.encrypt(file_key, _oaep())
        return Stanza("ssh-rsa", [_ssh_tag(self.wire)], body)


def _oaep():
    return padding.OAEP(mgf=padding.MGF1(algorithm=hashes.SHA256()), algorithm=hashes.SHA256(), label=RSA_LABEL)


class ScryptRecipient:
    kind = "scrypt"

    def __init__(self, passphrase, log_n=None):
        self.passphrase = passphrase.encode("utf-8") if isinstance(passphrase, str) else passphrase
        self.log_n = log_n or SCRYPT_LOG_N

    def wrap(self, file_key):
        salt = os.urandom(16)
        key = _scrypt(self.passphrase, salt, self.log_n)
        return Stanza("scrypt", [b64encode(salt).decode("ascii"), str(self.log_n)], _seal_key(key, file_key))


def _scrypt(passphrase, salt, log_n):
    return Scrypt(salt=SCRYPT_LABEL + salt, length=32, n=2 ** log_n, r=8, p=1).derive(passphrase)


def parse_recipient(text):
    """An age1... X25519 recipient or an ssh-ed25519/ssh-rsa public key line; AgeError names what is wrong
    (recipients are public: quoting one is fine)."""
    require_cryptography()
    text = text.strip()
    if text.startswith("ssh-"):
        return _ssh_recipient(text)
    try:
        hrp, data = bech32_decode(text)
    except AgeError as error:
        raise AgeError("%r is not an age recipient (%s): expected age1..., ssh-ed25519 ... or ssh-rsa ..."
                       % (text, error))
    if hrp != "age" or len(data) != 32:
        raise AgeError("%r is not an X25519 age recipient (age1...): other kinds, such as plugin recipients, are "
                       "not supported" % text)
    return X25519Recipient(data)


def _ssh_recipient(text):
    words = text.split()
    if len(words) < 2:
        raise AgeError("%r is not an SSH public key line (type, base64 key, optional comment)" % text)
    try:
        wire = b64decode_padded(words[1])
        fields = _ssh_fields(wire)
    except AgeError:
        raise AgeError("%r is not a valid SSH public key" % text)
    kind = fields[0].decode("ascii", "replace") if fields else ""
    if kind != words[0]:
        raise AgeError("%r is not a valid SSH public key (its type says %s)" % (text, kind))
    if kind == "ssh-ed25519" and len(fields) == 2 and len(fields[1]) == 32:
        return SshEd25519Recipient(wire, fields[1])
    if kind == "ssh-rsa" and len(fields) == 3:
        numbers = rsa.RSAPublicNumbers(int.from_bytes(fields[1], "big"), int.from_bytes(fields[2], "big"))
        return SshRsaRecipient(wire, numbers.public_key())
    raise AgeError("%r: only ssh-ed25519 and ssh-rsa SSH keys can be age recipients" % text)


def b64decode_padded(text):
    """Standard base64 with padding (SSH public keys)."""
    try:
        return base64.b64decode(text.encode("ascii"), validate=True)
    except (binascii.Error, ValueError, UnicodeEncodeError):
        raise AgeError("malformed base64")


# --- identities ----------------------------------------------------------------------------------------------

class X25519Identity:
    def __init__(self, secret):
        self.secret = secret
        self.public = _x25519_public(secret)

    def unwrap(self, stanza):
        if stanza.kind != "X25519":
            return None
        if len(stanza.args) != 1:
            raise AgeError("malformed X25519 stanza")
        share = _fixed_size(b64decode(stanza.args[0], "X25519 share"), 32, "X25519 share")
        _fixed_size(stanza.body, 32, "X25519 stanza body")
        key = hkdf(_x25519(self.secret, share), share + self.public, X25519_LABEL)
        return _open_key(key, stanza.body)


class SshEd25519Identity:
    def __init__(self, private_key):
        seed = private_key.private_bytes(serialization.Encoding.Raw, serialization.PrivateFormat.Raw,
                                         serialization.NoEncryption())
        public = private_key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
        self.wire = _ssh_string(b"ssh-ed25519") + _ssh_string(public)
        self.secret = hashlib.sha512(seed).digest()[:32]
        self.public = _x25519_public(self.secret)

    def unwrap(self, stanza):
        if stanza.kind != "ssh-ed25519":
            return None
        if len(stanza.args) != 2:
            raise AgeError("malformed ssh-ed25519 stanza")
        share = _fixed_size(b64decode(stanza.args[1], "ssh-ed25519 share"), 32, "ssh-ed25519 share")
        if stanza.args[0] != _ssh_tag(self.wire):
            return None
        _fixed_size(stanza.body, 32, "ssh-ed25519 stanza body")
        shared = _tweaked(_x25519(self.secret, share), self.wire)
        return _open_key(hkdf(shared, share + self.public, ED25519_LABEL), stanza.body)


class SshRsaIdentity:
    def __init__(self, private_key):
        numbers = private_key.public_key().public_numbers()
        self.wire = _ssh_string(b"ssh-rsa") + _ssh_mpint(numbers.e) + _ssh_mpint(numbers.n)
        self.private_key = private_key

    def unwrap(self, stanza):
        if stanza.kind != "ssh-rsa":
            return None
        if len(stanza.args) != 1:
            raise AgeError("malformed ssh-rsa stanza")
        if stanza.args[0] != _ssh_tag(self.wire):
            return None
        try:
            return self.private_key.decrypt(stanza.body, _oaep())
        except ValueError:
            return None


class ScryptIdentity:
    def __init__(self, passphrase, max_log_n=SCRYPT_MAX_LOG_N):
        self.passphrase = passphrase.encode("utf-8") if isinstance(passphrase, str) else passphrase
        self.max_log_n = max_log_n

    def unwrap(self, stanza):
        if stanza.kind != "scrypt":
            return None
        if len(stanza.args) != 2 or not _SCRYPT_WORK.match(stanza.args[1]):
            raise AgeError("malformed scrypt stanza")
        salt = _fixed_size(b64decode(stanza.args[0], "scrypt salt"), 16, "scrypt salt")
        log_n = int(stanza.args[1])
        if log_n > self.max_log_n:
            raise AgeError("the scrypt work factor 2^%d is above the 2^%d this reader allows (it would take %d MiB "
                           "of memory)" % (log_n, self.max_log_n, 2 ** log_n * 1024 // 2 ** 20))
        _fixed_size(stanza.body, 32, "scrypt stanza body")
        return _open_key(_scrypt(self.passphrase, salt, log_n), stanza.body)


def _fixed_size(data, size, what):
    if len(data) != size:
        raise AgeError("malformed %s (%d bytes, expected %d)" % (what, len(data), size))
    return data


def parse_identities(data):
    """Identities from the content of an identity file (bytes): an age identity file (AGE-SECRET-KEY-1...
    lines, '#' comments, blank lines) or one unencrypted SSH private key (ed25519 or RSA).

    AgeError never quotes the content: a malformed line is named by its number only.
    """
    require_cryptography()
    if data.lstrip().startswith(b"-----BEGIN"):
        return [_ssh_identity(data)]
    identities = []
    for number, line in enumerate(data.splitlines(), 1):
        line = line.strip()
        if not line or line.startswith(b"#"):
            continue
        identities.append(_age_identity(line, number))
    if not identities:
        raise AgeError("it holds no identity (expected AGE-SECRET-KEY-1... lines, as age-keygen writes them, or "
                       "an SSH private key)")
    return identities


def _age_identity(line, number):
    try:
        hrp, secret = bech32_decode(line.decode("ascii"))
    except (AgeError, UnicodeDecodeError):
        hrp, secret = None, b""
    if hrp == "age-secret-key-" and len(secret) == 32:
        return X25519Identity(secret)
    if hrp and hrp.startswith("age-plugin-"):
        raise AgeError("line %d is a plugin identity, which this collection cannot use: give an "
                       "AGE-SECRET-KEY-1... identity" % number)
    raise AgeError("line %d is not an age identity (expected AGE-SECRET-KEY-1..., as age-keygen writes it)"
                   % number)


def _ssh_identity(data):
    try:
        if b"OPENSSH PRIVATE KEY" in data:
            key = serialization.load_ssh_private_key(data, password=None)
        else:
            key = serialization.load_pem_private_key(data, password=None)
    except (TypeError, ValueError):
        raise AgeError("its SSH private key cannot be read without a passphrase, or is malformed: give an "
                       "unencrypted copy of the key (or an age identity)")
    except Exception:  # cryptography raises UnsupportedAlgorithm and others for keys it cannot load
        raise AgeError("its SSH private key is of a kind this collection cannot read")
    if isinstance(key, ed25519.Ed25519PrivateKey):
        return SshEd25519Identity(key)
    if isinstance(key, rsa.RSAPrivateKey):
        return SshRsaIdentity(key)
    raise AgeError("its SSH private key is neither ed25519 nor RSA, the SSH kinds age uses")


# --- the payload (STREAM) ------------------------------------------------------------------------------------

def _chunk_nonce(counter, last):
    return counter.to_bytes(11, "big") + (b"\x01" if last else b"\x00")


class PayloadSealer:
    """Plaintext in, 64 KiB ChaCha20-Poly1305 chunks out (age's STREAM); finish() seals the final chunk.

    A full chunk is held back until more data arrives, so the final chunk is never empty unless nothing at all
    was written (as the specification requires). Whole chunks are sealed straight from the caller's data (no
    copy where cryptography takes a memoryview, from version 39 on), and handed back one by one (no join).
    """

    def __init__(self, key):
        require_cryptography()
        self.aead = ChaCha20Poly1305(key)
        self.views = _takes_memoryview(self.aead)
        self.counter = 0
        self.pending = bytearray()
        self.finished = False

    def update(self, data):
        """The ciphertext of the chunks now complete (possibly b'')."""
        return b"".join(self.update_chunks(data))

    def update_chunks(self, data):
        """update(), as a list of sealed chunks."""
        view = memoryview(data)
        sealed = []
        if self.pending:
            need = CHUNK_SIZE - len(self.pending)
            if len(view) <= need:
                self.pending += view
                return sealed
            self.pending += view[:need]
            sealed.append(self._seal(bytes(self.pending), False))
            self.pending = bytearray()
            view = view[need:]
        while len(view) > CHUNK_SIZE:
            chunk = view[:CHUNK_SIZE]
            sealed.append(self._seal(chunk if self.views else bytes(chunk), False))
            view = view[CHUNK_SIZE:]
        self.pending += view
        return sealed

    def finish(self):
        """The final chunk (sealed with the last-chunk flag)."""
        if self.finished:
            raise AgeError("internal error: the payload is already finished")
        self.finished = True
        final, self.pending = bytes(self.pending), bytearray()
        return self._seal(final, True)

    def _seal(self, chunk, last):
        sealed = self.aead.encrypt(_chunk_nonce(self.counter, last), chunk, None)
        self.counter += 1
        return sealed


def _takes_memoryview(aead):
    # cryptography before 39 takes only bytes: there, each chunk is copied once into a bytes object.
    try:
        aead.encrypt(ZERO_NONCE, memoryview(b""), None)
        return True
    except TypeError:
        return False


class PayloadReader:
    """The plaintext of an age payload read from raw (a binary stream positioned after the payload nonce, with
    `buffered` the bytes of it already read), authenticated chunk by chunk.

    read(size) returns at most one chunk's worth, as a raw stream does (b'' only after the final chunk was
    verified); it raises AgeError for a truncated or altered payload or data after its final chunk.
    """

    def __init__(self, raw, key, buffered=b""):
        require_cryptography()
        self.raw = raw
        self.aead = ChaCha20Poly1305(key)
        self.buffered = buffered
        self.lookahead = None
        self.counter = 0
        self.done = False
        self.plain = b""
        self.offset = 0

    def read(self, size=-1):
        if size is None or size < 0:
            return b"".join(iter(lambda: self.read(CHUNK_SIZE), b""))
        if self.offset >= len(self.plain):
            if self.done or size == 0:
                return b""
            self.plain, self.offset = self._next_chunk(), 0
        piece = self.plain[self.offset:self.offset + size] if self.offset or size < len(self.plain) else self.plain
        self.offset += len(piece)
        return piece

    def _read_sealed(self):
        """The next sealed chunk's bytes: SEALED_CHUNK_SIZE of them, fewer only at the end of the file."""
        data = self._raw_read(SEALED_CHUNK_SIZE)
        while data and len(data) < SEALED_CHUNK_SIZE:
            more = self._raw_read(SEALED_CHUNK_SIZE - len(data))
            if not more:
                break
            data += more
        return data

    def _raw_read(self, size):
        if self.buffered:
            data, self.buffered = self.buffered[:size], self.buffered[size:]
            return data
        return self.raw.read(size)

    def _next_chunk(self):
        sealed = self.lookahead if self.lookahead is not None else self._read_sealed()
        # A full chunk is the last one exactly when nothing follows it: read the next one ahead to know.
        self.lookahead = self._read_sealed() if len(sealed) == SEALED_CHUNK_SIZE else b""
        last = not self.lookahead
        if len(sealed) < TAG_SIZE:
            raise AgeError("the encrypted payload is truncated: it ends before its final chunk (chunk %d)"
                           % (self.counter + 1))
        if last and len(sealed) == TAG_SIZE and self.counter > 0:
            raise AgeError("the encrypted payload ends with an empty final chunk, which age never writes")
        try:
            chunk = self.aead.decrypt(_chunk_nonce(self.counter, last), sealed, None)
        except InvalidTag:
            raise AgeError("chunk %d of the encrypted payload fails authentication: the file is truncated, "
                           "altered or damaged" % (self.counter + 1))
        self.counter += 1
        self.done = last
        return chunk


# --- the header ----------------------------------------------------------------------------------------------

class Header:
    """A parsed header: stanzas, mac, the bytes the MAC covers, and the bytes read beyond it (the payload's
    start)."""

    def __init__(self, stanzas, mac, covered, rest):
        self.stanzas = stanzas
        self.mac = mac
        self.covered = covered
        self.rest = rest


def is_age(head):
    """Whether the bytes a file starts with are an age v1 header's."""
    return head.startswith(VERSION_LINE)


def read_header(raw):
    """Parse the header at the start of raw (a binary stream); AgeError when it is not a valid v1 header."""
    data = b""
    while True:
        end = data.find(b"\n---", len(VERSION_LINE) - 1)
        closing = data.find(b"\n", end + 1) if end >= 0 else -1
        if closing >= 0:
            break
        if len(data) > MAX_HEADER_SIZE:
            raise AgeError("the age header is larger than %d bytes" % MAX_HEADER_SIZE)
        more = raw.read(64 * 1024)
        if not more:
            raise AgeError("the file ends inside the age header (truncated, or not an age file)")
        data += more
        if not data.startswith(VERSION_LINE[:len(data)]):
            raise AgeError("it is not an age-encryption.org/v1 file")
    if not data.startswith(VERSION_LINE):
        raise AgeError("it is not an age-encryption.org/v1 file")
    stanzas = _parse_stanzas(data[len(VERSION_LINE):end + 1])
    mac = _parse_closing_line(data[end + 1:closing + 1])
    return Header(stanzas, mac, data[:end + 4], data[closing + 1:])


def _parse_stanzas(text):
    lines = text.split(b"\n")[:-1]  # text ends with a line feed
    stanzas, index = [], 0
    while index < len(lines):
        line = lines[index]
        index += 1
        if not line.startswith(b"-> "):
            raise AgeError("malformed age header: a line that is not a stanza where one was expected")
        args = line[3:].split(b" ")
        if any(not arg or not all(33 <= byte <= 126 for byte in bytearray(arg)) for arg in args):
            raise AgeError("malformed age header: a stanza has an empty or non-printable argument")
        body = []
        while True:
            if index >= len(lines):
                raise AgeError("malformed age header: a stanza body does not end with a short line")
            line = lines[index]
            index += 1
            if len(line) > COLUMNS:
                raise AgeError("malformed age header: a stanza body line is longer than 64 columns")
            body.append(b64decode(line, "stanza body"))
            if len(line) < COLUMNS:
                break
        words = [arg.decode("ascii") for arg in args]
        stanzas.append(Stanza(words[0], words[1:], b"".join(body)))
    if not stanzas:
        raise AgeError("malformed age header: it has no recipient stanza")
    return stanzas


def _parse_closing_line(line):
    if not line.startswith(b"--- ") or not line.endswith(b"\n"):
        raise AgeError("malformed age header: its closing line is not '--- <MAC>'")
    mac = b64decode(line[4:-1], "header MAC")
    return _fixed_size(mac, 32, "header MAC")


def _header_mac(file_key, covered):
    return hmac.new(hkdf(file_key, b"", b"header"), covered, hashlib.sha256).digest()


def unwrap_file_key(header, identities):
    """The file key of header for one of identities; NoIdentityError when none matches.

    An scrypt stanza must be the only one (the specification's rule); the MAC is checked with the key found.
    """
    scrypt = [stanza for stanza in header.stanzas if stanza.kind == "scrypt"]
    if scrypt and len(header.stanzas) != 1:
        raise AgeError("malformed age header: an scrypt stanza must be the only one")
    file_key = None
    for identity in identities:
        for stanza in header.stanzas:
            file_key = identity.unwrap(stanza)
            if file_key is not None:
                break
        if file_key is not None:
            break
    if file_key is None:
        kinds = [stanza.kind for stanza in header.stanzas]
        if scrypt and any(isinstance(identity, ScryptIdentity) for identity in identities):
            raise NoIdentityError("the passphrase is not the one the file was encrypted with", kinds)
        raise NoIdentityError("none of the identities given matches a recipient the file was encrypted to", kinds)
    _fixed_size(file_key, FILE_KEY_SIZE, "file key")
    if not hmac.compare_digest(_header_mac(file_key, header.covered), header.mac):
        raise AgeError("the age header's MAC does not match: the header was altered")
    return file_key


def open_payload(raw, identities):
    """Read the header from raw, unwrap the file key, and return a PayloadReader of the plaintext."""
    header = read_header(raw)
    file_key = unwrap_file_key(header, identities)
    rest = header.rest
    while len(rest) < STREAM_NONCE_SIZE:
        more = raw.read(STREAM_NONCE_SIZE - len(rest))
        if not more:
            raise AgeError("the file ends before the payload nonce (truncated)")
        rest += more
    nonce, rest = rest[:STREAM_NONCE_SIZE], rest[STREAM_NONCE_SIZE:]
    return PayloadReader(raw, hkdf(file_key, nonce, b"payload"), rest)


class Encryptor:
    """Plaintext in, an age file out: update(data) -> bytes (or update_chunks(data) -> [bytes]), finish() ->
    bytes (the final chunk).

    The header goes out with the first bytes. extra_stanzas are added after the recipients' stanzas (identities
    ignore types they do not know; an scrypt recipient must be alone, so none may be added to it).
    """

    def __init__(self, recipients, extra_stanzas=()):
        require_cryptography()
        if not recipients:
            raise AgeError("no recipients")
        if any(isinstance(recipient, ScryptRecipient) for recipient in recipients) and (
                len(recipients) != 1 or extra_stanzas):
            raise AgeError("a passphrase (scrypt) must be the only recipient of a file")
        file_key = os.urandom(FILE_KEY_SIZE)
        stanzas = [recipient.wrap(file_key) for recipient in recipients] + list(extra_stanzas)
        covered = VERSION_LINE + b"".join(stanza.encode() for stanza in stanzas) + b"---"
        nonce = os.urandom(STREAM_NONCE_SIZE)
        self.header = covered + b" " + b64encode(_header_mac(file_key, covered)) + b"\n" + nonce
        self.payload = PayloadSealer(hkdf(file_key, nonce, b"payload"))

    def update(self, data):
        return b"".join(self.update_chunks(data))

    def update_chunks(self, data):
        """update(), as a list of pieces (the header, then sealed chunks)."""
        return self._with_header(self.payload.update_chunks(data))

    def finish(self):
        return b"".join(self._with_header([self.payload.finish()]))

    def _with_header(self, sealed):
        if self.header is not None:
            sealed.insert(0, self.header)
            self.header = None
        return sealed
