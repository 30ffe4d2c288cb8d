"""The collection builds into a tarball that installs offline and whose plugins load."""

import json
import os
import subprocess
import sys
import tarfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent


def _run(*args, env=None):
    return subprocess.run(args, check=True, capture_output=True, text=True, env=env)


def _built_tarball(output_dir):
    _run(str(BIN / "ansible-galaxy"), "collection", "build", "--force", "--output-path", str(output_dir), str(REPO))
    return next(output_dir.glob("papermerge-backup-*.tar.gz"))


def _installed_collection(tmp_path):
    """Build the tarball and install it offline into tmp_path; (install dir, clean environment)."""
    tarball = _built_tarball(tmp_path)
    install_dir = tmp_path / "installed"
    # A stranger's machine has no other copy: with the checkout on the collections path (as the Makefile sets
    # it), ansible-galaxy would report the collection as installed already and install nothing.
    clean_env = {key: value for key, value in os.environ.items() if key != "ANSIBLE_COLLECTIONS_PATH"}
    _run(str(BIN / "ansible-galaxy"), "collection", "install", "--offline", "-p", str(install_dir), str(tarball),
         env=clean_env)
    return install_dir, dict(clean_env, ANSIBLE_COLLECTIONS_PATH=str(install_dir))


def test_tarball_holds_plugins_and_no_development_files(tmp_path):
    tarball = _built_tarball(tmp_path)
    with tarfile.open(tarball) as archive:
        names = archive.getnames()
    assert "MANIFEST.json" in names
    assert any(name.startswith("plugins/modules/") for name in names)
    assert any(name.startswith("roles/") for name in names)
    for development_only in ("tests", ".ci", "Makefile", ".venv", ".cache", "scripts"):
        assert not any(name == development_only or name.startswith(development_only + "/") for name in names), development_only


def test_installed_tarball_loads_every_module(tmp_path):
    install_dir, env = _installed_collection(tmp_path)
    installed = install_dir / "ansible_collections" / "papermerge" / "backup"
    assert (installed / "MANIFEST.json").is_file()

    listing = json.loads(_run(str(BIN / "ansible-doc"), "--json", "-t", "module", "-l", "papermerge.backup", env=env).stdout)
    expected = {p.stem for p in (REPO / "plugins" / "modules").glob("*.py") if not p.name.startswith("_")}
    assert {name.split(".")[-1] for name in listing} == expected
    for module in sorted(expected):
        docs = json.loads(_run(str(BIN / "ansible-doc"), "--json", "-t", "module", "papermerge.backup." + module, env=env).stdout)
        origin = docs["papermerge.backup." + module]["doc"]["filename"]
        assert origin.startswith(str(installed)), origin


def test_installed_playbooks_run_by_their_collection_names(tmp_path):
    install_dir, env = _installed_collection(tmp_path)
    installed = install_dir / "ansible_collections" / "papermerge" / "backup"
    for playbook in ("backup", "restore"):
        output = _run(str(BIN / "ansible-playbook"), "-i", "localhost,", "--syntax-check",
                      "papermerge.backup." + playbook, env=env).stdout
        assert str(installed / "playbooks" / (playbook + ".yml")) in output
