"""After backup.yml on docs01 and restore.yml on docs02 (twice), both on PostgreSQL: docs02
equals docs01 through the state helper, the archive is private at the host and the
controller, and docs02's schema is fully migrated."""

import hashlib
import json
import os
from pathlib import Path

import pytest
import yaml

from molecule_instance import host_base_dir, instance_state

testinfra_hosts = ["docs01", "docs02"]

EPHEMERAL = Path(os.environ["MOLECULE_EPHEMERAL_DIRECTORY"])


def base_dir_of(name):
    """Any host's base directory, from the inventory the shared create wrote."""
    inventory = yaml.safe_load((EPHEMERAL / "inventory" / "ssh_test_hosts.yml").read_text())
    return Path(inventory["all"]["hosts"][name]["test_host_base_dir"])


def only_on(host, name):
    if host.backend.get_hostname() != name:
        pytest.skip("a check of %s" % name)


def description(host):
    return json.loads(Path(host_base_dir(host), "instance.json").read_text())


def test_instances_run_on_postgresql(host):
    assert description(host)["engine"] == "postgresql"


def test_archive_is_private_on_host_and_controller(host):
    only_on(host, "docs01")
    directory = "%s/backups" % host_base_dir(host)
    with host.sudo():
        names = [n for n in host.check_output("ls -A %s" % directory).split() if n.endswith(".tar.gz")]
        assert len(names) == 1, names
        archive = "%s/%s" % (directory, names[0])
        assert host.file(archive).mode == 0o600
        digest = host.check_output("sha256sum %s" % archive).split()[0]
    copy = EPHEMERAL / "controller-backups" / names[0]
    assert copy.stat().st_mode & 0o777 == 0o600
    assert hashlib.sha256(copy.read_bytes()).hexdigest() == digest


def test_no_migration_is_pending_on_the_restored_host(host):
    only_on(host, "docs02")
    base = host_base_dir(host)
    with host.sudo():
        plan = host.check_output(
            "cd %s/instance/project && PAPERMERGE__CONFIG=%s/instance/project/papermerge.toml "
            "%s/venv/bin/python manage.py showmigrations --plan" % (base, base, base))
    assert "[X]" in plan
    assert "[ ]" not in plan


def test_restored_instance_equals_the_source(host):
    only_on(host, "docs02")
    source = instance_state(base_dir_of("docs01"))
    assert source["counts"]["documents"] > 0
    assert instance_state(host_base_dir(host)) == source
