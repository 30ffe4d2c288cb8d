"""Replace mode's comparisons (restore_replace_rows.py): the instance's rows, as either engine gives them back,
against what a restore of the archive writes."""

import datetime

from ansible_collections.papermerge.backup.plugins.module_utils.restore_replace import ReplacePlan, existing_document_dirs
from ansible_collections.papermerge.backup.plugins.module_utils.restore_replace_rows import comparable, node_changes

UTC = datetime.timezone.utc
DOC = '0f0e0d0c-0b0a-4908-8706-050403020100'


class Member:
    def __init__(self, name):
        self.name = name


def sqlite_row(**values):
    row = dict(id=DOC.replace('-', ''), ctype='document', lang='deu', created_at='2021-03-04 05:06:07.250000',
               updated_at='2021-03-04 05:06:07', ocr=1, ocr_status='succeeded')
    row.update(values)
    return row


def archive_node(**values):
    node = dict(id=DOC, ctype='document', title='a.pdf', breadcrumb='.home/a.pdf', lang='deu', ocr=True,
                ocr_status='succeeded', created_at='2021-03-04T05:06:07.250000Z', updated_at='2021-03-04T05:06:07Z',
                tags=[{'name': 'finance'}])
    node.update(values)
    return node


def test_dates_and_booleans_compare_as_values_whatever_the_engine():
    assert comparable('created_at', '2021-03-04 05:06:07.250000') == comparable(
        'created_at', datetime.datetime(2021, 3, 4, 5, 6, 7, 250000, tzinfo=UTC))
    assert comparable('created_at', '2021-03-04T06:06:07.25+01:00') == comparable('created_at', '2021-03-04 05:06:07.25')
    assert comparable('is_active', 1) is True and comparable('pinned', 0) is False
    assert comparable('title', 'a') == 'a' and comparable('last_login', None) is None


def test_a_node_as_the_archive_has_it_is_unchanged():
    assert node_changes(None, sqlite_row(), archive_node(), {'finance'}) == ''


def test_what_changed_on_a_node_is_named():
    assert node_changes(None, sqlite_row(updated_at='2026-11-30 10:00:00'), archive_node(), {'finance'}) == \
        'its updated at changed since the backup'
    assert node_changes(None, sqlite_row(), archive_node(), {'finance', 'added later'}) == \
        'its tags changed since the backup'
    assert node_changes(None, sqlite_row(ocr=0), archive_node(), {'finance'}) == 'its ocr changed since the backup'


def test_a_node_carrying_a_tag_that_goes_is_changed_although_the_names_match():
    # instance_nodes() names a tag the replace removes '' (it is re-created with other values or another id).
    assert node_changes(None, sqlite_row(), archive_node(), {'finance', ''}) == 'its tags changed since the backup'


def test_another_node_at_the_path_is_told_apart():
    assert node_changes(None, sqlite_row(ctype='folder'), archive_node(), set()) == \
        'a folder in the instance, a document in the archive'
    assert node_changes(None, sqlite_row(id='ab' * 16), archive_node(), {'finance'}) == \
        "another document than the archive's (not the same id)"


def test_dates_the_archive_lacks_are_not_compared():
    # Papermerge's own archives carry no node dates: a restore writes the time of the restore.
    assert node_changes(None, sqlite_row(), archive_node(created_at=None, updated_at=None), {'finance'}) == ''


def test_files_of_documents_the_instance_has_move_in_one_by_one():
    plan = ReplacePlan()
    plan.documents = {DOC}
    members = [Member('docs/user_u/document_%s/v2/b.pdf' % DOC), Member('docs/user_u/document_%s/v1/a.pdf' % ('ab' * 16))]
    partial = existing_document_dirs(plan, members)
    assert partial == {'docs', 'docs/user_u', 'docs/user_u/document_%s' % DOC, 'docs/user_u/document_%s/v2' % DOC}
