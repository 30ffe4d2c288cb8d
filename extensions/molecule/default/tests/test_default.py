"""Plumbing checks over the same SSH inventory the playbooks used (testinfra's ansible backend)."""

import os
import pathlib

testinfra_hosts = ["all"]

LOGIN_USER = "pmtest"


def _host_vars(host):
    return host.ansible.get_variables()


def _archive_name(host):
    return "papermerge-%s-20261126T020000Z-2.1.5.tar.gz" % _host_vars(host)["inventory_hostname"]


def test_login_user_is_unprivileged(host):
    assert host.check_output("id -un") == LOGIN_USER
    assert host.user().uid != 0


def test_sudo_reaches_root_without_a_password(host):
    with host.sudo():
        assert host.check_output("id -un") == "root"


def test_each_host_listens_on_its_own_loopback_port(host):
    port = _host_vars(host)["ansible_port"]
    assert host.socket("tcp://127.0.0.1:%d" % port).is_listening
    assert not host.socket("tcp://0.0.0.0:%d" % port).is_listening


def test_base_dir_belongs_to_this_host_and_the_login_user(host):
    variables = _host_vars(host)
    base_dir = host.file(variables["test_host_base_dir"])
    assert base_dir.is_directory
    assert base_dir.user == LOGIN_USER
    # Hosts share the machine's filesystem: each one's base directory is its own.
    assert pathlib.PurePath(variables["test_host_base_dir"]).parent.name == variables["inventory_hostname"]
    assert host.file(variables["test_host_base_dir"] + "/hello.txt").content_string == variables["inventory_hostname"] + "\n"


def test_archive_kept_by_prune_is_readable_by_root_only(host):
    archive = _host_vars(host)["test_host_base_dir"] + "/archives/" + _archive_name(host)
    assert not host.run("cat %s", archive).succeeded
    with host.sudo():
        archive_file = host.file(archive)
        assert archive_file.is_file
        assert archive_file.user == "root"
        assert archive_file.mode == 0o600


def test_files_reached_the_controller(host):
    hostname = _host_vars(host)["inventory_hostname"]
    fetched = pathlib.Path(os.environ["MOLECULE_EPHEMERAL_DIRECTORY"], "fetched", hostname)
    assert (fetched / "hello.txt").read_text() == hostname + "\n"
    assert (fetched / _archive_name(host)).read_text().startswith("not a real archive")


def test_modules_and_fetch_travelled_over_sftp(host):
    # The test hosts' sftp-server logs every file it opens; transfer_method=sftp allows no fallback.
    variables = _host_vars(host)
    log = pathlib.Path(variables["test_host_state_dir"], "sftp.log").read_text()
    assert "AnsiballZ_papermerge_prune.py\" flags WRITE" in log
    assert 'open "%s/hello.txt" flags READ' % variables["test_host_base_dir"] in log
