# -*- coding: utf-8 -*-
# Copyright: papermerge.backup contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type


class ModuleDocFragment(object):
    # The options of plugins/module_utils/encryption.py identity_argument_spec(): what opens an encrypted archive.
    DOCUMENTATION = r"""
options:
  age_identity_file:
    description:
      - Path on the host of a file with the identity that opens an encrypted archive (C(.tar.gz.age), made with
        the C(age_recipients) option of M(papermerge.backup.papermerge_backup)), as C(age -d -i) takes it; the
        archive is decrypted on the fly, and nothing of it reaches the disk in plaintext but what a restore puts
        into the instance.
      - An age identity file (C(AGE-SECRET-KEY-1...) lines as C(age-keygen) writes them; blank lines and C(#)
        comments are skipped), or an unencrypted OpenSSH ed25519 or RSA private key whose public key was a
        recipient.
      - An archive that none of its identities opens is refused before anything is written, and the failure says
        so. Unencrypted archives are read as always, whether or not an identity is given.
      - The file's content never appears in results or errors. Keep it readable only by the user running the
        module; the restore role writes it from its variable C(papermerge_restore_age_identity) for the run only.
    type: path
  age_passphrase:
    description:
      - The passphrase of an archive encrypted with the C(age_passphrase) option of
        M(papermerge.backup.papermerge_backup) (age's scrypt recipient, as C(age -p) makes it). Scrypt work factors
        above 2^20 (1 GiB of memory) are refused.
      - Never logged or returned.
    type: str
requirements:
  - For encrypted archives, the Python package C(cryptography) (version 38 or later) in the interpreter that runs the
    module. Papermerge 2.1's virtualenv and its official image have it.
"""
