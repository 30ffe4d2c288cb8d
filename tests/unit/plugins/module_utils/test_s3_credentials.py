# -*- coding: utf-8 -*-
# Copyright: papermerge.backup contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The S3 keys: options first, then the standard AWS chain (environment, shared files, EC2 instance role)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest

from ansible_collections.papermerge.backup.plugins.module_utils.errors import PapermergeBackupError
from ansible_collections.papermerge.backup.plugins.module_utils.s3_credentials import (
    resolve_credentials, resolve_region)
from ansible_collections.papermerge.backup.plugins.module_utils.s3_sigv4 import Credentials

NO_IMDS = {'AWS_EC2_METADATA_DISABLED': 'true'}


@pytest.fixture
def home(tmp_path, monkeypatch):
    """An empty home directory, so the real ~/.aws of whoever runs the tests plays no part."""
    monkeypatch.setenv('HOME', str(tmp_path))
    return tmp_path


def files(home, credentials='', config=''):
    (home / '.aws').mkdir(exist_ok=True)
    (home / '.aws' / 'credentials').write_text(credentials)
    (home / '.aws' / 'config').write_text(config)


def test_options_win_over_everything(home):
    environ = dict(NO_IMDS, AWS_ACCESS_KEY_ID='env', AWS_SECRET_ACCESS_KEY='env-secret')
    assert resolve_credentials('opt', 'opt-secret', None, environ) == Credentials('opt', 'opt-secret', None)


def test_one_key_without_the_other_is_refused(home):
    with pytest.raises(PapermergeBackupError, match='both access_key and secret_key'):
        resolve_credentials('opt', '', None, dict(NO_IMDS))


def test_environment_before_files(home):
    files(home, '[default]\naws_access_key_id = file\naws_secret_access_key = file-secret\n')
    environ = dict(NO_IMDS, AWS_ACCESS_KEY_ID='env', AWS_SECRET_ACCESS_KEY='env-secret', AWS_SESSION_TOKEN='tok')
    assert resolve_credentials(environ=environ) == Credentials('env', 'env-secret', 'tok')


def test_credentials_file_profile_then_config_file(home):
    files(home, '[default]\naws_access_key_id = d\naws_secret_access_key = ds\n'
                '[backup]\naws_access_key_id = b\naws_secret_access_key = bs\n',
          '[profile other]\naws_access_key_id = o\naws_secret_access_key = os\nregion = eu-west-3\n')
    assert resolve_credentials(environ=dict(NO_IMDS)) == Credentials('d', 'ds', None)
    assert resolve_credentials(environ=dict(NO_IMDS, AWS_PROFILE='backup')) == Credentials('b', 'bs', None)
    assert resolve_credentials(environ=dict(NO_IMDS, AWS_PROFILE='other')) == Credentials('o', 'os', None)
    assert resolve_region(environ=dict(AWS_PROFILE='other')) == 'eu-west-3'


def test_files_named_by_the_environment(home, tmp_path):
    shared = tmp_path / 'shared'
    shared.write_text('[default]\naws_access_key_id = s\naws_secret_access_key = ss\naws_session_token = st\n')
    environ = dict(NO_IMDS, AWS_SHARED_CREDENTIALS_FILE=str(shared))
    assert resolve_credentials(environ=environ) == Credentials('s', 'ss', 'st')


def test_no_credentials_anywhere_says_what_to_set(home):
    with pytest.raises(PapermergeBackupError) as failure:
        resolve_credentials(environ=dict(NO_IMDS))
    assert 'papermerge_backup_s3_access_key' in str(failure.value)
    assert 'AWS_ACCESS_KEY_ID' in str(failure.value)


def test_an_unreadable_file_is_named_without_its_content(home):
    files(home, 'aws_secret_access_key = not-in-a-section-secret\n')
    with pytest.raises(PapermergeBackupError) as failure:
        resolve_credentials(environ=dict(NO_IMDS))
    assert 'credentials' in str(failure.value)
    assert 'not-in-a-section-secret' not in str(failure.value)


@pytest.mark.parametrize('environ, expected', [
    ({'AWS_REGION': 'eu-north-1', 'AWS_DEFAULT_REGION': 'ap-east-1'}, 'eu-north-1'),
    ({'AWS_DEFAULT_REGION': 'ap-east-1'}, 'ap-east-1'),
    ({}, 'us-east-1'),
])
def test_region_chain(home, environ, expected):
    assert resolve_region(None, environ) == expected
    assert resolve_region('given-1', environ) == 'given-1'


class _Metadata(BaseHTTPRequestHandler):
    """IMDSv2 as EC2 serves it: a PUT for a token, then GETs that must carry it."""
    TOKEN = 'imds-token'

    def do_PUT(self):  # noqa: N802 - the http.server API
        if self.path == '/latest/api/token' and self.headers.get('X-aws-ec2-metadata-token-ttl-seconds'):
            self._answer(200, self.TOKEN)
        else:
            self._answer(400, '')

    def do_GET(self):  # noqa: N802
        if self.headers.get('X-aws-ec2-metadata-token') != self.TOKEN:
            return self._answer(401, '')
        if self.path == '/latest/meta-data/iam/security-credentials/':
            return self._answer(200, 'backup-role\n')
        if self.path == '/latest/meta-data/iam/security-credentials/backup-role':
            return self._answer(200, json.dumps({'AccessKeyId': 'ASIA', 'SecretAccessKey': 'imds-secret',
                                                 'Token': 'imds-session'}))
        return self._answer(404, '')

    def _answer(self, status, text):
        self.send_response(status)
        self.end_headers()
        self.wfile.write(text.encode())

    def log_message(self, *args):
        pass


@pytest.fixture
def metadata_service():
    server = HTTPServer(('127.0.0.1', 0), _Metadata)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield 'http://127.0.0.1:%d' % server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()


def test_instance_role_through_imdsv2(home, metadata_service):
    environ = {'AWS_EC2_METADATA_SERVICE_ENDPOINT': metadata_service}
    assert resolve_credentials(environ=environ) == Credentials('ASIA', 'imds-secret', 'imds-session')


def test_instance_metadata_can_be_disabled(home, metadata_service):
    environ = {'AWS_EC2_METADATA_SERVICE_ENDPOINT': metadata_service, 'AWS_EC2_METADATA_DISABLED': 'true'}
    with pytest.raises(PapermergeBackupError, match='no S3 credentials'):
        resolve_credentials(environ=environ)
