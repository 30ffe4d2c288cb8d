"""After playbooks/backup.yml (twice): the archive at the host, the controller and the sync host,
identical, 0600, each with a correct .sha256 file, and rotation left exactly the 3 newest
archives of docs01 and every archive of another label."""

import hashlib
import os
import tarfile
from pathlib import Path

import pytest

from molecule_instance import host_base_dir

testinfra_hosts = ["docs01", "backup01"]

OLD = [
    "papermerge-docs01-20260915T020000Z-2.1.5.tar.gz",
    "papermerge-docs01-20261001T020000Z-2.1.5.tar.gz",
    "papermerge-docs01-20261020T020000Z-2.1.5.tar.gz",
    "papermerge-docs01-20261101T020000Z-2.1.5.tar.gz",
]
OTHER_LABEL = "papermerge-docs99-20260101T020000Z-2.1.5.tar.gz"


def archive_dir(host):
    return "%s/backups" % host_base_dir(host)


def listing(host, directory):
    with host.sudo():
        names = host.check_output("ls -A %s" % directory).split()
    return sorted(name for name in names if not name.startswith("."))


def newest_archive(names):
    """The archive the run made: the one docs01 archive not among the older ones."""
    made = [n for n in names if n.startswith("papermerge-docs01-") and n.endswith(".tar.gz") and n not in OLD]
    assert len(made) == 1, names
    return made[0]


def expected_listing(new):
    # keep_last 3 for docs01: the new archive and the two newest older ones; docs99 untouched.
    return sorted([new, new + ".sha256", OLD[3], OLD[2], OTHER_LABEL])


def test_rotation_leaves_exactly_the_policy(host):
    names = listing(host, archive_dir(host))
    assert names == expected_listing(newest_archive(names))


def test_archive_is_private_and_matches_its_checksum_file(host):
    directory = archive_dir(host)
    new = newest_archive(listing(host, directory))
    with host.sudo():
        assert host.file(directory).mode == 0o700
        archive = host.file("%s/%s" % (directory, new))
        assert archive.user == "root"
        assert archive.mode == 0o600
        digest = host.check_output("sha256sum %s/%s" % (directory, new)).split()[0]
        assert host.file("%s/%s.sha256" % (directory, new)).content_string == "%s  %s\n" % (digest, new)
        # A real archive of the instance: Papermerge's backup.json is the first member.
        assert host.check_output("tar -tzf %s/%s | head -n 1" % (directory, new)) == "backup.json"


def test_controller_copy_is_identical_and_rotated(host):
    controller = Path(os.environ["MOLECULE_EPHEMERAL_DIRECTORY"]) / "controller-backups"
    names = sorted(p.name for p in controller.iterdir() if not p.name.startswith("."))
    new = newest_archive(names)
    assert names == expected_listing(new)
    copy = controller / new
    assert copy.stat().st_mode & 0o777 == 0o600
    digest = hashlib.sha256(copy.read_bytes()).hexdigest()
    assert (controller / (new + ".sha256")).read_text() == "%s  %s\n" % (digest, new)
    with host.sudo():
        assert host.check_output("sha256sum %s/%s" % (archive_dir(host), new)).split()[0] == digest
    with tarfile.open(copy) as archive:
        assert archive.next().name == "backup.json"


def test_second_run_wrote_no_second_archive(host):
    if host.backend.get_hostname() != "docs01":
        pytest.skip("only the Papermerge host makes archives")
    made = [n for n in listing(host, archive_dir(host)) if n.endswith(".tar.gz") and n not in OLD + [OTHER_LABEL]]
    assert len(made) == 1, made
