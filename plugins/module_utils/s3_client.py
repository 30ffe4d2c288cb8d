# -*- coding: utf-8 -*-
# Copyright: papermerge.backup contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
#
# This module_utils is PRIVATE and should only be used by this collection. Breaking changes can occur any time.
"""A small S3 client on the standard library: the few operations the collection needs, errors in the user's words.

Why not boto3: the client runs on the Papermerge host, next to the archive, with the Python that runs the
collection's modules there (Papermerge's virtualenv, or a container's), and nothing may be installed into either.
It speaks the S3 REST API every S3-compatible service implements (AWS, Backblaze B2, Wasabi, MinIO, Ceph RGW):
SigV4 with signed payload hashes, Content-MD5, path-style addressing on custom endpoints, virtual-hosted on AWS.
It deliberately sends none of the newer ``x-amz-checksum-*`` headers, which several S3-compatible services
reject or ignore.  Transient failures (network errors, 500/502/503/504, SlowDown) are retried with backoff.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import hashlib
import http.client
import re
import ssl
import time
from collections import namedtuple
from datetime import datetime, timezone
from urllib.parse import urlsplit
from xml.etree import ElementTree

from ansible_collections.papermerge.backup.plugins.module_utils.errors import PapermergeBackupError
from ansible_collections.papermerge.backup.plugins.module_utils.s3_credentials import (
    resolve_credentials, resolve_region)
from ansible_collections.papermerge.backup.plugins.module_utils.s3_sigv4 import (
    EMPTY_SHA256, canonical_query, sign_headers, uri_encode)

S3Location = namedtuple('S3Location', ['bucket', 'key'])
S3Location.__doc__ = """A bucket and a key (an object's key, or a prefix ending in '/' or empty)."""

Response = namedtuple('Response', ['status', 'headers', 'body'])

ATTEMPTS = 4
TIMEOUT = 60
BLOCK_SIZE = 1024 * 1024
_RETRIED_STATUSES = (500, 502, 503, 504)
_RETRIED_CODES = ('RequestTimeout', 'SlowDown', 'InternalError', 'ServiceUnavailable')
_BUCKET = re.compile(r'^[A-Za-z0-9][A-Za-z0-9._-]{1,61}[A-Za-z0-9]$')
_DNS_BUCKET = re.compile(r'^[a-z0-9][a-z0-9-]{1,61}[a-z0-9]$')


def parse_s3_url(url):
    """S3Location of 's3://bucket' or 's3://bucket/key'; raise on anything else."""
    text = (url or '').strip()
    if not text.startswith('s3://'):
        raise PapermergeBackupError('%r is not an S3 URL: write s3://BUCKET/PREFIX (or s3://BUCKET/KEY)' % (url,))
    bucket, dummy, key = text[len('s3://'):].partition('/')
    if not _BUCKET.match(bucket):
        raise PapermergeBackupError(
            'bucket name %r in %s is not valid: 3 to 63 letters, digits, ".", "-" or "_"' % (bucket, url))
    return S3Location(bucket, key.lstrip('/'))


def s3_url(bucket, key):
    return 's3://%s/%s' % (bucket, key)


def join_key(prefix, name):
    """The key of name below prefix: 'backups' and 'backups/' both give 'backups/<name>'."""
    prefix = prefix.strip('/')
    return '%s/%s' % (prefix, name) if prefix else name


def s3_argument_spec():
    """The connection options every S3 module takes (documented in doc_fragments/s3.py)."""
    return dict(
        endpoint_url=dict(type='str'),
        region=dict(type='str'),
        access_key=dict(type='str', no_log=True),
        secret_key=dict(type='str', no_log=True),
        session_token=dict(type='str', no_log=True),
        ca_bundle=dict(type='path'),
    )


def client_from_params(params):
    """An S3Client for the connection options in params (see s3_argument_spec)."""
    credentials = resolve_credentials(params.get('access_key'), params.get('secret_key'),
                                      params.get('session_token'))
    return S3Client(params.get('endpoint_url'), resolve_region(params.get('region')), credentials,
                    ca_bundle=params.get('ca_bundle'))


class S3Client:
    """SigV4-signed requests to one S3 endpoint; one keep-alive connection, reopened after any failure."""

    def __init__(self, endpoint_url, region, credentials, ca_bundle=None, timeout=TIMEOUT, attempts=ATTEMPTS,
                 sleep=time.sleep):
        self.region = region
        self.credentials = credentials
        self.timeout = timeout
        self.attempts = attempts
        self.sleep = sleep
        self.ca_bundle = ca_bundle
        self.custom_endpoint = bool(endpoint_url)
        self.scheme, self.netloc, self.base_path = _endpoint(endpoint_url, region)
        self._connection = None
        self._connection_host = None

    def describe(self):
        """Where requests go, for messages: the endpoint URL."""
        return '%s://%s%s' % (self.scheme, self.netloc if self.custom_endpoint else self._aws_host(),
                              self.base_path)

    # Operations ----------------------------------------------------------------------------------------------

    def check_bucket(self, bucket, prefix=''):
        """List at most one key below prefix: fails clearly on a missing bucket or credentials the service refuses.

        A HEAD request cannot tell these apart (its answers have no body, and a missing bucket looks like a
        missing object), so every job starts with this.
        """
        self.request('GET', bucket, '', query={'list-type': '2', 'prefix': prefix, 'max-keys': '1'})

    def head_object(self, bucket, key):
        """{'size', 'etag', 'metadata'} of an object, None when there is none; raise on any other failure."""
        response = self.request('HEAD', bucket, key, ok=(200, 404))
        if response.status == 404:
            return None
        metadata = dict((name[len('x-amz-meta-'):], value) for name, value in response.headers.items()
                        if name.startswith('x-amz-meta-'))
        return dict(size=int(response.headers.get('content-length', '0')), etag=response.headers.get('etag'),
                    metadata=metadata)

    def get_small_object(self, bucket, key, limit=65536):
        """The body of a small object (a .sha256 file) as bytes, None when there is none."""
        response = self.request('GET', bucket, key, ok=(200, 404), stream=True)
        if response.status == 404:
            return None
        try:
            return response.body.read(limit)
        finally:
            self._finish(response)

    def open_object(self, bucket, key, etag=None):
        """A streaming response for an object's body; the caller reads it to its end, then calls finish()."""
        headers = {'if-match': etag} if etag else {}
        return self.request('GET', bucket, key, headers=headers, stream=True)

    def finish(self, response):
        self._finish(response)

    def put_object(self, bucket, key, body, size, sha256, md5=None, metadata=None, content_type=None):
        headers = _content_headers(md5, metadata, content_type)
        return self.request('PUT', bucket, key, headers=headers, body=body, size=size, payload_sha256=sha256)

    def create_multipart_upload(self, bucket, key, metadata=None, content_type=None):
        response = self.request('POST', bucket, key, query={'uploads': ''},
                                headers=_content_headers(None, metadata, content_type))
        upload_id = _xml_text(response.body, 'UploadId')
        if not upload_id:
            raise PapermergeBackupError('the service answered the start of a multipart upload of %s without an '
                                        'upload id' % s3_url(bucket, key))
        return upload_id

    def upload_part(self, bucket, key, upload_id, number, body, size, sha256, md5=None):
        response = self.request('PUT', bucket, key, query={'partNumber': str(number), 'uploadId': upload_id},
                                headers=_content_headers(md5, None, None), body=body, size=size,
                                payload_sha256=sha256)
        return response.headers.get('etag')

    def complete_multipart_upload(self, bucket, key, upload_id, etags):
        parts = ''.join('<Part><PartNumber>%d</PartNumber><ETag>%s</ETag></Part>' % (number, _xml_escape(etag))
                        for number, etag in enumerate(etags, 1))
        document = ('<CompleteMultipartUpload>%s</CompleteMultipartUpload>' % parts).encode('utf-8')
        response = self.request('POST', bucket, key, query={'uploadId': upload_id}, body=document,
                                size=len(document), payload_sha256=_sha256_hex(document))
        # The service may answer 200 and still report an error in the body (its documented behaviour).
        _raise_for_error_document(response.body, 'POST', bucket, key, self)
        return response

    def abort_multipart_upload(self, bucket, key, upload_id):
        self.request('DELETE', bucket, key, query={'uploadId': upload_id}, ok=(200, 204, 404))

    def list_objects(self, bucket, prefix):
        """Yield (key, size) of every object directly below prefix (not in deeper 'folders'), in key order."""
        token = None
        while True:
            query = {'list-type': '2', 'prefix': prefix, 'delimiter': '/'}
            if token:
                query['continuation-token'] = token
            root = _parse_xml(self.request('GET', bucket, '', query=query).body)
            for item in _children(root, 'Contents'):
                yield _child_text(item, 'Key'), int(_child_text(item, 'Size') or 0)
            token = _child_text(root, 'NextContinuationToken')
            if _child_text(root, 'IsTruncated') != 'true' or not token:
                return

    def delete_object(self, bucket, key):
        self.request('DELETE', bucket, key, ok=(200, 204, 404))

    # Requests ------------------------------------------------------------------------------------------------

    def request(self, method, bucket, key='', query=None, headers=None, body=None, size=0, payload_sha256=None,
                ok=(200,), stream=False):
        """Send one signed request, retrying transient failures; return a Response whose status is in ok.

        body is None, bytes, or a callable that returns a new readable file object for each attempt.
        A streamed response's body is the open http.client response, to be read and passed to finish().
        """
        failure = None
        for attempt in range(self.attempts):
            if attempt:
                self.sleep(min(2 ** attempt, 20))
            try:
                response = self._send(method, bucket, key, query, headers, body, size, payload_sha256,
                                      stream and method == 'GET')
            except ssl.SSLCertVerificationError as error:
                self._close()
                raise PapermergeBackupError(
                    'the S3 endpoint %s has a certificate this host does not trust (%s): give the PEM file of its '
                    'certificate authority as ca_bundle (papermerge_backup_s3_ca_bundle in the roles)'
                    % (self.describe(), error))
            except (OSError, http.client.HTTPException) as error:
                self._close()
                failure = PapermergeBackupError(
                    'cannot reach the S3 endpoint %s (%s %s): %s; check the endpoint URL and that this host can '
                    'reach it' % (self.describe(), method, s3_url(bucket, key), error or type(error).__name__))
                continue
            if response.status in ok:
                return response
            failure = self._failure(method, bucket, key, response)
            if self._moved_region(response) or response.status in _RETRIED_STATUSES \
                    or failure.details.get('code') in _RETRIED_CODES:
                continue
            raise failure
        raise failure

    def _send(self, method, bucket, key, query, headers, body, size, payload_sha256, stream):
        host, path = self._address(bucket, key)
        wire = dict((name.lower(), value) for name, value in (headers or {}).items())
        wire['host'] = host
        if body is not None:
            wire['content-length'] = str(size)
        amz_date = datetime.now(timezone.utc).strftime('%Y%m%dT%H%M%SZ')
        signed = sign_headers(self.credentials, self.region, method, path, query or {}, wire,
                              payload_sha256 or EMPTY_SHA256, amz_date)
        target = path + ('?' + canonical_query(query) if query else '')
        connection = self._connect(host)
        data = body() if callable(body) else body
        try:
            connection.request(method, target, body=data, headers=signed)
            response = connection.getresponse()
        finally:
            if hasattr(data, 'close'):
                data.close()
        response_headers = dict((name.lower(), value) for name, value in response.getheaders())
        if stream and 200 <= response.status < 300:
            return Response(response.status, response_headers, response)
        payload = response.read()
        return Response(response.status, response_headers, payload)

    def _finish(self, response):
        # Whatever is left unread makes the connection unusable for the next request.
        try:
            if response.body.read(1):
                self._close()
        except (OSError, http.client.HTTPException):
            self._close()

    def _address(self, bucket, key):
        """(Host header, URI-encoded path): virtual-hosted on AWS when the bucket name allows it, else path-style."""
        encoded_key = uri_encode(key, keep_slashes=True)
        if not self.custom_endpoint and _DNS_BUCKET.match(bucket):
            return '%s.%s' % (bucket, self._aws_host()), '/' + encoded_key
        host = self.netloc if self.custom_endpoint else self._aws_host()
        path = '%s/%s' % (self.base_path, uri_encode(bucket))
        return host, path + ('/' + encoded_key if key else '')

    def _aws_host(self):
        return 's3.%s.amazonaws.com' % self.region

    def _connect(self, host):
        if self._connection is not None and self._connection_host == host:
            return self._connection
        self._close()
        if self.scheme == 'https':
            context = ssl.create_default_context(cafile=self.ca_bundle) if self.ca_bundle \
                else ssl.create_default_context()
            connection = http.client.HTTPSConnection(host, timeout=self.timeout, context=context,
                                                     blocksize=BLOCK_SIZE)
        else:
            connection = http.client.HTTPConnection(host, timeout=self.timeout, blocksize=BLOCK_SIZE)
        self._connection, self._connection_host = connection, host
        return connection

    def _close(self):
        if self._connection is not None:
            self._connection.close()
        self._connection = self._connection_host = None

    def _moved_region(self, response):
        """Follow the bucket to its region when the service names another one (AWS does, with 301 or 400)."""
        region = response.headers.get('x-amz-bucket-region')
        if region and region != self.region and response.status in (301, 307, 400):
            self.region = region
            return True
        return False

    def _failure(self, method, bucket, key, response):
        code, message = _error_of(response.body)
        if not code and method == 'HEAD' and response.status in (400, 403):
            # A HEAD answer has no body: ask for one byte to learn why the service refused.
            probe = self.request('GET', bucket, key, headers={'range': 'bytes=0-0'}, ok=range(100, 600))
            code, message = _error_of(probe.body)
        return describe_error(method, s3_url(bucket, key), response.status, code, message, self)


def _endpoint(endpoint_url, region):
    if not endpoint_url:
        return 'https', None, ''
    parts = urlsplit(endpoint_url.strip())
    if parts.scheme not in ('http', 'https') or not parts.netloc or parts.query or parts.fragment:
        raise PapermergeBackupError(
            'endpoint_url %r is not usable: write it as https://HOST[:PORT] (for example '
            'https://s3.us-west-004.backblazeb2.com or https://minio.example.com:9000)' % (endpoint_url,))
    return parts.scheme, parts.netloc, parts.path.rstrip('/')


def _content_headers(md5, metadata, content_type):
    headers = {}
    if md5:
        headers['content-md5'] = md5
    if content_type:
        headers['content-type'] = content_type
    for name, value in (metadata or {}).items():
        headers['x-amz-meta-' + name] = value
    return headers


def _sha256_hex(data):
    return hashlib.sha256(data).hexdigest()


def _xml_escape(text):
    return (text or '').replace('&', '&amp;').replace('<', '&lt;').replace('>', '&gt;')


# XML answers -----------------------------------------------------------------------------------------------------


def _parse_xml(body):
    try:
        root = ElementTree.fromstring(body)
    except ElementTree.ParseError as error:
        raise PapermergeBackupError('the S3 service answered with XML that cannot be read (%s): is the endpoint '
                                    'URL an S3 service?' % error)
    for element in root.iter():
        element.tag = element.tag.rsplit('}', 1)[-1]  # drop the namespace
    return root


def _children(root, name):
    return [child for child in root if child.tag == name]


def _child_text(root, name):
    child = root.find(name)
    return child.text if child is not None and child.text is not None else None


def _xml_text(body, name):
    root = _parse_xml(body)
    return root.text if root.tag == name else _child_text(root, name)


def _error_of(body):
    """(code, message) of an S3 error document, (None, None) for anything else."""
    if not body or not isinstance(body, bytes) or b'<Error' not in body[:512]:
        return None, None
    try:
        root = _parse_xml(body)
    except PapermergeBackupError:
        return None, None
    return _child_text(root, 'Code'), _child_text(root, 'Message')


def _raise_for_error_document(body, method, bucket, key, client):
    code, message = _error_of(body)
    if code:
        raise describe_error(method, s3_url(bucket, key), 200, code, message, client)


_ADVICE = {
    'NoSuchBucket': 'the bucket does not exist at {endpoint}: create it, or correct the bucket in the S3 URL '
                    '(and endpoint_url for a service other than AWS)',
    'InvalidAccessKeyId': 'the service does not know the access key: check access_key (or the host\'s AWS '
                          'credentials) and endpoint_url',
    'SignatureDoesNotMatch': 'the service refused the request\'s signature: the secret key does not belong to the '
                             'access key, or region does not match the endpoint; check secret_key and region',
    'AccessDenied': 'the credentials may not do this: they need s3:ListBucket, s3:GetObject, s3:PutObject, '
                    's3:DeleteObject and s3:AbortMultipartUpload on the bucket (docs/offsite.md)',
    'RequestTimeTooSkewed': 'this host\'s clock is more than 15 minutes off: set its time (NTP) and run again',
    'XAmzContentSHA256Mismatch': 'the service received other bytes than were sent (the network or a proxy changed '
                                 'them); nothing was stored; run again',
    'BadDigest': 'the service received other bytes than were sent (the network or a proxy changed them); nothing '
                 'was stored; run again',
    'PreconditionFailed': 'the object changed while it was being read: run again',
    'AuthorizationHeaderMalformed': 'the region does not match the bucket\'s: set region to the bucket\'s region',
    'InvalidBucketName': 'the bucket name is not valid at this service: correct the S3 URL',
    'NoSuchKey': 'there is no such object: check the key (the backup role uploads archives as '
                 '<prefix>/<archive name>)',
}


def describe_error(method, url, status, code, message, client):
    """A PapermergeBackupError saying what the S3 service refused and what to do next."""
    advice = _ADVICE.get(code)
    if advice is None and status == 403:
        advice = 'access denied or wrong credentials: check access_key, secret_key and the key\'s permissions'
    if advice is None and status == 404 and method != 'HEAD':
        advice = 'no such object or bucket: check the S3 URL'
    text = '%s %s failed at %s: HTTP %d%s%s' % (
        method, url, client.describe(), status, ' %s' % code if code else '', ' (%s)' % message if message else '')
    if advice:
        text += '; ' + advice.format(endpoint=client.describe())
    return PapermergeBackupError(text, code=code, status=status, url=url)
