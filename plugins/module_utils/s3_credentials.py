# -*- coding: utf-8 -*-
# Copyright: papermerge.backup contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
#
# This module_utils is PRIVATE and should only be used by this collection. Breaking changes can occur any time.
"""Where the S3 keys come from: the module's options, else the standard AWS credential chain on the host.

The chain, in the order the AWS SDKs and CLI read it:
1. ``AWS_ACCESS_KEY_ID`` / ``AWS_SECRET_ACCESS_KEY`` (and ``AWS_SESSION_TOKEN``) in the module's environment;
2. the shared credentials file (``AWS_SHARED_CREDENTIALS_FILE``, default ``~/.aws/credentials``), then the config
   file (``AWS_CONFIG_FILE``, default ``~/.aws/config``), profile ``AWS_PROFILE`` or ``default``;
3. the EC2 instance role through IMDSv2 (``AWS_EC2_METADATA_SERVICE_ENDPOINT`` overrides the address,
   ``AWS_EC2_METADATA_DISABLED=true`` skips it).
Region likewise: the option, ``AWS_REGION``, ``AWS_DEFAULT_REGION``, the profile's ``region``, else us-east-1.
Secrets never reach a message: errors name the source, never its content.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import os

from configparser import ConfigParser, Error as ConfigParserError
from urllib.error import URLError
from urllib.request import Request, build_opener, ProxyHandler

from ansible_collections.papermerge.backup.plugins.module_utils.errors import PapermergeBackupError
from ansible_collections.papermerge.backup.plugins.module_utils.s3_sigv4 import Credentials

DEFAULT_REGION = 'us-east-1'
IMDS_ENDPOINT = 'http://169.254.169.254'
IMDS_TIMEOUT = 2

_NO_CREDENTIALS = (
    'no S3 credentials: give access_key and secret_key (papermerge_backup_s3_access_key and '
    'papermerge_backup_s3_secret_key in the roles), or provide them on the host the standard AWS way '
    '(AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, ~/.aws/credentials of the user the task runs as, '
    'or an EC2 instance role)'
)


def resolve_credentials(access_key=None, secret_key=None, session_token=None, environ=None):
    """Credentials from the options when both keys are given, else from the chain; raise when there are none."""
    environ = os.environ if environ is None else environ
    if access_key or secret_key:
        if not (access_key and secret_key):
            raise PapermergeBackupError(
                'give both access_key and secret_key, or neither (then the host\'s AWS credential chain is used)')
        return Credentials(access_key, secret_key, session_token or None)
    for source in (_from_environment, _from_shared_files, _from_instance_metadata):
        found = source(environ)
        if found is not None:
            return found
    raise PapermergeBackupError(_NO_CREDENTIALS)


def resolve_region(region=None, environ=None):
    environ = os.environ if environ is None else environ
    if region:
        return region
    for name in ('AWS_REGION', 'AWS_DEFAULT_REGION'):
        if environ.get(name):
            return environ[name]
    profile = _profile_section(_read_ini(_config_file(environ)), environ, config_file=True)
    return profile.get('region') or DEFAULT_REGION


def _from_environment(environ):
    access_key, secret_key = environ.get('AWS_ACCESS_KEY_ID'), environ.get('AWS_SECRET_ACCESS_KEY')
    if access_key and secret_key:
        return Credentials(access_key, secret_key, environ.get('AWS_SESSION_TOKEN') or None)
    return None


def _from_shared_files(environ):
    credentials_file = environ.get('AWS_SHARED_CREDENTIALS_FILE') or os.path.expanduser('~/.aws/credentials')
    for path, is_config in ((credentials_file, False), (_config_file(environ), True)):
        section = _profile_section(_read_ini(path), environ, config_file=is_config)
        if section.get('aws_access_key_id') and section.get('aws_secret_access_key'):
            return Credentials(section['aws_access_key_id'], section['aws_secret_access_key'],
                               section.get('aws_session_token') or None)
    return None


def _config_file(environ):
    return environ.get('AWS_CONFIG_FILE') or os.path.expanduser('~/.aws/config')


def _read_ini(path):
    parser = ConfigParser(interpolation=None)
    try:
        parser.read(path)
    except (ConfigParserError, OSError, UnicodeDecodeError) as error:
        raise PapermergeBackupError('cannot read the AWS file %s: %s' % (path, type(error).__name__))
    return parser


def _profile_section(parser, environ, config_file):
    profile = environ.get('AWS_PROFILE') or 'default'
    # The config file names every profile but the default one "profile NAME".
    name = 'profile %s' % profile if config_file and profile != 'default' else profile
    return dict(parser.items(name)) if parser.has_section(name) else {}


def _from_instance_metadata(environ):
    if environ.get('AWS_EC2_METADATA_DISABLED', '').lower() == 'true':
        return None
    base = (environ.get('AWS_EC2_METADATA_SERVICE_ENDPOINT') or IMDS_ENDPOINT).rstrip('/')
    # Never through a proxy: the address is the host's own link-local metadata service.
    opener = build_opener(ProxyHandler({}))
    try:
        token = _fetch(opener, Request(base + '/latest/api/token', method='PUT',
                                       headers={'X-aws-ec2-metadata-token-ttl-seconds': '300'}))
        headers = {'X-aws-ec2-metadata-token': token}
        role = _fetch(opener, Request(base + '/latest/meta-data/iam/security-credentials/', headers=headers))
        role = role.strip().splitlines()[0] if role.strip() else ''
        if not role:
            return None
        document = json.loads(_fetch(opener, Request(
            base + '/latest/meta-data/iam/security-credentials/' + role, headers=headers)))
    except (URLError, OSError, ValueError):
        return None  # no metadata service here: not an EC2 instance, or no role
    if not (document.get('AccessKeyId') and document.get('SecretAccessKey')):
        return None
    return Credentials(document['AccessKeyId'], document['SecretAccessKey'], document.get('Token') or None)


def _fetch(opener, request):
    with opener.open(request, timeout=IMDS_TIMEOUT) as response:
        return response.read(65536).decode('utf-8')
