# -*- coding: utf-8 -*-
# Copyright: papermerge.backup contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
#
# This module_utils is PRIVATE and should only be used by this collection. Breaking changes can occur any time.
"""AWS Signature Version 4 for S3 requests, on the standard library alone.

Every S3-compatible service (AWS, Backblaze B2, Wasabi, MinIO, Ceph RGW) accepts SigV4 with the payload's sha256
in ``x-amz-content-sha256``.  We always sign the real payload hash, never ``UNSIGNED-PAYLOAD``: the service then
refuses a body that is not the one we hashed, which is the integrity check every one of them implements.
Pure functions; the unit tests check them against AWS's published examples.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import hashlib
import hmac
import re
from collections import namedtuple

from urllib.parse import quote

ALGORITHM = 'AWS4-HMAC-SHA256'
SERVICE = 's3'
EMPTY_SHA256 = hashlib.sha256(b'').hexdigest()

Credentials = namedtuple('Credentials', ['access_key', 'secret_key', 'session_token'])
Credentials.__doc__ = """An access key, its secret and, for temporary credentials, the session token (or None)."""

_SPACES = re.compile(r'\s+')


def uri_encode(text, keep_slashes=False):
    """Percent-encode text as SigV4 wants: every byte but A-Z a-z 0-9 - _ . ~ (and '/' in paths)."""
    return quote(text, safe='-_.~/' if keep_slashes else '-_.~')


def canonical_query(query):
    """The query string, encoded and sorted by name then value; query is a dict or a list of pairs."""
    pairs = query.items() if hasattr(query, 'items') else query or ()
    encoded = sorted((uri_encode(str(name)), uri_encode(str(value))) for name, value in pairs)
    return '&'.join('%s=%s' % pair for pair in encoded)


def canonical_headers(headers):
    """(canonical header block, signed header names): names lower case and sorted, values trimmed."""
    normalized = {}
    for name, value in headers.items():
        normalized[name.strip().lower()] = _SPACES.sub(' ', str(value).strip())
    names = sorted(normalized)
    block = ''.join('%s:%s\n' % (name, normalized[name]) for name in names)
    return block, ';'.join(names)


def canonical_request(method, path, query, headers, payload_sha256):
    """(canonical request text, signed header names).  path is already URI-encoded (S3 encodes it once)."""
    block, signed = canonical_headers(headers)
    text = '\n'.join([method, path or '/', canonical_query(query), block, signed, payload_sha256])
    return text, signed


def credential_scope(amz_date, region):
    return '%s/%s/%s/aws4_request' % (amz_date[:8], region, SERVICE)


def string_to_sign(amz_date, region, canonical_request_text):
    return '\n'.join([ALGORITHM, amz_date, credential_scope(amz_date, region),
                      hashlib.sha256(canonical_request_text.encode('utf-8')).hexdigest()])


def signing_key(secret_key, date, region, service=SERVICE):
    key = _hmac(('AWS4' + secret_key).encode('utf-8'), date)
    for part in (region, service, 'aws4_request'):
        key = _hmac(key, part)
    return key


def _hmac(key, text):
    return hmac.new(key, text.encode('utf-8'), hashlib.sha256).digest()


def signature(secret_key, amz_date, region, canonical_request_text):
    key = signing_key(secret_key, amz_date[:8], region)
    text = string_to_sign(amz_date, region, canonical_request_text)
    return hmac.new(key, text.encode('utf-8'), hashlib.sha256).hexdigest()


def sign_headers(credentials, region, method, path, query, headers, payload_sha256, amz_date):
    """Return headers plus x-amz-date, x-amz-content-sha256, x-amz-security-token (if any) and Authorization.

    headers must hold 'host' and every other header to be signed; amz_date is 'YYYYMMDDTHHMMSSZ' (UTC).
    """
    signed = dict(headers)
    signed['x-amz-date'] = amz_date
    signed['x-amz-content-sha256'] = payload_sha256
    if credentials.session_token:
        signed['x-amz-security-token'] = credentials.session_token
    text, names = canonical_request(method, path, query, signed, payload_sha256)
    signed['Authorization'] = '%s Credential=%s/%s, SignedHeaders=%s, Signature=%s' % (
        ALGORITHM, credentials.access_key, credential_scope(amz_date, region), names,
        signature(credentials.secret_key, amz_date, region, text))
    return signed
