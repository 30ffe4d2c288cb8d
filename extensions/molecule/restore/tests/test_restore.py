"""After playbooks/restore.yml (twice) into a bare host: the upload is private and intact, no
migration is pending, the search index exists, and the instance equals the source through the
state helper (users, folders, documents, versions, pages, tags, every media file)."""

import json
import os
import subprocess
from pathlib import Path

testinfra_hosts = ["docs02"]

REPO = Path(os.environ["MOLECULE_PROJECT_DIRECTORY"])
EPHEMERAL = Path(os.environ["MOLECULE_EPHEMERAL_DIRECTORY"])
ARCHIVE = EPHEMERAL / "archives" / "papermerge-source.tar.gz"


def state_of(base):
    output = subprocess.run(
        [str(REPO / ".venv/bin/python"), str(REPO / "tests/support/molecule_instance.py"), "state", str(base)],
        check=True, stdout=subprocess.PIPE, text=True).stdout
    return json.loads(output)


def base_dir(host):
    return host.ansible.get_variables()["test_host_base_dir"]


def test_upload_is_private_and_intact(host):
    upload = "%s/upload/%s" % (base_dir(host), ARCHIVE.name)
    with host.sudo():
        assert host.file("%s/upload" % base_dir(host)).mode == 0o700
        assert host.file(upload).mode == 0o600
        assert host.file(upload).user == "root"
        digest = host.check_output("sha256sum %s" % upload).split()[0]
    assert (ARCHIVE.parent / (ARCHIVE.name + ".sha256")).read_text().split()[0] == digest


def test_no_migration_is_pending(host):
    base = base_dir(host)
    with host.sudo():
        plan = host.check_output(
            "cd %s/instance/project && PAPERMERGE__CONFIG=%s/instance/project/papermerge.toml "
            "%s/venv/bin/python manage.py showmigrations --plan" % (base, base, base))
    assert "[X]" in plan
    assert "[ ]" not in plan


def test_search_index_was_rebuilt(host):
    with host.sudo():
        assert host.check_output("ls -A %s/instance/search" % base_dir(host)).strip()


def test_instance_equals_the_source(host):
    source = state_of(EPHEMERAL / "source")
    restored = state_of(base_dir(host))
    assert source["counts"]["documents"] > 0
    assert restored == source
