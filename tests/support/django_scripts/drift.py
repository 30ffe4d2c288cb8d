"""A day of use on a seeded Papermerge 2.1 instance, through Papermerge's own ORM (what a roll-back undoes).

Runs inside the Papermerge venv with the instance's environment (see tests/support/papermerge_host.py), on an
instance that holds the standard seed (seed.py).  It does, as users would:
- renames admin's first document (by path) to 'renamed since.pdf';
- moves admin's second document into a new folder '.home/Moved here';
- adds a document with a version, its file and a page ('.home/New since.pdf');
- adds a user 'drifter' (Papermerge's signal makes their .home and .inbox);
- adds a tag 'added later' to admin and puts it on admin's third document;
- changes admin's email;
- writes a stray file into the media root, below docs/ of admin, that no row names;
- rewrites the first (by name) page text sidecar of admin's other documents, as a new OCR run would.
Prints "ok".
"""

import os
import sys

import django


def admin_documents(models, admin):
    documents = list(models.Document.objects.filter(user=admin))
    paths = {}

    def path_of(node):
        return node.title if node.parent is None else path_of(node.parent) + '/' + node.title

    for document in documents:
        paths[document.pk] = path_of(document)
    return sorted(documents, key=lambda d: paths[d.pk])


def drift():
    from papermerge.core import models
    from papermerge.core.storage import abs_path

    admin = models.User.objects.get(username='admin')
    first, second, third = admin_documents(models, admin)[:3]
    first.title = 'renamed since.pdf'
    first.save()
    folder = models.Folder.objects.create(title='Moved here', ctype='folder', parent=admin.home_folder, user=admin)
    second.parent = folder
    second.save()
    document = models.Document.objects.create_document(
        title='New since.pdf', lang='deu', user=admin, parent=admin.home_folder, file_name='new.pdf',
        ctype='document')
    version = document.versions.last()
    target = abs_path(version.document_path.url)
    os.makedirs(os.path.dirname(target), exist_ok=True)
    with open(target, 'wb') as handle:
        handle.write(b'%PDF-1.4\n% written after the backup\n')
    version.create_pages(page_count=1)
    models.User.objects.create_user(username='drifter', password='x')
    tag = models.Tag.objects.create(name='added later', user=admin)
    third.tags.add(tag, tag_kwargs={'user': admin})
    admin.email = 'changed@example.com'
    admin.save()
    stray = abs_path('docs/user_%s/stray.txt' % admin.pk)
    with open(stray, 'w') as handle:
        handle.write('no row names me\n')
    sidecars = abs_path('sidecars/user_%s' % admin.pk)
    touched = ['document_%s' % node.pk for node in (first, second, third)]
    texts = sorted(os.path.join(d, n) for d, _s, names in os.walk(sidecars) for n in names
                   if n.endswith('.txt') and not any(part in d for part in touched))
    with open(texts[0], 'w') as handle:
        handle.write('text of a later OCR run\n')


def main():
    django.setup()
    drift()
    sys.stdout.write('ok\n')


if __name__ == '__main__':
    main()
