# -*- coding: utf-8 -*-
# Copyright: papermerge.backup contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type


class ModuleDocFragment(object):
    # The options of plugins/module_utils/s3_client.py s3_argument_spec().
    DOCUMENTATION = r"""
options:
  endpoint_url:
    description:
      - The S3 service's URL for services other than AWS, for example V(https://s3.us-west-004.backblazeb2.com)
        (Backblaze B2), V(https://s3.eu-central-1.wasabisys.com) (Wasabi), V(https://minio.example.com:9000)
        (MinIO) or a Ceph RGW's URL. Buckets are addressed path-style there (C(<endpoint>/<bucket>/<key>)).
      - Empty means AWS, C(https://<bucket>.s3.<region>.amazonaws.com).
    type: str
  region:
    description:
      - The region the requests are signed for. Empty means E(AWS_REGION), E(AWS_DEFAULT_REGION), the AWS
        profile's C(region), else V(us-east-1) (what MinIO and Ceph expect unless configured otherwise).
      - On AWS a wrong region is corrected from the service's answer.
    type: str
  access_key:
    description:
      - The access key ID. With O(secret_key); when both are empty the host's standard AWS credential chain is
        used (E(AWS_ACCESS_KEY_ID)/E(AWS_SECRET_ACCESS_KEY)/E(AWS_SESSION_TOKEN) of the module's environment,
        C(~/.aws/credentials) and C(~/.aws/config) of the user the module runs as, profile E(AWS_PROFILE) or
        C(default), then an EC2 instance role through IMDSv2).
      - Never logged or returned.
    type: str
  secret_key:
    description:
      - The secret access key that belongs to O(access_key). Never logged or returned.
    type: str
  session_token:
    description:
      - The session token of temporary credentials (STS), with O(access_key) and O(secret_key). Never logged or
        returned.
    type: str
  ca_bundle:
    description:
      - A PEM file of certificate authorities to trust for an O(endpoint_url) with a private CA (a MinIO or Ceph
        with its own certificates), on the host the module runs on. Empty means the system's trust store.
      - Certificates are always verified.
    type: path
notes:
  - The module needs nothing but Python's standard library on the host it runs on (no boto3). The requests are
    signed with AWS Signature Version 4, every payload's sha256 signed and its MD5 sent as C(Content-MD5), which
    every S3-compatible service checks.
  - Network failures and the service's 500, 502, 503, 504 and C(SlowDown) answers are retried up to four times
    with backoff.
  - HTTP(S) proxies are not supported; the host must reach the endpoint directly.
"""
