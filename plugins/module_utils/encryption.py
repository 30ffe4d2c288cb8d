# -*- coding: utf-8 -*-
# Copyright: papermerge.backup contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
#
# This module_utils is PRIVATE and should only be used by this collection. Breaking changes can occur any time.
"""Encrypted archives: the module options, the fingerprint a host compares without reading its own archives,
and every failure in the user's words. The format itself is age.py.

An encrypted archive is the .tar.gz, byte for byte, encrypted with age; its name ends in ENCRYPTED_SUFFIX
(`.tar.gz.age`) and its `.sha256` covers the encrypted file, so copies and checks treat it like any archive.

Backup (BackupEncryption.from_options): `age_recipients` (public keys: the host needs no secret and cannot read
its own archives) or `age_passphrase` (scrypt). skip_unchanged must still tell whether the newest archive holds
the instance's content, which the plaintext fingerprint in the archive's first gzip header says, out of reach
inside the ciphertext. So, with recipients, the header carries one more stanza, FINGERPRINT_STANZA, which every
age implementation ignores (the specification requires identities to ignore stanzas they do not know):

    -> papermerge.backup/fingerprint <16-byte random salt, base64>
    <HMAC-SHA-256(key = salt, FINGERPRINT_CONTEXT || content fingerprint || recipients, sorted)>

It says nothing useful to whoever holds the archive: the content fingerprint is a sha256 over every row and
every media file's name, size and time (not guessable), the salt makes two archives of the same content look
unrelated, and binding the recipients makes a change of keys write a new archive. An scrypt stanza must stand
alone in its header, so with a passphrase the host, which knows it, decrypts the first chunk of the newest
archive and reads the fingerprint there (one scrypt run per backup).

Reading (identities_from_options, open_plaintext): `age_identity_file` (age identities or an SSH private key,
as `age -d -i` takes them) and/or `age_passphrase`. A plain archive reads as before whatever is given.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import hashlib
import hmac
import os
import re

from ansible_collections.papermerge.backup.plugins.module_utils import age
from ansible_collections.papermerge.backup.plugins.module_utils.archive_writer import fingerprint_in_gzip_head
from ansible_collections.papermerge.backup.plugins.module_utils.errors import PapermergeBackupError

ENCRYPTED_SUFFIX = ".age"
FINGERPRINT_STANZA = "papermerge.backup/fingerprint"
FINGERPRINT_CONTEXT = b"papermerge.backup encrypted-archive fingerprint v1\n"
SALT_SIZE = 16
IDENTITY_FILE_MAX = 1024 * 1024
_SEPARATORS = re.compile(r"[\n,]")


def split_recipients(value):
    """Recipients from a list, or from text with one per line or separated by commas (an AWX survey's
    answer); blank entries and '#' comments are skipped, as in age's recipients files."""
    if value is None:
        return []
    items = [value] if isinstance(value, str) else list(value)
    found = []
    for item in items:
        for entry in _SEPARATORS.split(str(item)):
            entry = entry.strip()
            if entry and not entry.startswith("#") and entry not in found:
                found.append(entry)
    return found


def _canonical(text):
    """A recipient as it binds the fingerprint: age1... lower case, an SSH key without its comment."""
    words = text.split()
    return " ".join(words[:2]) if text.startswith("ssh-") else text.lower()


class BackupEncryption:
    """How papermerge_backup encrypts: to recipients (public keys), or with a passphrase."""

    def __init__(self, recipients=None, passphrase=None):
        self.recipient_texts = sorted(set(_canonical(text) for text in recipients or []))
        self.recipients = [_parse_recipient(text) for text in self.recipient_texts]
        self.passphrase = passphrase

    @classmethod
    def from_options(cls, options):
        """None when the options ask for no encryption."""
        recipients = split_recipients(options.get("age_recipients"))
        passphrase = options.get("age_passphrase") or None
        if recipients and passphrase:
            raise PapermergeBackupError("give age_recipients or age_passphrase, not both: age allows a passphrase "
                                        "only as the one recipient of a file")
        if not recipients and not passphrase:
            return None
        return cls(recipients=recipients, passphrase=passphrase)

    def describe(self):
        """What the result says about the encryption (public keys only)."""
        if self.passphrase:
            return dict(format="age", mode="passphrase", recipients=[])
        return dict(format="age", mode="recipients", recipients=self.recipient_texts)

    def encryptor(self, fingerprint):
        """An age.Encryptor for a new archive of content `fingerprint`."""
        try:
            if self.passphrase:
                return age.Encryptor([age.ScryptRecipient(self.passphrase)])
            salt = os.urandom(SALT_SIZE)
            stanza = age.Stanza(FINGERPRINT_STANZA, [age.b64encode(salt).decode("ascii")],
                                self._fingerprint_digest(fingerprint, salt))
            return age.Encryptor(self.recipients, [stanza])
        except age.AgeError as error:
            raise PapermergeBackupError("cannot encrypt the archive: %s" % error)

    def holds(self, path, fingerprint):
        """Whether the encrypted archive at path was made from content `fingerprint`, for these recipients
        (or this passphrase). Anything unreadable or foreign says no: a new archive is written."""
        try:
            with open(path, "rb") as handle:
                if self.passphrase:
                    plaintext = age.open_payload(handle, [age.ScryptIdentity(self.passphrase)])
                    return fingerprint_in_gzip_head(plaintext.read(age.CHUNK_SIZE)) == fingerprint
                header = age.read_header(handle)
        except (IOError, OSError, age.AgeError):
            return False
        for stanza in header.stanzas:
            if stanza.kind == FINGERPRINT_STANZA and len(stanza.args) == 1:
                try:
                    salt = age.b64decode(stanza.args[0])
                except age.AgeError:
                    return False
                return hmac.compare_digest(stanza.body, self._fingerprint_digest(fingerprint, salt))
        return False

    def _fingerprint_digest(self, fingerprint, salt):
        message = FINGERPRINT_CONTEXT + fingerprint.encode("ascii") + b"\n" + "\n".join(
            self.recipient_texts).encode("utf-8")
        return hmac.new(salt, message, hashlib.sha256).digest()


def _parse_recipient(text):
    try:
        return age.parse_recipient(text)
    except age.AgeError as error:
        raise PapermergeBackupError("age_recipients: %s" % error)


def is_encrypted_name(name):
    return name.endswith(ENCRYPTED_SUFFIX)


def identity_argument_spec():
    """The options that open an encrypted archive (documented in doc_fragments/age_identity.py)."""
    return dict(
        age_identity_file=dict(type="path"),
        age_passphrase=dict(type="str", no_log=True),
    )


def identities_from_options(options):
    """The identities papermerge_restore / papermerge_archive_info were given (age_identity_file,
    age_passphrase), or None."""
    identities = []
    if options.get("age_identity_file"):
        identities.extend(load_identity_file(options["age_identity_file"]))
    if options.get("age_passphrase"):
        identities.append(age.ScryptIdentity(options["age_passphrase"]))
    return identities or None


def load_identity_file(path):
    """The identities in the file at path; the error never quotes its content."""
    path = os.path.expanduser(path)
    try:
        age.require_cryptography()
        with open(path, "rb") as handle:
            data = handle.read(IDENTITY_FILE_MAX + 1)
    except (IOError, OSError) as error:
        raise PapermergeBackupError("cannot read the age identity file %s: %s" % (path, error.strerror or error))
    except age.AgeError as error:
        raise PapermergeBackupError(str(error))
    if len(data) > IDENTITY_FILE_MAX:
        raise PapermergeBackupError("the age identity file %s is larger than 1 MiB: it is not an identity file"
                                    % path)
    try:
        return age.parse_identities(data)
    except age.AgeError as error:
        raise PapermergeBackupError("the age identity file %s is unusable: %s" % (path, error))


def open_plaintext(raw, path, identities):
    """The plaintext (.tar.gz) of the encrypted archive at path, read from raw (positioned at its start):
    a reader whose read() authenticates chunk by chunk. Refuses clearly, before any byte of content is read,
    an archive no identity opens."""
    if not identities:
        raise PapermergeBackupError(
            "archive %s is encrypted (age): give the identity that opens it, age_identity_file (the restore "
            "role: papermerge_restore_age_identity), or age_passphrase for an archive encrypted with a "
            "passphrase. Nothing was read or written" % path, archive=path)
    try:
        return age.open_payload(raw, identities)
    except age.NoIdentityError as error:
        raise PapermergeBackupError(_no_match(path, error, identities), archive=path)
    except age.AgeError as error:
        raise PapermergeBackupError("archive %s is not a readable age file (%s): it is damaged or truncated; take "
                                    "another copy. Nothing was written" % (path, error), archive=path)


def _no_match(path, error, identities):
    with_passphrase = any(isinstance(identity, age.ScryptIdentity) for identity in identities)
    if error.kinds == ["scrypt"] and not with_passphrase:
        return ("archive %s is encrypted with a passphrase, not to a key: give age_passphrase (the restore role: "
                "papermerge_restore_age_passphrase). Nothing was written" % path)
    if error.kinds == ["scrypt"]:
        return ("the passphrase given is not the one archive %s was encrypted with. Nothing was written" % path)
    kinds = ", ".join(sorted(set(kind for kind in error.kinds if kind != FINGERPRINT_STANZA)))
    return ("archive %s is encrypted to other recipients (%s): no identity given opens it. Give the identity "
            "(AGE-SECRET-KEY-1... or the SSH private key) whose public key was in the backup's age_recipients "
            "(papermerge_backup_age_recipients) when the archive was made. Nothing was written" % (path, kinds))
