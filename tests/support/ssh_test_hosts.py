"""SSH test hosts for pytest: sshd on 127.0.0.1, started and stopped with ssh_host/ssh_host.sh.

``SshTestHosts()`` keeps its hosts under a fresh root-owned directory (sshd's StrictModes refuses
keys below /tmp, where pytest's tmp_path lives); ``start(name)`` returns a host's connection details
(address, port, user, identity_file, state_dir, base_dir), ``inventory_vars(host)`` the inventory
variables that reach it, ``stop(name)`` stops one host and ``stop_all()`` every host and removes
the directory.  Needs root, like ssh_host.sh.
"""

import json
import os
import subprocess
import tempfile
from pathlib import Path

SCRIPT = Path(__file__).resolve().parent / 'ssh_host' / 'ssh_host.sh'
STATE_ROOT = Path('/var/lib/papermerge-backup-tests/integration-hosts')


class SshTestHosts:
    def __init__(self):
        STATE_ROOT.mkdir(mode=0o755, parents=True, exist_ok=True)
        self.root = Path(tempfile.mkdtemp(prefix='hosts-', dir=str(STATE_ROOT)))
        os.chmod(str(self.root), 0o755)

    def start(self, name, log_level='VERBOSE'):
        env = dict(os.environ, SSH_TEST_HOST_LOG_LEVEL=log_level)
        result = subprocess.run(['bash', str(SCRIPT), 'start', str(self.root / name)], env=env, check=True,
                                stdout=subprocess.PIPE, text=True)
        return json.loads(result.stdout)

    def stop(self, name):
        subprocess.run(['bash', str(SCRIPT), 'stop', str(self.root / name)], check=True)

    def stop_all(self):
        subprocess.run(['bash', str(SCRIPT), 'stop-all', str(self.root)], check=True)

    @staticmethod
    def inventory_vars(host):
        """Ansible's connection variables for ``host``; its temporary files stay in its base dir."""
        return {
            'ansible_connection': 'ssh',
            'ansible_host': host['address'],
            'ansible_port': host['port'],
            'ansible_user': host['user'],
            'ansible_ssh_private_key_file': host['identity_file'],
            'ansible_remote_tmp': '%s/.ansible-tmp' % host['base_dir'],
            'ansible_python_interpreter': '/usr/bin/python3',
        }
