# -*- coding: utf-8 -*-
# Copyright: papermerge.backup contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
#
# This module_utils is PRIVATE and should only be used by this collection. Breaking changes can occur any time.
"""Archives to and from S3-compatible object storage, verified both ways.

Upload: the archive's sha256 (the backup's, else its ``.sha256`` file's) goes into the object's metadata
(``x-amz-meta-sha256``) when the upload starts.  Each request's payload sha256 is signed and its MD5 sent as
Content-MD5, so the service refuses any part that is not what was read; the archive is read part by part
(hashed, then sent: memory stays at one read buffer whatever the archive's size), and the upload is completed only
when the whole archive hashed to the expected sha256.  A single PUT is atomic and a multipart upload is invisible
until it is completed, so no half archive is ever visible under its key; a failed multipart upload is aborted.
Then ``<key>.sha256`` is written and the object is read back with HEAD (size and sha256 metadata).

Download: the sha256 the object must have is every one of the caller's, the object's metadata and its
``<key>.sha256`` object that exists (they must agree; at least one must exist).  The object is streamed into a
temporary 0600 file beside the destination, hashed as it arrives, and renamed into place only when it matches.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import base64
import hashlib
import http.client
import os
import posixpath
import tempfile

from ansible_collections.papermerge.backup.plugins.module_utils.archive_format import (
    CHECKSUM_SUFFIX, CHUNK_SIZE, TEMP_PREFIX, TEMP_SUFFIX)
from ansible_collections.papermerge.backup.plugins.module_utils.checksum_file import (
    digest_stream, is_sha256, read_checksum_file, write_checksum_file)
from ansible_collections.papermerge.backup.plugins.module_utils.errors import PapermergeBackupError
from ansible_collections.papermerge.backup.plugins.module_utils.s3_client import join_key, parse_s3_url, s3_url

MIB = 1024 * 1024
MIN_PART_SIZE_MIB = 5           # S3's smallest part but the last
MAX_PART_SIZE_MIB = 5 * 1024    # and its largest
MAX_PARTS = 10000
SHA256_METADATA = 'sha256'      # sent as x-amz-meta-sha256
CONTENT_TYPE = 'application/octet-stream'


# Upload ----------------------------------------------------------------------------------------------------------


def upload_archive(client, url, src, sha256=None, part_size_mib=16, check_mode=False):
    """Put the archive src and its .sha256 below the prefix of url (s3://bucket/prefix); return the result dict.

    Nothing is sent when an object of the archive's name with its sha256 and size is there already.
    """
    location = parse_s3_url(url)
    name = os.path.basename(src)
    key = join_key(location.key, name)
    part_size = _part_size(part_size_mib, _size_or_none(src))
    client.check_bucket(location.bucket, key)
    result = dict(url=s3_url(location.bucket, key), checksum_url=s3_url(location.bucket, key + CHECKSUM_SUFFIX),
                  changed=True, sha256=None, size=None, parts=0)
    if not os.path.isfile(src):
        if check_mode:
            return result  # a check run before the archive exists: it would be uploaded
        raise PapermergeBackupError('%s is not a file: give the path of an archive on this host' % src, src=src)
    expected = _expected_sha256(src, sha256)
    size = os.path.getsize(src)
    result.update(sha256=expected, size=size)
    archive_there = _has_archive(client.head_object(location.bucket, key), expected, size)
    line = ('%s  %s\n' % (expected, name)).encode('utf-8')
    checksum_there = client.get_small_object(location.bucket, key + CHECKSUM_SUFFIX) == line
    result['changed'] = not (archive_there and checksum_there)
    if check_mode or not result['changed']:
        return result
    if not archive_there:
        result['parts'] = _send_archive(client, location.bucket, key, src, size, expected, part_size)
    if not checksum_there:
        client.put_object(location.bucket, key + CHECKSUM_SUFFIX, line, len(line), hashlib.sha256(line).hexdigest(),
                          md5=_md5_base64(line), content_type='text/plain')
    _verify_upload(client, location.bucket, key, expected, size)
    return result


def _size_or_none(src):
    try:
        return os.path.getsize(src)
    except OSError:
        return None


def _part_size(part_size_mib, size):
    """Bytes per part: the option, grown so that the archive needs at most MAX_PARTS parts."""
    try:
        wanted = int(part_size_mib)
    except (TypeError, ValueError):
        wanted = 0
    if not MIN_PART_SIZE_MIB <= wanted <= MAX_PART_SIZE_MIB:
        raise PapermergeBackupError('part_size must be a number of MiB from %d to %d, not %r'
                                    % (MIN_PART_SIZE_MIB, MAX_PART_SIZE_MIB, part_size_mib))
    needed_mib = -(-(size or 0) // (MAX_PARTS * MIB))
    return max(wanted, needed_mib) * MIB


def _expected_sha256(src, sha256):
    """The sha256 the archive must have: the caller's, else its .sha256 file's, else read from the archive."""
    if sha256:
        expected = sha256.strip().lower()
        if not is_sha256(expected):
            raise PapermergeBackupError('sha256 %r is not a sha256 (64 hexadecimal digits)' % (sha256,))
        return expected
    recorded = read_checksum_file(src)
    if recorded:
        return recorded
    with open(src, 'rb') as handle:
        return digest_stream(handle)[1]


def _has_archive(head, sha256, size):
    return head is not None and head['size'] == size and head['metadata'].get(SHA256_METADATA) == sha256


def _send_archive(client, bucket, key, src, size, expected, part_size):
    """Upload src in one PUT or in parts; return the number of parts (1 for a single PUT)."""
    metadata = {SHA256_METADATA: expected}
    if size <= part_size:
        whole = hashlib.sha256()
        part_sha256, md5 = _digest_range(src, 0, size, whole)
        _check_read(src, whole.hexdigest(), expected)
        client.put_object(bucket, key, _range_opener(src, 0, size), size, part_sha256, md5=md5, metadata=metadata,
                          content_type=CONTENT_TYPE)
        return 1
    upload_id = client.create_multipart_upload(bucket, key, metadata=metadata, content_type=CONTENT_TYPE)
    try:
        etags = _send_parts(client, bucket, key, upload_id, src, size, expected, part_size)
        client.complete_multipart_upload(bucket, key, upload_id, etags)
    except BaseException:
        _abort_quietly(client, bucket, key, upload_id)
        raise
    return len(etags)


def _send_parts(client, bucket, key, upload_id, src, size, expected, part_size):
    whole = hashlib.sha256()
    etags = []
    for number, offset in enumerate(range(0, size, part_size), 1):
        length = min(part_size, size - offset)
        part_sha256, md5 = _digest_range(src, offset, length, whole)
        etags.append(client.upload_part(bucket, key, upload_id, number, _range_opener(src, offset, length), length,
                                        part_sha256, md5=md5))
    _check_read(src, whole.hexdigest(), expected)
    return etags


def _check_read(src, actual, expected):
    if actual != expected:
        raise PapermergeBackupError(
            '%s has sha256 %s, not %s as the backup recorded: the archive changed on this host after it was '
            'written, so it was not uploaded (an incomplete upload was aborted); check the disk and make a new '
            'backup' % (src, actual, expected), src=src, sha256=actual, expected_sha256=expected)


def _abort_quietly(client, bucket, key, upload_id):
    # The failure that got us here is the one to report; a bucket lifecycle rule cleans up what this misses.
    try:
        client.abort_multipart_upload(bucket, key, upload_id)
    except (PapermergeBackupError, OSError):
        pass


def _verify_upload(client, bucket, key, expected, size):
    head = client.head_object(bucket, key)
    if not _has_archive(head, expected, size):
        raise PapermergeBackupError(
            'after the upload, %s is %s, not %d bytes with sha256 %s: another writer may share this key; check the '
            'bucket and run again' % (s3_url(bucket, key), 'missing' if head is None else '%d bytes with sha256 %s'
                                      % (head['size'], head['metadata'].get(SHA256_METADATA)), size, expected),
            url=s3_url(bucket, key))


def _digest_range(path, offset, length, whole):
    """(sha256 hex, base64 MD5 or None) of length bytes of path from offset; whole gets them too."""
    part = hashlib.sha256()
    md5 = _new_md5()
    with open(path, 'rb') as handle:
        handle.seek(offset)
        remaining = length
        while remaining:
            chunk = handle.read(min(CHUNK_SIZE, remaining))
            if not chunk:
                raise PapermergeBackupError('%s became shorter while it was read: make a new backup' % path)
            remaining -= len(chunk)
            for digest in (part, whole, md5):
                if digest is not None:
                    digest.update(chunk)
    return part.hexdigest(), base64.b64encode(md5.digest()).decode('ascii') if md5 is not None else None


def _new_md5():
    # Content-MD5 is extra protection that every S3 service checks; a FIPS host without MD5 still has the signed
    # sha256 of every payload.
    try:
        return hashlib.md5(usedforsecurity=False)
    except TypeError:  # Python 3.8
        try:
            return hashlib.md5()
        except ValueError:
            return None
    except ValueError:
        return None


def _md5_base64(data):
    md5 = _new_md5()
    if md5 is None:
        return None
    md5.update(data)
    return base64.b64encode(md5.digest()).decode('ascii')


class _FileRange:
    """length bytes of a file from offset, as a readable object (what http.client sends a body from)."""

    def __init__(self, path, offset, length):
        self._handle = open(path, 'rb')
        self._handle.seek(offset)
        self._remaining = length

    def read(self, size=-1):
        if size is None or size < 0 or size > self._remaining:
            size = self._remaining
        chunk = self._handle.read(size)
        self._remaining -= len(chunk)
        return chunk

    def close(self):
        self._handle.close()


def _range_opener(path, offset, length):
    """A callable giving a fresh _FileRange, so that a retried request sends the same bytes again."""
    return lambda: _FileRange(path, offset, length)


# Download --------------------------------------------------------------------------------------------------------


def download_archive(client, url, dest, sha256=None, check_mode=False):
    """Get the archive at url (s3://bucket/key) into dest (a directory, or a file path) verified; return a dict."""
    location = parse_s3_url(url)
    name = posixpath.basename(location.key)
    if not name:
        raise PapermergeBackupError('%s names no object: write s3://BUCKET/PATH/ARCHIVE' % url, url=url)
    target = os.path.join(dest, name) if dest.endswith('/') or os.path.isdir(dest) else dest
    directory = os.path.dirname(target) or '.'
    if not os.path.isdir(directory) and not check_mode:  # a check run before the directory is made
        raise PapermergeBackupError('%s is not a directory: create it first' % directory, dest=dest)
    head = client.head_object(location.bucket, location.key)
    if head is None:
        client.request('GET', location.bucket, location.key, headers={'range': 'bytes=0-0'})  # raises NoSuchKey...
        raise PapermergeBackupError('%s does not exist: check the key' % url, url=url)
    expected, sources = _agreed_sha256(client, location, head, sha256)
    result = dict(url=url, path=target, sha256=expected, size=head['size'], sha256_sources=sources, changed=True)
    if _has_download(target, expected, head['size']):
        result['changed'] = False
    elif not check_mode:
        _fetch_verified(client, location, head, target, expected)
    return result


def _agreed_sha256(client, location, head, given):
    """(sha256, [sources]) from the caller, the object's metadata and its .sha256 object; all must agree."""
    found = []
    if given:
        found.append(('given', given.strip().lower()))
    if head['metadata'].get(SHA256_METADATA):
        found.append(('metadata', head['metadata'][SHA256_METADATA].strip().lower()))
    checksum_object = client.get_small_object(location.bucket, location.key + CHECKSUM_SUFFIX)
    if checksum_object is not None:
        words = checksum_object.decode('utf-8', 'replace').split()
        found.append(('checksum file', words[0].lower() if words else ''))
    url = s3_url(location.bucket, location.key)
    if not found:
        raise PapermergeBackupError(
            '%s has no sha256 to check it against (no x-amz-meta-sha256 metadata, no %s object): give the expected '
            'sha256 (papermerge_restore_archive_sha256 in the restore role)' % (url, url + CHECKSUM_SUFFIX), url=url)
    values = set(value for dummy, value in found)
    if len(values) != 1 or not is_sha256(found[0][1]):
        raise PapermergeBackupError(
            'the sha256 of %s is not certain: %s disagree; nothing was downloaded. The object or its %s changed '
            'after the upload: restore another archive, or give the sha256 you trust'
            % (url, ', '.join('%s %s' % pair for pair in found), CHECKSUM_SUFFIX),
            url=url, sha256_sources=dict(found))
    return found[0][1], [source for source, dummy in found]


def _has_download(target, sha256, size):
    try:
        return os.path.getsize(target) == size and read_checksum_file(target) == sha256
    except (OSError, PapermergeBackupError):
        return False


def _fetch_verified(client, location, head, target, expected):
    directory, name = os.path.split(target)
    fd, temp = tempfile.mkstemp(prefix=TEMP_PREFIX + name + '.', suffix=TEMP_SUFFIX, dir=directory or '.')
    try:
        with os.fdopen(fd, 'wb') as handle:
            size, actual = _stream_object(client, location, head['etag'], handle)
            handle.flush()
            os.fsync(handle.fileno())
        url = s3_url(location.bucket, location.key)
        if (size, actual) != (head['size'], expected):
            raise PapermergeBackupError(
                '%s is %d bytes with sha256 %s, but %d bytes with sha256 %s were expected: the object changed after '
                'it was uploaded, or it was damaged on the way; it was not kept and nothing was restored. Restore '
                'another archive' % (url, size, actual, head['size'], expected),
                url=url, sha256=actual, expected_sha256=expected)
        os.rename(temp, target)
    except BaseException:
        _remove_quietly(temp)
        raise
    write_checksum_file(target, expected)


def _stream_object(client, location, etag, handle):
    digest = hashlib.sha256()
    size = 0
    response = client.open_object(location.bucket, location.key, etag=etag)
    try:
        while True:
            chunk = response.body.read(CHUNK_SIZE)
            if not chunk:
                break
            handle.write(chunk)
            digest.update(chunk)
            size += len(chunk)
    except (OSError, http.client.HTTPException) as error:
        raise PapermergeBackupError('the download of %s broke off after %d bytes (%s): run again'
                                    % (s3_url(location.bucket, location.key), size, error))
    finally:
        client.finish(response)
    return size, digest.hexdigest()


def _remove_quietly(path):
    try:
        os.unlink(path)
    except OSError:
        pass
