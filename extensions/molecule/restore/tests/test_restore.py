"""After playbooks/restore.yml (twice) into a bare host: the upload is private and intact, no
migration is pending, the search index exists, and the instance equals the source through the
state helper (users, folders, documents, versions, pages, tags, every media file)."""

import os
from pathlib import Path

from molecule_instance import host_base_dir, instance_state

testinfra_hosts = ["docs02"]

EPHEMERAL = Path(os.environ["MOLECULE_EPHEMERAL_DIRECTORY"])
ARCHIVE = EPHEMERAL / "archives" / "papermerge-source.tar.gz"


def test_upload_is_private_and_intact(host):
    upload = "%s/upload/%s" % (host_base_dir(host), ARCHIVE.name)
    with host.sudo():
        assert host.file("%s/upload" % host_base_dir(host)).mode == 0o700
        assert host.file(upload).mode == 0o600
        assert host.file(upload).user == "root"
        digest = host.check_output("sha256sum %s" % upload).split()[0]
    assert (ARCHIVE.parent / (ARCHIVE.name + ".sha256")).read_text().split()[0] == digest


def test_no_migration_is_pending(host):
    base = host_base_dir(host)
    with host.sudo():
        plan = host.check_output(
            "cd %s/instance/project && PAPERMERGE__CONFIG=%s/instance/project/papermerge.toml "
            "%s/venv/bin/python manage.py showmigrations --plan" % (base, base, base))
    assert "[X]" in plan
    assert "[ ]" not in plan


def test_search_index_was_rebuilt(host):
    with host.sudo():
        assert host.check_output("ls -A %s/instance/search" % host_base_dir(host)).strip()


def test_instance_equals_the_source(host):
    source = instance_state(EPHEMERAL / "source")
    restored = instance_state(host_base_dir(host))
    assert source["counts"]["documents"] > 0
    assert restored == source
