# -*- coding: utf-8 -*-
# Copyright: papermerge.backup contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""SigV4 signing against AWS's published S3 examples ("Examples: Signature Calculations in AWS Signature Version 4",
Amazon S3 API reference: bucket examplebucket, the documentation's example key, 24 May 2013)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import hashlib

import pytest

from ansible_collections.papermerge.backup.plugins.module_utils.s3_sigv4 import (
    EMPTY_SHA256, Credentials, canonical_headers, canonical_query, canonical_request, sign_headers, signing_key,
    uri_encode)

EXAMPLE = Credentials('AKIAIOSFODNN7EXAMPLE', 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY', None)
DATE = '20130524T000000Z'
HOST = 'examplebucket.s3.amazonaws.com'


def signature_of(headers):
    return headers['Authorization'].rsplit('Signature=', 1)[1]


def test_get_object_with_a_range():
    signed = sign_headers(EXAMPLE, 'us-east-1', 'GET', '/test.txt', {}, {'host': HOST, 'range': 'bytes=0-9'},
                          EMPTY_SHA256, DATE)
    assert signed['Authorization'] == (
        'AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request, '
        'SignedHeaders=host;range;x-amz-content-sha256;x-amz-date, '
        'Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41')
    assert signed['x-amz-content-sha256'] == 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855'


def test_put_object_signs_the_payload_hash_and_a_key_that_needs_encoding():
    body = b'Welcome to Amazon S3.'
    payload = hashlib.sha256(body).hexdigest()
    assert payload == '44ce7dd67c959e0d3524ffac1771dfbba87d2b6b4b4e99e42034a8b803f8b072'
    signed = sign_headers(EXAMPLE, 'us-east-1', 'PUT', '/' + uri_encode('test$file.text'), {},
                          {'host': HOST, 'date': 'Fri, 24 May 2013 00:00:00 GMT',
                           'x-amz-storage-class': 'REDUCED_REDUNDANCY'}, payload, DATE)
    assert signature_of(signed) == '98ad721746da40c64f1a55b78f14c238d841ea1380cd77a1b5971af0ece108bd'


def test_get_bucket_lifecycle_signs_an_empty_sub_resource():
    signed = sign_headers(EXAMPLE, 'us-east-1', 'GET', '/', {'lifecycle': ''}, {'host': HOST}, EMPTY_SHA256, DATE)
    assert signature_of(signed) == 'fea454ca298b7da1c68078a5d1bdbfbbe0d65c699e0f91ac7a200a0136783543'


def test_list_objects_sorts_the_query():
    signed = sign_headers(EXAMPLE, 'us-east-1', 'GET', '/', [('prefix', 'J'), ('max-keys', '2')], {'host': HOST},
                          EMPTY_SHA256, DATE)
    assert signature_of(signed) == '34b48302e7b5fa45bde8084f4b7868a86f0a534bc59db6670ed5711ef69dc6f7'


def test_a_wrong_secret_gives_another_signature():
    wrong = Credentials(EXAMPLE.access_key, EXAMPLE.secret_key[:-1] + 'X', None)
    signed = sign_headers(wrong, 'us-east-1', 'GET', '/test.txt', {}, {'host': HOST, 'range': 'bytes=0-9'},
                          EMPTY_SHA256, DATE)
    assert signature_of(signed) != 'f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41'


def test_session_token_is_signed():
    temporary = Credentials('AKID', 'SECRET', 'the-token')
    signed = sign_headers(temporary, 'eu-west-1', 'GET', '/', {}, {'host': HOST}, EMPTY_SHA256, DATE)
    assert signed['x-amz-security-token'] == 'the-token'
    assert 'x-amz-security-token' in signed['Authorization'].split('SignedHeaders=')[1].split(',')[0].split(';')
    assert '/eu-west-1/s3/aws4_request' in signed['Authorization']


def test_signing_key_of_the_documented_example():
    # AWS's "Deriving the signing key" example (service iam, region us-east-1, 20120215).
    key = signing_key('wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY', '20120215', 'us-east-1', 'iam')
    assert key.hex() == 'f4780e2d9f65fa895f9c67b32ce1baf0b0d8a43505a000a1a9e090d414db404d'


@pytest.mark.parametrize('text, path, expected', [
    ('papermerge-docs01-20261126T020000Z-2.1.5+local.1.tar.gz', False,
     'papermerge-docs01-20261126T020000Z-2.1.5%2Blocal.1.tar.gz'),
    ('a b/c~d_e.f', True, 'a%20b/c~d_e.f'),
    ('a b/c', False, 'a%20b%2Fc'),
    ('ü', False, '%C3%BC'),
])
def test_uri_encoding_keeps_only_unreserved_characters(text, path, expected):
    assert uri_encode(text, keep_slashes=path) == expected


def test_canonical_query_encodes_and_sorts_names_then_values():
    assert canonical_query({'uploads': ''}) == 'uploads='
    assert canonical_query([('b', '2'), ('a', 'x y'), ('a', '1')]) == 'a=1&a=x%20y&b=2'
    assert canonical_query({'continuation-token': '1/abc=='}) == 'continuation-token=1%2Fabc%3D%3D'


def test_canonical_headers_lower_case_names_and_collapse_spaces():
    block, signed = canonical_headers({'Host': 'h', 'X-Amz-Meta-Note': '  a   b  '})
    assert block == 'host:h\nx-amz-meta-note:a b\n'
    assert signed == 'host;x-amz-meta-note'


def test_canonical_request_layout():
    text, signed = canonical_request('GET', '/k', {'a': 'b'}, {'host': 'h'}, EMPTY_SHA256)
    assert text == 'GET\n/k\na=b\nhost:h\n\nhost\n' + EMPTY_SHA256
    assert signed == 'host'
