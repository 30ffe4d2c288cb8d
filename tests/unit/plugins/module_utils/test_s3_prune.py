# -*- coding: utf-8 -*-
# Copyright: papermerge.backup contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Retention over an object listing: retention.py's policy, the disk's safety rules, on keys instead of files.

The bucket here is a dict of keys in memory (below the unit-test line); tests/integration/test_papermerge_s3.py
runs the same against an S3 server."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from datetime import datetime, timezone

import pytest

from ansible_collections.papermerge.backup.plugins.module_utils.errors import PapermergeBackupError
from ansible_collections.papermerge.backup.plugins.module_utils.retention import Policy
from ansible_collections.papermerge.backup.plugins.module_utils.s3_prune import find_archive_objects, prune_bucket

NOW = datetime(2026, 12, 1, tzinfo=timezone.utc)


def name(label, day, version='2.1.5'):
    return 'papermerge-%s-202611%02dT020000Z-%s.tar.gz' % (label, day, version)


class MemoryBucket:
    """list_objects and delete_object over a dict, as S3Client offers them (delimiter '/')."""

    def __init__(self, keys, fail_on=None):
        self.objects = dict((key, 1) for key in keys)
        self.deleted = []
        self.fail_on = fail_on

    def list_objects(self, bucket, prefix):
        for key in sorted(self.objects):
            if key.startswith(prefix) and '/' not in key[len(prefix):]:
                yield key, self.objects[key]

    def delete_object(self, bucket, key):
        if key == self.fail_on:
            raise PapermergeBackupError('DELETE s3://bkt/%s failed: HTTP 403 AccessDenied' % key, status=403)
        self.deleted.append(key)
        self.objects.pop(key, None)


def test_only_archive_names_directly_below_the_prefix_are_candidates():
    listing = dict.fromkeys([
        'p/' + name('docs01', 1), 'p/' + name('docs01', 1) + '.sha256', 'p/' + name('docs02', 2),
        'p/deeper/' + name('docs01', 3), 'p/.' + name('docs01', 4) + '.part', 'p/' + name('docs01', 5) + '.bak',
        'p/notes.txt', 'q/' + name('docs01', 6), name('docs01', 7), 'p/papermerge-docs01-20261131T020000Z-2.1.5.tar.gz',
    ], 1)
    found = find_archive_objects(listing, 'p')
    assert [(c.name, c.label) for c in found] == [(name('docs01', 1), 'docs01'), (name('docs02', 2), 'docs02')]
    assert [c.name for c in find_archive_objects(listing, 'p/', label='docs02')] == [name('docs02', 2)]
    assert [c.name for c in find_archive_objects(listing, '')] == [name('docs01', 7)]


def test_policy_per_label_checksums_first_and_everything_else_untouched():
    mine = ['backups/' + name('docs01', day) for day in range(1, 6)]
    theirs = ['backups/' + name('docs02', day) for day in (1, 2)]
    others = ['backups/notes.txt', 'backups/old/' + name('docs01', 1), 'other/' + name('docs01', 1)]
    bucket = MemoryBucket(mine + [key + '.sha256' for key in mine[:3]] + theirs + others)
    kept, removed = prune_bucket(bucket, 's3://bkt/backups', Policy(keep_last=2), NOW, label='docs01')
    assert [k['url'] for k in kept] == ['s3://bkt/' + key for key in mine[:2:-1]]
    assert [r['url'] for r in removed] == ['s3://bkt/' + key for key in mine[2::-1]]
    assert removed[0]['checksum'] == 's3://bkt/' + mine[2] + '.sha256'
    assert all(r['reason'] == 'not selected by any rule' for r in removed)
    assert bucket.deleted[:2] == [mine[2] + '.sha256', mine[2]]
    assert sorted(bucket.objects) == sorted(mine[3:] + theirs + others)


def test_check_mode_deletes_nothing_and_reports_the_same():
    keys = ['x/' + name('docs01', day) for day in range(1, 4)]
    bucket = MemoryBucket(keys)
    kept, removed = prune_bucket(bucket, 's3://bkt/x/', Policy(keep_last=1), NOW, check_mode=True)
    assert bucket.deleted == [] and sorted(bucket.objects) == keys
    assert [r['url'] for r in removed] == ['s3://bkt/' + keys[1], 's3://bkt/' + keys[0]]
    assert [r['checksum'] for r in removed] == [None, None]


def test_the_newest_archive_is_kept_whatever_the_policy():
    bucket = MemoryBucket([name('h', day) for day in (3, 9, 20)])
    kept, removed = prune_bucket(bucket, 's3://bkt', Policy(keep_within='1h'), NOW)
    assert [k['url'] for k in kept] == ['s3://bkt/' + name('h', 20)]
    assert len(removed) == 2


def test_future_dated_archives_are_kept_and_use_no_slot():
    future = 'papermerge-h-20300101T000000Z-2.1.5.tar.gz'
    bucket = MemoryBucket([future, name('h', 1), name('h', 2)])
    kept, removed = prune_bucket(bucket, 's3://bkt', Policy(keep_last=1), NOW)
    assert [(k['url'], k['reasons']) for k in kept] == [('s3://bkt/' + future, ['future-dated']),
                                                        ('s3://bkt/' + name('h', 2), ['last 1'])]
    assert [r['url'] for r in removed] == ['s3://bkt/' + name('h', 1)]


def test_a_refused_delete_says_how_many_went_before_it():
    keys = ['p/' + name('h', day) for day in range(1, 5)]
    bucket = MemoryBucket(keys, fail_on=keys[0])
    with pytest.raises(PapermergeBackupError, match=r'already removed: 2 archives') as failure:
        prune_bucket(bucket, 's3://bkt/p', Policy(keep_last=1), NOW)
    assert [r['url'] for r in failure.value.details['removed']] == ['s3://bkt/' + keys[2], 's3://bkt/' + keys[1]]


def test_an_empty_policy_is_refused_before_listing():
    with pytest.raises(PapermergeBackupError, match='policy is empty'):
        Policy()
