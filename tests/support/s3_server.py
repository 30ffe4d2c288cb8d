"""A local S3-compatible server for the tests: moto's server mode on a free loopback port, with IAM auth on.

moto checks every request's SigV4 signature (taking the payload's sha256 from the x-amz-content-sha256 header as
given: unlike AWS, it does not recompute it from the body), knows users, keys and policies, and speaks the S3 REST
API including multipart uploads with S3's 5 MiB smallest part.
The first three requests it sees are unauthenticated (INITIAL_NO_AUTH_ACTION_COUNT): they create a user with an
allow-all policy and its access key; every request after them must be signed with that key.  Readiness is waited
for with a TCP connect, which moto does not count as a request.

``S3Server().start()`` -> endpoint_url, access_key, secret_key, ``boto3()`` (a client for setting up and
inspecting buckets from the tests), ``new_bucket()``; ``stop()`` ends the server (also at interpreter exit).
``S3Server(tls=True)`` serves HTTPS with a certificate for 127.0.0.1 made here by openssl (``ca_file``: the
self-signed certificate to trust).
The keys are handed to playbooks through extra-vars files, never a command line.
"""

import atexit
import itertools
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from pg_cluster import free_port

HOST = '127.0.0.1'
REGION = 'us-east-1'
_ALLOW_ALL = '{"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}'
_bucket_numbers = itertools.count(1)


class S3Server:
    def __init__(self, tls=False):
        self.port = None
        self.process = None
        self.access_key = self.secret_key = None
        self.log_file = None
        self.tls_dir = Path(tempfile.mkdtemp(prefix='papermerge-moto-tls-')) if tls else None

    @property
    def endpoint_url(self):
        return '%s://%s:%d' % ('https' if self.tls_dir else 'http', HOST, self.port)

    @property
    def ca_file(self):
        return self.tls_dir / 'cert.pem'

    def _tls_arguments(self):
        if self.tls_dir is None:
            return []
        key = self.tls_dir / 'key.pem'
        subprocess.run(['openssl', 'req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '2',
                        '-subj', '/CN=%s' % HOST, '-addext', 'subjectAltName=IP:%s' % HOST,
                        '-keyout', str(key), '-out', str(self.ca_file)],
                       check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        return ['-c', str(self.ca_file), '-k', str(key)]

    def start(self, timeout=60):
        self.port = free_port()
        self.log_file = Path(tempfile.mkstemp(prefix='papermerge-moto-', suffix='.log')[1])
        environment = dict(os.environ, INITIAL_NO_AUTH_ACTION_COUNT='3', AWS_ACCESS_KEY_ID='setup',
                           AWS_SECRET_ACCESS_KEY='setup', AWS_DEFAULT_REGION=REGION)
        with open(self.log_file, 'wb') as log:
            self.process = subprocess.Popen(
                [sys.executable, '-m', 'moto.server', '-H', HOST, '-p', str(self.port)] + self._tls_arguments(),
                stdout=log, stderr=subprocess.STDOUT, env=environment, start_new_session=True)
        atexit.register(self.stop)
        self._wait_for_port(timeout)
        self._create_user()
        return self

    def _wait_for_port(self, timeout):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError('moto server exited: %s' % self.log_file.read_text()[-2000:])
            try:
                socket.create_connection((HOST, self.port), timeout=1).close()
                return
            except OSError:
                time.sleep(0.2)
        raise RuntimeError('moto server did not listen on %d within %d s' % (self.port, timeout))

    def _create_user(self):
        iam = self._boto3('iam', 'setup', 'setup')
        iam.create_user(UserName='backup')
        iam.put_user_policy(UserName='backup', PolicyName='all', PolicyDocument=_ALLOW_ALL)
        key = iam.create_access_key(UserName='backup')['AccessKey']
        self.access_key, self.secret_key = key['AccessKeyId'], key['SecretAccessKey']

    def _boto3(self, service, access_key, secret_key):
        import boto3  # the test toolchain has it (moto needs it); the collection never does
        return boto3.client(service, endpoint_url=self.endpoint_url, region_name=REGION,
                            aws_access_key_id=access_key, aws_secret_access_key=secret_key,
                            verify=str(self.ca_file) if self.tls_dir else None)

    def boto3(self):
        """An S3 client with the test user's keys, for setting up and inspecting buckets."""
        return self._boto3('s3', self.access_key, self.secret_key)

    def new_bucket(self, prefix='papermerge'):
        name = '%s-%d-%d' % (prefix, os.getpid(), next(_bucket_numbers))
        self.boto3().create_bucket(Bucket=name)
        return name

    def connection_vars(self, role):
        """The role variables that point role (backup or restore) at this server."""
        return {'papermerge_%s_s3_endpoint_url' % role: self.endpoint_url,
                'papermerge_%s_s3_access_key' % role: self.access_key,
                'papermerge_%s_s3_secret_key' % role: self.secret_key}

    def module_args(self):
        return {'endpoint_url': self.endpoint_url, 'access_key': self.access_key, 'secret_key': self.secret_key}

    def stop(self):
        if self.process is None:
            return
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()
        self.process = None
        if self.log_file is not None and self.log_file.exists():
            self.log_file.unlink()
        if self.tls_dir is not None:
            shutil.rmtree(str(self.tls_dir), ignore_errors=True)


@pytest.fixture(scope='session')
def s3_server():
    """One moto server per test process (pytest-xdist worker), stopped at the end."""
    server = S3Server().start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def bucket(s3_server):
    """A new, empty bucket on the session's server."""
    return s3_server.new_bucket()
