# -*- coding: utf-8 -*-
# Copyright: papermerge.backup contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""age (module_utils/age.py) on the oldest setup it must serve: Python 3.8 and cryptography 38.0.4, the
version papermerge-core 2.1.9's lock file pins (the official image's), against the age CLI both ways.

The venv is built once and cached beside the Papermerge venv (pip from PyPI; tomlkit too, so that
benchmarks/backup_benchmark.py --python can back up with it); without a Python 3.8 (pyenv) the oldest Python
there is used.
"""

import glob
import os
import subprocess
import sys
from pathlib import Path

import pytest

import age_cli

REPO = Path(__file__).resolve().parents[2]
CACHE = Path(os.environ.get('PAPERMERGE_TEST_CACHE', Path.home() / '.cache' / 'papermerge-backup-tests'))
CRYPTOGRAPHY = '38.0.4'
INTEROP = r'''
import subprocess, sys
from ansible_collections.papermerge.backup.plugins.module_utils import age
import cryptography
work, recipient_file, identity_file = sys.argv[1:4]
data = bytes(range(256)) * 1000
encryptor = age.Encryptor([age.parse_recipient(line) for line in open(recipient_file).read().splitlines()])
open(work + '/ours.age', 'wb').write(encryptor.update(data) + encryptor.finish())
subprocess.run(['age', '-d', '-i', identity_file, '-o', work + '/ours.out', work + '/ours.age'], check=True)
assert open(work + '/ours.out', 'rb').read() == data
open(work + '/plain', 'wb').write(data)
subprocess.run(['age', '-e', '-R', recipient_file, '-o', work + '/theirs.age', work + '/plain'], check=True)
with open(work + '/theirs.age', 'rb') as handle:
    assert age.open_payload(handle, age.parse_identities(open(identity_file, 'rb').read())).read() == data
print(cryptography.__version__, sys.version.split()[0])
'''


def _oldest_python():
    found = sorted(glob.glob(str(Path.home() / '.pyenv' / 'versions' / '3.8.*' / 'bin' / 'python')))
    return found[-1] if found else sys.executable


@pytest.fixture(scope='module')
def old_python():
    venv = CACHE / ('cryptography-%s-venv' % CRYPTOGRAPHY)
    python = venv / 'bin' / 'python'
    packages = ['cryptography==%s' % CRYPTOGRAPHY, 'pytest', 'tomlkit']
    ready = venv / '.ready'
    if not ready.exists() or ready.read_text() != ' '.join(packages):
        subprocess.run([_oldest_python(), '-m', 'venv', '--clear', str(venv)], check=True)
        subprocess.run([str(python), '-m', 'pip', 'install', '--quiet', '--disable-pip-version-check'] + packages,
                       check=True)
        ready.write_text(' '.join(packages))
    return python


def test_unit_tests_of_age_pass_on_cryptography_38(old_python):
    done = subprocess.run(
        [str(old_python), '-m', 'pytest', '-q', '-p', 'no:cacheprovider', '-c', os.devnull, '--rootdir', str(REPO),
         'tests/unit/plugins/module_utils/test_age.py'],
        cwd=str(REPO), env=dict(os.environ, PYTHONPATH=str(REPO / '.cache' / 'collections')),
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, check=False)
    assert done.returncode == 0, done.stdout[-3000:]
    assert ' passed' in done.stdout.splitlines()[-1]


def test_age_cli_reads_ours_and_we_read_its_on_cryptography_38(old_python, tmp_path):
    keys = age_cli.Keys(tmp_path / 'keys')
    recipients = tmp_path / 'recipients.txt'
    recipients.write_text('%s\n%s\n' % (keys.x25519_recipient, keys.ed25519_recipient))
    for identity in (keys.x25519, keys.ed25519):
        done = subprocess.run([str(old_python), '-c', INTEROP, str(tmp_path), str(recipients), str(identity)],
                              env=dict(os.environ, PYTHONPATH=str(REPO / '.cache' / 'collections')),
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, check=False)
        assert done.returncode == 0, done.stdout[-3000:]
        assert done.stdout.split()[0] == CRYPTOGRAPHY
