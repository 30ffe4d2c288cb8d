# -*- coding: utf-8 -*-
# Copyright: papermerge.backup contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The restore drill's look at its throwaway instance through Papermerge's own code.

Run by the drill role inside `manage.py shell` of the host's Papermerge (venv or container), so Django is set up
with the project's settings, pointed at the throwaway instance by PAPERMERGE__* variables:

    PAPERMERGE_DRILL_DIR     the throwaway instance's directory: every setting that names a place must be inside
    PAPERMERGE_DRILL_MODE    "settings": only check that; "state": then write the instance's state
    PAPERMERGE_DRILL_OUTPUT  where the state goes (JSON)

The settings are checked first, every time: if the project's settings ignored the variables (a settings.py that
sets DATABASES itself, say), Papermerge would work on the real instance, so the script stops (exit 3) before
anything touches a database.  The state is read-only, inside a transaction that is rolled back, with the search
index's signal handlers disconnected: users; each user's folders and documents by Papermerge's breadcrumb; each
document's versions (number, file name, pages) and where Papermerge reads the version's file; counts.
"""

import json
import os
import sys

from django.conf import settings
from django.db import transaction


def _inside(path, directory):
    path = os.path.realpath(str(path))
    return path == directory or path.startswith(directory + os.sep)


def check_settings(directory):
    database = settings.DATABASES["default"]
    places = {"MEDIA_ROOT": settings.MEDIA_ROOT, "DATABASES['default']['NAME']": database.get("NAME", "")}
    search_path = getattr(settings, "HAYSTACK_CONNECTIONS", {}).get("default", {}).get("PATH")
    if search_path:
        places["HAYSTACK_CONNECTIONS['default']['PATH']"] = search_path
    outside = ["%s = %s" % (name, value) for name, value in sorted(places.items()) if not _inside(value, directory)]
    if "sqlite3" not in database.get("ENGINE", ""):
        outside.append("DATABASES['default']['ENGINE'] = %s" % database.get("ENGINE"))
    if outside:
        sys.stderr.write(
            "The project's settings do not take the places the drill gives them through PAPERMERGE__* variables "
            "(%s is not in the throwaway instance %s), so a drill with this project would touch the real instance: "
            "nothing was done. Make config/settings.py read MEDIA_ROOT and DATABASES from configula, as "
            "Papermerge's own projects do.\n" % ("; ".join(outside), directory))
        sys.exit(3)


def disconnect_search_signals():
    # Nothing here saves a model, and the transaction is rolled back anyway; this makes sure no signal could
    # ever send an indexing task to the real instance's worker (the broker comes from the real settings).
    try:
        from haystack import signal_processor
        signal_processor.teardown()
    except Exception:  # no haystack, or another processor: nothing of ours to disconnect
        pass


def version_entry(version, media_root):
    path = version.abs_file_path()
    relative = os.path.relpath(os.path.realpath(path), media_root) if _inside(path, media_root) else None
    return {"number": version.number, "file_name": version.file_name, "pages": version.pages.count(),
            "file": relative.replace(os.sep, "/") if relative else None, "exists": os.path.isfile(path)}


def user_tree(user, media_root):
    from papermerge.core.models import Document, Folder

    folders = sorted(folder.breadcrumb for folder in Folder.objects.filter(user=user))
    documents = {}
    for document in Document.objects.filter(user=user):
        versions = document.versions.order_by("number")
        documents[document.breadcrumb] = [version_entry(version, media_root) for version in versions]
    return {"folders": folders, "documents": documents}


def state(media_root):
    from papermerge.core.models import Document, DocumentVersion, Folder, Page, Tag, User

    counts = {"users": User.objects.count(), "folders": Folder.objects.count(),
              "documents": Document.objects.count(), "versions": DocumentVersion.objects.count(),
              "pages": Page.objects.count(), "tags": Tag.objects.count()}
    users = dict((user.username, user_tree(user, media_root)) for user in User.objects.all())
    return {"counts": counts, "users": users}


def main():
    directory = os.path.realpath(os.environ["PAPERMERGE_DRILL_DIR"])
    check_settings(directory)
    if os.environ.get("PAPERMERGE_DRILL_MODE") != "state":
        return
    disconnect_search_signals()
    media_root = os.path.realpath(settings.MEDIA_ROOT)
    with transaction.atomic():
        found = state(media_root)
        transaction.set_rollback(True)
    with open(os.environ["PAPERMERGE_DRILL_OUTPUT"], "w") as handle:
        json.dump(found, handle, sort_keys=True)


if __name__ == "__main__":
    main()
