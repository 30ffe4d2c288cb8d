"""After playbooks/restore.yml (twice) and playbooks/backup.yml against the backend container of a
fresh compose deployment: the instance equals the 2.1.5 source, init's admin replaced by the archive's,
through the state helper run in the container (every media file's sha256 included); the worker runs;
the backup's archive reached the controller intact and no archive is left in the container."""

import hashlib
import os
import subprocess
from pathlib import Path

from molecule_docker import container_state, deployment
from molecule_instance import instance_state

testinfra_hosts = ["docs01"]

EPHEMERAL = Path(os.environ["MOLECULE_EPHEMERAL_DIRECTORY"])
FETCHED = EPHEMERAL / "controller-backups"


def backend_container():
    """The name of docs01's container (its ansible_host), as create.yml recorded the deployment."""
    return deployment(EPHEMERAL / "deployment")["backend"]


def test_instance_equals_the_source(host):
    source = instance_state(EPHEMERAL / "source")
    restored = container_state(backend_container())
    assert source["counts"]["documents"] > 0
    assert restored == source  # the users' ids and password hashes too: init's admin is gone


def test_the_worker_runs_again(host):
    worker = deployment(EPHEMERAL / "deployment")["worker"]
    running = subprocess.run(["docker", "inspect", "--format", "{{.State.Running}}", worker],
                             stdout=subprocess.PIPE, text=True, check=True).stdout.strip()
    assert running == "true"


def test_the_archive_left_the_container_for_the_controller(host):
    archives = sorted(FETCHED.glob("papermerge-*-2.1.9.tar.gz"))
    assert len(archives) == 1, sorted(FETCHED.iterdir())
    digest = hashlib.sha256(archives[0].read_bytes()).hexdigest()
    assert (FETCHED / (archives[0].name + ".sha256")).read_text().split()[0] == digest
    assert oct(archives[0].stat().st_mode & 0o777) == "0o600"
    assert host.file("/var/backups/papermerge").is_directory
    assert host.file("/var/backups/papermerge").listdir() == ["restore"]
    assert host.file("/var/backups/papermerge/restore").listdir() == []
    added = subprocess.run(["docker", "diff", backend_container()], stdout=subprocess.PIPE, text=True,
                           check=True).stdout.splitlines()
    assert not [line for line in added if line.endswith((".tar.gz", ".sha256"))]
