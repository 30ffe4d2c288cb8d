# -*- coding: utf-8 -*-
# Copyright: papermerge.backup contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
#
# This module_utils is PRIVATE and should only be used by this collection. Breaking changes can occur any time.
"""A restore onto the wrong host takes a deliberate act: the rule, in one place for the module and the role.

Every archive of papermerge_backup carries the label of the host it was made on (in its manifest, and in its
generated name).  Restoring it into a host whose label differs needs a confirmation that repeats the archive's
label; an archive that carries no label (Papermerge's own backups, archives renamed by hand before labels were
recorded) cannot tell where it comes from, so the confirmation repeats its file name.  A confirmation is thus
tied to one archive (or one host's archives): one left in an inventory or a survey default never waves another
through.

papermerge_restore applies the rule once it has read the archive (its manifest's label); the restore role applies
it on the controller before uploading anything, to the label in the archive's name (the aim_refusal filter).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.papermerge.backup.plugins.module_utils.setting_names import setting


def aim_refusal(archive_name, label, expected_label, confirmed=None):
    """None when the archive (file name archive_name, labelled label or None) may be restored into the host
    labelled expected_label; otherwise the message that refuses it, saying how to confirm."""
    if label and label == expected_label:
        return None
    wanted = label or archive_name
    if confirmed and str(confirmed) == wanted:
        return None
    if label:
        message = ("%s was made on the host labelled %s, not on %s: restoring it here puts that host's users and "
                   "documents into this one. If that is what you mean, set %s: %s; otherwise choose an archive made "
                   "on %s" % (archive_name, label, expected_label, setting("confirm_label"), label, expected_label))
    else:
        message = ("%s carries no label (Papermerge's own backups and archives renamed by hand have none), so nothing "
                   "tells which host it was made on. To restore it into %s, set %s: %s"
                   % (archive_name, expected_label, setting("confirm_label"), archive_name))
    if confirmed:
        message += " (%s is %s, which is not this archive's %s)" % (
            setting("confirm_label"), confirmed, "label" if label else "file name")
    return message + ". Nothing was restored."
