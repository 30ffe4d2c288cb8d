# -*- coding: utf-8 -*-
# Copyright: papermerge.backup contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
#
# This module_utils is PRIVATE and should only be used by this collection. Breaking changes can occur any time.
"""Retention in a bucket: the policy of retention.py (select(), Policy) over an object listing.

The same rules as on disk: only objects directly below the prefix whose whole name matches the collection's archive
names are considered (anything else in the bucket is neither touched nor reported), labels are rotated separately,
the newest archive of a label is never removed, and the ``.sha256`` object goes first, then the archive.
In a bucket with versioning, a removal leaves the object's older versions to the bucket's own lifecycle rules.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.papermerge.backup.plugins.module_utils.archive_format import CHECKSUM_SUFFIX
from ansible_collections.papermerge.backup.plugins.module_utils.errors import PapermergeBackupError
from ansible_collections.papermerge.backup.plugins.module_utils.naming import (
    compile_pattern, format_time, parse_archive_name)
from ansible_collections.papermerge.backup.plugins.module_utils.retention import Candidate, select
from ansible_collections.papermerge.backup.plugins.module_utils.s3_client import join_key, parse_s3_url, s3_url


def prune_bucket(client, url, policy, now, label=None, check_mode=False):
    """Apply policy to the archives below url (s3://bucket/prefix); delete the unselected ones unless check_mode.

    Returns (kept, removed): lists of dicts {url, label, time, reasons} and {url, label, time, reason, checksum},
    newest first, like retention.prune_directory's with url for path.
    """
    location = parse_s3_url(url)
    listing = dict(client.list_objects(location.bucket, join_key(location.key, '')))
    candidates = find_archive_objects(listing, location.key, label)
    kept, removed = select(candidates, policy, now)
    removals = [_describe_removal(location, decision, listing) for decision in removed]
    if not check_mode:
        _delete_all(client, location.bucket, removals)
    return [_describe_kept(location, decision) for decision in kept], removals


def find_archive_objects(listing, prefix, label=None):
    """Candidates for the keys of listing directly below prefix whose names are archive names (of label)."""
    pattern = compile_pattern()
    folder = join_key(prefix, '')
    candidates = []
    for key in sorted(listing):
        name = key[len(folder):]
        if not key.startswith(folder) or '/' in name:
            continue
        parsed = parse_archive_name(name, pattern)
        if parsed is None or (label is not None and parsed.label != label):
            continue
        candidates.append(Candidate(name=name, label=parsed.label, time=parsed.time))
    return candidates


def _describe_kept(location, decision):
    candidate = decision.candidate
    return dict(url=s3_url(location.bucket, join_key(location.key, candidate.name)), label=candidate.label,
                time=format_time(candidate.time), reasons=list(decision.reasons))


def _describe_removal(location, decision, listing):
    candidate = decision.candidate
    key = join_key(location.key, candidate.name)
    checksum_key = key + CHECKSUM_SUFFIX
    return dict(url=s3_url(location.bucket, key), label=candidate.label, time=format_time(candidate.time),
                reason=decision.reasons[0],
                checksum=s3_url(location.bucket, checksum_key) if checksum_key in listing else None)


def _delete_all(client, bucket, removals):
    done = []
    for removal in removals:
        # The checksum object goes first: an interruption then leaves an archive the next run removes, never a
        # stray .sha256 that no pattern matches.
        for url in (removal['checksum'], removal['url']):
            if url is None:
                continue
            try:
                client.delete_object(bucket, parse_s3_url(url).key)
            except PapermergeBackupError as error:
                raise PapermergeBackupError('%s (already removed: %d archives)' % (error, len(done)),
                                            removed=done, **error.details)
        done.append(removal)
