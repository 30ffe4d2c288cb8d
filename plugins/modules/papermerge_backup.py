#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: papermerge.backup contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: papermerge_backup
short_description: Back up a Papermerge 2.1 instance into one consistent, streamed archive
version_added: 0.1.0
description:
  - Writes a C(.tar.gz) archive of a Papermerge DMS 2.1 instance in the format Papermerge documents for its
    C(manage.py backup), so that Papermerge's own C(manage.py restore) and M(papermerge.backup.papermerge_restore)
    both read it.
  - The archive holds, in this order, C(backup.json) (users with password hashes, flags, dates, preferences and
    group names, tags, folders, documents, versions and pages, read from one consistent read-only database
    snapshot), every regular file of C(<media_root>/docs) and C(<media_root>/sidecars), one folder per user
    (C(<username>/.home/...), C(<username>/.inbox/...)) with a directory per folder and a relative symlink per
    document to its latest version, and last a manifest C(papermerge-backup-manifest.json) (format and collection
    version, Papermerge version, applied migrations, database engine, UTC time, counts, the size and sha256 of
    every file member, the symlinks).
  - C(backup.json) has the shape Papermerge 2.1.5's serializers write and read, and its own C(manage.py restore)
    accepts these archives (tested). Keys its restore ignores carry what M(papermerge.backup.papermerge_restore)
    needs to restore faithfully, ids of folders, versions, pages and tags, tag slugs, page C(norm_*) fields, per
    user C(group_names), C(permission_names) and C(preferences), and top-level C(groups). Users' C(groups) and
    C(user_permissions) stay empty lists, because Papermerge's own restore checks them against the target's ids
    and refuses archives naming groups the target lacks (its own backups of instances with groups fail to restore
    for this reason).
  - Reads the database directly (SQLite through the standard library, PostgreSQL through psycopg2 or
    psycopg 3), without importing Django or Papermerge, and streams files in chunks, so memory stays flat.
  - Compresses on every core, deflating what shrinks (JSON, text sidecars) and only Huffman-coding what is
    compressed already (PDF, JPEG, PNG, ...), as a multi-member gzip stream that C(gzip -t), C(tar tzf), Python's
    C(tarfile) and Papermerge read as one. The first gzip member's header comment carries the content fingerprint
    (RV(fingerprint)), so O(skip_unchanged) reads it without decompressing the archive.
  - The archive is written to a temporary file (mode 0600, as it holds password hashes) in the destination
    directory, fsynced and renamed into place; on any failure nothing is left under the final name.
    A C(<archive>.sha256) checksum file is written next to it.
  - All rows come from one read-only transaction (SQLite, one read transaction; PostgreSQL, C(REPEATABLE READ
    READ ONLY)), held only while C(backup.json) is written. Files are read after it; Papermerge never rewrites a
    document file in place, and a file that changes while it is read fails the run (run it again).
  - Two backups into one directory never interleave, the second waits for the first (O(lock_timeout)).
    Temporary files (C(.papermerge-backup-*.tmp)) that a killed backup left there are removed by the next one,
    with a warning. An archive whose backup was killed after it got its name but before its checksum file is
    complete; the next backup reuses it and writes the missing C(.sha256).
  - A backup never archives a half-restored instance. It holds the instance's lock
    (C(<media_root>/.papermerge-backup-instance.lock), shared by backups, exclusive for a restore) for its whole
    run, so it waits for a running restore (O(lock_timeout)) and a restore waits for it. What an interrupted
    restore left in the media root is finished or undone first, as M(papermerge.backup.papermerge_restore)
    describes, with a warning. A user who may only read the media root opens the lock file read-only; where it
    does not exist and cannot be created, the backup runs without waiting for restores and warns.
  - When nothing changed since the newest archive of the same label, no new archive is written (O(skip_unchanged)).
  - With O(age_recipients) (or O(age_passphrase)) the archive is encrypted in the standard age format
    (age-encryption.org/v1) on its way to the disk, and named C(.tar.gz.age). C(age -d -i <identity>) gives back
    the exact C(.tar.gz) that Papermerge's own C(manage.py restore) and M(papermerge.backup.papermerge_restore)
    read. Nothing of the archive reaches the disk in plaintext, not even the temporary copies of C(backup.json)
    and the manifest (they are sealed with a key that exists only in the module's memory). The checksum file
    covers the encrypted file.
author:
  - papermerge.backup maintainers (@papermerge)
extends_documentation_fragment:
  - papermerge.backup.instance
  - papermerge.backup.setting_names
requirements:
  - For O(age_recipients) and O(age_passphrase), the Python package C(cryptography) (version 38 or later) in the
    interpreter that runs the module. Papermerge 2.1's virtualenv and its official image have it.
options:
  dest:
    description:
      - Where to write the archive.
      - A directory (an existing one, or a path ending in C(/)) means a generated file name in it,
        C(papermerge-<label>-<UTC time YYYYMMDDTHHMMSSZ>-<papermerge version>.tar.gz). When that name is taken
        already (two runs within one second), the next free second is used; an existing archive is never replaced.
      - Any other path is the archive's file name; its directory must exist. An existing file there is replaced
        (atomically, by rename) unless it already holds the instance's current content (O(skip_unchanged)).
        It must end in C(.age) exactly when the archive is encrypted.
      - The directory must exist; it also receives a lock file C(.papermerge-backup.lock) (an C(fcntl) lock), which
        stays there, empty, after the run.
    type: path
    required: true
  label:
    description:
      - The label in generated file names, so that archives of several hosts can share one directory. It is also
        recorded in the archive's manifest, so that a renamed archive still tells which host it comes from.
      - Letters, digits, C(.), C(_) and C(-). Defaults to the host's short name (the backup role gives the inventory
        hostname).
    type: str
  compression:
    description:
      - C(adaptive) deflates JSON and text at O(compression_level) and only Huffman-codes large files of
        already-compressed types (pdf, jpg, png, tiff, ...), which deflate cannot shrink further.
      - C(gzip) deflates everything at O(compression_level), as gzip or pigz would.
      - C(none) stores everything (still a valid C(.tar.gz)).
    type: str
    choices: [adaptive, gzip, none]
    default: adaptive
  compression_level:
    description:
      - zlib level (0-9) for the parts that are deflated. Lower is faster, higher is smaller; 0 stores.
    type: int
    default: 6
  threads:
    description:
      - Number of compression threads. Defaults to the number of cores the module may use.
    type: int
  skip_unchanged:
    description:
      - When the newest archive of this label in O(dest) (or the O(dest) file itself) was made from exactly the
        data the instance holds now (same database content apart from the archive's creation time, same media
        file names, sizes and modification times), write nothing and return that archive with C(changed=false) and
        C(reused=true); the task shows as ok.
      - An encrypted archive is kept only for the same recipients (or passphrase); an unencrypted one only when
        no encryption is asked for, so switching encryption on or off writes a new archive.
    type: bool
    default: true
  strict:
    description:
      - Fail when the database names document files that are missing from the media root.
      - Otherwise such files are listed in RV(missing_files) and the archive is written without them (and without
        their symlinks in the per-user folders).
    type: bool
    default: false
  checksum_file:
    description:
      - Write C(<archive>.sha256) (sha256sum format) next to the archive. M(papermerge.backup.papermerge_prune)
        deletes it together with its archive.
    type: bool
    default: true
  lock_timeout:
    description:
      - Seconds to wait, for each of the two locks, before failing; another backup writing into the same
        directory holds the directory's lock, a restore running on the instance holds the instance's lock.
    type: int
    default: 600
  age_recipients:
    description:
      - Encrypt the archive to these public keys, as C(age -r) / C(age -R) do; any one of the matching identities
        decrypts it. The host needs no secret to back up, so it cannot read its own archives.
      - Each item is an X25519 recipient (C(age1...), from C(age-keygen -y) or printed by C(age-keygen)), or an
        SSH public key line (C(ssh-ed25519 AAAA...) or C(ssh-rsa AAAA...), as in C(authorized_keys)). An item may
        hold several, one per line; blank lines and C(#) comments are skipped.
      - The archive's name ends in C(.tar.gz.age). O(skip_unchanged) still works, through a salted, keyed
        fingerprint in the age header (a stanza that age ignores) that says nothing about the content; a change of
        recipients writes a new archive.
      - Mutually exclusive with O(age_passphrase).
    type: list
    elements: str
  age_passphrase:
    description:
      - Encrypt the archive with this passphrase (age's scrypt recipient, work factor 2^18, as C(age -p)).
        For people without keys; O(age_recipients) is the better choice, as the host then holds no secret.
      - The archive's name ends in C(.tar.gz.age). O(skip_unchanged) decrypts the start of the newest archive to
        compare (about a second and 256 MiB of memory); a changed passphrase writes a new archive.
      - Never logged or returned. Mutually exclusive with O(age_recipients).
    type: str
  progress_file:
    description:
      - A file in which the module publishes how far it is while it runs in the background (C(async)), for
        M(papermerge.backup.papermerge_wait) to show a line on every poll. It is replaced whole (a temporary file in
        its directory, then a rename) at most once a second, holds numbers and the phase only (no names, paths or
        secrets) and is removed when the module ends.
      - Left out, no progress is published.
    type: path
attributes:
  check_mode:
    support: full
    description:
      - Reads the database and the media root and reports RV(counts), whether an archive would be written
        (RV(reused)) and RV(estimated_size); writes nothing, not even the lock file.
  diff_mode:
    support: none
    description: An archive has no useful diff; RV(counts) and RV(reused) say what a run writes.
notes:
  - Run the module with the Python of the virtualenv Papermerge runs from (set C(ansible_python_interpreter)), which has the
    PostgreSQL driver (psycopg2) and the TOML parser (tomlkit) the module needs, and tells the Papermerge version
    (from its installed C(papermerge-core)).
  - The instance's database and media root are only read, but for the lock file and for what an interrupted
    restore left there (see above). A failed run leaves no partial archive behind and does not touch the
    archives already there.
  - Failures name the cause and the fix, among them a missing PostgreSQL driver (install psycopg2, or point
    C(ansible_python_interpreter) at the Papermerge virtualenv), an unreachable database server, a refused
    password, an unmigrated schema (run the migrate role or C(manage.py migrate)), migrations newer than this
    collection knows, and a destination that is not writable or is full.
  - Things archived differently than one may expect (media entries that are not regular files, users or
    folders that cannot have an entry in the per-user folder tree) are reported as warnings. So are files of the
    media root that no document version references (neither a version's file nor below a version's sidecar
    folder), which are left out, as Papermerge cannot reach them and M(papermerge.backup.papermerge_restore)
    refuses such files; and versions whose recorded size differs from their file's, for which the archive records
    the file's size (the restore holds every version file to it).
  - Papermerge's own C(manage.py restore) does not restore groups, permissions, timestamps and ids of
    folders, versions and pages; M(papermerge.backup.papermerge_restore) restores them from the same archive.
seealso:
  - module: papermerge.backup.papermerge_restore
  - module: papermerge.backup.papermerge_archive_info
  - module: papermerge.backup.papermerge_prune
  - name: Backup and restore benchmarks
    description: How fast the backup is, and how much memory it takes, next to C(tar | pigz) and C(manage.py backup).
    link: https://github.com/papermerge/papermerge.backup/blob/main/docs/benchmark.md
"""

EXAMPLES = r"""
- name: Back up the instance into /var/backups/papermerge/ with a generated name
  papermerge.backup.papermerge_backup:
    project_dir: /opt/papermerge
    dest: /var/backups/papermerge/
  register: backup
  vars:
    ansible_python_interpreter: /opt/papermerge/venv/bin/python

- name: Back up an instance configured by environment variables (as in its systemd unit)
  papermerge.backup.papermerge_backup:
    project_dir: /srv/papermerge
    environment:
      PAPERMERGE__DATABASE__TYPE: postgres
      PAPERMERGE__DATABASE__HOST: db.internal
      PAPERMERGE__DATABASE__USER: papermerge
      PAPERMERGE__MAIN__MEDIA_ROOT: /srv/papermerge-media
    database:
      password: "{{ vault_papermerge_db_password }}"
    dest: /var/backups/papermerge/
    label: docs01
    strict: true

- name: Show what a backup would hold, writing nothing
  papermerge.backup.papermerge_backup:
    project_dir: /opt/papermerge
    dest: /var/backups/papermerge/
  check_mode: true
  register: plan

- name: Back up into an encrypted archive that only the holders of these keys can read
  papermerge.backup.papermerge_backup:
    project_dir: /opt/papermerge
    dest: /var/backups/papermerge/
    age_recipients:
      - age1ql3z7hjy54pw3hyww5ayyfg7zqgvc7w3j2elw8zmrj2kg5sfn9aqmcac8p
      - ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIH5nBNqSTeUnQ0pJ0bFNLbqUOgAk7MqQbdHFyN3TVmsT ops@example.com

- name: Fetch the archive to the controller
  ansible.builtin.fetch:
    src: "{{ backup.archive }}"
    dest: backups/
    flat: true
  when: backup is changed
"""

RETURN = r"""
archive:
  description: Path of the archive written, or in check mode the path it would have, or the existing archive
    kept when nothing changed.
  returned: success
  type: str
  sample: /var/backups/papermerge/papermerge-docs01-20261126T020000Z-2.1.5.tar.gz
sha256:
  description: sha256 of the archive file (of the encrypted file, for an encrypted archive).
  returned: success, except in check mode when an archive would be written
  type: str
size:
  description: Size of the archive file in bytes.
  returned: success, except in check mode when an archive would be written
  type: int
estimated_size:
  description: Rough size in bytes the archive would have.
  returned: in check mode, when an archive would be written
  type: int
reused:
  description:
    - V(true) when no archive was written because the newest one already holds the instance's data
      (O(skip_unchanged)); RV(archive) then names that archive, and C(changed) is false, so the task shows as ok.
    - V(false) when an archive was written (or, in check mode, would be).
  returned: success
  type: bool
  sample: false
papermerge_version:
  description: The instance's Papermerge version, as recorded in the archive.
  returned: success
  type: str
  sample: 2.1.5
label:
  description: The label used in generated archive names.
  returned: success
  type: str
counts:
  description: What the archive holds.
  returned: success
  type: dict
  sample: {users: 3, folders: 21, documents: 9, versions: 14, pages: 23, tags: 6, files: 112, bytes: 381234}
missing_files:
  description: Document files the database names but the media root lacks (media-relative paths).
  returned: success
  type: list
  elements: str
fingerprint:
  description: sha256 over the instance's content (database rows, media file names, sizes and times); equal
    fingerprints mean equal content.
  returned: success
  type: str
encryption:
  description:
    - How the archive is encrypted, null when it is not. C(format) is V(age); C(mode) V(recipients) or
      V(passphrase); C(recipients) the public keys (normalised, sorted; SSH keys without their comment).
  returned: success
  type: dict
  sample: {format: age, mode: recipients, recipients: [age1ql3z7hjy54pw3hyww5ayyfg7zqgvc7w3j2elw8zmrj2kg5sfn9aqmcac8p]}
instance:
  description: The instance as resolved (project_dir, media_root, engine, config_file) and where its settings
    came from (config_sources, the configuration file and each environment variable or option that set a value);
    secret values are never shown.
  returned: success
  type: dict
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.papermerge.backup.plugins.module_utils.backup import run_backup
from ansible_collections.papermerge.backup.plugins.module_utils.errors import PapermergeBackupError
from ansible_collections.papermerge.backup.plugins.module_utils.instance import instance_argument_spec
from ansible_collections.papermerge.backup.plugins.module_utils.setting_names import (
    name_settings, setting_names_argument_spec)


def argument_spec():
    spec = instance_argument_spec()
    spec.update(setting_names_argument_spec())
    spec.update(
        dest=dict(type="path", required=True),
        label=dict(type="str"),
        compression=dict(type="str", default="adaptive", choices=["adaptive", "gzip", "none"]),
        compression_level=dict(type="int", default=6),
        threads=dict(type="int"),
        skip_unchanged=dict(type="bool", default=True),
        strict=dict(type="bool", default=False),
        checksum_file=dict(type="bool", default=True),
        lock_timeout=dict(type="int", default=600),
        progress_file=dict(type="path"),
        age_recipients=dict(type="list", elements="str"),
        age_passphrase=dict(type="str", no_log=True),
    )
    return spec


def main():
    module = AnsibleModule(argument_spec=argument_spec(), supports_check_mode=True,
                           mutually_exclusive=[("age_recipients", "age_passphrase")])
    if not 0 <= module.params["compression_level"] <= 9:
        module.fail_json(msg="compression_level must be between 0 and 9, got %d" % module.params["compression_level"])
    if module.params["threads"] is not None and module.params["threads"] < 1:
        module.fail_json(msg="threads must be 1 or more (leave it out to use every core), got %d" % module.params["threads"])
    try:
        result = run_backup(module.params, check_mode=module.check_mode)
    except PapermergeBackupError as error:
        module.fail_json(msg=name_settings(str(error), module.params["setting_names"]), **error.details)
    # Ansible reserves "warnings" in results: they go through module.warn() instead.
    for warning in result.pop("warnings", []):
        module.warn(warning)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
