# -*- coding: utf-8 -*-
# Copyright: papermerge.backup contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""A restore onto another host than the archive's takes a confirmation that repeats the archive's label (or, for
an archive without one, its file name): a confirmation never waves another archive through."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import pytest

from ansible_collections.papermerge.backup.plugins.module_utils.aim import aim_refusal
from ansible_collections.papermerge.backup.plugins.module_utils.setting_names import name_settings

NAME = 'papermerge-docs01-20261126T020000Z-2.1.5.tar.gz'
NAMES = {'confirm_label': 'papermerge_restore_confirm_label'}


@pytest.mark.parametrize('label, confirmed', [('docs02', None), ('docs02', 'a stale confirmation'),
                                              ('docs01', 'docs01')])
def test_an_archive_of_the_host_itself_or_a_confirmed_one_passes(label, confirmed):
    assert aim_refusal(NAME, label, 'docs02', confirmed) is None


def test_the_archive_of_another_host_is_refused_saying_how_to_confirm():
    message = name_settings(aim_refusal(NAME, 'docs01', 'docs02'), NAMES)
    assert message == (NAME + ' was made on the host labelled docs01, not on docs02: restoring it here puts that '
                       "host's users and documents into this one. If that is what you mean, set "
                       'papermerge_restore_confirm_label: docs01; otherwise choose an archive made on docs02. Nothing '
                       'was restored.')
    assert aim_refusal(NAME, 'docs01', 'docs02', 'docs01') is None


def test_a_confirmation_of_another_label_is_refused_and_named():
    message = name_settings(aim_refusal(NAME, 'docs01', 'docs02', 'docs03'), NAMES)
    assert '(papermerge_restore_confirm_label is docs03, which is not this archive\'s label)' in message


def test_an_archive_without_label_is_confirmed_by_its_file_name():
    message = name_settings(aim_refusal('backup_26_11_2026-02_00_00.tar.gz', None, 'docs02', 'docs02'), NAMES)
    assert message.startswith("backup_26_11_2026-02_00_00.tar.gz carries no label (Papermerge's own backups")
    assert 'set papermerge_restore_confirm_label: backup_26_11_2026-02_00_00.tar.gz (' in message
    assert "which is not this archive's file name" in message
    assert aim_refusal('backup_26_11_2026-02_00_00.tar.gz', None, 'docs02',
                       'backup_26_11_2026-02_00_00.tar.gz') is None
