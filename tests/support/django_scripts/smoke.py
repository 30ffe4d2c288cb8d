"""Check that a Papermerge 2.1 instance still takes the writes of everyday use.

Runs inside the Papermerge venv with the instance's environment (see
tests/support/papermerge_host.py).  In one transaction that is always rolled back, it does what
users do after a restore: create a user (Papermerge's signal makes their .home and .inbox), a
folder and a document with a version and a page, tag a node, store a preference, create a
group.  A restore that left PostgreSQL sequences behind the restored rows, or rows that
violate Papermerge's constraints, fails here with the database's error.  Prints "ok".
"""

import sys
import uuid

import django


class _Rollback(Exception):
    pass


def exercise():
    from django.contrib.auth.models import Group
    from papermerge.core import models

    suffix = uuid.uuid4().hex[:8]
    user = models.User.objects.create(username='smoke-%s' % suffix, email='smoke@example.com')
    folder = models.Folder.objects.create(title='Smoke %s' % suffix, user=user,
                                          parent=user.home_folder, ctype='folder')
    document = models.Document.objects.create_document(
        title='Smoke document', lang='deu', user=user, parent=folder, file_name='smoke.pdf',
        ctype='document')
    document.versions.last().create_pages(page_count=1)
    tag = models.Tag.objects.create(name='smoke-%s' % suffix, user=user)
    document.tags.add(tag, tag_kwargs={'user': user})
    folder.tags.add(tag, tag_kwargs={'user': user})
    user.preferences['ocr__trigger'] = 'manual'
    Group.objects.create(name='smoke-%s' % suffix).user_set.add(user)
    for existing in models.User.objects.exclude(pk=user.pk):
        existing.preferences['ocr__trigger'] = 'auto'
        # Tags attach to existing nodes too (core_coloredtag gets a new auto-increment id).
        if existing.home_folder_id:
            existing.home_folder.tags.add(
                models.Tag.objects.create(name='smoke-%s-%s' % (suffix, existing.pk.hex[:6]),
                                          user=existing),
                tag_kwargs={'user': existing})


def main():
    from django.db import transaction

    django.setup()
    try:
        with transaction.atomic():
            exercise()
            raise _Rollback()
    except _Rollback:
        pass
    sys.stdout.write('ok\n')


if __name__ == '__main__':
    main()
